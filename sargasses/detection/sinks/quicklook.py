"""Sink "quicklook": a false-colour PNG of the tiles as read, the rafts outlined (outputs/quicklook.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.detected import DetectedStrip
from sargasses.detection.stage_clock import StageClock
from sargasses.detection.vectorize import Raft
from sargasses.outputs.quicklook import Quicklook


class QuicklookSink:
    """`add_tile` is the tiled loop's on_tile (the image is made of the reflectance read); strips add nothing."""

    def __init__(self, scene: Any, area: DetectionArea, staged: Path, final: Path, clock: StageClock) -> None:
        self.quicklook = Quicklook(area.height, area.width, scene.band_names)
        self.add_tile = self.quicklook.add_tile
        self.transform = area.transform
        self.staged = staged
        self.final = final
        self.clock = clock

    def add(self, detected: DetectedStrip) -> None:
        pass

    def close(self, rafts: list[Raft]) -> None:
        from sargasses.atomic import write_error

        with self.clock("write_s"):
            geometries = [r.geometry for r in rafts]
            try:
                self.quicklook.save(self.staged, geometries, self.transform, name=self.final)
            except OSError as exc:
                raise write_error(self.final, exc) from None

    def discard(self) -> None:
        pass
