"""`sargasses export-model`: a checkpoint becomes a model file of weights + card, which loads without running code."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from training_helpers import run_sargasses, tiny_fit, write_tiny_scenes

from sargasses.errors import SargassesError
from sargasses.model_file import load_model_file
from sargasses.training.dataset import normalize
from sargasses.training.plmodule import SargassesLightningModule


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return tiny_fit(write_tiny_scenes(root / "data"), root)


def test_export_gives_a_model_that_predicts_as_the_checkpoint(checkpoint, tmp_path):
    output, card_json = tmp_path / "model.sargasses", tmp_path / "card.json"
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"test": {"f1": 0.5}}))
    result = run_sargasses(
        [
            "export-model",
            str(checkpoint),
            "-o",
            str(output),
            "--name",
            "tiny",
            "--version",
            "0.1",
            "--metrics",
            str(metrics),
            "--card-json",
            str(card_json),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = load_model_file(output)
    module = SargassesLightningModule.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    card = loaded.card
    assert card.name == "tiny" and card.metrics["test"] == {"f1": 0.5} and "validation" in card.metrics
    assert card.threshold == pytest.approx(module.threshold)
    assert card.band_names == module.input_card["band_names"] and card.gsd_m == 20.0
    assert json.loads(card_json.read_text())["architecture"]["name"] == "HalfUNet"
    # the model file takes reflectance and normalizes inside, exactly as training normalized the crops
    reflectance = np.random.default_rng(0).uniform(0.0, 0.1, (1, 10, 64, 64)).astype(np.float32)
    mean = np.array(card.normalization["mean"], np.float32)
    std = np.array(card.normalization["std"], np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(normalize(reflectance[0], mean, std))[None])
        got = loaded.module(torch.from_numpy(reflectance))
    assert torch.allclose(expected, got, atol=1e-5)
    assert output.stat().st_size < 200_000  # weights and card only


def test_export_refuses_to_overwrite(checkpoint, tmp_path, capsys):
    from sargasses.training.export_model import main

    output = tmp_path / "model.sargasses"
    output.write_bytes(b"precious")
    assert main([str(checkpoint), "-o", str(output)]) == 1
    assert "exists" in capsys.readouterr().err
    assert output.read_bytes() == b"precious"


class _RunsCode:
    """Unpickling this calls os.system: what a malicious 'model' would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_would_run_code_is_refused(checkpoint, tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pt"
    payload = {"format": "sargasses-model", "format_version": 1, "card": {}, "state_dict": {"w": _RunsCode(marker)}}
    torch.save(payload, evil, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(SargassesError, match="unsafe"):
        load_model_file(evil)
    assert not marker.exists()
    # a Lightning checkpoint is a full pickle too: it must go through export-model, never be loaded as a model
    with pytest.raises(SargassesError):
        load_model_file(checkpoint)
