"""A synthetic time series: the same sea on successive days, rafts that drift and grow, clouds that hide some of them.

Why: monitoring (`sargasses monitor`) turns many scenes into a time series of covered km2 per day, per grid cell
and per coastal sector; to test it, the truth must be known day by day. Every day reuses the scene builder's parts
(sargasses/synth/: water, wide patches, clouds, band mixing, labelling), with the world fixed by the series seed:
the same water, the same rafts moved by a common current plus their own drift, and their radius grown each day.
Clouds are drawn per day (`day_sky`): scattered cumulus or a thick bank over one raft on about half of the days,
and the east half overcast every fourth day from day 2. `truth.json` lists, per day, the planted cover and the cover
visible (not under thick cloud, not nodata) in km2, in total and per sector (`sectors.gpkg`: the west and east
halves of the scene).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M, SENTINEL2_L2A
from sargasses.synth.identity import draw_identity
from sargasses.synth.labels import make_classes, make_labels, scene_stats
from sargasses.synth.layers import Layers
from sargasses.synth.mixing import mix_bands
from sargasses.synth.scene import GENERATOR_VERSION, SyntheticScene
from sargasses.synth.spectra import NOISE_SCALE, SARGASSUM_NIR_FACTOR, VARIABILITY
from sargasses.synth.surfaces.confounders import draw_clouds
from sargasses.synth.surfaces.rafts import wide_patch
from sargasses.synth.surfaces.water import draw_water, share_floating_matter

RAFTS = 7  # rafts in the series' world
CLOUDY_SHARE = 0.5  # share of days with cumulus
GROWTH_PER_DAY = (0.02, 0.08)  # relative growth of a raft's radius per day
CURRENT_PX_PER_DAY = (4.0, 12.0)  # the common drift (20 m pixels: 80-240 m a day)
SECTORS = ("west", "east")  # halves of the scene: the sectors written beside the series


@dataclass(frozen=True)
class SeriesRaft:
    """One raft of the series' world: where it starts, how it moves and grows."""

    y: float
    x: float
    heading: float
    radius: float
    density: float
    vy: float  # px per day
    vx: float
    growth: float  # relative radius growth per day
    brightness: float
    nir_factor: float
    texture_seed: int

    def on_day(self, day: int) -> tuple[float, float, float]:
        return self.y + self.vy * day, self.x + self.vx * day, self.radius * (1.0 + self.growth) ** day


@dataclass(frozen=True)
class SeriesWorld:
    """What stays from day to day: the grid, the first date, the rafts."""

    seed: int
    size: int
    identity: dict[str, Any]
    start: dt.date
    rafts: tuple[SeriesRaft, ...]


def series_world(seed: int, size: int) -> SeriesWorld:
    """The series' fixed world, from its seed alone."""
    rng = np.random.default_rng([int(seed), 2301])
    identity = draw_identity(rng, size)
    identity.pop("wind_direction_rad")
    current = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*CURRENT_PX_PER_DAY)
    rafts = tuple(
        SeriesRaft(
            y=float(rng.uniform(0.15, 0.85) * size),
            x=float(rng.uniform(0.15, 0.85) * size),
            heading=float(rng.uniform(0, np.pi)),
            radius=float(rng.uniform(6, 18) * size / 1024 + 3),
            density=float(rng.uniform(0.5, 0.95)),
            vy=float(speed * np.sin(current) + rng.normal(0, 1.5)),
            vx=float(speed * np.cos(current) + rng.normal(0, 1.5)),
            growth=float(rng.uniform(*GROWTH_PER_DAY)),
            brightness=float(rng.uniform(*VARIABILITY["dense_sargassum"])),
            nir_factor=float(rng.uniform(*SARGASSUM_NIR_FACTOR)),
            texture_seed=int(rng.integers(0, 2**31)),
        )
        for _ in range(RAFTS)
    )
    return SeriesWorld(int(seed), int(size), identity, dt.date.fromisoformat(identity["acquisition_date"]), rafts)


def series_day(world: SeriesWorld, day: int) -> SyntheticScene:
    """The scene of `day` (0 = the first): the world's sea and rafts on that day, under that day's clouds."""
    shape = (world.size, world.size)
    kw: dict[str, Any] = {"shape": shape}
    draw_water(np.random.default_rng([world.seed, 2302]), shape, kw)  # the same sea every day
    sarg, planted = _rafts_on_day(world, day, shape)
    coverage, kw["floating"] = share_floating_matter(sarg, None, None, None, None, shape)
    day_rng = np.random.default_rng([world.seed, 2303, day])
    sky = day_sky(day, day_rng)
    if sky != "clear":
        draw_clouds(day_rng, shape, kw, cirrus=False, cumulus=True)
        _thick_bank(kw, world, day, sky, day_rng)
    layers = Layers(**kw)
    noise_scale = float(day_rng.uniform(*NOISE_SCALE))
    reflectance = mix_bands(layers, day_rng, day_rng, noise_scale)
    label, thick = make_labels(layers, coverage, reflectance)
    classes = make_classes(layers, coverage, thick)
    date = world.start + dt.timedelta(days=day)
    meta = _day_meta(world, day, date, planted, sky)
    meta["stats"] = scene_stats(coverage, label, classes)
    meta["truth"] = day_truth(coverage, thick | np.isnan(reflectance[0]), world.size)
    return SyntheticScene(
        world.seed + day, "series", reflectance, label, world.identity["transform"], world.identity["crs"], meta,
        classes, coverage,
    )  # fmt: skip


