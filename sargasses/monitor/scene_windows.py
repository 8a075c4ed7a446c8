"""A huge scene as several Dask tasks: one per window, each detected with a halo, merged back into one scene.

Why: one task per scene leaves workers idle while a few huge scenes run (a full-resolution OLCI frame, a mosaic), and
one scene's time then bounds the run's. A scene with a side over `window_size` pixels is cut into near-equal
windows; each window task runs the whole detection (`run_detection` over the window's extent) on its *core* plus
`halo` pixels on each side, so that the model sees the same surroundings at the seams as in one task.

No raft twice, none lost at a seam: the cores tile the scene, and a raft belongs to the one window whose core holds
the centre of its top-left pixel (its bounding box's corner). A raft extends right and down from that corner only,
so the window that owns it sees it whole as long as it is smaller than the halo (otherwise a warning says so). The
areas and the grid, sector and footprint sums are measured on the cores only, so they add up as for one task.
Windows are planned on the client from the scene's grid (local files: a scene the client cannot open, a STAC item
read over its searched area, is one task).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sargasses.monitor.inputs import SceneInput
from sargasses.monitor.settings import MonitorSettings

Bounds = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in the scene's CRS


@dataclass(frozen=True)
class SceneWindow:
    """Window `index` of `count` of a scene: `extent` is read (core and halo), `core` is what it answers for."""

    index: int
    count: int
    extent: Bounds
    core: Bounds
    scene_bounds: Bounds
    pixel: tuple[float, float]  # pixel width, height (CRS units, both > 0)

    def owns(self, raft: Bounds) -> bool:
        """Whether the raft (its bounds) is this window's: the centre of its top-left pixel is in the core."""
        x, y = raft[0] + self.pixel[0] / 2, raft[3] - self.pixel[1] / 2
        xmin, ymin, xmax, ymax = self.core
        return xmin <= x < xmax and ymin < y <= ymax

    def cut(self, raft: Bounds) -> bool:
        """Whether the raft reaches an edge of the extent read that is not the scene's: it may go on beyond."""
        near = min(self.pixel) / 2
        return any(
            abs(raft[k] - self.extent[k]) < near and abs(self.extent[k] - self.scene_bounds[k]) > near for k in range(4)
        )


def scene_tasks(scenes: list[SceneInput], settings: MonitorSettings) -> list[tuple[SceneInput, SceneWindow | None]]:
    """(scene, window) for every task: a scene's windows when it is split, else (scene, None)."""
    return [(s, w) for s in scenes for w in (plan_windows(s, settings.window_size, settings.window_halo) or [None])]


def plan_windows(scene: SceneInput, window_size: int | None, halo: int) -> list[SceneWindow]:
    """The windows of a scene with a side over `window_size` pixels; none (one task) for a smaller scene, one read
    over an extent already, one this machine cannot open, or a grid that is not north-up."""
    if not window_size or scene.extent is not None or not Path(scene.source).exists():
        return []
    from rasterio.errors import RasterioError

    from sargasses.errors import SargassesError
    from sargasses.reading.scene import open_scene

    try:
        opened = open_scene(scene.source)
    except (SargassesError, RasterioError, OSError):
        return []  # one task, which fails with the reason in its scene's row
    try:
        height, width, t = opened.height, opened.width, opened.transform
    finally:
        opened.close()
    rows, cols = _edges(height, window_size), _edges(width, window_size)
    if t.b or t.d or t.e >= 0 or (len(rows) == 2 and len(cols) == 2):
        return []

    def bounds(r0: int, r1: int, c0: int, c1: int) -> Bounds:
        return (t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)

    pairs = [(r, c) for r in itertools.pairwise(rows) for c in itertools.pairwise(cols)]
    return [
        SceneWindow(
            index=k,
            count=len(pairs),
            core=bounds(r0, r1, c0, c1),
            extent=bounds(max(0, r0 - halo), min(height, r1 + halo), max(0, c0 - halo), min(width, c1 + halo)),
            scene_bounds=bounds(0, height, 0, width),
            pixel=(t.a, -t.e),
        )
        for k, ((r0, r1), (c0, c1)) in enumerate(pairs)
    ]


