"""Pixel and object scores, and the threshold sweep, on masks where the right answer is known by hand."""

from __future__ import annotations

import numpy as np

from sargasses.evaluation.metrics import ThresholdSweep, object_counts, pixel_counts, score_detection


def test_pixel_scores_skip_not_scorable_pixels():
    label = np.array([[1, 1, 0, 0], [255, 255, 0, 1]], dtype=np.uint8)
    detected = np.array([[1, 0, 1, 0], [1, 1, 0, 1]], dtype=bool)
    counts = pixel_counts(detected, label)
    assert (counts.tp, counts.fp, counts.fn) == (2, 1, 1)  # detections on 255 count for nothing
    assert counts.precision == 2 / 3 and counts.recall == 2 / 3
    assert abs(counts.f1 - 2 / 3) < 1e-12


def test_object_recall_counts_rafts_of_three_pixels_touched_once():
    label = np.zeros((12, 12), dtype=np.uint8)
    label[1, 1:7] = 1  # raft A: 6 px
    label[5:7, 5] = 1  # 2 px: too small to count as a raft
    label[9, 9] = 1
    label[10, 10] = 1
    label[11, 11] = 1  # raft B: 3 px joined diagonally (8-connectivity)
    detected = np.zeros_like(label, dtype=bool)
    detected[1, 6] = True  # one pixel of raft A is enough
    found = object_counts(detected, label)
    assert (found.found, found.total) == (1, 2)
    detected[11, 11] = True
    assert object_counts(detected, label).recall == 1.0
    assert score_detection(detected, label).objects.total == 2


def test_threshold_sweep_equals_brute_force():
    rng = np.random.default_rng(3)
    label = (rng.random((64, 64)) < 0.1).astype(np.uint8)
    label[:4] = 255
    scores = rng.random((64, 64)) + 0.5 * label
    thresholds = np.linspace(0, 1.5, 151)
    sweep = ThresholdSweep(thresholds)
    sweep.update(scores[:32], label[:32])
    sweep.update(scores[32:], label[32:])  # accumulated over two "scenes"
    f1 = sweep.f1()
    for i in (10, 60, 100, 140):
        assert abs(f1[i] - pixel_counts(scores >= thresholds[i], label).f1) < 1e-12
    best, counts = sweep.best()
    brute = max(thresholds, key=lambda t: pixel_counts(scores >= t, label).f1)
    assert abs(counts.f1 - pixel_counts(scores >= brute, label).f1) < 1e-12
    assert counts == pixel_counts(scores >= best, label)


def test_unscored_positives_stay_missed():
    label = np.array([[1, 1, 0]], dtype=np.uint8)
    scores = np.array([[0.9, np.nan, 0.1]])
    sweep = ThresholdSweep(np.array([0.5]))
    sweep.update(scores, label)
    assert sweep.at(0.5) == pixel_counts(np.array([[True, False, False]]), label)
