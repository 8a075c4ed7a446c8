"""Runs inside the real QGIS desktop (qgis --code finetune_drive.py), driven by test_desktop_finetune.py.

Does what a user teaching the model their coast does: for each scene, runs a detection from the dock, selects the
rafts on the green algae and clicks "Mark selected as false positive" in the layer's menu; draws a missed raft;
takes a screenshot of the labelling, presses Fine-tune, takes one of its progress, and one of its outcome.
Reads its orders from SARGASSES_E2E_* variables and writes what it saw to SARGASSES_E2E_RESULT (JSON).
"""

import json
import os
import time

from drive_steps import detect_action, dock, fill_the_screen, finish, later, report
from qgis.core import (
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsVectorLayerUtils,
)
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QScrollArea
from qgis.utils import iface, plugins

SCENES = json.loads(os.environ["SARGASSES_E2E_SCENES"])
SHOTS = os.environ["SARGASSES_E2E_SHOTS"]  # a folder: labelling.png, finetune_progress.png, finetune_done.png
report["marked"] = 0
state = {"started": time.monotonic(), "index": 0}


def shot(name):
    iface.mapCanvas().waitWhileRendering()
    path = os.path.join(SHOTS, name)
    report["shots"][name] = iface.mainWindow().grab().save(path, "PNG")


def start():
    fill_the_screen()  # 1600x1000
    detect_action().trigger()
    iface.mainWindow().resizeDocks([dock()], [430], Qt.Orientation.Horizontal)
    dock().finetune_box.setCollapsed(False)
    later(next_scene, 300)


def next_scene():
    scene = SCENES[state["index"]]
    from sargasses_qgis.scene_style import show_true_colour

    layer = iface.addRasterLayer(scene["image"], f"Sentinel-2 {scene['date']}")
    show_true_colour(layer)
    dock().image_box.layer_combo.setLayer(layer)
    later(wait_for_card, 300)


def wait_for_card():
    if dock().info_pending and time.monotonic() - state["started"] < 180:
        later(wait_for_card, 300)
        return
    state["connection"] = dock().runFinished.connect(lambda task: later(lambda: detected(task), 300))
    dock().run_box.run_button.click()


def detected(task):
    dock().runFinished.disconnect()
    if task.outcome is None:
        finish(f"detection failed: {task.error}")
        return
    scene = SCENES[state["index"]]
    rafts = dock().last_layer
    ids = set()
    for x, y in scene["centres_xy"]:  # the rafts a user clicks on the green patches
        box = QgsRectangle(x - 60, y - 60, x + 60, y + 60)
        ids |= {f.id() for f in rafts.getFeatures(QgsFeatureRequest().setFilterRect(box))}
    rafts.selectByIds(sorted(ids))
    iface.setActiveLayer(rafts)
    [mark] = [a for a in plugins["sargasses_qgis"].layer_actions if a.objectName() == "sargassesMark_false_positive"]
    mark.trigger()
    report["marked"] += len(ids)
    report["steps"].append(f"marked {len(ids)} on {scene['date']}")
    state["index"] += 1
    if state["index"] < len(SCENES):
        later(next_scene, 300)
    else:
        later(draw_missed_raft, 300)


def draw_missed_raft():
    labels = dock().finetune_box.open_labels()  # editing, with the add-polygon tool on
    x, y = SCENES[-1]["centres_xy"][0]  # in the scene's CRS; the map tool gives the labels' CRS
    polygon = QgsGeometry.fromRect(QgsRectangle(x + 300, y + 300, x + 380, y + 340))
    raster = next(n.layer() for n in QgsProject.instance().layerTreeRoot().findLayers() if is_last_scene(n.layer()))
    polygon.transform(QgsCoordinateTransform(raster.crs(), labels.crs(), QgsProject.instance()))
    drawn = QgsVectorLayerUtils.createFeature(labels, polygon, {}, labels.createExpressionContext())
    report["drawn_scene"] = drawn["scene"]  # what the form pre-fills: the scene under the polygon
    labels.addFeature(drawn)
    labels.commitChanges()
    report["labels_text"] = dock().finetune_box.labels_label.text()
    dock().finetune_box.refresh()
    show_only(SCENES[-1], labels)
    later(labelling_shot, 1500)


def is_last_scene(layer) -> bool:
    return layer.source() == SCENES[-1]["image"]


def show_only(scene, labels):
    """The last scene under the labels and the areas looked at, the dock scrolled to its "Your coast" section."""
    from sargasses_qgis import labelling

    root = QgsProject.instance().layerTreeRoot()
    keep = {labels.id()}
    for node in root.findLayers():
        layer = node.layer()
        if layer.customProperty(labelling.STORE_PROPERTY) or layer.source() == scene["image"]:
            keep.add(layer.id())
    for node in root.findLayers():
        node.setItemVisibilityChecked(node.layer().id() in keep)
        if node.layer().id() in keep:
            parent = node.parent()
            while parent is not None:
                parent.setItemVisibilityChecked(True)
                parent = parent.parent()
    [raster] = [n.layer() for n in root.findLayers() if n.layer().source() == scene["image"]]
    iface.mapCanvas().setExtent(raster.extent())
    iface.mapCanvas().refresh()
    dock().findChild(QScrollArea).ensureWidgetVisible(dock().finetune_box)


def labelling_shot():
    shot("qgis_labelling.png")
    box = dock().finetune_box
    box.epochs.setValue(int(os.environ.get("SARGASSES_E2E_EPOCHS", "4")))
    box.finetuneFinished.connect(lambda task: later(lambda: tuned(task), 800))
    box.task_messages = []
    box.finetune_button.click()
    box.task.message.connect(lambda m: progress_seen(m))
    report["steps"].append("fine-tune")


def progress_seen(message):
    report.setdefault("progress", []).append(message)
    dock().findChild(QScrollArea).ensureWidgetVisible(dock().finetune_box.status_label)
    if message.startswith("epoch 2/") and "qgis_finetune_progress.png" not in report["shots"]:
        later(lambda: shot("qgis_finetune_progress.png"), 50)


def tuned(task):
    box = dock().finetune_box
    report["finetune_error"] = task.error or None
    report["report"] = task.report
    report["status"] = box.status_label.text()
    report["model_path"] = dock().model_box.model_path()
    report["model_choice"] = dock().model_box.model_combo.currentText()
    later(lambda: (shot("qgis_finetune_done.png"), finish(task.error or None)), 1000)


QTimer.singleShot(480_000, lambda: finish("timed out"))
later(start, 1000)
