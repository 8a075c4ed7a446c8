"""Each raft's distance to the shore and its setting (open water, nearshore, on the shoreline), from the run's land mask.

Why: Sargassum piles up on beaches, and waterline artefacts (surf, wet sand, mixed sand and water pixels) lie there
too. Rafts by the shore are kept, and `setting` tells them apart, so that one filter in QGIS shows or hides them.
Land is the run's land mask (the spectral test, a product's flags or the user's land mask); clouds and nodata are
not shore.

How, in one pass over the strips: `ShoreDistance` takes the land and the detection mask strip by strip and gives
back, for the same rows, each pixel's distance in metres to the nearest land pixel (centre to centre), capped at
the search distance (beyond it: inf). It computes one Euclidean distance transform per block of BLOCK_ROWS rows,
over the block with a halo of land rows above and below it as deep as the search, so strip and block seams never
change a distance; hence its answers come a halo later than the strips. Inside a block, only the columns within
the search of some land are transformed, and only where the mask has pixels: open sea and land-free blocks cost
nothing. The raft collector (vectorize.py) takes each raft's minimum where it takes its other statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

SEARCH_M = 2000.0  # land searched this far (or MAX_SEARCH_PX pixels, the nearer): beyond, shore_m is null
NEARSHORE_M = 1000.0  # land within this: nearshore
MAX_SEARCH_PX = 200  # the halo stays small where pixels are small (or counted in pixels: no CRS)
TOUCHING_PX = 1.5  # a raft pixel next to a land pixel (diagonals included, at most 1.5 pixels): on the shoreline
BLOCK_ROWS = 256  # rows per distance transform: the halo (2 x 100 rows at 20 m) costs less the taller the block
SETTINGS = ("open_water", "nearshore", "shoreline")


def setting(shore_m: float | None, pixel_m: float) -> str:
    """The setting of a raft whose nearest pixel lies `shore_m` metres from land (None: farther than searched),
    for pixels of `pixel_m` metres (their longer side)."""
    if shore_m is None:
        return "open_water"
    if shore_m <= TOUCHING_PX * pixel_m:
        return "shoreline"
    return "nearshore" if shore_m <= NEARSHORE_M else "open_water"


class ShoreDistance:
    """Strips of land and mask in (top to bottom, full width), strips of distance to land out, in the same order
    and of the same rows; see the module docstring."""

    def __init__(self, metric: Any, width: int, height: int) -> None:  # vectorize.PixelMetric (it imports this)
        self.metric = metric
        self.width = width
        dx, dy, _ = metric.pixel_steps(np.array([height // 2]), np.array([width // 2]))
        self.halo = min(math.ceil(SEARCH_M / float(min(dx[0], dy[0]))), MAX_SEARCH_PX)  # pixels
        self._land: list[tuple[int, np.ndarray]] = []  # (first row, strip) from the halo above the waiting rows
        self._waiting: list[tuple[int, np.ndarray]] = []  # (first row, mask) of strips not given back yet
        self._end = 0  # the row after the last strip taken

    def add(self, row: int, land: np.ndarray, mask: np.ndarray) -> Iterator[tuple[int, np.ndarray | None]]:
        """Take one strip; yield (row, distance) for each earlier strip whose distance is now known: metres,
        float32, inf beyond the search; None for a strip with no land within the search of any of its mask pixels."""
        self._land.append((row, land))
        self._waiting.append((row, mask))
        self._end = row + land.shape[0]
        ready = [s for s in self._waiting if s[0] + s[1].shape[0] <= self._end - self.halo]
        if ready and ready[-1][0] + ready[-1][1].shape[0] - self._waiting[0][0] >= BLOCK_ROWS:
            yield from self._give(len(ready))

    def finish(self) -> Iterator[tuple[int, np.ndarray | None]]:
        """The strips still waiting (the area ends below them: no more land to wait for)."""
        if self._waiting:
            yield from self._give(len(self._waiting))

    def _give(self, count: int) -> Iterator[tuple[int, np.ndarray | None]]:
        strips, self._waiting = self._waiting[:count], self._waiting[count:]
        top, bottom = strips[0][0], strips[-1][0] + strips[-1][1].shape[0]
        above = max(top - self.halo, 0)
        land = np.concatenate([s for r, s in self._land if r + s.shape[0] > above])
        first = next(r for r, s in self._land if r + s.shape[0] > above)
        land = land[above - first : bottom + self.halo - first]  # the block's rows, the halo above and below
        distance = self._block(land, np.concatenate([m for _, m in strips]), top - above, (top + bottom) // 2)
        self._land = [(r, s) for r, s in self._land if r + s.shape[0] > bottom - self.halo]
        for row, mask in strips:
            yield row, None if distance is None else distance[row - top : row - top + mask.shape[0]]

    def _block(self, land: np.ndarray, mask: np.ndarray, offset: int, middle: int) -> np.ndarray | None:
        """Distances (metres, inf beyond the search) of the block's rows: `mask` is the block, `land` the block
        with its halo (the block starts `offset` rows down); None when no mask pixel has land within the search."""
        from scipy.ndimage import distance_transform_edt

        if not mask.any() or not land.any():
            return None
        dx, dy, _ = self.metric.pixel_steps(np.array([middle]), np.array([self.width // 2]))
        step_x, step_y = float(dx[0]), float(dy[0])
        reach = min(SEARCH_M, self.halo * min(step_x, step_y))  # metres searched
        wanted = mask.any(axis=0)
        distance = None
        for c0, c1 in _near_columns(land.any(axis=0), self.halo):
            if not wanted[c0:c1].any():
                continue
            metres = distance_transform_edt(~land[:, c0:c1], sampling=(step_y, step_x))[offset : offset + mask.shape[0]]
            if distance is None:
                distance = np.full(mask.shape, np.inf, np.float32)
            distance[:, c0:c1] = np.where(metres <= reach, metres, np.inf)
        return distance


def _near_columns(land_columns: np.ndarray, halo: int) -> list[tuple[int, int]]:
    """Runs [c0, c1) of columns within `halo` columns of a column with land. Land outside a run lies more than
    `halo` columns from every column of it, so transforming each run alone gives the same distances within the
    search as transforming the whole width."""
    width = land_columns.size
    ends = np.zeros(width + 1, np.int64)
    found = np.flatnonzero(land_columns)
    np.add.at(ends, np.maximum(found - halo, 0), 1)
    np.add.at(ends, np.minimum(found + halo + 1, width), -1)
    near = np.cumsum(ends[:width]) > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[False], near, [False]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
