"""The user's labels: one GeoPackage per project (or results folder) holding what they marked and drew.

What a fine-tune learns from (docs/training.md, "Fine-tuning on your own coast"). Two layers, in EPSG:4326 so
that one file holds scenes of any CRS (the engine reprojects each polygon onto its scene's grid):
- `labels`: polygons with `scene` (the raster the engine read), `kind` (sargassum | false_positive |
  not_sargassum), `date`, `author`, `created`, and `detection` (the detection it was copied from; empty when drawn);
- `looked_at`: the areas a user reviewed (`scene`, `run`, `date`, `author`, `created`). Inside them every pixel no
  label covers is *not Sargassum*; outside them, unlabelled pixels are left out of training.

Marking a detection of a run (as false positive or as Sargassum) says the run's area was reviewed: the first mark
records the area in `looked_at` and copies the run's detections into `labels` as Sargassum; a mark then sets the
kind of the copies of the selected detections. Missed rafts are drawn into the "Sargassum labels" layer.

The labels are the user's data: the file is created once (written under a temporary name, then linked into place,
never over an existing file) and then only edited through QGIS's provider, one SQLite transaction per commit.
Nothing the engine runs writes to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsEditorWidgetSetup,
    QgsExpression,
    QgsExpressionContextUtils,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
    qgsfunction,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

from . import settings
from .log import log_info
from .raster_input import layer_file
from .results import RESULT_PROPERTY, apply_style

LABELS_FILE = "sargasses_labels.gpkg"
LABELS_LAYER, LOOKED_AT_LAYER = "labels", "looked_at"
LABELS_NAME, LOOKED_AT_NAME = "Sargassum labels", "Sargassum: areas looked at"
KINDS = {"sargassum": "Sargassum", "false_positive": "False positive", "not_sargassum": "Not Sargassum"}
STORE_CRS = "EPSG:4326"
LABELS_STYLE, LOOKED_AT_STYLE = "labels.qml", "looked_at.qml"
STORE_PROPERTY = "sargasses/labels_store"  # on the two label layers: which layer of which file they show
# On result layers (set when a run ends): the scene the engine read, its date, the area it searched (WKT, EPSG:4326)
SCENE_PROPERTY, DATE_PROPERTY, AREA_PROPERTY = "sargasses/scene", "sargasses/date", "sargasses/area"
SCENE_VARIABLE, DATE_VARIABLE = "sargasses_scene", "sargasses_date"  # project variables: defaults of drawn labels

LABEL_FIELDS = ("scene", "kind", "date", "author", "created", "detection")
LOOKED_AT_FIELDS = ("scene", "run", "date", "author", "created")


class LabellingError(Exception):
    """Something the user can fix about marking or the labels file; the message says what."""


@dataclass
class LabelCounts:
    scenes: int = 0
    sargassum: int = 0
    false_positive: int = 0
    not_sargassum: int = 0
    looked_at: int = 0
    without_scene: int = 0  # drawn where no image of the project was: the engine cannot learn from them

    def total(self) -> int:
        return self.sargassum + self.false_positive + self.not_sargassum

    def text(self) -> str:
        if not self.total():
            return "no labels yet"
        return (
            f"{self.scenes} scene{'s' if self.scenes != 1 else ''}: {self.sargassum} Sargassum, "
            f"{self.false_positive} false positive{'s' if self.false_positive != 1 else ''}, "
            f"{self.not_sargassum} not Sargassum"
        )


# --------------------------------------------------------------------------- the file
def labels_path(project: QgsProject | None = None) -> Path:
    """The project's labels file: beside the saved project, else in the results folder."""
    project = project or QgsProject.instance()
    folder = Path(project.absolutePath()) if project.fileName() else settings.results_dir()
    return folder / LABELS_FILE


def _fields(names: tuple[str, ...]) -> QgsFields:
    fields = QgsFields()
    for name in names:
        # QGIS 3.38 takes a QMetaType (the QVariant form is deprecated, gone in Qt6); 3.22 only knows QVariant's.
        text = QMetaType.Type.QString if Qgis.versionInt() >= 33800 else QVariant.String  # qt6: ok (3.22 only)
        fields.append(QgsField(name, text))
    return fields


