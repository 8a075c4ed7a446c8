"""What the scripts that drive the real desktop share (desktop_drive.py, week_drive.py, finetune_drive.py: QGIS runs
them with --code; run_desktop puts this folder on PYTHONPATH): the report written to SARGASSES_E2E_RESULT at the
end, steps that end the run on their first error instead of leaving QGIS open, the window over the whole screen
and the plugin's toolbar button. QGIS's own Python imports it: qgis.* and the standard library only.
"""

import json
import os
import traceback

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QDockWidget, QToolBar
from qgis.utils import iface, plugins

report: dict = {"steps": [], "shots": {}}  # what the drive saw; the test reads it


def finish(error=None):
    if error:
        report["error"] = error
    with open(os.environ["SARGASSES_E2E_RESULT"], "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2, default=str)
    QgsApplication.exit(0 if not error else 1)


def guarded(step):
    def run():
        try:
            step()
        except Exception:
            finish(traceback.format_exc())

    return run


def later(step, ms=200):
    QTimer.singleShot(ms, guarded(step))


def dock():
    return plugins["sargasses_qgis"].dock


def fill_the_screen():
    """The main window over the whole screen (Xvfb has no window manager to maximise it), the Browser hidden."""
    window = iface.mainWindow()
    window.setGeometry(QApplication.primaryScreen().geometry())
    for panel in window.findChildren(QDockWidget):
        if panel.objectName() == "Browser":
            panel.hide()  # more room for the map in the screenshots
    return window


def toolbar():
    return iface.mainWindow().findChild(QToolBar, "SargassesToolbar")


def detect_action():
    """The plugin's button on its toolbar (None when it is not there)."""
    bar = toolbar()
    actions = [a for a in bar.actions() if a.objectName() == "sargassesDetectAction"] if bar else []
    return actions[0] if actions else None
