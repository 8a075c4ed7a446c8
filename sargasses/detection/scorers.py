"""Scorers: a batch of reflectance tiles -> per-pixel scores.

`TorchScorer` (CUDA / MPS / CPU, half precision on GPU where it keeps the result), `OnnxScorer` (ONNX Runtime on
CPU, faster there: see docs/performance.md) and `BaselineScorer` (AFAI / FAI index, for `--method afai|fai`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sargasses.detection.devices import DeviceChoice, cpu_threads, torch_module
from sargasses.detection.onnx_export import onnx_session
from sargasses.detection.tiling import TILE_MULTIPLE
from sargasses.errors import SargassesError

MAX_TILES_AT_ONCE = 4  # ONNX Runtime on CPU: tiles in flight (each holds its activations while it runs)
HALF_TOLERANCE = 0.02  # half precision is used on GPU only if it changes no probability by more than this


class Scorer:
    """Turns reflectance tiles into per-pixel scores (probabilities for a model; index values for baselines)."""

    band_names: list[str]
    description: str = ""
    parallel: int = 1  # score() calls run_tiles may make at once, each on a thread of its own

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        """(B, C, h, w) float32 reflectance, nodata as 0 (the model card's contract; run_tiles' reader sees to
        it), and (B, h, w) bool, True where excluded -> (B, h, w) float32 scores (NaN: none)."""
        raise NotImplementedError

    def prepare(self, tile_h: int, tile_w: int) -> None:
        """Called once the tile shape is known (ONNX needs it to export its graph)."""


def finite_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """A model's probabilities, refused if any is NaN or infinite: its input is finite everywhere (nodata as 0),
    so a NaN comes from the model itself (a NaN weight); passed on, it would read as "0 rafts"."""
    if not np.isfinite(probabilities).all():
        raise SargassesError(
            "the model gave NaN (not-a-number) probabilities: the model file is broken (a NaN weight?); "
            "use another model file, or export or fine-tune it again"
        )
    return probabilities


class TorchScorer(Scorer):
    """A loaded model file's module on a torch device; channels-last memory on CPU, fp16 autocast on GPU."""

    def __init__(self, loaded: Any, device: DeviceChoice, half: bool | None = None, channels_last: bool = True):
        torch = torch_module()
        self.loaded = loaded
        self.band_names = list(loaded.card.band_names)
        self.device = device
        self.torch_device = torch.device(device.torch_device)
        self.channels_last = channels_last and device.kind == "cpu"
        module = loaded.module.to(self.torch_device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module.eval()
        self.half = False
        if device.kind in ("cuda", "mps") and half is not False:  # fp16 only where it keeps the result
            self.half = self._half_keeps_result() if half is None else True
        precision = "fp16 autocast" if self.half else "fp32"
        layout = ", channels-last" if self.channels_last else ""
        self.description = f"torch {torch.__version__} on {device.name}, {precision}{layout}"

    def _run(self, x: Any, half: bool) -> Any:
        torch = torch_module()
        with torch.inference_mode():
            if half:
                with torch.autocast(self.device.kind, dtype=torch.float16):  # device type: "cuda" or "mps"
                    return self.module(x).float()
            return self.module(x)

    def _half_keeps_result(self) -> bool:
        """Half precision only where it changes no probability by more than HALF_TOLERANCE on a test batch."""
        torch = torch_module()
        generator = torch.Generator().manual_seed(0)
        x = (torch.rand(2, len(self.band_names), 128, 128, generator=generator) * 0.15).to(self.torch_device)
        try:
            full = self._run(x, False)
            half = self._run(x, True)
        except Exception:
            return False
        return bool(torch.isfinite(half).all() and (full - half).abs().max().item() <= HALF_TOLERANCE)

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        torch = torch_module()
        x = torch.from_numpy(np.asarray(batch, dtype=np.float32)).to(self.torch_device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        try:
            y = self._run(x, self.half)
        except torch.cuda.OutOfMemoryError:
            if x.shape[0] == 1:
                raise SargassesError(
                    "the GPU ran out of memory on a single tile; use --device cpu or a smaller --tile-size"
                ) from None
            torch.cuda.empty_cache()
            half = x.shape[0] // 2
            return np.concatenate(
                [self.score(batch[:half], excluded[:half]), self.score(batch[half:], excluded[half:])]
            )
        return finite_probabilities(y[:, 0].float().cpu().numpy())


class OnnxScorer(Scorer):
    """The model as an ONNX graph (the bytes a model file holds) run by ONNX Runtime on the CPU.

    Several tiles run at once, each on one thread of its own, rather than one tile on every thread: a tile's
    layers are thin, and threads that meet at every layer wait for the slowest, which the tile reader and the
    polygons beside them make slower still (measured on 2 cores: 1.2x the throughput; docs/performance.md).
    """

    def __init__(self, band_names: Sequence[str], graph: bytes, threads: int | None = None):
        import onnxruntime as ort

        self.band_names = list(band_names)
        self.threads = threads or cpu_threads()
        self.parallel = min(self.threads, MAX_TILES_AT_ONCE)
        self.session = onnx_session(graph, max(1, self.threads // self.parallel))
        channels = self.session.get_inputs()[0].shape[1]
        if channels != len(self.band_names):
            raise SargassesError(
                f"the model's graph takes {channels} bands but its card names {len(self.band_names)}; "
                "export the model file again"
            )
        self.description = (
            f"ONNX Runtime {ort.__version__} on CPU ({self.threads} threads, {self.parallel} tiles at once), fp32"
        )

    def prepare(self, tile_h: int, tile_w: int) -> None:
        if tile_h % TILE_MULTIPLE or tile_w % TILE_MULTIPLE:
            raise SargassesError(f"ONNX Runtime needs tiles whose sides are multiples of {TILE_MULTIPLE}")

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        (y,) = self.session.run(None, {"reflectance": np.asarray(batch, dtype=np.float32)})
        return finite_probabilities(y[:, 0])


class BaselineScorer(Scorer):
    """AFAI or FAI minus its median background (sargasses.detection.baseline), NaN where excluded."""

    def __init__(self, method: str, band_names: Sequence[str], background: bool = True) -> None:
        from sargasses.detection import baseline

        self.baseline = baseline
        self.method = method
        self.band_names = list(band_names)
        self.background = background
        self.description = f"{method.upper()} index" + (" minus median background" if background else "")

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                self.baseline.baseline_scores(
                    tile, self.band_names, self.method, background=self.background, exclusion=mask
                )
                for tile, mask in zip(batch, excluded, strict=True)
            ]
        ).astype(np.float32)
