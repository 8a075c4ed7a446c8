"""Model cards and hand-set weights for tests and benchmarks: models whose answers are known.

`make_card` gives a card for the default input with sensible defaults; `red_edge_weights` gives a HalfUNet
weights that flag a red-edge rise exactly. Production code never needs them (the core package builds cards from
training configs and reads them from model files). The benchmarks import this file by path
(benchmarks/benchmark_detect.py, benchmarks/model_speed.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sargasses.model_file import ModelCard, build_network
from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M


def make_card(
    architecture: str = "HalfUNet",
    settings: dict[str, Any] | None = None,
    band_names: list[str] | tuple[str, ...] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    **fields: Any,
) -> ModelCard:
    """A card for the default input (Sentinel-2 L2A, 20 m, DEFAULT_BANDS) with sensible defaults.

    Only what differs has to be given.
    """
    bands = list(band_names or DEFAULT_BANDS)
    if settings is None:
        settings = {"num_filters": 16, "autopad_enabled": True} if architecture == "HalfUNet" else {}
        if architecture in ("UNet", "Segformer"):
            settings = {"autopad_enabled": True}
    tile_size = int(fields.pop("tile_size", 512))
    values: dict[str, Any] = {
        "name": "sargasses-untrained",
        "version": "0.0.0",
        "sensor": "sentinel2_l2a",
        "band_names": bands,
        "gsd_m": DEFAULT_RESOLUTION_M,
        "normalization": {"mean": list(mean or [0.0] * len(bands)), "std": list(std or [1.0] * len(bands))},
        "architecture": {
            "name": architecture,
            "settings": dict(settings),
            "in_channels": len(bands),
            "out_channels": 1,
            "input_shape": [tile_size, tile_size],
        },
        "tile_size": tile_size,
    }
    values.update(fields)
    return ModelCard(**values)


def small_halfunet_card(**fields: Any) -> ModelCard:
    """The 10-band HalfUNet-8 card the model-file tests share (64 px tiles), with `fields` on top."""
    return make_card(
        "HalfUNet",
        {"num_filters": 8, "autopad_enabled": True},
        mean=[0.05 * i for i in range(10)],
        std=[0.1 + 0.01 * i for i in range(10)],
        tile_size=64,
        tile_overlap=8,
        threshold=0.4,
        **fields,
    )


def red_edge_weights(
    card: ModelCard, gain: float = 200.0, rise: float = 0.05, high: str = "B07", low: str = "B04"
) -> dict[str, Any]:
    """Hand-set weights for a HalfUNet card (settings bias=True) that flag a red-edge rise: known answers.

    Every weight is 0 except one path that carries (high - low), B07 - B04 by default, through the network, so the
    module returns sigmoid(gain * (max(high - low, 0) - rise)) per pixel, with no dependence on neighbours or tiling. Tests
    and benchmarks use it where a trained model would make the expected result unknowable; it costs exactly
    what a trained network of the same settings costs to run.
    """
    arch = card.architecture
    if arch["name"] != "HalfUNet" or not arch["settings"].get("bias"):
        raise ValueError("red_edge_weights needs a HalfUNet card with settings bias=True")
    bands = list(card.band_names)
    if high not in bands or low not in bands:
        raise ValueError(f"red_edge_weights needs bands {low} and {high}")
    mean = torch.tensor(card.normalization["mean"])
    std = torch.tensor(card.normalization["std"])
    state = {k: torch.zeros_like(v) for k, v in build_network(card).state_dict().items()}
    for key in state:
        if key.endswith("running_var") or (key.endswith(".weight") and "norm" in key):
            state[key] = torch.ones_like(state[key])
    b7, b4 = bands.index(high), bands.index(low)
    # the module normalizes first: undo it so that channel 0 holds B07 - B04 in reflectance
    conv1 = state["encoder1.enc1conv1.weight"]
    conv1[0, b7, 1, 1] = float(std[b7])
    conv1[0, b4, 1, 1] = -float(std[b4])
    state["encoder1.enc1conv1.bias"][0] = float(mean[b7] - mean[b4])
    state["encoder1.enc1conv2.weight"][0, 0, 1, 1] = 1.0
    state["decoder.decoderconv1.weight"][0, 0, 1, 1] = 1.0
    state["decoder.decoderconv2.weight"][0, 0, 1, 1] = 1.0
    state["outconv.weight"][0, 0, 0, 0] = gain
    state["outconv.bias"][0] = -gain * rise
    return state


def save_legacy_model_file(path: Path, state_dict: dict[str, Any], card: ModelCard) -> Path:
    """A model file of the old format (1: a torch.save of the card and tensors), as sargasses wrote until the
    .sargasses format: tests check that such files are still read, converted, and explained without torch."""
    payload = {
        "format": "sargasses-model",
        "format_version": 1,
        "card": card.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()},
    }
    torch.save(payload, path)
    return path
