"""AFAI and FAI: the published formulas on MSI band centres, background removal, and detection of planted rafts."""

from __future__ import annotations

import numpy as np
import pytest

from sargasses.detection.baseline import afai, baseline_scores, detect_baseline, fai, median_background
from sargasses.errors import SargassesError
from sargasses.evaluation.metrics import pixel_counts
from sargasses.reading.sensors import DEFAULT_BANDS

BANDS = list(DEFAULT_BANDS)


def stack(values: dict[str, float], shape=(4, 4)) -> np.ndarray:
    return np.stack([np.full(shape, values.get(b, 0.0), dtype=np.float32) for b in BANDS])


def test_indices_follow_the_published_formulas():
    r = {"B04": 0.02, "B06": 0.08, "B8A": 0.05, "B11": 0.01}
    x = stack(r)
    # AFAI: B06 (740 nm) over the B04 (665) -> B8A (865) line
    expected_afai = 0.08 - (0.02 + (0.05 - 0.02) * (740 - 665) / (865 - 665))
    # FAI: B8A (865 nm) over the B04 (665) -> B11 (1610) line
    expected_fai = 0.05 - (0.02 + (0.01 - 0.02) * (865 - 665) / (1610 - 665))
    assert np.allclose(afai(x, BANDS), expected_afai, atol=1e-7)
    assert np.allclose(fai(x, BANDS), expected_fai, atol=1e-7)


def test_background_removal_keeps_a_thin_raft_and_drops_a_haze_gradient():
    _, cols = np.mgrid[0:300, 0:300]
    index = (0.02 * cols / 300).astype(np.float32)  # a smooth regional rise (haze, turbid water)
    index[150, 50:250] += 0.03  # a 1-pixel windrow
    residual = index - median_background(index)
    assert abs(residual[100, 280]) < 0.002  # the gradient is gone
    assert residual[150, 150] > 0.025  # the windrow stays


def test_nan_and_exclusion_give_no_score():
    x = stack({"B04": 0.02, "B06": 0.05, "B8A": 0.03, "B11": 0.01}, shape=(60, 60))
    x[:, 0, 0] = np.nan
    excluded = np.zeros((60, 60), dtype=bool)
    excluded[10:20, 10:20] = True
    scores = baseline_scores(x, BANDS, "fai", exclusion=excluded)
    assert np.isnan(scores[0, 0]) and np.isnan(scores[10:20, 10:20]).all()
    assert not detect_baseline(x, BANDS, "fai", threshold=-1.0, exclusion=excluded)[10:20, 10:20].any()


def test_baselines_find_planted_rafts_on_a_synthetic_scene():
    from sargasses.synth import make_scene

    scene = make_scene(9901, 256, "clean")
    # the dense pixels (20 % cover and more): the indices' default thresholds are set for them, not for faint weed
    dense = np.where(scene.coverage >= 0.2, 1, np.where(scene.label == 1, 255, scene.label)).astype(np.uint8)
    assert (dense == 1).sum() > 50
    for method in ("afai", "fai"):
        counts = pixel_counts(detect_baseline(scene.reflectance, BANDS, method), dense)
        assert counts.recall > 0.3, (method, counts)  # far better than chance (positives are < 2 %)
        assert counts.precision > 0.3, (method, counts)


def test_missing_band_is_named():
    with pytest.raises(SargassesError, match="needs band B11"):
        fai(np.zeros((3, 2, 2), np.float32), ["B04", "B06", "B8A"])
