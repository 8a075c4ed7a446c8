"""Open water: water masses and fronts, and the share of each pixel that floating matter takes from it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sargasses.synth.fields import fractal
from sargasses.synth.layers import Sparse
from sargasses.synth.spectra import VARIABILITY


def draw_water(rng, shape, kw: dict[str, Any]) -> dict[str, Any]:
    """Open-sea colour: water masses with fronts (blue/green change) and a smooth correction residual."""
    size = max(shape)
    colour = fractal(rng, shape, largest=min(2048, size), smallest=4, rough=0.55)
    sharp = float(rng.uniform(0.5, 2.5))  # fronts: from gentle gradients to sharp water-mass edges
    np.tanh(colour * np.float32(sharp), out=colour)
    colour *= np.float32(1 / math.tanh(sharp))
    aerosol = fractal(rng, shape, largest=min(2048, size), smallest=32, rough=0.5)
    kw.update(water_colour=colour, aerosol=aerosol, water_gain=float(rng.uniform(*VARIABILITY["water"])))
    return {"front_sharpness": round(sharp, 3)}


def share_floating_matter(
    sarg: dict[str, np.ndarray],
    slick: np.ndarray | None,
    slick_bright: np.ndarray | None,
    foam: np.ndarray | None,
    land: Sparse | None,
    shape: tuple[int, int],
) -> tuple[np.ndarray, Sparse | None]:
    """Summed areas -> fractions: nothing floats on land, floating layers share at most 1. Returns the coverage."""
    cov = sarg["sarg"]
    where = cov > 0
    for extra in (slick, foam):
        if extra is not None:
            where |= extra > 0
    floating = Sparse.from_planes(
        where, sarg=cov, sarg_bright=sarg["sarg_bright"], sarg_nir=sarg["sarg_nir"], slick=slick,
        slick_bright=slick_bright, foam=foam,
    )  # fmt: skip
    v = floating.values
    raw = v["sarg"]
    with np.errstate(invalid="ignore", divide="ignore"):
        v["sarg_bright"] = np.where(raw > 0, v["sarg_bright"] / raw, 1).astype(np.float32)
        v["sarg_nir"] = np.where(raw > 0, v["sarg_nir"] / raw, 1).astype(np.float32)
        if "slick" in v:
            v["slick_bright"] = np.where(v["slick"] > 0, v["slick_bright"] / v["slick"], 1).astype(np.float32)
    names = [k for k in ("sarg", "slick", "foam") if k in v]
    for k in names:
        np.minimum(v[k], 1, out=v[k])
    total = sum(v[k] for k in names)
    scale = np.where(total > 1, 1 / np.maximum(total, 1e-6), 1).astype(np.float32)
    if land is not None:  # nothing floats on land, nor on lakes, rivers and marsh channels (sea weed stays at sea)
        sea = np.ones(shape, np.float32)
        sea.reshape(-1)[land.idx] -= land.values["frac"]
        if "inland" in land.values:
            sea.reshape(-1)[land.idx] -= land.values["inland"]
        sea[sea <= 0.5] = 0  # a pixel classed land, marsh or inland water holds no weed at all
        scale *= sea.reshape(-1)[floating.idx]
        del sea
    for k in names:
        v[k] *= scale
    coverage = floating.plane("sarg", shape)
    return coverage, (floating if len(floating.idx) else None)
