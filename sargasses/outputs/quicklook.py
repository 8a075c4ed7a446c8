"""A false-colour PNG of the scene with the detected rafts outlined, built from the tiles as they are read.

Colours: NIR (B8A, else B08; OLCI's Oa17) as red, red (B04; Oa08) as green, green (B03; Oa06) as blue: floating
vegetation shows bright red on a dark sea, clouds white, land red-brown. A rendered RGB input shows as it is. Each channel is stretched between its 1st and 99th percentile over
valid pixels. The image is the scene decimated to at most `max_size` pixels on its long side; rafts are outlined
in yellow, one pixel wide; rafts under 2 image pixels across are ringed so that they still show. GDAL draws and
writes it (rasterio's): the engine needs no imaging library.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from sargasses.atomic import atomic_write, write_error
from sargasses.errors import SargassesError

CHANNELS = (  # the first band of each the scene has: Sentinel-2, then OLCI, then a rendered RGB image's channel
    ("B8A", "B08", "B07", "Oa17", "Oa16", "Oa12", "red"),
    ("B04", "B05", "Oa08", "Oa10", "green"),
    ("B03", "B02", "Oa06", "Oa05", "blue"),
)
OUTLINE = (255, 230, 0)


class Quicklook:
    def __init__(self, height: int, width: int, band_names: Sequence[str], max_size: int = 2048) -> None:
        self.height, self.width = height, width
        self.factor = max(1, math.ceil(max(height, width) / max_size))
        self.bands = [_pick(band_names, options) for options in CHANNELS]
        self.image = np.full((3, -(-height // self.factor), -(-width // self.factor)), np.nan, dtype=np.float32)

    def add_tile(self, row: int, col: int, reflectance: np.ndarray, nodata: np.ndarray) -> None:
        """Take the tile's pixels that fall on the decimated grid (tiles may overhang the scene)."""
        f = self.factor
        r0 = -(-row // f) * f - row  # first row of the tile on the grid
        c0 = -(-col // f) * f - col
        part = np.where(nodata[None, r0::f, c0::f], np.float32(np.nan), reflectance[:, r0::f, c0::f])
        qr, qc = (row + r0) // f, (col + c0) // f
        h = min(part.shape[1], self.image.shape[1] - qr)
        w = min(part.shape[2], self.image.shape[2] - qc)
        if h <= 0 or w <= 0:
            return
        for k, band in enumerate(self.bands):
            if band is not None:
                self.image[k, qr : qr + h, qc : qc + w] = part[band, :h, :w]

    def render(self) -> np.ndarray:
        """(h, w, 3) uint8, nodata black."""
        out = np.zeros((*self.image.shape[1:], 3), dtype=np.uint8)
        for k in range(3):
            channel = self.image[k]
            valid = np.isfinite(channel)
            if not valid.any():
                continue
            low, high = np.percentile(channel[valid], [1, 99])
            scaled = (channel - low) / max(high - low, 1e-6)
            out[..., k] = np.where(valid, np.clip(scaled, 0, 1) * 255, 0).astype(np.uint8)
        return out

    def save(
        self,
        path: str | os.PathLike,
        geometries: Sequence[Any],
        transform: Affine,
        name: str | os.PathLike | None = None,
    ) -> Path:
        """Write the PNG with `geometries` (in the CRS of `transform`, the scene's) outlined; atomic. Errors are
        one line naming `name` (the path the user asked for; default `path`)."""
        import rasterio
        from rasterio._err import CPLE_BaseError
        from rasterio.errors import NotGeoreferencedWarning, RasterioError
        from rasterio.features import rasterize

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise SargassesError(f"the quicklook {path.name} must be a .png file")
        image = self.render()
        grid = transform @ Affine.scale(self.factor)  # the quicklook's pixels in the scene's CRS
        pixel = self.factor * abs(transform.a)
        rings = []
        for geometry in geometries:
            for polygon in getattr(geometry, "geoms", [geometry]):
                if polygon.geom_type == "Polygon":
                    rings += [polygon.exterior, *polygon.interiors]
            x0, y0, x1, y1 = geometry.bounds
            centre = geometry.centroid
            if max(abs(x1 - x0), abs(y1 - y0)) / pixel < 2 and not centre.is_empty:  # too small to see: ring it
                rings.append(centre.buffer(3 * pixel).exterior)
        if rings:
            outline = rasterize(rings, out_shape=image.shape[:2], transform=grid, all_touched=True, dtype="uint8")
            image[outline > 0] = OUTLINE

        def write(tmp: Path) -> None:
            profile = {"driver": "PNG", "width": image.shape[1], "height": image.shape[0], "count": 3}
            with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
                warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
                with rasterio.open(tmp, "w", dtype="uint8", **profile) as png:
                    png.write(np.moveaxis(image, 2, 0))

        try:
            atomic_write(path, write)
        except (OSError, RasterioError, CPLE_BaseError) as exc:  # libpng's "Write Error" on a full disk is a CPLE
            raise write_error(name or path, exc) from None
        return path


def _pick(band_names: Sequence[str], options: Sequence[str]) -> int | None:
    for name in options:
        if name in band_names:
            return list(band_names).index(name)
    return 0 if band_names else None
