"""A finished run in the project: the rafts (styled), the probabilities (optional), in a group named after the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import QgsLayerTreeGroup, QgsProject, QgsRasterLayer, QgsVectorLayer

from .detection_run import DetectionOutcome
from .log import log_warning
from .paths import resource

RAFTS_STYLE = "rafts.qml"
PROBABILITIES_STYLE = "probabilities.qml"
RESULT_PROPERTY = "sargasses/run"  # custom property on result layers: the layer context menu's export acts on them


def is_result(layer) -> bool:
    """A layer this plugin added: the rafts, probabilities or cover of a run."""
    return bool(layer.customProperty(RESULT_PROPERTY))


def add_result_layers(
    outcome: DetectionOutcome, run_name: str, project: QgsProject | None = None
) -> tuple[QgsLayerTreeGroup, QgsVectorLayer, QgsRasterLayer | None]:
    project = project or QgsProject.instance()
    rafts = QgsVectorLayer(str(outcome.output), "Sargassum rafts", "ogr")
    if not rafts.isValid():
        raise RuntimeError(f"the result {outcome.output} cannot be read")
    style_rafts(rafts)
    rafts.setCustomProperty(RESULT_PROPERTY, run_name)
    probabilities = _result_raster(outcome.probabilities, "Sargassum probability", run_name)
    coverage = _result_raster(outcome.coverage, "Sargassum cover", run_name)
    root = project.layerTreeRoot()
    group = root.insertGroup(0, run_name)
    for layer in (rafts, probabilities, coverage):
        if layer is not None:
            project.addMapLayer(layer, False)
            group.addLayer(layer)
    return group, rafts, probabilities


def _result_raster(path: Path | None, name: str, run_name: str) -> QgsRasterLayer | None:
    """A run's raster (probability or cover, both 0-1) with the colour ramp, or None when there is none."""
    if path is None or not path.exists():
        return None
    layer = QgsRasterLayer(str(path), name, "gdal")
    if not layer.isValid():
        log_warning(f"the raster {path} cannot be read")
        return None
    apply_style(layer, PROBABILITIES_STYLE)
    layer.setCustomProperty(RESULT_PROPERTY, run_name)
    return layer


def style_rafts(layer: QgsVectorLayer) -> None:
    """The rafts style (resources/rafts.qml) on a layer of rafts: the dock's and Processing's output alike."""
    apply_style(layer, RAFTS_STYLE)


def apply_style(layer, name: str) -> None:
    """A style of resources/ on a layer; a missing or broken style leaves QGIS's default (and says so in the log)."""
    path = resource(name)
    if not path.is_file():
        log_warning(f"style {path} is missing; the layer keeps QGIS's default style")
        return
    message, ok = layer.loadNamedStyle(str(path))
    if not ok:
        log_warning(f"style {path} could not be applied: {message}")
    layer.triggerRepaint()


# The keys of the engine's run summary (what run_detection returns, plus the engine's own) that the plugin reads.
# They are documented in docs/engine_protocol.md ("The run summary"); the plugin cannot import sargasses, so
# tests/core/test_summary.py checks that each is a field of sargasses.outputs.summary.EngineSummary.
SUMMARY_KEYS = ("rafts", "total_area_km2", "covered_area_km2", "device", "device_name", "engine_run", "warnings")
# Added by the plugin itself when a run is clipped to polygons (detection_run.clip_to_area), not by the engine.
CLIPPED_KEYS = ("rafts_in_area", "area_km2_in_area")


def raft_count(summary: dict[str, Any]) -> int:
    """The rafts kept: those inside the chosen polygons when the run was clipped to them, else all it found."""
    value = summary.get("rafts_in_area") if "rafts_in_area" in summary else summary.get("rafts")
    return int(value or 0)


def raft_area_km2(summary: dict[str, Any]) -> float:
    """Their area in km²; 0 where the summary has none (a raster without CRS measures in pixels)."""
    value = summary.get("area_km2_in_area") if "area_km2_in_area" in summary else summary.get("total_area_km2")
    return float(value or 0.0)


def covered_area_km2(summary: dict[str, Any]) -> float:
    """The area the rafts cover (the sum of fractional cover, the whole run); 0 in pixel units."""
    return float(summary.get("covered_area_km2") or 0.0)


def summary_text(outcome: DetectionOutcome, device_name: str = "") -> str:
    """One line for the message bar: rafts, km², device, time."""
    summary = outcome.summary
    count = raft_count(summary)
    device = device_name or str(summary.get("device_name") or summary.get("device") or "?")
    warm = " (warm engine)" if int(summary.get("engine_run") or 1) > 1 else ""
    covered = summary.get("covered_area_km2")
    cover = f" ({float(covered):.4g} km² covered)" if covered is not None and "area_km2_in_area" not in summary else ""
    return (
        f"{count} raft{'s' if count != 1 else ''}, {raft_area_km2(summary):.4g} km²{cover}, "
        f"on {device}, in {outcome.seconds:.1f} s{warm}"
    )
