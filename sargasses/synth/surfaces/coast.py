"""Coasts as a red-edge detector sees them: surf and swash on sandy beaches, salt marsh cut by tidal channels, tidal
flats, bright shallow bottoms, lakes, rivers with their plumes, fields and roads.

Why: a model trained on clean land learned that a line of mixed sand/water pixels, a marsh edge or a channel bank is
Sargassum. Every one of these is a negative, so they must be in the scenes. Everything is computed on the pixels
near the shore or on land only (flat indices), so a full tile holds few extra planes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from sargasses.synth.fields import fractal
from sargasses.synth.layers import Sparse
from sargasses.synth.strokes import STEP_ALONG, Stroke, render

# surface kinds of the land layer: each mixes two end members (SPECTRA names) by the `veg` share of the pixel
SURFACES = ("upland", "crop", "marsh", "flat", "road")
END_MEMBERS = {
    "upland": ("vegetation", "bare_soil"),
    "crop": ("crop", "bare_soil"),
    "marsh": ("marsh_vegetation", "tidal_mud"),
    "flat": ("tidal_mud", "tidal_mud"),
    "road": ("road", "vegetation"),
}
KIND = {name: i for i, name in enumerate(SURFACES)}
SEA_REACH = 48  # px: how far out to sea coast features (shallow bottoms, surf, flats) may reach
_BLOCK = 512

_PRESENCE = {  # probability that a coast holds each feature
    "sandy": 0.8,
    "marsh": 0.55,
    "flats": 0.4,
    "shallow": 0.5,
    "inland_water": 0.6,
    "fields": 0.5,
}


def shore_distance(landmask: np.ndarray, cap: int) -> np.ndarray:
    """Signed distance to the waterline in px (+ on land, - at sea), capped at +-cap; exact EDT, in windows."""
    h, w = landmask.shape
    out = np.where(landmask, np.float32(cap), np.float32(-cap))
    for r0 in range(0, h, _BLOCK):
        for c0 in range(0, w, _BLOCK):
            y0, x0 = max(0, r0 - cap), max(0, c0 - cap)
            win = landmask[y0 : min(h, r0 + _BLOCK + cap), x0 : min(w, c0 + _BLOCK + cap)]
            if win.all() or not win.any():
                continue
            d = np.where(win, ndimage.distance_transform_edt(win) - 0.5, 0.5 - ndimage.distance_transform_edt(~win))
            part = d[r0 - y0 : r0 - y0 + _BLOCK, c0 - x0 : c0 + _BLOCK - x0]
            out[r0 : r0 + part.shape[0], c0 : c0 + part.shape[1]] = np.clip(part, -cap, cap)
    return out


def _meander(rng, y0: float, x0: float, heading: float, length: float, w0: float, w1: float, wiggle: float) -> Stroke:
    """A channel from its mouth: the heading meanders, the width narrows from w0 to w1, the water fills it."""
    n = max(2, int(length / STEP_ALONG))
    s = np.arange(n) * STEP_ALONG
    theta = heading + wiggle * sum(
        rng.uniform(0.4, 1.0) * np.sin(2 * np.pi * s / rng.uniform(8, 60) + rng.uniform(0, 2 * np.pi)) for _ in range(3)
    )
    y = y0 + np.cumsum(np.sin(theta)) * STEP_ALONG
    x = x0 + np.cumsum(np.cos(theta)) * STEP_ALONG
    width = w0 + (w1 - w0) * s / max(length, 1e-6)
    return Stroke(y, x, theta, width, np.ones(n))


def _network(rng, sd: np.ndarray, mouths: np.ndarray, length, width, branches: float, wiggle: float) -> list[Stroke]:
    """Channels from mouths on the shore, up the distance gradient (inland), with narrower side branches."""
    h, w = sd.shape
    strokes = []
    for flat in mouths:
        r, c = divmod(int(flat), w)
        gy = sd[min(h - 1, r + 3), c] - sd[max(0, r - 3), c]
        gx = sd[r, min(w - 1, c + 3)] - sd[r, max(0, c - 3)]
        main = _meander(rng, r + 0.5, c + 0.5, math.atan2(gy, gx), rng.uniform(*length), rng.uniform(*width),
                        rng.uniform(0.4, 0.8), wiggle)  # fmt: skip
        strokes.append(main)
        for _ in range(int(rng.poisson(branches))):
            k = int(rng.integers(len(main.y) // 5, max(len(main.y) // 5 + 1, len(main.y) - 4)))
            side = main.theta[k] + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
            strokes.append(_meander(rng, main.y[k], main.x[k], side, 0.5 * len(main.y) * STEP_ALONG * rng.random(),
                                    main.width[k] * rng.uniform(0.4, 0.8), 0.3, wiggle))  # fmt: skip
    return strokes


def _carve(idx: np.ndarray, strokes: list[Stroke], rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Water share of each pixel under the channels, on the pixels of idx that they cross."""
    patch = render(rng, strokes, shape)
    if patch is None:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows, cols = np.nonzero(patch.values > 0)
    flat = (rows + patch.r0) * shape[1] + cols + patch.c0
    pos = np.searchsorted(idx, flat)
    ok = (pos < len(idx)) & (idx[np.minimum(pos, len(idx) - 1)] == flat)
    return pos[ok], np.minimum(patch.values[rows[ok], cols[ok]], 1).astype(np.float32)


