"""Which pixels cannot hold a Sargassum raft: nodata, land and cloud.

`exclusion_mask(reflectance, band_names)` is the one definition used by detection AND by the training engineer
when scoring the model against the baselines, so both are judged on the same water. It is per pixel (no
neighbourhood), so a tiled run gives exactly the answer a whole-image run gives.

Spectral tests on surface reflectance (0-1), from the reference spectra (MARIDA class means):
- water and Sargassum stay dark in SWIR (B11 <= 0.05 even for dense mats; foam 0.03), while land (vegetation,
  soil, built-up: B11 about 0.15-0.35) and cloud (B11 0.14 and more) are bright there. A pixel with
  B11 > SWIR_LIMIT is not water.
- among those, cloud is also bright in the blue (B02 > CLOUD_BLUE); land is not. Very bright visible pixels
  (B02 > BRIGHT_BLUE, thick cloud, even where B11 is missing) are cloud too.
Tests whose bands are missing are skipped (a scene with no SWIR band gets the nodata mask only).

A land mask given by the user (vector or raster) is read window by window with `UserLandMask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sargasses.errors import SargassesError

SWIR_LIMIT = 0.08  # B11 above this is not water (dense Sargassum 0.016, foam 0.033, cloud 0.14, land 0.15+)
CLOUD_BLUE = 0.10  # B02 above this with bright SWIR: cloud (land's blue stays lower)
BRIGHT_BLUE = 0.30  # B02 above this: cloud whatever the SWIR


@dataclass
class ExclusionLayers:
    """The three reasons a pixel is left out; each (H, W) bool."""

    nodata: np.ndarray
    land: np.ndarray
    cloud: np.ndarray

    @property
    def excluded(self) -> np.ndarray:
        return self.nodata | self.land | self.cloud

    def with_flags(self, flags: ExclusionLayers) -> ExclusionLayers:
        """These layers (from the values) with a product's own flags added. A pixel the product flags as land or
        cloud is land or cloud even where the product left its values out (Sentinel-3 WFR does not process land);
        one it flags invalid is nodata."""
        land = (self.land | flags.land) & ~flags.nodata
        cloud = (self.cloud | flags.cloud) & ~flags.nodata & ~land
        nodata = (self.nodata & ~land & ~cloud) | flags.nodata
        return ExclusionLayers(nodata, land, cloud)


def _band(reflectance: np.ndarray, band_names: Sequence[str], *names: str) -> np.ndarray | None:
    """The first of `names` the stack has (B08 stands in for B8A and so on), else None."""
    for name in names:
        if name in band_names:
            return reflectance[list(band_names).index(name)]
    return None


def exclusion_layers(reflectance: np.ndarray, band_names: Sequence[str]) -> ExclusionLayers:
    """Nodata (any band NaN or infinite), land and cloud (spectral tests) of a (C, H, W) reflectance stack.

    Infinite values are nodata: they come from a broken export, and as reflectance they would pass for cloud."""
    if reflectance.ndim != 3 or reflectance.shape[0] != len(band_names):
        raise ValueError(f"reflectance {reflectance.shape} does not match {len(band_names)} band names")
    nodata = (~np.isfinite(reflectance)).any(axis=0)
    land = np.zeros(nodata.shape, dtype=bool)
    cloud = np.zeros(nodata.shape, dtype=bool)
    swir = _band(reflectance, band_names, "B11", "B12")
    blue = _band(reflectance, band_names, "B02", "B03")
    with np.errstate(invalid="ignore"):
        if swir is not None:
            not_water = swir > SWIR_LIMIT
            if blue is not None:
                cloud = not_water & (blue > CLOUD_BLUE)
                land = not_water & ~cloud
            else:
                land = not_water
        if blue is not None:
            cloud |= blue > BRIGHT_BLUE
            land &= ~cloud
    land &= ~nodata
    cloud &= ~nodata
    return ExclusionLayers(nodata=nodata, land=land, cloud=cloud)


def exclusion_mask(reflectance: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """True where a pixel is excluded from detection and scoring: nodata, land or cloud. (H, W) bool."""
    return exclusion_layers(reflectance, band_names).excluded


class UserLandMask:
    """A land mask the user gives, read on any window of the scene's grid.

    A vector file (any OGR format): polygons are land. A raster: non-zero (and not nodata) is land; it is
    resampled (nearest) onto the scene's grid, whatever its own CRS and resolution.
    """

    def __init__(self, path: str | Path, scene_crs, scene_transform, width: int, height: int) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SargassesError(f"land mask {self.path} does not exist; give --land a vector or raster file")
        self.scene_crs = scene_crs
        self.scene_transform = scene_transform
        self.width, self.height = width, height
        self._vrt = None
        self._dataset = None
        self._tree = None
        self._geoms: list = []
        if not self._try_raster():
            self._load_vector()

    def _try_raster(self) -> bool:
        import rasterio
        from rasterio.errors import RasterioIOError
        from rasterio.vrt import WarpedVRT

        try:
            dataset = rasterio.open(self.path)
        except RasterioIOError:
            return False
        if dataset.count < 1:
            dataset.close()
            return False
        self._dataset = dataset
        same_crs = dataset.crs == self.scene_crs or dataset.crs is None or self.scene_crs is None
        same_grid = (
            same_crs
            and dataset.transform.almost_equals(self.scene_transform)
            and (dataset.width, dataset.height) == (self.width, self.height)
        )
        if not same_grid:
            self._vrt = WarpedVRT(
                dataset,
                crs=self.scene_crs or dataset.crs,
                transform=self.scene_transform,
                width=self.width,
                height=self.height,
                resampling=0,  # nearest
            )
        return True

    def _load_vector(self) -> None:
        import pyogrio
        import shapely
        from pyproj import CRS

        try:
            frame = pyogrio.read_dataframe(self.path)
        except Exception as exc:
            raise SargassesError(
                f"land mask {self.path} is neither a raster nor a vector file GDAL can read ({exc}); "
                "give --land a GeoPackage, shapefile, GeoJSON or GeoTIFF"
            ) from None
        if frame.crs is not None and self.scene_crs is not None:
            frame = frame.to_crs(CRS.from_user_input(self.scene_crs.to_wkt()))
        geoms = [g for g in frame.geometry if g is not None and not g.is_empty]
        self._geoms = [shapely.make_valid(g) if not g.is_valid else g for g in geoms]
        self._tree = shapely.STRtree(self._geoms) if self._geoms else None

    def read(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """(height, width) bool, True on land, for the window at (row, col) of the scene's grid (may overhang)."""
        from rasterio.windows import Window
        from rasterio.windows import transform as window_transform

        out = np.zeros((height, width), dtype=bool)
        if self._dataset is not None:
            source = self._vrt or self._dataset
            r0, c0 = max(row, 0), max(col, 0)
            r1, c1 = min(row + height, self.height), min(col + width, self.width)
            if r1 <= r0 or c1 <= c0:
                return out
            data = source.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
            out[r0 - row : r1 - row, c0 - col : c1 - col] = np.ma.filled(data != 0, False)
            return out
        if self._tree is None:
            return out
        import shapely
        from rasterio.features import rasterize

        transform = window_transform(Window(col, row, width, height), self.scene_transform)
        x0, y0 = transform @ (0, 0)
        x1, y1 = transform @ (width, height)
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        hits = self._tree.query(box, predicate="intersects")
        if len(hits) == 0:
            return out
        burned = rasterize(
            ((self._geoms[i], 1) for i in hits), out_shape=(height, width), transform=transform, dtype="uint8"
        )
        return burned.astype(bool)

    def close(self) -> None:
        if self._vrt is not None:
            self._vrt.close()
        if self._dataset is not None:
            self._dataset.close()
