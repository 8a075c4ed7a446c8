"""`sargasses fit|validate|test|predict --config configs/tiny.yaml` in real processes, as Lightning users run them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from training_helpers import TINY_CONFIG, data_args, run_sargasses, tiny_fit, write_tiny_scenes


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[dict[str, Path], Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    folders = write_tiny_scenes(root / "data")
    checkpoint = tiny_fit(folders, root)
    return folders, root, checkpoint


def test_fit_writes_a_checkpoint_with_the_model_card(fitted):
    _, _, checkpoint = fitted
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    card = saved["hyper_parameters"]["input_card"]
    assert card["band_names"] == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    assert card["gsd_m"] == 20.0 and card["sensor"] == "sentinel2_l2a"
    assert 0 < saved["sargasses"]["threshold"] < 1
    assert "val_best_F1" in saved["sargasses"]["val_scores"]


def test_validate_and_test_report_the_metrics(fitted):
    folders, root, checkpoint = fitted
    for command, prefix in (("validate", "val_"), ("test", "test_")):
        result = run_sargasses(
            [command, "--config", str(TINY_CONFIG), *data_args(folders), f"--ckpt_path={checkpoint}"], cwd=root
        )
        assert result.returncode == 0, result.stderr[-2000:]
        for metric in ("AUROC", "BinaryF1Score", "BinaryJaccardIndex"):
            match = re.search(rf"{prefix}{metric}\s*│\s*([0-9.]+)", result.stdout)
            assert match, f"{prefix}{metric} missing from:\n{result.stdout}"
            assert 0.0 <= float(match.group(1)) <= 1.0


def test_predict_writes_georeferenced_probabilities(fitted):
    folders, root, checkpoint = fitted
    scene = sorted(folders["test"].glob("scene_????.tif"))[0]
    out = root / "lightning_logs" / "tiny_predictions"  # the writer's folder in configs/tiny.yaml
    result = run_sargasses(
        [
            "predict",
            "--config",
            str(TINY_CONFIG),
            *data_args(folders),
            f"--data.predict_images={scene}",
            f"--ckpt_path={checkpoint}",
        ],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = out / f"{scene.stem}_probability.tif"
    with rasterio.open(written) as probability, rasterio.open(scene) as source:
        assert probability.crs == source.crs and probability.transform == source.transform
        assert (probability.width, probability.height) == (source.width, source.height)
        values = probability.read(1)
        nodata = np.isnan(source.read()).any(axis=0)
    assert np.isnan(values[nodata]).all()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1


def test_predict_gives_the_probabilities_detect_gives(fitted, tmp_path):
    """predict runs detect's tile grid and blending: the checkpoint's predictions are its model file's detections."""
    folders, _, checkpoint = fitted
    scene = sorted(folders["test"].glob("scene_????.tif"))[0]
    out = tmp_path / "lightning_logs" / "tiny_predictions"  # the writer's folder in configs/tiny.yaml (64 px tiles)
    predict = ["predict", "--config", str(TINY_CONFIG), *data_args(folders), f"--data.predict_images={scene}"]
    result = run_sargasses([*predict, f"--ckpt_path={checkpoint}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    model = tmp_path / "model.sargasses"
    assert run_sargasses(["export-model", str(checkpoint), "-o", str(model)], cwd=tmp_path).returncode == 0
    detected = tmp_path / "p.tif"
    detect = ["detect", str(scene), "-o", str(tmp_path / "r.gpkg"), "--model", str(model), "--device", "cpu"]
    result = run_sargasses(
        [*detect, "--backend", "torch", "--tile-size", "64", "--probabilities", str(detected)], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with rasterio.open(out / f"{scene.stem}_probability.tif") as a, rasterio.open(detected) as b:
        predicted, by_detect = a.read(1), b.read(1)
    both = np.isfinite(predicted) & np.isfinite(by_detect)  # detect also masks land and cloud
    assert both.mean() > 0.5
    assert np.abs(predicted[both] - by_detect[both]).max() < 1e-4


def in_process(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """The same entry point as `sargasses ...`, in this process: for checks that stop before training."""
    from sargasses.cli import main

    monkeypatch.chdir(cwd)
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_print_config_and_overrides(tmp_path, monkeypatch, capsys):
    args = ["fit", "--config", str(TINY_CONFIG), "--data.crop_size=32", "--print_config"]
    code, out, _ = in_process(args, tmp_path, monkeypatch, capsys)
    assert code == 0
    assert "crop_size: 32" in out
    assert "class_path: mfai.pytorch.models.half_unet.HalfUNet" in out


def test_fast_dev_run(fitted, tmp_path):
    folders, _, _ = fitted
    result = run_sargasses(
        ["fit", "--config", str(TINY_CONFIG), *data_args(folders), "--trainer.fast_dev_run=true"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fast_dev_run" in result.stdout + result.stderr


def test_missing_data_fails_at_start_naming_it(tmp_path):
    # a real process: the user sees one line, no traceback
    result = run_sargasses(["fit", "--config", str(TINY_CONFIG), "--data.images=nowhere/scenes"], cwd=tmp_path)
    assert result.returncode == 1
    assert "nowhere/scenes does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_band_count_mismatch_fails_at_start(fitted, tmp_path, monkeypatch, capsys):
    folders, _, _ = fitted
    args = ["fit", "--config", str(TINY_CONFIG), *data_args(folders), "--model.model.init_args.in_channels=3"]
    code, _, err = in_process(args, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "the data gives 10 bands" in err and "in_channels=3" in err
    assert not (tmp_path / "lightning_logs").exists()  # stopped before any training


def test_empty_label_set_fails_at_start(fitted, tmp_path, monkeypatch, capsys):
    folders, _, _ = fitted
    empty = tmp_path / "empty"
    empty.mkdir()
    for image in folders["train"].glob("scene_????.tif"):
        (empty / image.name).symlink_to(image)
        with rasterio.open(folders["train"] / f"{image.stem}_label.tif") as src:
            profile, zeros = src.profile, np.zeros((src.height, src.width), np.uint8)
        with rasterio.open(empty / f"{image.stem}_label.tif", "w", **profile) as dst:
            dst.write(zeros, 1)
    args = ["fit", "--config", str(TINY_CONFIG), *data_args({**folders, "train": empty})]
    code, _, err = in_process(args, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "label set is empty" in err
