"""Runs from the dock through the real engine: results, warm engine, responsiveness, cancel, export, failures."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import (
    Scene,
    add_raster,
    choose_layer,
    device_word,
    run_and_wait,
    scene_with_infinite_values,
    score,
    wait_for,
)
from qgis.core import Qgis, QgsApplication, QgsFeature, QgsGeometry, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import QEventLoop, QTimer

from sargasses_qgis.ui import messages


@pytest.fixture
def log_messages():
    """What the plugin wrote to its "Sargasses" tab of QGIS's log during the test."""
    seen: list[str] = []

    def collect(message, tag, _level):
        if tag == "Sargasses":
            seen.append(message)

    QgsApplication.messageLog().messageReceived.connect(collect)
    yield seen
    QgsApplication.messageLog().messageReceived.disconnect(collect)


def test_run_adds_styled_rafts_matching_the_planted_ones(plugin, scene, qgis_iface, dock, engine_device) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    dock.options_box.probabilities_check.setChecked(True)
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    rafts = dock.last_layer
    # In a group named after the run, with the probability raster beside the rafts.
    group = QgsProject.instance().layerTreeRoot().findGroup(task.job.run_name)
    assert group is not None and "scene" in group.name()
    names = [child.layer().name() for child in group.findLayers()]
    assert names == ["Sargassum rafts", "Sargassum probability"]
    assert rafts.crs().authid() == "EPSG:32620"
    assert {"area_m2", "length_m", "prob_mean", "acq_date", "sensor"} <= set(rafts.fields().names())
    assert rafts.renderer().type() == "RuleRenderer" and rafts.mapTipTemplate()  # the resources/rafts.qml style
    scores = score(task.outcome.output, scene)
    assert scores["features"] == rafts.featureCount() == task.outcome.summary["rafts"] > 0
    assert scores["precision"] > 0.9 and scores["object_recall"] > 0.75, scores
    # The summary in the message bar: rafts, km², device, time.
    success = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Success)
    assert success and all(word in success[-1] for word in ("rafts", "km²", device_word(engine_device), " s"))


def test_second_run_uses_the_warm_engine(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    first = run_and_wait(dock)
    second = run_and_wait(dock)
    assert first.outcome and second.outcome
    # Same process, and it counts the runs it served: the model (and torch) stayed loaded.
    assert second.outcome.summary["engine_pid"] == first.outcome.summary["engine_pid"]
    assert second.outcome.summary["engine_run"] == first.outcome.summary["engine_run"] + 1 >= 2
    assert second.outcome.summary["rafts"] == first.outcome.summary["rafts"]
    assert "warm engine" in qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Success)[-1]


def test_interface_never_stalls_during_a_run(big_scene, qgis_iface, dock) -> None:
    """The longest gap between ticks of a 10 ms timer on the UI thread, over a whole run, stays under 100 ms."""
    layer = add_raster(big_scene.tif, qgis_iface)
    choose_layer(dock, layer, big_scene.method)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()
    finished = []
    dock.runFinished.connect(lambda task: (finished.append(task), loop.quit()))
    timer.start()
    assert dock.run() is not None
    QTimer.singleShot(300_000, loop.quit)
    loop.exec()
    timer.stop()
    assert finished and finished[0].outcome is not None, finished and finished[0].error
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 50
    assert max(gaps) < 0.100, f"longest stall {max(gaps) * 1000:.0f} ms"


def test_cancel_stops_the_engine_within_a_second(big_scene, qgis_iface, dock) -> None:
    layer = add_raster(big_scene.tif, qgis_iface)
    choose_layer(dock, layer, big_scene.method)
    groups_before = len(QgsProject.instance().layerTreeRoot().children())
    finished = []
    dock.runFinished.connect(finished.append)
    task = dock.run()
    assert wait_for(lambda: task.progress() > 10, 120), "the run did not start"
    cancelled_at = time.perf_counter()
    dock.run_box.cancel_button.click()
    assert wait_for(lambda: bool(finished), 10)
    took = time.perf_counter() - cancelled_at
    assert took < 1.0, f"cancel took {took:.2f} s"
    assert finished[0].error_kind == "cancelled" and finished[0].outcome is None
    assert len(QgsProject.instance().layerTreeRoot().children()) == groups_before  # nothing added
    assert dock.run_box.run_button.isEnabled() and not dock.run_box.cancel_button.isEnabled()
    # The engine stopped its run (it did not need killing) and serves the next one.
    client = dock.manager.current()
    assert client is not None
    again = run_and_wait(dock)
    assert again.outcome is not None and again.outcome.engine_pid == client.pid


