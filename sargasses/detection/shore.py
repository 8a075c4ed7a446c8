"""Each raft's distance to the shore and its setting (open water, nearshore, on the shoreline), from the run's land mask.

Why: Sargassum piles up on beaches, and waterline artefacts (surf, wet sand, mixed sand and water pixels) lie there
too. Rafts by the shore are kept, and `setting` tells them apart, so that one filter in QGIS shows or hides them.
Land is the engine's land mask (the spectral test, a product's flags or the user's land mask); clouds and nodata
are not shore. The land of the whole area is kept packed, one bit a pixel (3.8 MB for a 5490 px tile); each raft's
window, SEARCH_M around it, gets a distance transform.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from affine import Affine

SEARCH_M = 2000.0  # farther from land than this: shore_m is null ("more than 2 km"), setting open water
NEARSHORE_M = 1000.0  # within this of land: nearshore
MAX_SEARCH_PX = 200  # windows stay small where pixels are small (or counted in pixels: no CRS)
TOUCHING_PX = 1.5  # a raft pixel next to a land pixel (diagonals included): on the shoreline
SETTINGS = ("open_water", "nearshore", "shoreline")


class ShoreMap:
    """The land mask of the area, strip by strip (top to bottom), and each raft's distance to it."""

    def __init__(self, transform: Affine, width: int) -> None:
        self.transform = transform
        self.width = width
        self._strips: list[np.ndarray] = []
        self._packed: np.ndarray | None = None

    def add(self, land: np.ndarray) -> None:
        self._strips.append(np.packbits(land.astype(bool, copy=False), axis=1))
        self._packed = None

    def land(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray | None:
        """The land mask of rows [r0, r1), columns [c0, c1) (inside the area); None when no land is near it
        (checked on the packed bytes first: open sea costs no unpacking)."""
        if self._packed is None:
            self._packed = np.concatenate(self._strips) if self._strips else np.zeros((0, 0), np.uint8)
        byte0 = c0 // 8
        packed = self._packed[r0:r1, byte0 : (c1 + 7) // 8]
        if not packed.any():
            return None
        land = np.unpackbits(packed, axis=1)[:, c0 - 8 * byte0 : c1 - 8 * byte0].astype(bool)
        return land if land.any() else None

    @property
    def height(self) -> int:
        return sum(s.shape[0] for s in self._strips)

    def measure(self, raft: Any) -> tuple[float | None, str]:
        """(metres from the raft's nearest pixel to the nearest land pixel, centre to centre, or None beyond
        SEARCH_M; the setting)."""
        from rasterio.features import rasterize
        from scipy.ndimage import distance_transform_edt

        size = math.sqrt(raft.area_m2 / raft.pixels) if raft.pixels else 1.0  # metres a pixel (1: pixel units)
        search = min(math.ceil(SEARCH_M / size), MAX_SEARCH_PX)
        r0, r1, c0, c1 = self._window(raft.geometry, search)
        if r1 <= r0 or c1 <= c0:
            return None, "open_water"
        land = self.land(r0, r1, c0, c1)
        if land is None:
            return None, "open_water"
        window = self.transform @ Affine.translation(c0, r0)
        pixels = rasterize([(raft.geometry, 1)], out_shape=land.shape, transform=window, all_touched=True) == 1
        if not pixels.any():
            return None, "open_water"
        nearest = float(distance_transform_edt(~land)[pixels].min())
        if nearest > search:
            return None, "open_water"
        metres = round(nearest * size, 1)
        if nearest <= TOUCHING_PX:
            return metres, "shoreline"
        return metres, "nearshore" if metres <= NEARSHORE_M else "open_water"

    def _window(self, geometry: Any, margin: int) -> tuple[int, int, int, int]:
        """Rows and columns of the geometry's bounds, `margin` pixels more on each side, clipped to the area."""
        minx, miny, maxx, maxy = geometry.bounds
        inverse = ~self.transform
        corners = [inverse @ (x, y) for x in (minx, maxx) for y in (miny, maxy)]
        cols, rows = zip(*corners, strict=True)
        r0 = max(math.floor(min(rows)) - margin, 0)
        r1 = min(math.ceil(max(rows)) + margin, self.height)
        c0 = max(math.floor(min(cols)) - margin, 0)
        c1 = min(math.ceil(max(cols)) + margin, self.width)
        return r0, r1, c0, c1
