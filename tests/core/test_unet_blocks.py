"""The UNet rewrite on 2x2 pixel blocks gives the original network's answer, and is refused where it would not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detect_helpers import random_model
from mfai.pytorch.models.unet import UNet, UNetSettings

from sargasses.detection import unet_blocks
from sargasses.detection.devices import DeviceChoice
from sargasses.detection.onnx_export import onnx_bytes
from sargasses.detection.scorers import OnnxScorer, TorchScorer
from sargasses.detection.unet_blocks import BlockedUNet, rewritten
from sargasses.model_file import load_model_file


def trained_looking_unet(features: int, seed: int) -> UNet:
    """A UNet with random weights and batch-norm statistics far from identity, so folding them is tested."""
    torch.manual_seed(seed)
    unet = UNet(10, 1, (64, 64), UNetSettings(init_features=features))
    for module in unet.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return unet.eval()


@pytest.mark.parametrize("features", [4, 8])
@pytest.mark.parametrize("shape", [(1, 10, 32, 32), (2, 10, 64, 96), (1, 10, 160, 128)])
def test_blocked_unet_gives_the_original_logits(features, shape):
    unet = trained_looking_unet(features, seed=features)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) - 0.3
    with torch.inference_mode():
        original, blocked = unet(x), BlockedUNet(unet)(x)
    assert blocked.shape == original.shape
    assert (blocked - original).abs().max().item() < 1e-4 * max(1.0, original.abs().max().item())


def test_a_wrong_rewrite_is_refused(monkeypatch):
    """rewritten() compares with the original on a sample: a rewrite with a mistake falls back to the original."""
    loaded = load_model_file("resources/default_model.sargasses")
    assert rewritten(loaded.module, 10) is not None
    flipped = unet_blocks._blocked_3x3
    monkeypatch.setattr(unet_blocks, "_blocked_3x3", lambda w: flipped(w.flip(-1)))
    assert rewritten(loaded.module, 10) is None


def test_other_networks_are_left_as_they_are(tmp_path):
    loaded = load_model_file(random_model(tmp_path / "halfunet.sargasses"))
    assert rewritten(loaded.module, 10) is None
    assert onnx_bytes(loaded) == onnx_bytes(loaded, blocked=False)


def test_the_bundled_model_runs_blocked_in_onnx_runtime_with_torch_s_answer():
    loaded = load_model_file("resources/default_model.sargasses")
    graph = onnx_bytes(loaded)
    assert b"DepthToSpace" in graph and b"DepthToSpace" not in onnx_bytes(loaded, blocked=False)
    onnx = OnnxScorer(loaded.card.band_names, graph)
    eager = TorchScorer(loaded, DeviceChoice("cpu", "CPU"))
    rng = np.random.default_rng(2)
    for shape in ((1, 10, 512, 480), (2, 10, 96, 160)):
        batch = (rng.random(shape) * 0.1).astype(np.float32)
        batch[:, :, :5, :7] = 0.0  # nodata, as run_tiles feeds it
        excluded = np.zeros((shape[0], *shape[2:]), bool)
        assert np.abs(onnx.score(batch, excluded) - eager.score(batch, excluded)).max() < 1e-4
