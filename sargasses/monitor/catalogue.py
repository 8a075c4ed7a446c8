"""The monitoring folder's catalogue: one GeoPackage, written by the client only, one transaction per scene.

Layers (WGS84): `rafts` (every raft of every scene, with detect's fields, the scene and its date-time) and `scenes`
(each scene's observed footprint, status and figures). Plain tables beside them: `monitor_cells` (covered and
observed m2 per grid cell and scene), `monitor_sector_passes` (the same per sector and scene) and
`monitor_settings` (the folder's measuring rules). The grid and sector products are rebuilt from these tables.

Why SQLite transactions: a scene's rows (rafts, cells, sectors, its scenes row) are replaced together or not at
all, so a crash, a kill or Ctrl-C leaves the catalogue as it was before that scene, and a scene is one row whatever
the number of runs (its rafts are deleted before its new ones go in: never twice).
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.errors import SargassesError
from sargasses.monitor.gpkg_time import now_gpkg

SRS_ID = 4326
RAFT_FIELDS = (  # detect's per-raft fields (sargasses/outputs/vector_output.py), then the scene's
    ("raft_id", "int32"), ("area_m2", "float64"), ("length_m", "float64"), ("prob_mean", "float64"),
    ("prob_max", "float64"), ("lon", "float64"), ("lat", "float64"), ("acq_date", "str"), ("sensor", "str"),
    ("product", "str"), ("model", "str"), ("model_ver", "str"), ("shore_m", "float64"), ("setting", "str"),
    ("scene_key", "str"), ("scene", "str"), ("datetime", "datetime"),
)  # fmt: skip
SCENE_FIELDS = (
    ("scene_key", "str"), ("scene", "str"), ("datetime", "datetime"), ("date", "str"), ("sensor", "str"),
    ("level", "str"), ("product", "str"), ("cloud_share", "float64"), ("nodata_share", "float64"),
    ("observed_km2", "float64"), ("rafts", "int32"), ("area_km2", "float64"), ("covered_km2", "float64"),
    ("model", "str"), ("model_version", "str"), ("model_sha256", "str"), ("threshold", "float64"),
    ("status", "str"), ("reason", "str"), ("warnings", "str"), ("elapsed_s", "float64"), ("worker_pid", "int32"), ("worker_peak_mb", "float64"),
    ("updated", "datetime"),
)  # fmt: skip
PLAIN_TABLES = (
    "CREATE TABLE monitor_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE monitor_cells (scene_key TEXT NOT NULL, date TEXT NOT NULL, i INTEGER NOT NULL, j INTEGER NOT NULL,"
    " covered_m2 REAL NOT NULL, observed_m2 REAL NOT NULL)",
    "CREATE INDEX monitor_cells_scene ON monitor_cells (scene_key)",
    "CREATE TABLE monitor_sector_passes (scene_key TEXT NOT NULL, date TEXT NOT NULL, datetime TEXT, sector TEXT"
    " NOT NULL, covered_m2 REAL NOT NULL, observed_m2 REAL NOT NULL, sector_area_m2 REAL NOT NULL)",
    "CREATE INDEX monitor_sector_scene ON monitor_sector_passes (scene_key)",
    "CREATE INDEX rafts_scene ON rafts (scene_key)",
    "CREATE UNIQUE INDEX scenes_key ON scenes (scene_key)",
)
_NUMPY = {"int32": np.int32, "float64": np.float64, "str": object, "datetime": "datetime64[ms]"}
_SQL = {"int32": "MEDIUMINT", "float64": "REAL", "str": "TEXT", "datetime": "DATETIME"}  # as GDAL's GPKG writes them


def scene_key(scene: str) -> str:
    """A scene's identity in the catalogue: its absolute path or href (what the inputs expand it to)."""
    return hashlib.sha256(scene.encode("utf-8")).hexdigest()[:32]


