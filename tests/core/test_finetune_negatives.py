"""A clean day teaches the model too: a user marks every detection of scenes without Sargassum as a false
positive ("none of these are rafts") and fine-tunes. The synthetic scenes rehearsed beside them keep the rafts:
on new scenes the marked kind of false positive is flagged less, and planted rafts are still found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from finetune_helpers import mark_like_a_user, write_lookalike_scene
from test_finetune import _detect, _judge

from sargasses.training.finetune import FinetuneOptions, run_finetune

CLEAN_DAYS = (701, 702, 703)  # no Sargassum, green algae the bundled model flags
NEW_SEED = 711


@pytest.mark.slow
def test_finetune_on_false_positives_only_keeps_finding_rafts(tmp_path: Path) -> None:
    store = tmp_path / "sargasses_labels.gpkg"
    marks = {"sargassum": 0, "false_positive": 0}
    for seed in CLEAN_DAYS:
        scene = write_lookalike_scene(tmp_path, seed, kind="confounders")
        detections = _detect(scene["image"], tmp_path / f"run_{seed}.gpkg")
        mask = np.load(scene["lookalikes"])
        for kind, n in mark_like_a_user(store, Path(scene["image"]), detections, mask, scene["date"], True).items():
            marks[kind] += n
    assert marks["sargassum"] == 0 and marks["false_positive"] >= 10, marks
    output = tmp_path / "coast.sargasses"
    report = run_finetune(FinetuneOptions(labels=str(store), output=str(output), epochs=16, device="cpu"))
    assert report["trained_on"]["sargassum"] == 0 and report["trained_on"]["false_positive"] > 0
    assert report["rehearsal_scenes"] > 0  # the rafts it must not forget
    # A new clean day: the algae flagged less. A new day with rafts: they are still found.
    quiet = write_lookalike_scene(tmp_path, NEW_SEED, kind="confounders")
    rafts = write_lookalike_scene(tmp_path, NEW_SEED + 1)
    before_quiet, _ = _judge(quiet, _detect(quiet["image"], tmp_path / "quiet_before.gpkg"))
    after_quiet, _ = _judge(quiet, _detect(quiet["image"], tmp_path / "quiet_after.gpkg", output))
    _, recall_before = _judge(rafts, _detect(rafts["image"], tmp_path / "rafts_before.gpkg"))
    _, recall_after = _judge(rafts, _detect(rafts["image"], tmp_path / "rafts_after.gpkg", output))
    print(
        f"algae flagged {before_quiet:.2f} -> {after_quiet:.2f}; rafts found {recall_before:.2f} -> {recall_after:.2f}"
    )
    assert after_quiet <= 0.5 * before_quiet, (before_quiet, after_quiet)
    assert recall_after >= recall_before - 0.15, (recall_before, recall_after)
