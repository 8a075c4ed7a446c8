"""Shared by the monitoring tests: a synthetic series on disk, `sargasses monitor` runs, the catalogue read back."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyogrio.raw

SIZE, DAYS, SEED = 256, 5, 60
GRID = ["--grid-crs", "EPSG:32620", "--cell", "1000"]


def make_series(out: Path, days: int = DAYS, seed: int = SEED, size: int = SIZE) -> Path:
    cmd = [sys.executable, "-m", "sargasses", "synth", str(out), "--series", str(days), "--seed", str(seed),
           "--size", str(size)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def scene_files(series: Path) -> list[str]:
    return sorted(str(p) for p in series.glob("scene_????.tif") if not p.name.endswith("_label.tif"))


def monitor_argv(scenes: list[str], out: Path, series: Path, *extra: str) -> list[str]:
    return [*scenes, "-o", str(out), "--sectors", str(series / "sectors.gpkg"), *GRID, *extra]


def read_layer(path: Path, layer: str) -> dict[str, list]:
    """A catalogue layer read through GDAL (so it is a GeoPackage GDAL and QGIS read), as columns + geometries."""
    meta, _, wkb, values = pyogrio.raw.read(path, layer=layer)
    columns = {name: list(v) for name, v in zip(meta["fields"], values, strict=True)}
    columns["geometry"] = list(wkb)
    return columns


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def duplicate_rafts(catalogue: Path) -> list[tuple]:
    db = sqlite3.connect(catalogue)
    try:
        return db.execute(
            "SELECT scene_key, raft_id, COUNT(*) FROM rafts GROUP BY scene_key, raft_id HAVING COUNT(*) > 1"
        ).fetchall()
    finally:
        db.close()


def consistent_scenes(catalogue: Path) -> dict[str, int]:
    """scene -> rafts, for every scene whose rows are all there (its rafts count matches the scenes row);
    raises if a scene is half-written (rafts missing, or cells missing for a scene done)."""
    db = sqlite3.connect(catalogue)
    try:
        out = {}
        for scene, key, status, rafts in db.execute("SELECT scene, scene_key, status, rafts FROM scenes"):
            held = db.execute("SELECT COUNT(*) FROM rafts WHERE scene_key = ?", (key,)).fetchone()[0]
            cells = db.execute("SELECT COUNT(*) FROM monitor_cells WHERE scene_key = ?", (key,)).fetchone()[0]
            assert status != "done" or (held == rafts and cells > 0), f"{scene} is half-written"
            out[scene] = held
        orphans = db.execute("SELECT COUNT(*) FROM rafts WHERE scene_key NOT IN (SELECT scene_key FROM scenes)")
        assert orphans.fetchone()[0] == 0, "rafts of a scene that is not in the scenes layer"
        return out
    finally:
        db.close()


def scenes_recorded(catalogue: Path) -> int:
    """Scenes in the catalogue so far (0 before it exists), read while a run writes it."""
    if not catalogue.exists():
        return 0
    db = sqlite3.connect(catalogue, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM scenes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()