def create_store(path: Path) -> Path:
    """Create the labels GeoPackage with its two empty layers, unless it exists; never replaces a file."""
    if path.exists():
        check_store(path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part.gpkg")
    crs = QgsCoordinateReferenceSystem(STORE_CRS)
    context = QgsProject.instance().transformContext()
    for index, (layer, names) in enumerate(((LABELS_LAYER, LABEL_FIELDS), (LOOKED_AT_LAYER, LOOKED_AT_FIELDS))):
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = layer
        if index:
            options.actionOnExistingFile = QgsVectorFileWriter.ActionOnExistingFile.CreateOrOverwriteLayer
        writer = QgsVectorFileWriter.create(
            str(tmp), _fields(names), QgsWkbTypes.Type.MultiPolygon, crs, context, options
        )
        if writer.hasError() != QgsVectorFileWriter.WriterError.NoError:
            message = writer.errorMessage()
            del writer
            tmp.unlink(missing_ok=True)
            raise LabellingError(f"the labels file {path} cannot be created: {message}")
        del writer
    try:
        os.link(tmp, path)  # fails if the file appeared meanwhile: someone else's labels are never replaced
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        if not path.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log_info(f"labels file created: {path}")
    return path


def check_store(path: Path) -> None:
    """A labels file must hold both layers with their fields; say what is wrong rather than edit a foreign file."""
    for layer, names in ((LABELS_LAYER, LABEL_FIELDS), (LOOKED_AT_LAYER, LOOKED_AT_FIELDS)):
        probe = QgsVectorLayer(f"{path}|layername={layer}", layer, "ogr")
        if not probe.isValid():
            raise LabellingError(
                f"{path} has no '{layer}' layer: it is not a Sargasses labels file. Move it away or rename it."
            )
        missing = [name for name in names if probe.fields().indexOf(name) < 0]
        if missing:
            raise LabellingError(f"the '{layer}' layer of {path} lacks the field(s) {', '.join(missing)}")


def count_labels(path: Path) -> LabelCounts:
    """How many labels of each kind, on how many scenes (for the dock)."""
    counts = LabelCounts()
    if not path.is_file():
        return counts
    scenes: set[str] = set()
    labels = QgsVectorLayer(f"{path}|layername={LABELS_LAYER}", LABELS_LAYER, "ogr")
    for feature in labels.getFeatures():
        kind = str(feature["kind"] or "")
        if kind not in KINDS:
            continue
        setattr(counts, kind, getattr(counts, kind) + 1)
        scene = feature["scene"]  # NULL (falsy) where nothing was under a drawn polygon
        if scene and str(scene).strip():
            scenes.add(str(scene))
        else:
            counts.without_scene += 1
    looked = QgsVectorLayer(f"{path}|layername={LOOKED_AT_LAYER}", LOOKED_AT_LAYER, "ogr")
    counts.looked_at = looked.featureCount() if looked.isValid() else 0
    counts.scenes = len(scenes)
    return counts


# --------------------------------------------------------------------------- the layers in the project
def _find_layer(project: QgsProject, path: Path, layer: str) -> QgsVectorLayer | None:
    key = f"{path}|{layer}"
    for candidate in project.mapLayers().values():
        if isinstance(candidate, QgsVectorLayer) and candidate.customProperty(STORE_PROPERTY) == key:
            return candidate
    return None


def open_label_layers(
    project: QgsProject | None = None, path: Path | None = None
) -> tuple[QgsVectorLayer, QgsVectorLayer]:
    """The "Sargassum labels" and "areas looked at" layers of the labels file, added (styled) when not yet there."""
    project = project or QgsProject.instance()
    path = create_store(path or labels_path(project))
    found = []
    for layer, name, style in (
        (LABELS_LAYER, LABELS_NAME, LABELS_STYLE),
        (LOOKED_AT_LAYER, LOOKED_AT_NAME, LOOKED_AT_STYLE),
    ):
        existing = _find_layer(project, path, layer)
        if existing is None:
            existing = QgsVectorLayer(f"{path}|layername={layer}", name, "ogr")
            if not existing.isValid():
                raise LabellingError(f"the '{layer}' layer of {path} cannot be opened")
            apply_style(existing, style)
            _configure_fields(existing)
            existing.setCustomProperty(STORE_PROPERTY, f"{path}|{layer}")
            project.addMapLayer(existing, False)
            project.layerTreeRoot().insertLayer(0, existing)
        found.append(existing)
    return found[0], found[1]


def _configure_fields(layer: QgsVectorLayer) -> None:
    """What a drawn polygon gets without typing: the last run's scene and date, Sargassum, the user, the time."""
    from qgis.core import QgsDefaultValue

    fields = layer.fields()
    defaults = {  # the scene under the drawn polygon, not the last run's (that may be another place)
        "scene": f"{SCENE_UNDER}($geometry, 'scene')",
        "date": f"{SCENE_UNDER}($geometry, 'date')",
        "author": "@user_full_name",
        "created": "format_date(now(), 'yyyy-MM-ddThh:mm:ss')",
    }
    if fields.indexOf("kind") >= 0:
        defaults["kind"] = "'sargassum'"
        choices = [{label: value} for value, label in KINDS.items()]
        layer.setEditorWidgetSetup(fields.indexOf("kind"), QgsEditorWidgetSetup("ValueMap", {"map": choices}))
    for name, expression in defaults.items():
        index = fields.indexOf(name)
        if index >= 0:
            layer.setDefaultValueDefinition(index, QgsDefaultValue(expression))


# --------------------------------------------------------------------------- the scene under a drawn polygon
SCENE_UNDER = "sargasses_scene_under"  # an expression function: the defaults of a drawn label's scene and date


def scene_under(geometry: QgsGeometry, project: QgsProject | None = None) -> tuple[str, str]:
    """(scene, date) of the image under a polygon in the labels' CRS: the run whose searched area overlaps it
    most, else a raster file of the project under it (no date known); ("", "") when no image is under it."""
    project = project or QgsProject.instance()
    if geometry is None or geometry.isEmpty():
        return "", ""
    runs = [layer for layer in project.mapLayers().values() if is_markable(layer)]
    best, best_overlap = ("", ""), -1.0
    for layer in runs:
        area = QgsGeometry.fromWkt(str(layer.customProperty(AREA_PROPERTY)))
        if area.intersects(geometry) and area.intersection(geometry).area() > best_overlap:
            best_overlap = area.intersection(geometry).area()
            best = (str(layer.customProperty(SCENE_PROPERTY)), str(layer.customProperty(DATE_PROPERTY) or ""))
    if best_overlap >= 0:
        return best
    to_store = QgsCoordinateReferenceSystem(STORE_CRS)
    for layer in project.mapLayers().values():
        path = layer_file(layer) if isinstance(layer, QgsRasterLayer) else None
        if path:
            extent = QgsCoordinateTransform(layer.crs(), to_store, project).transformBoundingBox(layer.extent())
            if QgsGeometry.fromRect(extent).intersects(geometry):
                return str(Path(path).absolute()), ""
    return "", ""


@qgsfunction(args="auto", group="Sargasses", register=False, usesgeometry=True)
def sargasses_scene_under(geometry, which, feature, parent):
    """The scene (or date, `which` = 'date') of the image under the geometry: the defaults of a drawn label."""
    scene, date = scene_under(geometry)
    return (date if which == "date" else scene) or None


def register_functions() -> None:
    """The plugin's expression functions (once QGIS has loaded it; unregistered when it unloads)."""
    QgsExpression.registerFunction(sargasses_scene_under)


def unregister_functions() -> None:
    QgsExpression.unregisterFunction(SCENE_UNDER)


# --------------------------------------------------------------------------- runs and marks
def remember_run(
    rafts: QgsVectorLayer, scene: str, date: str, area: QgsGeometry, area_crs: QgsCoordinateReferenceSystem
) -> None:
    """Tag a run's result layer with its scene, date and searched area, so its detections can be marked; and make
    that scene the default of labels drawn next."""
    geometry = QgsGeometry(area)
    geometry.transform(QgsCoordinateTransform(area_crs, QgsCoordinateReferenceSystem(STORE_CRS), QgsProject.instance()))
    rafts.setCustomProperty(SCENE_PROPERTY, scene)
    rafts.setCustomProperty(DATE_PROPERTY, date)
    rafts.setCustomProperty(AREA_PROPERTY, geometry.asWkt())
    project = QgsProject.instance()
    QgsExpressionContextUtils.setProjectVariable(project, SCENE_VARIABLE, scene)
    QgsExpressionContextUtils.setProjectVariable(project, DATE_VARIABLE, date)


def is_markable(layer) -> bool:
    return isinstance(layer, QgsVectorLayer) and bool(layer.customProperty(SCENE_PROPERTY))


def mark_selected(result: QgsVectorLayer, kind: str, project: QgsProject | None = None) -> int:
    """Mark the selected detections of a result layer as `kind`; returns how many were marked.

    The first mark on a run records its area as looked at and copies its detections into the labels as Sargassum.
    """
    if kind not in KINDS:
        raise LabellingError(f"unknown label kind {kind!r}; use one of {', '.join(KINDS)}")
    if not is_markable(result):
        raise LabellingError(
            "this layer is not the rafts of a Sargasses run of this session: run a detection, then mark its rafts"
        )
    selected = result.selectedFeatureIds()
    if not selected:
        raise LabellingError(f"no raft of {result.name()!r} is selected: select the rafts to mark first")
    project = project or QgsProject.instance()
    labels, looked = open_label_layers(project)
    run = str(result.customProperty(RESULT_PROPERTY) or result.source())
    scene = str(result.customProperty(SCENE_PROPERTY))
    date = str(result.customProperty(DATE_PROPERTY) or "")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    author = QgsExpressionContextUtils.globalScope().variable("user_full_name") or ""
    to_store = QgsCoordinateTransform(result.crs(), QgsCoordinateReferenceSystem(STORE_CRS), project)
    key_prefix = f"{result.source()}#"

    with _editing(looked):
        if not _has_run(looked, run):
            area = QgsGeometry.fromWkt(str(result.customProperty(AREA_PROPERTY)))
            looked.addFeature(_feature(looked, area, scene=scene, run=run, date=date, author=author, created=stamp))
    with _editing(labels):
        copied = _detection_copies(labels, key_prefix)
        for feature in result.getFeatures():
            key = f"{key_prefix}{feature.id()}"
            if key in copied:
                continue
            geometry = QgsGeometry(feature.geometry())
            geometry.transform(to_store)
            new = _feature(
                labels, geometry, scene=scene, kind="sargassum", date=date, author=author, created=stamp, detection=key
            )
            labels.addFeature(new)
        copied = _detection_copies(labels, key_prefix)
        kind_index = labels.fields().indexOf("kind")
        for fid in selected:
            labels.changeAttributeValue(copied[f"{key_prefix}{fid}"], kind_index, kind)
    for layer in (looked, labels):  # the marks above the runs' rafts, where the user sees them
        _to_top(project, layer)
    log_info(f"marked {len(selected)} raft(s) of {result.name()!r} as {kind}")
    return len(selected)


def _to_top(project: QgsProject, layer: QgsVectorLayer) -> None:
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None or (node.parent() is root and root.children().index(node) == 0):
        return
    root.insertChildNode(0, node.clone())
    node.parent().removeChildNode(node)


def _feature(layer: QgsVectorLayer, geometry: QgsGeometry, **values: str) -> QgsFeature:
    feature = QgsFeature(layer.fields())
    geometry.convertToMultiType()
    feature.setGeometry(geometry)
    for name, value in values.items():
        feature[name] = value
    return feature


def _has_run(looked: QgsVectorLayer, run: str) -> bool:
    request = QgsFeatureRequest().setFilterExpression(f'"run" = {_quoted(run)}').setLimit(1)
    return any(True for _ in looked.getFeatures(request))


def _detection_copies(labels: QgsVectorLayer, prefix: str) -> dict[str, int]:
    """detection key -> label feature id, for the copies of one result layer's detections (edit buffer included)."""
    request = QgsFeatureRequest().setFilterExpression('"detection" IS NOT NULL')
    return {str(f["detection"]): f.id() for f in labels.getFeatures(request) if str(f["detection"]).startswith(prefix)}


def _quoted(text: str) -> str:
    return QgsExpression.quotedValue(text)


@contextlib.contextmanager
def _editing(layer: QgsVectorLayer):
    """Edit in the layer's buffer; commit (one transaction) unless the user was already editing it."""
    was_editing = layer.isEditable()
    if not was_editing and not layer.startEditing():
        raise LabellingError(f"{layer.name()!r} cannot be edited (is the labels file read-only?)")
    try:
        yield
    except Exception:
        if not was_editing:
            layer.rollBack()
        raise
    if not was_editing and not layer.commitChanges():
        errors = "; ".join(layer.commitErrors())
        layer.rollBack()
        raise LabellingError(f"the labels could not be saved to {layer.source()}: {errors}")


def remember_detection(rafts: QgsVectorLayer, summary: dict, job, raster) -> None:
    """After a run: its scene, date and area (the polygons or extent searched, else the whole layer) on its rafts."""
    from qgis.core import QgsRectangle

    if job.clip is not None:
        area, crs = job.clip, job.clip_crs
    elif raster is None:
        return
    elif job.options.get("extent"):
        area, crs = QgsGeometry.fromRect(QgsRectangle(*job.options["extent"])), raster.crs()
    else:
        area, crs = QgsGeometry.fromRect(raster.extent()), raster.crs()
    scene = str(summary.get("input") or "")
    if scene:
        remember_run(rafts, str(Path(scene).absolute()), str(summary.get("acquisition_date") or ""), area, crs)
