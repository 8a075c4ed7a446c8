"""Writing the rafts: GeoPackage, shapefile or GeoJSON picked by the output's extension, never half-written.

`write_layer` writes into the run's staging folder (sargasses/outputs/output_set.py), which renames every output
into place together once all are complete; a shapefile's sidecars (.shx, .dbf, .prj, .cpg) go before the .shp.

Field names are at most 10 characters, so the shapefile keeps the same names as the other formats. Shapefiles are
written in UTF-8 with a .cpg saying so. GeoJSON is written in WGS84 longitude/latitude as RFC 7946 requires;
GeoPackage and shapefile keep the raster's CRS.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.atomic import write_error
from sargasses.errors import SargassesError

DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON"}
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg", ".shp")  # .shp last: it appears only when the rest is there
STALE_SHAPEFILE_PARTS = (".qix", ".sbn", ".sbx", ".qpj", ".shp.xml")  # indexes of an old file, wrong for a new one

# name -> (dtype, description); names fit a shapefile's 10 characters
FIELDS: dict[str, tuple[str, str]] = {
    "id": ("int32", "raft number in this output"),
    "area_m2": ("float64", "area in square metres (on the ellipsoid)"),
    "length_m": ("float64", "length along the filament in metres"),
    "prob_mean": ("float64", "mean probability (index value for --method afai/fai)"),
    "prob_max": ("float64", "maximum probability (index value for --method afai/fai)"),
    "lon": ("float64", "centroid longitude (WGS84)"),
    "lat": ("float64", "centroid latitude (WGS84)"),
    "shore_m": ("float64", "metres from the raft to the nearest land pixel (null: none within 2 km or 200 px)"),
    "setting": ("object", "open_water, nearshore (land within 1 km) or shoreline (touching land)"),
    "acq_date": ("object", "acquisition date (ISO 8601) when the input says it"),
    "sensor": ("object", "sensor profile of the input"),
    "product": ("object", "product id when the input says it"),
    "model": ("object", "model name, or afai / fai"),
    "model_ver": ("object", "model version"),
}


def vector_driver(path: str | os.PathLike) -> str:
    """The OGR driver for an output path, or an error listing the extensions that work."""
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise SargassesError(
            f"cannot tell the output format from {Path(path).name!r}; end the output name with .gpkg, .shp or .geojson"
        )
    return DRIVERS[suffix]


def output_files(path: str | os.PathLike) -> list[Path]:
    """Every file an output path stands for (a shapefile is several)."""
    path = Path(path)
    if vector_driver(path) == "ESRI Shapefile":
        return [path.with_suffix(s) for s in SHAPEFILE_PARTS]
    return [path]


@dataclass
class RaftsTable:
    """The rafts as columns, as pyogrio writes them: MultiPolygons in `crs` (WKT, or None) and one array per field.

    Plain arrays rather than a GeoDataFrame: the engine then needs no pandas nor geopandas (about 100 MB)."""

    geometries: list[Any]
    columns: dict[str, np.ndarray]
    crs: str | None

    def __len__(self) -> int:
        return len(self.geometries)


def rafts_table(rafts: Sequence[Any], crs: Any, attributes: dict[str, Any]) -> RaftsTable:
    """The rafts (sargasses.detection.vectorize.Raft) with the fields above; `attributes` fills the rest."""
    import shapely
    from pyproj import CRS

    def floats(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)  # NaN is written as null

    columns: dict[str, np.ndarray] = {
        "id": np.arange(1, len(rafts) + 1, dtype=np.int32),
        "area_m2": floats([round(r.area_m2, 2) for r in rafts]),
        "length_m": floats([round(r.length_m, 2) for r in rafts]),
        "prob_mean": floats([round(r.score_mean, 5) for r in rafts]),
        "prob_max": floats([round(r.score_max, 5) for r in rafts]),
        "lon": floats([None if r.lon is None else round(r.lon, 7) for r in rafts]),
        "lat": floats([None if r.lat is None else round(r.lat, 7) for r in rafts]),
        "shore_m": floats([r.shore_m for r in rafts]),
        "setting": np.array([r.setting for r in rafts], dtype=object),
    }
    for name in ("acq_date", "sensor", "product", "model", "model_ver"):
        value = attributes.get(name)
        columns[name] = np.array([None if value is None else str(value)] * len(rafts), dtype=object)
    geometries = [shapely.geometry.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in _polygonal(rafts)]
    return RaftsTable(geometries, columns, None if crs is None else CRS.from_user_input(crs.to_wkt()).to_wkt())


def _to_wgs84(table: RaftsTable) -> RaftsTable:
    """The same rafts in WGS84 longitude/latitude (GeoJSON's only CRS, RFC 7946)."""
    import shapely
    from pyproj import CRS, Transformer

    transformer = Transformer.from_crs(table.crs, "EPSG:4326", always_xy=True)

    def move(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    geometries = [shapely.transform(g, move) for g in table.geometries]
    return RaftsTable(geometries, table.columns, CRS.from_epsg(4326).to_wkt())


def _polygonal(rafts: Sequence[Any]) -> list[Any]:
    """Polygons only: make_valid may return a collection with stray lines, which no polygon layer takes."""
    import shapely

    out = []
    for raft in rafts:
        g = raft.geometry
        if g.geom_type == "GeometryCollection":
            polys = [p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
            g = shapely.union_all(polys) if polys else shapely.Polygon()
        out.append(g)
    return out


def check_writable(path: str | os.PathLike, overwrite: bool) -> None:
    """Before any work: the format is known, the folder can be written, and nothing is overwritten unasked."""
    path = Path(path)
    vector_driver(path)
    check_target(path, overwrite, also=[path, *output_files(path)])


def check_target(path: Path, overwrite: bool, also: Sequence[Path] = ()) -> None:
    """One output file (or its family): refuse an existing one unless overwrite; the folder must be writable."""
    existing = [p for p in (also or [path]) if p.exists()]
    if existing and not overwrite:
        raise SargassesError(f"{existing[0]} already exists; add --overwrite to replace it, or choose another name")
    if path.is_dir():
        raise SargassesError(f"{path} is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SargassesError(f"cannot create the output folder {folder} ({exc.strerror}); choose another") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise SargassesError(f"the output folder {folder} is not writable; choose a folder you can write to") from None


def write_layer(table: RaftsTable, path: str | os.PathLike, name: str | os.PathLike | None = None) -> Path:
    """Write the rafts to `path` as they are (no temporary name: the caller's staging folder gives that).

    A failure (a full disk, a read-only folder...) is one line naming `name` (the path the user asked for), not
    pyogrio's message with its SQL."""
    import pyogrio.raw
    import shapely

    path = Path(path)
    driver = vector_driver(path)
    if driver == "GeoJSON" and table.crs is not None:
        table = _to_wgs84(table)
    options: dict[str, Any] = {}
    if driver == "ESRI Shapefile":
        options["encoding"] = "UTF-8"
    if driver == "GeoJSON":
        options["layer_options"] = {"RFC7946": "YES", "WRITE_NAME": "NO"}
    if driver == "GPKG":
        options["layer"] = "rafts"
        # GeoPackage 1.2, not GDAL's newest (1.4): older GDALs (QGIS 3.22's) read it without a warning.
        options["dataset_options"] = {"VERSION": "1.2"}
    try:
        pyogrio.raw.write(
            path,
            shapely.to_wkb(np.array(table.geometries, dtype=object)),
            list(table.columns.values()),
            list(table.columns),
            driver=driver,
            geometry_type="MultiPolygon",
            crs=table.crs,
            promote_to_multi=True,
            **options,
        )
    except (OSError, RuntimeError) as exc:  # pyogrio's errors are RuntimeErrors, with GDAL's text and its SQL
        raise write_error(name or path, exc) from None
    return path
