"""Synthetic Sentinel-2 L2A scenes with planted Sargassum and the confounders that fool index thresholds.

Why: no public labelled Sargassum data is reachable here, so the default model learns only from these scenes. They
must be hard in the ways real scenes are: sub-pixel windrows over a sea whose colour changes, clouds and their
shadows, sun glint, foam and ship wakes, turbid coastal water, organic slicks, land and beaches with a red edge,
nodata borders and sensor noise. `docs/dataset.md` explains the model; every number here that is not from the
reference table (`sargasses/data/reference_spectra.csv`) is an estimate documented there.

Everything is drawn from `numpy.random.SeedSequence([seed, kind])`, one independent stream per component, so a
seed gives the same bytes on every run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from sargasses.errors import SargassesError
from sargasses.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M, SENTINEL2_L2A

GENERATOR_VERSION = "1.0"
KINDS = ("mixed", "confounders", "clean")
DTYPES = ("float32", "uint16")
FULL_TILE_SIZE = 5490  # a Sentinel-2 tile at 20 m: 109.8 km

# --- Labelling rule (docs/dataset.md, "Labels") -------------------------------------------------------------------
# A pixel is Sargassum when at least POSITIVE_COVERAGE of its area is covered: at 20 % a mat of average brightness
# lifts AFAI by about 4 noise standard deviations, visible but not trivial. Between SCORABLE_MIN_COVERAGE and
# POSITIVE_COVERAGE a pixel holds weed too faint to demand, yet calling it water would punish a correct detection:
# it is not scored (255). Below SCORABLE_MIN_COVERAGE the weed is under the noise: the pixel counts as water.
POSITIVE_COVERAGE = 0.20
SCORABLE_MIN_COVERAGE = 0.05
THICK_CLOUD_OPACITY = 0.5  # under a cloud this opaque nobody can tell: not scored
MAX_POSITIVE_SHARE = 0.019  # positives stay under 2 % of the pixels, as in real scenes
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
}

# --- Spectra -------------------------------------------------------------------------------------------------------
# Blank cells of the reference table, filled with the estimates documented in docs/dataset.md ("Spectra").
BLANK_CELL_ESTIMATES: dict[str, dict[str, float]] = {
    # linear mix of water and dense Sargassum at the ~22 % coverage implied by the red and NIR cells of that row
    "sparse_sargassum": {"B02": 0.0355, "B03": 0.0295},
    # clouds are white in the visible: the red value, slightly brighter in the blue
    "cloud_mean": {"B02": 0.160, "B03": 0.155},
    # the table's shadow pixels lie within 20 % of water in every given band: take water's blue and green
    "cloud_shadow": {"B02": 0.034, "B03": 0.024},
    # foam is white in the visible: the red value, flat
    "foam_whitecaps": {"B02": 0.160, "B03": 0.158},
    # sediment-laden water rises from blue to a green-red plateau
    "sediment_laden_water": {"B02": 0.080, "B03": 0.125},
    # brownish organic matter: darker in the blue than in the red
    "natural_organic_material": {"B02": 0.045, "B03": 0.055},
}

# Classes the table does not have, estimated from typical L2A spectra (docs/dataset.md), bands in DEFAULT_BANDS order.
ESTIMATED_SPECTRA: dict[str, tuple[float, ...]] = {
    #                  B02    B03    B04    B05    B06    B07    B08    B8A    B11    B12
    "vegetation": (0.025, 0.055, 0.030, 0.100, 0.260, 0.320, 0.340, 0.350, 0.170, 0.080),
    "bare_soil": (0.080, 0.110, 0.140, 0.160, 0.180, 0.190, 0.200, 0.210, 0.280, 0.240),
    "beach_sand": (0.200, 0.240, 0.270, 0.290, 0.300, 0.310, 0.320, 0.320, 0.360, 0.300),
    "very_turbid_water": (0.120, 0.190, 0.220, 0.220, 0.170, 0.170, 0.150, 0.150, 0.020, 0.012),
    "ship": (0.250, 0.260, 0.270, 0.270, 0.270, 0.270, 0.270, 0.270, 0.220, 0.180),
}
# Sun glint is nearly white (Fresnel reflection), a little weaker where the atmosphere transmits less (SWIR).
GLINT_SHAPE = np.array([1.00, 0.99, 0.97, 0.96, 0.95, 0.94, 0.93, 0.93, 0.85, 0.78], dtype=np.float32)

# Multiplicative range drawn per object (raft, slick, cloud field, land region) around the class spectrum.
VARIABILITY: dict[str, tuple[float, float]] = {
    "water": (0.85, 1.25),
    "dense_sargassum": (0.70, 1.40),  # times a red-edge/NIR factor in SARGASSUM_NIR_FACTOR (submersion, age)
    "natural_organic_material": (0.70, 1.50),
    "foam_whitecaps": (0.60, 1.30),
    "sediment_laden_water": (0.80, 1.20),
    "cloud_mean": (1.00, 3.50),  # MARIDA's mean mixes thin and thick cloud; cumulus cores reach 0.5
    "vegetation": (0.75, 1.25),
    "bare_soil": (0.80, 1.30),
    "beach_sand": (0.85, 1.20),
    "ship": (0.70, 1.40),
}
SARGASSUM_NIR_FACTOR = (0.80, 1.20)
SPECTRAL_JITTER = 0.05  # per pixel and band, multiplicative standard deviation on planted material

# Sensor noise of L2A over dark water, per band (reflectance), scaled per scene by NOISE_SCALE.
NOISE_SIGMA = np.array(
    [0.0015, 0.0012, 0.0010, 0.0010, 0.0009, 0.0009, 0.0012, 0.0009, 0.0010, 0.0010], dtype=np.float32
)
NOISE_SCALE = (0.8, 1.5)
NOISE_RELATIVE = 0.01  # plus 1 % of the signal (bright targets)

# Approximate acquisition time of each band relative to B02 (s), after the MSI focal-plane layout: moving or
# high objects (clouds, ships, whitecaps) land a little apart in each band, which lights up band-difference indices.
BAND_TIME_S = np.array([0.00, 0.53, 1.01, 1.27, 1.53, 1.79, 0.26, 2.05, 1.55, 2.30], dtype=np.float32)

# Spatial scale, in pixels of 20 m.
_DS = 0.25  # step along a stroke
_DU = 0.25  # step across a stroke

_PRESENCE = {  # probability that a scene of this kind holds each confounder
    "mixed": {
        "cloud": 0.65,
        "cirrus": 0.35,
        "glint": 0.45,
        "land": 0.35,
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


def _read_reference_table() -> dict[str, np.ndarray]:
    """Rows of the shipped reference table, bands in DEFAULT_BANDS order, NaN for blank cells."""
    text = resources.files("sargasses").joinpath("data/reference_spectra.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader)
    columns = [h.split("_")[0] for h in header[1:]]  # "B02_490" -> "B02"
    order = [columns.index(b) for b in DEFAULT_BANDS]
    table = {}
    for row in reader:
        values = [float(v) if v.strip() else math.nan for v in row[1:]]
        table[row[0]] = np.array([values[i] for i in order], dtype=np.float32)
    return table


def reference_table() -> dict[str, np.ndarray]:
    """The reference table as published (NaN where blank): what tests check the scenes against."""
    return {k: v.copy() for k, v in _REFERENCE.items()}


def class_spectra() -> dict[str, np.ndarray]:
    """Every class spectrum the generator uses: the table with blanks filled, plus the estimated classes."""
    spectra = {}
    for name, values in _REFERENCE.items():
        filled = values.copy()
        for band, value in BLANK_CELL_ESTIMATES.get(name, {}).items():
            filled[DEFAULT_BANDS.index(band)] = value
        if np.isnan(filled).any():
            raise SargassesError(f"reference spectra: class {name!r} has blank cells with no estimate")
        spectra[name] = filled
    for name, values in ESTIMATED_SPECTRA.items():
        spectra[name] = np.array(values, dtype=np.float32)
    return spectra


_REFERENCE = _read_reference_table()
SPECTRA = class_spectra()
_BAND = {name: i for i, name in enumerate(DEFAULT_BANDS)}
_RED_EDGE_NIR = np.array([name in ("B05", "B06", "B07", "B08", "B8A") for name in DEFAULT_BANDS])


# --- The scene -----------------------------------------------------------------------------------------------------
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


# --- Random fields -------------------------------------------------------------------------------------------------
def _upsample2(a: np.ndarray) -> np.ndarray:
    """Bilinear x2 upsampling (cell-centred, edges repeated) with plain slicing: far faster than ndimage.zoom."""
    h, w = a.shape
    rows = np.empty((2 * h, w), np.float32)
    up = np.concatenate([a[:1], a[:-1]])
    down = np.concatenate([a[1:], a[-1:]])
    rows[0::2] = 0.75 * a + 0.25 * up
    rows[1::2] = 0.75 * a + 0.25 * down
    del up, down
    out = np.empty((2 * h, 2 * w), np.float32)
    left = np.concatenate([rows[:, :1], rows[:, :-1]], axis=1)
    out[:, 0::2] = 0.75 * rows + 0.25 * left
    del left
    right = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    out[:, 1::2] = 0.75 * rows + 0.25 * right
    return out


def _fractal(rng: np.random.Generator, shape: tuple[int, int], largest: float, smallest: float, rough=0.6):
    """Zero-mean, unit-std fractal noise with features from `smallest` to `largest` pixels (float32).

    Built coarse to fine: upsample x2 and add finer noise down to cells of `smallest` pixels, then upsample to
    1-pixel cells. Each level keeps one cell of margin around the scene only, so the cost is a few passes over
    the scene whatever the scales.
    """
    h, w = shape
    smallest = 2 ** max(0, round(math.log2(max(1.0, smallest))))
    largest = max(float(largest), 2.0 * smallest)
    levels = max(1, round(math.log2(largest / smallest)) + 1)
    cell = smallest * 2 ** (levels - 1)
    grid = rng.standard_normal((math.ceil(h / cell) + 2, math.ceil(w / cell) + 2), dtype=np.float32)
    origin_y = origin_x = -cell  # scene pixel at grid[0, 0]'s corner: one cell of margin
    amp = 1.0
    while cell > 1:
        grid = _upsample2(grid)
        cell //= 2
        # keep one cell of margin on each side of the scene, drop the rest
        r0, c0 = max(0, -origin_y // cell - 1), max(0, -origin_x // cell - 1)
        grid = grid[r0 : r0 + math.ceil(h / cell) + 3, c0 : c0 + math.ceil(w / cell) + 3]
        origin_y, origin_x = origin_y + r0 * cell, origin_x + c0 * cell
        if cell >= smallest:
            amp *= rough
            grid = grid + amp * rng.standard_normal(grid.shape, dtype=np.float32)
    out = np.ascontiguousarray(grid[-origin_y : -origin_y + h, -origin_x : -origin_x + w])
    del grid
    sample = out[:: max(1, h // 256), :: max(1, w // 256)]
    out -= np.float32(sample.mean())
    out *= np.float32(1.0 / max(float(sample.std()), 1e-6))
    return out


def _smooth_down(a: np.ndarray, sigma: float, factor: int) -> np.ndarray:
    """Gaussian blur of a field at scales much larger than a pixel, computed on a decimated grid (cheap on tiles)."""
    factor = 2 ** max(0, round(math.log2(max(1, factor))))
    if factor <= 1:
        return ndimage.gaussian_filter(a, sigma).astype(np.float32)
    h, w = a.shape
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.pad(a, ((0, ph - h), (0, pw - w)), mode="edge")
    small = padded.reshape(ph // factor, factor, pw // factor, factor).mean(axis=(1, 3), dtype=np.float32)
    del padded
    small = ndimage.gaussian_filter(small, sigma / factor)
    while small.shape[0] < ph:
        small = _upsample2(small)
    return np.ascontiguousarray(small[:h, :w])


def _shift(a: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Move a field by (dy, dx) pixels, bilinear, edges repeated: out[r, c] = a[r - dy, c - dx]."""
    if abs(dy) < 1e-3 and abs(dx) < 1e-3:
        return a
    h, w = a.shape
    iy, ix = math.floor(dy), math.floor(dx)
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    p = max(abs(iy), abs(ix)) + 2
    padded = np.pad(a, p, mode="edge")

    def view(sy: int, sx: int) -> np.ndarray:
        return padded[p - sy : p - sy + h, p - sx : p - sx + w]

    out = view(iy, ix) * ((1 - fy) * (1 - fx))
    out += view(iy + 1, ix) * (fy * (1 - fx))
    out += view(iy, ix + 1) * ((1 - fy) * fx)
    out += view(iy + 1, ix + 1) * (fy * fx)
    return out