def test_export_to_shapefile_and_geopackage(scene, qgis_iface, dock, tmp_path: Path, monkeypatch) -> None:
    from osgeo import ogr

    from sargasses_qgis.ui import export_dialog

    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    task = run_and_wait(dock)
    count = dock.last_layer.featureCount()
    assert dock.run_box.export_shp_button.isEnabled()
    for kind, name in (("shp", "exported.shp"), ("gpkg", "exported.gpkg")):
        target = tmp_path / name
        monkeypatch.setattr(export_dialog.QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), ""))
        (dock.run_box.export_shp_button if kind == "shp" else dock.run_box.export_gpkg_button).click()
        assert target.exists()
        source = ogr.Open(str(target))  # read back by OGR, not by QGIS
        ogr_layer = source.GetLayer(0)
        assert ogr_layer.GetFeatureCount() == count == task.outcome.summary["rafts"]
        assert ogr_layer.GetSpatialRef().GetAuthorityCode(None) == "32620"
        fields = [
            ogr_layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(ogr_layer.GetLayerDefn().GetFieldCount())
        ]
        assert "area_m2" in fields and "id" in fields
        assert "fid" not in fields  # the GeoPackage's feature id is no column of the export
        total = sum(f.GetField("area_m2") for f in ogr_layer)
        assert total == pytest.approx(task.outcome.summary["total_area_km2"] * 1e6, rel=1e-3)
    # The same from the result layer's context menu (the action acts on the active layer).
    target = tmp_path / "from_menu.shp"
    monkeypatch.setattr(export_dialog.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    qgis_iface.setActiveLayer(dock.last_layer)
    dock.plugin.layer_actions[0].trigger()
    assert ogr.Open(str(target)).GetLayer(0).GetFeatureCount() == count


def test_selected_polygons_bound_the_search(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    extent = layer.extent()
    west = QgsRectangle(extent.xMinimum(), extent.yMinimum(), extent.center().x(), extent.yMaximum())
    areas = QgsVectorLayer("Polygon?crs=EPSG:32620", "areas", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromRect(west))
    areas.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(areas)
    areas.selectAll()
    dock.area_box.area_combo.setCurrentIndex(dock.area_box.area_combo.findData("polygons"))
    dock.area_box.polygon_combo.setLayer(areas)
    try:
        task = run_and_wait(dock)
    finally:
        dock.area_box.area_combo.setCurrentIndex(0)
    assert task.outcome is not None, task.error
    rafts = dock.last_layer
    assert 0 < rafts.featureCount() < task.outcome.summary["rafts"] + 1
    assert rafts.extent().xMaximum() <= west.xMaximum() + 1e-6
    assert task.outcome.summary["rafts_in_area"] == rafts.featureCount()


def test_layer_removed_during_a_run_stops_it(big_scene, qgis_iface, dock, log_messages) -> None:
    layer = add_raster(big_scene.tif, qgis_iface)
    choose_layer(dock, layer, big_scene.method)
    finished = []
    dock.runFinished.connect(finished.append)
    task = dock.run()
    assert wait_for(lambda: task.progress() > 5, 120)
    QgsProject.instance().removeMapLayer(layer.id())
    assert wait_for(lambda: bool(finished), 10)
    assert finished[0].error_kind == "cancelled"
    warning = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Warning)[-1]
    assert "was removed from the project during the run" in warning
    assert any("was removed from the project during the run" in m for m in log_messages)


def test_engine_crash_is_reported_and_the_next_run_starts_a_new_engine(
    big_scene, qgis_iface, dock, log_messages
) -> None:
    layer = add_raster(big_scene.tif, qgis_iface)
    choose_layer(dock, layer, big_scene.method)
    finished = []
    dock.runFinished.connect(finished.append)
    task = dock.run()
    assert wait_for(lambda: task.progress() > 10, 120)
    crashed_pid = dock.manager.current().pid
    os.kill(crashed_pid, signal.SIGKILL)  # as an out-of-memory kill would
    assert wait_for(lambda: bool(finished), 30)
    assert finished[0].error_kind == "crashed"
    critical = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Critical)[-1]
    assert "stopped unexpectedly" in critical and "killed by signal 9" in critical
    assert any("stopped unexpectedly" in m for m in log_messages)
    # QGIS goes on; the next run starts a new engine.
    again = run_and_wait(dock)
    assert again.outcome is not None, again.error
    assert again.outcome.engine_pid != crashed_pid


def test_missing_engine_offers_the_installer(scene, qgis_iface, dock, monkeypatch, log_messages) -> None:
    from sargasses_qgis import settings
    from sargasses_qgis.engine_finder import forget_checks

    monkeypatch.delenv("SARGASSES_PYTHON")
    settings.set_engine_python("/nonexistent/bin/python")
    dock.manager.shutdown()
    forget_checks()
    try:
        layer = add_raster(scene.tif, qgis_iface)
        choose_layer(dock, layer, "afai")
        assert dock.engine_problem and dock.engine_box.install_button.isVisibleTo(dock)
        assert "not set up" in dock.engine_box.engine_label.text()
        task = run_and_wait(dock)
        assert task.error_kind == "no_engine"
        assert "/nonexistent/bin/python does not exist" in task.error
        item = qgis_iface.messageBar().currentItem()
        assert "not set up" in item.text()
        # Said once, not three times: the engine line says what to do, the status line what was tried.
        assert (
            "not set up" in dock.engine_box.engine_label.text() and "not set up" not in dock.run_box.status_label.text()
        )
        assert "/nonexistent/bin/python does not exist" in dock.run_box.status_label.text().replace("\u200b", "")
        assert "Install detection engine" not in item.text()  # the message bar's button says it
        assert any(
            b.text() == "Install detection engine…" for b in item.findChildren(type(dock.engine_box.install_button))
        )
        assert any("not set up" in m for m in log_messages)
    finally:
        settings.set_engine_python("")
        forget_checks()


