"""Reading a scene: the bands a model needs, as float32 reflectance on one grid, one window at a time.

`open_scene` accepts a multi-band GeoTIFF/VRT (any GDAL raster), a Sentinel-2 `.SAFE` folder, any one band file
inside a `.SAFE` folder, or a Sentinel-3 OLCI `.SEN3` folder or its zip (read by `olci_scene.py`). It only finds and
describes the bands; pixels are read by `Scene.read(window)`, so a scene far larger than memory can be processed tile
by tile.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading import olci, safe
from sargasses.reading.scene_grid import SceneGrid
from sargasses.reading.sensors import (
    DEFAULT_BANDS,
    DEFAULT_RESOLUTION_M,
    PROFILES,
    SENTINEL2_L1C,
    SENTINEL2_L2A,
    SensorProfile,
    get_profile,
    is_rendered,
    is_sentinel2,
)

# Tags written by sargasses' synthetic scenes, and by anyone who exports a product to GeoTIFF with its metadata.
_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
_QUANTIFICATION_TAGS = ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE")


@dataclass(frozen=True)
class BandSource:
    """Where one band of the stack lives, and how its numbers become reflectance: (DN + offset) * scale."""

    name: str  # the sensor profile's band name
    path: str
    index: int  # 1-based band index in the file
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None  # the file's nodata value (NaN allowed); None: every value is valid


class Scene(SceneGrid):
    """A stack of bands on one grid; `read(window)` returns (C, h, w) float32 reflectance, NaN where nodata.

    Files are opened at the first read and kept open until `close()`. One Scene per thread: GDAL handles are
    not thread-safe. A pickled Scene (e.g. sent to a DataLoader worker) reopens its files on its own.
    """

    def __init__(
        self,
        sources: list[BandSource],
        crs: CRS | None,
        transform: Affine,
        width: int,
        height: int,
        sensor: str | None = None,
        product_id: str | None = None,
        acquisition_date: str | None = None,
        top_of_atmosphere: bool = False,
    ) -> None:
        self.sources = sources
        self.crs = crs
        self.transform = transform
        self.width = width
        self.height = height
        self.sensor = sensor
        self.product_id = product_id
        self.acquisition_date = acquisition_date
        self.top_of_atmosphere = top_of_atmosphere  # the product says so (L1C), whatever profile reads the bands
        self._datasets: dict[str, rasterio.DatasetReader] = {}
        self._warped: dict[tuple[str, Resampling], WarpedVRT] = {}
        self._files: dict[str, list[int]] | None = None

    @property
    def band_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def read(self, window: Window | tuple | None = None) -> np.ndarray:
        """Reflectance of `window` (all of the scene when None), NaN where nodata or outside the scene."""
        if window is None:
            window = Window(0, 0, self.width, self.height)
        elif not isinstance(window, Window):  # ((row_start, row_stop), (col_start, col_stop)), as rasterio takes
            window = Window.from_slices(*window)
        col, row = round(window.col_off), round(window.row_off)
        w, h = round(window.width), round(window.height)
        # Only the part inside the scene is read; the rest stays NaN, so tiles may overhang the edges.
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + w, self.width), min(row + h, self.height)
        inside_only = (c0, r0, c1, r1) == (col, row, col + w, row + h)  # then every value is read: no NaN fill
        shape = (self.count, h, w)
        out = np.empty(shape, dtype=np.float32) if inside_only else np.full(shape, np.nan, dtype=np.float32)
        if c1 <= c0 or r1 <= r0:
            return out
        target = (slice(r0 - row, r1 - row), slice(c0 - col, c1 - col))
        for path, members in self._by_file().items():
            dataset = self._dataset(path)
            flips = self._flips(dataset)
            on_grid = flips is not None
            view = dataset if on_grid else self._warped_vrt(dataset)  # the warped view: float32, NaN for nodata
            flip_rows, flip_cols = flips or (False, False)
            window = Window(
                self.width - c1 if flip_cols else c0, self.height - r1 if flip_rows else r0, c1 - c0, r1 - r0
            )
            try:  # every band of this file in one call: GDAL decodes a block of all of them at once
                data = view.read([self.sources[i].index for i in members], window=window)
                if flip_rows:
                    data = data[:, ::-1]
                if flip_cols:
                    data = data[:, :, ::-1]
            except RasterioIOError as exc:
                names = ", ".join(self.sources[i].name for i in members)
                raise SargassesError(
                    f"band {names} of {path} could not be read ({exc}); the file may be damaged "
                    "or incomplete. Download or export it again."
                ) from exc
            for k, i in enumerate(members):
                source = self.sources[i]
                _to_reflectance(data[k], source, source.nodata if on_grid else np.nan, out[i][target])
        return out

    def _by_file(self) -> dict[str, list[int]]:
        """Positions in the stack of each file's bands (a multi-band GeoTIFF: one file, every band)."""
        if self._files is None:
            self._files = {}
            for i, source in enumerate(self.sources):
                self._files.setdefault(source.path, []).append(i)
        return self._files

    def _dataset(self, path: str) -> rasterio.DatasetReader:
        if path not in self._datasets:
            self._datasets[path] = rasterio.open(path)
        return self._datasets[path]

    def _flips(self, dataset: rasterio.DatasetReader) -> tuple[bool, bool] | None:
        """(rows, columns) to mirror when `dataset` holds the scene's pixels, upside down (south-up) or right to
        left; (False, False) when it is on the grid as it is; None when it must be warped onto the grid."""
        t = dataset.transform
        if dataset.width != self.width or dataset.height != self.height:
            return None
        if dataset.crs not in (self.crs, None) or t.b != 0 or t.d != 0:  # None: a CRS from a side-car
            return None
        if t.almost_equals(self.transform):
            return False, False
        if _north_up(t, dataset.width, dataset.height).almost_equals(self.transform):
            return t.e > 0, t.a < 0
        return None

    def _warped_vrt(self, dataset: rasterio.DatasetReader) -> WarpedVRT:
        """A view of `dataset` on the scene's grid: average when coarsening, bilinear when refining."""
        resampling = _resampling(_pixel_size(dataset.transform), self.resolution)
        key = (dataset.name, resampling)
        if key not in self._warped:
            nodata = next((s.nodata for s in self.sources if s.path == dataset.name), None)
            self._warped[key] = WarpedVRT(
                dataset,
                crs=self.crs or dataset.crs,
                transform=self.transform,
                width=self.width,
                height=self.height,
                resampling=resampling,
                src_nodata=nodata,
                nodata=np.nan,
                dtype="float32",
            )
        return self._warped[key]

    def __getstate__(self) -> dict:
        """Picklable (e.g. for DataLoader workers): open files are not carried over, each process reopens them."""
        state = self.__dict__.copy()
        state["_datasets"], state["_warped"] = {}, {}
        return state

    def close(self) -> None:
        for vrt in self._warped.values():
            vrt.close()
        for dataset in self._datasets.values():
            dataset.close()
        self._warped.clear()
        self._datasets.clear()

    def __repr__(self) -> str:
        return (
            f"Scene({self.sensor or 'unknown sensor'}, {len(self.sources)} bands {self.band_names}, "
            f"{self.width}x{self.height} px at {self.resolution:g}, crs={self.crs})"
        )


