"""Geography and product identity: the UTM grid, the Sentinel-2 tile, the date and a plausible L2A product name."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from sargasses.reading.sensors import DEFAULT_RESOLUTION_M

FULL_TILE_SIZE = 5490  # a Sentinel-2 tile at 20 m: 109.8 km

_MGRS_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_MGRS_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_TILE_ULX = (399960, 499980, 600000, 699960)  # UTM 20N tile columns from Puerto Rico to Barbados
_TILE_ULY = (1600020, 1700040, 1800000, 1900020, 2000040)  # about 14.5 N to 18 N


def _tile_name(zone: int, ulx: float, uly: float) -> str:
    """MGRS name of the Sentinel-2 tile whose upper-left corner is (ulx, uly) in UTM zone `zone` north."""
    column = _MGRS_COLUMN_SETS[zone % 3][int(ulx // 100000) - 1]
    row = _MGRS_ROWS[(int((uly - 1) // 100000) + (5 if zone % 2 == 0 else 0)) % 20]
    lat = (uly - 54900) / 110_650.0  # tile centre, near enough to pick the 8-degree band
    return f"{zone}{_LAT_BANDS[int((lat + 80) // 8)]}{column}{row}"


def draw_identity(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Grid, date and a plausible L2A product name (processing baseline >= 04.00, so the -1000 DN offset holds)."""
    zone = 20
    ulx, uly = float(rng.choice(_TILE_ULX)), float(rng.choice(_TILE_ULY))
    row_off = int(rng.integers(0, FULL_TILE_SIZE - size + 1)) if size < FULL_TILE_SIZE else 0
    col_off = int(rng.integers(0, FULL_TILE_SIZE - size + 1)) if size < FULL_TILE_SIZE else 0
    res = DEFAULT_RESOLUTION_M
    transform = Affine(res, 0.0, ulx + col_off * res, 0.0, -res, uly - row_off * res)
    year = int(rng.integers(2022, 2026))
    date = dt.date(year, 3, 1) + dt.timedelta(days=int(rng.integers(0, 214)))  # March to September: the season
    sensing = dt.datetime.combine(date, dt.time(14, 30)) + dt.timedelta(seconds=int(rng.integers(0, 1800)))
    processed = sensing + dt.timedelta(seconds=int(rng.integers(3 * 3600, 9 * 3600)))
    spacecraft = str(rng.choice(["S2A", "S2B"] if year < 2025 else ["S2A", "S2B", "S2C"]))
    baseline = {2022: "N0400", 2023: "N0509", 2024: "N0510", 2025: "N0511"}[year]
    orbit = str(rng.choice(["R010", "R053", "R096", "R139"]))
    tile = _tile_name(zone, ulx, uly)
    product = f"{spacecraft}_MSIL2A_{sensing:%Y%m%dT%H%M%S}_{baseline}_{orbit}_T{tile}_{processed:%Y%m%dT%H%M%S}"
    return {
        "crs": CRS.from_epsg(32600 + zone),
        "transform": transform,
        "tile": tile,
        "tile_offset_px": [row_off, col_off],
        "acquisition_date": date.isoformat(),
        "product_id": product,
        "spacecraft": spacecraft,
        "processing_baseline": f"{baseline[1:3]}.{baseline[3:]}",
        "wind_direction_rad": float(rng.uniform(-np.pi, np.pi)),
    }
