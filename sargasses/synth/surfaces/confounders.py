"""Confounders: what fools index thresholds. Land and its coasts (coast.py), turbid water, organic slicks, whitecaps, ships and
their wakes, clouds and their shadows, cirrus, sun glint, nodata borders and detector stripes.

Which of them a scene holds is drawn per scene kind (`choose_confounders`); each draws from its own random stream.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M
from sargasses.synth.fields import fractal, quantile, ramp, shift, smooth_down
from sargasses.synth.labels import THICK_CLOUD_OPACITY
from sargasses.synth.spectra import BAND_INDEX, BAND_TIME_S, VARIABILITY
from sargasses.synth.strokes import STEP_ALONG, Patch, Stroke, render, windrow
from sargasses.synth.surfaces.coast import draw_coast

_PRESENCE = {  # probability that a scene of this kind holds each confounder
    "mixed": {
        "cloud": 0.65,
        "cirrus": 0.35,
        "glint": 0.45,
        "land": 0.55,
        "slick": 0.5,
        "whitecaps": 0.5,
        "ship": 0.35,
        "nodata": 0.25,
    },
    "confounders": {
        "cloud": 0.8,
        "cirrus": 0.4,
        "glint": 0.6,
        "land": 0.6,
        "slick": 0.8,
        "whitecaps": 0.6,
        "ship": 0.6,
        "nodata": 0.3,
    },
    "clean": {},
}


def choose_confounders(rng: np.random.Generator, kind: str) -> set[str]:
    presence = _PRESENCE[kind]
    chosen = {name for name, p in presence.items() if rng.random() < p}
    if kind == "confounders":
        # an honest benchmark: each confounder scene holds material that index thresholds call Sargassum
        if not chosen & {"land", "slick"}:
            chosen.add(str(rng.choice(["land", "slick"])))
        others = sorted(set(presence) - chosen)
        rng.shuffle(others)
        while len(chosen) < 3 and others:
            chosen.add(others.pop())
    return chosen


def draw_land(rng, shape, kw: dict[str, Any]) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """A coast: island or mainland edge with forest, soil, a turbid fringe and the adjacency glow; the shore itself
    (beaches, surf, marsh, flats, lakes, rivers, fields) comes from `coast.draw_coast`. Returns the surf foam too."""
    size = max(shape)
    # noise plus a ramp from one side, so land keeps together as a coast instead of scattered islets
    relief = fractal(rng, shape, largest=min(1024, size), smallest=1, rough=0.62)
    relief += ramp(shape, rng.uniform(0, 2 * np.pi), 0.5 * size) * np.float32(2.5)
    share = rng.uniform(0.04, 0.30)
    t = quantile(relief, 1 - share)
    relief -= np.float32(t)
    relief *= np.float32(1 / 0.15)
    relief += np.float32(0.5)
    land = np.clip(relief, 0, 1, out=relief)  # 1-2 px of mixed shore
    del relief
    factor = 4 if size > 2048 else 2
    near = smooth_down(land, rng.uniform(8, 25), factor)  # adjacency: land light scattered over the sea
    adjacency = near * np.float32(rng.uniform(0.03, 0.10))
    del near
    reach = float(rng.uniform(8, 60))
    turbidity = smooth_down(land, reach, factor)
    turbidity *= 1 + 0.6 * fractal(rng, shape, largest=256, smallest=4)
    turbidity *= np.float32(rng.uniform(0.5, 2.5))
    np.clip(turbidity, 0, 1.6, out=turbidity)
    # mostly forest, with dry or built-up patches, and field-scale texture down to the pixel
    veg = fractal(rng, shape, largest=min(512, size), smallest=1, rough=0.7)
    veg = np.clip(0.85 + 0.3 * veg, 0.0, 1.0, out=veg)
    bright = 1 + 0.15 * fractal(rng, shape, largest=64, smallest=1, rough=0.8)
    kw["land"], surf, coast = draw_coast(rng, land, veg, bright, turbidity)
    del veg, bright
    kw.update(adjacency=adjacency, turbidity=turbidity)
    info = {
        "type": "land",
        "land_share": round(float((land > 0.5).mean()), 4),
        "beach_pixels": int((kw["land"].values["beach"] >= 0.5).sum()),
        "turbid_pixels": int(((turbidity > 0.2) & (land < 0.5)).sum()),
        "adjacency_max": round(float(adjacency.max()), 4),
        "plume_reach_px": round(reach, 1),
        "coast": coast,
    }
    return info, surf


def draw_slicks(rng, shape, wind: float, near: list[Patch]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Floating organic matter in streaks, aligned with the wind and often beside the weed (convergence zones)."""
    h, w = shape
    cov = np.zeros(shape, np.float32)
    bright = np.zeros(shape, np.float32)
    count = int(max(1, rng.poisson(max(1.0, 8 * h * w / 1024**2))))
    for _ in range(count):
        if near and rng.random() < 0.5:
            p = near[int(rng.integers(len(near)))]
            cy, cx = p.r0 + rng.uniform(-30, p.values.shape[0] + 30), p.c0 + rng.uniform(-30, p.values.shape[1] + 30)
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        strokes = []
        for _ in range(int(rng.integers(1, 5))):
            length = float(np.exp(rng.uniform(np.log(10), np.log(300))))
            y0, x0 = cy + rng.normal(0, 15), cx + rng.normal(0, 15)
            width, density = rng.uniform(0.4, 4.0), rng.uniform(0.3, 0.85)
            strokes.append(windrow(rng, y0, x0, wind + rng.normal(0, 0.3), length, width, density, gaps=0.6))
        patch = render(rng, strokes, shape)
        if patch is not None:
            cov[patch.window] += patch.values
            bright[patch.window] += patch.values * rng.uniform(*VARIABILITY["natural_organic_material"])
    return cov, bright, {"type": "organic_slick", "count": count, "pixels": int((cov >= 0.05).sum())}


