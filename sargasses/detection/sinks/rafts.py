"""Sink "rafts": the masked strips grouped into raft polygons (vectorize.RaftCollector), each with its distance to the
shore (shore.ShoreDistance, which answers a halo of rows later: the strips wait for it), written as the vector layer."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.detected import DetectedStrip
from sargasses.detection.method import Method
from sargasses.detection.options import DetectOptions
from sargasses.detection.shore import ShoreDistance
from sargasses.detection.stage_clock import StageClock
from sargasses.detection.vectorize import Raft, RaftCollector


class RaftSink:
    """Collects the rafts strip by strip; `finish()` gives them, `close(rafts)` writes the layer into the output set."""

    def __init__(
        self,
        options: DetectOptions,
        area: DetectionArea,
        crs: Any,
        attributes: dict[str, Any],
        staged: Path,
        final: Path,
        clock: StageClock,
    ) -> None:
        self.collector = RaftCollector(
            area.transform, crs, area.width, options.min_area or 0.0, options.simplify, pixel_units=area.pixel_units,
            min_pixels=area.min_pixels,
        )  # fmt: skip
        self.shore = ShoreDistance(area.metric, area.width, area.height)
        self.waiting: deque[tuple[int, Any, Any]] = deque()  # (row, mask, score) of strips waiting for their distances
        self.crs = crs
        self.staged = staged
        self.final = final
        self.clock = clock
        self.attributes = attributes  # fields every raft carries: date, sensor, product, model

    def add(self, detected: DetectedStrip) -> None:
        with self.clock("polygons_s"):
            self.waiting.append((detected.row, detected.mask, detected.strip.score))
            self._collect(self.shore.add(detected.row, detected.strip.land, detected.mask))

    def finish(self) -> list[Raft]:
        with self.clock("polygons_s"):
            self._collect(self.shore.finish())
            return self.collector.finish()

    def _collect(self, distances: Any) -> None:
        """The waiting strips whose distances to land came, to the collector."""
        for row, distance in distances:
            waited, mask, score = self.waiting.popleft()
            if waited != row:
                raise RuntimeError(f"shore distances for row {row} came for the strip at row {waited}")
            self.collector.add(row, mask, score, distance)

    def close(self, rafts: list[Raft]) -> None:
        from sargasses.outputs.vector_output import rafts_table, write_layer

        with self.clock("write_s"):
            table = rafts_table(rafts, self.crs, self.attributes)
            write_layer(table, self.staged, name=self.final)

    def discard(self) -> None:
        pass  # the output set removes the staged layer


def raft_attributes(scene: Any, method: Method) -> dict[str, Any]:
    """Fields every raft carries: where it was seen and by what."""
    return {
        "acq_date": scene.acquisition_date,
        "sensor": scene.sensor,
        "product": scene.product_id,
        "model": method.name,
        "model_ver": method.card.version if method.card is not None else None,
    }
