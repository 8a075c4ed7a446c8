"""Coasts as a red-edge detector sees them: surf and swash on sandy beaches, salt marsh cut by tidal channels, tidal
flats, bright shallow bottoms, lakes, rivers with their plumes, fields and roads.

Why: a model trained on clean land learned that a line of mixed sand/water pixels, a marsh edge or a channel bank is
Sargassum. Every one of these is a negative, so they must be in the scenes. Everything is computed on the pixels
near the shore or on land only (flat indices), so a full tile holds few extra planes.
"""

from __future__ import annotations

import math
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


def draw_coast(rng, land: np.ndarray, veg: np.ndarray, bright: np.ndarray, turbidity: np.ndarray):
    """The land layer with its coast: returns the Sparse land layer, surf foam (flat indices, fractions), and info.

    `land` is the land fraction of each pixel (1-2 px of mixed shore); `turbidity` gets river plumes in place.
    """
    shape = land.shape
    w = shape[1]
    size = max(shape)
    has = {name: bool(rng.random() < p) for name, p in _PRESENCE.items()}
    if sum(has.values()) < 2:  # a coast holds several of these
        for name in sorted(n for n in has if not has[n])[:2]:
            has[name] = True
    sd_full = shore_distance(land > 0.5, SEA_REACH)
    idx = np.flatnonzero((land > 0) | (sd_full > -SEA_REACH))
    n = len(idx)
    sd = sd_full.reshape(-1)[idx]
    frac = land.reshape(-1)[idx].astype(np.float32)
    v = {
        "frac": frac,
        "veg": veg.reshape(-1)[idx].astype(np.float32),
        "bright": bright.reshape(-1)[idx].astype(np.float32),
        "kind": np.zeros(n, np.uint8),
        "beach": np.zeros(n, np.float32),
        "wet": np.zeros(n, np.float32),
        "inland": np.zeros(n, np.float32),
        "shallow": np.zeros(n, np.float32),
    }
    rows, cols = np.divmod(idx, w)

    def field(largest: float, smallest: float, rough: float = 0.6) -> np.ndarray:
        return fractal(rng, shape, largest=min(largest, size), smallest=smallest, rough=rough).reshape(-1)[idx]

    # along-shore segments: sandy beach at one end of a slow field, marsh at the other, forest or rock between
    seg = field(1024, 32, 0.5)
    shore = np.abs(sd) < 3
    ref = seg[shore] if shore.any() else seg
    s_sand = rng.uniform(0.35, 0.8) if has["sandy"] else 0.0
    s_marsh = min(rng.uniform(0.25, 0.6), 0.95 - s_sand) if has["marsh"] else 0.0
    t_sand = float(np.quantile(ref, 1 - s_sand)) if s_sand else np.inf
    t_marsh = float(np.quantile(ref, s_marsh)) if s_marsh else -np.inf
    sandy = np.clip((seg - t_sand) / 0.15 + 0.5, 0, 1)
    marsh = np.clip((t_marsh - seg) / 0.15 + 0.5, 0, 1)
    del seg, ref
    fine = field(32, 1, 0.7)  # pixel-scale patchiness
    fine2 = field(64, 1, 0.65)
    info: dict[str, Any] = {"features": sorted(k for k, on in has.items() if on)}

    # sandy beaches: dry sand 1-8 px wide, a wet swash strip, mixed sand/water pixels at the waterline, and surf
    width = 0.5 + 4 * np.clip(0.3 + 0.35 * field(256, 16), 0, 1)
    on_sand = sandy > 0
    v["beach"] = np.where(on_sand & (sd > -1.2), sandy * np.clip(width - sd, 0, 1), 0).astype(np.float32)
    swash = rng.uniform(0.7, 2.5)
    v["wet"] = np.where(on_sand, sandy * np.clip(1 - (sd + 0.5) / swash, 0, 1), 0).astype(np.float32)
    waterline = on_sand & (sd < 0) & ((sd > -1.2) | ((sd > -1.8) & (fine > 0.8)))
    mixed = (0.05 + 0.45 * np.clip(0.5 + 0.35 * fine, 0, 1)) * sandy
    frac[waterline] = np.maximum(frac[waterline], mixed[waterline])
    v["beach"][waterline] = 1
    v["wet"][waterline] = 1
    info["waterline_mixed_pixels"] = int((waterline & (frac >= 0.05) & (frac < 0.5)).sum())
    # surf: 1-6 bands of breaking waves parallel to the shore, patchy along it, fading offshore
    bands = int(rng.integers(1, 7))
    dist = np.sort(rng.uniform(1, 10, bands))
    dist[0] = min(dist[0], rng.uniform(0.5, 2.5))
    wobble = field(128, 8) * np.float32(rng.uniform(0.3, 1.2))
    p1, p2 = field(96, 4, 0.6), field(48, 2, 0.6)  # patches longer than the bands are wide: broken lines
    surf = np.zeros(n, np.float32)
    off = -sd - wobble
    near = on_sand & (sd < 0) & (sd > -14)
    for k in range(bands):
        amp = rng.uniform(0.25, 0.9) * (1 - 0.7 * dist[k] / 10)
        patchy = np.clip(0.3 + 0.8 * (math.cos(k) * p1[near] + math.sin(k) * p2[near]), 0, 1)
        surf[near] += amp * patchy * np.exp(-0.5 * ((off[near] - dist[k]) / rng.uniform(0.3, 1.0)) ** 2)
    surf[waterline] += rng.uniform(0.1, 0.5) * np.clip(0.5 + 0.5 * p2[waterline], 0, 1)  # swash foam
    surf *= sandy
    np.clip(surf, 0, 1, out=surf)
    del off, wobble, p2, mixed
    info["surf_bands"] = bands if has["sandy"] else 0

    # salt marsh: wet vegetation and mud, a fractal edge of ponds and islands, then tidal channels
    edge = rng.uniform(4, 16)
    depth = rng.uniform(15, 60) * (1 + 0.5 * field(256, 16))  # how far inland the marsh reaches
    in_marsh = (marsh > 0) & (sd > -edge) & (sd < depth + 8)
    # soft inland edge, ragged at the pixel scale, where the marsh gives way to the upland
    wm = marsh[in_marsh] * np.clip((depth[in_marsh] - sd[in_marsh]) / 8 + 0.5 * fine[in_marsh], 0, 1)
    sel, wm = np.flatnonzero(in_marsh)[wm > 0], wm[wm > 0]
    m = np.clip(0.5 + 1.2 * (fine2[sel] + sd[sel] / edge), 0, 1)  # the fractal edge: ponds inland, islets seaward
    frac[sel] += wm * (m - frac[sel])
    v["kind"][sel[wm >= 0.5]] = KIND["marsh"]
    v["veg"][sel] += wm * (np.clip(0.75 + 0.25 * fine[sel], 0.2, 1) - v["veg"][sel])
    v["wet"][sel] = np.maximum(v["wet"][sel], 0.25 * wm)
    v["inland"][sel] = np.where(sd[sel] > 0, 1 - frac[sel], 0)
    info["marsh_pixels"] = int((frac[sel[wm >= 0.5]] >= 0.5).sum())
    del depth, sel, wm, m
    channel_count = 0
    if has["marsh"]:
        mouths = _pick(rng, idx[(marsh > 0.5) & (np.abs(sd) <= 0.6)], int(rng.poisson(3 + 25 * (size / 1024) ** 2)))
        strokes = _network(rng, sd_full, mouths, (15, 120), (1.0, 4.0), 2.0, 0.6)
        pos, water = _carve(idx, strokes, rng, shape)
        v["inland"][pos] += frac[pos] * water * (sd[pos] > 0)
        frac[pos] *= 1 - water
        channel_count = len(mouths)
    info["tidal_channels"] = channel_count

    # tidal flats: wet mud exposed in front of the marsh or the rocky shore, mottled, with pools
    if has["flats"]:
        reach = rng.uniform(5, 40)
        flat_w = 1 - sandy
        in_flat = (sd < 0) & (sd > -reach) & (flat_w > 0)
        exposed = np.clip(0.6 + 0.7 * fine2[in_flat] + sd[in_flat] / reach, 0, 1) * flat_w[in_flat]
        grow = exposed > frac[in_flat]
        sel = np.flatnonzero(in_flat)[grow]
        frac[sel] = exposed[grow]
        v["kind"][sel] = KIND["flat"]
        v["wet"][sel] = rng.uniform(0.4, 1.0)
        info["tidal_flat_pixels"] = int((frac[sel] >= 0.5).sum())

    # bright shallow bottoms: sand seen through clear water, less where the water is turbid
    if has["shallow"]:
        scale = rng.uniform(4, 16)
        sea = sd < 0
        amp = rng.uniform(0.4, 1.0) * np.clip(0.6 + 0.5 * field(128, 4)[sea], 0, 1)
        amp *= np.exp(sd[sea] / scale) * (1 - 0.7 * np.minimum(turbidity.reshape(-1)[idx[sea]], 1))
        v["shallow"][sea] = amp * (1 - 0.8 * marsh[sea])
        info["shallow_pixels"] = int((v["shallow"] > 0.3).sum())

    # lakes and rivers in the land; their water has its own turbidity; the rivers' plumes reach the sea
    if has["inland_water"] or has["marsh"]:
        inland_px = idx[sd > 0]
        turbidity.reshape(-1)[inland_px] = np.minimum(turbidity.reshape(-1)[inland_px], rng.uniform(0.05, 0.9))
    if has["inland_water"]:
        deep = sd > 6
        lakes = field(256, 2, 0.6)[deep]
        t = float(np.quantile(lakes, 1 - rng.uniform(0.005, 0.04))) if len(lakes) else 0.0
        lake = np.clip((lakes - t) * 3, 0, 1)
        sel = np.flatnonzero(deep)
        v["inland"][sel] += frac[sel] * lake
        frac[sel] *= 1 - lake
        mouths = _pick(rng, idx[np.abs(sd) <= 0.6], int(rng.integers(1, 4 if size <= 2048 else 12)))
        strokes = _network(rng, sd_full, mouths, (80, 600), (1.5, 4.5), 3.0, 0.35)
        pos, water = _carve(idx, strokes, rng, shape)
        v["inland"][pos] += frac[pos] * water * (sd[pos] > 0)
        frac[pos] *= 1 - water
        for flat in mouths:
            r, c = divmod(int(flat), w)
            radius = rng.uniform(8, 40)
            reach = int(3 * radius)
            win = (slice(max(0, r - reach), r + reach), slice(max(0, c - reach), c + reach))
            yy, xx = np.ogrid[win]
            plume = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * radius**2)).astype(np.float32)
            part = turbidity[win]
            part += np.float32(rng.uniform(0.5, 1.5)) * plume[: part.shape[0], : part.shape[1]]
            np.clip(part, 0, 1.6, out=part)
        info["rivers"] = len(mouths)
        info["lake_pixels"] = int((lake >= 0.5).sum())

    # fields: parcels of crops, bare soil or stubble in farmland, with roads along some of their edges
    if has["fields"]:
        region = field(1024, 64, 0.5)
        farm = (sd > 10) & (v["kind"] == KIND["upland"])
        if farm.any():  # farmland takes 30-90 % of the land away from the shore
            farm &= region > np.quantile(region[farm], 1 - rng.uniform(0.3, 0.9))
        del region
        angle = rng.uniform(0, np.pi)
        lu, lv = rng.uniform(10, 40), rng.uniform(5, 25)
        u = (cols[farm] * math.cos(angle) + rows[farm] * math.sin(angle)) / lu
        vv = (rows[farm] * math.cos(angle) - cols[farm] * math.sin(angle)) / lv
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
        info["field_pixels"] = len(sel)
        info["road_pixels"] = int(on_road.sum())

    np.clip(v["inland"], 0, 1, out=v["inland"])
    keep = (frac > 0) | (v["shallow"] > 0.002)
    layer = Sparse(idx[keep], {k: a[keep] for k, a in v.items()})
    info["inland_water_pixels"] = int(((v["inland"] >= 0.5) & (frac < 0.5)).sum())
    info["surf_foam_pixels"] = int((surf >= 0.2).sum())
    lit = surf > 0
    return layer, (idx[lit], surf[lit]), info
