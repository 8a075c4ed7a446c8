"""Runs inside the real QGIS desktop (qgis --code week_drive.py) at 1366x768, driven by test_desktop_week.py.

What issue 20 found in a forecaster's first week, done as a user does it, with a screenshot of each:
the toolbar button in a fresh profile, the dock following the scene just added (its model card whole), the
question before the full engine is installed and the installer's width, and a fine-tune on false positives only.
Orders in SARGASSES_E2E_* variables; what it saw goes to SARGASSES_E2E_RESULT (JSON). qgis.* and stdlib only.
"""

import json
import os
import time

from drive_steps import detect_action, dock, fill_the_screen, finish, guarded, later, report, toolbar
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QMessageBox, QScrollArea
from qgis.utils import iface

SCENES = json.loads(os.environ["SARGASSES_E2E_SCENES"])  # [yesterday, today]: no Sargassum, green algae
SHOTS = os.environ["SARGASSES_E2E_SHOTS"]
state = {"started": time.monotonic()}


def shot(name):
    """The whole 1366x768 screen: dialogs included, and whatever would fall off it."""
    picture = QApplication.primaryScreen().grabWindow(0)
    report["shots"][name] = picture.save(os.path.join(SHOTS, name), "PNG")


def start():
    window = fill_the_screen()  # 1366x768
    bar = toolbar()
    report["toolbar_visible"] = bool(bar and bar.isVisible())
    report["raster_toolbar_visible"] = iface.rasterToolBar().isVisible()
    yesterday = iface.addRasterLayer(SCENES[0]["image"], "yesterday")
    iface.mapCanvas().setExtent(yesterday.extent())
    detect_action().trigger()  # the button, where a fresh profile shows it
    window.resizeDocks([dock()], [360], Qt.Orientation.Horizontal)
    later(toolbar_shot, 1500)


def toolbar_shot():
    shot("qgis_toolbar_button.png")
    report["first_layer"] = dock().image_box.layer().name()
    today = iface.addRasterLayer(SCENES[1]["image"], "today")  # becomes the active layer, as in QGIS
    dock().image_box.show_colours("false")
    iface.mapCanvas().setExtent(today.extent())
    later(wait_for_card, 500)


def wait_for_card():
    if dock().info_pending and time.monotonic() - state["started"] < 120:
        later(wait_for_card, 300)
        return
    report["dock_layer_after_adding"] = dock().image_box.layer().name()
    label = dock().model_box.card_label
    report["card"] = label.text()
    report["card_height"] = [label.height(), label.heightForWidth(label.width())]
    later(lambda: (shot("qgis_dock_follows_new_scene.png"), later(ask_full_engine, 300)), 1000)


def ask_full_engine():
    """The fine-tune's offer of the full engine: the question comes first; it is grabbed, then cancelled."""

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(100, answer)
            return
        report["question"] = box.text()
        QApplication.processEvents()
        shot("qgis_full_engine_question.png")
        next(b for b in box.buttons() if b.text().replace("&", "") == "Cancel").click()

    QTimer.singleShot(800, guarded(answer))
    dock().finetune_box.needsFullEngine.emit()  # what the message bar's button sends
    report["steps"].append("question answered")
    later(installer_width, 300)


def installer_width():
    from sargasses_qgis.ui.installer_dialog import InstallerDialog

    dialog = InstallerDialog(iface.mainWindow())
    dialog.show()
    line = (
        "Downloading nvidia_cudnn_cu12-9.10.2.21-py3-none-manylinux_2_27_x86_64.whl (706.8 MB) from the "
        "package index of this machine, with a path long enough to be cut: /home/forecaster/.local/share/QGIS/"
    )
    dialog.status.setText(line)
    dialog.log.appendPlainText("$ python -m pip install --disable-pip-version-check sargasses[full]\n" + line)
    state["dialog"] = dialog
    later(installer_shot, 800)


def installer_shot():
    dialog = state.pop("dialog")
    geometry = dialog.frameGeometry()
    report["installer_right"] = geometry.x() + geometry.width()
    shot("qgis_installer_fits.png")
    dialog.close()
    later(run_today, 300)


def run_today():
    dock().runFinished.connect(lambda task: later(lambda: detected(task), 500))
    dock().run_box.run_button.click()
    report["steps"].append("run")


def detected(task):
    dock().runFinished.disconnect()
    if task.outcome is None:
        finish(f"the run failed: {task.error}")
        return
    rafts = dock().last_layer
    report["detections"] = rafts.featureCount()
    rafts.selectAll()  # a clean day: none of these are rafts
    iface.setActiveLayer(rafts)
    report["marked"] = dock().finetune_box.mark_active("false_positive")
    box = dock().finetune_box
    box.setCollapsed(False)
    box.epochs.setValue(int(os.environ.get("SARGASSES_E2E_EPOCHS", "4")))
    box.finetuneFinished.connect(lambda task: later(lambda: tuned(task), 300))
    box.finetune_button.click()
    report["finetune_started"] = box.task is not None
    report["finetune_status"] = box.status_label.text()
    if box.task is None:
        finish(f"the fine-tune did not start: {box.status_label.text()}")
        return
    dock().findChild(QScrollArea).ensureWidgetVisible(box.status_label)


def tuned(task):
    report["finetune_error"] = task.error or None
    report["report"] = task.report
    later(wait_for_new_card, 300)


def wait_for_new_card():
    if dock().info_pending and time.monotonic() - state["started"] < 300:
        later(wait_for_new_card, 300)
        return
    later(finetune_shot, 800)


def finetune_shot():
    box = dock().finetune_box
    scroll = dock().findChild(QScrollArea)
    status = box.status_label
    top = status.mapTo(scroll.widget(), status.rect().topLeft()).y() - scroll.verticalScrollBar().value()
    report["status_in_view"] = 0 <= top <= scroll.viewport().height()
    report["status"] = status.text()
    report["model_choice"] = dock().model_box.model_combo.currentText()
    shot("qgis_finetune_negatives.png")
    finish(task_error())


def task_error():
    return report.get("finetune_error")


QTimer.singleShot(420_000, lambda: finish("timed out"))
later(start, 1000)
