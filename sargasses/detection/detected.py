"""Stage "mask": each blended strip with its detection mask (score at or above the threshold, on open water)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sargasses.detection.area import DetectionArea
from sargasses.detection.tiled_loop import Strip


@dataclass
class DetectedStrip:
    """What every sink takes: a final strip of the area, its detection mask, and the area it lies in."""

    strip: Strip
    mask: np.ndarray  # (h, W) bool: Sargassum
    area: DetectionArea

    @property
    def row(self) -> int:
        return self.strip.row

    @cached_property
    def valid(self) -> np.ndarray:
        return ~self.strip.nodata

    @cached_property
    def valid_count(self) -> int:
        return int(self.valid.sum())

    @cached_property
    def pixel_area(self) -> float:
        """Area of one of the strip's pixels (at its middle row, the area's middle column)."""
        return self.area.pixel_area(self.strip.row + self.strip.height // 2)


def detect(strips: Iterable[Strip], threshold: float, area: DetectionArea) -> Iterator[DetectedStrip]:
    """The strips with their masks, in the order they come (top to bottom)."""
    for strip in strips:
        with np.errstate(invalid="ignore"):
            mask = (strip.score >= threshold) & ~strip.excluded
        yield DetectedStrip(strip, mask, area)
