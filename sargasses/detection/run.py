"""The whole detection: raster in, raft polygons (and optionally probabilities, a quicklook) out, plus a summary.

    options.py (what was asked) -> output_checks.py, input_checks.py (before any work)
    -> reading/scene.py (read, scale) -> tiled_loop.py (tiles, batches, blending; tiling.py, scorers.py)
    -> reading/masking.py (nodata, land, cloud) -> vectorize.py (polygons, measures)
    -> vector_output.py (gpkg / shp / geojson), probability_raster.py, quicklook.py -> output_set.py (all or none)

`run_detection(options, progress, cancel)` is what the CLI (`sargasses detect`) and the QGIS plugin's engine call.
Every output is checked before any work (format, folder writable, not there yet unless `overwrite`, not one of the
run's inputs even with `overwrite`); the outputs are one set (sargasses/outputs/output_set.py): written in a staging folder
and renamed into place together, the summary last, only when all are complete. An error, a cancel, Ctrl-C or
SIGTERM leaves nothing new, and the earlier files as they were.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from sargasses.detection.input_checks import (
    InputCheck,
    area_window,
    check_crs,
    check_model_fits,
    open_checked_scene,
)
from sargasses.detection.model_cache import cached_scorer, model_card
from sargasses.detection.options import DetectOptions, check_options, default_min_pixels
from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.outputs.output_checks import check_outputs, output_targets, stale_parts
from sargasses.outputs.probability_raster import ProbabilityRaster
from sargasses.outputs.summary import RunSummary

# GDAL's block cache; its default (5% of RAM) would make memory grow with the scene. 64 MB holds most of the blocks
# two tile rows share on a 5490-px Sentinel-2 tile (96 MB read 0.6 s faster there but grew the peak RSS by 20 %
# from 4 to 30 Mpx with two tiles in flight: docs/performance.md). Overridable for benchmarks.
GDAL_CACHE_MB = int(os.environ.get("SARGASSES_GDAL_CACHE_MB", "64"))

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------- the run
def _default_batch(device_kind: str, tile: int) -> int:
    """Tiles per batch: on CPU one 512 x 512 tile (ONNX Runtime gains under 10 % from batches of 2-4 there but
    needs 400 MB more per tile: docs/performance.md); on a GPU eight."""
    pixels = max(1, (512 * 512) // (tile * tile))
    return (8 if device_kind in ("cuda", "mps") else 1) * pixels


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


@dataclass
class Method:
    """How the scene is scored: the scorer, its threshold and tiles, and the model behind it (None: an index)."""

    scorer: Any
    threshold: float
    tile_size: int
    overlap: int
    device_kind: str
    card: Any = None
    model_path: Path | None = None


def _method(options: DetectOptions, scene: Any, card: Any, model_path: Path | None) -> Method:
    """The model's scorer (checked against the scene), or the AFAI / FAI index's."""
    if card is not None and model_path is not None:
        check_model_fits(card, scene, options)
        scorer = cached_scorer(model_path, options.device, options.backend)
        threshold = card.threshold if options.threshold is None else float(options.threshold)
        kind = getattr(getattr(scorer, "device", None), "kind", "cpu")
        return Method(scorer, threshold, options.tile_size or card.tile_size, card.tile_overlap, kind, card, model_path)
    from sargasses.detection import baseline
    from sargasses.detection.scorers import BaselineScorer

    scorer = BaselineScorer(options.method, scene.band_names, background=options.background)
    threshold = baseline.default_threshold(options.method, scene.band_names)
    threshold = threshold if options.threshold is None else options.threshold
    return Method(scorer, threshold, options.tile_size or 512, 64, "cpu")


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

    started = time.perf_counter()
    _steady_heap()
    report = progress or (lambda fraction, message: None)
    check_options(options)
    if not Path(options.input).exists():
        raise SargassesError(f"{options.input} does not exist; check the path of the input image")
    model_path = None
    if options.method == "model":
        from sargasses.model_file import default_model_path

        model_path = Path(options.model) if options.model else default_model_path()
    outputs = check_outputs(options, model_path)

    card = None
    if model_path is not None:
        report(0.0, f"loading model {model_path.name}")
        _, card = model_card(model_path)
    with OutputSet(*output_targets(outputs), overwrite=options.overwrite, label=outputs["output"].name) as outset:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024), open_checked_scene(options, card) as scene:
            check_crs(scene, options)
            method = _method(options, scene, card, model_path)
            summary = _run(options, outputs, outset, scene, method, report, cancel)
        summary["time_s"] = round(time.perf_counter() - started, 2)
        summary = cast(RunSummary, _json_safe(summary))
        _write_summary(outset.stage(outputs["summary"]), outputs["summary"], summary)
        if cancel is not None and cancel.is_set():
            raise DetectionCancelled("detection cancelled; nothing was written")
        targets, _ = output_targets(outputs)
        outset.commit(targets, remove=stale_parts(outputs["output"]))
    report(1.0, f"{summary['rafts']} rafts found")
    return summary


def _run(
    options: DetectOptions,
    outputs: dict[str, Path],
    outset: Any,
    scene: Any,
    method: Method,
    report: Progress,
    cancel: threading.Event | None,
) -> RunSummary:
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    from sargasses.atomic import write_error
    from sargasses.detection.coverage import CoverEstimator, afai_bands, afai_reader, profile_wavelengths
    from sargasses.detection.tiled_loop import RunStats, run_tiles
    from sargasses.detection.tiling import mirror_pad, tile_grid
    from sargasses.detection.vectorize import PixelMetric, RaftCollector
    from sargasses.outputs.quicklook import Quicklook
    from sargasses.outputs.vector_output import rafts_table, write_layer
    from sargasses.reading.masking import ExclusionLayers, UserLandMask
    from sargasses.reading.sensors import get_profile, is_rendered

    window = area_window(scene, options.extent)
    row_off, col_off = int(window.row_off), int(window.col_off)
    height, width = int(window.height), int(window.width)
    transform = window_transform(window, scene.transform)
    grid = tile_grid(height, width, method.tile_size, method.overlap)
    batch_size = options.batch_size or _default_batch(method.device_kind, grid.tile_h)

    checked = InputCheck(rendered=is_rendered(get_profile(scene.sensor)) if scene.sensor else False)

    def read_tile(row: int, col: int, h: int, w: int) -> np.ndarray:
        """The tile, the scene mirrored into any part of it that overhangs the scene (tiling.mirror_pad)."""
        from rasterio.errors import RasterioError

        inside_h = max(1, min(h, scene.height - row - row_off))
        inside_w = max(1, min(w, scene.width - col - col_off))
        try:
            data = scene.read(Window(col + col_off, row + row_off, inside_w, inside_h))
        except RasterioError as exc:  # a damaged block in the middle of the file
            raise SargassesError(
                f"reading {options.input} failed near row {row + row_off}, column {col + col_off} ({exc}); "
                "the file may be truncated or damaged: copy or download it again"
            ) from None
        checked.add(data)
        return mirror_pad(data, h, w)

    read_flags = None
    if hasattr(scene, "read_exclusion"):  # a product with its own nodata, land and cloud flags (Sentinel-3 OLCI)

        def read_flags(row: int, col: int, h: int, w: int) -> ExclusionLayers:
            return scene.read_exclusion(Window(col + col_off, row + row_off, w, h))

    land_mask = None
    read_land = None
    if options.land:
        land_mask = UserLandMask(options.land, scene.crs, scene.transform, scene.width, scene.height)

        def read_land(row: int, col: int, h: int, w: int) -> np.ndarray:
            return land_mask.read(row + row_off, col + col_off, h, w)

    # fractional cover only when asked for: unmixing reads the strips with rafts again (docs/detect.md)
    cover = None
    close_reader = None
    if "coverage" in outputs:
        wavelengths = profile_wavelengths(scene.sensor, scene.band_names)
        bands = afai_bands(scene.band_names, wavelengths)
        read_rows: Any = None
        if bands is not None:
            read_rows, close_reader = afai_reader(scene, bands, col_off, row_off, width)
        cover = CoverEstimator(scene.band_names, wavelengths, read_rows)
    quicklook = Quicklook(height, width, scene.band_names) if options.quicklook else None
    pixel_units = scene.crs is None  # only with options.pixel_units: _check_crs refuses it otherwise
    metric = PixelMetric(transform, scene.crs, pixel_units=pixel_units)
    _, _, centre_area = metric.pixel_steps(np.array([height // 2]), np.array([width // 2]))
    min_pixels = default_min_pixels(options, None if pixel_units else math.sqrt(float(centre_area[0])))
    collector = RaftCollector(
        transform, scene.crs, width, options.min_area or 0.0, options.simplify, pixel_units=pixel_units,
        min_pixels=min_pixels,
    )  # fmt: skip
    stats = RunStats()
    timing = {"polygons_s": 0.0, "coverage_s": 0.0, "write_s": 0.0}

    @contextlib.contextmanager
    def clock(stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            timing[stage] += time.perf_counter() - started

    counts = {"valid": 0, "water": 0, "land": 0, "cloud": 0, "nodata": 0, "detected": 0}
    areas = {"water_m2": 0.0, "valid_m2": 0.0, "covered_m2": 0.0}
    card, threshold, scorer = method.card, method.threshold, method.scorer
    method_name = card.name if card is not None else options.method
    writer = None
    cover_writer = None
    try:
        if "probabilities" in outputs:
            tags = {
                "SCORE": "probability" if card is not None else f"{options.method} index minus background",
                "METHOD": options.method,
                "MODEL": method_name,
                "THRESHOLD": f"{threshold:g}",
            }
            writer = ProbabilityRaster(
                outset.stage(outputs["probabilities"]),
                outputs["probabilities"],
                width,
                height,
                scene.crs,
                transform,
                tags,
            )
        if cover is not None:
            cover_tags = {"SCORE": "fractional cover", "COVER_METHOD": cover.description, "MODEL": method_name}
            cover_writer = ProbabilityRaster(
                outset.stage(outputs["coverage"]), outputs["coverage"], width, height, scene.crs, transform, cover_tags
            )

        def tiles_done(done: int, total: int) -> None:
            report(0.02 + 0.9 * done / total, f"tile {done}/{total}")

        report(0.02, f"detecting on {width}x{height} px, {grid.count} tiles, {scorer.description}")
        strips = run_tiles(
            grid,
            read_tile,
            scorer,
            batch_size=batch_size,
            read_land=read_land,
            read_flags=read_flags,
            on_tile=quicklook.add_tile if quicklook else None,
            progress=tiles_done,
            cancel=cancel,
            stats=stats,
        )
        for strip in strips:
            excluded = strip.excluded
            with np.errstate(invalid="ignore"):
                mask = (strip.score >= threshold) & ~excluded
            with clock("polygons_s"):
                collector.add(strip.row, mask, strip.score)
            if writer is not None:
                with clock("write_s"):
                    writer.add(strip.score)
            if cover is not None and cover_writer is not None:
                with clock("coverage_s"):
                    strip_cover = cover.cover(strip.row, mask, strip.score, excluded)
                with clock("write_s"):
                    cover_writer.add(strip_cover)
            valid = ~strip.nodata
            water = valid & ~excluded
            n_valid, n_water = int(valid.sum()), int(water.sum())
            counts["valid"] += n_valid
            counts["water"] += n_water
            counts["land"] += int(strip.land.sum())
            counts["cloud"] += int(strip.cloud.sum())
            counts["nodata"] += int(strip.nodata.sum())
            counts["detected"] += int(mask.sum())
            if n_valid:
                _, _, pixel_area = metric.pixel_steps(np.array([strip.row + strip.height // 2]), np.array([width // 2]))
                areas["water_m2"] += n_water * float(pixel_area[0])
                areas["valid_m2"] += n_valid * float(pixel_area[0])
                if cover is not None:
                    areas["covered_m2"] += float(np.nansum(strip_cover)) * float(pixel_area[0])
        if cancel is not None and cancel.is_set():
            raise DetectionCancelled("detection cancelled; nothing was written")
        if counts["valid"] == 0 and checked.infinite:
            raise SargassesError(
                f"{options.input} holds only infinite values (inf){' inside --extent' if options.extent else ''}, "
                "no reflectance; the file was likely made by a division by zero or an overflow: export it again"
            )
        if counts["valid"] == 0:
            raise SargassesError(
                f"{options.input} has no valid pixel{' inside --extent' if options.extent else ''} (all nodata); "
                "check the input (and its nodata value) or the extent"
            )
        warnings = [w for w in [checked.verdict(options.input)] if w]
        if checked.infinite:
            warnings.append(
                f"{options.input} holds infinite values (inf); they were taken as nodata: check how the file was made"
            )
        report(0.93, "polygons")
        with clock("polygons_s"):
            rafts = collector.finish()
        with clock("write_s"):
            if writer is not None:
                writer.close()
                writer = None
            if cover_writer is not None:
                cover_writer.close()
                cover_writer = None
        attributes = {
            "acq_date": scene.acquisition_date,
            "sensor": scene.sensor,
            "product": scene.product_id,
            "model": method_name,
            "model_ver": card.version if card is not None else None,
        }
        report(0.96, f"writing {len(rafts)} rafts")
        with clock("write_s"):
            table = rafts_table(rafts, scene.crs, attributes)
            write_layer(table, outset.stage(outputs["output"]), name=outputs["output"])
            if quicklook is not None:
                geometries = [r.geometry for r in rafts]
                try:
                    quicklook.save(outset.stage(outputs["quicklook"]), geometries, transform, name=outputs["quicklook"])
                except OSError as exc:
                    raise write_error(outputs["quicklook"], exc) from None
    finally:
        if writer is not None:
            writer.discard()
        if cover_writer is not None:
            cover_writer.discard()
        if close_reader is not None:
            close_reader()
        if land_mask is not None:
            land_mask.close()

    total_m2 = sum(r.area_m2 for r in rafts)
    device = getattr(scorer, "device", None)
    if pixel_units:  # areas are pixel counts: no km2 figures, the summary says so
        warnings.append(f"{options.input} has no CRS: areas are in pixels (--pixel-units), lon/lat are empty")
        areas_out: dict[str, Any] = {
            "total_area_km2": None,
            "water_area_km2": None,
            "covered_area_km2": None,
            "total_area_px": int(total_m2),
            "water_area_px": int(areas["water_m2"]),
            **({"covered_area_px": round(areas["covered_m2"], 2)} if cover is not None else {}),
        }
    else:
        areas_out = {
            "total_area_km2": round(total_m2 / 1e6, 6),
            "covered_area_km2": round(areas["covered_m2"] / 1e6, 6) if cover is not None else None,
            "water_area_km2": round(areas["water_m2"] / 1e6, 4),
        }
    summary: RunSummary = {
        "input": str(options.input),
        "output": str(outputs["output"]),
        "summary": str(outputs["summary"]),
        "probabilities": str(outputs["probabilities"]) if "probabilities" in outputs else None,
        "coverage": str(outputs["coverage"]) if "coverage" in outputs else None,
        "quicklook": str(outputs["quicklook"]) if "quicklook" in outputs else None,
        "method": options.method,
        "model": None
        if card is None
        else {"name": card.name, "version": card.version, "path": str(method.model_path), "sensor": card.sensor},
        "scorer": scorer.description,
        "device": device.kind if device is not None else "cpu",
        "device_name": device.name if device is not None else _cpu_name(),
        "threshold": threshold,
        "threshold_source": "yours"
        if options.threshold is not None
        else ("the model's, picked on validation" if options.method == "model" else "the index's default"),
        "units": "pixels" if pixel_units else "metres",
        "min_area_m2": None if pixel_units or options.min_area is None else float(options.min_area),
        "min_raft_pixels": min_pixels,
        "rafts": len(rafts),
        **areas_out,
        "coverage_method": cover.method if cover is not None else None,
        "water_share_covered": round(total_m2 / areas["water_m2"], 8) if areas["water_m2"] else 0.0,
        "rafts_dropped_small": collector.dropped_small,
        "pixels": {"width": width, "height": height, **counts},
        "tiles": {
            "size": [grid.tile_h, grid.tile_w],
            "overlap": grid.overlap,
            "total": stats.tiles,
            "run": stats.tiles_run,
            "skipped_nodata": stats.tiles_skipped,
            "skipped_no_water": stats.tiles_no_water,
            "batch_size": batch_size,
        },
        "timing": {  # seconds per stage; reading runs in a background thread, beside the model
            "read_s": round(stats.read_s, 2),
            "model_s": round(stats.model_s, 2),
            "waiting_for_reads_s": round(stats.wait_s, 2),
            **{k: round(v, 2) for k, v in timing.items()},
        },
        "crs": scene.crs.to_string() if scene.crs is not None else None,
        "sensor": scene.sensor,
        "product_id": scene.product_id,
        "acquisition_date": scene.acquisition_date,
        "options": {k: v for k, v in asdict(options).items() if v is not None},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warnings": warnings,
    }
    return summary


def _cpu_name() -> str:
    from sargasses.detection.devices import cpu_threads

    return f"CPU ({cpu_threads()} threads)"


def _json_safe(value: Any) -> Any:
    """NaN and inf as null: JSON has no such numbers, and the plugin and other tools must be able to read it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _write_summary(path: Path, final: Path, summary: RunSummary) -> None:
    """The summary, written to `path` (in the staging folder) and flushed; errors are named by its `final` path."""
    from sargasses.atomic import atomic_write_text, write_error

    try:
        atomic_write_text(path, json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n")
    except OSError as exc:
        raise write_error(final, exc) from None
