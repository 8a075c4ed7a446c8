"""A monitoring folder (`sargasses monitor`, docs/monitoring.md) loaded into the project as time series.

Why temporal layers: the Temporal Controller then plays the days: the rafts layer shows each raft at its scene's
acquisition date-time (instant from the `datetime` field), the grid is one raster layer per time step (a band of
grid.nc each, with that step's fixed range: QGIS 3.22's rasters have no per-band time), and the scenes layer is
coloured by status so "not observed" (failed, skipped, cloud) shows beside "no raft".
"""

from __future__ import annotations

import datetime as dt
import os
import re

from qgis.core import (
    Qgis,
    QgsCategorizedSymbolRenderer,
    QgsColorRampShader,
    QgsDateTimeRange,
    QgsLayerTreeGroup,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererCategory,
    QgsSingleBandPseudoColorRenderer,
    QgsSymbol,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
from qgis.PyQt.QtGui import QColor

STATUS_COLOURS = {"done": "#2b83ba", "skipped": "#bdbdbd", "failed": "#d7191c"}
_BAND_TIME = re.compile(r"time=(-?\d+(?:\.\d+)?)")  # GDAL's band name: "Band 01: time=19463 (days since 1970-01-01)"
EPOCH = dt.date(1970, 1, 1)
COVER_TOP = 0.2
COVER_RAMP = ((0.0, "#30123b", "0 (seen, no raft)"), (0.05, "#1fa187", "5 %"), (COVER_TOP, "#fde725", "20 % and more"))
# QGIS's OGR provider shares one GDAL dataset among the layers of a GeoPackage opened with the same open options; on
# that shared dataset, the count QGIS runs for a layer with a subset string fails in SQLite ("unable to open database
# file": featureCount() -1, QGIS 3.22 / GDAL 3.6) once a second layer of the file is open, which "New since the
# previous pass" needs. An open option (harmless: it only hides non-spatial tables from listings) gives the rafts
# layer a dataset of its own.
OWN_CONNECTION = "|option:LIST_ALL_TABLES=NO"


class NotAMonitoringFolder(ValueError):
    """The folder has no catalogue.gpkg: it was not made by `sargasses monitor`."""


def load_monitoring_folder(folder: str, project: QgsProject | None = None) -> dict[str, object]:
    """Add the folder's scenes, rafts and grid steps to `project` in one group; returns them by name."""
    project = project or QgsProject.instance()
    catalogue = os.path.join(folder, "catalogue.gpkg")
    if not os.path.isfile(catalogue):
        raise NotAMonitoringFolder(f"{folder} has no catalogue.gpkg: choose a folder written by sargasses monitor")
    group = project.layerTreeRoot().insertGroup(0, f"Monitoring: {os.path.basename(os.path.normpath(folder))}")
    scenes = _add(project, group, QgsVectorLayer(f"{catalogue}|layername=scenes", "scenes (by status)", "ogr"))
    _style_by_status(scenes)
    rafts = _add(project, group, QgsVectorLayer(f"{catalogue}|layername=rafts{OWN_CONNECTION}", "rafts", "ogr"))
    props = rafts.temporalProperties()
    props.setMode(Qgis.VectorTemporalMode.FeatureDateTimeInstantFromField)
    props.setStartField("datetime")
    props.setIsActive(True)
    steps = _grid_steps(project, group, os.path.join(folder, "grid.nc"))
    return {"folder": folder, "scenes": scenes, "rafts": rafts, "grid": steps}


def _add(project: QgsProject, group: QgsLayerTreeGroup, layer):
    if not layer.isValid():
        raise NotAMonitoringFolder(f"cannot open {layer.source()}: the catalogue is damaged or from another tool")
    project.addMapLayer(layer, False)
    group.addLayer(layer)
    return layer


def _style_by_status(layer: QgsVectorLayer) -> None:
    categories = []
    for status, colour in STATUS_COLOURS.items():
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        fill = QColor(colour)
        fill.setAlpha(60)
        symbol.setColor(fill)
        symbol.symbolLayer(0).setStrokeColor(QColor(colour))
        categories.append(QgsRendererCategory(status, symbol, status))
    layer.setRenderer(QgsCategorizedSymbolRenderer("status", categories))


def _grid_steps(project: QgsProject, group: QgsLayerTreeGroup, path: str) -> list[QgsRasterLayer]:
    """One layer per band of grid.nc's cover_fraction, each visible over its own step (day, week or month)."""
    if not os.path.isfile(path):
        return []
    source = f'NETCDF:"{path}":cover_fraction'
    probe = QgsRasterLayer(source, "grid", "gdal")
    if not probe.isValid():
        return []
    starts = [_band_date(probe, band) for band in range(1, probe.bandCount() + 1)]
    sub = group.addGroup("grid: cover fraction per step")
    layers = []
    for band, start in enumerate(starts, start=1):
        if start is None:
            continue
        end = starts[band] if band < len(starts) and starts[band] else start + dt.timedelta(days=1)
        layer = QgsRasterLayer(source, f"cover {start.isoformat()}", "gdal")
        layer.setRenderer(_cover_renderer(layer, band))
        props = layer.temporalProperties()
        props.setMode(Qgis.RasterTemporalMode.FixedTemporalRange)
        # both ends open: the Temporal Controller's frames include both their ends, so a step closed at either end
        # would show in the frame before or after it too
        props.setFixedTemporalRange(QgsDateTimeRange(_qdatetime(start), _qdatetime(end), False, False))
        props.setIsActive(True)
        project.addMapLayer(layer, False)
        sub.addLayer(layer)
        layers.append(layer)
    return layers


def _cover_renderer(layer: QgsRasterLayer, band: int) -> QgsSingleBandPseudoColorRenderer:
    """Cover 0 (water seen, no raft) dark blue to 20 % and more yellow; NaN (not seen) transparent."""
    ramp = QgsColorRampShader(0.0, COVER_TOP)
    ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
    ramp.setColorRampItemList(
        [QgsColorRampShader.ColorRampItem(value, QColor(colour), label) for value, colour, label in COVER_RAMP]
    )
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    return QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)


def _band_date(layer: QgsRasterLayer, band: int) -> dt.date | None:
    match = _BAND_TIME.search(layer.dataProvider().generateBandName(band))
    return EPOCH + dt.timedelta(days=float(match.group(1))) if match else None


def _qdatetime(day: dt.date) -> QDateTime:
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.UTC)


def ask_and_load(iface) -> dict[str, object] | None:
    """The menu action: choose a folder, then `load_and_tell`."""
    from qgis.PyQt.QtWidgets import QFileDialog

    folder = QFileDialog.getExistingDirectory(iface.mainWindow(), "Monitoring folder (sargasses monitor)")
    return load_and_tell(iface, folder) if folder else None


def load_and_tell(iface, folder: str) -> dict[str, object] | None:
    """Load `folder`, say what was loaded or why not; its layers (None when refused)."""
    try:
        loaded = load_monitoring_folder(folder)
    except NotAMonitoringFolder as exc:
        iface.messageBar().pushWarning("Sargasses", str(exc))
        return None
    rafts, steps = loaded["rafts"].featureCount(), len(loaded["grid"])
    iface.messageBar().pushInfo(
        "Sargasses", f"{rafts} rafts and {steps} grid steps loaded: play the days with View > Temporal Controller"
    )
    return loaded