def draw_whitecaps(rng, shape, wind: float) -> tuple[list[Stroke], dict[str, Any]]:
    """Wind-driven whitecaps and foam streaks, small and elongated along the wind."""
    h, w = shape
    per_mpx = float(np.exp(rng.uniform(np.log(200), np.log(4000))))
    count = int(rng.poisson(per_mpx * h * w / 1e6))
    strokes = []
    for _ in range(count):
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        length, width = rng.uniform(0.5, 10), float(np.exp(rng.uniform(np.log(0.1), np.log(1.5))))
        strokes.append(windrow(rng, y0, x0, wind + rng.normal(0, 0.2), length, width, rng.uniform(0.2, 0.9), 0.1))
    return strokes, {"type": "whitecaps", "count": count}


def draw_ships(rng, shape) -> tuple[list[dict[str, Any]], list[Stroke], list[dict[str, Any]]]:
    """Ships with a turbulent wake and Kelvin arms; the hull moves between bands (speed x band time)."""
    h, w = shape
    ships, foam, info = [], [], []
    for _ in range(int(rng.integers(1, 4 if max(shape) <= 2048 else 12))):
        y, x = rng.uniform(0.1 * h, 0.9 * h), rng.uniform(0.1 * w, 0.9 * w)
        heading = rng.uniform(-np.pi, np.pi)
        speed = rng.uniform(3, 12)  # m/s
        length_px = rng.uniform(2, 9)  # 40-180 m
        wake = rng.uniform(30, 300)
        back = heading + np.pi
        sy, sx = y + np.sin(back) * (length_px / 2 + wake / 2), x + np.cos(back) * (length_px / 2 + wake / 2)
        centre = windrow(rng, sy, sx, heading, wake, 1.0, 1.0, wiggle=0.02, gaps=0.3)
        s = np.linspace(0, 1, len(centre.y))
        # the stroke runs towards the stern: narrow and dense there, wider and fading far behind
        centre.width = 0.8 + 2.5 * (1 - s)
        centre.density = np.clip(0.9 * s**2.5 * rng.uniform(0.6, 1.0), 0, 1)
        foam.append(centre)
        for side in (-1, 1):  # Kelvin arms at 19.5 degrees
            arm_heading = heading + side * np.deg2rad(19.5)
            arm_len = wake * rng.uniform(0.4, 0.8)
            ay = y + np.sin(back) * length_px / 2 - np.sin(arm_heading) * arm_len / 2
            ax = x + np.cos(back) * length_px / 2 - np.cos(arm_heading) * arm_len / 2
            arm = windrow(rng, ay, ax, arm_heading, arm_len, rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6), 0.02)
            foam.append(arm)
        ships.append(
            {"y": y, "x": x, "heading": heading, "speed": speed, "length": length_px,
             "width": rng.uniform(0.6, 1.6), "bright": rng.uniform(*VARIABILITY["ship"])}
        )  # fmt: skip
        info.append(
            {"type": "ship", "row": round(y, 1), "col": round(x, 1), "speed_mps": round(speed, 1),
             "heading_deg": round(float(np.rad2deg(heading)), 1), "wake_length_px": round(wake, 1)}
        )  # fmt: skip
    return ships, foam, info


def ship_patch(rng, ship: dict[str, Any], band: int, shape) -> Patch | None:
    """The hull as seen in one band: displaced along its track by speed x band time."""
    step = ship["speed"] / DEFAULT_RESOLUTION_M * float(BAND_TIME_S[band] - BAND_TIME_S[BAND_INDEX["B04"]])
    y = ship["y"] + np.sin(ship["heading"]) * step
    x = ship["x"] + np.cos(ship["heading"]) * step
    n = max(2, int(ship["length"] / STEP_ALONG))
    s = (np.arange(n) - n / 2) * STEP_ALONG
    hull = Stroke(
        y + s * np.sin(ship["heading"]),
        x + s * np.cos(ship["heading"]),
        np.full(n, ship["heading"]),
        np.full(n, ship["width"]),
        np.ones(n),
    )
    return render(rng, [hull], shape)