def _quantile(a: np.ndarray, q: float) -> float:
    sample = a[:: max(1, a.shape[0] // 512), :: max(1, a.shape[1] // 512)]
    return float(np.quantile(sample, q))


# --- Strokes: windrows, filaments, mats, slicks, foam streaks, wakes ------------------------------------------------
def _wander(rng: np.random.Generator, s: np.ndarray, spacing: float) -> np.ndarray:
    """Smooth random profile along a stroke, mean 0, std about 1."""
    knots = rng.standard_normal(int(s[-1] // spacing) + 3) if len(s) else np.zeros(3)
    return np.interp(s / spacing, np.arange(len(knots)), knots).astype(np.float64)


@dataclass
class _Stroke:
    """Centreline samples with the width (px) and covered fraction at each."""

    y: np.ndarray
    x: np.ndarray
    theta: np.ndarray
    width: np.ndarray
    density: np.ndarray


def _windrow(rng, y0, x0, heading, length, width0, density0, wiggle=0.25, gaps=0.4) -> _Stroke:
    """A curved windrow: heading meanders, width tapers at the ends and swells, density breaks into pieces."""
    n = max(2, int(length / _DS))
    s = np.arange(n) * _DS
    theta = heading + wiggle * sum(
        rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * s / rng.uniform(40, 400) + rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    y = y0 + np.cumsum(np.sin(theta)) * _DS
    x = x0 + np.cumsum(np.cos(theta)) * _DS
    y -= (y[-1] - y[0]) / 2  # centre the stroke on (y0, x0)
    x -= (x[-1] - x[0]) / 2
    ramp = max(length * 0.15, 0.5)
    taper = np.clip(np.minimum(s, length - s) / ramp, 0.05, 1.0) ** 0.5
    width = width0 * taper * np.clip(1 + 0.35 * _wander(rng, s, rng.uniform(8, 40)), 0.3, 2.0)
    density = density0 * np.clip(1 + gaps * _wander(rng, s, rng.uniform(5, 30)), 0.0, 1.0)
    return _Stroke(y, x, theta, width, density)


def _stroke_samples(rng, strokes: list[_Stroke]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area elements (y, x, area in px^2) that tile each stroke: coverage = sum of areas per pixel."""
    y = np.concatenate([s.y for s in strokes])
    x = np.concatenate([s.x for s in strokes])
    th = np.concatenate([s.theta for s in strokes])
    w = np.concatenate([s.width for s in strokes])
    d = np.concatenate([s.density for s in strokes])
    keep = (w > 0) & (d > 0)
    y, x, th, w, d = y[keep], x[keep], th[keep], w[keep], d[keep]
    m = np.maximum(1, np.ceil(w / _DU)).astype(np.int64)
    idx = np.repeat(np.arange(len(m)), m)
    j = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    u = (-0.5 + (j + rng.random(len(j))) / m[idx]) * w[idx]  # across, stratified
    t = (rng.random(len(j)) - 0.5) * _DS  # along, jittered
    sin, cos = np.sin(th[idx]), np.cos(th[idx])
    ys = y[idx] + t * sin + u * cos
    xs = x[idx] + t * cos - u * sin
    area = _DS * (w / m * d)[idx]
    return ys, xs, area


@dataclass
class _Patch:
    r0: int
    c0: int
    values: np.ndarray  # float32

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r0 + self.values.shape[0]), slice(self.c0, self.c0 + self.values.shape[1])

    def bbox(self) -> list[int]:
        rows, cols = np.nonzero(self.values > 0)
        if not len(rows):
            return [self.r0, self.c0, self.r0, self.c0]
        return [
            self.r0 + int(rows.min()),
            self.c0 + int(cols.min()),
            self.r0 + int(rows.max()) + 1,
            self.c0 + int(cols.max()) + 1,
        ]


def _splat(ys, xs, area, shape) -> _Patch | None:
    """Sum area elements into the pixels that hold them (pixel (r, c) spans [r, r+1) x [c, c+1))."""
    r = np.floor(ys).astype(np.int64)
    c = np.floor(xs).astype(np.int64)
    inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    if not inside.any():
        return None
    r, c, area = r[inside], c[inside], area[inside]
    r0, c0 = int(r.min()), int(c.min())
    h, w = int(r.max()) - r0 + 1, int(c.max()) - c0 + 1
    values = np.bincount((r - r0) * w + (c - c0), weights=area, minlength=h * w).reshape(h, w)
    return _Patch(r0, c0, values.astype(np.float32))


def _render(rng, strokes: list[_Stroke], shape) -> _Patch | None:
    if not strokes:
        return None
    return _splat(*_stroke_samples(rng, strokes), shape)


# --- Scene plan ----------------------------------------------------------------------------------------------------
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


def _choose_confounders(rng: np.random.Generator, kind: str) -> set[str]:
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


# --- Geography and product identity --------------------------------------------------------------------------------
_MGRS_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_MGRS_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_TILE_ULX = (399960, 499980, 600000, 699960)  # UTM 20N tile columns from Puerto Rico to Barbados
_TILE_ULY = (1600020, 1700040, 1800000, 1900020, 2000040)  # about 14.5 N to 18 N


def _tile_name(zone: int, ulx: float, uly: float) -> str:
    """MGRS name of the Sentinel-2 tile whose upper-left corner is (ulx, uly) in UTM zone `zone` north."""
    column = _MGRS_COLUMN_SETS[zone % 3][int(ulx // 100000) - 1]
    row = _MGRS_ROWS[(int((uly - 1) // 100000) + (5 if zone % 2 == 0 else 0)) % 20]
    lat = (uly - 54900) / 110_650.0  # tile centre, near enough to pick the 8-degree band
    return f"{zone}{_LAT_BANDS[int((lat + 80) // 8)]}{column}{row}"


def _identity(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Grid, date and a plausible L2A product name (processing baseline >= 04.00, so the -1000 DN offset holds)."""
    zone = 20
    ulx, uly = float(rng.choice(_TILE_ULX)), float(rng.choice(_TILE_ULY))
    row_off = int(rng.integers(0, FULL_TILE_SIZE - size + 1)) if size < FULL_TILE_SIZE else 0
    col_off = int(rng.integers(0, FULL_TILE_SIZE - size + 1)) if size < FULL_TILE_SIZE else 0
    res = DEFAULT_RESOLUTION_M
    transform = Affine(res, 0.0, ulx + col_off * res, 0.0, -res, uly - row_off * res)
    year = int(rng.integers(2022, 2026))
    date = dt.date(year, 3, 1) + dt.timedelta(days=int(rng.integers(0, 214)))  # March to September: the season
    sensing = dt.datetime.combine(date, dt.time(14, 30)) + dt.timedelta(seconds=int(rng.integers(0, 1800)))
    processed = sensing + dt.timedelta(seconds=int(rng.integers(3 * 3600, 9 * 3600)))
    spacecraft = str(rng.choice(["S2A", "S2B"] if year < 2025 else ["S2A", "S2B", "S2C"]))
    baseline = {2022: "N0400", 2023: "N0509", 2024: "N0510", 2025: "N0511"}[year]
    orbit = str(rng.choice(["R010", "R053", "R096", "R139"]))
    tile = _tile_name(zone, ulx, uly)
    product = f"{spacecraft}_MSIL2A_{sensing:%Y%m%dT%H%M%S}_{baseline}_{orbit}_T{tile}_{processed:%Y%m%dT%H%M%S}"
    return {
        "crs": CRS.from_epsg(32600 + zone),
        "transform": transform,
        "tile": tile,
        "tile_offset_px": [row_off, col_off],
        "acquisition_date": date.isoformat(),
        "product_id": product,
        "spacecraft": spacecraft,
        "processing_baseline": f"{baseline[1:3]}.{baseline[3:]}",
        "wind_direction_rad": float(rng.uniform(-np.pi, np.pi)),
    }


# --- Layers --------------------------------------------------------------------------------------------------------
@dataclass
class _Sparse:
    """Values on the few pixels a layer touches (flat indices), so a full tile does not hold dozens of planes."""

    idx: np.ndarray  # int64 flat indices
    values: dict[str, np.ndarray]  # name -> float32 array aligned with idx

    @classmethod
    def from_planes(cls, where: np.ndarray, **planes: np.ndarray | None) -> _Sparse:
        idx = np.flatnonzero(where)
        return cls(idx, {k: v.reshape(-1)[idx].astype(np.float32) for k, v in planes.items() if v is not None})

    def plane(self, name: str, shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
        out = np.full(shape, fill, np.float32)
        out.reshape(-1)[self.idx] = self.values[name]
        return out


@dataclass
class _Layers:
    """Everything the band loop mixes: full (H, W) float32 fields for what spreads, sparse ones for what is rare."""

    shape: tuple[int, int]
    water_colour: np.ndarray  # water masses and fronts, about N(0, 1)
    aerosol: np.ndarray  # atmospheric-correction residual, about N(0, 1)
    water_gain: float
    floating: _Sparse | None = None  # sarg, sarg_bright, sarg_nir, slick, slick_bright, foam (fractions 0-1)
    land: _Sparse | None = None  # frac, veg, beach, bright
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


def _water(rng, shape, kw: dict[str, Any]) -> dict[str, Any]:
    """Open-sea colour: water masses with fronts (blue/green change) and a smooth correction residual."""
    size = max(shape)
    colour = _fractal(rng, shape, largest=min(2048, size), smallest=4, rough=0.55)
    sharp = float(rng.uniform(0.5, 2.5))  # fronts: from gentle gradients to sharp water-mass edges
    np.tanh(colour * np.float32(sharp), out=colour)
    colour *= np.float32(1 / math.tanh(sharp))
    aerosol = _fractal(rng, shape, largest=min(2048, size), smallest=32, rough=0.5)
    kw.update(water_colour=colour, aerosol=aerosol, water_gain=float(rng.uniform(*VARIABILITY["water"])))
    return {"front_sharpness": round(sharp, 3)}


def _plant_sargassum(rng, shape, wind: float, kind: str) -> tuple[dict[str, np.ndarray], list[dict], list[_Patch]]:
    """Clusters of curved windrows with scattered mats, plus lone mats, until the target positive share is met."""
    h, w = shape
    cov = np.zeros(shape, np.float32)
    bright = np.zeros(shape, np.float32)
    nir = np.zeros(shape, np.float32)
    rafts: list[dict] = []
    patches: list[_Patch] = []
    if kind == "confounders":
        return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches
    target = float(np.exp(rng.uniform(np.log(0.0015), np.log(0.012)))) * h * w
    max_len = max(12.0, min(400.0, 0.4 * min(h, w)))
    min_len = min(15.0, max_len / 2)
    positives = 0
    refused = 0
    for _attempt in range(20000):  # bounded: a tiny scene may never reach its target
        if positives >= target or refused >= 30:
            break
        lone = rng.random() < 0.25
        b = float(rng.uniform(*VARIABILITY["dense_sargassum"]))
        n = float(rng.uniform(*SARGASSUM_NIR_FACTOR))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        heading = wind + rng.normal(0, 0.25)
        strokes: list[_Stroke] = []
        if lone:  # a small mat or a short filament on its own
            strokes.append(
                _windrow(rng, cy, cx, heading, rng.uniform(0.5, 12), rng.uniform(0.3, 2.5), rng.uniform(0.3, 1))
            )
        else:
            n_rows = int(rng.integers(2, 14))
            spacing = rng.uniform(4, 30)
            across = np.cumsum(rng.uniform(0.5, 1.5, n_rows) * spacing)
            across -= across.mean()
            for a in across:
                length = float(np.exp(rng.uniform(np.log(min_len), np.log(max_len))))
                if rng.random() < 0.7:  # most windrows are narrower than a pixel
                    width0 = float(np.exp(rng.uniform(np.log(0.08), np.log(0.9))))
                else:
                    width0 = float(rng.uniform(0.9, 3.0))
                along = rng.uniform(-0.3, 0.3) * length
                y0 = cy + a * np.cos(heading) + along * np.sin(heading)
                x0 = cx - a * np.sin(heading) + along * np.cos(heading)
                strokes.append(_windrow(rng, y0, x0, heading, length, width0, rng.uniform(0.4, 1.0)))
            for _ in range(int(rng.poisson(6))):  # mats scattered around the cluster
                r = rng.uniform(0, spacing * n_rows + 20)
                phi = rng.uniform(0, 2 * np.pi)
                y0, x0 = cy + r * np.sin(phi), cx + r * np.cos(phi)
                size_ = (rng.uniform(0.5, 6), rng.uniform(0.2, 2.0), rng.uniform(0.3, 1.0))
                strokes.append(_windrow(rng, y0, x0, heading + rng.normal(0, 0.5), *size_))
        patch = _render(rng, strokes, shape)
        if patch is None:
            continue
        win = patch.window
        before = int((cov[win] >= POSITIVE_COVERAGE).sum())
        cov[win] += patch.values
        gained = int((cov[win] >= POSITIVE_COVERAGE).sum()) - before
        if positives + gained > MAX_POSITIVE_SHARE * h * w * 0.95:
            cov[win] -= patch.values  # this raft would break the 2 % ceiling: leave it out, try a smaller one
            refused += 1
            continue
        positives += gained
        bright[win] += patch.values * b
        nir[win] += patch.values * n
        patches.append(patch)
        rafts.append(
            {
                "id": len(rafts),
                "shape": "mat" if lone else "windrow_cluster",
                "filaments": len(strokes),
                "bbox": patch.bbox(),
                "brightness": round(b, 3),
                "nir_factor": round(n, 3),
            }
        )
    return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches


def _ramp(shape: tuple[int, int], angle: float, scale: float) -> np.ndarray:
    """A linear ramp across the scene, 0 at its centre, in units of `scale` pixels."""
    h, w = shape
    ys = ((np.arange(h, dtype=np.float32) - h / 2) * np.float32(math.sin(angle) / scale))[:, None]
    xs = ((np.arange(w, dtype=np.float32) - w / 2) * np.float32(math.cos(angle) / scale))[None, :]
    return ys + xs


def _land(rng, shape, kw: dict[str, Any]) -> dict[str, Any]:
    """A coast: island or mainland edge with forest, soil, beaches, a turbid fringe and the adjacency glow."""
    size = max(shape)
    # noise plus a ramp from one side, so land keeps together as a coast instead of scattered islets
    relief = _fractal(rng, shape, largest=min(1024, size), smallest=1, rough=0.62)
    relief += _ramp(shape, rng.uniform(0, 2 * np.pi), 0.5 * size) * np.float32(2.5)
    share = rng.uniform(0.04, 0.30)
    t = _quantile(relief, 1 - share)
    relief -= np.float32(t)
    relief *= np.float32(1 / 0.15)
    relief += np.float32(0.5)
    land = np.clip(relief, 0, 1, out=relief)  # 1-2 px of mixed shore
    del relief
    factor = 4 if size > 2048 else 2
    near = _smooth_down(land, rng.uniform(8, 25), factor)  # adjacency: land light scattered over the sea
    adjacency = near * np.float32(rng.uniform(0.03, 0.10))
    del near
    reach = float(rng.uniform(8, 60))
    turbidity = _smooth_down(land, reach, factor)
    turbidity *= 1 + 0.6 * _fractal(rng, shape, largest=256, smallest=4)
    turbidity *= np.float32(rng.uniform(0.5, 2.5))
    np.clip(turbidity, 0, 1.6, out=turbidity)
    # beaches: on part of the coast only, a few pixels wide
    inland = _smooth_down((land > 0.5).astype(np.float32), 2.0, 1)
    beach = (inland > 0.02) & (inland < 0.6) & (land > 0)
    del inland
    beach &= _fractal(rng, shape, largest=256, smallest=16) > rng.uniform(-0.5, 0.8)
    where = land > 0
    # mostly forest, with dry or built-up patches, and field-scale texture down to the pixel
    veg = _fractal(rng, shape, largest=min(512, size), smallest=1, rough=0.7)
    veg = np.clip(0.85 + 0.3 * veg, 0.0, 1.0, out=veg)
    bright = 1 + 0.15 * _fractal(rng, shape, largest=64, smallest=1, rough=0.8)
    kw["land"] = _Sparse.from_planes(where, frac=land, veg=veg, beach=beach.astype(np.float32), bright=bright)
    del veg, bright
    kw.update(adjacency=adjacency, turbidity=turbidity)
    return {
        "type": "land",
        "land_share": round(float((land > 0.5).mean()), 4),
        "beach_pixels": int(beach.sum()),
        "turbid_pixels": int(((turbidity > 0.2) & (land < 0.5)).sum()),
        "adjacency_max": round(float(adjacency.max()), 4),
        "plume_reach_px": round(reach, 1),
    }


def _slicks(rng, shape, wind: float, near: list[_Patch]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
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
            strokes.append(_windrow(rng, y0, x0, wind + rng.normal(0, 0.3), length, width, density, gaps=0.6))
        patch = _render(rng, strokes, shape)
        if patch is not None:
            cov[patch.window] += patch.values
            bright[patch.window] += patch.values * rng.uniform(*VARIABILITY["natural_organic_material"])
    return cov, bright, {"type": "organic_slick", "count": count, "pixels": int((cov >= 0.05).sum())}


def _whitecaps(rng, shape, wind: float) -> tuple[list[_Stroke], dict[str, Any]]:
    """Wind-driven whitecaps and foam streaks, small and elongated along the wind."""
    h, w = shape
    per_mpx = float(np.exp(rng.uniform(np.log(200), np.log(4000))))
    count = int(rng.poisson(per_mpx * h * w / 1e6))
    strokes = []
    for _ in range(count):
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        length, width = rng.uniform(0.5, 10), float(np.exp(rng.uniform(np.log(0.1), np.log(1.5))))
        strokes.append(_windrow(rng, y0, x0, wind + rng.normal(0, 0.2), length, width, rng.uniform(0.2, 0.9), 0.1))
    return strokes, {"type": "whitecaps", "count": count}


def _ships(rng, shape) -> tuple[list[dict[str, Any]], list[_Stroke], list[dict[str, Any]]]:
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
        centre = _windrow(rng, sy, sx, heading, wake, 1.0, 1.0, wiggle=0.02, gaps=0.3)
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
            arm = _windrow(rng, ay, ax, arm_heading, arm_len, rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6), 0.02)
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


def _ship_patch(rng, ship: dict[str, Any], band: int, shape) -> _Patch | None:
    """The hull as seen in one band: displaced along its track by speed x band time."""
    step = ship["speed"] / DEFAULT_RESOLUTION_M * float(BAND_TIME_S[band] - BAND_TIME_S[_BAND["B04"]])
    y = ship["y"] + np.sin(ship["heading"]) * step
    x = ship["x"] + np.cos(ship["heading"]) * step
    n = max(2, int(ship["length"] / _DS))
    s = (np.arange(n) - n / 2) * _DS
    hull = _Stroke(
        y + s * np.sin(ship["heading"]),
        x + s * np.cos(ship["heading"]),
        np.full(n, ship["heading"]),
        np.full(n, ship["width"]),
        np.ones(n),
    )
    return _render(rng, [hull], shape)


def _clouds(rng, shape, kw: dict[str, Any], cirrus: bool, cumulus: bool) -> list[dict[str, Any]]:
    """Cumulus with thick cores and thin edges, their shadows, and thin cirrus; all move between bands."""
    info = []
    size = max(shape)
    track = float(np.deg2rad(rng.uniform(-14, -8)))  # along-track direction of the orbit in the UTM grid
    if cumulus:
        largest = float(rng.choice([48, 96, 192, 384]))  # popcorn cumulus to large cloud fields
        alpha = _fractal(rng, shape, largest=min(largest, size), smallest=2, rough=rng.uniform(0.45, 0.65))
        cover = rng.uniform(0.03, 0.35)
        alpha -= np.float32(_quantile(alpha, 1 - cover))
        alpha *= np.float32(1 / rng.uniform(0.3, 1.2))
        np.clip(alpha, 0, 1, out=alpha)
        alpha **= np.float32(rng.uniform(0.7, 1.5))
        speed = float(rng.uniform(0.3, 1.0))  # apparent displacement between bands, px/s (height and drift)
        shadow_len = float(rng.uniform(8, 60))
        shadow_dir = rng.uniform(-np.pi, np.pi)
        shadow = _smooth_down(alpha, 1.5, 1)
        shadow = _shift(shadow, shadow_len * np.sin(shadow_dir), shadow_len * np.cos(shadow_dir))
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
        c = _fractal(rng, shape, largest=min(2048, size), smallest=8, rough=0.55)
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


def _glint(rng, shape, kw: dict[str, Any]) -> dict[str, Any]:
    """Sun glint: a broad gradient across the swath, and wave-facet speckle that decorrelates between bands."""
    size = max(shape)
    peak = float(np.exp(rng.uniform(np.log(0.003), np.log(0.08))))
    glint = _ramp(shape, rng.uniform(0, 2 * np.pi), size / rng.uniform(2, 8))
    glint = 1 / (1 + np.exp(-glint))
    glint *= 1 + 0.3 * _fractal(rng, shape, largest=min(1024, size), smallest=16)
    rho, sigma = float(rng.uniform(0.7, 0.95)), float(rng.uniform(0.15, 0.45))
    # waves: swell crests across the wind plus chop; the part all bands share
    waves = _fractal(rng, shape, largest=8, smallest=1, rough=0.8)
    waves *= np.float32(sigma * rho)
    waves -= np.float32((sigma * rho) ** 2 / 2)
    glint *= np.exp(waves, out=waves)
    del waves
    glint *= np.float32(peak)
    np.clip(glint, 0, None, out=glint)
    kw["glint"] = glint.astype(np.float32, copy=False)
    kw["glint_params"] = {"own_sigma": sigma * math.sqrt(1 - rho**2)}
    return {"type": "sun_glint", "peak": round(peak, 4), "band_correlation": round(rho, 3), "speckle": round(sigma, 3)}


def _nodata(rng, shape) -> tuple[np.ndarray, dict[str, Any]]:
    """A swath edge across the scene: a slanted, slightly staircased border beyond which there is no data."""
    share = rng.uniform(0.05, 0.4)
    angle = rng.uniform(0, 2 * np.pi)
    d = _ramp(shape, angle, 1.0)
    along = _ramp(shape, angle + np.pi / 2, 1.0)
    d += 2.0 * (np.floor(along / 8) % 2)  # detector stagger
    del along
    mask = d > _quantile(d, 1 - share)
    return mask, {"type": "nodata_border", "share": round(float(mask.mean()), 4)}


def _detector_stripes(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Sentinel-2 detector footprints (about 25 km wide, slanted): a small radiometric step between them."""
    pos = _ramp(shape, np.deg2rad(rng.uniform(-14, -8)) + np.pi / 2, 1250.0)
    pos += np.float32(rng.uniform(0, 1))
    det = np.floor(pos, out=pos)
    det -= det.min()
    offsets = rng.normal(0, 0.0004, (int(det.max()) + 1, len(DEFAULT_BANDS))).astype(np.float32)
    return det.astype(np.uint8), offsets


# --- Assembling a scene --------------------------------------------------------------------------------------------
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
    chosen = _choose_confounders(rng["plan"], kind)
    ident = _identity(rng["geo"], size)
    wind = ident.pop("wind_direction_rad")

    kw: dict[str, Any] = {"shape": shape}
    water_info = _water(rng["water"], shape, kw)
    sarg, rafts, patches = _plant_sargassum(rng["rafts"], shape, wind, kind)
    confounders: list[dict[str, Any]] = []
    if "land" in chosen:
        confounders.append(_land(rng["land"], shape, kw))
    slick = slick_bright = foam = None
    if "slick" in chosen:
        slick, slick_bright, info = _slicks(rng["slick"], shape, wind, patches)
        confounders.append(info)
    foam_strokes: list[_Stroke] = []
    if "whitecaps" in chosen:
        strokes, info = _whitecaps(rng["foam"], shape, wind)
        foam_strokes += strokes
        confounders.append(info)
    if "ship" in chosen:
        kw["ships"], wakes, infos = _ships(rng["ship"], shape)
        foam_strokes += wakes
        confounders += infos
    if foam_strokes:
        patch = _render(rng["foam"], foam_strokes, shape)
        if patch is not None:
            foam = np.zeros(shape, np.float32)
            foam[patch.window] += patch.values
    coverage, kw["floating"] = _floating(sarg, slick, slick_bright, foam, kw.get("land"), shape)
    del sarg, slick, slick_bright, foam
    if "glint" in chosen:
        confounders.append(_glint(rng["glint"], shape, kw))
    if chosen & {"cloud", "cirrus"}:
        confounders += _clouds(rng["cloud"], shape, kw, cirrus="cirrus" in chosen, cumulus="cloud" in chosen)
    if "nodata" in chosen:
        kw["nodata"], info = _nodata(rng["nodata"], shape)
        confounders.append(info)
    noise_scale = float(rng["noise"].uniform(*NOISE_SCALE))
    if kind != "clean":
        kw["stripes"], kw["stripe_offsets"] = _detector_stripes(rng["noise"], shape)
        confounders.append({"type": "detector_stripes", "detectors": int(kw["stripe_offsets"].shape[0])})
    confounders.append({"type": "sensor_noise", "sigma": [round(float(s * noise_scale), 5) for s in NOISE_SIGMA]})
    layers = _Layers(**kw)
    del kw

    reflectance = _mix_bands(layers, rng["jitter"], rng["noise"], noise_scale)
    label, thick = _labels(layers, coverage, reflectance)
    classes = _classes(layers, coverage, thick)
    del thick
    _raft_stats(rafts, patches, label)

    meta = {
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
        "water": water_info,
        "labelling": {
            "positive_coverage": POSITIVE_COVERAGE,
            "not_scored_from_coverage": SCORABLE_MIN_COVERAGE,
            "thick_cloud_opacity": THICK_CLOUD_OPACITY,
            "values": {"0": "not Sargassum", "1": "Sargassum", "255": "not scorable"},
        },
        "rafts": rafts,
        "confounders": confounders,
        "stats": _stats(coverage, label, classes),
    }
    return SyntheticScene(
        int(seed), kind, reflectance, label, ident["transform"], ident["crs"], meta, classes, coverage
    )


def _floating(
    sarg: dict[str, np.ndarray],
    slick: np.ndarray | None,
    slick_bright: np.ndarray | None,
    foam: np.ndarray | None,
    land: _Sparse | None,
    shape: tuple[int, int],
) -> tuple[np.ndarray, _Sparse | None]:
    """Summed areas -> fractions: nothing floats on land, floating layers share at most 1. Returns the coverage."""
    cov = sarg["sarg"]
    where = cov > 0
    for extra in (slick, foam):
        if extra is not None:
            where |= extra > 0
    floating = _Sparse.from_planes(
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
    if land is not None:  # nothing floats on land
        sea = np.ones(shape, np.float32)
        sea.reshape(-1)[land.idx] -= land.values["frac"]
        scale *= sea.reshape(-1)[floating.idx]
        del sea
    for k in names:
        v[k] *= scale
    coverage = floating.plane("sarg", shape)
    return coverage, (floating if len(floating.idx) else None)


def _mix_bands(layers: _Layers, jitter_rng, noise_rng, noise_scale: float) -> np.ndarray:
    """Mix every layer into each band: water, floating matter, glint, land, ships, shadow, cloud, noise.

    Works band by band, in place, on full planes only for what spreads over the scene (memory: a full tile).
    """
    h, w = layers.shape
    out = np.empty((len(DEFAULT_BANDS), h, w), dtype=np.float32)
    water0 = SPECTRA["water"] * np.float32(layers.water_gain)
    # the water-colour field mostly moves blue and green (chlorophyll, CDOM, water masses)
    colour_amp = np.array([0.22, 0.12, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02, 0.02], np.float32)
    aerosol_amp = 0.0015 * (np.array([b.wavelength_nm for b in _bands()], np.float32) / 865.0) ** -1.0
    fl = layers.floating
    if layers.turbidity is not None:
        t_low = np.minimum(layers.turbidity, 1)
        t_high = np.maximum(layers.turbidity - 1, 0)
    for b in range(len(DEFAULT_BANDS)):
        band = out[b]
        np.multiply(layers.water_colour, water0[b] * colour_amp[b], out=band)
        band += water0[b]
        band += layers.aerosol * aerosol_amp[b]
        if layers.turbidity is not None:
            band -= t_low * band
            band += t_low * SPECTRA["sediment_laden_water"][b]
            band += t_high * (SPECTRA["very_turbid_water"][b] - SPECTRA["sediment_laden_water"][b])
            band += layers.adjacency * SPECTRA["vegetation"][b]
        if layers.glint is not None:
            own = noise_rng.standard_normal((h, w), dtype=np.float32)
            s = layers.glint_params["own_sigma"]
            own *= np.float32(s)
            own -= np.float32(s * s / 2)
            np.exp(own, out=own)
            own *= layers.glint
            own *= GLINT_SHAPE[b]
            band += own
            del own
        if fl is not None:
            # floating matter replaces the water it covers (glint lands on water only)
            v = fl.values
            flat = band.reshape(-1)
            water = flat[fl.idx]
            cover = v["sarg"].copy()
            mix = water * 0
            sarg_b = v["sarg_bright"] * SPECTRA["dense_sargassum"][b]
            if _RED_EDGE_NIR[b]:
                sarg_b *= v["sarg_nir"]
            sarg_b *= 1 + SPECTRAL_JITTER * jitter_rng.standard_normal(len(sarg_b), dtype=np.float32)
            mix += v["sarg"] * sarg_b
            if "slick" in v:
                cover += v["slick"]
                mix += v["slick"] * v["slick_bright"] * SPECTRA["natural_organic_material"][b]
            if "foam" in v:
                # whitecaps grow and fade within the seconds between bands
                f = v["foam"] * np.exp(0.35 * jitter_rng.standard_normal(len(cover), dtype=np.float32) - 0.06)
                cover += v["foam"]
                mix += f * SPECTRA["foam_whitecaps"][b]
            flat[fl.idx] = water * (1 - cover) + mix
        if layers.land is not None:
            v = layers.land.values
            flat = band.reshape(-1)
            spec = v["veg"] * SPECTRA["vegetation"][b] + (1 - v["veg"]) * SPECTRA["bare_soil"][b]
            spec = (1 - v["beach"]) * spec * v["bright"] + v["beach"] * SPECTRA["beach_sand"][b]
            sea = flat[layers.land.idx]
            flat[layers.land.idx] = sea + v["frac"] * (spec - sea)
            del spec, sea
        for ship in layers.ships:
            patch = _ship_patch(jitter_rng, ship, b, layers.shape)
            if patch is not None:
                frac = np.minimum(patch.values, 1)
                win = band[patch.window]
                win += frac * (SPECTRA["ship"][b] * ship["bright"] - win)
        if layers.shadow is not None:
            # the shadow takes direct sunlight, more of it in the NIR than in the blue (sky light)
            depth = layers.cloud_params["shadow_depth"] * (0.7 + 0.3 * b / (len(DEFAULT_BANDS) - 1))
            band *= 1 - np.float32(depth) * layers.shadow
        for alpha_field, params, cumulus in ((layers.cirrus, layers.cirrus_params, False),
                                             (layers.cloud, layers.cloud_params, True)):  # fmt: skip
            if alpha_field is None:
                continue
            step = params["speed"] * float(BAND_TIME_S[b] - BAND_TIME_S[_BAND["B04"]])
            a = _shift(alpha_field, step * math.cos(params["track"]), step * math.sin(params["track"]))
            band -= a * band
            cloud = SPECTRA["cloud_mean"][b]
            if cumulus:  # cores brighter than edges
                band += a * np.float32(cloud)
                band += a * a * np.float32(cloud * (params["bright"] - 1))
            else:
                band += a * np.float32(cloud)
            del a
        noise = noise_rng.standard_normal((h, w), dtype=np.float32)
        sigma = np.float32(NOISE_SIGMA[b] * noise_scale)
        rel = noise * band
        rel *= np.float32(NOISE_RELATIVE)
        noise *= sigma
        band += noise
        band += rel
        del noise, rel
        if layers.stripes is not None:
            band += layers.stripe_offsets[:, b][layers.stripes]
        np.maximum(band, -0.099, out=band)  # the lowest value an L2A offset of -1000 can hold
        if layers.nodata is not None:
            band[layers.nodata] = np.nan
    return out


def _bands():
    return [SENTINEL2_L2A.band(name) for name in DEFAULT_BANDS]


def _labels(layers: _Layers, coverage: np.ndarray, reflectance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 where coverage >= POSITIVE_COVERAGE, 255 where faint, under thick cloud (in any band) or nodata."""
    label = np.zeros(layers.shape, np.uint8)
    label[coverage >= SCORABLE_MIN_COVERAGE] = LABEL_IGNORE
    label[coverage >= POSITIVE_COVERAGE] = LABEL_POSITIVE
    thick = np.zeros(layers.shape, bool)
    if layers.cloud is not None:
        p = layers.cloud_params
        ref = float(BAND_TIME_S[_BAND["B04"]])
        for when in (float(BAND_TIME_S.min()), ref, float(BAND_TIME_S.max())):  # bracket every band's displacement
            step = p["speed"] * (when - ref)
            moved = _shift(layers.cloud, step * math.cos(p["track"]), step * math.sin(p["track"]))
            thick |= moved >= THICK_CLOUD_OPACITY
    label[thick] = LABEL_IGNORE
    label[np.isnan(reflectance[0])] = LABEL_IGNORE
    return label, thick


def _classes(layers: _Layers, coverage: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """What dominates each pixel, later entries winning: surface first, then atmosphere, then nodata."""
    c = np.zeros(layers.shape, np.uint8)
    flat = c.reshape(-1)
    code = CLASS_CODES
    if layers.glint is not None:
        c[layers.glint >= 0.01] = code["glint"]
    if layers.turbidity is not None:
        c[(layers.turbidity >= 0.2) | (layers.adjacency >= 0.01)] = code["turbid_water"]
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


def _raft_stats(rafts: list[dict], patches: list[_Patch], label: np.ndarray) -> None:
    for raft, patch in zip(rafts, patches, strict=True):
        own = patch.values >= 0.005
        lab = label[patch.window]
        raft["pixels"] = int(own.sum())
        raft["positive_pixels"] = int((own & (lab == LABEL_POSITIVE)).sum())
        raft["max_coverage"] = round(float(min(patch.values.max(), 1.0)), 3)


def _stats(coverage: np.ndarray, label: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
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


# --- Writing -------------------------------------------------------------------------------------------------------
def scene_paths(outdir: str | os.PathLike, seed: int) -> dict[str, Path]:
    """Where write_scene puts the scene for this seed."""
    outdir = Path(outdir)
    return {
        "image": outdir / f"scene_{seed:04d}.tif",
        "label": outdir / f"scene_{seed:04d}_label.tif",
        "meta": outdir / f"scene_{seed:04d}.json",
    }


def write_scene(
    scene: SyntheticScene, outdir: str | os.PathLike, dtype: str = "float32", overwrite: bool = False
) -> dict[str, Path]:
    """Write the image, the label mask and the JSON; each under a temporary name, then renamed.

    uint16 follows L2A (processing baseline >= 04.00): DN = reflectance * 10000 + 1000, nodata 0.
    """
    import rasterio

    if dtype not in DTYPES:
        raise SargassesError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = scene_paths(outdir, scene.seed)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise SargassesError(
            f"{existing[0]} already exists: choose another folder or seed, or pass overwrite=True (--overwrite)"
        )
    h, w = scene.height, scene.width
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": len(scene.band_names),
        "crs": scene.crs,
        "transform": scene.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if dtype == "uint16":
        profile.update(dtype="uint16", nodata=0, predictor=2)
    else:
        profile.update(dtype="float32", nodata=float("nan"), predictor=3)
    tags = {
        "SENSOR": SENTINEL2_L2A.name,
        "PRODUCT_ID": scene.meta["product_id"],
        "ACQUISITION_DATE": scene.meta["acquisition_date"],
        "SPACECRAFT": scene.meta["spacecraft"],
        "PROCESSING_BASELINE": scene.meta["processing_baseline"],
        "SYNTHETIC": "yes",
        "GENERATOR": scene.meta["generator"],
        "SEED": str(scene.seed),
        "KIND": scene.kind,
    }
    if dtype == "uint16":
        tags.update(BOA_ADD_OFFSET="-1000", BOA_QUANTIFICATION_VALUE="10000")

    def write_image(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.update_tags(**tags)
            for i, name in enumerate(scene.band_names, start=1):
                dst.set_band_description(i, name)
                dst.update_tags(i, WAVELENGTH_NM=str(SENTINEL2_L2A.band(name).wavelength_nm))
            step = 512
            for r0 in range(0, h, step):  # by row blocks: a full tile never doubles in memory
                block = scene.reflectance[:, r0 : r0 + step]
                if dtype == "uint16":
                    block = to_digital_numbers(block)
                dst.write(block, window=((r0, r0 + block.shape[1]), (0, w)))

    def write_label(tmp: Path) -> None:
        label_profile = {**profile, "count": 1, "dtype": "uint8", "nodata": LABEL_IGNORE, "predictor": 2}
        with rasterio.open(tmp, "w", **label_profile) as dst:
            label_tags = {k: v for k, v in tags.items() if not k.startswith("BOA_")}  # labels are not DNs
            dst.update_tags(LABEL_VALUES="1 Sargassum, 0 not Sargassum, 255 not scorable", **label_tags)
            dst.set_band_description(1, "sargassum_label")
            dst.write(scene.label, 1)

    def write_meta(tmp: Path) -> None:
        tmp.write_text(json.dumps(scene.meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    for key, writer in (("image", write_image), ("label", write_label), ("meta", write_meta)):
        _atomic(paths[key], writer)
    return paths


def to_digital_numbers(reflectance: np.ndarray) -> np.ndarray:
    """L2A digital numbers (baseline >= 04.00): DN = reflectance * 10000 + 1000, NaN -> 0 (nodata)."""
    dn = np.rint(np.nan_to_num(reflectance, nan=-1.0) * 10000.0 + 1000.0)
    dn = np.clip(dn, 0, 65535).astype(np.uint16)
    dn[np.isnan(reflectance)] = 0
    dn[(dn == 0) & ~np.isnan(reflectance)] = 1
    return dn


def _atomic(path: Path, writer) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written file is ever left."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes files private; scenes are ordinary files
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        aux = Path(str(tmp_path) + ".aux.xml")
        if aux.exists():
            aux.unlink()
