"""What every scene of a monitoring folder is measured with, fixed when the folder is made.

Why fixed: the products add scenes up; a scene measured on another grid, with other sectors or another threshold
would not add up with the others. The model may change: a scene is keyed by its identity and the model's SHA-256,
so a new model redoes the scenes (and replaces their rafts) instead of mixing two models' rafts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from sargasses.errors import SargassesError
from sargasses.monitor.reproject import WGS84, geometries

COAST_BUFFER_M = 50_000.0  # AOML's inundation-risk product looks 50 km out from each coast
ALL_SECTOR = "all observed"  # the one sector when none is given
WINDOW_SIZE = 8192  # px: a Sentinel-2 tile (5490 px at 20 m) or an OLCI frame stays one task; larger ones are cut
WINDOW_HALO = 256  # px (5 km at 20 m): more than the model's tile and the rafts monitored are long


@dataclass(frozen=True)
class Sector:
    """A coastal watch zone: its name and polygon (WKB, WGS84 longitude / latitude)."""

    name: str
    wkb: bytes


@dataclass(frozen=True)
class MonitorSettings:
    """The measuring rules of one monitoring folder; the detection's options come from here too."""

    method: str = "model"
    model: str | None = None  # None: the bundled model
    model_sha256: str = ""
    threshold: float | None = None
    min_area: float | None = None
    grid_crs: str = WGS84
    cell: float = 0.05  # in grid_crs units: degrees for WGS84, metres for a projected CRS
    sectors: tuple[Sector, ...] = field(default_factory=tuple)  # none: one sector, everything observed
    threads_per_scene: int | None = None  # CPU threads a scene's detection uses on its worker
    window_size: int | None = WINDOW_SIZE  # a scene with a longer side (pixels) runs as windows (scene_windows.py)
    window_halo: int = WINDOW_HALO  # pixels each window reads beyond its core, on every side

    def identity(self) -> dict[str, object]:
        """The rules a folder keeps (the model and the threads may change from run to run)."""
        sectors = hashlib.sha256(b"".join(s.name.encode() + b"\0" + s.wkb for s in self.sectors)).hexdigest()
        return {"method": self.method, "threshold": self.threshold, "min_area": self.min_area,
                "grid_crs": self.grid_crs, "cell": self.cell, "sectors_sha256": sectors}  # fmt: skip

    def identity_json(self) -> str:
        return json.dumps(self.identity(), sort_keys=True)

    def sector_names(self) -> list[str]:
        return [s.name for s in self.sectors] or [ALL_SECTOR]


def model_identity(method: str, model: str | None) -> tuple[str | None, str]:
    """(the model file's path, its SHA-256); an index method's 'model' is its name."""
    if method != "model":
        return None, hashlib.sha256(method.encode()).hexdigest()
    from sargasses.model_file import default_model_path

    path = Path(model) if model else default_model_path()
    if not path.is_file():
        raise SargassesError(f"model file {path} does not exist: check --model")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return str(path.resolve()), digest.hexdigest()


def load_sectors(path: str | Path, name_field: str | None = None) -> tuple[Sector, ...]:
    """The polygons of a vector file as sectors, named by `name_field` (default: `name`, else the first text field)."""
    import shapely

    meta, _, wkb, values = _read(path)
    fields = list(meta["fields"])
    if name_field is not None and name_field not in fields:
        raise SargassesError(f"{path} has no field {name_field!r}: its fields are {', '.join(fields) or 'none'}")
    column = name_field or ("name" if "name" in fields else next((f for f in fields if f.lower() == "name"), None))
    names = [str(v) for v in values[fields.index(column)]] if column else [f"sector {i + 1}" for i in range(len(wkb))]
    geoms = _to_wgs84(shapely.from_wkb(wkb), meta["crs"])
    if len(set(names)) != len(names):
        raise SargassesError(f"{path}: two sectors share a name; give each polygon its own name ({column} field)")
    return tuple(Sector(n, shapely.to_wkb(g)) for n, g in zip(names, geoms, strict=True) if not g.is_empty)


def coast_sectors(land_path: str | Path, buffer_m: float = COAST_BUFFER_M) -> tuple[Sector, ...]:
    """The sea within `buffer_m` of each land polygon (AOML's 50 km), one sector per polygon."""
    import shapely
    from pyproj import CRS

    meta, _, wkb, values = _read(land_path)
    land = _to_wgs84(shapely.from_wkb(wkb), meta["crs"])
    names = [str(v) for v in values[0]] if values else [f"coast {i + 1}" for i in range(len(land))]
    union = shapely.union_all(land)
    lon, lat = shapely.centroid(union).x, shapely.centroid(union).y
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    there, back = geometries(WGS84, local), geometries(local, WGS84)
    sea = [back(there(geom).buffer(buffer_m)).difference(union) for geom in land]
    return tuple(Sector(n, shapely.to_wkb(g)) for n, g in zip(names, sea, strict=True) if not g.is_empty)


def _read(path: str | Path):
    import pyogrio.raw

    try:
        meta, fids, wkb, values = pyogrio.raw.read(str(path))
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError... all with GDAL's text
        raise SargassesError(f"cannot read {path} as a polygon layer: {str(exc).splitlines()[0]}") from None
    if meta["crs"] is None:
        raise SargassesError(f"{path} has no CRS: set one (QGIS: Layer Properties > Source) and try again")
    return meta, fids, wkb, values


def _to_wgs84(geoms, crs: str):
    import shapely

    to = geometries(crs, WGS84)
    return [shapely.make_valid(to(g)) for g in geoms]
