"""Tiled inference: a scene of any size through a model a few tiles at a time, blended without seams.

The scene is cut into tiles (size and overlap from the model card). Tiles are read by a background thread a batch
ahead of the model, run in batches (`scorer.parallel` batches at once, each on a thread of its own), and blended
into a buffer one tile-row high with weights that ramp down across the overlaps (every weight > 0, so scene
borders covered by one tile need no special case). As soon as a tile row is done, the rows above the next tile row
are final: they leave as a `Strip` and the buffer moves down. Memory therefore depends on the scene's width, never
on its height, and never holds the scene.

The grid is sargasses.detection.tiling's; scorers are sargasses.detection.scorers'. A scene
smaller than a tile gets one tile rounded up to a multiple of 32 pixels; the reader given to `run_tiles` fills
that padding (detect.py mirrors the scene into it: zeros would read as a dark shore and give false rafts).
Tiles with no open water (every pixel nodata, land or cloud) are not run: the mask would hide what they gave.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sargasses.detection.scorers import Scorer
from sargasses.detection.tiling import TileGrid, blend_weights, weight_sums
from sargasses.errors import DetectionCancelled
from sargasses.reading.masking import ExclusionLayers, exclusion_layers

STRIP_ROWS = 64  # final rows leave the blending buffer in strips of at most this many rows
NODATA, LAND, CLOUD = 1, 2, 4  # bits of the exclusion codes run_tiles buffers


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
ReadFlags = Callable[[int, int, int, int], ExclusionLayers]  # (row, col, height, width) -> a product's own masks


def _reader(
    grid: TileGrid,
    read_tile: ReadTile,
    band_names: Sequence[str],
    batch_size: int,
    read_land: ReadLand | None,
    read_flags: ReadFlags | None,
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
            if read_flags is not None:  # the product's own nodata, land and cloud flags (Sentinel-3 OLCI)
                layers = layers.with_flags(read_flags(row, col, h, w))
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


class _Blender:
    """The blending buffer, one tile-row high: tiles are added in reading order; rows that are final leave as strips."""

    def __init__(self, grid: TileGrid) -> None:
        self.grid = grid
        # the tiles' extent: the scene's, or more on a side shorter than a tile (its one tile is rounded up)
        height, width = (spans[-1][0] + spans[-1][1] for spans in (grid.rows, grid.cols))
        self.weights = {shape: blend_weights(*shape, grid.overlap) for shape in grid.shapes}
        self.row_sums = weight_sums(grid.rows, height, grid.overlap)
        self.col_sums = weight_sums(grid.cols, width, grid.overlap)[: grid.width]
        self.acc = np.zeros((grid.tile_h, width), np.float32)  # sum of score * weight; NaN where a tile gave no score
        self.codes = np.full((grid.tile_h, width), NODATA, np.uint8)  # nodata, land, cloud bits: a byte a pixel
        self.current = 0  # tile-row index whose rows the buffer holds

    def place(self, tile: _Tile, score: np.ndarray | None) -> Iterator[Strip]:
        """Blend one tile (its score None when it was not run); the rows above a new tile row leave first."""
        grid = self.grid
        while tile.index != self.current:  # a new tile row: the rows above it are final
            top, bottom = grid.rows[self.current][0], min(grid.rows[self.current + 1][0], grid.height)
            yield from self._finish(top, bottom)
            self.current += 1
        h, w = tile.nodata.shape
        r = tile.row - grid.rows[self.current][0]
        rows = slice(r, r + h)
        cols = slice(tile.col, tile.col + w)
        self.codes[rows, cols] = tile.codes
        if score is not None:  # a baseline's NaN (where excluded) stays NaN
            self.acc[rows, cols] += score * self.weights[h, w]

    def finish(self) -> Iterator[Strip]:
        """The rows of the last tile row."""
        yield from self._finish(self.grid.rows[self.current][0], self.grid.height)

    def _finish(self, top: int, bottom: int) -> Iterator[Strip]:
        """Rows [top, bottom) leave the buffer (which starts at `top`) in strips of at most STRIP_ROWS rows,
        then the buffer moves up. Short strips keep every per-strip temporary small, whatever the width."""
        n = bottom - top
        w = self.grid.width
        th = self.grid.tile_h
        for r0 in range(0, n, STRIP_ROWS):
            r1 = min(n, r0 + STRIP_ROWS)
            score = self.acc[r0:r1, :w] / self.row_sums[top + r0 : top + r1, None]
            score /= self.col_sums
            c = self.codes[r0:r1, :w]
            strip = Strip(top + r0, score, (c & NODATA) != 0, (c & LAND) != 0, (c & CLOUD) != 0)
            score[strip.excluded] = np.nan  # not scored: nodata, land, cloud
            yield strip
        for buffer, fill in ((self.acc, 0.0), (self.codes, NODATA)):
            buffer[: th - n] = buffer[n:] if n < th else buffer[:0]
            buffer[max(th - n, 0) :] = fill


def run_tiles(
    grid: TileGrid,
    read_tile: ReadTile,
    scorer: Scorer,
    batch_size: int = 2,
    read_land: ReadLand | None = None,
    read_flags: ReadFlags | None = None,
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
    blender = _Blender(grid)
    done = 0
    reader = _read_ahead(grid, read_tile, scorer.band_names, batch_size, read_land, read_flags, scorer.parallel, stats)
    with contextlib.closing(_scored(reader, scorer, cancel, stats)) as batches:
        for item, run, scores in batches:
            stats.batches += bool(run)
            stats.tiles_run += len(run)
            stats.tiles_skipped += sum(t.empty for t in item)
            stats.tiles_no_water += sum(t.no_water and not t.empty for t in item)
            by_tile = {id(t): s for t, s in zip(run, scores if scores is not None else [], strict=False)}
            for tile in item:
                yield from blender.place(tile, by_tile.get(id(tile)))
                if on_tile is not None:
                    on_tile(tile.row, tile.col, tile.reflectance, tile.nodata)
            done += len(item)
            if progress is not None:
                progress(done, grid.count)
    yield from blender.finish()


@contextlib.contextmanager
def _read_ahead(
    grid: TileGrid,
    read_tile: ReadTile,
    band_names: Sequence[str],
    batch_size: int,
    read_land: ReadLand | None,
    read_flags: ReadFlags | None,
    parallel: int,
    stats: RunStats,
) -> Iterator[queue.Queue]:
    """The queue the reader thread (_reader) fills with batches of tiles, a few batches ahead; stopped on exit."""
    tiles: queue.Queue = queue.Queue(maxsize=parallel + 1)
    stop = threading.Event()
    thread = threading.Thread(
        target=_reader,
        args=(grid, read_tile, band_names, batch_size, read_land, read_flags, tiles, stop, stats),
        name="sargasses-tile-reader",
        daemon=True,
    )
    thread.start()
    try:
        yield tiles
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                tiles.get(timeout=0.05)
        thread.join()


def _scored(
    reader: contextlib.AbstractContextManager[queue.Queue],
    scorer: Scorer,
    cancel: threading.Event | None,
    stats: RunStats,
) -> Iterator[tuple[list[_Tile], list[_Tile], np.ndarray | None]]:
    """(batch, its tiles that were run, their scores), in reading order; `scorer.parallel` batches scored at once
    on a pool of threads. Tiles with no open water are not run."""

    def timed_score(run: list[_Tile]) -> tuple[np.ndarray | None, float]:
        started = time.perf_counter()
        scores = scorer.score(_stack([t.reflectance for t in run]), _stack([t.excluded for t in run])) if run else None
        return scores, time.perf_counter() - started

    def placed(item: list[_Tile], run: list[_Tile], job: Future) -> tuple[list[_Tile], list[_Tile], np.ndarray | None]:
        scores, seconds = job.result()
        stats.model_s += seconds
        return item, run, scores

    pool = ThreadPoolExecutor(scorer.parallel, thread_name_prefix="sargasses-model") if scorer.parallel > 1 else None
    in_flight: collections.deque[tuple[list[_Tile], list[_Tile], Future]] = collections.deque()
    try:
        with reader as tiles:
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
                    yield placed(*in_flight.popleft())
            while in_flight:
                yield placed(*in_flight.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
