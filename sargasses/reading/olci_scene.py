"""An OLCI product as a scene: windows of reflectance on a regular map grid, like `scene.Scene` serves a raster.

Level-1 EFR radiance becomes top-of-atmosphere reflectance pi * L / (F0 * cos(SZA)), with F0 the solar flux of
the pixel's detector and SZA interpolated from the tie-point grid; Level-2 WFR water reflectance is read as it
is stored. Pixels are placed on the grid by `swath.SwathGrid` (nearest swath pixel); the product's flags give
nodata, land and cloud (`read_exclusion`). With the `otci_rgb` profile the scene serves the 0-255 rendering of
`otci.py` instead, so a model trained on the original RGB images runs on a product directly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading import olci
from sargasses.reading.masking import ExclusionLayers
from sargasses.reading.netcdf import NetcdfFile
from sargasses.reading.otci import RGB_BANDS, render_float
from sargasses.reading.scene_grid import SceneGrid
from sargasses.reading.sensors import OTCI_RGB, SENTINEL3_OLCI, SensorProfile, get_profile
from sargasses.reading.swath import SwathGrid

OLCI_RESOLUTION_M = 300.0  # OLCI full resolution; the grid's default pixel size


class OlciScene(SceneGrid):
    """The bands of an OLCI product on a regular grid; `read(window)` returns (C, h, w) float32, NaN where nodata.

    Files are opened at the first read and kept open until `close()`; one OlciScene per thread. A pickled one
    reopens its files on its own."""

    def __init__(
        self,
        product: olci.OlciProduct,
        bands: Sequence[str],
        resolution: float = OLCI_RESOLUTION_M,
        crs: str = "utm",
        rendered: bool = False,
    ) -> None:
        self.product = product
        self.rendered = rendered
        self.profile: SensorProfile = OTCI_RGB if rendered else SENTINEL3_OLCI
        self.source_bands = list(RGB_BANDS if rendered else bands)
        self._band_files = [product.band_file(b) for b in self.source_bands]  # checks the product has them
        self._files: dict[str, NetcdfFile] = {}
        self._cache: dict[str, np.ndarray] = {}
        self._lookups: OrderedDict = OrderedDict()
        geo = self._file("geo")
        self.grid = SwathGrid(self._read_latlon, geo.shape("latitude"), resolution, crs)
        epsg = self.grid.crs.to_epsg()
        self.crs = CRS.from_epsg(epsg) if epsg else CRS.from_wkt(self.grid.crs.to_wkt())
        self.transform = self.grid.transform
        self.width, self.height = self.grid.width, self.grid.height
        self.sensor = self.profile.name
        self.product_id = product.product_id
        self.acquisition_date = product.date
        self.top_of_atmosphere = product.level == olci.LEVEL1  # L1: the atmosphere is in the pixels (as scene.Scene)

    @property
    def band_names(self) -> list[str]:
        return self.profile.band_names if self.rendered else list(self.source_bands)

    def read(self, window: Window | tuple | None = None) -> np.ndarray:
        """Reflectance (or the 0-255 rendering) of `window`, NaN where nodata, flagged invalid or off the swath."""
        col, row, w, h, inside = self._inside(window)
        out = np.full((self.count, h, w), np.nan, dtype=np.float32)
        lookup = self._lookup(*inside) if inside else None
        if lookup is None:
            return out
        values = self._values(lookup)
        values[:, self._flagged(lookup, "nodata")] = np.nan
        if self.rendered:
            values = render_float(values)
        r0, c0, hh, ww = inside
        out[:, r0 - row : r0 - row + hh, c0 - col : c0 - col + ww] = values
        return out

    def read_exclusion(self, window: Window | tuple | None = None) -> ExclusionLayers:
        """Nodata (off the swath, or flagged invalid), land and cloud of `window` from the product's flags."""
        col, row, w, h, inside = self._inside(window)
        nodata = np.ones((h, w), bool)
        land = np.zeros((h, w), bool)
        cloud = np.zeros((h, w), bool)
        lookup = self._lookup(*inside) if inside else None
        if lookup is not None:
            r0, c0, hh, ww = inside
            target = (slice(r0 - row, r0 - row + hh), slice(c0 - col, c0 - col + ww))
            nodata[target] = ~lookup.valid | self._flagged(lookup, "nodata")
            land[target] = self._flagged(lookup, "land") & ~nodata[target]
            cloud[target] = self._flagged(lookup, "cloud") & ~nodata[target] & ~land[target]
        return ExclusionLayers(nodata=nodata, land=land, cloud=cloud)

    def _inside(self, window) -> tuple[int, int, int, int, tuple[int, int, int, int] | None]:
        """(col, row, width, height) of the window, and (row, col, height, width) of its part on the grid."""
        if window is None:
            window = Window(0, 0, self.width, self.height)
        elif not isinstance(window, Window):  # ((row_start, row_stop), (col_start, col_stop)), as rasterio takes
            window = Window.from_slices(*window)
        col, row = round(window.col_off), round(window.row_off)
        w, h = round(window.width), round(window.height)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + w, self.width), min(row + h, self.height)
        inside = (r0, c0, r1 - r0, c1 - c0) if c1 > c0 and r1 > r0 else None
        return col, row, w, h, inside

    def _lookup(self, row: int, col: int, height: int, width: int):
        """The window's swath pixels; the last few are kept, as reflectance and masks read the same window."""
        key = (row, col, height, width)
        if key not in self._lookups:
            self._lookups[key] = self.grid.lookup(row, col, height, width)
            while len(self._lookups) > 4:
                self._lookups.popitem(last=False)
        return self._lookups[key]

    def _values(self, lookup) -> np.ndarray:
        """(bands, h, w) float32 at the window's swath pixels: TOA reflectance (L1) or water reflectance (L2)."""
        out = np.empty((len(self.source_bands), *lookup.rows.shape), np.float32)
        for i, (name, variable) in enumerate(self._band_files):
            out[i] = lookup.gather(self._open(name).decoded(variable, *lookup.block))
        if self.product.level == olci.LEVEL1:
            rows, cols = lookup.rows + lookup.r0, lookup.cols + lookup.c0
            cos_sza = olci.solar_zenith_cosine(self._sza(), rows, cols, self._subsampling())
            detector = lookup.gather(self._file("instrument").raw("detector_index", *lookup.block), fill=-1)
            flux = self._solar_flux()
            known = (detector >= 0) & (detector < flux.shape[1])
            for i, band in enumerate(self.source_bands):
                f0 = np.where(known, flux[int(band[2:]) - 1, np.where(known, detector, 0)], np.nan)
                out[i] = olci.toa_reflectance(out[i], f0.astype(np.float32), cos_sza)
        out[:, ~lookup.valid] = np.nan
        return out

    def _solar_flux(self) -> np.ndarray:
        """solar_flux (bands x detectors), read once."""
        if "solar_flux" not in self._cache:
            self._cache["solar_flux"] = self._file("instrument").decoded("solar_flux")
        return self._cache["solar_flux"]

    def _sza(self) -> np.ndarray:
        """The solar zenith angle on the tie-point grid, read once."""
        if "sza" not in self._cache:
            self._cache["sza"] = self._file("tie").decoded("SZA")
        return self._cache["sza"]

    def _subsampling(self) -> tuple[float, float]:
        """(along-track, across-track) pixels between tie points."""
        return olci.subsampling(self._file("tie"), self._file("geo"))

    def _flagged(self, lookup, reason: str) -> np.ndarray:
        """(h, w) bool: any of the flags that mean `reason` (nodata, land, cloud) set at the window's pixels."""
        name, variable = self.product.flags_file
        if "flag_bits" not in self._cache:
            masks = {k.upper(): v for k, v in self._open(name).flag_masks(variable).items()}
            self._cache["flag_bits"] = {
                why: sum(masks.get(flag.upper(), 0) for flag in flags)
                for why, flags in olci.EXCLUSION_FLAGS[self.product.level].items()
            }
        bits = self._cache["flag_bits"][reason]
        if bits == 0:
            return np.zeros(lookup.rows.shape, bool)
        if lookup.flags is None:  # read once per window, for the reflectance and the three masks
            lookup.flags = lookup.gather(self._open(name).raw(variable, *lookup.block), fill=0).astype(np.uint64)
        return (lookup.flags & np.uint64(bits)) != 0

    def _read_latlon(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        geo = self._file("geo")
        return geo.decoded("latitude", rows, cols), geo.decoded("longitude", rows, cols)

    def _file(self, kind: str) -> NetcdfFile:
        return self._open(olci.FILES[kind])

    def _open(self, name: str) -> NetcdfFile:
        if name not in self._files:
            self._files[name] = self.product.open(name)
        return self._files[name]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"], state["_lookups"] = {}, OrderedDict()
        return state

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()
        self.product.close()

    def __repr__(self) -> str:
        return (
            f"OlciScene({self.product.level} {self.product.product_id}, {self.count} bands {self.band_names}, "
            f"{self.width}x{self.height} px at {self.resolution:g}, crs={self.crs})"
        )


def open_olci(
    path: str | Path | olci.OlciProduct,
    bands: Sequence[str] | None = None,
    resolution: float | None = None,
    sensor: str | None = None,
    crs: str = "utm",
) -> OlciScene:
    """An OLCI `.SEN3` product (folder or zip) as a scene.

    `bands`: OLCI band names (default: every band the product has: 21 in L1, 16 in L2); red/green/blue, or
    `sensor="otci_rgb"`, give the 0-255 RGB rendering instead. `resolution`: grid pixel size in metres (300 by
    default). `crs`: "utm" (the zone of the scene's centre) or any CRS, e.g. "EPSG:4326"."""
    product = path if isinstance(path, olci.OlciProduct) else olci.find_product(Path(path))
    if product is None:
        raise SargassesError(f"{path} is not a Sentinel-3 OLCI product (.SEN3 folder or its zip).")
    profile = get_profile(sensor) if sensor else None
    rendered = profile is OTCI_RGB or (
        profile is None and bands is not None and all(OTCI_RGB.match_band(b) for b in bands)
    )
    if profile is not None and profile not in (OTCI_RGB, SENTINEL3_OLCI):
        raise SargassesError(
            f"{product.source} is a Sentinel-3 OLCI product, not {profile.title}. Use a model or bands for "
            "sentinel3_olci (Oa01...Oa21) or otci_rgb (the RGB rendering)."
        )
    if rendered:
        if bands is not None and [OTCI_RGB.canonical_band(b) for b in bands] != OTCI_RGB.band_names:
            raise SargassesError("the OTCI rendering gives red, green, blue in this order; ask for these bands.")
        names: list[str] = []
    else:
        foreign = [b for b in bands or () if SENTINEL3_OLCI.match_band(b) is None]
        if foreign:
            raise SargassesError(
                f"{product.source.name} is a Sentinel-3 OLCI product, and {', '.join(foreign)} are not OLCI bands "
                "(Oa01-Oa21, or red, green, blue for the OTCI rendering); use a model made for OLCI"
            )
        names = product.band_names if bands is None else [SENTINEL3_OLCI.canonical_band(b) for b in bands]
    try:
        return OlciScene(product, names, resolution or OLCI_RESOLUTION_M, crs, rendered)
    except BaseException:
        product.close()  # a product that cannot be opened leaves none of the files it copied out of its zip
        raise
