"""What the raster sinks share: a staged GeoTIFF written strip by strip, closed into place or discarded."""

from __future__ import annotations

from sargasses.detection.stage_clock import StageClock
from sargasses.detection.vectorize import Raft
from sargasses.outputs.probability_raster import ProbabilityRaster


class RasterSink:
    writer: ProbabilityRaster | None
    clock: StageClock

    def close(self, rafts: list[Raft]) -> None:
        assert self.writer is not None
        with self.clock("write_s"):
            self.writer.close()
            self.writer = None

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.discard()
            self.writer = None
