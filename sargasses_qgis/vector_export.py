"""Export a result layer to a shapefile or a GeoPackage the user picks (dock button and layer context menu)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProject, QgsVectorFileWriter, QgsVectorLayer

FORMATS = {
    "shp": ("ESRI Shapefile", "ESRI Shapefile (*.shp)"),
    "gpkg": ("GPKG", "GeoPackage (*.gpkg)"),
}


class ExportError(Exception):
    pass


def attribute_indexes(layer: QgsVectorLayer) -> list[int]:
    """The layer's fields to write elsewhere: all but a GeoPackage's feature id (a field in QGIS), which a shapefile
    would get as a column beside `id`."""
    keys = set(layer.dataProvider().pkAttributeIndexes()) if layer.dataProvider() is not None else set()
    return [i for i, field in enumerate(layer.fields()) if not (i in keys and field.name() == "fid")]


def export_layer(layer: QgsVectorLayer, path: str | Path, kind: str) -> Path:
    """Write `layer` to `path` as `kind` ("shp" or "gpkg"); the caller asked before overwriting."""
    driver, _ = FORMATS[kind]
    path = Path(path)
    if path.suffix.lower() != f".{kind}":
        path = path.with_suffix(f".{kind}")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = driver
    options.fileEncoding = "UTF-8"
    options.layerName = path.stem
    options.actionOnExistingFile = QgsVectorFileWriter.ActionOnExistingFile.CreateOrOverwriteFile
    if kind == "shp":
        options.attributes = attribute_indexes(layer)
    result = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsProject.instance().transformContext(), options
    )
    error, message = result[0], result[1]
    if error != QgsVectorFileWriter.WriterError.NoError:
        raise ExportError(f"{layer.name()} could not be written to {path}: {message}")
    return path