def _pick(rng, candidates: np.ndarray, count: int) -> np.ndarray:
    if not len(candidates) or count <= 0:
        return np.zeros(0, np.int64)
    return np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))


@dataclass
class _Shore:
    """The pixels near the shore or on land (flat indices `idx` into the scene) and the land layer drawn on them.

    `frac` is `values["frac"]`, the land share of each pixel: the features below change it in place, in order."""

    rng: np.random.Generator
    shape: tuple[int, int]
    idx: np.ndarray
    sd_full: np.ndarray  # (H, W) signed distance to the waterline
    sd: np.ndarray  # the same on idx
    frac: np.ndarray
    values: dict[str, np.ndarray]
    info: dict[str, Any]

    @property
    def size(self) -> int:
        return max(self.shape)

    def field(self, largest: float, smallest: float, rough: float = 0.6) -> np.ndarray:
        """A fractal field on idx (drawn over the whole scene: the draws do not depend on where the shore is)."""
        whole = fractal(self.rng, self.shape, largest=min(largest, self.size), smallest=smallest, rough=rough)
        return whole.reshape(-1)[self.idx]


@dataclass
class _AlongShore:
    """Where along the shore each kind of coast lies (0-1 weights on idx), and two fine fields of patchiness."""

    sandy: np.ndarray
    marsh: np.ndarray
    fine: np.ndarray  # pixel-scale patchiness
    fine2: np.ndarray


def draw_coast(rng, land: np.ndarray, veg: np.ndarray, bright: np.ndarray, turbidity: np.ndarray):
    """The land layer with its coast: returns the Sparse land layer, surf foam (flat indices, fractions), and info.

    `land` is the land fraction of each pixel (1-2 px of mixed shore); `turbidity` gets river plumes in place.
    Keep the order of the steps: each draws from `rng`, and the scenes depend on the order of the draws.
    """
    has = _features(rng)
    shore = _shore_pixels(rng, land, veg, bright)
    along = _along_shore(shore, has)
    shore.info["features"] = sorted(k for k, on in has.items() if on)
    waterline = _draw_beaches(shore, along)
    surf, bands = _draw_surf(shore, along, waterline)
    shore.info["surf_bands"] = bands if has["sandy"] else 0
    _draw_marsh(shore, along)
    shore.info["tidal_channels"] = _cut_tidal_channels(shore, along) if has["marsh"] else 0
    if has["flats"]:
        _draw_tidal_flats(shore, along)
    if has["shallow"]:
        _draw_shallow_bottoms(shore, along, turbidity)
    if has["inland_water"] or has["marsh"]:
        inland_px = shore.idx[shore.sd > 0]
        turbidity.reshape(-1)[inland_px] = np.minimum(turbidity.reshape(-1)[inland_px], rng.uniform(0.05, 0.9))
    if has["inland_water"]:
        lake_pixels = _draw_lakes(shore)
        shore.info["rivers"] = _draw_rivers(shore, turbidity)
        shore.info["lake_pixels"] = lake_pixels
    if has["fields"]:
        _draw_fields(shore)
    return _finish(shore, surf)


def _features(rng) -> dict[str, bool]:
    """Which features this coast holds: each by its probability, and at least two."""
    has = {name: bool(rng.random() < p) for name, p in _PRESENCE.items()}
    if sum(has.values()) < 2:  # a coast holds several of these
        for name in sorted(n for n in has if not has[n])[:2]:
            has[name] = True
    return has


