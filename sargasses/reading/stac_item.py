"""A STAC item (Earth Search, Planetary Computer, any STAC API) read as a Scene: its band assets through GDAL's
/vsicurl/, window by window, so a detection on a small area fetches only the COG tiles that area needs.

The item is the scene's description: which asset is which band (eo:bands names, common names, centre wavelengths,
asset keys), how digital numbers become reflectance (raster:bands scale/offset, else the Sentinel-2 processing
baseline's -1000 offset from 04.00), the grid (proj:*). Pixels come from the same `Scene.read` as a local file's,
under GDAL's HTTP options for COGs (`COG_GDAL_OPTIONS`).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading.scene import BandSource, Scene, grid_at
from sargasses.reading.sensors import (
    DEFAULT_BANDS,
    DEFAULT_RESOLUTION_M,
    SENTINEL2_L1C,
    SENTINEL2_L2A,
    SensorProfile,
    get_profile,
)
from sargasses.reading.signing import signed_item
from sargasses.reading.stac_http import fetch_json, redact

# GDAL's HTTP options for reading COGs: no directory listing on open (one request per file instead of a dozen),
# retries with back-off on 429/5xx, timeouts, only raster extensions fetched, a 16 MB per-file chunk cache.
COG_GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(16 * 1024 * 1024),
}

S3_HINT = (
    "the S3 keys: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with AWS_S3_ENDPOINT for a store other than AWS "
    "(CDSE: eodata.dataspace.copernicus.eu, AWS_VIRTUAL_HOSTING=FALSE), in the environment or in QGIS's "
    "authentication (docs/stac.md)"
)

# Earth Search's and Planetary Computer's asset keys and the STAC common names, as Sentinel-2 bands.
_S2_NAMES = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
}
_WAVELENGTH_TOLERANCE_NM = 12.0  # B08 (842 nm) and B8A (865 nm) stay apart
_S2_SCALE = 1e-4
_BASELINE_OFFSET_DN = -1000.0  # processing baseline 04.00 and later (from 25 January 2022)


def is_stac_item(path: str | Path) -> bool:
    """An http(s) URL, or a local JSON file holding a STAC Feature."""
    text = str(path)
    if re.match(r"https?://", text):
        return True
    if not text.lower().endswith(".json"):
        return False
    try:
        with open(text, encoding="utf-8") as f:
            head = f.read(4096)
    except OSError:
        return False
    return '"Feature"' in head and "stac_version" in head


def load_item(path: str | Path) -> tuple[dict[str, Any], str]:
    """The item's JSON and the URL or path its relative hrefs are resolved against."""
    text = str(path)
    if re.match(r"https?://", text):
        return fetch_json(text, what="the STAC item"), text
    try:
        item = json.loads(Path(text).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SargassesError(
            f"{text} is not a readable STAC item JSON file ({exc}); give an item's URL or JSON"
        ) from exc
    return item, str(Path(text).resolve())


class StacScene(Scene):
    """A Scene whose band files are an item's remote COGs: every read runs under `COG_GDAL_OPTIONS`, and a
    failed read names the item and the redacted asset URL instead of a local file."""

    def __init__(self, *args: Any, item_id: str, self_link: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_id = item_id
        self.self_link = self_link

    def read(self, window: Window | tuple | None = None) -> np.ndarray:
        try:
            with rasterio.Env(**COG_GDAL_OPTIONS):
                return super().read(window)
        except SargassesError as exc:
            if not isinstance(exc.__cause__, RasterioIOError):
                raise
            bands = str(exc).split(" of ", 1)[0]  # "band B02": which one Scene.read was reading
            raise SargassesError(
                f"reading {bands} of STAC item {self.item_id} over the network failed "
                f"({redact(str(exc.__cause__))}) after {COG_GDAL_OPTIONS['GDAL_HTTP_MAX_RETRY']} retries: the "
                "connection dropped or the server failed mid-read; run again later, nothing was written"
            ) from None

    def _dataset(self, path: str) -> rasterio.DatasetReader:
        if path not in self._datasets:
            with rasterio.Env(**COG_GDAL_OPTIONS):
                self._datasets[path] = _open_remote(path, self.item_id)
        return self._datasets[path]


def _open_remote(path: str, item_id: str) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        check = S3_HINT if path.startswith("/vsis3/") else "that you may read it"
        raise SargassesError(
            f"asset {redact(path)} of STAC item {item_id} could not be opened ({redact(str(exc))}); "
            f"check that the item is still published (its assets may have moved) and {check}"
        ) from None  # complete as it is: StacScene.read rewords only the failures of a read already begun


def open_stac_item(
    path: str | Path, bands: Sequence[str] | None, resolution: float | None, sensor: str | None
) -> StacScene:
    """The item at `path` (URL or JSON file) as a scene of `bands` (None: the ten model bands) at `resolution` m
    (None: 20 m), as `open_scene` opens a file; `sensor` overrides the level the item says."""
    item, base = load_item(path)
    if item.get("type") != "Feature" or "assets" not in item:
        raise SargassesError(
            f"{redact(str(path))} is not a STAC item (no Feature with assets); give an item's URL or JSON"
        )
    item_id = str(item.get("id", "?"))
    item = signed_item(item)  # Planetary Computer's blob hrefs get their SAS token here, in memory only
    profile = get_profile(sensor) if sensor else item_profile(item)
    names = list(DEFAULT_BANDS) if bands is None else [profile.canonical_band(b) for b in bands]
    found = band_assets(item, profile)
    missing = [n for n in names if n not in found]
    if missing:
        raise SargassesError(
            f"STAC item {item_id} has no asset for band(s) {', '.join(missing)} (its assets: "
            f"{', '.join(sorted(item['assets']))}); give an item of a Sentinel-2 collection with these bands"
        )
    props = item.get("properties", {})
    sources = [_band_source(name, item["assets"][found[name]], props, profile, base) for name in names]
    grid = _item_grid(
        item, found[names[0]], sources[0].path, resolution or DEFAULT_RESOLUTION_M
    )  # crs, transform, w, h
    level_1c = profile.name == SENTINEL2_L1C.name
    link = _self_link(item, base)
    return StacScene(sources, *grid, profile.name, item_id, _date(props), level_1c, item_id=item_id, self_link=link)


def item_profile(item: dict[str, Any]) -> SensorProfile:
    """L1C or L2A, from the collection id or the product type the item says."""
    props = item.get("properties", {})
    said = " ".join(
        str(v) for v in (item.get("collection"), props.get("s2:product_type"), props.get("processing:level")) if v
    )
    return SENTINEL2_L1C if re.search(r"l1c|level-?1", said, re.IGNORECASE) else SENTINEL2_L2A


def band_assets(item: dict[str, Any], profile: SensorProfile) -> dict[str, str]:
    """Band name -> asset key, for the item's GeoTIFF assets that hold one band each."""
    found: dict[str, str] = {}
    for key, asset in item.get("assets", {}).items():
        media = str(asset.get("type", ""))
        if media and "tiff" not in media.lower():  # JPEG 2000 copies, thumbnails, metadata
            continue
        name = _asset_band(key, asset, profile)
        if name is not None and name not in found:
            found[name] = key
    return found


def _asset_band(key: str, asset: dict[str, Any], profile: SensorProfile) -> str | None:
    eo_bands = asset.get("eo:bands") or asset.get("bands") or []
    if len(eo_bands) > 1:
        return None  # a multi-band asset (visual): not a band file
    band = eo_bands[0] if eo_bands else {}
    wavelength = band.get("center_wavelength") or band.get("eo:center_wavelength")
    candidates = [band.get("name"), band.get("eo:common_name") or band.get("common_name"), key]
    for label in candidates:
        if not label:
            continue
        name = profile.exact_match(str(label)) or _S2_NAMES.get(str(label).lower())
        if name is not None and name in profile.band_names:
            return name
    if wavelength:
        nm = float(wavelength) * (1000.0 if float(wavelength) < 100 else 1.0)  # micrometres in STAC
        near = [b for b in profile.bands if b.wavelength_nm and abs(b.wavelength_nm - nm) <= _WAVELENGTH_TOLERANCE_NM]
        if near:
            return min(near, key=lambda b: abs(b.wavelength_nm - nm)).name
    return None


def _band_source(
    name: str, asset: dict[str, Any], props: dict[str, Any], profile: SensorProfile, base: str
) -> BandSource:
    """(DN + offset) * scale from raster:bands when the item gives it, else Sentinel-2's own convention."""
    raster = (asset.get("raster:bands") or [{}])[0]
    nodata = raster.get("nodata", asset.get("nodata", 0))
    if "scale" in raster:
        scale = float(raster["scale"])
        offset = float(raster.get("offset", 0.0)) / scale
    else:
        scale, offset = profile.scale or _S2_SCALE, _baseline_offset(props)
    return BandSource(name, gdal_path(asset["href"], base), 1, scale=scale, offset=offset, nodata=nodata)


def _baseline_offset(props: dict[str, Any]) -> float:
    """-1000 DN from processing baseline 04.00 on, unless the archive already removed it."""
    if props.get("earthsearch:boa_offset_applied"):
        return 0.0
    baseline = str(props.get("s2:processing_baseline", "0"))
    try:
        return _BASELINE_OFFSET_DN if float(baseline) >= 4.0 else 0.0
    except ValueError:
        return 0.0


def gdal_path(href: str, base: str) -> str:
    """The path GDAL reads an asset by: /vsicurl/ for http(s), /vsis3/ for s3://, relative hrefs resolved."""
    if re.match(r"https?://", href):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href[5:]}"
    if re.match(r"https?://", base):
        return f"/vsicurl/{urllib.parse.urljoin(base, href)}"
    return str((Path(base).parent / href).resolve()) if not Path(href).is_absolute() else href


def _item_grid(item: dict[str, Any], key: str, first_path: str, resolution: float) -> tuple[CRS, Affine, int, int]:
    """The stack's grid: the band's bounds (proj:bbox / proj:transform, else its file's header) at `resolution`."""
    asset, props = item["assets"][key], item.get("properties", {})
    code = asset.get("proj:code") or props.get("proj:code") or asset.get("proj:epsg") or props.get("proj:epsg")
    transform = asset.get("proj:transform") or props.get("proj:transform")
    shape = asset.get("proj:shape") or props.get("proj:shape")
    if code and transform and shape:
        crs = CRS.from_user_input(code if isinstance(code, str) else f"EPSG:{code}")
        t = Affine(*transform[:6])
        left, top = t.c, t.f
        right, bottom = t.c + t.a * shape[1], t.f + t.e * shape[0]
    else:
        with rasterio.Env(**COG_GDAL_OPTIONS):
            dataset = _open_remote(first_path, str(item.get("id")))
        with dataset:
            crs, (left, bottom, right, top) = dataset.crs, dataset.bounds
    return crs, *grid_at((left, bottom, right, top), resolution)


def _date(props: dict[str, Any]) -> str | None:
    when = props.get("datetime") or props.get("start_datetime")
    return str(when)[:10] if when else None


def _self_link(item: dict[str, Any], base: str) -> str | None:
    for link in item.get("links", []):
        if link.get("rel") == "self" and link.get("href"):
            return redact(urllib.parse.urljoin(base, link["href"]) if re.match(r"https?://", base) else link["href"])
    return redact(base) if re.match(r"https?://", base) else None
