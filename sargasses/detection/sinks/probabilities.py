"""Sink "probabilities": each strip's scores into the probability GeoTIFF (outputs/probability_raster.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.detected import DetectedStrip
from sargasses.detection.method import Method
from sargasses.detection.sinks.raster import RasterSink
from sargasses.detection.stage_clock import StageClock
from sargasses.outputs.probability_raster import ProbabilityRaster


class ProbabilitySink(RasterSink):
    def __init__(
        self, method: Method, area: DetectionArea, crs: Any, staged: Path, final: Path, clock: StageClock
    ) -> None:
        tags = {
            "SCORE": "probability" if method.card is not None else f"{method.scorer.method} index minus background",
            "METHOD": "model" if method.card is not None else method.scorer.method,
            "MODEL": method.name,
            "THRESHOLD": f"{method.threshold:g}",
        }
        self.writer: ProbabilityRaster | None = ProbabilityRaster(
            staged, final, area.width, area.height, crs, area.transform, tags
        )
        self.clock = clock

    def add(self, detected: DetectedStrip) -> None:
        assert self.writer is not None
        with self.clock("write_s"):
            self.writer.add(detected.strip.score)
