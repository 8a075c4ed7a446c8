"""A monitoring folder written before the rafts had `shore_m` and `setting` (issue 19 item 4) goes on with the new
code: opening its catalogue adds the two columns (NULL in its old rows) and loses no row, and the scenes added after
get both, filled from their detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from monitor_helpers import consistent_scenes, make_series, monitor_argv, read_layer, scene_files

from sargasses.monitor import catalogue
from sargasses.monitor.cli import main as monitor

pytestmark = pytest.mark.slow
NEW = ("shore_m", "setting")


def raft_rows(path: Path) -> list[tuple]:
    """Every raft as (scene, raft_id, area_m2, geometry): what must survive the upgrade as it was."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT scene, raft_id, area_m2, geom FROM rafts ORDER BY scene, raft_id").fetchall()
    finally:
        db.close()


def test_an_older_catalogue_gets_the_shore_columns_and_keeps_every_row(tmp_path, monkeypatch) -> None:
    series = make_series(tmp_path / "series", days=3)
    scenes, out = scene_files(series), tmp_path / "monitoring"
    with monkeypatch.context() as older:  # the catalogue as the version before the shore fields wrote it
        older.setattr(catalogue, "RAFT_FIELDS", tuple(f for f in catalogue.RAFT_FIELDS if f[0] not in NEW))
        assert monitor(monitor_argv(scenes[:2], out, series, "--workers", "1")) == 0
    path = out / "catalogue.gpkg"
    before, old_scenes = raft_rows(path), consistent_scenes(path)
    assert before and not set(NEW) & set(read_layer(path, "rafts"))

    assert monitor(monitor_argv(scenes, out, series, "--workers", "1")) == 0
    rafts = read_layer(path, "rafts")  # through GDAL, as QGIS reads it
    assert set(NEW) <= set(rafts)
    after = consistent_scenes(path)
    assert {s: after[s] for s in old_scenes} == old_scenes and set(after) == set(scenes)
    assert [row for row in raft_rows(path) if row[0] in old_scenes] == before  # not one old raft lost or changed
    for k, scene in enumerate(rafts["scene"]):
        if scene in old_scenes:
            assert rafts["setting"][k] is None and rafts["shore_m"][k] != rafts["shore_m"][k]  # NULL (NaN)
        else:
            assert rafts["setting"][k] in ("open_water", "nearshore", "shoreline")
    assert any(scene not in old_scenes for scene in rafts["scene"])  # the new scene's rafts are there