def _shore_pixels(rng, land: np.ndarray, veg: np.ndarray, bright: np.ndarray) -> _Shore:
    """The land and the sea within SEA_REACH of it, with the land layer's values before any feature."""
    sd_full = shore_distance(land > 0.5, SEA_REACH)
    idx = np.flatnonzero((land > 0) | (sd_full > -SEA_REACH))
    n = len(idx)
    frac = land.reshape(-1)[idx].astype(np.float32)
    values = {
        "frac": frac,
        "veg": veg.reshape(-1)[idx].astype(np.float32),
        "bright": bright.reshape(-1)[idx].astype(np.float32),
        "kind": np.zeros(n, np.uint8),
        "beach": np.zeros(n, np.float32),
        "wet": np.zeros(n, np.float32),
        "inland": np.zeros(n, np.float32),
        "shallow": np.zeros(n, np.float32),
    }
    return _Shore(rng, land.shape, idx, sd_full, sd_full.reshape(-1)[idx], frac, values, {})


def _along_shore(s: _Shore, has: dict[str, bool]) -> _AlongShore:
    """Along-shore segments: sandy beach at one end of a slow field, marsh at the other, forest or rock between."""
    rng = s.rng
    seg = s.field(1024, 32, 0.5)
    shore = np.abs(s.sd) < 3
    ref = seg[shore] if shore.any() else seg
    s_sand = rng.uniform(0.35, 0.8) if has["sandy"] else 0.0
    s_marsh = min(rng.uniform(0.25, 0.6), 0.95 - s_sand) if has["marsh"] else 0.0
    t_sand = float(np.quantile(ref, 1 - s_sand)) if s_sand else np.inf
    t_marsh = float(np.quantile(ref, s_marsh)) if s_marsh else -np.inf
    sandy = np.clip((seg - t_sand) / 0.15 + 0.5, 0, 1)
    marsh = np.clip((t_marsh - seg) / 0.15 + 0.5, 0, 1)
    del seg, ref
    return _AlongShore(sandy, marsh, s.field(32, 1, 0.7), s.field(64, 1, 0.65))


def _draw_beaches(s: _Shore, a: _AlongShore) -> np.ndarray:
    """Sandy beaches: dry sand 1-8 px wide, a wet swash strip, mixed sand/water pixels at the waterline.
    Returns the waterline pixels (on idx)."""
    sd, frac, v = s.sd, s.frac, s.values
    width = 0.5 + 4 * np.clip(0.3 + 0.35 * s.field(256, 16), 0, 1)
    on_sand = a.sandy > 0
    v["beach"] = np.where(on_sand & (sd > -1.2), a.sandy * np.clip(width - sd, 0, 1), 0).astype(np.float32)
    swash = s.rng.uniform(0.7, 2.5)
    v["wet"] = np.where(on_sand, a.sandy * np.clip(1 - (sd + 0.5) / swash, 0, 1), 0).astype(np.float32)
    waterline = on_sand & (sd < 0) & ((sd > -1.2) | ((sd > -1.8) & (a.fine > 0.8)))
    mixed = (0.05 + 0.45 * np.clip(0.5 + 0.35 * a.fine, 0, 1)) * a.sandy
    frac[waterline] = np.maximum(frac[waterline], mixed[waterline])
    v["beach"][waterline] = 1
    v["wet"][waterline] = 1
    s.info["waterline_mixed_pixels"] = int((waterline & (frac >= 0.05) & (frac < 0.5)).sum())
    return waterline


def _draw_surf(s: _Shore, a: _AlongShore, waterline: np.ndarray) -> tuple[np.ndarray, int]:
    """Surf: 1-6 bands of breaking waves parallel to the shore, patchy along it, fading offshore.
    Returns the foam on idx and how many bands."""
    rng, sd = s.rng, s.sd
    bands = int(rng.integers(1, 7))
    dist = np.sort(rng.uniform(1, 10, bands))
    dist[0] = min(dist[0], rng.uniform(0.5, 2.5))
    wobble = s.field(128, 8) * np.float32(rng.uniform(0.3, 1.2))
    p1, p2 = s.field(96, 4, 0.6), s.field(48, 2, 0.6)  # patches longer than the bands are wide: broken lines
    surf = np.zeros(len(s.idx), np.float32)
    off = -sd - wobble
    near = (a.sandy > 0) & (sd < 0) & (sd > -14)
    for k in range(bands):
        amp = rng.uniform(0.25, 0.9) * (1 - 0.7 * dist[k] / 10)
        patchy = np.clip(0.3 + 0.8 * (math.cos(k) * p1[near] + math.sin(k) * p2[near]), 0, 1)
        surf[near] += amp * patchy * np.exp(-0.5 * ((off[near] - dist[k]) / rng.uniform(0.3, 1.0)) ** 2)
    surf[waterline] += rng.uniform(0.1, 0.5) * np.clip(0.5 + 0.5 * p2[waterline], 0, 1)  # swash foam
    surf *= a.sandy
    np.clip(surf, 0, 1, out=surf)
    return surf, bands