def draw_clouds(rng, shape, kw: dict[str, Any], cirrus: bool, cumulus: bool) -> list[dict[str, Any]]:
    """Cumulus with thick cores and thin edges, their shadows, and thin cirrus; all move between bands."""
    info = []
    size = max(shape)
    track = float(np.deg2rad(rng.uniform(-14, -8)))  # along-track direction of the orbit in the UTM grid
    if cumulus:
        largest = float(rng.choice([48, 96, 192, 384]))  # popcorn cumulus to large cloud fields
        alpha = fractal(rng, shape, largest=min(largest, size), smallest=2, rough=rng.uniform(0.45, 0.65))
        cover = rng.uniform(0.03, 0.35)
        alpha -= np.float32(quantile(alpha, 1 - cover))
        alpha *= np.float32(1 / rng.uniform(0.3, 1.2))
        np.clip(alpha, 0, 1, out=alpha)
        alpha **= np.float32(rng.uniform(0.7, 1.5))
        speed = float(rng.uniform(0.3, 1.0))  # apparent displacement between bands, px/s (height and drift)
        shadow_len = float(rng.uniform(8, 60))
        shadow_dir = rng.uniform(-np.pi, np.pi)
        shadow = smooth_down(alpha, 1.5, 1)
        shadow = shift(shadow, shadow_len * np.sin(shadow_dir), shadow_len * np.cos(shadow_dir))
        kw.update(cloud=alpha, shadow=np.clip(shadow, 0, 1, out=shadow))
        kw["cloud_params"] = {
            "speed": speed,
            "track": track,
            "bright": float(rng.uniform(*VARIABILITY["cloud_mean"])),
            "shadow_depth": float(rng.uniform(0.15, 0.5)),
        }
        info.append(
            {"type": "cloud", "cover": round(float((alpha > 0.05).mean()), 4),
             "thick_share": round(float((alpha >= THICK_CLOUD_OPACITY).mean()), 4),
             "shadow_offset_px": round(shadow_len, 1), "band_shift_px_per_s": round(speed, 2),
             "core_brightness": round(kw["cloud_params"]["bright"], 3)}
        )  # fmt: skip
    if cirrus:
        c = fractal(rng, shape, largest=min(2048, size), smallest=8, rough=0.55)
        opacity = float(rng.uniform(0.05, 0.3))
        c *= np.float32(0.5)
        c += np.float32(0.3)
        np.clip(c, 0, 1, out=c)
        c **= 2
        c *= np.float32(opacity)
        kw["cirrus"] = c
        kw["cirrus_params"] = {"speed": float(rng.uniform(1.5, 3.0)), "track": track}
        info.append({"type": "cirrus", "max_opacity": round(float(c.max()), 3)})
    return info


def draw_glint(rng, shape, kw: dict[str, Any]) -> dict[str, Any]:
    """Sun glint: a broad gradient across the swath, and wave-facet speckle that decorrelates between bands."""
    size = max(shape)
    peak = float(np.exp(rng.uniform(np.log(0.003), np.log(0.08))))
    glint = ramp(shape, rng.uniform(0, 2 * np.pi), size / rng.uniform(2, 8))
    glint = 1 / (1 + np.exp(-glint))
    glint *= 1 + 0.3 * fractal(rng, shape, largest=min(1024, size), smallest=16)
    rho, sigma = float(rng.uniform(0.7, 0.95)), float(rng.uniform(0.15, 0.45))
    # waves: swell crests across the wind plus chop; the part all bands share
    waves = fractal(rng, shape, largest=8, smallest=1, rough=0.8)
    waves *= np.float32(sigma * rho)
    waves -= np.float32((sigma * rho) ** 2 / 2)
    glint *= np.exp(waves, out=waves)
    del waves
    glint *= np.float32(peak)
    np.clip(glint, 0, None, out=glint)
    kw["glint"] = glint.astype(np.float32, copy=False)
    kw["glint_params"] = {"own_sigma": sigma * math.sqrt(1 - rho**2)}
    return {"type": "sun_glint", "peak": round(peak, 4), "band_correlation": round(rho, 3), "speckle": round(sigma, 3)}


def draw_nodata(rng, shape) -> tuple[np.ndarray, dict[str, Any]]:
    """A swath edge across the scene: a slanted, slightly staircased border beyond which there is no data."""
    share = rng.uniform(0.05, 0.4)
    angle = rng.uniform(0, 2 * np.pi)
    d = ramp(shape, angle, 1.0)
    along = ramp(shape, angle + np.pi / 2, 1.0)
    d += 2.0 * (np.floor(along / 8) % 2)  # detector stagger
    del along
    mask = d > quantile(d, 1 - share)
    return mask, {"type": "nodata_border", "share": round(float(mask.mean()), 4)}


def draw_detector_stripes(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Sentinel-2 detector footprints (about 25 km wide, slanted): a small radiometric step between them."""
    pos = ramp(shape, np.deg2rad(rng.uniform(-14, -8)) + np.pi / 2, 1250.0)
    pos += np.float32(rng.uniform(0, 1))
    det = np.floor(pos, out=pos)
    det -= det.min()
    offsets = rng.normal(0, 0.0004, (int(det.max()) + 1, len(DEFAULT_BANDS))).astype(np.float32)
    return det.astype(np.uint8), offsets
