"""A monitoring folder loaded in the real QGIS: the Temporal Controller's day k shows day k's rafts only (as many
as the catalogue says that day's scene found), one grid step only, and the scenes coloured by status; the dock shows
the sector plot, and "New since the previous pass" keeps exactly the newest pass's rafts."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess

import pytest
from conftest import engine_python_or_fail
from qgis.core import (
    QgsDateTimeRange,
    QgsFeatureRequest,
    QgsInterval,
    QgsProject,
    QgsTemporalNavigationObject,
    QgsUnitTypes,
    QgsVectorLayerTemporalContext,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
from qgis.PyQt.QtGui import QImage

from sargasses_qgis.monitor_folder import NotAMonitoringFolder, load_monitoring_folder
from sargasses_qgis.ui.monitor_section import PLOT_WIDTH

DAYS = 4


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A 4-day synthetic series written by the real engine's `sargasses synth --series`."""
    out = tmp_path_factory.mktemp("series")
    command = [engine_python_or_fail(), "-m", "sargasses", "synth", str(out), "--series", str(DAYS), "--seed", "80"]
    subprocess.run([*command, "--size", "256", "--overwrite"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def folder(plugin, series, tmp_path_factory):
    """The series monitored through Processing's sargasses:monitor (the engine's `sargasses monitor`, one worker)."""
    import processing
    from qgis.core import QgsVectorLayer

    out = tmp_path_factory.mktemp("monitoring") / "folder"
    sectors = QgsVectorLayer(str(series / "sectors.gpkg"), "sectors", "ogr")
    result = processing.run(
        "sargasses:monitor",
        {"FOLDER": str(series), "OUTPUT": str(out), "SECTORS": sectors, "GRID_CRS": "EPSG:32620", "CELL": 1000,
         "WORKERS": 1},
    )  # fmt: skip
    assert result["CATALOGUE"] == str(out / "catalogue.gpkg") and (out / "grid.nc").is_file()
    assert len((out / "sectors.csv").read_text().splitlines()) == 1 + 2 * DAYS
    return out


def test_the_temporal_controller_shows_each_days_rafts_only(qgis_app, folder):
    project = QgsProject.instance()
    project.clear()
    loaded = load_monitoring_folder(str(folder), project)
    rafts, scenes, grid = loaded["rafts"], loaded["scenes"], loaded["grid"]
    per_day = {f["date"]: (f["scene"], f["rafts"]) for f in scenes.getFeatures()}
    assert len(per_day) == DAYS and sum(n for _, n in per_day.values()) == rafts.featureCount() > 0
    first = min(per_day)
    navigation = QgsTemporalNavigationObject()
    navigation.setTemporalExtents(QgsDateTimeRange(_utc(first, 0), _utc(first, DAYS)))
    navigation.setFrameDuration(QgsInterval(1, QgsUnitTypes.TemporalUnit.TemporalDays))
    assert navigation.totalFrameCount() == DAYS
    context = QgsVectorLayerTemporalContext()
    context.setLayer(rafts)
    for k in range(DAYS):
        frame = navigation.dateTimeRangeForFrameNumber(k)
        day = (dt.date.fromisoformat(first) + dt.timedelta(days=k)).isoformat()
        shown = rafts.temporalProperties().createFilterString(context, frame)
        seen = [f["scene"] for f in rafts.getFeatures(QgsFeatureRequest().setFilterExpression(shown))]
        assert set(seen) <= {per_day[day][0]} and len(seen) == per_day[day][1], day
        visible = [g.name() for g in grid if g.temporalProperties().isVisibleInTemporalRange(frame)]
        assert visible == [f"cover {day}"]
    assert {c.value() for c in scenes.renderer().categories()} == {"done", "skipped", "failed"}


def test_the_dock_shows_the_sector_plot(plugin, qgis_app, folder):
    QgsProject.instance().clear()
    assert plugin.load_monitoring(str(folder)) is not None
    box = plugin.dock.monitor_box
    assert not box.isHidden()
    png = QImage(str(folder / "sectors.png"))
    assert not png.isNull()
    expected = png.scaledToWidth(PLOT_WIDTH, Qt.TransformationMode.SmoothTransformation)
    shown = box.plot.pixmap().toImage().convertToFormat(QImage.Format.Format_ARGB32)
    assert shown.size() == expected.size() and shown.width() < png.width()
    assert shown == expected.convertToFormat(QImage.Format.Format_ARGB32)


def test_new_since_the_previous_pass_keeps_the_newest_passs_rafts(plugin, qgis_app, folder):
    QgsProject.instance().clear()
    rafts = plugin.load_monitoring(str(folder))["rafts"]
    db = sqlite3.connect(folder / "catalogue.gpkg")
    try:
        days = [d for (d,) in db.execute("SELECT DISTINCT date FROM scenes WHERE status = 'done' ORDER BY date")]
        newest = set(db.execute("SELECT scene, raft_id FROM rafts WHERE substr(datetime, 1, 10) = ?", (days[-1],)))
        total = db.execute("SELECT COUNT(*) FROM rafts").fetchone()[0]
    finally:
        db.close()
    assert len(days) == DAYS and 0 < len(newest) < total
    box = plugin.dock.monitor_box
    assert f"newest {days[-1]}, previous {days[-2]}" in box.passes_label.text()
    box.new_check.setChecked(True)
    assert rafts.featureCount() == len(newest)  # -1 while the rafts layer shared the scenes layer's dataset
    assert {(f["scene"], f["raft_id"]) for f in rafts.getFeatures()} == newest
    assert {f["datetime"].toString(Qt.DateFormat.ISODate)[:10] for f in rafts.getFeatures()} == {days[-1]}
    box.new_check.setChecked(False)
    assert rafts.featureCount() == total and rafts.subsetString() == ""


def test_a_folder_without_catalogue_is_refused_in_one_line(qgis_app, tmp_path):
    with pytest.raises(NotAMonitoringFolder, match=r"no catalogue\.gpkg"):
        load_monitoring_folder(str(tmp_path))


def _utc(date: str, plus_days: int) -> QDateTime:
    day = dt.date.fromisoformat(date) + dt.timedelta(days=plus_days)
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.UTC)
