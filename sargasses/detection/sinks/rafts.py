"""Sink "rafts": the masked strips grouped into raft polygons (vectorize.RaftCollector), each placed against the shore
(shore.ShoreMap), written as the vector layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.detected import DetectedStrip
from sargasses.detection.method import Method
from sargasses.detection.options import DetectOptions
from sargasses.detection.shore import ShoreMap
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
        self.shore = ShoreMap(area.transform, area.width)
        self.crs = crs
        self.staged = staged
        self.final = final
        self.clock = clock
        self.attributes = attributes  # fields every raft carries: date, sensor, product, model

    def add(self, detected: DetectedStrip) -> None:
        with self.clock("polygons_s"):
            self.collector.add(detected.row, detected.mask, detected.strip.score)
            self.shore.add(detected.strip.land)

    def finish(self) -> list[Raft]:
        with self.clock("polygons_s"):
            rafts = self.collector.finish()
            for raft in rafts:
                raft.shore_m, raft.setting = self.shore.measure(raft)
            return rafts

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
