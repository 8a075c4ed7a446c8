"""Runs inside the real QGIS desktop (qgis --code desktop_drive.py), driven by test_desktop.py.

Does what a user does: opens a scene, clicks the plugin's toolbar action, runs from the dock (at its default width),
runs the Processing algorithm from its dialog, opens the plugin's Options page, and saves a screenshot of each:
SARGASSES_E2E_SCREENSHOT, and qgis_processing.png / qgis_options.png beside it.
Reads its orders from SARGASSES_E2E_* variables and writes what it saw to SARGASSES_E2E_RESULT (JSON).
QGIS's own Python runs this file; it uses qgis.* and the standard library only.
"""

import os
import time

from drive_steps import detect_action, fill_the_screen, finish, guarded, later, report
from qgis.core import QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QSplitter, QTextEdit
from qgis.utils import iface, plugins

SCENE = os.environ["SARGASSES_E2E_SCENE"]
METHOD = os.environ.get("SARGASSES_E2E_METHOD", "afai")
SHOT = os.environ["SARGASSES_E2E_SCREENSHOT"]
state = {"started": time.monotonic()}


def open_scene():
    report["plugin_loaded"] = "sargasses_qgis" in plugins
    fill_the_screen()
    layer = iface.addRasterLayer(SCENE, "Sentinel-2 scene")
    report["scene_valid"] = bool(layer and layer.isValid())
    from sargasses_qgis.scene_style import show_true_colour

    report["true_colour"] = show_true_colour(layer)
    iface.mapCanvas().setExtent(layer.extent())
    action = detect_action()
    report["toolbar_action"] = action is not None
    action.trigger()  # the toolbar button
    report["steps"].append("toolbar action")
    dock = plugins["sargasses_qgis"].dock
    iface.mainWindow().resizeDocks([dock], [340], Qt.Orientation.Horizontal)  # its default width
    later(wait_for_engine, 500)


def wait_for_engine():
    dock = plugins["sargasses_qgis"].dock
    dock.model_box.model_combo.setCurrentIndex(
        dock.model_box.model_combo.findData("default" if METHOD == "model" else METHOD)
    )
    later(wait_for_card, 300)


def wait_for_card():
    dock = plugins["sargasses_qgis"].dock
    if dock.info_pending and time.monotonic() - state["started"] < 120:
        later(wait_for_card, 300)
        return
    report["engine"] = dock.engine_box.engine_label.text()
    report["device"] = dock.options_box.device_label.text()
    report["card"] = dock.model_box.card_label.text()
    dock.runFinished.connect(lambda task: later(lambda: finished(task), 500))
    dock.run_box.run_button.click()
    report["steps"].append("run")


def finished(task):
    dock = plugins["sargasses_qgis"].dock
    report["status"] = dock.run_box.status_label.text()
    report["error"] = task.error or None
    if task.outcome is not None:
        rafts = dock.last_layer
        report["output"] = str(task.outcome.output)
        report["features"] = rafts.featureCount()
        report["crs"] = rafts.crs().authid()
        report["group"] = task.job.run_name
        report["group_found"] = QgsProject.instance().layerTreeRoot().findGroup(task.job.run_name) is not None
        report["summary"] = task.outcome.summary
        iface.setActiveLayer(rafts)
    iface.mapCanvas().refreshAllLayers()
    later(screenshot, 1500)


def screenshot():
    iface.mapCanvas().waitWhileRendering()
    report["screenshot"] = iface.mainWindow().grab().save(SHOT, "PNG")
    report["dock_width"] = plugins["sargasses_qgis"].dock.width()
    if report.get("error"):
        finish(report["error"])
        return
    later(open_processing)


def open_processing():
    """The algorithm's own dialog, as from the Processing Toolbox, run on the scene with its Run button's slot."""
    import processing

    layer = QgsProject.instance().mapLayersByName("Sentinel-2 scene")[0]
    output = os.path.join(os.path.dirname(SHOT), "processing_rafts.gpkg")
    parameters = {"INPUT": layer.id(), "METHOD": ["model", "afai", "fai"].index(METHOD), "OUTPUT": output}
    dialog = processing.createAlgorithmDialog("sargasses:detect", parameters)
    dialog.resize(760, 560)
    dialog.show()
    state["processing"] = dialog
    state["processing_started"] = time.monotonic()
    dialog.runAlgorithm()
    later(wait_for_processing, 500)


def wait_for_processing():
    dialog = state["processing"]
    log = "\n".join(edit.toPlainText() for edit in dialog.findChildren(QTextEdit))
    if "Results" not in log and " rafts, " not in log and time.monotonic() - state["processing_started"] < 120:
        later(wait_for_processing, 500)
        return
    report["processing_log"] = log
    report["processing_results"] = {k: str(v) for k, v in (dialog.results() or {}).items()}
    report["processing_screenshot"] = dialog.grab().save(os.path.join(os.path.dirname(SHOT), "qgis_processing.png"))
    dialog.close()
    later(open_options)


def open_options():
    """The plugin's settings: QGIS's Options dialog on the Sargasses page (modal: grabbed, then closed)."""
    QTimer.singleShot(1500, guarded(grab_options))
    plugins["sargasses_qgis"].settings_action.trigger()
    later(lambda: finish(report.get("error")), 300)


def grab_options():
    dialog = QApplication.activeModalWidget()
    report["options_open"] = dialog is not None
    if dialog is not None:
        dialog.resize(1000, 520)
        for splitter in dialog.findChildren(QSplitter):  # a fresh profile opens the page list collapsed
            if splitter.objectName() == "mOptionsSplitter":
                splitter.setSizes([230, 770])
        QApplication.processEvents()
        report["options_screenshot"] = dialog.grab().save(os.path.join(os.path.dirname(SHOT), "qgis_options.png"))
        dialog.reject()


QTimer.singleShot(240_000, lambda: finish("timed out"))
later(open_scene, 1000)
