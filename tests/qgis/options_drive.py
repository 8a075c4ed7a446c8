"""Runs inside the real QGIS desktop (qgis --code options_drive.py), driven by test_options.py.

Opens QGIS's own Settings > Options, then the plugin's settings (the same dialog on the Sargasses page), closes
each, and writes every Python error and every warning of the message log to SARGASSES_OPTIONS_RESULT (JSON).
QGIS's own Python runs this file; it uses qgis.* and the standard library only.
"""

import json
import os
import sys
import traceback

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QWidget
from qgis.utils import iface, plugins

RESULT = os.environ["SARGASSES_OPTIONS_RESULT"]
report = {"errors": [], "log": [], "dialogs": []}


def excepthook(kind, value, tb):  # what QGIS would show the user in its Python error dialog
    report["errors"].append("".join(traceback.format_exception(kind, value, tb)))


def logged(message, tag, level):
    if level in (Qgis.MessageLevel.Warning, Qgis.MessageLevel.Critical) and tag in (
        "Python error",
        "Python warning",
        "Sargasses",
        "Plugins",
    ):
        report["log"].append(f"{tag}: {message}")


def finish():
    with open(RESULT, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2)
    QgsApplication.exit(0)


def close_dialog(name):
    dialog = QApplication.activeModalWidget()
    seen = {"opened_by": name, "open": dialog is not None}
    if dialog is not None:
        pages = [w for w in dialog.findChildren(QWidget) if w.objectName() == "sargassesOptions"]
        seen["sargasses_page"] = bool(pages)
        seen["sargasses_page_visible"] = any(page.isVisible() for page in pages)
        dialog.reject()
    report["dialogs"].append(seen)


def open_dialogs():
    sys.excepthook = excepthook
    report["plugin_loaded"] = "sargasses_qgis" in plugins
    QTimer.singleShot(1500, lambda: close_dialog("Settings > Options"))
    iface.actionOptions().trigger()  # modal: returns once close_dialog rejected it
    QTimer.singleShot(1500, lambda: close_dialog("the plugin's settings"))
    plugins["sargasses_qgis"].settings_action.trigger()
    QTimer.singleShot(300, finish)


QgsApplication.messageLog().messageReceived.connect(logged)
QTimer.singleShot(60_000, finish)
QTimer.singleShot(1000, open_dialogs)
