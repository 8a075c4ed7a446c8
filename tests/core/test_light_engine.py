"""The CPU engine without torch: a detection in a Python where torch cannot be imported runs the model file's
own graph with ONNX Runtime and finds exactly the rafts that the torch-made graph of the same weights finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest
from model_helpers import save_legacy_model_file

from sargasses.model_file import default_model_path, read_model_file

ROOT = Path(__file__).resolve().parents[2]
# Run first in the child: any `import torch` (or of the libraries built on it) then fails, as on a CPU engine.
NO_TORCH = (
    "import sys\n"
    "for name in ('torch', 'torchvision', 'lightning', 'mfai'):\n"
    "    sys.modules[name] = None\n"
    "from sargasses.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "assert sys.modules['torch'] is None, 'torch was imported'\n"
    "sys.exit(code)\n"
)


def _sargasses(*args: object, torch: bool) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", NO_TORCH] if not torch else [sys.executable, "-m", "sargasses"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SARGASSES_DEFAULT_MODEL", None)
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("light")
    done = _sargasses("synth", folder, "--count", "1", "--seed", "7", "--size", "512", "--overwrite", torch=False)
    assert done.returncode == 0, done.stderr
    return folder / "scene_0007.tif"


def _rafts(path: Path) -> tuple[list, list]:
    _, _, geometry, fields = pyogrio.raw.read(path)
    return [bytes(g) for g in geometry], [list(map(str, column)) for column in fields]


def test_detection_without_torch_finds_exactly_what_the_torch_made_graph_finds(scene, tmp_path):
    light = tmp_path / "light.gpkg"
    done = _sargasses(
        "detect", scene, "-o", light, "--device", "cpu", "--probabilities", tmp_path / "p.tif", torch=False
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(light.with_name("light.summary.json").read_text())
    assert summary["rafts"] > 3 and summary["scorer"].startswith("ONNX Runtime")
    # The same weights in the old format (.pt): read with torch, its graph exported in memory, as engines did.
    old = tmp_path / "default_model.pt"
    card, weights = read_model_file(default_model_path())
    save_legacy_model_file(old, weights, card)
    reference = tmp_path / "reference.gpkg"
    done = _sargasses("detect", scene, "-o", reference, "--model", old, "--device", "cpu", torch=True)
    assert done.returncode == 0, done.stderr
    assert _rafts(light) == _rafts(reference)  # identical polygons, areas and probabilities


def test_an_old_pt_model_without_torch_says_how_to_convert_it(scene, tmp_path):
    old = tmp_path / "old.pt"
    card, weights = read_model_file(default_model_path())
    save_legacy_model_file(old, weights, card)
    done = _sargasses("detect", scene, "-o", tmp_path / "r.gpkg", "--model", old, torch=False)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "old format" in message and "sargasses convert-model" in message, message


def test_the_engine_answers_without_torch(tmp_path):
    done = _sargasses("engine", "--version", torch=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["protocol"] == 1
