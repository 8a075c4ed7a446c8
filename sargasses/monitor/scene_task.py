"""One scene on a worker: the detection as a library call, then the scene reduced to what the products need.

Why the worker sends values back instead of writing: only the client writes the monitoring folder, so a worker that
dies leaves nothing half-written and Dask simply runs its scene again elsewhere. The detection's own outputs (rafts
GeoPackage, cover raster, summary) go to a temporary folder on the worker, removed when the scene is measured.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sargasses.errors import SargassesError
from sargasses.monitor.gpkg_time import gpkg_datetime, parse_gpkg_datetime
from sargasses.monitor.inputs import SceneInput
from sargasses.monitor.reproject import WGS84, geometries
from sargasses.monitor.scene_measures import as_plain, measure_cover
from sargasses.monitor.scene_windows import SceneWindow
from sargasses.monitor.settings import MonitorSettings

THREADS_ENV = "SARGASSES_CPU_THREADS"  # read by sargasses/detection/devices.py's cpu_threads()
_SENSING = re.compile(r"_(\d{8}T\d{6})_")  # the sensing time in a Sentinel product name


def process_scene(scene: SceneInput, settings: MonitorSettings, window: SceneWindow | None = None) -> dict[str, Any]:
    """Detect and measure `scene` (or one `window` of it: its rafts and measures, scene_windows.merge_windows makes
    the scene of them); a failure is a result too (status "failed" and its one-line reason)."""
    started = time.perf_counter()
    if settings.threads_per_scene:
        os.environ[THREADS_ENV] = str(settings.threads_per_scene)
    result: dict[str, Any] = {"scene": scene.scene, "model_sha256": settings.model_sha256, "worker_pid": os.getpid()}
    workdir = Path(tempfile.mkdtemp(prefix="sargasses-monitor-"))
    try:
        summary = _detect(scene, settings, workdir, window.extent if window else scene.extent)
        result.update(status="done", reason=None, summary=_summary_fields(summary, scene.datetime))
        result["rafts"] = _rafts(workdir / "rafts.gpkg", summary, window)
        core = window.core if window else None
        result["measures"] = as_plain(measure_cover(str(workdir / "cover.tif"), settings, core))
        if window:
            _window_summary(result, summary, window)
    except SargassesError as exc:
        result.update(status="failed", reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # anything else is a failed scene too, not a dead run: reported, retried next time
        result.update(status="failed", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["elapsed_s"] = round(time.perf_counter() - started, 3)
    result["worker_peak_mb"] = _peak_rss_mb()
    return result


def _peak_rss_mb() -> float | None:
    """The worker process's peak resident memory so far (MB): flat from scene to scene when memory is bounded."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _detect(scene: SceneInput, settings: MonitorSettings, workdir: Path, extent) -> dict[str, Any]:
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    options = DetectOptions.from_mapping(
        {"input": scene.source, "output": str(workdir / "rafts.gpkg"), "coverage": str(workdir / "cover.tif"),
         "method": settings.method, "model": settings.model, "threshold": settings.threshold,
         "min_area": settings.min_area, "extent": list(extent) if extent else None}
    )  # fmt: skip
    return dict(run_detection(options))


def _summary_fields(summary: dict[str, Any], datetime: str | None = None) -> dict[str, Any]:
    """What the scenes layer keeps from the detection's summary (`datetime`: the acquisition, when known before)."""
    pixels = summary["pixels"]
    total = max(1, pixels["width"] * pixels["height"])
    return {
        "datetime": datetime or acquisition_datetime(summary.get("product_id"), summary.get("acquisition_date")),
        "sensor": summary.get("sensor"),
        "level": _level(summary.get("sensor")),
        "product": summary.get("product_id"),
        "cloud_share": pixels["cloud"] / total,
        "nodata_share": pixels["nodata"] / total,
        "rafts": summary["rafts"],
        "area_km2": summary.get("total_area_km2"),
        "summary_covered_km2": summary.get("covered_area_km2"),
        "model": (summary.get("model") or {}).get("name") or summary["method"],
        "model_version": (summary.get("model") or {}).get("version"),
        "threshold": summary["threshold"],
        "warnings": "; ".join(summary.get("warnings") or []),
    }


def acquisition_datetime(product: str | None, date: str | None) -> str | None:
    """ISO date-time of the acquisition (GeoPackage's form, milliseconds and Z): the product name's sensing time,
    else the date at 00:00 UTC."""
    match = _SENSING.search(product or "")
    if match:
        return gpkg_datetime(dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S"))
    return parse_gpkg_datetime(date[:10]) if date else None


def _level(sensor: str | None) -> str | None:
    if not sensor:
        return None
    from sargasses.reading.sensors import get_profile

    try:
        match = re.search(r"Level-(\w+)", get_profile(sensor).title)
    except (KeyError, SargassesError):
        return None
    return match.group(1) if match else None


def _rafts(path: Path, summary: dict[str, Any], window: SceneWindow | None = None) -> dict[str, Any]:
    """The rafts (of the window: those it owns) as WGS84 WKB and their fields (what detect writes), or nothing."""
    if not summary["rafts"]:
        return {"fields": [], "values": [], "wkb": []}
    import pyogrio.raw
    import shapely

    meta, _, wkb, values = pyogrio.raw.read(str(path))
    found = shapely.from_wkb(wkb)
    keep = [window is None or window.owns(g.bounds) for g in found]
    if window is not None and any(window.cut(g.bounds) for g, k in zip(found, keep, strict=True) if k):
        summary.setdefault("warnings", []).append(
            "a raft reaches the edge of its window's halo and may be cut there: raise the monitor's window halo"
        )
    to = geometries(meta["crs"], WGS84)
    geoms = [shapely.to_wkb(to(g)) for g, k in zip(found, keep, strict=True) if k]
    kept = [[x for x, k in zip(v, keep, strict=True) if k] for v in values]
    return {"fields": list(meta["fields"]), "values": kept, "wkb": geoms}


def _window_summary(result: dict[str, Any], summary: dict[str, Any], window: SceneWindow) -> None:
    """A window's own figures: its rafts and their area, its warnings, and its size (what its shares weigh)."""
    rafts = result["rafts"]
    areas = rafts["values"][rafts["fields"].index("area_m2")] if rafts["fields"] else []
    result["summary"].update(
        rafts=len(rafts["wkb"]), area_km2=sum(areas) / 1e6, warnings="; ".join(summary.get("warnings") or [])
    )
    result["window"] = window.index
    result["window_pixels"] = summary["pixels"]["width"] * summary["pixels"]["height"]
