"""The whole detection: raster in, raft polygons (and optionally probabilities, a quicklook) out, plus a summary.

The stages, each in a file of its own (docs/architecture.md):

    open and check   options.py, outputs/output_checks.py, input_checks.py (before any work), method.py (the scorer)
    plan windows     area.py (the window, its tiles, its pixels' metric)
    score, blend     scene_tiles.py (tiles read and checked) -> tiled_loop.py (batches, blending into strips)
    mask             detected.py (score >= threshold on open water)
    sinks            sinks/: rafts.py, probabilities.py, cover.py, quicklook.py, tally.py (each takes the strips)
    commit           outputs/output_set.py (all outputs or none)
    summary          run_summary.py

`run_detection(options, progress, cancel)` is what the CLI (`sargasses detect`) and the QGIS plugin's engine call.
Every output is checked before any work (format, folder writable, not there yet unless `overwrite`, not one of the
run's inputs even with `overwrite`); the outputs are one set (sargasses/outputs/output_set.py): written in a staging folder
and renamed into place together, the summary last, only when all are complete. An error, a cancel, Ctrl-C or
SIGTERM leaves nothing new, and the earlier files as they were.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from sargasses.detection.area import DetectionArea, plan_area
from sargasses.detection.detected import detect
from sargasses.detection.input_checks import check_crs, open_checked_scene
from sargasses.detection.method import Method, choose_method
from sargasses.detection.model_cache import model_card
from sargasses.detection.options import DetectOptions, check_options
from sargasses.detection.run_summary import build_summary, json_safe, write_summary
from sargasses.detection.scene_tiles import SceneTiles
from sargasses.detection.sinks.assembly import RunSinks, discard_all, open_sinks
from sargasses.detection.stage_clock import StageClock
from sargasses.detection.tiled_loop import RunStats, Strip, run_tiles
from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.outputs.output_checks import check_outputs, output_targets, stale_parts
from sargasses.outputs.summary import RunSummary

# GDAL's block cache; its default (5% of RAM) would make memory grow with the scene. 64 MB holds most of the blocks
# two tile rows share on a 5490-px Sentinel-2 tile (96 MB read 0.6 s faster there but grew the peak RSS by 20 %
# from 4 to 30 Mpx with two tiles in flight: docs/performance.md). Overridable for benchmarks.
GDAL_CACHE_MB = int(os.environ.get("SARGASSES_GDAL_CACHE_MB", "64"))

Progress = Callable[[float, str], None]


def run_detection(
    options: DetectOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Detect rafts as `options` say; returns the summary (also written as JSON beside the output).

    The summary's fields: sargasses.outputs.summary.RunSummary, documented in docs/engine_protocol.md.
    """
    import rasterio

    from sargasses.outputs.output_set import OutputSet
    from sargasses.reading.stac_item import is_stac_item

    started = time.perf_counter()
    _steady_heap()
    report = progress or (lambda fraction, message: None)
    check_options(options)  # open and check: the options, the input, the outputs, the model
    if not Path(options.input).exists() and not is_stac_item(options.input):
        raise SargassesError(f"{options.input} does not exist; check the path of the input image")
    model_path = _model_path(options)
    outputs = check_outputs(options, model_path)
    card = None
    if model_path is not None:
        report(0.0, f"loading model {model_path.name}")
        _, card = model_card(model_path)
    with OutputSet(*output_targets(outputs), overwrite=options.overwrite, label=outputs["output"].name) as outset:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024), open_checked_scene(options, card) as scene:
            check_crs(scene, options)
            method = choose_method(options, scene, card, model_path)
            area = plan_area(scene, options, method)  # plan the windows
            summary = _detect(options, outputs, outset, scene, method, area, report, cancel)
        summary["time_s"] = round(time.perf_counter() - started, 2)
        summary = cast(RunSummary, json_safe(summary))
        write_summary(outset.stage(outputs["summary"]), outputs["summary"], summary)
        if cancel is not None and cancel.is_set():
            raise DetectionCancelled("detection cancelled; nothing was written")
        targets, _ = output_targets(outputs)
        outset.commit(targets, remove=stale_parts(outputs["output"]))  # commit the output set
    report(1.0, f"{summary['rafts']} rafts found")
    return summary


def _detect(
    options: DetectOptions,
    outputs: dict[str, Path],
    outset: Any,
    scene: Any,
    method: Method,
    area: DetectionArea,
    report: Progress,
    cancel: threading.Event | None,
) -> RunSummary:
    """Score the area's tiles, blend them into strips, mask them, and feed every sink; the run's summary."""
    tiles = SceneTiles(scene, area, options.input, options.land)
    clock, stats = StageClock(), RunStats()
    try:
        sinks = open_sinks(options, outputs, outset, scene, method, area, clock)
        try:
            report(
                0.02,
                f"detecting on {area.width}x{area.height} px, {area.grid.count} tiles, {method.scorer.description}",
            )
            for strip in detect(_strips(tiles, method, sinks, report, cancel, stats), method.threshold, area):
                for sink in sinks.all:
                    sink.add(strip)
            if cancel is not None and cancel.is_set():
                raise DetectionCancelled("detection cancelled; nothing was written")
            warnings = sinks.tally.check(options.input, options.extent is not None, tiles.checked)
            report(0.93, "polygons")
            rafts = sinks.rafts.finish()
            report(0.96, f"writing {len(rafts)} rafts")
            for sink in sinks.all:
                sink.close(rafts)
        finally:
            discard_all(sinks.all)
    finally:
        tiles.close()
    return build_summary(options, outputs, scene, method, area, sinks, rafts, stats, clock, warnings)


def _strips(
    tiles: SceneTiles,
    method: Method,
    sinks: RunSinks,
    report: Progress,
    cancel: threading.Event | None,
    stats: RunStats,
) -> Iterator[Strip]:
    """Score tiles and blend them into strips: the tiled loop over the scene's tiles."""

    def tiles_done(done: int, total: int) -> None:
        report(0.02 + 0.9 * done / total, f"tile {done}/{total}")

    area = tiles.area
    return run_tiles(
        area.grid,
        tiles.read_tile,
        method.scorer,
        batch_size=area.batch_size,
        read_land=tiles.read_land,
        read_flags=tiles.read_flags,
        on_tile=sinks.quicklook.add_tile if sinks.quicklook else None,
        progress=tiles_done,
        cancel=cancel,
        stats=stats,
    )


def _model_path(options: DetectOptions) -> Path | None:
    """The model file a model run uses (the bundled one by default); None for an index."""
    if options.method != "model":
        return None
    from sargasses.model_file import default_model_path

    return Path(options.model) if options.model else default_model_path()


_HEAP_TUNED = False


def _steady_heap() -> None:
    """Stop glibc from raising its mmap threshold after each large free (its default, dynamic behaviour).

    Tiles and strips are arrays of a few MB allocated and freed by two threads; with the dynamic threshold they
    move from mmap to the heap, which fragments and keeps growing with the number of tiles (measured: 75 MB more
    peak RSS on a full Sentinel-2 tile). A fixed 1 MB threshold gives their memory back when they are freed.
    """
    global _HEAP_TUNED
    if _HEAP_TUNED or not sys.platform.startswith("linux"):
        return
    _HEAP_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune
