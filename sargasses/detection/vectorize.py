"""From a detection mask to raft polygons with their attributes, strip by strip.

`RaftCollector` takes the mask and the scores a strip at a time (top to bottom, as inference produces them) and
labels 8-connected groups of pixels: a filament one pixel wide running diagonally is one raft. A raft still touching
the strip's last row may continue below: its rows are kept and labelled again with the next strip; every other raft
is final, is polygonized (holes kept) and measured, and its pixels leave memory. So memory follows the rafts'
height, not the scene's.

Measures are true metres whatever the raster's CRS: each raft's pixel size is measured on the ellipsoid (WGS84
geodesics) at its centroid. area_m2 is the raft's pixel count times that pixel area, which is the area of the
unsimplified polygon; length_m is the longest path through the raft's pixels (8-neighbour steps), plus one pixel,
so a straight filament N pixels long measures N pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from sargasses.detection.shore import setting

EIGHT = np.ones((3, 3), dtype=bool)
MAX_PATH_PIXELS = 400_000  # larger blobs (not filaments) take their bounding-box diagonal as length


@dataclass
class Raft:
    geometry: Any  # shapely (Multi)Polygon in the raster's CRS
    pixels: int
    area_m2: float
    length_m: float
    score_mean: float
    score_max: float
    lon: float | None
    lat: float | None
    row: int = 0  # top row of the raft, for ordering
    col: int = 0
    shore_m: float | None = None  # metres from its nearest pixel to the nearest land pixel (None: beyond the search)
    setting: str = "open_water"  # open_water, nearshore or shoreline (sargasses.detection.shore.setting)


@dataclass
class PixelMetric:
    """Converts the raster's pixels to true metres near any point."""

    transform: Affine
    crs: Any  # rasterio CRS or None
    pixel_units: bool = False  # no CRS: measure in pixels (a step is 1, a pixel's area 1), not the transform's units
    _to_lonlat: Any = field(default=None, init=False)
    _geod: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        from pyproj import Geod, Transformer

        self._geod = Geod(ellps="WGS84")
        if self.crs is not None:
            self._to_lonlat = Transformer.from_crs(self.crs.to_wkt(), "EPSG:4326", always_xy=True)

    @property
    def georeferenced(self) -> bool:
        return self._to_lonlat is not None

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._to_lonlat.transform(x, y)

    def pixel_steps(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Metres of one pixel step along x, along y, and the pixel's area (m2), at pixel centres (rows, cols)."""
        rows = np.asarray(rows, dtype=np.float64) + 0.5
        cols = np.asarray(cols, dtype=np.float64) + 0.5
        t = self.transform
        if not self.georeferenced and self.pixel_units:
            ones = np.ones(rows.shape)
            return ones, ones, ones
        if not self.georeferenced:  # no CRS: take the transform's units as metres
            dx = np.full(rows.shape, np.hypot(t.a, t.d))
            dy = np.full(rows.shape, np.hypot(t.b, t.e))
            return dx, dy, dx * dy * abs(np.sin(np.arctan2(t.d, t.a) - np.arctan2(t.e, t.b)))
        x0, y0 = t @ (cols, rows)
        x1, y1 = t @ (cols + 1, rows)
        x2, y2 = t @ (cols, rows + 1)
        lon0, lat0 = self.lonlat(x0, y0)
        lon1, lat1 = self.lonlat(x1, y1)
        lon2, lat2 = self.lonlat(x2, y2)
        az1, _, dx = self._geod.inv(lon0, lat0, lon1, lat1)
        az2, _, dy = self._geod.inv(lon0, lat0, lon2, lat2)
        angle = np.radians(np.asarray(az2) - np.asarray(az1))
        return np.asarray(dx), np.asarray(dy), np.asarray(dx) * np.asarray(dy) * np.abs(np.sin(angle))

    def metres_to_crs(self, metres: float) -> float:
        """A distance in metres as CRS units near the raster's first pixel (for simplification tolerances)."""
        dx, _, _ = self.pixel_steps(np.array([0]), np.array([0]))
        return float(metres * np.hypot(self.transform.a, self.transform.d) / dx[0])


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected labels, as int16 when a strip has fewer than 32768 rafts (it nearly always has): the label
    arrays are the polygonizer's largest, and they grow with the scene's width."""
    labels = np.empty(mask.shape, np.int16)
    try:
        count = ndimage.label(mask, structure=EIGHT, output=labels)
    except RuntimeError:  # too many rafts for int16
        labels, count = ndimage.label(mask, structure=EIGHT)
    return labels, int(count)


def filament_lengths(labels: np.ndarray, ids: np.ndarray, step_x: np.ndarray, step_y: np.ndarray) -> np.ndarray:
    """Length in metres of each raft `ids` of a label image: its longest shortest path (8-neighbour steps of that
    raft's pixel size), plus one pixel.

    Two sweeps of Dijkstra over one graph holding every raft at once: from each raft's first pixel, the farthest
    pixel is one end of the longest path; the farthest pixel from that end is the other. Exact for filaments
    (tree-like shapes), the longest extent for blobs. Rafts of more than MAX_PATH_PIXELS (not filaments) take
    their bounding-box diagonal instead.
    """
    ids = np.asarray(ids, dtype=np.int64)
    lengths = np.zeros(ids.size, dtype=np.float64)
    if ids.size == 0:
        return lengths
    step_x, step_y = np.asarray(step_x, dtype=np.float64), np.asarray(step_y, dtype=np.float64)
    position = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    position[ids] = np.arange(ids.size)
    rows, cols = np.nonzero((position >= 0)[labels])  # a bool temporary the size of the strip, not an int64 one
    raft = position[labels[rows, cols]]  # index into ids of every pixel, pixels in raster order
    sizes = np.bincount(raft, minlength=ids.size)
    huge = sizes > MAX_PATH_PIXELS
    if huge.any():
        for k in np.flatnonzero(huge):
            r, c = rows[raft == k], cols[raft == k]
            lengths[k] = np.hypot((np.ptp(r) + 1) * step_y[k], (np.ptp(c) + 1) * step_x[k])
        keep = ~huge[raft]
        rows, cols, raft = rows[keep], cols[keep], raft[keep]
    n = rows.size
    if n == 0:
        return lengths
    index = np.full(labels.shape, -1, dtype=np.int32 if n < 2**31 else np.int64)
    index[rows, cols] = np.arange(n)
    h, w = labels.shape
    sources, targets, costs = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        r2, c2 = rows + dr, cols + dc
        inside = (r2 < h) & (c2 >= 0) & (c2 < w)
        j = np.full(n, -1, dtype=np.int64)
        j[inside] = index[r2[inside], c2[inside]]
        linked = j >= 0  # a neighbour of the same raft (rafts are 8-connected components: never two rafts)
        k = raft[linked]
        sources.append(np.flatnonzero(linked))
        targets.append(j[linked])
        costs.append(np.hypot(dc * step_x[k], dr * step_y[k]))
    graph = coo_matrix(
        (np.concatenate(costs), (np.concatenate(sources), np.concatenate(targets))), shape=(n, n)
    ).tocsr()
    pixel = np.maximum(step_x, step_y)
    present, starts = np.unique(raft, return_index=True)  # the first pixel of each raft, in raster order
    # rafts are disconnected from each other: from one source per raft, `min_only` gives each pixel its own raft's
    distance = dijkstra(graph, directed=False, indices=starts, min_only=True)
    farthest = np.full(ids.size, -1.0)
    np.maximum.at(farthest, raft, distance)
    candidates = np.flatnonzero(distance == farthest[raft])
    _, first = np.unique(raft[candidates], return_index=True)
    distance = dijkstra(graph, directed=False, indices=candidates[first], min_only=True)
    longest = np.zeros(ids.size)
    np.maximum.at(longest, raft, distance)
    lengths[present] = longest[present] + pixel[present]
    return lengths


def filament_length(mask: np.ndarray, step_x: float, step_y: float) -> float:
    """Length in metres of one raft given as a boolean mask (see filament_lengths)."""
    if not mask.any():
        return 0.0
    return float(filament_lengths(mask.astype(np.int32), np.array([1]), np.array([step_x]), np.array([step_y]))[0])


class RaftCollector:
    """Streams (mask, score) strips in and gives finished rafts out; see the module docstring."""

    def __init__(
        self,
        transform: Affine,
        crs: Any,
        width: int,
        min_area_m2: float = 0.0,
        simplify_m: float | None = None,
        on_raft: Callable[[Raft], None] | None = None,
        pixel_units: bool = False,
        min_pixels: int = 1,
    ) -> None:
        self.transform = transform
        self.min_pixels = int(min_pixels)  # rafts of fewer pixels are dropped too
        self.crs = crs
        self.width = width
        self.min_area_m2 = float(min_area_m2 or 0.0)
        self.metric = PixelMetric(transform, crs, pixel_units=pixel_units)
        self.simplify_crs = self.metric.metres_to_crs(simplify_m) if simplify_m else None
        self.rafts: list[Raft] = []
        self.on_raft = on_raft
        self.dropped_small = 0
        self._row = 0  # first row held in the pending buffers
        self._mask = np.zeros((0, width), dtype=bool)
        self._score = np.zeros((0, width), dtype=np.float32)
        self._shore: np.ndarray | None = None  # distances to land of the pending rows (None: no land near them)

    def add(
        self, row: int, mask: np.ndarray, score: np.ndarray, shore: np.ndarray | None = None, last: bool = False
    ) -> None:
        """The strip starting at `row` (rows must arrive in order, without gaps); `shore`: each pixel's metres to
        the nearest land, inf beyond the search (shore.ShoreDistance), None when no land is near the strip."""
        if row != self._row + self._mask.shape[0]:
            raise ValueError(f"strip at row {row} does not follow row {self._row + self._mask.shape[0]}")
        pending = self._mask.shape[0]
        shore = _joined(self._shore, pending, shore, mask.shape)
        mask = np.concatenate([self._mask, mask.astype(bool, copy=False)]) if pending else mask.astype(bool)
        score = np.concatenate([self._score, score]) if self._score.size else score
        labels, count = _label(mask)
        top = self._row
        self._shore = None
        if count == 0:
            self._row, self._mask, self._score = top + mask.shape[0], mask[:0], score[:0]
            return
        slices = ndimage.find_objects(labels)
        height = mask.shape[0]
        open_ids = [] if last else [i + 1 for i, s in enumerate(slices) if s is not None and s[0].stop == height]
        closed = np.ones(count + 1, dtype=bool)
        closed[0] = False
        closed[open_ids] = False
        if closed.any():
            self._finish(labels, slices, closed, score, shore, top)
        if open_ids:
            start = min(slices[i - 1][0].start for i in open_ids)
            still_open = np.zeros(count + 1, dtype=bool)
            still_open[open_ids] = True
            keep = still_open[labels[start:]]
            self._row = top + start
            self._mask = keep
            self._score = np.where(keep, score[start:], 0.0).astype(np.float32)
            self._shore = None if shore is None else np.where(keep, shore[start:], np.inf).astype(np.float32)
        else:
            self._row, self._mask, self._score = top + height, mask[:0], score[:0]

    def finish(self) -> list[Raft]:
        """Close what is still open (the last strip) and return every raft, top to bottom, left to right."""
        if self._mask.shape[0]:
            row, mask, score, shore = self._row, self._mask, self._score, self._shore
            self._row, self._mask, self._score, self._shore = row, mask[:0], score[:0], None
            self.add(row, mask, score, shore, last=True)
        self.rafts.sort(key=lambda r: (r.row, r.col))
        return self.rafts

    # ------------------------------------------------------------------ measuring and polygonizing
    def _outlines(self, labels: np.ndarray, out: np.ndarray, count: int, top: int) -> np.ndarray:
        """The polygons of rafts `out` (label order) of a strip whose first row is `top`: valid, simplified."""
        import shapely
        from rasterio.features import shapes

        wanted = np.zeros(count, dtype=bool)
        wanted[out] = True
        burn = labels.copy()
        burn[~wanted[labels]] = 0
        region = self.transform @ Affine.translation(0, top)
        rings: list = []
        ring_piece: list[int] = []
        piece_raft: list[int] = []
        # 4-connected pieces of each 8-connected raft: valid polygons (an 8-connected outline would touch itself
        # at diagonal joints, which OGC calls invalid); pieces of one raft meet only at corners: a valid MultiPolygon
        for geom, value in shapes(burn, mask=burn > 0, connectivity=4, transform=region):
            ring_piece.extend([len(piece_raft)] * len(geom["coordinates"]))
            rings.extend(geom["coordinates"])
            piece_raft.append(int(value))
        geometries = _assemble(rings, np.array(ring_piece), np.array(piece_raft))
        if geometries.size != out.size:  # every raft has pixels, hence at least one piece
            raise RuntimeError(f"polygonizing gave {geometries.size} rafts for {out.size}")
        invalid = ~shapely.is_valid(geometries)
        if invalid.any():
            geometries[invalid] = shapely.make_valid(geometries[invalid])
        if self.simplify_crs:
            simplified = shapely.simplify(geometries, self.simplify_crs, preserve_topology=True)
            keep = ~shapely.is_empty(simplified) & shapely.is_valid(simplified)
            geometries[keep] = simplified[keep]
        return geometries

    def _finish(
        self,
        labels: np.ndarray,
        slices: list,
        closed: np.ndarray,
        score: np.ndarray,
        shore: np.ndarray | None,
        top: int,
    ) -> None:
        import shapely

        ids = np.nonzero(closed)[0]
        counts, sums, peak, nearest = _label_statistics(labels, score, shore, closed.size)
        maxima = peak[ids]
        centres = np.array(
            [[(s[0].start + s[0].stop) / 2.0, (s[1].start + s[1].stop) / 2.0] for s in (slices[i - 1] for i in ids)]
        )
        step_x, step_y, pixel_area = self.metric.pixel_steps(centres[:, 0] + top - 0.5, centres[:, 1] - 0.5)
        areas = counts[ids] * pixel_area
        big = (areas >= self.min_area_m2) & (counts[ids] >= self.min_pixels)
        self.dropped_small += int((~big).sum())
        if not big.any():
            return
        out = ids[big]  # the rafts to output, in label order
        geometries = self._outlines(labels, out, closed.size, top)
        lons = lats = None
        if self.metric.georeferenced:
            centroids = shapely.centroid(geometries)
            lons, lats = self.metric.lonlat(shapely.get_x(centroids), shapely.get_y(centroids))
        k = np.flatnonzero(big)  # positions of `out` in `ids`
        lengths = filament_lengths(labels, out, step_x[k], step_y[k])
        for n, label in enumerate(out):
            s = slices[label - 1]
            raft = Raft(
                geometry=geometries[n],
                pixels=int(counts[label]),
                area_m2=float(areas[k[n]]),
                length_m=float(lengths[n]),
                score_mean=float(sums[label] / counts[label]),
                score_max=float(maxima[k[n]]),
                lon=None if lons is None else float(lons[n]),
                lat=None if lats is None else float(lats[n]),
                row=top + s[0].start,
                col=s[1].start,
            )
            if math.isfinite(nearest[label]):
                raft.shore_m = round(float(nearest[label]), 1)
            raft.setting = setting(raft.shore_m, max(float(step_x[k[n]]), float(step_y[k[n]])))
            self.rafts.append(raft)
            if self.on_raft is not None:
                self.on_raft(raft)


def _label_statistics(
    labels: np.ndarray, score: np.ndarray, shore: np.ndarray | None, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label: pixel count, score sum, score maximum, and metres from its nearest pixel to land (inf without a
    shore). Over the labelled pixels only (rafts are a few % of a strip at most), without sorting."""
    where = np.flatnonzero(labels)
    raft_of = labels.ravel()[where]
    raft_score = np.nan_to_num(score.ravel()[where], nan=0.0)
    counts = np.bincount(raft_of, minlength=size)
    sums = np.bincount(raft_of, weights=raft_score, minlength=size)
    peak = np.full(size, -np.inf, dtype=np.float64)
    np.maximum.at(peak, raft_of, raft_score)
    nearest = np.full(size, np.inf)
    if shore is not None:
        np.minimum.at(nearest, raft_of, shore.ravel()[where])
    return counts, sums, peak, nearest


def _joined(
    pending: np.ndarray | None, pending_rows: int, shore: np.ndarray | None, shape: tuple[int, ...]
) -> np.ndarray | None:
    """The pending rows' distances to land and the new strip's, as one array (inf where one of them has none);
    None when neither has any."""
    if pending is None and shore is None:
        return None
    pending = np.full((pending_rows, shape[1]), np.inf, np.float32) if pending is None else pending
    shore = np.full(shape, np.inf, np.float32) if shore is None else shore
    return np.concatenate([pending, shore]) if pending_rows else shore


def _assemble(rings: list, ring_piece: np.ndarray, piece_raft: np.ndarray) -> np.ndarray:
    """One geometry per raft, in raft-label order, from GDAL's rings (each piece: its shell, then its holes):
    a Polygon for a raft of one piece, a MultiPolygon otherwise. Built in bulk by shapely, not ring by ring."""
    import shapely

    sizes = np.fromiter((len(ring) for ring in rings), dtype=np.int64, count=len(rings))
    coords = np.array(list(itertools.chain.from_iterable(rings)), dtype=np.float64).reshape(-1, 2)
    polygons = shapely.polygons(shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), sizes)),
                                indices=ring_piece)  # fmt: skip
    order = np.argsort(piece_raft, kind="stable")
    raft_ids, first, count = np.unique(piece_raft[order], return_index=True, return_counts=True)
    polygons = polygons[order]
    multi = shapely.multipolygons(polygons, indices=np.searchsorted(raft_ids, piece_raft[order]))
    return np.where(count == 1, polygons[first], multi)
