"""Helpers shared by the detection tests: hand-made scenes with planted rafts, and small model files.

Spectra are the MARIDA class means of sargasses/data/reference_spectra.csv (water and dense Sargassum).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from affine import Affine
from model_helpers import make_card, red_edge_weights

from sargasses.model_file import build_network, save_model_file
from sargasses.outputs.summary import (
    ModelInfo,
    PixelCounts,
    RaftSettings,
    RunSummary,
    TileCounts,
    Timing,
    summary_keys,
)
from sargasses.reading.sensors import DEFAULT_BANDS

CRS = "EPSG:32620"
ORIGIN = (600000.0, 1700040.0)
TRANSFORM = Affine(20.0, 0.0, ORIGIN[0], 0.0, -20.0, ORIGIN[1])
WATER = np.array([0.034, 0.024, 0.017, 0.014, 0.014, 0.015, 0.013, 0.014, 0.009, 0.007], np.float32)
SARGASSUM = np.array([0.041, 0.049, 0.045, 0.095, 0.118, 0.141, 0.133, 0.137, 0.016, 0.010], np.float32)
LAND = np.array([0.05, 0.08, 0.07, 0.12, 0.25, 0.30, 0.32, 0.33, 0.22, 0.12], np.float32)
CLOUD = np.array([0.35, 0.34, 0.33, 0.33, 0.34, 0.35, 0.35, 0.35, 0.25, 0.18], np.float32)


def water(height: int, width: int, seed: int = 0, noise: float = 0.001) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sea = WATER[:, None, None] + rng.normal(0, noise, (10, height, width)).astype(np.float32)
    return np.clip(sea, 0.0, None).astype(np.float32)


def planted_rafts(height: int, width: int) -> list[np.ndarray]:
    """Boolean masks of rafts of known pixel counts: blocks, a diagonal filament, a ring with a hole."""
    rafts = []
    for r, c, h, w in ((20, 30, 3, 40), (90, 150, 6, 6), (200, 60, 2, 80), (150, 230, 12, 3)):
        m = np.zeros((height, width), bool)
        m[r : r + h, c : c + w] = True
        rafts.append(m)
    diagonal = np.zeros((height, width), bool)
    for i in range(50):
        diagonal[40 + i, 200 + i] = True
    rafts.append(diagonal)
    ring = np.zeros((height, width), bool)
    ring[240:256, 200:216] = True
    ring[245:250, 205:210] = False
    rafts.append(ring)
    return rafts


def plant(reflectance: np.ndarray, masks: list[np.ndarray], spectrum: np.ndarray = SARGASSUM) -> np.ndarray:
    out = reflectance.copy()
    for m in masks:
        out[:, m] = spectrum[:, None]
    return out


def write_scene(
    path: Path, reflectance: np.ndarray, transform: Affine = TRANSFORM, crs: str | None = CRS, **tags
) -> Path:
    """A 10-band float32 GeoTIFF named like a sargasses scene (band descriptions B02..B12, NaN nodata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": reflectance.shape[2],
        "height": reflectance.shape[1],
        "count": reflectance.shape[0],
        "dtype": "float32",
        "transform": transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(reflectance.astype(np.float32))
        for i, name in enumerate(DEFAULT_BANDS[: reflectance.shape[0]], start=1):
            dst.set_band_description(i, name)
        values = {"SENSOR": "sentinel2_l2a", "ACQUISITION_DATE": "2024-05-17", "PRODUCT_ID": "TEST_PRODUCT"}
        dst.update_tags(**{**values, **tags})
    return path


def random_model(
    path: Path,
    tile_size: int = 64,
    overlap: int = 16,
    seed: int = 0,
    filters: int = 8,
    gain: float = 300.0,
    **fields: Any,
) -> Path:
    """Random weights; `gain` scales the last layer so probabilities spread over (0, 1) instead of sitting at 0.5;
    `fields`: more of the card's (a threshold, say)."""
    card = make_card(
        "HalfUNet",
        {"num_filters": filters, "autopad_enabled": True},
        mean=WATER.tolist(),
        std=[0.02] * 10,
        tile_size=tile_size,
        tile_overlap=overlap,
        name="test-random",
        version="0.1",
        **fields,
    )
    torch.manual_seed(seed)
    state = build_network(card).state_dict()
    state["outconv.weight"] = state["outconv.weight"] * gain
    return save_model_file(path, state, card)


def constant_model(path: Path, logit: float, tile_size: int = 64, overlap: int = 16) -> Path:
    """A model whose output is sigmoid(logit) everywhere: all weights 0, the last layer's bias = logit."""
    card = make_card(
        "HalfUNet",
        {"num_filters": 4, "bias": True, "autopad_enabled": True},
        tile_size=tile_size,
        tile_overlap=overlap,
        name="test-constant",
    )
    state = {k: torch.zeros_like(v) for k, v in build_network(card).state_dict().items()}
    for key in state:
        if key.endswith("running_var"):
            state[key] = torch.ones_like(state[key])
    state["outconv.bias"] = torch.full_like(state["outconv.bias"], logit)
    return save_model_file(path, state, card)


def bright_model(path: Path, tile_size: int = 64, overlap: int = 16) -> Path:
    """A HalfUNet with hand-set weights (model_helpers.red_edge_weights): sigmoid(200 (B07 - B04 - 0.05)).

    Its answer is known exactly and does not depend on tiling: dense Sargassum ~1, water ~0.
    """
    card = make_card(
        "HalfUNet",
        {"num_filters": 4, "bias": True, "autopad_enabled": True},
        mean=WATER.tolist(),
        std=[0.05] * 10,
        tile_size=tile_size,
        tile_overlap=overlap,
        name="test-bright",
    )
    return save_model_file(path, red_edge_weights(card), card)


SUMMARY_NESTED = {
    "model": ModelInfo,
    "pixels": PixelCounts,
    "tiles": TileCounts,
    "timing": Timing,
    "rafts_by_setting": RaftSettings,
}


def assert_summary_shape(summary: dict[str, Any]) -> None:
    """`summary` (a run's, as returned or read back from JSON) has RunSummary's fields and no others."""
    required = set(RunSummary.__required_keys__) | {"time_s"}  # run_detection always sets time_s
    assert required <= set(summary), f"missing: {required - set(summary)}"
    assert set(summary) <= summary_keys(RunSummary), f"not in RunSummary: {set(summary) - summary_keys(RunSummary)}"
    for key, shape in SUMMARY_NESTED.items():
        if summary[key] is not None:
            assert set(summary[key]) == summary_keys(shape), key
