"""Fine-tunes that cannot learn, or did not: refused with one line, and no model file written (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_helpers import mark_like_a_user, write_lookalike_scene

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.errors import SargassesError
from sargasses.training.finetune import FinetuneOptions, main, run_finetune

SEEDS = (621, 622)  # two dates: one to train on, one held back


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labels file as the plugin writes it: two scenes, their detections marked by a user."""
    import numpy as np

    folder = tmp_path_factory.mktemp("faults")
    store = folder / "sargasses_labels.gpkg"
    for seed in SEEDS:
        scene = write_lookalike_scene(folder, seed)
        detections = folder / f"run_{seed}.gpkg"
        run_detection(DetectOptions(input=scene["image"], output=str(detections)))
        mark_like_a_user(store, Path(scene["image"]), detections, np.load(scene["lookalikes"]), scene["date"])
    return store


def _quick(store: Path, output: Path, **changes) -> FinetuneOptions:
    values = {"epochs": 1, "crops_per_epoch": 16, "batch_size": 8, "rehearsal": 0, "device": "cpu", **changes}
    return FinetuneOptions(labels=str(store), output=str(output), **values)


def test_a_finetune_whose_loss_goes_nan_writes_no_model(store, tmp_path) -> None:
    output = tmp_path / "diverged.sargasses"
    with pytest.raises(SargassesError, match=r"diverged .*no model was written: give a lower --learning-rate"):
        run_finetune(_quick(store, output, learning_rate=1e6))
    assert not output.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--learning-rate", "nan", "learning rate nan: give a number above 0"),
        ("--learning-rate", "-1", "learning rate -1.0: give a number above 0"),
        ("--crops-per-epoch", "0", "crops per epoch 0: give at least 1"),
        ("--epochs", "0", "epochs 0: give at least 1"),
        ("--hold-out", "-0.5", "hold-out -0.5: give a share of dates from 0 up to"),
        ("--hold-out", "1", "hold-out 1.0: give a share of dates from 0 up to"),
    ],
)
def test_options_that_cannot_teach_anything_are_refused_in_one_line(tmp_path, capsys, option, value, message):
    """Checked before the labels are read: no model is written, and the error is one line, not a traceback."""
    output = tmp_path / "new.sargasses"
    assert main([str(tmp_path / "labels.gpkg"), "-o", str(output), option, value]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"sargasses: error: {message}" or (err.startswith("sargasses: error: " + message) and "\n" not in err)
    assert not output.exists()
