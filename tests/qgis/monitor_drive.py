"""Runs inside the real QGIS desktop (qgis --code monitor_drive.py), driven by test_desktop_monitor.py.

A monitoring folder loaded as a user does (Plugins > Sargasses > Load a monitoring folder, here with its path): the
dock's Monitoring section with the sector plot and the passes, "New since the previous pass" ticked, the map on the
folder's scenes; one screenshot of the whole screen (docs/monitoring.md shows it). Orders in SARGASSES_E2E_*
variables (SCENES: [the folder]); what it saw goes to SARGASSES_E2E_RESULT (JSON). qgis.* and stdlib only.
"""

import json
import os

from drive_steps import detect_action, dock, fill_the_screen, finish, later, report
from qgis.core import QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication
from qgis.utils import iface, plugins

FOLDER = json.loads(os.environ["SARGASSES_E2E_SCENES"])[0]
SHOTS = os.environ["SARGASSES_E2E_SHOTS"]
NAME = "qgis_monitoring_section.png"


def start():
    window = fill_the_screen()
    detect_action().trigger()  # the dock, as the toolbar button opens it
    window.resizeDocks([dock()], [380], Qt.Orientation.Horizontal)
    loaded = plugins["sargasses_qgis"].load_monitoring(FOLDER)
    report["loaded"] = loaded is not None
    rafts = loaded["rafts"]
    report["rafts_all"] = rafts.featureCount()
    iface.mapCanvas().setExtent(loaded["scenes"].extent())
    box = dock().monitor_box
    box.new_check.setChecked(True)
    report["rafts_new"] = rafts.featureCount()
    report["subset"] = rafts.subsetString()
    report["passes"] = box.passes_label.text()
    root = QgsProject.instance().layerTreeRoot()
    for step in loaded["grid"]:  # the newest step's cover under its rafts (the Temporal Controller's last day)
        root.findLayer(step.id()).setItemVisibilityChecked(step is loaded["grid"][-1])
    later(scroll_to_the_section, 500)  # once the dock has laid the section out


def scroll_to_the_section():
    box = dock().monitor_box
    dock().scroll.ensureWidgetVisible(box, 0, 0)
    later(take_shot, 2000)  # the map drawn


def take_shot():
    box = dock().monitor_box
    report["section_visible"] = box.isVisible() and not box.visibleRegion().isEmpty()
    report["plot_width"] = box.plot.pixmap().width() if box.plot.pixmap() else 0
    picture = QApplication.primaryScreen().grabWindow(0)
    report["shots"][NAME] = picture.save(os.path.join(SHOTS, NAME), "PNG")
    finish()


QTimer.singleShot(180_000, lambda: finish("timed out"))
later(start, 1000)
