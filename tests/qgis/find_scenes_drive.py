"""Runs inside the real QGIS desktop (qgis --code find_scenes_drive.py), driven by test_find_scenes.py.

The search-to-rafts flow as a user has it: the map over their coast, Find scenes filled in (catalogue, dates),
then three clicks: Search, the first item, Detect (and Add as layer, to see the scene under the rafts). Saves a
screenshot of the window with the list's thumbnails and the rafts on the map to SARGASSES_E2E_SHOTS/qgis_find_scenes.png.
QGIS's own Python runs this file; it uses qgis.* and the standard library only.
"""

import json
import os
import time

from drive_steps import detect_action, dock, fill_the_screen, finish, later, report
from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject, QgsRectangle
from qgis.PyQt.QtCore import QDate, Qt
from qgis.utils import iface

WORLD = json.loads(os.environ["SARGASSES_E2E_SCENES"])  # stac_servers.py's world: its URLs and items
SHOT = os.path.join(os.environ["SARGASSES_E2E_SHOTS"], "qgis_find_scenes.png")
state = {"started": time.monotonic()}


def open_dock():
    fill_the_screen()
    detect_action().trigger()
    iface.mainWindow().resizeDocks([dock()], [360], Qt.Orientation.Horizontal)
    canvas = iface.mapCanvas()
    utm = QgsCoordinateReferenceSystem("EPSG:32620")
    canvas.setDestinationCrs(utm)
    west, south, east, north = WORLD["lonlat"]
    to_utm = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), utm, QgsProject.instance())
    box = to_utm.transformBoundingBox(QgsRectangle(west, south, east, north))
    canvas.setExtent(box.buffered(-box.width() / 10))  # the user's coast: a little inside the tile
    canvas.refresh()
    section = dock().scenes_box
    section.catalogue_combo.setCurrentText(WORLD["api"])
    section.collection_edit.setText(WORLD["collection"])
    section.start_date.setDate(QDate(2024, 6, 20))
    section.end_date.setDate(QDate(2024, 6, 30))
    section.cloud_spin.setValue(100)
    dock().scroll.ensureWidgetVisible(section.search_button)
    later(search, 1000)


def search():
    dock().scenes_box.search_button.click()  # click 1
    report["steps"].append("search")
    later(wait_for_items, 300)


def wait_for_items():
    section = dock().scenes_box
    tree = section.items_tree
    icons = [not tree.topLevelItem(i).icon(0).isNull() for i in range(tree.topLevelItemCount())]
    if (section.task is not None or not icons or not all(icons)) and time.monotonic() - state["started"] < 120:
        later(wait_for_items, 300)
        return
    report["rows"] = [[tree.topLevelItem(i).text(c) for c in range(4)] for i in range(tree.topLevelItemCount())]
    report["thumbnails"] = sum(icons)
    report["search_status"] = section.status_label.text()
    tree.topLevelItem(0).setSelected(True)  # click 2
    report["steps"].append("select")
    report["added"] = len(section.add_selected_layers())  # not one of the three: to see the scene under the rafts
    dock().runFinished.connect(lambda task: later(lambda: finished(task), 1500))
    section.detect_button.click()  # click 3
    report["steps"].append("detect")


def finished(task):
    report["error"] = task.error or None
    if task.outcome is not None:
        report["features"] = dock().last_layer.featureCount()
        report["summary"] = task.outcome.summary
        report["output"] = str(task.outcome.output)
    dock().scroll.ensureWidgetVisible(dock().scenes_box.add_button)
    iface.mapCanvas().refreshAllLayers()
    later(screenshot, 2500)


def screenshot():
    iface.mapCanvas().waitWhileRendering()
    report["screenshot"] = iface.mainWindow().grab().save(SHOT, "PNG")
    finish(report.get("error"))


later(lambda: finish("timed out"), 240_000)
later(open_dock, 1000)
