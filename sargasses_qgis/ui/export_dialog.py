"""Asking where to export a result layer (QGIS's file dialog asks before overwriting), then writing it."""

from __future__ import annotations

import re
from pathlib import Path

from qgis.core import Qgis, QgsSettings, QgsVectorLayer
from qgis.PyQt.QtWidgets import QFileDialog

from ..labelling import DATE_PROPERTY, SCENE_PROPERTY
from ..log import log_info
from ..vector_export import FORMATS, ExportError, export_layer

_LAST_DIR = "sargasses/export_dir"


def export_stem(layer: QgsVectorLayer) -> str:
    """The name an export proposes: the scene and date of the run (`scene_0031_2023-04-17_rafts`), else the
    layer's name, so that two days' exports do not share one name."""
    scene = Path(str(layer.customProperty(SCENE_PROPERTY) or "")).stem
    date = str(layer.customProperty(DATE_PROPERTY) or "")[:10]
    parts = [scene, date] if scene else [layer.name()]
    stem = re.sub(r"[^0-9A-Za-z_.-]+", "_", "_".join(p for p in parts if p)).strip("_.")
    return f"{stem}_rafts" if stem else "sargassum_rafts"


def export_with_dialog(iface, layer: QgsVectorLayer, kind: str) -> Path | None:
    _, file_filter = FORMATS[kind]
    settings = QgsSettings()
    start = Path(settings.value(_LAST_DIR, str(Path.home()))) / f"{export_stem(layer)}.{kind}"
    path, _ = QFileDialog.getSaveFileName(iface.mainWindow(), f"Export {layer.name()}", str(start), file_filter)
    if not path:
        return None
    try:
        written = export_layer(layer, path, kind)
    except ExportError as exc:
        iface.messageBar().pushMessage("Sargasses", str(exc), Qgis.MessageLevel.Critical, 0)
        return None
    settings.setValue(_LAST_DIR, str(written.parent))
    log_info(f"exported {layer.name()} to {written}")
    iface.messageBar().pushMessage(
        "Sargasses", f"Exported {layer.featureCount()} rafts to {written}", Qgis.MessageLevel.Success, 6
    )
    return written