def _rafts_on_day(world: SeriesWorld, day: int, shape) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The rafts' cover, brightness and NIR fields on `day` (as plant_sargassum returns them), and their list."""
    cov, bright, nir = (np.zeros(shape, np.float32) for _ in range(3))
    planted = []
    for i, raft in enumerate(world.rafts):
        y, x, radius = raft.on_day(day)
        rng = np.random.default_rng([raft.texture_seed, day])
        patch = wide_patch(rng, y, x, raft.heading, shape, radius, raft.density)
        if patch is None:
            continue  # drifted out of the scene
        cov[patch.window] += patch.values
        bright[patch.window] += patch.values * raft.brightness
        nir[patch.window] += patch.values * raft.nir_factor
        planted.append({"id": i, "y": round(y, 2), "x": round(x, 2), "radius_px": round(radius, 2)})
    return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, planted


def day_truth(coverage: np.ndarray, hidden: np.ndarray, size: int) -> dict[str, Any]:
    """Planted and visible cover (km2), in total and per sector (the west and east halves)."""
    pixel_km2 = DEFAULT_RESOLUTION_M**2 / 1e6
    visible = np.where(hidden, 0.0, coverage.astype(np.float64))
    half = size // 2
    halves = {"west": np.s_[:, :half], "east": np.s_[:, half:]}
    return {
        "planted_km2": float(coverage.astype(np.float64).sum() * pixel_km2),
        "visible_km2": float(visible.sum() * pixel_km2),
        "hidden_share": float(hidden.mean()),
        "sectors_visible_km2": {name: float(visible[s].sum() * pixel_km2) for name, s in halves.items()},
        "sectors_observed_share": {name: float(1.0 - hidden[s].mean()) for name, s in halves.items()},
    }


def day_sky(day: int, rng: np.random.Generator) -> str:
    """ "clear", "cumulus" (scattered), "bank" (a thick bank over one raft) or "east" (the east half overcast).

    Every fourth day from day 2 has the east half overcast, so any series of 3 days or more has a sector gap."""
    if day % 4 == 2:
        return "east"
    return str(rng.choice(["clear", "cumulus", "bank"], p=[1 - CLOUDY_SHARE, CLOUDY_SHARE / 2, CLOUDY_SHARE / 2]))


def _thick_bank(kw: dict[str, Any], world: SeriesWorld, day: int, sky: str, rng: np.random.Generator) -> None:
    """Thicken the day's cloud where `sky` says: a disc over one raft, or the whole east half."""
    size = world.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if sky == "east":
        bank = np.clip((xx - size / 2 + 8) / 8, 0, 1)
    elif sky == "bank":
        y, x, radius = world.rafts[int(rng.integers(len(world.rafts)))].on_day(day)
        reach = 2.0 * radius + 20
        bank = np.clip((reach - np.hypot(yy - y, xx - x)) / 10, 0, 1)
    else:
        return
    np.maximum(kw["cloud"], bank.astype(np.float32), out=kw["cloud"])


def _day_meta(world: SeriesWorld, day: int, date: dt.date, planted: list[dict], sky: str) -> dict[str, Any]:
    ident = world.identity
    old = ident["acquisition_date"].replace("-", "")
    product = ident["product_id"].replace(old, f"{date:%Y%m%d}")
    return {
        "generator": f"sargasses.synth {GENERATOR_VERSION} (series)",
        "synthetic": True,
        "seed": world.seed + day,
        "series_seed": world.seed,
        "day": day,
        "kind": "series",
        "size": world.size,
        "sensor": SENTINEL2_L2A.name,
        "bands": list(DEFAULT_BANDS),
        "resolution_m": DEFAULT_RESOLUTION_M,
        "crs": ident["crs"].to_string(),
        "transform": list(ident["transform"])[:6],
        "tile": ident["tile"],
        "acquisition_date": date.isoformat(),
        "product_id": product,
        "spacecraft": ident["spacecraft"],
        "processing_baseline": ident["processing_baseline"],
        "sky": sky,
        "rafts": planted,
    }


def write_sectors(world: SeriesWorld, path: Path) -> None:
    """The west and east halves of the scene as a polygon layer with a `name` field (the series' sectors)."""
    import pyogrio.raw
    import shapely
    from pyproj import CRS

    t = world.identity["transform"]
    x0, y1 = t.c, t.f
    x1, y0 = x0 + world.size * t.a, y1 + world.size * t.e
    xm = x0 + (world.size // 2) * t.a
    boxes = [shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)]
    crs = CRS.from_user_input(world.identity["crs"].to_wkt()).to_wkt()
    pyogrio.raw.write(
        path, shapely.to_wkb(np.array(boxes, dtype=object)), [np.array(SECTORS, dtype=object)], ["name"],
        driver="GPKG", geometry_type="Polygon", crs=crs, layer="sectors",
    )  # fmt: skip


def truth_row(scene: SyntheticScene) -> dict[str, Any]:
    """One day of truth.json: the day, its date and product, its rafts and their cover (planted, visible)."""
    keys = ("day", "acquisition_date", "product_id", "sky", "rafts")
    return {**{k: scene.meta[k] for k in keys}, **scene.meta["truth"]}


def write_truth(rows: list[dict[str, Any]], path: Path) -> None:
    """What was planted, day by day: the file the monitoring tests check the time series against."""
    from sargasses.atomic import atomic_write_text

    atomic_write_text(path, json.dumps({"days": rows}, indent=1) + "\n")
