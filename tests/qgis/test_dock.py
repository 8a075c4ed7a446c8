"""The dock's controls: what a user sees before running (layer, model card, bands, area, device)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import add_raster, assert_device_label, choose_layer, wait_for
from qgis.core import QgsProject, QgsVectorLayer

from sargasses_qgis.sensor_names import sensor_name

SPLIT_BANDS = """
import sys, rasterio
src_path, out = sys.argv[1], sys.argv[2]
with rasterio.open(src_path) as src:
    profile = src.profile | {"count": 1}
    for i, name in enumerate(src.descriptions, start=1):
        with rasterio.open(f"{out}/T20PPC_20230417T144137_{name}_20m.tif", "w", **profile) as dst:
            dst.write(src.read(i), 1)
"""


def test_toolbar_action_and_menu_open_the_dock(plugin, dock) -> None:
    assert plugin.run_action.objectName() == "sargassesDetectAction"
    assert not plugin.run_action.icon().isNull()
    assert dock.isVisible() or dock.isVisibleTo(dock.parentWidget()) or dock.windowTitle() == "Sargasses"
    plugin.run_action.trigger()  # a second click closes it
    assert not plugin.run_action.isChecked()


def test_dock_defaults_to_the_active_raster_layer(plugin, scene, qgis_iface, dock) -> None:
    other = add_raster(scene.tif, qgis_iface, "other")
    active = add_raster(scene.tif, qgis_iface, "active")
    plugin.dock.deleteLater()
    plugin.dock = None
    fresh = plugin.show_dock()
    assert fresh.image_box.layer_combo.currentLayer() is active
    # Any raster layer of the project can be chosen; vector layers are not offered.
    names = {fresh.image_box.layer_combo.itemText(i) for i in range(fresh.image_box.layer_combo.count())}
    assert {"active", "other"} <= names
    vector = QgsVectorLayer("Polygon?crs=EPSG:32620", "areas", "memory")
    QgsProject.instance().addMapLayer(vector)
    assert "areas" not in {fresh.image_box.layer_combo.itemText(i) for i in range(fresh.image_box.layer_combo.count())}
    assert other.id() != active.id()


def test_card_device_and_bands_from_the_engine(scene, qgis_iface, dock, engine_device) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    info = dock.engine_info
    assert info["protocol"] == 1 and info["device"]["type"] == engine_device["type"]  # the CPU, or a GPU where one is
    assert_device_label(dock.options_box.device_label.text(), engine_device)
    if scene.method == "model":
        card = info["model"]["card"]
        assert card["band_names"] and "Sensor" in dock.model_box.card_label.text()
        assert sensor_name(card["sensor"]) in dock.model_box.card_label.text()
        # The card's test scores, read as a person reads them (not a dump of nested dicts).
        test_f1 = card["metrics"]["test"]["f1"]
        assert f"F1 {test_f1:.3f}" in dock.model_box.card_label.text() and "{" not in dock.model_box.card_label.text()
        # What it was trained on in words, the details (seed ranges, file names) in the tooltip only.
        if card.get("trained_on"):
            assert "Trained on" in dock.model_box.card_label.text() and "seeds" not in dock.model_box.card_label.text()
            assert dock.model_box.card_label.toolTip().endswith(card["trained_on"])
    else:
        assert "AFAI" in dock.model_box.card_label.text()
    # Bands matched from the file's band names: B02..B12, every one found, in the model's order.
    mapping, automatic = dock.bands_box.mapping()
    assert automatic and all(source is not None for source in mapping.values())
    assert [source.band for source in mapping.values()] == list(range(1, 11))
    assert [source.label for source in mapping.values()] == list(mapping)
    assert "All 10 bands found" in dock.bands_box.bands_note.text()


def test_band_mapping_is_editable_and_reports_missing_bands(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, "afai")
    dock.bands_box.set_band_source("B11", "B12")
    mapping, automatic = dock.bands_box.mapping()
    assert not automatic and mapping["B11"].label == "B12"
    assert "as you chose" in dock.bands_box.bands_note.text()
    dock.bands_box.set_band_source("B11", "— missing —")
    assert dock.run() is None  # refused before anything starts
    assert "lacks the band(s) B11" in dock.run_box.status_label.text()
    assert any("B11" in m for m in qgis_iface.messageBar().get_messages(1))  # Qgis.MessageLevel.Warning


def test_other_bands_of_a_sentinel2_product_are_found(scene, engine_python, qgis_iface, dock, tmp_path: Path) -> None:
    subprocess.run([engine_python, "-c", SPLIT_BANDS, str(scene.tif), str(tmp_path)], check=True)
    layer = add_raster(tmp_path / "T20PPC_20230417T144137_B04_20m.tif", qgis_iface, "B04")
    choose_layer(dock, layer, "afai")
    mapping, automatic = dock.bands_box.mapping()
    assert automatic
    assert {band: Path(source.path).name for band, source in mapping.items()} == {
        band: f"T20PPC_20230417T144137_{band}_20m.tif" for band in mapping
    }
    assert "10 files of the same Sentinel-2 product" in dock.bands_box.bands_note.text()


def test_model_area_threshold_and_device_controls(scene, qgis_iface, dock) -> None:
    add_raster(scene.tif, qgis_iface)
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("file"))
    assert dock.model_box.model_file.isVisibleTo(dock)
    assert "Choose a model file" in dock.model_box.card_label.text()
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("default"))
    assert not dock.model_box.model_file.isVisibleTo(dock)
    assert not dock.area_box.polygon_combo.isEnabled()
    dock.area_box.area_combo.setCurrentIndex(dock.area_box.area_combo.findData("polygons"))
    assert dock.area_box.polygon_combo.isEnabled()
    assert [dock.area_box.area_combo.itemData(i) for i in range(dock.area_box.area_combo.count())] == [
        "layer",
        "canvas",
        "polygons",
    ]
    wait_for(lambda: not dock.info_pending)
    card_threshold = dock.engine_info["model"]["card"]["threshold"]
    assert dock.options_box.threshold.value() == pytest.approx(
        card_threshold, abs=5e-4
    )  # the model's own number, shown
    assert "picked on validation" in dock.model_box.card_label.text()
    dock.options_box.threshold.setValue(0.5 if card_threshold < 0.4 else 0.2)  # the user's own ...
    assert dock.options_box._custom_threshold
    dock.options_box.threshold.clear()  # ... and the clear button puts the model's back
    assert dock.options_box.threshold.value() == pytest.approx(card_threshold, abs=5e-4)
    assert not dock.options_box._custom_threshold
    dock.options_box.min_area.setValue(0.0)
    assert dock.options_box.min_area.text() == "3 pixels (default)"  # the engine's minimum, 3 pixels, when left at 0
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("afai"))
    wait_for(lambda: not dock.info_pending)
    assert dock.options_box.threshold.value() == pytest.approx(0.016)  # AFAI's default, typed to the third decimal
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("default"))
    assert [dock.options_box.device_combo.itemData(i) for i in range(dock.options_box.device_combo.count())] == [
        "auto",
        "cpu",
        "cuda",
        "mps",
    ]
    dock.area_box.area_combo.setCurrentIndex(0)


def test_no_raster_layer_is_reported(qgis_iface, dock) -> None:
    assert dock.run() is None
    assert "No raster layer" in dock.run_box.status_label.text()
    assert any("No raster layer" in m for m in qgis_iface.messageBar().get_messages(1))


def test_selected_polygons_without_selection_is_reported(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, "afai")
    areas = QgsVectorLayer("Polygon?crs=EPSG:32620", "areas", "memory")
    QgsProject.instance().addMapLayer(areas)
    dock.area_box.area_combo.setCurrentIndex(dock.area_box.area_combo.findData("polygons"))
    dock.area_box.polygon_combo.setLayer(areas)
    assert dock.run() is None
    assert "No polygon of 'areas' is selected" in dock.run_box.status_label.text()
    dock.area_box.area_combo.setCurrentIndex(0)


def test_dock_fits_its_default_width(scene, qgis_iface, dock) -> None:
    """The dock opens 340 px wide: all of it fits, with room for a vertical scroll bar, whatever it shows."""
    from qgis.PyQt.QtCore import QPoint, Qt
    from qgis.PyQt.QtWidgets import QApplication, QScrollArea, QStyle

    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    container = dock.widget()
    scroll = container.findChild(QScrollArea)
    body = scroll.widget()
    room = 340 - QApplication.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
    assert body.minimumSizeHint().width() <= room, body.minimumSizeHint().width()
    # The widest states: a model file, no engine (the install button), a GPU's name, a long error with a path.
    dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("file"))
    dock.engine_box.install_button.setVisible(True)
    dock.options_box.device_label.setText("→ NVIDIA GeForce RTX 4090 Laptop GPU (CUDA 12.4, 16 GiB)")
    dock._report("The engine could not read /home/someone/a/very/long/folder/name/T20PPC_20230417T144137_B04.jp2")
    try:
        assert body.minimumSizeHint().width() <= room, body.minimumSizeHint().width()
        assert container.minimumSizeHint().width() <= 340, container.minimumSizeHint().width()
        # At 340 px the settings button is there, inside the dock's visible part.
        qgis_iface.mainWindow().resizeDocks([dock], [340], Qt.Orientation.Horizontal)
        dock.resize(340, 900)
        wait_for(lambda: False, 0.2)
        button = dock.engine_box.settings_button
        assert button.isVisibleTo(dock) and not button.icon().isNull() and button.toolTip()
        right = button.mapTo(scroll.viewport(), QPoint(button.width(), 0)).x()
        assert 0 < right <= scroll.viewport().width(), (right, scroll.viewport().width())
        assert (
            dock.engine_box.install_button.mapTo(
                scroll.viewport(), QPoint(dock.engine_box.install_button.width(), 0)
            ).x()
            <= room
        )
        for name in ("run_button", "cancel_button", "export_shp_button", "export_gpkg_button"):
            widget = getattr(dock.run_box, name)
            assert widget.mapTo(container, QPoint(widget.width(), 0)).x() <= container.width(), name
    finally:
        dock.engine_box.install_button.setVisible(False)
        dock.model_box.model_combo.setCurrentIndex(dock.model_box.model_combo.findData("default"))
        dock.run_box.status_label.setText("")


def test_run_and_export_stay_in_view_on_a_short_screen(scene, qgis_iface, dock) -> None:
    """On a 1000 px high screen the dock gets about 700 px: the options scroll, Run and the exports do not."""
    from qgis.PyQt.QtCore import QPoint

    add_raster(scene.tif, qgis_iface)
    dock.resize(340, 560)
    wait_for(lambda: False, 0.2)
    container = dock.widget()
    for name in ("run_button", "progress", "export_shp_button", "export_gpkg_button"):
        widget = getattr(dock.run_box, name)
        bottom = widget.mapTo(container, QPoint(0, widget.height())).y()
        assert widget.isVisibleTo(dock) and 0 < bottom <= container.height(), (name, bottom, container.height())
    dock.resize(340, 900)


def test_polygons_area_does_not_preselect_a_result_layer(qgis_iface, dock) -> None:
    from sargasses_qgis.results import RESULT_PROPERTY

    rafts = QgsVectorLayer("Polygon?crs=EPSG:32620", "Sargassum rafts", "memory")
    rafts.setCustomProperty(RESULT_PROPERTY, "Sargassum · scene · 12:00:00")
    QgsProject.instance().addMapLayer(rafts)
    dock.area_box.area_combo.setCurrentIndex(dock.area_box.area_combo.findData("polygons"))
    assert dock.area_box.polygon_combo.currentLayer() is None  # only the plugin's own rafts: none chosen for the user
    dock.area_box.area_combo.setCurrentIndex(0)
    areas = QgsVectorLayer("Polygon?crs=EPSG:32620", "areas", "memory")
    QgsProject.instance().addMapLayer(areas)
    dock.area_box.area_combo.setCurrentIndex(dock.area_box.area_combo.findData("polygons"))
    assert dock.area_box.polygon_combo.currentLayer() is areas
    dock.area_box.area_combo.setCurrentIndex(0)


def test_three_band_rgb_layer_is_refused_in_plain_words(qgis_iface, dock, tmp_path: Path) -> None:
    """An RGB image: the message starts with a capital, names each missing band once, and does not suggest
    choosing other sources among three bands; the progress bar does not keep an earlier run's 100 %."""
    from osgeo import gdal
    from qgis.core import QgsCoordinateReferenceSystem

    path = tmp_path / "rgb.tif"
    rgb = gdal.GetDriverByName("GTiff").Create(str(path), 64, 64, 3, gdal.GDT_Byte)
    rgb.SetGeoTransform((600000.0, 10.0, 0.0, 1800000.0, 0.0, -10.0))
    rgb.SetProjection(QgsCoordinateReferenceSystem("EPSG:32620").toWkt())
    rgb = None
    layer = add_raster(path, qgis_iface, "photo")
    choose_layer(dock, layer, "afai")
    dock.run_box.progress.setValue(100)  # an earlier run's
    assert dock.run() is None
    text = dock.run_box.status_label.text()
    assert "The layer 'photo' lacks the band(s) B02" in text and "has 3 bands" in text
    assert all(text.count(band) == 1 for band in ("B02", "B8A", "B12")), text
    assert "Choose a source" not in text and "Use an image with these bands" in text
    assert dock.run_box.progress.value() == 0
