"""Stage "open and check", per tile: the scene's tiles and masks as the tiled loop reads them, checked as read."""

from __future__ import annotations

from typing import Any

import numpy as np

from sargasses.detection.area import DetectionArea
from sargasses.detection.input_checks import InputCheck
from sargasses.detection.tiling import mirror_pad
from sargasses.errors import SargassesError
from sargasses.reading.masking import ExclusionLayers, UserLandMask
from sargasses.reading.sensors import get_profile, is_rendered


class SceneTiles:
    """Reads the area's tiles (row, col relative to the area), the product's own flags and the user's land mask.

    `checked` sees every tile read (the reflectance range and infinite values: input_checks.InputCheck).
    `read_flags` / `read_land` are None when the scene has no flags of its own / no land mask was given.
    """

    def __init__(self, scene: Any, area: DetectionArea, input_path: Any, land: Any = None) -> None:
        self.scene = scene
        self.area = area
        self.input_path = input_path
        self.checked = InputCheck(rendered=is_rendered(get_profile(scene.sensor)) if scene.sensor else False)
        self.land_mask = UserLandMask(land, scene.crs, scene.transform, scene.width, scene.height) if land else None
        # a product with its own nodata, land and cloud flags (Sentinel-3 OLCI)
        self.read_flags = self._read_flags if hasattr(scene, "read_exclusion") else None
        self.read_land = self._read_land if self.land_mask is not None else None

    def read_tile(self, row: int, col: int, h: int, w: int) -> np.ndarray:
        """The tile, the scene mirrored into any part of it that overhangs the scene (tiling.mirror_pad)."""
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        scene, row_off, col_off = self.scene, self.area.row_off, self.area.col_off
        inside_h = max(1, min(h, scene.height - row - row_off))
        inside_w = max(1, min(w, scene.width - col - col_off))
        try:
            data = scene.read(Window(col + col_off, row + row_off, inside_w, inside_h))
        except RasterioError as exc:  # a damaged block in the middle of the file
            raise SargassesError(
                f"reading {self.input_path} failed near row {row + row_off}, column {col + col_off} ({exc}); "
                "the file may be truncated or damaged: copy or download it again"
            ) from None
        self.checked.add(data)
        return mirror_pad(data, h, w)

    def _read_flags(self, row: int, col: int, h: int, w: int) -> ExclusionLayers:
        from rasterio.windows import Window

        return self.scene.read_exclusion(Window(col + self.area.col_off, row + self.area.row_off, w, h))

    def _read_land(self, row: int, col: int, h: int, w: int) -> np.ndarray:
        assert self.land_mask is not None
        return self.land_mask.read(row + self.area.row_off, col + self.area.col_off, h, w)

    def close(self) -> None:
        if self.land_mask is not None:
            self.land_mask.close()
