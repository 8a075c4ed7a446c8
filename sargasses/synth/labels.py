"""The labelling rule, the label mask, the per-pixel classes, and the statistics written with each scene."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sargasses.synth.fields import shift
from sargasses.synth.layers import Layers
from sargasses.synth.spectra import BAND_INDEX, BAND_TIME_S
from sargasses.synth.strokes import Patch
from sargasses.synth.surfaces.coast import KIND

# --- Labelling rule (docs/dataset.md, "Labels") -------------------------------------------------------------------
# A pixel is Sargassum when at least POSITIVE_COVERAGE of its area is covered. At 4 % a mat of average brightness
# lifts each red-edge/NIR band by about 0.005, five times Sentinel-2's noise over dark water (0.001): sparse
# windrows at that cover are what arrives first at a coast, and what users need found (issue 19; generator 1.1
# labelled from 20 % and its models missed everything under 15 %). Between SCORABLE_MIN_COVERAGE and
# POSITIVE_COVERAGE the weed is at the noise: not scored (255), neither demanded nor punished. Below it the pixel
# counts as water.
POSITIVE_COVERAGE = 0.04
SCORABLE_MIN_COVERAGE = 0.015
THICK_CLOUD_OPACITY = 0.5  # under a cloud this opaque nobody can tell: not scored
MAX_POSITIVE_SHARE = 0.06  # positives stay under 6 % of the pixels: a scene may hold a wide patch
LABEL_NEGATIVE, LABEL_POSITIVE, LABEL_IGNORE = 0, 1, 255

# --- Per-pixel classes, kept in memory for tests and error analysis (not written) ----------------------------------
CLASS_CODES = {
    "water": 0,
    "sargassum": 1,  # coverage >= POSITIVE_COVERAGE
    "sargassum_faint": 2,  # SCORABLE_MIN_COVERAGE <= coverage < POSITIVE_COVERAGE
    "turbid_water": 3,
    "organic_slick": 4,
    "foam": 5,  # whitecaps and ship wakes
    "ship": 6,
    "land": 7,  # vegetation and bare soil
    "beach": 8,
    "glint": 9,
    "cloud_shadow": 10,
    "thin_cloud": 11,
    "thick_cloud": 12,
    "nodata": 13,
    "shoreline_mix": 14,  # 5-50 % land in a sea pixel: the waterline of beaches, marsh edges, flats
    "wetland": 15,  # salt marsh: wet vegetation and mud
    "tidal_flat": 16,
    "inland_water": 17,  # lakes, rivers, marsh ponds and tidal channels
    "shallow_water": 18,  # a bright bottom seen through the water
}


def label_from_coverage(coverage: np.ndarray) -> np.ndarray:
    """The labelling rule on Sargassum cover alone: 1 from POSITIVE_COVERAGE, 255 from SCORABLE_MIN_COVERAGE, else 0."""
    label = np.full(coverage.shape, LABEL_NEGATIVE, np.uint8)
    label[coverage >= SCORABLE_MIN_COVERAGE] = LABEL_IGNORE
    label[coverage >= POSITIVE_COVERAGE] = LABEL_POSITIVE
    return label


def make_labels(layers: Layers, coverage: np.ndarray, reflectance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 where coverage >= POSITIVE_COVERAGE, 255 where faint, under thick cloud (in any band) or nodata."""
    label = label_from_coverage(coverage)
    thick = np.zeros(layers.shape, bool)
    if layers.cloud is not None:
        p = layers.cloud_params
        ref = float(BAND_TIME_S[BAND_INDEX["B04"]])
        for when in (float(BAND_TIME_S.min()), ref, float(BAND_TIME_S.max())):  # bracket every band's displacement
            step = p["speed"] * (when - ref)
            moved = shift(layers.cloud, step * math.cos(p["track"]), step * math.sin(p["track"]))
            thick |= moved >= THICK_CLOUD_OPACITY
    label[thick] = LABEL_IGNORE
    label[np.isnan(reflectance[0])] = LABEL_IGNORE
    return label, thick