def _draw_marsh(s: _Shore, a: _AlongShore) -> None:
    """Salt marsh: wet vegetation and mud, a fractal edge of ponds and islands (the channels come after)."""
    rng, sd, frac, v = s.rng, s.sd, s.frac, s.values
    edge = rng.uniform(4, 16)
    depth = rng.uniform(15, 60) * (1 + 0.5 * s.field(256, 16))  # how far inland the marsh reaches
    in_marsh = (a.marsh > 0) & (sd > -edge) & (sd < depth + 8)
    # soft inland edge, ragged at the pixel scale, where the marsh gives way to the upland
    wm = a.marsh[in_marsh] * np.clip((depth[in_marsh] - sd[in_marsh]) / 8 + 0.5 * a.fine[in_marsh], 0, 1)
    sel, wm = np.flatnonzero(in_marsh)[wm > 0], wm[wm > 0]
    m = np.clip(0.5 + 1.2 * (a.fine2[sel] + sd[sel] / edge), 0, 1)  # the fractal edge: ponds inland, islets seaward
    frac[sel] += wm * (m - frac[sel])
    v["kind"][sel[wm >= 0.5]] = KIND["marsh"]
    v["veg"][sel] += wm * (np.clip(0.75 + 0.25 * a.fine[sel], 0.2, 1) - v["veg"][sel])
    v["wet"][sel] = np.maximum(v["wet"][sel], 0.25 * wm)
    v["inland"][sel] = np.where(sd[sel] > 0, 1 - frac[sel], 0)
    s.info["marsh_pixels"] = int((frac[sel[wm >= 0.5]] >= 0.5).sum())


def _cut_tidal_channels(s: _Shore, a: _AlongShore) -> int:
    """Tidal channels from mouths on the marsh shore, branching inland; returns how many mouths."""
    rng = s.rng
    mouths = _pick(rng, s.idx[(a.marsh > 0.5) & (np.abs(s.sd) <= 0.6)], int(rng.poisson(3 + 25 * (s.size / 1024) ** 2)))
    _flood_channels(s, _network(rng, s.sd_full, mouths, (15, 120), (1.0, 4.0), 2.0, 0.6))
    return len(mouths)


def _flood_channels(s: _Shore, strokes: list[Stroke]) -> None:
    """The channels' water replaces the land under them (inland water where it lies on land)."""
    pos, water = _carve(s.idx, strokes, s.rng, s.shape)
    s.values["inland"][pos] += s.frac[pos] * water * (s.sd[pos] > 0)
    s.frac[pos] *= 1 - water


def _draw_tidal_flats(s: _Shore, a: _AlongShore) -> None:
    """Tidal flats: wet mud exposed in front of the marsh or the rocky shore, mottled, with pools."""
    rng, sd, frac, v = s.rng, s.sd, s.frac, s.values
    reach = rng.uniform(5, 40)
    flat_w = 1 - a.sandy
    in_flat = (sd < 0) & (sd > -reach) & (flat_w > 0)
    exposed = np.clip(0.6 + 0.7 * a.fine2[in_flat] + sd[in_flat] / reach, 0, 1) * flat_w[in_flat]
    grow = exposed > frac[in_flat]
    sel = np.flatnonzero(in_flat)[grow]
    frac[sel] = exposed[grow]
    v["kind"][sel] = KIND["flat"]
    v["wet"][sel] = rng.uniform(0.4, 1.0)
    s.info["tidal_flat_pixels"] = int((frac[sel] >= 0.5).sum())


def _draw_shallow_bottoms(s: _Shore, a: _AlongShore, turbidity: np.ndarray) -> None:
    """Bright shallow bottoms: sand seen through clear water, less where the water is turbid."""
    rng, sd = s.rng, s.sd
    scale = rng.uniform(4, 16)
    sea = sd < 0
    amp = rng.uniform(0.4, 1.0) * np.clip(0.6 + 0.5 * s.field(128, 4)[sea], 0, 1)
    amp *= np.exp(sd[sea] / scale) * (1 - 0.7 * np.minimum(turbidity.reshape(-1)[s.idx[sea]], 1))
    s.values["shallow"][sea] = amp * (1 - 0.8 * a.marsh[sea])
    s.info["shallow_pixels"] = int((s.values["shallow"] > 0.3).sum())