class Catalogue:
    """The GeoPackage of a monitoring folder, opened for one run; `record` writes one scene's result."""

    def __init__(self, path: Path, settings_json: str) -> None:
        self.path = path
        if not path.exists():
            _create(path, settings_json)
        self.db = sqlite3.connect(path, isolation_level=None)  # transactions are begun and ended explicitly
        self.db.execute("PRAGMA busy_timeout = 10000")
        kept = self.db.execute("SELECT value FROM monitor_settings WHERE key = 'identity'").fetchone()
        if kept is None or kept[0] != settings_json:
            self.db.close()
            raise SargassesError(
                f"{path.parent} was made with other settings ({kept[0] if kept else 'none'}): use the same grid, "
                "sectors, method and threshold, or another --out folder"
            )
        self._add_missing_columns()

    def close(self) -> None:
        self.db.close()

    def _add_missing_columns(self) -> None:
        """Columns a later version added (the rafts' shore_m and setting), added to a catalogue written before it:
        NULL in the rows it holds, every row kept, so an older folder goes on without being rebuilt."""
        missing = []
        for layer, fields in (("rafts", RAFT_FIELDS), ("scenes", SCENE_FIELDS)):
            held = {row[1] for row in self.db.execute(f"PRAGMA table_info({layer})")}
            missing += [(layer, name, _SQL[kind]) for name, kind in fields if name not in held]
        if not missing:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for layer, name, sql_type in missing:
                self.db.execute(f'ALTER TABLE {layer} ADD COLUMN "{name}" {sql_type}')
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def statuses(self) -> dict[str, tuple[str, str]]:
        """scene -> (status, model SHA-256) of every scene recorded."""
        rows = self.db.execute("SELECT scene, status, model_sha256 FROM scenes").fetchall()
        return {scene: (status, sha) for scene, status, sha in rows}

    def record(self, result: dict[str, Any]) -> str:
        """Replace the scene's rows with `result`'s, in one transaction; returns the status written."""
        key = scene_key(result["scene"])
        row = scene_row(result, key)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("rafts", "monitor_cells", "monitor_sector_passes", "scenes"):
                self.db.execute(f"DELETE FROM {table} WHERE scene_key = ?", (key,))
            footprint = (result.get("measures") or {}).get("footprint_wkb")
            self._insert("scenes", [n for n, _ in SCENE_FIELDS], [footprint], [[row[n] for n, _ in SCENE_FIELDS]])
            if row["status"] == "done":
                self._insert_measures(result, key, row)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return row["status"]

    def _insert_measures(self, result: dict[str, Any], key: str, row: dict[str, Any]) -> None:
        rafts, measures = result["rafts"], result["measures"]
        names = [n for n, _ in RAFT_FIELDS]
        index = {name: rafts["fields"].index(name) for name in rafts["fields"]}
        values = []
        for k in range(len(rafts["wkb"])):
            own = {n: _plain(rafts["values"][index[n]][k]) for n in names if n in index}
            own.update(raft_id=_plain(rafts["values"][index["id"]][k]), scene_key=key, scene=result["scene"])
            own["datetime"] = row["datetime"]
            values.append([own.get(n) for n in names])
        self._insert("rafts", names, rafts["wkb"], values)
        self.db.executemany(
            "INSERT INTO monitor_cells VALUES (?, ?, ?, ?, ?, ?)",
            [(key, row["date"], i, j, c, o) for i, j, c, o in measures["cells"]],
        )
        self.db.executemany(
            "INSERT INTO monitor_sector_passes VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(key, row["date"], row["datetime"], n, c, o, a) for n, c, o, a in measures["sectors"]],
        )

    def _insert(self, table: str, names: list[str], wkbs: list[bytes | None], rows: list[list[Any]]) -> None:
        columns = ", ".join(["geom", *names])
        marks = ", ".join("?" * (len(names) + 1))
        data = [(gpkg_blob(w), *r) for w, r in zip(wkbs, rows, strict=True)]
        self.db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", data)


def scene_row(result: dict[str, Any], key: str) -> dict[str, Any]:
    """The scenes layer's fields for one result: done (with its figures), skipped (no water seen) or failed."""
    summary = result.get("summary") or {}
    measures = result.get("measures") or {}
    row = {n: None for n, _ in SCENE_FIELDS}
    row.update({k: v for k, v in summary.items() if k in row})
    observed = measures.get("observed_m2")
    status, reason = result["status"], result.get("reason")
    if status == "done" and not observed:
        status, reason = "skipped", "no open water seen (cloud, land or nodata everywhere)"
    row.update(
        scene_key=key, scene=result["scene"], status=status, reason=reason, model_sha256=result["model_sha256"],
        elapsed_s=result.get("elapsed_s"), worker_pid=result.get("worker_pid"),
        worker_peak_mb=result.get("worker_peak_mb"), updated=now_gpkg(),
        observed_km2=None if observed is None else observed / 1e6,
        covered_km2=None if observed is None else measures["covered_m2"] / 1e6,
    )  # fmt: skip
    row["date"] = row["datetime"][:10] if row["datetime"] else None
    return row


def gpkg_blob(wkb: bytes | None) -> bytes | None:
    """A GeoPackage geometry: the 'GP' header (version 0, little-endian, XY envelope, SRS 4326), then the WKB."""
    if wkb is None:
        return None
    import shapely

    geom = shapely.from_wkb(wkb)
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    elif geom.geom_type == "GeometryCollection":
        geom = shapely.MultiPolygon([g for g in geom.geoms if g.geom_type == "Polygon"])
    minx, miny, maxx, maxy = geom.bounds
    return struct.pack("<2sBBi4d", b"GP", 0, 0b011, SRS_ID, minx, maxx, miny, maxy) + shapely.to_wkb(geom, byte_order=1)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (sqlite3 binds only those); NaN as NULL."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _create(path: Path, settings_json: str) -> None:
    """An empty catalogue, made under a temporary name and renamed: a folder never holds half a GeoPackage."""
    import os

    import pyogrio.raw

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.gpkg")  # GDAL wants the .gpkg extension
    try:
        for layer, fields in (("rafts", RAFT_FIELDS), ("scenes", SCENE_FIELDS)):
            first = layer == "rafts"
            pyogrio.raw.write(
                tmp, np.array([], dtype=object), [np.array([], dtype=_NUMPY[t]) for _, t in fields],
                [n for n, _ in fields], driver="GPKG", geometry_type="MultiPolygon", crs="EPSG:4326", layer=layer,
                append=not first, layer_options={"SPATIAL_INDEX": "NO"},
                dataset_options={"VERSION": "1.2"} if first else None,
            )  # fmt: skip
        db = sqlite3.connect(tmp)
        with db:
            for statement in PLAIN_TABLES:
                db.execute(statement)
            db.execute("INSERT INTO monitor_settings VALUES ('identity', ?)", (settings_json,))
        db.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
