"""Tiled inference: a scene of any size through a model a few tiles at a time, blended without seams.

The scene is cut into tiles (size and overlap from the model card). Tiles are read by a background thread a batch
ahead of the model, run in batches (`scorer.parallel` batches at once, each on a thread of its own), and blended
into a buffer one tile-row high with weights that ramp down across the overlaps (every weight > 0, so scene
borders covered by one tile need no special case). As soon as a tile row is done, the rows above the next tile row
are final: they leave as a `Strip` and the buffer moves down. Memory therefore depends on the scene's width, never
on its height, and never holds the scene.

Tile sides are multiples of 32 that may differ by 32 from one row or column to the next (`tile_spans`): as few
tiles as the card's size allows, the last ending at the scene's edge, and few pixels computed twice. A scene
smaller than a tile gets one tile rounded up to a multiple of 32 pixels; the reader given to `run_tiles` fills
that padding (detect.py mirrors the scene into it: zeros would read as a dark shore and give false rafts).
Tiles with no open water (every pixel nodata, land or cloud) are not run: the mask would hide what they gave.

Scorers turn a batch of reflectance tiles into per-pixel scores: `TorchScorer` (CUDA / MPS / CPU, half precision on
GPU where it keeps the result), `OnnxScorer` (ONNX Runtime on CPU, faster there: see docs/performance.md) and
`BaselineScorer` (AFAI / FAI index, for `--method afai|fai`).
"""

from __future__ import annotations

import collections
import contextlib
import io
import math
import os
import platform
import queue
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sargasses import graph_cache
from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.masking import exclusion_layers

TILE_MULTIPLE = 32  # mfai's U-Nets pool 4-5 times: tiles whose sides are multiples of 32 need no padding
STRIP_ROWS = 64  # final rows leave the blending buffer in strips of at most this many rows
MAX_TILES_AT_ONCE = 4  # ONNX Runtime on CPU: tiles in flight (each holds its activations while it runs)
NODATA, LAND, CLOUD = 1, 2, 4  # bits of the exclusion codes run_tiles buffers
HALF_TOLERANCE = 0.02  # half precision is used on GPU only if it changes no probability by more than this