def _draw_lakes(s: _Shore) -> int:
    """Lakes in the land away from the shore, the highest patches of a fractal field; returns their pixels."""
    deep = s.sd > 6
    lakes = s.field(256, 2, 0.6)[deep]
    t = float(np.quantile(lakes, 1 - s.rng.uniform(0.005, 0.04))) if len(lakes) else 0.0
    lake = np.clip((lakes - t) * 3, 0, 1)
    sel = np.flatnonzero(deep)
    s.values["inland"][sel] += s.frac[sel] * lake
    s.frac[sel] *= 1 - lake
    return int((lake >= 0.5).sum())


def _draw_rivers(s: _Shore, turbidity: np.ndarray) -> int:
    """Rivers from mouths on the shore, meandering inland, each with its turbid plume at sea; returns how many."""
    rng = s.rng
    mouths = _pick(rng, s.idx[np.abs(s.sd) <= 0.6], int(rng.integers(1, 4 if s.size <= 2048 else 12)))
    _flood_channels(s, _network(rng, s.sd_full, mouths, (80, 600), (1.5, 4.5), 3.0, 0.35))
    for flat in mouths:
        r, c = divmod(int(flat), s.shape[1])
        radius = rng.uniform(8, 40)
        reach = int(3 * radius)
        win = (slice(max(0, r - reach), r + reach), slice(max(0, c - reach), c + reach))
        yy, xx = np.ogrid[win]
        plume = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * radius**2)).astype(np.float32)
        part = turbidity[win]
        part += np.float32(rng.uniform(0.5, 1.5)) * plume[: part.shape[0], : part.shape[1]]
        np.clip(part, 0, 1.6, out=part)
    return len(mouths)


def _draw_fields(s: _Shore) -> None:
    """Fields: parcels of crops, bare soil or stubble in farmland, with roads along some of their edges."""
    rng, v = s.rng, s.values
    region = s.field(1024, 64, 0.5)
    farm = (s.sd > 10) & (v["kind"] == KIND["upland"])
    if farm.any():  # farmland takes 30-90 % of the land away from the shore
        farm &= region > np.quantile(region[farm], 1 - rng.uniform(0.3, 0.9))
    del region
    rows, cols = np.divmod(s.idx[farm], s.shape[1])
    angle = rng.uniform(0, np.pi)
    lu, lv = rng.uniform(10, 40), rng.uniform(5, 25)
    u = (cols * math.cos(angle) + rows * math.sin(angle)) / lu
    vv = (rows * math.cos(angle) - cols * math.sin(angle)) / lv
    iu = np.floor(u).astype(np.int64)
    stagger = rng.random(64)
    iv = np.floor(vv + stagger[iu % 64]).astype(np.int64)
    cover = rng.choice([0.05, 0.35, 0.8, 0.95], size=(64, 64), p=[0.3, 0.15, 0.3, 0.25])
    cover *= rng.uniform(0.85, 1.15, (64, 64))
    sel = np.flatnonzero(farm)
    v["kind"][sel] = KIND["crop"]
    v["veg"][sel] = np.clip(cover[iu % 64, iv % 64], 0, 1)
    # roads: every few parcel edges, 6-20 m wide, sub-pixel
    every, half = int(rng.integers(2, 6)), rng.uniform(0.15, 0.5)
    d = np.abs(u - np.round(u)) * lu
    road = np.clip(half + 0.5 - d, 0, 1) * (np.round(u).astype(np.int64) % every == 0)
    on_road = road > 0.2
    v["kind"][sel[on_road]] = KIND["road"]
    v["veg"][sel[on_road]] = road[on_road]
    s.info["field_pixels"] = len(sel)
    s.info["road_pixels"] = int(on_road.sum())


def _finish(s: _Shore, surf: np.ndarray):
    """The Sparse land layer (pixels with land or a shallow bottom), the surf foam, and the info."""
    v, frac, info = s.values, s.frac, s.info
    np.clip(v["inland"], 0, 1, out=v["inland"])
    keep = (frac > 0) | (v["shallow"] > 0.002)
    layer = Sparse(s.idx[keep], {k: a[keep] for k, a in v.items()})
    info["inland_water_pixels"] = int(((v["inland"] >= 0.5) & (frac < 0.5)).sum())
    info["surf_foam_pixels"] = int((surf >= 0.2).sum())
    lit = surf > 0
    return layer, (s.idx[lit], surf[lit]), info
