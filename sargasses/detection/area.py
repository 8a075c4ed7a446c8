"""Stage "plan the windows": the part of the scene processed, its grid of tiles, and how its pixels measure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sargasses.detection.input_checks import area_window
from sargasses.detection.method import Method, default_batch
from sargasses.detection.options import DetectOptions, default_min_pixels
from sargasses.detection.tiling import TileGrid, tile_grid
from sargasses.detection.vectorize import PixelMetric


@dataclass
class DetectionArea:
    """The window of the scene a run covers (offsets in scene pixels), its tiles, and its pixels' metric."""

    row_off: int
    col_off: int
    height: int
    width: int
    transform: Any  # of the window
    grid: TileGrid
    batch_size: int
    metric: PixelMetric
    pixel_units: bool  # no CRS (only with options.pixel_units: check_crs refuses it otherwise)
    min_pixels: int  # the smallest raft kept

    def pixel_area(self, row: int) -> float:
        """Area of a pixel at the middle of the window's width, `row` rows from its top (m2, or 1 in pixel units)."""
        _, _, area = self.metric.pixel_steps(np.array([row]), np.array([self.width // 2]))
        return float(area[0])


def plan_area(scene: Any, options: DetectOptions, method: Method) -> DetectionArea:
    """The window `options.extent` asks for (the whole scene without it), cut into the method's tiles."""
    from rasterio.windows import transform as window_transform

    window = area_window(scene, options.extent)
    row_off, col_off = int(window.row_off), int(window.col_off)
    height, width = int(window.height), int(window.width)
    transform = window_transform(window, scene.transform)
    grid = tile_grid(height, width, method.tile_size, method.overlap)
    batch_size = options.batch_size or default_batch(method.device_kind, grid.tile_h)
    pixel_units = scene.crs is None
    metric = PixelMetric(transform, scene.crs, pixel_units=pixel_units)
    _, _, centre_area = metric.pixel_steps(np.array([height // 2]), np.array([width // 2]))
    min_pixels = default_min_pixels(options, None if pixel_units else math.sqrt(float(centre_area[0])))
    return DetectionArea(row_off, col_off, height, width, transform, grid, batch_size, metric, pixel_units, min_pixels)
