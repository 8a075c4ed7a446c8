"""`sargasses:monitor`: many scenes (raster layers, or a folder's scenes) -> a monitoring folder (docs/monitoring.md).

Runs `sargasses monitor` in the engine's Python as a subprocess (its Dask cluster, its catalogue): the plugin only
builds the command, relays its lines to the log and stops it with SIGINT on cancel, which `sargasses monitor`
answers by keeping every scene finished before (the catalogue is written in one transaction per scene).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingParameterCrs,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorLayer,
)

from ..engine_finder import engine_environment
from .algorithm import SargassesAlgorithm, engine_python

SCENE_PATTERNS = ("*.tif", "*.tiff", "*.SAFE", "*.SEN3", "*.zip")


class MonitorAlgorithm(SargassesAlgorithm):
    LAYERS, FOLDER, OUTPUT, SECTORS, GRID_CRS, CELL, WORKERS = (
        "LAYERS", "FOLDER", "OUTPUT", "SECTORS", "GRID_CRS", "CELL", "WORKERS"
    )  # fmt: skip
    CATALOGUE, GRID = "CATALOGUE", "GRID"

    NAME = "monitor"
    DISPLAY_NAME = "Monitor a region (many scenes to a time series)"
    HELP = (
        "Runs the detection on every scene (the layers given, and the scenes of a folder) on a local Dask "
        "cluster, and writes a monitoring folder: catalogue.gpkg (rafts and scenes), grid.nc (cover per cell "
        "and day), days.csv, sectors.csv and sectors.png. Run again with more scenes: only those run."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        raster, polygons = QgsProcessing.SourceType.TypeRaster, QgsProcessing.SourceType.TypeVectorPolygon
        number = QgsProcessingParameterNumber.Type  # qt6: ok (the enum type)
        self.addParameter(
            QgsProcessingParameterMultipleLayers(self.LAYERS, "Scenes (raster layers)", raster, optional=True)
        )
        folder = QgsProcessingParameterFile.Behavior.Folder
        self.addParameter(QgsProcessingParameterFile(self.FOLDER, "Or a folder of scenes", folder, optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(self.SECTORS, "Coastal sectors", [polygons], optional=True))
        self.addParameter(QgsProcessingParameterCrs(self.GRID_CRS, "Grid CRS", "EPSG:4326"))
        cell = QgsProcessingParameterNumber(self.CELL, "Cell size (grid CRS units)", number.Double, 0.05)
        cell.setMinimum(1e-9)
        self.addParameter(cell)
        self.addParameter(
            QgsProcessingParameterNumber(self.WORKERS, "Workers (0: one per CPU)", number.Integer, 0, minValue=0)
        )
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, "Monitoring folder"))
        self.addOutput(QgsProcessingOutputFile(self.CATALOGUE, "Catalogue (GeoPackage)"))
        self.addOutput(QgsProcessingOutputFile(self.GRID, "Grid (NetCDF)"))

    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        command = [engine_python(), "-m", "sargasses", "monitor", *self._scenes(parameters, context), "-o", out]
        command += self._options(parameters, context)
        feedback.pushInfo(" ".join(command))
        code = _run(command, feedback)
        if feedback.isCanceled():
            feedback.pushInfo("Cancelled: the catalogue keeps every scene finished before.")
        elif code != 0:
            raise QgsProcessingException(f"sargasses monitor failed (exit {code}): see the log above.")
        return {
            self.OUTPUT: out,
            self.CATALOGUE: str(Path(out) / "catalogue.gpkg"),
            self.GRID: str(Path(out) / "grid.nc"),
        }

    def _scenes(self, parameters: dict[str, Any], context: QgsProcessingContext) -> list[str]:
        scenes = [layer.source() for layer in self.parameterAsLayerList(parameters, self.LAYERS, context)]
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if folder:
            scenes += [str(Path(folder) / pattern) for pattern in SCENE_PATTERNS if any(Path(folder).glob(pattern))]
        if not scenes:
            raise QgsProcessingException("No scene: choose raster layers, or a folder that holds scenes.")
        return scenes

    def _options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> list[str]:
        crs = self.parameterAsCrs(parameters, self.GRID_CRS, context)
        options = [
            "--grid-crs",
            crs.authid() or crs.toWkt(),
            "--cell",
            repr(self.parameterAsDouble(parameters, self.CELL, context)),
        ]
        sectors = self.parameterAsVectorLayer(parameters, self.SECTORS, context)
        if sectors is not None:
            options += ["--sectors", sectors.source().split("|")[0]]
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        return options + (["--workers", str(workers)] if workers else [])


def _run(command: list[str], feedback: QgsProcessingFeedback) -> int:
    """Run the command, its output lines to the log; SIGINT on cancel (a clean stop: whole scenes only)."""
    kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
    with subprocess.Popen(command, env=engine_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, encoding="utf-8", errors="replace", **kwargs) as proc:  # fmt: skip
        feedback.canceled.connect(lambda: proc.send_signal(signal.SIGINT))
        assert proc.stdout is not None
        for line in proc.stdout:
            feedback.pushInfo(line.rstrip())
        return proc.wait()
