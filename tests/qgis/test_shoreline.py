"""Rafts by the shore in QGIS (issue 19 item 4): a scene with a coast, run from the dock through the real engine;
its rafts are drawn by their setting, and "Hide shoreline rafts" hides exactly those the GeoPackage says lie on the
shoreline, with an honest count, in a project saved and read again."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import add_raster, choose_layer, run_and_wait, run_core_script
from qgis.core import (
    QgsExpressionContextUtils,
    QgsFeatureRequest,
    QgsProject,
    QgsRenderContext,
    QgsVectorLayer,
)

from sargasses_qgis import shore_filter


@pytest.fixture(scope="module")
def coast(engine_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The clean scene of seed 7 with land along its east edge, a raft against the land and one 600 m off it."""
    return run_core_script("make_coast_scene.py", tmp_path_factory.mktemp("coast"))


def run_on_the_coast(coast: dict, qgis_iface, dock):
    """The AFAI baseline (its answer does not change with the bundled model) on the coast scene, from the dock."""
    choose_layer(dock, add_raster(Path(coast["tif"]), qgis_iface), "afai")
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    return task, dock.last_layer


def settings_in_the_file(path: Path) -> dict[int, str]:
    """Raft id -> setting, read from the GeoPackage the engine wrote (not through the result layer)."""
    layer = QgsVectorLayer(str(path), "file", "ogr")
    assert layer.isValid()
    return {int(f["id"]): str(f["setting"]) for f in layer.getFeatures()}


def setting_rule(layer: QgsVectorLayer, feature) -> str:
    """The label of the top rule (one per setting) that draws `feature` in the layer's style."""
    renderer = layer.renderer().clone()
    context = QgsRenderContext()
    context.expressionContext().appendScope(QgsExpressionContextUtils.layerScope(layer))
    renderer.startRender(context, layer.fields())
    try:
        context.expressionContext().setFeature(feature)
        keys = set(renderer.legendKeysForFeature(feature, context))
    finally:
        renderer.stopRender(context)
    drawing = [rule.label() for rule in renderer.rootRule().children() if rule.ruleKey() in keys]
    assert len(drawing) == 1, drawing
    return drawing[0]


RULE_OF = {
    "open_water": "Open water",
    "nearshore": "Nearshore (land within 1 km)",
    "shoreline": "On the shoreline: probably surf or beach",
}


def test_rafts_by_the_shore_are_drawn_by_their_setting(coast, qgis_iface, dock) -> None:
    task, rafts = run_on_the_coast(coast, qgis_iface, dock)
    in_file = settings_in_the_file(task.outcome.output)
    assert set(in_file.values()) == set(RULE_OF)  # rafts on open sea, and the two planted by the land
    assert sum(s == "shoreline" for s in in_file.values()) == 1 and task.outcome.summary["rafts_by_setting"] == {
        name: sum(s == name for s in in_file.values()) for name in RULE_OF
    }
    shoreline = next(f for f in rafts.getFeatures() if f["setting"] == "shoreline")
    assert shoreline["shore_m"] == pytest.approx(20.0, rel=0.01)  # next to the land: one 20 m pixel
    drawn = {int(f["id"]): setting_rule(rafts, f) for f in rafts.getFeatures()}
    assert drawn == {raft: RULE_OF[setting] for raft, setting in in_file.items()}


def test_hide_shoreline_rafts_hides_exactly_them_and_survives_the_project(coast, qgis_iface, dock, tmp_path) -> None:
    task, rafts = run_on_the_coast(coast, qgis_iface, dock)
    toggle = dock.run_box.shore_toggle
    in_file = settings_in_the_file(task.outcome.output)
    kept = {raft for raft, setting in in_file.items() if setting != "shoreline"}
    shore = len(in_file) - len(kept)
    try:
        assert toggle.check.isEnabled() and not toggle.check.isChecked()
        assert toggle.count_label.text() == f"{len(in_file)} rafts, {shore} on the shoreline"
        toggle.check.click()
        assert {int(f["id"]) for f in rafts.getFeatures()} == kept
        assert toggle.count_label.text() == f"{len(kept)} rafts shown, {shore} on the shoreline hidden"
        toggle.check.click()
        assert rafts.subsetString() == "" and rafts.featureCount() == len(in_file)
        # The user's own filter (Layer > Filter) stays, and the count is of the shoreline rafts it keeps.
        rafts.setSubsetString('"id" > 1')
        toggle.check.click()
        assert {int(f["id"]) for f in rafts.getFeatures()} == kept - {1}
        shore_over_1 = sum(s == "shoreline" for r, s in in_file.items() if r > 1)
        assert toggle.count_label.text() == f"{len(kept - {1})} rafts shown, {shore_over_1} on the shoreline hidden"
        toggle.check.click()
        assert rafts.subsetString() == '"id" > 1' and rafts.featureCount() == len(in_file) - 1
        rafts.setSubsetString("")
        toggle.check.click()
        # Saved and read again: the layer is still filtered.
        project_file = tmp_path / "coast.qgz"
        assert QgsProject.instance().write(str(project_file))
        QgsProject.instance().clear()
        assert toggle.count_label.text() == "" and not toggle.check.isEnabled()  # no count of a layer gone
        assert QgsProject.instance().read(str(project_file))
        (again,) = QgsProject.instance().mapLayersByName("Sargassum rafts")
        assert shore_filter.shoreline_hidden(again) and {int(f["id"]) for f in again.getFeatures()} == kept
        request = QgsFeatureRequest().setFilterExpression(shore_filter.ON_SHORELINE)
        assert not list(again.getFeatures(request)) and shore_filter.shoreline_count(again) == shore
    finally:
        toggle.check.setChecked(False)  # the box lives across the session's tests
