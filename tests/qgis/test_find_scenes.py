"""The dock's Find scenes against real servers on loopback (stac_servers.py: rustac's STAC API behind nginx, COGs
served by nginx) and the real engine: the items listed by date with their thumbnails, Detect on an item gives the
rafts of the same file detected on disk, Add as layer gives a /vsicurl/ layer, and a catalogue that needs a token
works with one from QGIS's authentication database, which then appears in no file, log line or message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import HERE, QGIS_DESKTOP, ROOT, XVFB, drive_zip_in_a_fresh_profile, wait_for
from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsFeature,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsSettings,
    QgsVectorLayer,
)

from sargasses_qgis import settings


@pytest.fixture(scope="module")
def world(engine_python, tmp_path_factory):
    """The servers and what they serve (stac_servers.py's JSON line); stopped when the module's tests end."""
    folder = tmp_path_factory.mktemp("stac_world")
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [engine_python, str(HERE / "stac_servers.py"), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = ""
        while not line.startswith("{"):
            line = process.stdout.readline()
            assert line, "stac_servers.py ended before serving"
        yield json.loads(line)
    finally:
        process.stdin.close()
        process.wait(30)


@pytest.fixture
def log_lines():
    seen: list[str] = []

    def collect(message, tag, _level):
        seen.append(f"{tag}: {message}")

    QgsApplication.messageLog().messageReceived.connect(collect)
    yield seen
    QgsApplication.messageLog().messageReceived.disconnect(collect)


def _area_layer(world, shape: str = "square") -> QgsVectorLayer:
    """A polygon a little inside the scene, in lon/lat: the area to search; the "L" shape is the scene's lon/lat
    box less a little more than its north-east quarter (stac_servers.py's "north-east" item)."""
    west, south, east, north = world["lonlat"]
    dx, dy = (east - west) / 10, (north - south) / 10
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "my coast", "memory")
    feature = QgsFeature()
    area = QgsGeometry.fromRect(QgsRectangle(west + dx, south + dy, east - dx, north - dy))
    if shape == "L":
        quarter = QgsRectangle((west + east) / 2 - dx, (south + north) / 2 - dy, east, north)
        area = area.difference(QgsGeometry.fromRect(quarter))
    feature.setGeometry(area)
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    QgsProject.instance().addMapLayer(layer)
    return layer


def _search(dock, world, catalogue: str, auth_id: str = "", shape: str = "square", day: str = ""):
    """Fill Find scenes (the area, the week of the items or one `day`) and press Search; the finished task."""
    box = dock.scenes_box
    box.catalogue_combo.setCurrentText(world[catalogue])
    box.collection_edit.setText(world["collection"])
    box.auth_select.setConfigId(auth_id)
    box.area_combo.setCurrentIndex(box.area_combo.findData("polygons"))
    box.polygon_combo.setLayer(_area_layer(world, shape))
    box.start_date.setDate(box.start_date.date().fromString(day or "2024-06-20", "yyyy-MM-dd"))
    box.end_date.setDate(box.end_date.date().fromString(day or "2024-06-30", "yyyy-MM-dd"))
    box.cloud_spin.setValue(100)
    box.search_button.click()
    task = box.task
    assert task is not None, box.status_label.text()
    assert wait_for(lambda: box.task is None, 120), "the search did not finish"
    return task


def _rows(dock) -> list[list[str]]:
    tree = dock.scenes_box.items_tree
    return [[tree.topLevelItem(i).text(c) for c in range(4)] for i in range(tree.topLevelItemCount())]


def _detect_first(dock) -> object:
    """Select the first item, press Detect, wait for the run: the finished task."""
    finished = []
    dock.runFinished.connect(finished.append)
    try:
        dock.scenes_box.items_tree.topLevelItem(0).setSelected(True)
        dock.scenes_box.detect_button.click()
        assert dock.task is not None, dock.scenes_box.status_label.text()
        assert wait_for(lambda: bool(finished), 300), "the detection did not finish"
    finally:
        dock.runFinished.disconnect(finished.append)
    return finished[0]


def _rafts(path: Path) -> tuple[int, float]:
    layer = QgsVectorLayer(str(path), "rafts", "ogr")
    assert layer.isValid(), path
    return layer.featureCount(), sum(f.geometry().area() for f in layer.getFeatures())


def test_search_lists_the_week_by_date_with_thumbnails(dock, world) -> None:
    task = _search(dock, world, "api")
    assert task.items is not None, task.error
    assert _rows(dock) == [
        ["2024-06-22 14:45", "8 %", "100 %", "88 %"],
        ["2024-06-25 14:45", "64 %", "100 %", "88 %"],
    ]
    tree = dock.scenes_box.items_tree
    assert wait_for(lambda: all(not tree.topLevelItem(i).icon(0).isNull() for i in range(2)), 30), "no thumbnail"
    size = tree.topLevelItem(0).icon(0).availableSizes()[0]
    assert max(size.width(), size.height()) == 64
    assert world["items"][0] in tree.topLevelItem(0).toolTip(0)


def test_a_polygon_layer_is_searched_as_its_polygon_not_its_extent(dock, world) -> None:
    """The L-shaped layer's extent holds the north-east item's footprint, the L does not: only the west half's
    item is listed, covering about 2/3 of the L (1/2 of its extent)."""
    task = _search(dock, world, "api", shape="L", day=world["footprint_date"])
    assert task.items is not None, task.error
    assert [item["id"] for item in task.items] == ["west-half"]
    assert 0.6 < task.items[0]["aoi_share"] < 0.7
    assert task.fields["area"]["type"] == "Polygon" and len(task.fields["area"]["coordinates"][0]) == 7
    square = _search(dock, world, "api", day=world["footprint_date"])
    assert [item["id"] for item in square.items] == ["north-east", "west-half"]


def test_detect_on_the_selected_item_finds_the_rafts_of_the_file_on_disk(dock, world, engine_python, tmp_path) -> None:
    _search(dock, world, "api")
    task = _detect_first(dock)
    assert task.outcome is not None, task.error
    assert task.outcome.summary["product_id"] == world["items"][0]
    assert dock.last_layer is not None and dock.last_layer.featureCount() == task.outcome.summary["rafts"] > 0
    options = task.job.options  # the same model, threshold and area, on the scene's file
    disk = tmp_path / "disk.gpkg"
    command = [engine_python, "-m", "sargasses", "detect", world["scene"], "-o", str(disk), "--quiet"]
    command += ["--method", options["method"], "--extent", *map(str, options["extent"])]
    command += ["--model", options["model"]] if options.get("model") else []
    subprocess.run(command, check=True, capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    remote_count, remote_area = _rafts(task.outcome.output)
    disk_count, disk_area = _rafts(disk)
    assert remote_count == disk_count and remote_area == pytest.approx(disk_area, rel=1e-6)


def test_add_as_layer_opens_the_true_colour_cog_over_http(dock, world) -> None:
    _search(dock, world, "api")
    dock.scenes_box.items_tree.topLevelItem(0).setSelected(True)
    layers = dock.scenes_box.add_selected_layers()
    assert len(layers) == 1 and layers[0].isValid()
    layer = layers[0]
    assert layer.source().startswith("/vsicurl/http://127.0.0.1:") and layer.bandCount() == 3
    assert (layer.width(), layer.height()) == (512, 512)
    stats = layer.dataProvider().bandStatistics(1)
    assert stats.maximumValue > stats.minimumValue  # real pixels came over the network


def _auth_config(token: str) -> str:
    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        assert manager.setMasterPassword("test-master-password", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("private STAC")
    config.setConfig("username", "forecaster")
    config.setConfig("password", token)
    assert manager.storeAuthenticationConfig(config)
    return config.id()


def test_a_catalogue_that_needs_a_token_gets_it_from_the_auth_database_and_nothing_shows_it(
    dock, world, qgis_iface, log_lines, tmp_path
) -> None:
    task = _search(dock, world, "private")
    assert task.items is None and "needs credentials" in dock.scenes_box.status_label.text()
    assert "\n" not in dock.scenes_box.status_label.text()
    auth_id = _auth_config(world["token"])
    task = _search(dock, world, "private", auth_id)
    assert task.items is not None, task.error
    assert [r[0] for r in _rows(dock)] == ["2024-06-22 14:45", "2024-06-25 14:45"]
    run = _detect_first(dock)
    assert run.outcome is not None and run.outcome.summary["rafts"] > 0, run.error
    assert settings.results_dir() in run.job.work_dir.parents
    project = tmp_path / "project.qgz"
    assert QgsProject.instance().write(str(project))
    QgsSettings().sync()
    token = world["token"].encode()
    written = [p for p in settings.results_dir().rglob("*") if p.is_file()] + [Path(QgsSettings().fileName())]
    assert run.outcome.output in written
    for path in written:
        assert token not in path.read_bytes(), path
    with zipfile.ZipFile(project) as archive:
        assert all(token not in archive.read(name) for name in archive.namelist())
    said = [*log_lines, dock.scenes_box.status_label.text(), dock.run_box.status_label.text(), repr(run.job)]
    said += [str(item) for item in getattr(qgis_iface.messageBar(), "messages", {}).values()]
    assert auth_id in QgsSettings().value("sargasses/find_scenes/auth_config", "")
    assert all(world["token"] not in text for text in said)
    assert any("search" in line for line in log_lines)  # the log was collected, and it said what was searched
    if sys.platform.startswith("linux"):  # the engine's own log lines came through QGIS's log too
        assert any("engine" in line for line in log_lines)


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS_DESKTOP and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_search_to_rafts_in_three_clicks_in_the_real_desktop(world, engine_python, tmp_path) -> None:
    """The plugin's zip in a fresh profile: Search, select, Detect; the screenshot shows the list and the rafts."""
    report, shots = drive_zip_in_a_fresh_profile(tmp_path, "find_scenes_drive.py", engine_python, world)
    shot = shots / "qgis_find_scenes.png"
    assert report.get("error") is None, report
    assert report["steps"] == ["search", "select", "detect"]
    assert [row[0] for row in report["rows"]] == ["2024-06-22 14:45", "2024-06-25 14:45"] and report["thumbnails"] == 2
    assert report["added"] == 1 and report["summary"]["product_id"] == world["items"][0]
    assert report["features"] == report["summary"]["rafts"] > 0
    assert report["screenshot"] and shot.stat().st_size > 50_000
    keep = os.environ.get("SARGASSES_SCREENSHOT_DIR")
    if keep:
        shutil.copy2(shot, Path(keep) / shot.name)