def make_classes(layers: Layers, coverage: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """What dominates each pixel, later entries winning: surface first, then atmosphere, then nodata."""
    c = np.zeros(layers.shape, np.uint8)
    flat = c.reshape(-1)
    code = CLASS_CODES
    if layers.glint is not None:
        c[layers.glint >= 0.01] = code["glint"]
    if layers.turbidity is not None:
        c[(layers.turbidity >= 0.2) | (layers.adjacency >= 0.01)] = code["turbid_water"]
    if layers.land is not None:
        v, idx = layers.land.values, layers.land.idx
        flat[idx[(v["frac"] < 0.5) & (v["shallow"] >= 0.3)]] = code["shallow_water"]
        flat[idx[(v["frac"] >= 0.05) & (v["frac"] < 0.5)]] = code["shoreline_mix"]
        flat[idx[(v["frac"] < 0.5) & (v["inland"] >= 0.5)]] = code["inland_water"]
    if layers.floating is not None:
        v, idx = layers.floating.values, layers.floating.idx
        for name, key in (("organic_slick", "slick"), ("foam", "foam")):
            if key in v:
                flat[idx[v[key] >= POSITIVE_COVERAGE]] = code[name]
    c[(coverage >= SCORABLE_MIN_COVERAGE) & (coverage < POSITIVE_COVERAGE)] = code["sargassum_faint"]
    c[coverage >= POSITIVE_COVERAGE] = code["sargassum"]
    if layers.land is not None:
        v, idx = layers.land.values, layers.land.idx
        flat[idx[v["frac"] >= 0.5]] = code["land"]
        flat[idx[(v["frac"] >= 0.5) & (v["beach"] >= 0.5)]] = code["beach"]
        flat[idx[(v["frac"] >= 0.5) & (v["kind"] == KIND["marsh"])]] = code["wetland"]
        flat[idx[(v["frac"] >= 0.5) & (v["kind"] == KIND["flat"])]] = code["tidal_flat"]
    for ship in layers.ships:
        r, col = int(ship["y"]), int(ship["x"])
        if 0 <= r < c.shape[0] and 0 <= col < c.shape[1]:
            c[r, col] = code["ship"]
    if layers.shadow is not None:
        c[layers.shadow >= 0.2] = code["cloud_shadow"]
    thin = np.zeros(layers.shape, bool)
    if layers.cloud is not None:
        thin |= layers.cloud >= 0.05
    if layers.cirrus is not None:
        thin |= layers.cirrus >= 0.05
    c[thin] = code["thin_cloud"]
    c[thick] = code["thick_cloud"]
    if layers.nodata is not None:
        c[layers.nodata] = code["nodata"]
    return c


def add_raft_stats(rafts: list[dict], patches: list[Patch], label: np.ndarray) -> None:
    for raft, patch in zip(rafts, patches, strict=True):
        own = patch.values >= 0.005
        lab = label[patch.window]
        raft["pixels"] = int(own.sum())
        raft["positive_pixels"] = int((own & (lab == LABEL_POSITIVE)).sum())
        raft["max_coverage"] = round(float(min(patch.values.max(), 1.0)), 3)


def scene_stats(coverage: np.ndarray, label: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    n = label.size
    planted = coverage[coverage >= 0.005]
    edges = [0.005, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0001]
    hist = np.histogram(planted, bins=edges)[0] if planted.size else np.zeros(len(edges) - 1, int)
    counts = np.bincount(classes.reshape(-1), minlength=256)
    return {
        "pixels": int(n),
        "positive_pixels": int((label == LABEL_POSITIVE).sum()),
        "positive_share": round(float((label == LABEL_POSITIVE).mean()), 6),
        "not_scorable_share": round(float((label == LABEL_IGNORE).mean()), 6),
        "planted_pixels": int(planted.size),
        "planted_below_positive_share": round(float((planted < POSITIVE_COVERAGE).mean()), 4) if planted.size else 0.0,
        "coverage_histogram": {"edges": [round(e, 3) for e in edges[:-1]] + [1.0], "counts": [int(v) for v in hist]},
        "class_pixels": {name: int(counts[code]) for name, code in CLASS_CODES.items()},
    }
