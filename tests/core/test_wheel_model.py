"""A plain wheel of the tree carries the default model: `pip install '.[engine]'` then `sargasses detect` works
without the source tree (issue 20 item 9). The wheel is built from a copy of the tree, installed the way pip
installs a pure-Python wheel (unpacked onto the path), and run from another folder, so that only the model inside
the package can be found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sargasses.evaluation.metrics import score_detection
from sargasses.reading.labels import read_label
from sargasses.reading.scene import open_scene

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "resources" / "default_model.sargasses"


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "sargasses", src / "sargasses", ignore=shutil.ignore_patterns("__pycache__", "_bundled"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "scripts/bundle_model.py", "resources/" + MODEL.name):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*command, str(src)], check=True, capture_output=True)
    return next(tmp_path.glob("sargasses-*.whl"))


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.is_file(), reason="no trained default model in resources/")
def test_a_plain_wheel_carries_the_default_model_and_detects(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("sargasses/_bundled/default_model.sargasses") == MODEL.read_bytes()
        archive.extractall(tmp_path / "site")
    run = tmp_path / "run"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SARGASSES_DEFAULT_MODEL", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    python = [sys.executable, "-m", "sargasses"]
    subprocess.run(
        [*python, "synth", str(run), "--count", "1", "--seed", "7", "--size", "512", "--kind", "clean"],
        check=True,
        env=env,
        cwd=run,
    )
    done = subprocess.run(
        [*python, "detect", "scene_0007.tif", "-o", "r.gpkg", "--json", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=run,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert Path(summary["model"]["path"]).resolve().is_relative_to((tmp_path / "site").resolve()), summary["model"]
    with open_scene(run / "scene_0007.tif") as grid:
        detected = read_label(run / "r.gpkg", grid) == 1
        truth = read_label(run / "scene_0007_label.tif", grid)
    scores = score_detection(detected, truth)
    assert scores.objects.recall >= 0.6 and scores.pixels.precision >= 0.9, scores.as_dict()  # main: 0.72, 0.99
