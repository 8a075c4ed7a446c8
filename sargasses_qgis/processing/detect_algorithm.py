"""`sargasses:detect`: a raster in, the Sargassum rafts out as polygons, through the detection engine.

The engine writes its own vector file in a temporary folder; its features are copied into the algorithm's sink,
so that every destination QGIS offers works (a file of any format, a temporary layer, a GeoPackage table).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsRectangle,
    QgsVectorLayer,
)

from ..detect_request import DEVICES, THRESHOLD_DECIMALS, THRESHOLD_RANGE, DetectRequest, threshold_problem
from ..detection_run import DetectionCancelled, DetectionJob, execute
from ..engine_client import EngineError, shared_engine
from ..labelling import remember_run
from ..model_defaults import DEFAULT_BANDS, DEFAULT_GSD_M, METHODS
from ..raster_input import InputError, automatic_plan, layer_file
from ..results import RESULT_PROPERTY, covered_area_km2, raft_area_km2, style_rafts, summary_text
from ..sensor_names import LEVELS
from ..vector_export import attribute_indexes
from .algorithm import SargassesAlgorithm, progress_to
from .sink_file import check_written, kept_until_written, write_failure


class RaftsStyler(QgsProcessingLayerPostProcessorInterface):
    """Once QGIS has loaded the rafts into the project (main thread): the dock's style, a name that says which
    scene and date, and the run's scene, date and area on the layer, so that its rafts can be marked."""

    def __init__(self, scene: str, date: str, area: QgsGeometry, area_crs: QgsCoordinateReferenceSystem) -> None:
        super().__init__()
        self.scene, self.date, self.area, self.area_crs = scene, date, area, area_crs

    def postProcessLayer(self, layer, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> None:
        if not isinstance(layer, QgsVectorLayer):
            return
        style_rafts(layer)
        stem = Path(self.scene).stem if self.scene else ""
        layer.setName(" · ".join(part for part in ("Sargassum rafts", stem, self.date) if part))
        layer.setCustomProperty(RESULT_PROPERTY, f"Processing · {layer.name()} · {dt.datetime.now():%H:%M:%S}")
        if self.scene:
            remember_run(layer, self.scene, self.date, self.area, self.area_crs)


_STYLERS: list[RaftsStyler] = []  # kept alive here: QGIS holds only a C++ pointer to each


def rafts_styler(scene: str, date: str, area: QgsGeometry, area_crs: QgsCoordinateReferenceSystem) -> RaftsStyler:
    del _STYLERS[:-16]  # those of runs long loaded
    _STYLERS.append(RaftsStyler(scene, date, area, area_crs))
    return _STYLERS[-1]


class DetectAlgorithm(SargassesAlgorithm):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    MODEL = "MODEL"
    METHOD = "METHOD"
    THRESHOLD = "THRESHOLD"
    MIN_AREA = "MIN_AREA"
    EXTENT = "EXTENT"
    PROBABILITIES = "PROBABILITIES"
    COVERAGE = "COVERAGE"
    COVERED_KM2 = "COVERED_KM2"
    DEVICE = "DEVICE"
    LEVEL = "LEVEL"
    RAFT_COUNT = "RAFT_COUNT"
    AREA_KM2 = "AREA_KM2"

    NAME = "detect"
    DISPLAY_NAME = "Detect Sargassum rafts"
    HELP = (
        "Finds Sargassum rafts on a multispectral image (by default Sentinel-2 bands B02-B12, Level-2A or Level-1C) with a "
        "deep-learning segmentation model and returns them as polygons with their area, length, mean "
        "probability, date and sensor.\n\n"
        "Model: a sargasses model file; empty for the bundled default model.\n"
        "Method: the model, or a spectral index (AFAI/FAI) as a baseline without a model.\n"
        "Threshold: the probability above which a pixel is Sargassum, from 0.001 to 0.999; empty for the "
        "model's own.\n"
        "Minimum area: smaller rafts are dropped (m²).\n"
        "Extent: only this part of the image.\n"
        "Level: what the image is when its file does not say (a GeoTIFF without tags is read as Level-2A).\n"
        "Probabilities: also write the probability raster.\n"
        "Fractional cover: also write how much of each pixel the rafts cover (0-1), for images whose pixels are "
        "larger than the rafts (Sentinel-3 OLCI, 300 m); the covered area is their sum.\n\n"
        "An image without a coordinate reference system (a PNG) needs a world file (.pgw) and a .prj beside it."
        "\n\n"
        "Detection runs in the sargasses detection engine, a separate Python environment "
        "(Settings > Options > Sargasses)."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.INPUT, "Image (the bands the model takes: Sentinel-2, or RGB)")
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                "Model file (empty: the bundled model)",
                optional=True,
                fileFilter="sargasses model (*.sargasses);;old sargasses model, full engine only (*.pt)",
            )
        )
        self.add_advanced_parameter(QgsProcessingParameterEnum(self.METHOD, "Method", options=METHODS, defaultValue=0))
        threshold = QgsProcessingParameterNumber(
            self.THRESHOLD,
            "Probability threshold (empty: the model's own)",
            type=QgsProcessingParameterNumber.Type.Double,
            minValue=THRESHOLD_RANGE[0],
            maxValue=THRESHOLD_RANGE[1],
            optional=True,
        )
        threshold.setMetadata({"widget_wrapper": {"decimals": THRESHOLD_DECIMALS}})
        self.addParameter(threshold)
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_AREA,
                "Minimum raft area (m²; empty: 3 pixels, 1200 m² at 20 m)",
                type=QgsProcessingParameterNumber.Type.Double,
                minValue=0.0,
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Area (empty: the whole image)", optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", options=DEVICES, defaultValue=0))
        self.add_advanced_parameter(
            QgsProcessingParameterEnum(
                self.LEVEL, "Level of the image", options=[label for _, label in LEVELS], defaultValue=0
            )
        )
        self._add_outputs()

    def _add_outputs(self) -> None:
        """The rafts, the optional rasters, and the figures a Graphical Modeler model or a script reads after a run."""
        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT, "Sargassum rafts", QgsProcessing.SourceType.TypeVectorPolygon
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.PROBABILITIES, "Probabilities", optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.COVERAGE, "Fractional cover", optional=True, createByDefault=False
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.RAFT_COUNT, "Number of rafts"))
        self.addOutput(QgsProcessingOutputNumber(self.AREA_KM2, "Area of the rafts (km²)"))
        self.addOutput(
            QgsProcessingOutputNumber(
                self.COVERED_KM2, "Area the rafts cover (km², sum of cover; with the cover raster only)"
            )
        )

    def _threshold(self, parameters: dict[str, Any], context: QgsProcessingContext) -> float | None:
        """The threshold asked for (None: the model's own); QgsProcessingException when it is not a probability."""
        value = self.optional_double(parameters, self.THRESHOLD, context)
        if value is None:
            return None
        problem = threshold_problem(value)
        if problem:
            raise QgsProcessingException(problem)
        return value

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext) -> tuple[bool, str]:
        """Refuse a threshold that is no probability before anything runs, with a message that says why (QGIS's
        own check would only say the value is incorrect)."""
        try:
            self._threshold(parameters, context)
        except QgsProcessingException as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    @staticmethod
    def _model_bands(manager, layer, method: str, model: str | None) -> tuple[list[str], float]:
        """The bands to stack for a layer the engine cannot read as is: from the model's card (asks the engine)."""
        path = layer_file(layer)
        if method != "model" or (path is not None and layer.bandCount() > 1):
            return list(DEFAULT_BANDS), DEFAULT_GSD_M  # a multi-band file: the engine matches its bands itself
        info = manager.client().call("info", method="model", asker="processing", **({"model": model} if model else {}))
        if info.get("model_error"):
            raise EngineError(info["model_error"])
        card = info["model"]["card"]
        return list(card["band_names"]), float(card["gsd_m"])

    def _request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, layer
    ) -> tuple[DetectRequest, QgsRectangle | None]:
        """The user's parameters as the engine request the dock builds too (detect_request.py), and the area."""
        area = None
        if parameters.get(self.EXTENT):
            area = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        request = DetectRequest(
            method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            model=self.parameterAsFile(parameters, self.MODEL, context) or None,
            threshold=self._threshold(parameters, context),  # checked again: a caller may skip the check
            min_area=self.optional_double(parameters, self.MIN_AREA, context),  # empty: the engine's, 3 pixels
            extent=area,
            sensor=LEVELS[self.parameterAsEnum(parameters, self.LEVEL, context)][0] or None,
        )
        return request, area

    def _raster_output(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> str | None:
        if not parameters.get(name):
            return None
        return self.parameterAsOutputLayer(parameters, name, context) or None

    def _detect(self, layer, request: DetectRequest, area, outputs: dict[str, str | None], feedback) -> Any:
        """Run the engine on the layer; the outcome. Errors become QgsProcessingException in plain words."""
        options = {**request.detect_options(), "overwrite": True}  # the engine writes into this run's own folder
        if outputs["coverage"]:
            options["coverage"] = outputs["coverage"]
        manager = shared_engine()
        try:
            model_bands, gsd = self._model_bands(manager, layer, request.method, request.model_file())
            plan = automatic_plan(layer, model_bands, gsd, area)
            work_dir = Path(QgsProcessingUtils.tempFolder()) / f"sargasses_{dt.datetime.now():%Y%m%d_%H%M%S_%f}"
            probabilities = outputs["probabilities"]
            job = DetectionJob(
                layer_name=layer.name(),
                plan=plan,
                options=options,
                work_dir=work_dir,
                output=work_dir / "rafts.gpkg",
                probabilities=Path(probabilities) if probabilities else None,
                asker="processing",
            )
            return execute(job, manager, progress_to(feedback), feedback.isCanceled, feedback)
        except DetectionCancelled as exc:
            raise QgsProcessingException(f"Cancelled: {exc}") from None
        except (EngineError, InputError) as exc:
            raise QgsProcessingException(str(exc)) from None
        finally:
            if QgsApplication.instance() is not None and QgsApplication.instance().platform() == "qgis_process":
                manager.shutdown()  # one run per process: do not leave the engine behind

    def _copy_to_sink(self, outcome, parameters: dict[str, Any], context, feedback) -> tuple[str, int, Any]:
        """The engine's rafts into the algorithm's sink: (its id, how many rafts, their CRS)."""
        rafts = QgsVectorLayer(str(outcome.output), "rafts", "ogr")
        if not rafts.isValid():
            raise QgsProcessingException(f"The engine's output {outcome.output} cannot be read.")
        fields, kept = sink_fields(rafts)
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with kept_until_written(destination) as written:
            sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, rafts.wkbType(), rafts.crs())
            if sink is None:
                raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
            count, problem = _fill_sink(sink, rafts, fields, kept, written, feedback)
            del sink  # closed here (nothing else holds it), before what it wrote is read back or removed
            if problem is not None:
                raise problem
            check_written(written, count)
        return dest_id, count, rafts.crs()

    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException("The input image cannot be read: choose a raster layer or file.")
        request, area = self._request(parameters, context, layer)
        outputs = {
            "probabilities": self._raster_output(parameters, self.PROBABILITIES, context),
            "coverage": self._raster_output(parameters, self.COVERAGE, context),
        }
        outcome = self._detect(layer, request, area, outputs, feedback)
        dest_id, count, _ = self._copy_to_sink(outcome, parameters, context, feedback)
        if context.willLoadLayerOnCompletion(dest_id):
            searched = QgsGeometry.fromRect(area if area is not None else layer.extent())
            scene = str(outcome.summary.get("input") or "")
            date = str(outcome.summary.get("acquisition_date") or "")
            styler = rafts_styler(str(Path(scene).absolute()) if scene else "", date, searched, layer.crs())
            context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(styler)
        feedback.pushInfo(summary_text(outcome) + ".")
        for warning in outcome.warnings:
            feedback.pushWarning(f"Warning: {warning}")
        results: dict[str, Any] = {
            self.OUTPUT: dest_id,
            self.RAFT_COUNT: count,
            self.AREA_KM2: raft_area_km2(outcome.summary),
        }
        if outcome.summary.get("covered_area_km2") is not None:  # a 0 without the cover raster read as "none"
            results[self.COVERED_KM2] = covered_area_km2(outcome.summary)
        for key, name in ((self.PROBABILITIES, "probabilities"), (self.COVERAGE, "coverage")):
            if outputs[name]:
                results[key] = outputs[name]
        return results