# --------------------------------------------------------------------------- the tile grid
def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_spans(length: int, tile_size: int, overlap: int) -> tuple[tuple[int, int], ...]:
    """(start, size) of the tiles along one axis: as few tiles as `tile_size` and `overlap` allow, each as small as
    it can be, the last ending at the edge; a side shorter than a tile gets one tile (rounded up to a multiple of 32).

    Sides are multiples of 32 but need not all be equal: a 5490-px side takes 13 tiles of 480 or 512 px (6272 px
    computed) rather than 13 of 512 (6656 px), 11 % fewer pixels computed twice in the overlaps. Larger tiles come
    first, and the slack left once every seam has `overlap` pixels is spread over the seams.
    """
    if length <= tile_size:
        return ((0, min(tile_size, _round_up(length, TILE_MULTIPLE))),)
    count = max(2, math.ceil((length - overlap) / (tile_size - overlap)))
    needed = length + (count - 1) * overlap  # pixels of tile side that give every seam `overlap` pixels
    base = min(tile_size, needed // count // TILE_MULTIPLE * TILE_MULTIPLE)
    larger = min(count, _round_up(max(0, needed - count * base), TILE_MULTIPLE) // TILE_MULTIPLE)
    sizes = [base + TILE_MULTIPLE] * larger + [base] * (count - larger)
    slack = sum(sizes) - needed
    spans, start = [], 0
    for i, size in enumerate(sizes):
        spans.append((start, size))
        start += size - overlap - (slack * (i + 1) // (count - 1) - slack * i // (count - 1))
    return tuple(spans)


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    overlap: int
    rows: tuple[tuple[int, int], ...]  # (start, height) of each row of tiles
    cols: tuple[tuple[int, int], ...]  # (start, width) of each column of tiles

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def tile_h(self) -> int:
        """The tallest tile (the blending buffer's height)."""
        return max(size for _, size in self.rows)

    @property
    def tile_w(self) -> int:
        return max(size for _, size in self.cols)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """The distinct (height, width) of the tiles (at most four)."""
        return sorted({(h, w) for _, h in self.rows for _, w in self.cols}, reverse=True)

    def tiles(self) -> Iterator[tuple[int, int, int, int, int]]:
        """(tile-row index, row, col, height, width) in reading order: rows top to bottom, every other row right to
        left.

        A row of tiles shares its lower blocks of the file with the next row; starting that next row where the
        last one ended finds them still in GDAL's block cache, which then need not hold a whole row of blocks.
        """
        for i, (row, height) in enumerate(self.rows):
            for col, width in self.cols if i % 2 == 0 else self.cols[::-1]:
                yield i, row, col, height, width


def tile_grid(height: int, width: int, tile_size: int, overlap: int) -> TileGrid:
    """The tiles covering a height x width scene (spans from tile_spans; `tile_size` rounded down to a multiple
    of 32); a side smaller than a tile gets one tile."""
    if height < 1 or width < 1:
        raise SargassesError("the area to process is empty; check --extent and the input raster")
    tile_size = max(TILE_MULTIPLE, tile_size // TILE_MULTIPLE * TILE_MULTIPLE)
    overlap = min(overlap, tile_size // 4)
    return TileGrid(
        height, width, overlap, tile_spans(height, tile_size, overlap), tile_spans(width, tile_size, overlap)
    )


def blend_ramp(n: int, overlap: int) -> np.ndarray:
    """(n,) float32: 1 inside, ramping linearly down to 1/(overlap+1) at both ends."""
    i = np.arange(n, dtype=np.float32)
    return np.minimum(1.0, np.minimum(i + 1, n - i) / (max(overlap, 0) + 1)).astype(np.float32)


def blend_weights(tile_h: int, tile_w: int, overlap: int) -> np.ndarray:
    """(tile_h, tile_w) float32 weights: 1 inside, ramping linearly down to 1/(overlap+1) at the tile's edges.

    Neighbouring tiles' ramps cross in the overlap, so the blended result moves smoothly from one tile's
    prediction to the next: no seam, and the unreliable border pixels of a tile count least.
    """
    return np.outer(blend_ramp(tile_h, overlap), blend_ramp(tile_w, overlap))


def weight_sums(spans: Sequence[tuple[int, int]], length: int, overlap: int) -> np.ndarray:
    """(length,) float32: the tiles' ramps along one axis, summed.

    Weights are outer products of ramps and the grid is a product of rows and columns, so the sum of every
    tile's weights at a pixel is weight_sums(rows)[y] * weight_sums(cols)[x], and no buffer as wide as the scene
    holds it. Tiles that are not run (no water) change nothing: every pixel they cover is masked.
    """
    total = np.zeros(length, np.float32)
    for start, size in spans:
        total[start : start + size] += blend_ramp(size, overlap)
    return total


# --------------------------------------------------------------------------- scorers
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


def _torch():
    import torch

    return torch


@dataclass
class DeviceChoice:
    kind: str  # "cuda", "mps" or "cpu"
    name: str  # for people: the GPU's name or the CPU's thread count
    torch_device: str = ""  # e.g. "cuda:1"; defaults to kind

    def __post_init__(self) -> None:
        self.torch_device = self.torch_device or self.kind


def _gpu_possible() -> bool:
    """Could PyTorch see a GPU here? Answered without importing torch (seconds and hundreds of MB) when the
    machine has no GPU driver at all, so CPU runs from a cached ONNX graph never load it."""
    if "torch" in sys.modules:
        return True
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd"))
    if sys.platform == "win32":
        system = os.environ.get("SYSTEMROOT", r"C:\Windows")
        return os.path.exists(os.path.join(system, "System32", "nvcuda.dll"))
    return True


def choose_device(requested: str = "auto") -> DeviceChoice:
    """`auto` takes CUDA, then MPS (Apple), then the CPU; a device asked for but absent is an error."""
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda", "mps") and not re.fullmatch(r"cuda:\d+", requested):
        raise SargassesError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps")
    cpu = DeviceChoice("cpu", f"CPU ({_cpu_threads()} threads)")
    if requested == "cpu" or (requested == "auto" and not _gpu_possible()):
        return cpu
    torch = _torch()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        requested = "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda"):
        if not cuda:
            raise SargassesError("--device cuda was asked but PyTorch sees no CUDA GPU; use --device auto or cpu")
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise SargassesError(f"--device {requested}: there are {torch.cuda.device_count()} CUDA GPU(s), from 0")
        return DeviceChoice("cuda", f"CUDA GPU {torch.cuda.get_device_name(index)}", f"cuda:{index}")
    if requested == "mps":
        if not mps:
            raise SargassesError("--device mps was asked but PyTorch sees no Apple GPU; use --device auto or cpu")
        return DeviceChoice("mps", "Apple GPU (MPS)")
    return cpu


class TorchScorer(Scorer):
    """A loaded model file's module on a torch device; channels-last memory on CPU, fp16 autocast on GPU."""

    def __init__(self, loaded: Any, device: DeviceChoice, half: bool | None = None, channels_last: bool = True):
        torch = _torch()
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
        torch = _torch()
        with torch.inference_mode():
            if half:
                with torch.autocast(self.device.kind, dtype=torch.float16):  # device type: "cuda" or "mps"
                    return self.module(x).float()
            return self.module(x)

    def _half_keeps_result(self) -> bool:
        """Half precision only where it changes no probability by more than HALF_TOLERANCE on a test batch."""
        torch = _torch()
        generator = torch.Generator().manual_seed(0)
        x = (torch.rand(2, len(self.band_names), 128, 128, generator=generator) * 0.15).to(self.torch_device)
        try:
            full = self._run(x, False)
            half = self._run(x, True)
        except Exception:
            return False
        return bool(torch.isfinite(half).all() and (full - half).abs().max().item() <= HALF_TOLERANCE)

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        torch = _torch()
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
        return y[:, 0].float().cpu().numpy()


class OnnxScorer(Scorer):
    """The model as an ONNX graph (bytes, or a cached .onnx file) run by ONNX Runtime on the CPU.

    Several tiles run at once, each on one thread of its own, rather than one tile on every thread: a tile's
    layers are thin, and threads that meet at every layer wait for the slowest, which the tile reader and the
    polygons beside them make slower still (measured on 2 cores: 1.2x the throughput; docs/performance.md).
    """

    def __init__(self, band_names: Sequence[str], graph: bytes | str | os.PathLike, threads: int | None = None):
        import onnxruntime as ort

        self.band_names = list(band_names)
        self.threads = threads or _cpu_threads()
        self.parallel = min(self.threads, MAX_TILES_AT_ONCE)
        self.session = onnx_session(graph, max(1, self.threads // self.parallel))
        self.description = (
            f"ONNX Runtime {ort.__version__} on CPU ({self.threads} threads, {self.parallel} tiles at once), fp32"
        )

    def prepare(self, tile_h: int, tile_w: int) -> None:
        if tile_h % TILE_MULTIPLE or tile_w % TILE_MULTIPLE:
            raise SargassesError(f"ONNX Runtime needs tiles whose sides are multiples of {TILE_MULTIPLE}")

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        (y,) = self.session.run(None, {"reflectance": np.asarray(batch, dtype=np.float32)})
        return y[:, 0]


ONNX_CACHE_VERSION = graph_cache.CACHE_VERSION
cache_dir = graph_cache.cache_dir


def onnx_cache_path(digest: str) -> Path:
    """The cached graph of the model file `digest` if its entry checks out (sargasses.graph_cache); otherwise a
    path with no file, so the caller exports the graph again."""
    return graph_cache.lookup(digest)


def store_onnx(digest: str, graph: bytes) -> Path | None:
    """Keep a graph, with the sidecar that ties it to its model file, for the next run (sargasses.graph_cache)."""
    return graph_cache.store(digest, graph)


def _cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def onnx_bytes(loaded: Any, sample_size: int = 64, blocked: bool = True) -> bytes:
    """The probability module as an ONNX graph; batch, height and width dynamic (multiples of 32).

    Traced on a small sample: tracing a full tile would hold all its activations (hundreds of MB). A side that
    is a multiple of 32 needs no padding inside mfai's networks, so the traced graph holds no padding step and
    serves every tile shape the grid makes (tests compare it with torch at several shapes). `blocked`: an mfai
    UNet is exported with its first level on 2x2 pixel blocks (sargasses.unet_blocks: same probabilities, a third
    faster on a CPU); False exports the module as it is.
    """
    from sargasses.unet_blocks import rewritten

    torch = _torch()
    module = loaded.module.to("cpu").eval()
    if blocked:
        module = rewritten(module, len(loaded.card.band_names)) or module
    sample = torch.zeros(1, len(loaded.card.band_names), sample_size, sample_size)
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (sample,),
            buffer,
            input_names=["reflectance"],
            output_names=["probability"],
            dynamic_axes={"reflectance": axes, "probability": dict(axes)},
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def onnx_session(graph: bytes | str | os.PathLike, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # The memory pattern pre-plans one block for every intermediate tensor; without it the arena reuses freed
    # blocks: 140 MB less for a 512 x 512 HalfUNet-16 tile at the same speed (docs/performance.md).
    options.enable_mem_pattern = False
    # Idle worker threads sleep instead of spinning: the spin would take the core the tile reader needs
    # (measured on 2 cores: the model ran 1.7x faster beside the reader with spinning off; docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class BaselineScorer(Scorer):
    """AFAI or FAI minus its median background (sargasses.baseline), NaN where excluded."""

    def __init__(self, method: str, band_names: Sequence[str], background: bool = True) -> None:
        from sargasses import baseline

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


# --------------------------------------------------------------------------- running the grid
@dataclass
class Strip:
    """Final rows [row, row + height) of the area, full width."""

    row: int
    score: np.ndarray  # (h, W) float32, NaN where not scored (nodata, land, cloud)
    nodata: np.ndarray  # (h, W) bool
    land: np.ndarray  # (h, W) bool (spectral test or the user's land mask)
    cloud: np.ndarray  # (h, W) bool

    @property
    def height(self) -> int:
        return self.score.shape[0]

    @cached_property
    def excluded(self) -> np.ndarray:
        """nodata | land | cloud, made once (run_tiles masks the score with it, detection the rafts)."""
        return self.nodata | self.land | self.cloud


@dataclass
class _Tile:
    index: int  # tile-row index
    row: int
    col: int
    reflectance: np.ndarray
    nodata: np.ndarray
    land: np.ndarray
    cloud: np.ndarray
    excluded: np.ndarray = field(init=False)  # nodata | land | cloud, made once, on the reader's thread
    codes: np.ndarray = field(init=False)  # the three as bits of one uint8 (NODATA | LAND | CLOUD), as buffered
    empty: bool = field(init=False)  # all nodata
    no_water: bool = field(init=False)  # only nodata, land and cloud: the mask would hide the model's answer

    def __post_init__(self) -> None:
        self.excluded = self.nodata | self.land | self.cloud
        self.codes = self.nodata.view(np.uint8) * np.uint8(NODATA)
        self.codes[self.land] |= LAND
        self.codes[self.cloud] |= CLOUD
        self.empty = bool(self.nodata.all())
        self.no_water = bool(self.excluded.all())


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """A batch; a batch of one is a view of its tile, not a copy."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


@dataclass
class RunStats:
    """What a run did, and where its time went (seconds of each stage; reading runs beside the model)."""

    tiles: int = 0
    tiles_run: int = 0
    tiles_skipped: int = 0  # all nodata
    tiles_no_water: int = 0  # valid pixels, but every one of them land or cloud
    batches: int = 0
    read_s: float = 0.0  # reading tiles and their masks (background thread)
    model_s: float = 0.0  # the scorer, summed over the batches it runs at once
    wait_s: float = 0.0  # the model waiting for tiles: reading is the bottleneck when this is large


ReadTile = Callable[[int, int, int, int], np.ndarray]  # (row, col, height, width) -> (C, h, w) reflectance
ReadLand = Callable[[int, int, int, int], np.ndarray]  # (row, col, height, width) -> (h, w) bool


def _reader(
    grid: TileGrid,
    read_tile: ReadTile,
    band_names: Sequence[str],
    batch_size: int,
    read_land: ReadLand | None,
    out: queue.Queue,
    stop: threading.Event,
    stats: RunStats,
) -> None:
    """Background thread: read tiles and their exclusion masks, a batch at a time, ahead of the model."""
    try:
        batch: list[_Tile] = []
        for index, row, col, h, w in grid.tiles():
            if stop.is_set():
                return
            if batch and batch[0].nodata.shape != (h, w):  # a batch holds tiles of one shape
                out.put(batch)
                batch = []
            started = time.perf_counter()
            reflectance = read_tile(row, col, h, w)
            layers = exclusion_layers(reflectance, band_names)
            # The model takes nodata as 0 (np.nan_to_num does the same in five passes instead of two).
            np.copyto(reflectance, np.float32(0.0), where=~np.isfinite(reflectance))
            land = layers.land
            if read_land is not None:
                land = (land | read_land(row, col, h, w)) & ~layers.nodata
            batch.append(_Tile(index, row, col, reflectance, layers.nodata, land, layers.cloud & ~land))
            stats.read_s += time.perf_counter() - started
            if len(batch) == batch_size:
                out.put(batch)
                batch = []
        if batch:
            out.put(batch)
        out.put(None)
    except BaseException as exc:  # handed to the main thread, which raises it
        out.put(exc)


def run_tiles(
    grid: TileGrid,
    read_tile: ReadTile,
    scorer: Scorer,
    batch_size: int = 2,
    read_land: ReadLand | None = None,
    on_tile: Callable[[int, int, np.ndarray, np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    stats: RunStats | None = None,
) -> Iterator[Strip]:
    """Score the whole grid, yielding final strips top to bottom (see the module docstring).

    `on_tile(row, col, reflectance, nodata)` sees every tile read (the quicklook uses it); `progress(done, total)`
    is called after every batch; `cancel` is checked between batches and raises DetectionCancelled.
    """
    stats = stats if stats is not None else RunStats()
    stats.tiles = grid.count
    for shape in grid.shapes:
        scorer.prepare(*shape)
    # the tiles' extent: the scene's, or more on a side shorter than a tile (its one tile is rounded up)
    height, width = (spans[-1][0] + spans[-1][1] for spans in (grid.rows, grid.cols))
    th = grid.tile_h
    weights = {shape: blend_weights(*shape, grid.overlap) for shape in grid.shapes}
    row_sums = weight_sums(grid.rows, height, grid.overlap)
    col_sums = weight_sums(grid.cols, width, grid.overlap)[: grid.width]
    acc = np.zeros((th, width), np.float32)  # sum of score * weight; NaN where a tile gave no score
    codes = np.full((th, width), NODATA, np.uint8)  # nodata, land and cloud bits: a byte a pixel, not three
    buffers = (acc, codes)
    fills = (0.0, NODATA)

    def finish(top: int, bottom: int) -> Iterator[Strip]:
        """Rows [top, bottom) leave the buffer (which starts at `top`) in strips of at most STRIP_ROWS rows,
        then the buffer moves up. Short strips keep every per-strip temporary small, whatever the width."""
        n = bottom - top
        w = grid.width
        for r0 in range(0, n, STRIP_ROWS):
            r1 = min(n, r0 + STRIP_ROWS)
            score = acc[r0:r1, :w] / row_sums[top + r0 : top + r1, None]
            score /= col_sums
            c = codes[r0:r1, :w]
            strip = Strip(top + r0, score, (c & NODATA) != 0, (c & LAND) != 0, (c & CLOUD) != 0)
            score[strip.excluded] = np.nan  # not scored: nodata, land, cloud
            yield strip
        for buffer, fill in zip(buffers, fills, strict=True):
            buffer[: th - n] = buffer[n:] if n < th else buffer[:0]
            buffer[max(th - n, 0) :] = fill

    def timed_score(run: list[_Tile]) -> tuple[np.ndarray | None, float]:
        started = time.perf_counter()
        scores = scorer.score(_stack([t.reflectance for t in run]), _stack([t.excluded for t in run])) if run else None
        return scores, time.perf_counter() - started

    def place(item: list[_Tile], run: list[_Tile], job: Future) -> Iterator[Strip]:
        """Blend a scored batch into the buffer, in reading order; rows that are final leave as strips."""
        nonlocal current, done
        scores, seconds = job.result()
        stats.model_s += seconds
        stats.batches += bool(run)
        stats.tiles_run += len(run)
        stats.tiles_skipped += sum(t.empty for t in item)
        stats.tiles_no_water += sum(t.no_water and not t.empty for t in item)
        by_tile = {id(t): s for t, s in zip(run, scores if scores is not None else [], strict=False)}
        for tile in item:
            while tile.index != current:  # a new tile row: the rows above it are final
                top, bottom = grid.rows[current][0], min(grid.rows[current + 1][0], grid.height)
                yield from finish(top, bottom)
                current += 1
            h, w = tile.nodata.shape
            r = tile.row - grid.rows[current][0]
            rows = slice(r, r + h)
            cols = slice(tile.col, tile.col + w)
            codes[rows, cols] = tile.codes
            if on_tile is not None:
                on_tile(tile.row, tile.col, tile.reflectance, tile.nodata)
            score = by_tile.get(id(tile))
            if score is not None:  # a baseline's NaN (where excluded) stays NaN
                acc[rows, cols] += score * weights[h, w]
        done += len(item)
        if progress is not None:
            progress(done, grid.count)

    # Batches are scored `scorer.parallel` at a time on a pool of threads, and placed in reading order.
    pool = ThreadPoolExecutor(scorer.parallel, thread_name_prefix="sargasses-model") if scorer.parallel > 1 else None
    in_flight: collections.deque[tuple[list[_Tile], list[_Tile], Future]] = collections.deque()
    tiles: queue.Queue = queue.Queue(maxsize=scorer.parallel + 1)
    stop = threading.Event()
    thread = threading.Thread(
        target=_reader,
        args=(grid, read_tile, scorer.band_names, batch_size, read_land, tiles, stop, stats),
        name="sargasses-tile-reader",
        daemon=True,
    )
    thread.start()
    done = 0
    current = 0  # tile-row index whose rows the buffer holds
    try:
        while True:
            waiting = time.perf_counter()
            item = tiles.get()
            stats.wait_s += time.perf_counter() - waiting
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            if cancel is not None and cancel.is_set():
                raise DetectionCancelled("detection cancelled; nothing was written")
            run = [t for t in item if not t.no_water]
            if pool is not None:
                job = pool.submit(timed_score, run)
            else:
                job = Future()
                job.set_result(timed_score(run))
            in_flight.append((item, run, job))
            if len(in_flight) >= scorer.parallel:
                yield from place(*in_flight.popleft())
        while in_flight:
            yield from place(*in_flight.popleft())
        yield from finish(grid.rows[current][0], grid.height)
    finally:
        stop.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        while thread.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                tiles.get(timeout=0.05)
        thread.join()
