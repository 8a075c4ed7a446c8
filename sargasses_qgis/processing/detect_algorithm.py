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
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
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
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from ..detection_run import DetectionCancelled, DetectionJob, execute
from ..engine_client import EngineError, shared_engine
from ..model_defaults import DEFAULT_BANDS, DEFAULT_GSD_M, METHODS
from ..paths import bundled_model, icon_path
from ..raster_input import InputError, automatic_plan, layer_file
from ..results import covered_area_km2, raft_area_km2, style_rafts, summary_text
from ..vector_export import attribute_indexes

DEVICES = ["auto", "cpu", "cuda", "mps"]
# The threshold is a probability: the core takes it strictly between 0 and 1; the dock's field and this
# parameter both offer 0.001 to 0.999, to the third decimal (AFAI's 0.016 can be typed).
THRESHOLD_RANGE = (0.001, 0.999)
THRESHOLD_DECIMALS = 3


def threshold_problem(value: float) -> str:
    """Why `value` cannot be the probability threshold ("" when it can), in the words of the Processing dialog."""
    low, high = THRESHOLD_RANGE
    if low <= value <= high:
        return ""
    return (
        f"Probability threshold {value:g} is not a probability strictly between 0 and 1: give a number from "
        f"{low:g} to {high:g}, or leave it empty for the model's own."
    )


