"""`sargasses predict` output: one probability GeoTIFF per scene, blended from the predicted tiles.

The tiles are `sargasses detect`'s (PredictTiles: detection's grid), blended with detection's weights
(sargasses.detection.tiling), so a checkpoint's predictions are what its exported model file detects.

Add it to `trainer.callbacks` (configs/ do); it writes `<output_dir>/<scene>_probability.tif` (float32, 0-1,
NaN where the scene has no data) on the scene's grid, under a temporary name then renamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from lightning.pytorch.callbacks import BasePredictionWriter

from sargasses.atomic import atomic_write
from sargasses.detection.tiling import weight_sums
from sargasses.errors import SargassesError


class ProbabilityWriter(BasePredictionWriter):
    def __init__(self, output_dir: str = "predictions", overwrite: bool = False) -> None:
        """
        Args:
            output_dir: folder for the probability GeoTIFFs (created when missing).
            overwrite: replace existing files of the same name (default: refuse, so nothing is lost).
        """
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self._maps: dict[int, np.ndarray] = {}

    def on_predict_start(self, trainer, pl_module) -> None:
        if trainer.world_size > 1:
            raise SargassesError("predict writes whole scenes from one process; run it with trainer.devices=1")
        self._maps = {}

    def write_on_batch_end(
        self, trainer, pl_module, prediction: Any, batch_indices, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        from sargasses.detection.tiling import blend_weights

        tiles = trainer.datamodule.predict_tiles
        for probability, index in zip(prediction.float().cpu().numpy(), batch_indices, strict=True):
            scene, row, col, h, w = tiles.tiles[index]
            grid = tiles.grids[scene]
            if scene not in self._maps:  # as large as the grid, which may overhang the scene by up to 31 px
                rows, cols = grid.rows[-1], grid.cols[-1]
                self._maps[scene] = np.zeros((rows[0] + rows[1], cols[0] + cols[1]), dtype=np.float32)
            self._maps[scene][row : row + h, col : col + w] += probability[0] * blend_weights(h, w, grid.overlap)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        tiles = trainer.datamodule.predict_tiles
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for scene, weighted in self._maps.items():
            store = tiles.store
            grid = tiles.grids[scene]
            height, width = store.shapes[scene]
            total = np.outer(
                weight_sums(grid.rows, weighted.shape[0], grid.overlap),
                weight_sums(grid.cols, weighted.shape[1], grid.overlap),
            )
            probability = (weighted / total)[:height, :width]
            crs, transform = store.grids[scene]
            x, _ = store.read(scene, 0, 0, *store.shapes[scene])
            probability = np.where(np.isnan(x).any(axis=0), np.nan, probability).astype(np.float32)
            path = self.output_dir / f"{store.scenes[scene].image.stem}_probability.tif"
            if path.exists() and not self.overwrite:
                raise SargassesError(f"{path} exists; move it away or set the writer's overwrite: true")
            profile = {
                "driver": "GTiff",
                "height": probability.shape[0],
                "width": probability.shape[1],
                "count": 1,
                "dtype": "float32",
                "crs": crs,
                "transform": transform,
                "nodata": float("nan"),
                "compress": "deflate",
            }
            atomic_write(
                path,
                lambda tmp, profile=profile, probability=probability: _write_probability(tmp, profile, probability),
            )
        self._maps = {}


def _write_probability(path: Path, profile: dict[str, Any], probability: np.ndarray) -> None:
    with rasterio.open(path, "w", **profile) as out:
        out.write(probability, 1)
        out.set_band_description(1, "Sargassum probability")