def test_layer_held_in_memory_is_written_to_a_geotiff_first(scene, qgis_iface, dock) -> None:
    """A layer the engine cannot open (here: in QGIS's memory, /vsimem/) goes through a temporary GeoTIFF."""
    from osgeo import gdal
    from qgis.core import QgsRasterLayer

    memory_path = "/vsimem/sargasses_test/scene.tif"
    gdal.Translate(memory_path, str(scene.tif))
    try:
        layer = QgsRasterLayer(memory_path, "in memory")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        choose_layer(dock, layer, scene.method)
        mapping, automatic = dock.bands_box.mapping()
        assert automatic and [s.label for s in mapping.values()] == list(mapping)
        task = run_and_wait(dock)
        assert task.job.plan.kind == "export"
        assert task.outcome is not None, task.error
        assert (task.job.work_dir / "input.tif").exists() and (task.job.work_dir / "input.vrt").exists()
        scores = score(task.outcome.output, scene)
        assert scores["precision"] > 0.9 and scores["object_recall"] > 0.75, scores
    finally:
        gdal.Unlink(memory_path)


def test_virtual_raster_without_the_bands_is_refused(scene, qgis_iface, dock) -> None:
    from qgis.core import QgsRasterLayer

    extent = QgsRasterLayer(str(scene.tif), "s").extent()
    uri = (
        f"?crs=EPSG:32620&extent={extent.xMinimum()},{extent.yMinimum()},{extent.xMaximum()},{extent.yMaximum()}"
        f"&width=512&height=512&formula=%22s%408%22%20-%20%22s%403%22&s:uri={scene.tif}&s:provider=gdal"
    )
    layer = QgsRasterLayer(uri, "ndvi-like", "virtualraster")
    assert layer.isValid(), layer.error().summary()
    QgsProject.instance().addMapLayer(layer)
    choose_layer(dock, layer, "afai")
    assert dock.run() is None
    assert "lacks the band(s) B02" in dock.run_box.status_label.text()


def test_the_engines_warnings_reach_the_message_bar(scene, qgis_iface, dock, tmp_path: Path) -> None:
    """Rafts found on doubtful input come with the engine's warning, not a plain success."""
    layer = add_raster(scene_with_infinite_values(scene, tmp_path), qgis_iface)
    choose_layer(dock, layer, scene.method)
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    assert any("infinite values" in w for w in task.outcome.warnings)
    warnings = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert warnings and "infinite values" in warnings[-1] and "rafts" in warnings[-1]
    assert len(warnings[-1]) <= len("Sargasses:") + messages.FITS  # one line: the folders of the path are cut
    assert "Warning: " in dock.run_box.status_label.text()


def test_dock_runs_a_model_trained_the_original_way(otci, qgis_iface, dock) -> None:
    """An OTCI RGB GeoTIFF with a model trained by configs/original_otci_halfunet.yaml: its red, green and blue
    bands go to the model, and the planted rafts come back in the project."""
    layer = add_raster(Path(otci["tif"]), qgis_iface, "otci")
    dock.image_box.layer_combo.setLayer(layer)
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("file"))
    dock.model_box.model_file.setFilePath(otci["model"])
    dock.refresh_engine()
    assert wait_for(lambda: not dock.info_pending, 120), "the engine did not answer"
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    scores = score(task.outcome.output, Scene(Path(otci["tif"]), Path(otci["label"]), {}, "model"))
    assert scores["features"] == task.outcome.summary["rafts"] == otci["rafts"], scores
    assert scores["object_recall"] == 1.0 and scores["precision"] > 0.8, scores


def test_the_fractional_cover_raster_and_area_from_the_dock(scene, qgis_iface, dock) -> None:
    """The cover raster joins the run's group, and the message bar gives the covered area beside the polygons'."""
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    dock.options_box.coverage_check.setChecked(True)
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    summary = task.outcome.summary
    assert 0 < summary["covered_area_km2"] <= summary["total_area_km2"]
    group = QgsProject.instance().layerTreeRoot().findGroup(task.job.run_name)
    names = [child.layer().name() for child in group.findLayers()]
    assert names == ["Sargassum rafts", "Sargassum cover"]
    cover = next(child.layer() for child in group.findLayers() if child.layer().name() == "Sargassum cover")
    assert cover.isValid() and cover.width() == layer.width()
    success = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Success)
    assert success and "km² covered" in success[-1]
