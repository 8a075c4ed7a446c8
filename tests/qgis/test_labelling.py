"""Marking detections and drawing missed rafts in QGIS, then fine-tuning from the dock, through the real engine.

The marks go through the plugin's own actions (the result layer's menu entries a user clicks), the drawn raft
through the labels layer's edit buffer with its default values (what the digitizing tool fills in).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, add_raster, choose_layer, run_and_wait, wait_for
from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsVectorLayerUtils,
)

from sargasses_qgis import labelling

SEEDS = (601, 602, 603)


@pytest.fixture(scope="module")
def coast(engine_python, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    folder = tmp_path_factory.mktemp("coast")
    helper = ROOT / "tests" / "core" / "finetune_helpers.py"
    done = subprocess.run(
        [engine_python, str(helper), str(folder), *map(str, SEEDS)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _action(plugin, kind: str):
    (action,) = [a for a in plugin.layer_actions if a.objectName() == f"sargassesMark_{kind}"]
    return action


def _select_on(rafts: QgsVectorLayer, centres_xy: list, tolerance_m: float = 60.0) -> list[int]:
    """Select the rafts at the given points, as a user clicks them with the select tool."""
    ids = set()
    for x, y in centres_xy:
        box = QgsRectangle(x - tolerance_m, y - tolerance_m, x + tolerance_m, y + tolerance_m)
        ids |= {f.id() for f in rafts.getFeatures(QgsFeatureRequest().setFilterRect(box))}
    rafts.selectByIds(sorted(ids))
    return sorted(ids)


def _draw(labels: QgsVectorLayer, xy: list, crs) -> QgsFeature:
    """A square drawn 200 m off `xy` (in `crs`, the map's), as the digitizing tool makes it: in the labels' CRS,
    with the layer's default values."""
    x, y = xy
    square = QgsGeometry.fromRect(QgsRectangle(x + 200, y + 200, x + 260, y + 260))
    square.transform(QgsCoordinateTransform(crs, labels.crs(), QgsProject.instance()))
    return QgsVectorLayerUtils.createFeature(labels, square, {}, labels.createExpressionContext())


def _kinds(path: Path) -> dict[str, int]:
    layer = QgsVectorLayer(f"{path}|layername=labels", "labels", "ogr")
    counts: dict[str, int] = {}
    for feature in layer.getFeatures():
        counts[feature["kind"]] = counts.get(feature["kind"], 0) + 1
    return counts


def test_mark_draw_and_finetune_from_the_dock(plugin, dock, coast, qgis_iface) -> None:
    store = labelling.labels_path()
    assert not store.exists()
    marked = 0
    for scene in coast:
        layer = add_raster(Path(scene["image"]), qgis_iface, f"scene {Path(scene['image']).stem}")
        choose_layer(dock, layer, "model")
        task = run_and_wait(dock)
        assert task.outcome is not None, task.error
        rafts = dock.last_layer
        selected = _select_on(rafts, scene["centres_xy"])
        assert selected, "the bundled model flagged none of the planted algae"
        qgis_iface.setActiveLayer(rafts)
        _action(plugin, "false_positive").trigger()
        marked += len(selected)
        counts = _kinds(store)
        assert counts.get("false_positive") == marked, counts
    looked = QgsVectorLayer(f"{store}|layername=looked_at", "looked", "ogr")
    assert looked.featureCount() == len(coast)
    assert {f["scene"] for f in looked.getFeatures()} == {str(Path(s["image"])) for s in coast}
    # every detection of a marked run is in the labels: the rest as Sargassum
    assert _kinds(store)["sargassum"] > 0

    # Drawing a missed raft: the new polygon gets the scene and date under it (not the last run's, when it is
    # drawn on an earlier scene), and kind Sargassum.
    labels = dock.finetune_box.open_labels()
    assert labels.name() == labelling.LABELS_NAME and labels.isEditable()
    for scene in (coast[0], coast[-1]):
        drawn = _draw(labels, scene["centres_xy"][0], dock.last_layer.crs())
        assert drawn["kind"] == "sargassum" and drawn["scene"] == str(Path(scene["image"]))
        assert drawn["date"] == scene["date"]
    assert labels.addFeature(drawn) and labels.commitChanges()
    digest = hashlib.sha256(store.read_bytes()).hexdigest()

    # Fine-tune from the dock: progress per epoch, a new model offered and chosen, before/after shown.
    dock.finetune_box.epochs.setValue(4)
    messages: list[str] = []
    finished = []
    dock.finetune_box.finetuneFinished.connect(finished.append)
    task = dock.finetune_box.finetune()
    assert task is not None, dock.finetune_box.status_label.text()
    task.message.connect(messages.append)
    assert wait_for(lambda: bool(finished), 600), "the fine-tune did not finish"
    assert task.report is not None, task.error
    assert any(m.startswith("epoch 4/4") for m in messages), messages
    new_model = Path(task.report["output"])
    assert new_model.is_file() and new_model.parent.name == "sargasses_models"
    assert dock.model_box.model_path() == str(new_model)
    assert dock.model_box.model_combo.findData("default") >= 0  # the parent stays in the list
    assert "F1" in dock.finetune_box.status_label.text()
    assert task.report["trained_on"]["false_positive"] > 0
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest  # the fine-tune only read the labels


def test_marking_needs_a_result_layer_and_a_selection(plugin, dock, coast, qgis_iface) -> None:
    layer = add_raster(Path(coast[0]["image"]), qgis_iface, "scene")
    other = QgsVectorLayer("Polygon?crs=EPSG:32620", "not a result", "memory")
    QgsProject.instance().addMapLayer(other)
    qgis_iface.setActiveLayer(other)
    before = _kinds(labelling.labels_path()) if labelling.labels_path().exists() else {}
    assert _action(plugin, "false_positive").trigger() is None
    assert "not the rafts of a Sargasses run" in dock.finetune_box.status_label.text()
    choose_layer(dock, layer, "model")
    task = run_and_wait(dock)
    assert task.outcome is not None
    dock.last_layer.removeSelection()
    qgis_iface.setActiveLayer(dock.last_layer)
    assert dock.finetune_box.mark_active("sargassum") == 0
    assert "no raft" in dock.finetune_box.status_label.text()
    after = _kinds(labelling.labels_path()) if labelling.labels_path().exists() else {}
    assert after == before
