"""Assembling a scene: one random stream per component, drawn in a fixed order, then mixed and labelled.

Everything is drawn from `numpy.random.SeedSequence([seed, kind])`, one independent stream per component, so a
seed gives the same bytes on every run. Keep the order of the draws: the scenes the models learn from depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from sargasses.errors import SargassesError
from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M, SENTINEL2_L2A
from sargasses.synth.identity import FULL_TILE_SIZE, draw_identity
from sargasses.synth.labels import (
    POSITIVE_COVERAGE,
    SCORABLE_MIN_COVERAGE,
    THICK_CLOUD_OPACITY,
    add_raft_stats,
    make_classes,
    make_labels,
    scene_stats,
)
from sargasses.synth.layers import Layers
from sargasses.synth.mixing import mix_bands
from sargasses.synth.spectra import NOISE_SCALE, NOISE_SIGMA
from sargasses.synth.strokes import Stroke, render
from sargasses.synth.surfaces.confounders import (
    choose_confounders,
    draw_clouds,
    draw_detector_stripes,
    draw_glint,
    draw_land,
    draw_nodata,
    draw_ships,
    draw_slicks,
    draw_whitecaps,
)
from sargasses.synth.surfaces.rafts import plant_sargassum
from sargasses.synth.surfaces.water import draw_water, share_floating_matter

GENERATOR_VERSION = "1.2"
KINDS = ("mixed", "confounders", "clean")


@dataclass
class SyntheticScene:
    """One synthetic scene in memory: reflectance, labels, grid, and what was planted."""

    seed: int
    kind: str
    reflectance: np.ndarray  # (10, H, W) float32 surface reflectance, NaN where nodata
    label: np.ndarray  # (H, W) uint8: 1 Sargassum, 0 not, 255 not scorable
    transform: Affine
    crs: CRS
    meta: dict[str, Any]
    classes: np.ndarray  # (H, W) uint8, CLASS_CODES: what dominates each pixel
    coverage: np.ndarray  # (H, W) float32, Sargassum sub-pixel coverage 0-1
    band_names: tuple[str, ...] = field(default=DEFAULT_BANDS)

    @property
    def height(self) -> int:
        return int(self.reflectance.shape[1])

    @property
    def width(self) -> int:
        return int(self.reflectance.shape[2])

    def band(self, name: str) -> np.ndarray:
        return self.reflectance[self.band_names.index(name)]


# one random stream per component, spawned in this order: reordering them changes every scene
_STREAMS = (
    "plan",
    "geo",
    "water",
    "rafts",
    "cloud",
    "glint",
    "land",
    "slick",
    "foam",
    "ship",
    "nodata",
    "noise",
    "jitter",
)


def _streams(seed: int, kind: str) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence([int(seed), KINDS.index(kind)]).spawn(len(_STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)}


@dataclass
class _Draft:
    """A scene being drawn: its random streams, the confounders it holds, the keywords of its Layers so far and
    what was drawn of each confounder (for the JSON, in the order drawn)."""

    rng: dict[str, np.random.Generator]
    chosen: set[str]
    shape: tuple[int, int]
    wind: float
    layers: dict[str, Any]
    confounders: list[dict[str, Any]] = field(default_factory=list)


def make_scene(seed: int, size: int = 1024, kind: str = "mixed") -> SyntheticScene:
    """One synthetic Sentinel-2 L2A 20 m scene, size x size pixels, fully determined by (seed, kind).

    kind: "mixed" (Sargassum and confounders), "confounders" (no Sargassum), "clean" (Sargassum on open sea).
    """
    if kind not in KINDS:
        raise SargassesError(f"unknown scene kind {kind!r}: use one of {', '.join(KINDS)}")
    if not 32 <= int(size) <= FULL_TILE_SIZE:
        raise SargassesError(f"scene size {size} is out of range: use 32 to {FULL_TILE_SIZE} pixels")
    size = int(size)
    shape = (size, size)
    rng = _streams(seed, kind)
    chosen = choose_confounders(rng["plan"], kind)
    ident = draw_identity(rng["geo"], size)
    wind = ident.pop("wind_direction_rad")
    draft = _Draft(rng, chosen, shape, wind, {"shape": shape})
    water_info = draw_water(rng["water"], shape, draft.layers)
    sarg, rafts, patches = plant_sargassum(rng["rafts"], shape, wind, kind)
    coverage = _draw_floating_matter(draft, sarg, patches)
    del sarg
    noise_scale = _draw_sky_and_sensor(draft, kind)
    layers = Layers(**draft.layers)
    draft.layers.clear()

    reflectance = mix_bands(layers, rng["jitter"], rng["noise"], noise_scale)
    label, thick = make_labels(layers, coverage, reflectance)
    classes = make_classes(layers, coverage, thick)
    del thick
    add_raft_stats(rafts, patches, label)
    meta = {
        **_identity_meta(seed, kind, size, ident, wind),
        "water": water_info,
        "labelling": {
            "positive_coverage": POSITIVE_COVERAGE,
            "not_scored_from_coverage": SCORABLE_MIN_COVERAGE,
            "thick_cloud_opacity": THICK_CLOUD_OPACITY,
            "values": {"0": "not Sargassum", "1": "Sargassum", "255": "not scorable"},
        },
        "rafts": rafts,
        "confounders": draft.confounders,
        "stats": scene_stats(coverage, label, classes),
    }
    return SyntheticScene(
        int(seed), kind, reflectance, label, ident["transform"], ident["crs"], meta, classes, coverage
    )


def _draw_floating_matter(d: _Draft, sarg, patches) -> np.ndarray:
    """The land (for its surf), slicks and foam, shared with the Sargassum as the floating layer; the coverage."""
    rng, shape = d.rng, d.shape
    surf = None
    if "land" in d.chosen:
        info, surf = draw_land(rng["land"], shape, d.layers)
        d.confounders.append(info)
    slick = slick_bright = None
    if "slick" in d.chosen:
        slick, slick_bright, info = draw_slicks(rng["slick"], shape, d.wind, patches)
        d.confounders.append(info)
    foam = _draw_foam(d, surf)
    del surf
    coverage, d.layers["floating"] = share_floating_matter(sarg, slick, slick_bright, foam, d.layers.get("land"), shape)
    return coverage


def _draw_foam(d: _Draft, surf: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """Whitecaps, ship wakes and the surf on the beaches, as one foam plane (None where there is none)."""
    rng, shape = d.rng, d.shape
    foam = None
    foam_strokes: list[Stroke] = []
    if "whitecaps" in d.chosen:
        strokes, info = draw_whitecaps(rng["foam"], shape, d.wind)
        foam_strokes += strokes
        d.confounders.append(info)
    if "ship" in d.chosen:
        d.layers["ships"], wakes, infos = draw_ships(rng["ship"], shape)
        foam_strokes += wakes
        d.confounders += infos
    if foam_strokes:
        patch = render(rng["foam"], foam_strokes, shape)
        if patch is not None:
            foam = np.zeros(shape, np.float32)
            foam[patch.window] += patch.values
    if surf is not None and len(surf[0]):  # breaking waves along the beaches
        foam = np.zeros(shape, np.float32) if foam is None else foam
        foam.reshape(-1)[surf[0]] += surf[1]
    return foam


def _draw_sky_and_sensor(d: _Draft, kind: str) -> float:
    """Glint, clouds and their shadows, nodata, the detector stripes; returns the scale of the sensor noise."""
    rng, shape, kw = d.rng, d.shape, d.layers
    if "glint" in d.chosen:
        d.confounders.append(draw_glint(rng["glint"], shape, kw))
    if d.chosen & {"cloud", "cirrus"}:
        d.confounders += draw_clouds(rng["cloud"], shape, kw, cirrus="cirrus" in d.chosen, cumulus="cloud" in d.chosen)
    if "nodata" in d.chosen:
        kw["nodata"], info = draw_nodata(rng["nodata"], shape)
        d.confounders.append(info)
    noise_scale = float(rng["noise"].uniform(*NOISE_SCALE))
    if kind != "clean":
        kw["stripes"], kw["stripe_offsets"] = draw_detector_stripes(rng["noise"], shape)
        d.confounders.append({"type": "detector_stripes", "detectors": int(kw["stripe_offsets"].shape[0])})
    d.confounders.append({"type": "sensor_noise", "sigma": [round(float(s * noise_scale), 5) for s in NOISE_SIGMA]})
    return noise_scale


def _identity_meta(seed: int, kind: str, size: int, ident: dict[str, Any], wind: float) -> dict[str, Any]:
    """The JSON's first part: the generator, the scene's grid and its identity (product id, date...)."""
    return {
        "generator": f"sargasses.synth {GENERATOR_VERSION}",
        "synthetic": True,
        "seed": int(seed),
        "kind": kind,
        "size": size,
        "sensor": SENTINEL2_L2A.name,
        "bands": list(DEFAULT_BANDS),
        "resolution_m": DEFAULT_RESOLUTION_M,
        "crs": ident["crs"].to_string(),
        "transform": list(ident["transform"])[:6],
        **{k: v for k, v in ident.items() if k not in ("crs", "transform")},
        "wind_direction_deg": round(float(np.rad2deg(wind)), 1),
    }