def _fill_sink(
    sink, rafts: QgsVectorLayer, fields: QgsFields, kept: list[int], written: Path | None, feedback
) -> tuple[int, QgsProcessingException | None]:
    """Copy the rafts' features into the sink: how many, and why it stopped early (a cancel, a write the sink
    refused), returned rather than raised so that no traceback keeps the sink, and its file, open."""
    count = 0
    for feature in rafts.getFeatures():
        if feedback.isCanceled():
            return count, QgsProcessingException("Cancelled: the run was cancelled")
        copy = QgsFeature(fields)
        copy.setGeometry(feature.geometry())
        copy.setAttributes([feature.attribute(i) for i in kept])
        if not sink.addFeature(copy, QgsFeatureSink.Flag.FastInsert):
            return count, write_failure(written, sink.lastError())
        count += 1
    return count, None


def sink_fields(rafts: QgsVectorLayer) -> tuple[QgsFields, list[int]]:
    """The rafts' fields for any destination, and the indexes they come from: those an export keeps
    (vector_export.attribute_indexes), text no wider than a shapefile's 254 characters."""
    fields, kept = QgsFields(), attribute_indexes(rafts)
    for index in kept:
        field = QgsField(rafts.fields().at(index))
        if not field.isNumeric() and not 0 < field.length() <= 254:  # text (and dates: a width is harmless)
            field.setLength(254)
        fields.append(field)
    return fields, kept
