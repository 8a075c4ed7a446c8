"""Coordinates and geometries from one CRS to another: the one place monitoring builds a pyproj Transformer.

CRSs come as rasterio CRSs, pyproj CRSs, WKT or "EPSG:n"; all go through WKT so either library's object works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

WGS84 = "EPSG:4326"


def _crs(value: Any):
    from pyproj import CRS

    return CRS.from_user_input(value.to_wkt() if hasattr(value, "to_wkt") else value)


def points(src: Any, dst: Any) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x, y) arrays in `src` -> (x, y) arrays in `dst` (longitude first for geographic CRSs)."""
    from pyproj import Transformer

    transformer = Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)
    return lambda x, y: tuple(np.asarray(v) for v in transformer.transform(x, y))  # type: ignore[return-value]


def geometries(src: Any, dst: Any) -> Callable[[Any], Any]:
    """A shapely geometry in `src` -> the same in `dst`."""
    import shapely

    move = points(src, dst)
    return lambda geom: shapely.transform(geom, lambda xy: np.column_stack(move(xy[:, 0], xy[:, 1])))
