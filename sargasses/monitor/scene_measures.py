"""What one scene adds to the region's products, measured on its fractional-cover raster.

The cover raster (sargasses/detection/coverage.py) is 0 on open water, the cover where rafts were detected and NaN
where the scene saw no water (nodata, land, cloud): so it tells "no raft" (0) from "not observed" (NaN) pixel by
pixel. Each observed pixel goes whole to the grid cell and the sector its centre falls in, so the cells' and the
sectors' covered areas add up exactly to the scene's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sargasses.monitor.reproject import WGS84, geometries, points
from sargasses.monitor.settings import MonitorSettings

ROWS_PER_BLOCK = 256  # rows of the cover raster measured at once: memory stays flat on a full tile
FOOTPRINT_STEP = 8  # the observed footprint is traced on blocks of 8 x 8 pixels (160 m at 20 m)


@dataclass
class SceneMeasures:
    """Observed and covered areas (m2) of a scene, in total, per grid cell (i, j) and per sector."""

    observed_m2: float = 0.0
    covered_m2: float = 0.0
    cells: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (i, j) -> [covered_m2, observed_m2]
    sectors: dict[str, list[float]] = field(default_factory=dict)  # name -> [covered, observed, sector area in scene]
    footprint_wkb: bytes | None = None  # the observed water, WGS84


def measure_cover(cover_path: str, settings: MonitorSettings, core=None) -> SceneMeasures:
    """The scene's cover raster (within `core`, xmin ymin xmax ymax in its CRS, when given: a window's own part,
    scene_windows.py), read by blocks of rows, summed per cell and sector; its observed footprint."""
    import rasterio

    from sargasses.detection.vectorize import PixelMetric

    out = SceneMeasures(sectors={name: [0.0, 0.0, 0.0] for name in settings.sector_names()})
    with rasterio.open(cover_path) as src:
        col0, row0, width, height = _core_window(src, core)
        transform = src.window_transform(((row0, row0 + height), (col0, col0 + width)))
        to_grid = points(src.crs, settings.grid_crs)
        metric = PixelMetric(transform, src.crs)
        sector_ids = _sector_raster(src.crs, transform, height, width, settings)
        coarse = np.zeros((-(-height // FOOTPRINT_STEP), -(-width // FOOTPRINT_STEP)), bool)
        for top in range(0, height, ROWS_PER_BLOCK):
            rows = min(ROWS_PER_BLOCK, height - top)
            window = ((row0 + top, row0 + top + rows), (col0, col0 + width))
            cover = src.read(1, window=window).astype(np.float64)
            area = pixel_areas(metric, top, rows, width)
            seen = np.isfinite(cover)
            _add_block(out, cover, area, seen, top, transform, to_grid, settings, sector_ids)
            _mark_coarse(coarse, seen, top)
        out.footprint_wkb = _footprint(coarse, transform, src.crs)
    return out


def _core_window(src, core) -> tuple[int, int, int, int]:
    """(col, row, width, height) of the pixels whose centres lie in `core` (the whole raster without it)."""
    if core is None:
        return 0, 0, src.width, src.height
    t = src.transform
    col0, col1 = (round((x - t.c) / t.a) for x in (core[0], core[2]))
    row0, row1 = (round((y - t.f) / t.e) for y in (core[3], core[1]))
    col0, row0, col1, row1 = max(0, col0), max(0, row0), min(src.width, col1), min(src.height, row1)
    return col0, row0, col1 - col0, row1 - row0


def _add_block(out, cover, area, seen, row0, transform, to_grid, settings, sector_ids) -> None:
    rr, cc = np.nonzero(seen)
    covered = cover[rr, cc] * area[rr, cc]
    observed = area[rr, cc]
    out.covered_m2 += float(covered.sum())
    out.observed_m2 += float(observed.sum())
    xs, ys = transform @ (cc + 0.5, rr + row0 + 0.5)
    gx, gy = to_grid(np.asarray(xs), np.asarray(ys))
    i = np.floor(gx / settings.cell).astype(np.int64)
    j = np.floor(gy / settings.cell).astype(np.int64)
    keys, inverse = np.unique(np.stack([i, j]), axis=1, return_inverse=True)
    sums = np.bincount(inverse.ravel(), covered, keys.shape[1]), np.bincount(inverse.ravel(), observed, keys.shape[1])
    for k, (ci, cj) in enumerate(keys.T):
        cell = out.cells.setdefault((int(ci), int(cj)), [0.0, 0.0])
        cell[0] += float(sums[0][k])
        cell[1] += float(sums[1][k])
    names = settings.sector_names()
    if sector_ids is None:  # one sector: everything observed
        out.sectors[names[0]][0] += float(covered.sum())
        out.sectors[names[0]][1] += float(observed.sum())
        out.sectors[names[0]][2] += float(area.sum())
        return
    block = sector_ids[:, row0 : row0 + cover.shape[0]]
    for s, name in enumerate(names):
        inside = block[s][rr, cc]
        out.sectors[name][0] += float(covered[inside].sum())
        out.sectors[name][1] += float(observed[inside].sum())
        out.sectors[name][2] += float(area[block[s]].sum())


def pixel_areas(metric, row0: int, rows: int, width: int) -> np.ndarray:
    """(rows, width) true pixel areas in m2, measured as the detection measures them (sargasses/detection/area.py:
    at the window's middle column), so that a scene's covered km2 is the one its summary reports."""
    _, _, area = metric.pixel_steps(row0 + np.arange(rows), np.full(rows, width // 2))
    return np.repeat(np.asarray(area, np.float64)[:, None], width, axis=1)


def _sector_raster(crs, transform, height: int, width: int, settings: MonitorSettings) -> np.ndarray | None:
    """(sectors, H, W) bool: which pixels' centres lie in each sector; None for the one default sector."""
    if not settings.sectors:
        return None
    import shapely
    from rasterio.features import rasterize

    there = geometries(WGS84, crs)
    out = np.zeros((len(settings.sectors), height, width), bool)
    for s, sector in enumerate(settings.sectors):
        geom = there(shapely.from_wkb(sector.wkb))
        if not geom.is_empty:
            out[s] = rasterize([(geom, 1)], out_shape=(height, width), transform=transform, dtype="uint8") > 0
    return out


def _mark_coarse(coarse: np.ndarray, seen: np.ndarray, row0: int) -> None:
    rows, cols = np.nonzero(seen)
    coarse[(rows + row0) // FOOTPRINT_STEP, cols // FOOTPRINT_STEP] = True


def _footprint(coarse: np.ndarray, transform, crs) -> bytes | None:
    """The observed water as one (multi)polygon in WGS84, traced on the coarse blocks."""
    if not coarse.any():
        return None
    import shapely
    from rasterio.features import shapes

    step = transform @ transform.scale(FOOTPRINT_STEP)
    polys = [shapely.geometry.shape(g) for g, _ in shapes(coarse.astype(np.uint8), mask=coarse, transform=step)]
    merged = shapely.union_all(polys)
    geom = geometries(crs, WGS84)(merged.simplify(abs(transform.a)))
    return shapely.to_wkb(shapely.make_valid(geom))


def as_plain(measures: SceneMeasures) -> dict[str, Any]:
    """The measures as plain values (what a Dask worker sends back: small, pickles anywhere)."""
    return {"observed_m2": measures.observed_m2, "covered_m2": measures.covered_m2,
            "cells": [(i, j, c, o) for (i, j), (c, o) in measures.cells.items()],
            "sectors": [(n, c, o, a) for n, (c, o, a) in measures.sectors.items()],
            "footprint_wkb": measures.footprint_wkb}  # fmt: skip