class RaftsStyler(QgsProcessingLayerPostProcessorInterface):
    """Styles the rafts as the dock does, once QGIS has loaded the output into the project (main thread)."""

    def postProcessLayer(self, layer, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> None:
        if isinstance(layer, QgsVectorLayer):
            style_rafts(layer)


_STYLER: list[RaftsStyler] = []  # one, kept alive here: QGIS holds only a C++ pointer to it


def rafts_styler() -> RaftsStyler:
    if not _STYLER:
        _STYLER.append(RaftsStyler())
    return _STYLER[0]


class DetectAlgorithm(QgsProcessingAlgorithm):
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
    RAFT_COUNT = "RAFT_COUNT"
    AREA_KM2 = "AREA_KM2"

    def name(self) -> str:
        return "detect"

    def displayName(self) -> str:
        return "Detect Sargassum rafts"

    def shortHelpString(self) -> str:
        """Plain text: the Processing dialog shows it as a paragraph, qgis_process prints it as it is (no HTML)."""
        return (
            "Finds Sargassum rafts on a multispectral image (Sentinel-2 L2A bands B02-B12 by default) with a "
            "deep-learning segmentation model and returns them as polygons with their area, length, mean "
            "probability, date and sensor.\n\n"
            "Model: a sargasses model file; empty for the bundled default model.\n"
            "Method: the model, or a spectral index (AFAI/FAI) as a baseline without a model.\n"
            "Threshold: the probability above which a pixel is Sargassum, from 0.001 to 0.999; empty for the "
            "model's own.\n"
            "Minimum area: smaller rafts are dropped (m²).\n"
            "Extent: only this part of the image.\n"
            "Probabilities: also write the probability raster.\n"
            "Fractional cover: also write how much of each pixel the rafts cover (0-1), for images whose pixels are "
            "larger than the rafts (Sentinel-3 OLCI, 300 m); the covered area is their sum.\n\n"
            "An image without a coordinate reference system (a PNG) needs a world file (.pgw) and a .prj beside it."
            "\n\n"
            "Detection runs in the sargasses detection engine, a separate Python environment "
            "(Settings > Options > Sargasses)."
        )

    def icon(self) -> QIcon:
        return QIcon(icon_path())

    def createInstance(self) -> DetectAlgorithm:
        return DetectAlgorithm()

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
        method = QgsProcessingParameterEnum(self.METHOD, "Method", options=METHODS, defaultValue=0)
        method.setFlags(method.flags() | method.FlagAdvanced)
        self.addParameter(method)
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
        self.addOutput(QgsProcessingOutputNumber(self.COVERED_KM2, "Area the rafts cover (km², sum of cover)"))

    def _threshold(self, parameters: dict[str, Any], context: QgsProcessingContext) -> float | None:
        """The threshold asked for (None: the model's own); QgsProcessingException when it is not a probability."""
        if parameters.get(self.THRESHOLD) is None or parameters.get(self.THRESHOLD) == "":
            return None
        value = self.parameterAsDouble(parameters, self.THRESHOLD, context)
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
        info = manager.client().call("info", method="model", **({"model": model} if model else {}))
        if info.get("model_error"):
            raise EngineError(info["model_error"])
        card = info["model"]["card"]
        return list(card["band_names"]), float(card["gsd_m"])

    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException("The input image cannot be read: choose a raster layer or file.")
        method = METHODS[self.parameterAsEnum(parameters, self.METHOD, context)]
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if method == "model" and not model and bundled_model() is not None:
            model = str(bundled_model())
        area = None
        if parameters.get(self.EXTENT):
            area = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        options: dict[str, Any] = {
            "method": method,
            "device": DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            "overwrite": True,  # the engine writes into this run's own temporary folder
        }
        if parameters.get(self.MIN_AREA) not in (None, ""):  # empty: the engine's default, 3 pixels
            options["min_area"] = self.parameterAsDouble(parameters, self.MIN_AREA, context)
        if method == "model" and model:
            options["model"] = model
        threshold = self._threshold(parameters, context)  # checked again: a caller may skip checkParameterValues
        if threshold is not None:
            options["threshold"] = threshold
        if area is not None:
            options["extent"] = [area.xMinimum(), area.yMinimum(), area.xMaximum(), area.yMaximum()]
        probabilities = None
        if parameters.get(self.PROBABILITIES):
            probabilities = self.parameterAsOutputLayer(parameters, self.PROBABILITIES, context) or None
        coverage = None
        if parameters.get(self.COVERAGE):
            coverage = self.parameterAsOutputLayer(parameters, self.COVERAGE, context) or None
        if coverage:
            options["coverage"] = coverage

        manager = shared_engine()
        try:
            model_bands, gsd = self._model_bands(manager, layer, method, options.get("model"))
            plan = automatic_plan(layer, model_bands, gsd, area)
            work_dir = Path(QgsProcessingUtils.tempFolder()) / f"sargasses_{dt.datetime.now():%Y%m%d_%H%M%S_%f}"
            job = DetectionJob(
                layer_name=layer.name(),
                plan=plan,
                options=options,
                work_dir=work_dir,
                output=work_dir / "rafts.gpkg",
                probabilities=Path(probabilities) if probabilities else None,
            )
            last = [""]

            def progress(fraction: float, message: str) -> None:
                feedback.setProgress(100.0 * fraction)
                if message != last[0]:
                    last[0] = message
                    feedback.pushInfo(message)

            outcome = execute(job, manager, progress, feedback.isCanceled, feedback)
        except DetectionCancelled as exc:
            raise QgsProcessingException(f"Cancelled: {exc}") from None
        except (EngineError, InputError) as exc:
            raise QgsProcessingException(str(exc)) from None
        finally:
            if QgsApplication.instance() is not None and QgsApplication.instance().platform() == "qgis_process":
                manager.shutdown()  # one run per process: do not leave the engine behind

        rafts = QgsVectorLayer(str(outcome.output), "rafts", "ogr")
        if not rafts.isValid():
            raise QgsProcessingException(f"The engine's output {outcome.output} cannot be read.")
        fields, kept = sink_fields(rafts)
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, rafts.wkbType(), rafts.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        count = 0
        for feature in rafts.getFeatures():
            if feedback.isCanceled():
                break
            copy = QgsFeature(fields)
            copy.setGeometry(feature.geometry())
            copy.setAttributes([feature.attribute(i) for i in kept])
            sink.addFeature(copy, QgsFeatureSink.Flag.FastInsert)
            count += 1
        if context.willLoadLayerOnCompletion(dest_id):
            context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(rafts_styler())
        area_km2 = raft_area_km2(outcome.summary)
        feedback.pushInfo(summary_text(outcome) + ".")
        for warning in outcome.warnings:
            feedback.pushWarning(f"Warning: {warning}")
        results: dict[str, Any] = {
            self.OUTPUT: dest_id,
            self.RAFT_COUNT: count,
            self.AREA_KM2: area_km2,
            self.COVERED_KM2: covered_area_km2(outcome.summary),
        }
        if probabilities:
            results[self.PROBABILITIES] = probabilities
        if coverage:
            results[self.COVERAGE] = coverage
        return results


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