def _invalid(data: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Where `data` holds no value (its nodata value, or NaN in a float band); None when every value is valid."""
    is_float = data.dtype.kind == "f"
    if nodata is None or (isinstance(nodata, float) and math.isnan(nodata)):
        return np.isnan(data) if is_float else None
    invalid = data == nodata
    if is_float:
        invalid |= np.isnan(data)
    return invalid


def _to_reflectance(data: np.ndarray, source: BandSource, nodata: float | None, out: np.ndarray) -> None:
    """(DN + offset) * scale of one band written into `out` (float32), NaN where nodata: two passes over the
    window and no temporary the window's size, since reading is half the work of a tiled run on a CPU."""
    np.add(data, np.float32(source.offset), out=out, casting="unsafe")
    if source.scale != 1.0:
        out *= np.float32(source.scale)
    invalid = _invalid(data, nodata)
    if invalid is not None:
        np.copyto(out, np.float32(np.nan), where=invalid)


def _pixel_size(transform: Affine) -> float:
    """The side of a square pixel of the same area: a rotated pixel's size, where `transform.a` is not."""
    return math.sqrt(abs(transform.determinant))


def _north_up(transform: Affine, width: int, height: int) -> Affine:
    """The same pixels with north at the top and east on the right (x and y pixel sizes as positive steps)."""
    left = transform.c + min(0.0, transform.a * width)
    top = transform.f + max(0.0, transform.e * height)
    return Affine(abs(transform.a), 0.0, left, 0.0, -abs(transform.e), top)


def _resampling(source_resolution: float, target_resolution: float) -> Resampling:
    """Average when coarsening (keeps thin filaments' signal), bilinear when refining, nearest when equal."""
    ratio = target_resolution / source_resolution
    if ratio > 1.001:
        return Resampling.average
    if ratio < 0.999:
        return Resampling.bilinear
    return Resampling.nearest


def open_scene(
    path: str | Path,
    bands: list[str] | tuple[str, ...] | None = None,
    resolution: float | None = DEFAULT_RESOLUTION_M,
    sensor: str | None = None,
) -> Scene:
    """Find `bands` (default: the sensor's model bands, `DEFAULT_BANDS` for Sentinel-2) in `path`.

    `path`: a GeoTIFF/VRT or any GDAL raster, a `.SAFE` folder, or a band file inside one; or an OLCI `.SEN3`
    folder, its zip, or a file inside it (an `OlciScene` on a 300 m grid, unless another `resolution` is given).
    `resolution`: the stack's pixel size in metres. A `.SAFE` product is always stacked at it (20 m by default);
    a raster in a metric CRS is resampled to it only when its pixels differ; None keeps a raster's own grid.
    `sensor`: a profile name (see `sargasses.reading.sensors.PROFILES`) overriding what the file says.
    """
    path = Path(path)
    if not path.exists():
        raise SargassesError(f"{path} does not exist. Check the path of the input image.")
    sen3 = olci.find_product(path)
    if sen3 is not None:
        from sargasses.reading.olci_scene import open_olci

        # 20 m is the Sentinel-2 default, never meant for a 300 m sensor: the product's own 300 m grid then
        return open_olci(sen3, bands, None if resolution == DEFAULT_RESOLUTION_M else resolution, sensor)
    product = safe.find_product(path)
    if product is not None:
        return _open_safe(product, bands, resolution, sensor)
    if path.is_dir():
        raise SargassesError(
            f"{path} is a folder but neither a Sentinel-2 .SAFE nor a Sentinel-3 .SEN3 product. Give a "
            "GeoTIFF/VRT, a .SAFE or .SEN3 folder (or its zip), or one band file of a .SAFE product."
        )
    return _open_raster(path, bands, resolution, sensor)


def _open_safe(
    product: safe.SafeProduct,
    bands: list[str] | tuple[str, ...] | None,
    resolution: float | None,
    sensor: str | None,
) -> Scene:
    profile = get_profile(sensor) if sensor else product.profile
    resolution = resolution or DEFAULT_RESOLUTION_M
    names = _wanted_bands(profile, bands)
    sources = []
    for name in names:
        band_file = product.band_file(name, resolution)
        sources.append(
            BandSource(
                name,
                str(band_file),
                1,
                scale=1.0 / product.quantification,
                offset=product.offset(name),
                nodata=product.nodata,
            )
        )
    with rasterio.open(sources[0].path) as first:
        crs, bounds = first.crs, first.bounds
    transform, width, height = grid_at(bounds, resolution)
    level_1c = product.profile.name == SENTINEL2_L1C.name
    return Scene(sources, crs, transform, width, height, profile.name, product.product_id, product.date, level_1c)


def grid_at(bounds: tuple[float, float, float, float], resolution: float) -> tuple[Affine, int, int]:
    """A north-up grid of `resolution` pixels over (left, bottom, right, top): a product's bands stacked on it."""
    left, bottom, right, top = bounds
    width, height = round((right - left) / resolution), round((top - bottom) / resolution)
    return Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height


def _open_raster(
    path: Path,
    bands: list[str] | tuple[str, ...] | None,
    resolution: float | None,
    sensor: str | None,
) -> Scene:
    try:
        dataset = rasterio.open(path)
    except RasterioIOError as exc:
        raise SargassesError(
            f"{path} is not a raster GDAL can read ({exc}). Give a GeoTIFF/VRT, a .SAFE folder, "
            "or one band file of a .SAFE product."
        ) from exc
    with dataset:
        _check_dtype(dataset, path)
        tags = {k.upper(): v for k, v in dataset.tags().items()}
        labels = [_band_label(dataset, i) for i in range(1, dataset.count + 1)]
        profile = _raster_profile(sensor, tags.get("SENSOR"), labels)
        names = _wanted_bands(profile, bands)
        indexes = _match_bands(profile, names, labels, path)
        _check_integer_size(dataset, indexes, profile, path)
        sources = [
            _raster_source(dataset, tags, profile, name, index) for name, index in zip(names, indexes, strict=True)
        ]
        crs, transform, width, height = _raster_grid(dataset, resolution, dataset.crs or _sidecar_crs(path, dataset))
        return Scene(
            sources,
            crs,
            transform,
            width,
            height,
            profile.name,
            tags.get("PRODUCT_ID"),
            _iso_date(tags.get("ACQUISITION_DATE")),
            tags.get("SENSOR") == SENTINEL2_L1C.name or "MSIL1C" in str(path),
        )


def _check_dtype(dataset: rasterio.DatasetReader, path: Path) -> None:
    for dtype in set(dataset.dtypes):
        if np.dtype(dtype).kind == "c":
            raise SargassesError(
                f"{path} holds complex numbers ({dtype}), not reflectance. Give reflectance or digital numbers."
            )
    if dataset.count == 1 and dataset.colorinterp[0] == ColorInterp.palette:
        raise SargassesError(
            f"{path} is a single-band image with a colour palette, not bands of reflectance. "
            "Export it as a 3-band RGB image (e.g. gdal_translate -expand rgb) or give the original bands."
        )


def _check_integer_size(
    dataset: rasterio.DatasetReader, indexes: list[int], profile: SensorProfile, path: Path
) -> None:
    """8-bit integers cannot hold a sensor's reflectance or digital numbers (12-16 bits): scaling them as such
    would give reflectance near 0 everywhere. Only a rendered profile (an RGB image, 0-255) takes uint8."""
    rendered = is_rendered(profile)
    for dtype in {dataset.dtypes[i - 1] for i in indexes}:
        if dtype == "int8" or (dtype == "uint8" and not rendered):
            raise SargassesError(
                f"{path} holds 8-bit integers ({dtype}), which cannot be {profile.title} reflectance (its digital "
                "numbers need 16 bits): it looks like a rendered or stretched image. Give the original bands, "
                "as 16-bit digital numbers or float32 reflectance."
            )


def _band_label(dataset: rasterio.DatasetReader, index: int) -> str | None:
    """What a band says it is: its description, else a band-level BANDNAME tag, else its RGB colour."""
    description = dataset.descriptions[index - 1]
    if description:
        return description
    band_tags = {k.upper(): v for k, v in dataset.tags(index).items()}
    for key in ("BANDNAME", "BAND_NAME", "NAME"):
        if band_tags.get(key):
            return band_tags[key]
    colour = dataset.colorinterp[index - 1]
    if colour in (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
        return colour.name
    return None


def _raster_profile(sensor: str | None, tagged: str | None, labels: list[str | None]) -> SensorProfile:
    """The profile the user named, else the one the SENSOR tag names, else the one whose band names match the most labels (Sentinel-2 L2A on a tie).

    Whole-label matches count first: "SR_B4" is Landsat's name, though its "B4" part also spells a Sentinel-2 band.
    """
    if sensor:
        return get_profile(sensor)
    if tagged:
        try:
            return get_profile(tagged)
        except SargassesError:
            pass  # a tag from another tool ("MSI", "OLI_TIRS"): the band names decide
    best, best_hits = SENTINEL2_L2A, (0, 0)
    for profile in PROFILES.values():
        exact = len({profile.exact_match(label) for label in labels} - {None})
        hits = (exact, len({profile.match_band(label) for label in labels} - {None}))
        if hits > best_hits:
            best, best_hits = profile, hits
    return best


def _wanted_bands(profile: SensorProfile, bands: list[str] | tuple[str, ...] | None) -> list[str]:
    if bands is None:
        return list(DEFAULT_BANDS) if is_sentinel2(profile) else profile.band_names
    wanted = [profile.canonical_band(b) for b in bands]
    twice = sorted({name for name in wanted if wanted.count(name) > 1})
    if twice:
        raise SargassesError(f"--bands names {', '.join(twice)} more than once; name each band once")
    return wanted


def _match_bands(profile: SensorProfile, names: list[str], labels: list[str | None], path: Path) -> list[int]:
    """1-based band indexes of `names`: by label when the labels name bands, else by position if counts agree."""
    found: dict[str, int] = {}
    for index, label in enumerate(labels, start=1):
        name = profile.match_band(label)
        if name is not None and name in found and name in names:
            raise SargassesError(
                f"{path}: bands {found[name]} ({labels[found[name] - 1]}) and {index} ({label}) both say they are "
                f"{name}; which one is cannot be known: fix the band descriptions in the file"
            )
        if name is not None and name not in found:
            found[name] = index
    if found:
        missing = [n for n in names if n not in found]
        if not missing:
            return [found[n] for n in names]
        raise SargassesError(
            f"{path} lacks band(s) {', '.join(missing)}; its bands are "
            f"{', '.join(label or '(unnamed)' for label in labels)}. Give a raster with "
            f"{', '.join(names)}, or choose the bands to use with --bands."
        )
    if len(labels) == len(names):
        return list(range(1, len(names) + 1))
    described = ", ".join(label or "(unnamed)" for label in labels)
    raise SargassesError(
        f"{path} has {len(labels)} band(s) ({described}) whose names do not say which {profile.title} bands "
        f"they are, and {len(names)} are needed ({', '.join(names)}). Name the bands in the file "
        "(band descriptions such as B02, B8A) or give exactly these bands in this order."
    )


def _raster_source(
    dataset: rasterio.DatasetReader, tags: dict[str, str], profile: SensorProfile, name: str, index: int
) -> BandSource:
    """Float data is reflectance as is; integer data is scaled by the file's tags, else by the profile."""
    nodata = dataset.nodatavals[index - 1]
    if np.dtype(dataset.dtypes[index - 1]).kind == "f":
        # NaN is nodata even when undeclared, so resampling leaves it out of averages instead of spreading it.
        return BandSource(name, dataset.name, index, nodata=np.nan if nodata is None else nodata)
    band_tags = {k.upper(): v for k, v in dataset.tags(index).items()}
    quantification = _first_number(band_tags, tags, _QUANTIFICATION_TAGS)
    offset = _first_number(band_tags, tags, _OFFSET_TAGS)
    if nodata is None and is_sentinel2(profile):
        nodata = 0.0  # Sentinel-2 digital numbers use 0 for "no data" even where a file does not say so.
    return BandSource(
        name,
        dataset.name,
        index,
        scale=1.0 / quantification if quantification else profile.scale,
        offset=offset if offset is not None else profile.offset,
        nodata=nodata,
    )


def _first_number(band_tags: dict[str, str], tags: dict[str, str], keys: tuple[str, ...]) -> float | None:
    """A band-level tag wins over a dataset-level one."""
    for source in (band_tags, tags):
        for key in keys:
            if key in source:
                try:
                    return float(source[key])
                except ValueError:
                    continue
    return None


def _sidecar_crs(path: Path, dataset: rasterio.DatasetReader) -> CRS | None:
    """The CRS in a `.prj` file beside a raster that GDAL places (a world file: .pgw, .wld...) but leaves without
    one: GDAL reads a CRS from an `.aux.xml` side-car, not from a `.prj`, which is what GIS tools write beside a
    world file. None when there is no such file or the raster has no position at all."""
    prj = path.with_suffix(".prj")
    if dataset.transform.is_identity or not prj.is_file():
        return None
    try:
        return CRS.from_user_input(prj.read_text(errors="replace").strip())
    except Exception as exc:  # pyproj/rasterio raise their own CRSError types
        raise SargassesError(
            f"{prj} does not hold a coordinate reference system GDAL can read ({exc}); write one there, "
            f"e.g. gdalsrsinfo -o wkt1 EPSG:4326 > {prj}"
        ) from None


def _raster_grid(
    dataset: rasterio.DatasetReader, resolution: float | None, crs: CRS | None
) -> tuple[CRS | None, Affine, int, int]:
    """The raster's own grid, or the same extent at `resolution` when its CRS is metric and its pixels differ.

    A georeferenced raster stored south-up, right to left or rotated is read north-up (models are not
    mirror-invariant): mirrored pixels exactly, a rotated grid warped onto the north-up grid around it. A raster
    without a CRS is taken as it is (its row 0 is its top)."""
    transform = dataset.transform
    width, height = dataset.width, dataset.height
    metric = crs is not None and crs.is_projected and (crs.linear_units or "").lower() in ("metre", "meter", "m")
    if crs is not None and (transform.b != 0 or transform.d != 0):
        corners = [transform * (c, r) for c, r in ((0, 0), (width, 0), (0, height), (width, height))]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        size = resolution if resolution is not None and metric else _pixel_size(transform)
        left, top = min(xs), max(ys)
        width, height = max(1, round((max(xs) - left) / size)), max(1, round((top - min(ys)) / size))
        return crs, Affine(size, 0.0, left, 0.0, -size, top), width, height
    if crs is not None:
        transform = _north_up(transform, width, height)
    if resolution is None or not metric:
        return crs, transform, width, height
    if math.isclose(abs(transform.a), resolution, rel_tol=1e-3) and math.isclose(
        abs(transform.e), resolution, rel_tol=1e-3
    ):
        return crs, transform, width, height
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    width = max(1, round((right - left) / resolution))
    height = max(1, round((top - bottom) / resolution))
    return crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height


def _iso_date(text: str | None) -> str | None:
    """Dates as tools write them ("2022-01-31", "20220131T101431", "2022/01/31") as "2022-01-31"; else None."""
    if not text:
        return None
    m = re.search(r"(\d{4})[-:/]?(\d{2})[-:/]?(\d{2})", text)
    if m is None:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None
