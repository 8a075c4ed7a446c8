"""The bundled default model reaches its card's F1 on a freshly generated test scene, so card and weights agree.

The scene's seed was kept apart from training, validation and test (scripts/train_default_model.sh), and the card's
`metrics["check_scene"]` was computed by the same code at export time.
"""

from __future__ import annotations

import numpy as np

from sargasses.evaluation.evaluate import model_probability
from sargasses.evaluation.metrics import score_detection
from sargasses.model_file import default_model_path, load_model_file
from sargasses.reading.masking import exclusion_mask
from sargasses.synth import make_scene

TOLERANCE = 0.02


def test_default_model_reaches_its_card_f1_on_a_fresh_scene():
    loaded = load_model_file(default_model_path())
    card = loaded.card
    check = card.metrics["check_scene"]
    scene = make_scene(int(check["seed"]), int(check["size"]), str(check["kind"]))
    assert list(scene.band_names) == card.band_names
    probability = model_probability(loaded, scene.reflectance)
    detected = (probability >= card.threshold) & ~exclusion_mask(scene.reflectance, card.band_names)
    scores = score_detection(detected, scene.label)
    assert abs(scores.pixels.f1 - check["f1"]) <= TOLERANCE, (scores.as_dict(), check)
    assert scores.pixels.f1 >= 0.85
    assert scores.objects.recall >= 0.9


def test_default_model_card_is_complete_and_small():
    path = default_model_path()
    card = load_model_file(path).card
    assert path.stat().st_size < 5_000_000
    assert card.sensor == "sentinel2_l2a" and card.gsd_m == 20.0 and len(card.band_names) == 10
    assert "synthetic" in card.trained_on.lower()
    test = card.metrics["test"]
    baselines = card.metrics["baselines_oracle_threshold"]
    # what the card claims, checked against itself: F1 >= 0.90 and 0.10 above the better index baseline,
    # at most half the baselines' false positives on confounder-only scenes (docs/training.md)
    assert test["f1"] >= 0.90
    assert test["f1"] >= max(b["f1"] for b in baselines.values()) + 0.10
    assert test["confounder_fp_pixels"] <= 0.5 * min(b["confounder_fp_pixels"] for b in baselines.values())
    # generator 1.2 counts rafts from 4 % cover: the faintest are under the model's limit (recall 0.5 at about 11 %
    # cover, benchmarks/detection_limit.py); at 0.9 the threshold keeps real coasts clean (docs/training.md)
    assert 0.6 <= test["object_recall"] <= 1.0 and test["rafts"] > 100
    assert np.isfinite(card.threshold) and 0 < card.threshold < 1
