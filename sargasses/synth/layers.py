"""The layers a scene is drawn into, and that the band mixing reads: what covers each pixel, and how much."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sparse:
    """Values on the few pixels a layer touches (flat indices), so a full tile does not hold dozens of planes."""

    idx: np.ndarray  # int64 flat indices
    values: dict[str, np.ndarray]  # name -> float32 array aligned with idx (uint8 for codes such as "kind")

    @classmethod
    def from_planes(cls, where: np.ndarray, **planes: np.ndarray | None) -> Sparse:
        idx = np.flatnonzero(where)
        return cls(idx, {k: v.reshape(-1)[idx].astype(np.float32) for k, v in planes.items() if v is not None})

    def plane(self, name: str, shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
        out = np.full(shape, fill, np.float32)
        out.reshape(-1)[self.idx] = self.values[name]
        return out


@dataclass
class Layers:
    """Everything the band loop mixes: full (H, W) float32 fields for what spreads, sparse ones for what is rare."""

    shape: tuple[int, int]
    water_colour: np.ndarray  # water masses and fronts, about N(0, 1)
    aerosol: np.ndarray  # atmospheric-correction residual, about N(0, 1)
    water_gain: float
    floating: Sparse | None = None  # sarg, sarg_bright, sarg_nir, slick, slick_bright, foam (fractions 0-1)
    land: Sparse | None = (
        None  # frac, veg, kind, beach, wet, bright, inland (water), shallow (bottom): surfaces/coast.py
    )
    turbidity: np.ndarray | None = None
    adjacency: np.ndarray | None = None
    glint: np.ndarray | None = None  # with the band-common part of the wave-facet speckle already applied
    glint_params: dict[str, float] = field(default_factory=dict)
    cloud: np.ndarray | None = None
    cloud_params: dict[str, float] = field(default_factory=dict)
    cirrus: np.ndarray | None = None
    cirrus_params: dict[str, float] = field(default_factory=dict)
    shadow: np.ndarray | None = None
    ships: list[dict[str, Any]] = field(default_factory=list)
    nodata: np.ndarray | None = None  # bool
    stripes: np.ndarray | None = None  # detector index per pixel (uint8)
    stripe_offsets: np.ndarray | None = None  # (n_detectors, 10)
