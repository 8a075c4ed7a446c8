"""From a satellite swath (a latitude and longitude per pixel) to a regular map grid, one window at a time.

Each output pixel takes the swath pixel whose centre is nearest to its own (nearest neighbour: values are never
blended, so a sub-pixel raft's signal stays in one pixel). Nothing the size of the swath is kept: at opening,
every `STEP`-th row and column of the geolocation is read to lay out the grid and to index the swath coarsely; a
window then reads only the swath block that can reach it, and searches it with a k-d tree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree

from sargasses.errors import SargassesError

STEP = 16  # rows and columns between the geolocation samples that index the swath
DEGREE_M = 111_320.0  # metres per degree of latitude, to size a geographic grid from a pixel size in metres

ReadLatLon = Callable[[slice, slice], tuple[np.ndarray, np.ndarray]]  # (rows, cols) -> latitude, longitude blocks


@dataclass
class Lookup:
    """Where each pixel of a window comes from: swath block [r0:r1, c0:c1], and per output pixel its row and
    column in that block (valid False: no swath pixel near enough, i.e. outside the swath)."""

    r0: int
    r1: int
    c0: int
    c1: int
    rows: np.ndarray  # (h, w) intp, relative to r0
    cols: np.ndarray  # (h, w) intp, relative to c0
    valid: np.ndarray  # (h, w) bool
    flags: np.ndarray | None = None  # the product's flags at each output pixel, once a reader has read them

    @property
    def block(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r1), slice(self.c0, self.c1)

    def gather(self, block: np.ndarray, fill=np.nan) -> np.ndarray:
        """Values of a swath block (as read over `self.block`) at each output pixel; `fill` outside the swath."""
        out = block[self.rows, self.cols]
        if not self.valid.all():
            out = out.astype(np.result_type(out.dtype, np.min_scalar_type(fill)), copy=False)  # uint64 flags stay exact
            out[~self.valid] = fill
        return out


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone of a point."""
    zone = min(60, max(1, math.floor((lon + 180.0) / 6.0) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


class SwathGrid:
    """A regular grid over a swath, and the nearest swath pixel of any window of it."""

    def __init__(self, read_latlon: ReadLatLon, shape: tuple[int, int], resolution_m: float, crs: str | CRS = "utm"):
        self.read_latlon = read_latlon
        self.swath_shape = shape
        rows = np.unique(np.r_[np.arange(0, shape[0], STEP), shape[0] - 1])
        cols = np.unique(np.r_[np.arange(0, shape[1], STEP), shape[1] - 1])
        lat, lon = _sampled(read_latlon, shape, rows, cols)
        ok = np.isfinite(lat) & np.isfinite(lon)
        if not ok.any():
            raise SargassesError(
                "the OLCI product has no valid latitude/longitude; it may be damaged. Download it again."
            )
        if np.ptp(lon[ok]) > 180:
            raise SargassesError(
                "the OLCI product crosses the antimeridian (longitude 180), which is not supported yet. "
                "Use a product that does not cross it."
            )
        if isinstance(crs, str) and crs.lower() == "utm":
            self.crs = utm_crs(float(np.median(lon[ok])), float(np.median(lat[ok])))
        else:
            self.crs = CRS.from_user_input(crs)
        self._to_map = Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)
        geographic = self.crs.is_geographic
        self.resolution = resolution_m / DEGREE_M if geographic else float(resolution_m)
        x, y = self._project(lat, lon)
        # the sampled points: the coarse index of the swath
        self._sample_rc = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)[ok]
        self._sample_xy = np.stack([x[ok], y[ok]], axis=-1)
        self._sample_tree = cKDTree(self._sample_xy)
        self.spacing = _largest_spacing(x, y, rows, cols)  # a swath pixel's largest side, in the grid's units
        res = self.resolution
        left, right = math.floor(np.nanmin(x) / res) * res, math.ceil(np.nanmax(x) / res) * res
        bottom, top = math.floor(np.nanmin(y) / res) * res, math.ceil(np.nanmax(y) / res) * res
        self.width = max(1, round((right - left) / res))
        self.height = max(1, round((top - bottom) / res))
        self.transform = Affine(res, 0.0, left, 0.0, -res, top)

    def _project(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._to_map.transform(lon, lat)
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def lookup(self, row: int, col: int, height: int, width: int) -> Lookup | None:
        """The swath pixels of the output window at (row, col); None when the window misses the swath."""
        res = self.resolution
        xs = self.transform.c + (col + np.arange(width) + 0.5) * res
        ys = self.transform.f - (row + np.arange(height) + 0.5) * res
        centre = ((xs[0] + xs[-1]) / 2, (ys[0] + ys[-1]) / 2)
        half_diagonal = math.hypot(xs[-1] - xs[0], ys[-1] - ys[0]) / 2
        # every swath pixel near the window lies within STEP pixels of a sample near it
        reach = half_diagonal + (STEP + 1) * self.spacing * 1.5 + res
        near = self._sample_tree.query_ball_point(centre, reach)
        if not near:
            return None
        rc = self._sample_rc[near]
        r0 = max(0, int(rc[:, 0].min()) - STEP)
        r1 = min(self.swath_shape[0], int(rc[:, 0].max()) + STEP + 1)
        c0 = max(0, int(rc[:, 1].min()) - STEP)
        c1 = min(self.swath_shape[1], int(rc[:, 1].max()) + STEP + 1)
        lat, lon = self.read_latlon(slice(r0, r1), slice(c0, c1))
        x, y = self._project(lat, lon)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            return None
        index = np.flatnonzero(ok.ravel())
        tree = cKDTree(np.stack([x.ravel()[index], y.ravel()[index]], axis=-1))
        gx, gy = np.meshgrid(xs, ys)
        # farther than a swath pixel from any swath pixel centre: outside the swath
        distance, found = tree.query(
            np.stack([gx.ravel(), gy.ravel()], axis=-1), distance_upper_bound=self.max_distance
        )
        valid = np.isfinite(distance)
        source = index[np.where(valid, found, 0)]
        block_w = c1 - c0
        rows = (source // block_w).reshape(height, width)
        cols = (source % block_w).reshape(height, width)
        return Lookup(r0, r1, c0, c1, rows, cols, valid.reshape(height, width))

    @property
    def max_distance(self) -> float:
        """How far an output pixel centre may be from the swath pixel it takes: half a diagonal of the larger of
        a swath pixel and an output pixel, so the swath's edge is kept and nothing beyond it is invented."""
        return max(self.spacing, self.resolution) * math.sqrt(2) / 2 * 1.05


def _sampled(read_latlon: ReadLatLon, shape, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude at rows x cols, read a band of rows at a time (not the whole swath at once)."""
    lat = np.empty((len(rows), len(cols)), np.float64)
    lon = np.empty_like(lat)
    band = 16 * STEP
    for start in range(0, shape[0], band):
        inside = (rows >= start) & (rows < start + band)
        if not inside.any():
            continue
        la, lo = read_latlon(slice(start, min(start + band, shape[0])), slice(0, shape[1]))
        picked = rows[inside] - start
        lat[inside], lon[inside] = la[picked][:, cols], lo[picked][:, cols]
    return lat, lon


def _largest_spacing(x: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """The largest distance between neighbouring swath pixels (the swath's pixels grow towards its edges)."""
    along = np.hypot(np.diff(x, axis=0), np.diff(y, axis=0)) / np.diff(rows)[:, None]
    across = np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)) / np.diff(cols)[None, :]
    values = np.concatenate([along[np.isfinite(along)], across[np.isfinite(across)]])
    if values.size == 0:
        raise SargassesError("the OLCI product is too small to be put on a grid (fewer than 2 rows or columns).")
    return float(values.max())