def _edges(length: int, size: int) -> list[int]:
    """Edges of near-equal parts of at most `size` pixels along one axis."""
    parts = max(1, math.ceil(length / size))
    return [round(k * length / parts) for k in range(parts + 1)]


def merge_windows(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One scene's result from its windows' (in window order): failed if a window failed, else their sums."""
    failed = next((r for r in results if r["status"] != "done"), None)
    elapsed = round(sum(r.get("elapsed_s") or 0.0 for r in results), 3)
    if failed is not None:
        which = results.index(failed)
        return {**failed, "reason": f"window {which + 1} of {len(results)}: {failed['reason']}", "elapsed_s": elapsed}
    measures = _merged_measures([r["measures"] for r in results])
    rafts = _merged_rafts([r["rafts"] for r in results])
    summary = dict(results[0]["summary"])
    weights = [r["window_pixels"] for r in results]
    for share in ("cloud_share", "nodata_share"):
        summary[share] = sum(r["summary"][share] * w for r, w in zip(results, weights, strict=True)) / sum(weights)
    summary.update(
        rafts=len(rafts["wkb"]), area_km2=sum(r["summary"]["area_km2"] or 0.0 for r in results),
        summary_covered_km2=measures["covered_m2"] / 1e6,
        warnings="; ".join(dict.fromkeys(w for r in results for w in r["summary"]["warnings"].split("; ") if w)),
    )  # fmt: skip
    return {
        "scene": results[0]["scene"], "model_sha256": results[0]["model_sha256"], "status": "done", "reason": None,
        "worker_pid": results[0]["worker_pid"], "summary": summary, "rafts": rafts, "measures": measures,
        "elapsed_s": elapsed, "worker_peak_mb": max((r.get("worker_peak_mb") or 0.0 for r in results), default=None),
    }  # fmt: skip


def _merged_rafts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The windows' rafts one after the other, numbered again from 1 (field `id`) in that order."""
    fields = next((p["fields"] for p in parts if p["fields"]), [])
    if not fields:
        return {"fields": [], "values": [], "wkb": []}
    values = [[v for p in parts if p["fields"] for v in p["values"][p["fields"].index(f)]] for f in fields]
    wkb = [g for p in parts for g in p["wkb"]]
    values[fields.index("id")] = list(range(1, len(wkb) + 1))
    return {"fields": fields, "values": values, "wkb": wkb}


def _merged_measures(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The cores' measures added up: totals, per cell and per sector; the footprints joined."""
    import shapely

    cells: dict[tuple[int, int], list[float]] = {}
    for p in parts:
        for i, j, c, o in p["cells"]:
            cell = cells.setdefault((i, j), [0.0, 0.0])
            cell[0] += c
            cell[1] += o
    sectors: dict[str, list[float]] = {}
    for p in parts:
        for name, c, o, a in p["sectors"]:
            sums = sectors.setdefault(name, [0.0, 0.0, 0.0])
            for k, v in enumerate((c, o, a)):
                sums[k] += v
    footprints = [shapely.from_wkb(p["footprint_wkb"]) for p in parts if p["footprint_wkb"]]
    footprint = shapely.to_wkb(shapely.make_valid(shapely.union_all(footprints))) if footprints else None
    return {"observed_m2": sum(p["observed_m2"] for p in parts), "covered_m2": sum(p["covered_m2"] for p in parts),
            "cells": [(i, j, c, o) for (i, j), (c, o) in cells.items()],
            "sectors": [(n, c, o, a) for n, (c, o, a) in sectors.items()], "footprint_wkb": footprint}  # fmt: skip
