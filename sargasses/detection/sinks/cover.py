"""Sink "cover": the fractional cover of each strip's detected pixels (coverage.CoverEstimator), as a GeoTIFF and
the summary's covered area. Only when asked for: unmixing reads the strips with rafts again (docs/detect.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.detection.area import DetectionArea
from sargasses.detection.coverage import CoverEstimator, afai_bands, afai_reader, profile_wavelengths
from sargasses.detection.detected import DetectedStrip
from sargasses.detection.method import Method
from sargasses.detection.sinks.raster import RasterSink
from sargasses.detection.stage_clock import StageClock
from sargasses.detection.vectorize import Raft
from sargasses.outputs.probability_raster import ProbabilityRaster


class CoverSink(RasterSink):
    def __init__(
        self, scene: Any, method: Method, area: DetectionArea, staged: Path, final: Path, clock: StageClock
    ) -> None:
        wavelengths = profile_wavelengths(scene.sensor, scene.band_names)
        bands = afai_bands(scene.band_names, wavelengths)
        read_rows: Any = None
        self.close_reader: Callable[[], None] | None = None
        if bands is not None:
            read_rows, self.close_reader = afai_reader(scene, bands, area.col_off, area.row_off, area.width)
        self.cover = CoverEstimator(scene.band_names, wavelengths, read_rows)
        self.clock = clock
        self.writer: ProbabilityRaster | None = None
        self.covered_m2 = 0.0  # sum of cover times pixel area (pixels in pixel units)
        tags = {"SCORE": "fractional cover", "COVER_METHOD": self.cover.description, "MODEL": method.name}
        try:
            self.writer = ProbabilityRaster(staged, final, area.width, area.height, scene.crs, area.transform, tags)
        except BaseException:
            self.discard()
            raise

    def add(self, detected: DetectedStrip) -> None:
        assert self.writer is not None
        strip = detected.strip
        with self.clock("coverage_s"):
            strip_cover = self.cover.cover(strip.row, detected.mask, strip.score, strip.excluded)
        with self.clock("write_s"):
            self.writer.add(strip_cover)
        if detected.valid_count:
            self.covered_m2 += float(np.nansum(strip_cover)) * detected.pixel_area

    def close(self, rafts: list[Raft]) -> None:
        try:
            super().close(rafts)
        finally:
            self._close_reader()

    def discard(self) -> None:
        super().discard()
        self._close_reader()

    def _close_reader(self) -> None:
        if self.close_reader is not None:
            self.close_reader()
            self.close_reader = None
