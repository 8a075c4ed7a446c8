"""What every scene reader shares: a grid (CRS, transform, size), band names, and closing as a context manager.

`Scene` (any GDAL raster, a Sentinel-2 .SAFE) and `OlciScene` (a Sentinel-3 .SEN3 regridded from its swath) read
differently; everything downstream (detection, training, the quicklook) sees only this and `read(window)`.
"""

from __future__ import annotations

from typing import Any

import rasterio
from affine import Affine


class SceneGrid:
    """The grid and the bands of a scene; subclasses set crs, transform, width, height and give band_names."""

    crs: Any
    transform: Affine
    width: int
    height: int

    @property
    def band_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def count(self) -> int:
        return len(self.band_names)

    @property
    def resolution(self) -> float:
        """Pixel size along x, in the CRS's units (metres for projected scenes)."""
        return abs(self.transform.a)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.count, self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return rasterio.transform.array_bounds(self.height, self.width, self.transform)

    def close(self) -> None:
        """Release open files (subclasses); a closed scene reopens them when read again."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
