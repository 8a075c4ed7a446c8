"""Stage "summary": what a run found and did, as the RunSummary the CLI prints, the engine sends and the run writes
beside its output (fields: sargasses.outputs.summary.RunSummary, documented in docs/engine_protocol.md)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.method import Method
from sargasses.detection.options import DetectOptions
from sargasses.detection.shore import SETTINGS
from sargasses.detection.sinks.assembly import RunSinks
from sargasses.detection.stage_clock import StageClock
from sargasses.detection.tiled_loop import RunStats
from sargasses.detection.vectorize import Raft
from sargasses.outputs.summary import RunSummary


def build_summary(
    options: DetectOptions,
    outputs: dict[str, Path],
    scene: Any,
    method: Method,
    area: DetectionArea,
    sinks: RunSinks,
    rafts: list[Raft],
    stats: RunStats,
    clock: StageClock,
    warnings: list[str],
) -> RunSummary:
    """The summary of one run (its time_s is added by run_detection, once the outputs are written)."""
    total_m2 = sum(r.area_m2 for r in rafts)
    water_m2 = sinks.tally.water_m2
    cover = sinks.cover.cover if sinks.cover is not None else None
    if area.pixel_units:  # areas are pixel counts: no km2 figures, the summary says so
        warnings.append(f"{options.input} has no CRS: areas are in pixels (--pixel-units), lon/lat are empty")
    summary: RunSummary = {
        "input": str(options.input),
        "output": str(outputs["output"]),
        "summary": str(outputs["summary"]),
        "probabilities": str(outputs["probabilities"]) if "probabilities" in outputs else None,
        "coverage": str(outputs["coverage"]) if "coverage" in outputs else None,
        "quicklook": str(outputs["quicklook"]) if "quicklook" in outputs else None,
        **_method_fields(options, method),
        "units": "pixels" if area.pixel_units else "metres",
        "min_area_m2": None if area.pixel_units or options.min_area is None else float(options.min_area),
        "min_raft_pixels": area.min_pixels,
        "rafts": len(rafts),
        "rafts_by_setting": {name: sum(r.setting == name for r in rafts) for name in SETTINGS},
        **_area_fields(area.pixel_units, total_m2, water_m2, sinks),
        "coverage_method": cover.method if cover is not None else None,
        "water_share_covered": round(total_m2 / water_m2, 8) if water_m2 else 0.0,
        "rafts_dropped_small": sinks.rafts.collector.dropped_small,
        "pixels": {"width": area.width, "height": area.height, **sinks.tally.counts},
        "tiles": _tile_fields(area, stats),
        "timing": {  # seconds per stage; reading runs in a background thread, beside the model
            "read_s": round(stats.read_s, 2),
            "model_s": round(stats.model_s, 2),
            "waiting_for_reads_s": round(stats.wait_s, 2),
            **{k: round(v, 2) for k, v in clock.seconds.items()},
        },
        "crs": scene.crs.to_string() if scene.crs is not None else None,
        "sensor": scene.sensor,
        "product_id": scene.product_id,
        "stac_item": getattr(scene, "self_link", None),  # a STAC item's self link (reading/stac_item.py)
        "acquisition_date": scene.acquisition_date,
        "options": {k: v for k, v in asdict(options).items() if v is not None},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warnings": warnings,
    }
    return summary


def _method_fields(options: DetectOptions, method: Method) -> dict[str, Any]:
    """How the scene was scored: method, model, scorer, device, threshold and where the threshold came from."""
    card, scorer = method.card, method.scorer
    device = getattr(scorer, "device", None)
    return {
        "method": options.method,
        "model": None
        if card is None
        else {"name": card.name, "version": card.version, "path": str(method.model_path), "sensor": card.sensor},
        "scorer": scorer.description,
        "device": device.kind if device is not None else "cpu",
        "device_name": device.name if device is not None else _cpu_name(),
        "threshold": method.threshold,
        "threshold_source": "yours"
        if options.threshold is not None
        else ("the model's, picked on validation" if options.method == "model" else "the index's default"),
    }


def _area_fields(pixel_units: bool, total_m2: float, water_m2: float, sinks: RunSinks) -> dict[str, Any]:
    """The rafts', the water's and the cover's areas: km2, or pixel counts in pixel units."""
    covered_m2 = sinks.cover.covered_m2 if sinks.cover is not None else 0.0
    if pixel_units:
        return {
            "total_area_km2": None,
            "water_area_km2": None,
            "covered_area_km2": None,
            "total_area_px": int(total_m2),
            "water_area_px": int(water_m2),
            **({"covered_area_px": round(covered_m2, 2)} if sinks.cover is not None else {}),
        }
    return {
        "total_area_km2": round(total_m2 / 1e6, 6),
        "covered_area_km2": round(covered_m2 / 1e6, 6) if sinks.cover is not None else None,
        "water_area_km2": round(water_m2 / 1e6, 4),
    }


def _tile_fields(area: DetectionArea, stats: RunStats) -> dict[str, Any]:
    grid = area.grid
    return {
        "size": [grid.tile_h, grid.tile_w],
        "overlap": grid.overlap,
        "total": stats.tiles,
        "run": stats.tiles_run,
        "skipped_nodata": stats.tiles_skipped,
        "skipped_no_water": stats.tiles_no_water,
        "batch_size": area.batch_size,
    }


def _cpu_name() -> str:
    from sargasses.detection.devices import cpu_threads

    return f"CPU ({cpu_threads()} threads)"


def json_safe(value: Any) -> Any:
    """NaN and inf as null: JSON has no such numbers, and the plugin and other tools must be able to read it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_summary(path: Path, final: Path, summary: RunSummary) -> None:
    """The summary, written to `path` (in the staging folder) and flushed; errors are named by its `final` path."""
    from sargasses.atomic import atomic_write_text, write_error

    try:
        atomic_write_text(path, json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n")
    except OSError as exc:
        raise write_error(final, exc) from None
