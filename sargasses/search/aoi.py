"""The area a search (or a detection) is about, in lon/lat: a bbox given as W,S,E,N, or the union of the
polygons of a vector file (GeoPackage, GeoJSON, shapefile: anything OGR reads), reprojected to EPSG:4326."""

from __future__ import annotations

from pathlib import Path

from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sargasses.errors import SargassesError


def parse_bbox(text: str) -> BaseGeometry:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise SargassesError(f"--bbox {text!r} is not W,S,E,N in degrees (e.g. -61.9,15.8,-61.0,16.6)") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise SargassesError(
            f"--bbox {text}: need west < east within -180..180 and south < north within -90..90 (degrees)"
        )
    return box(west, south, east, north)


def read_aoi(path: str | Path) -> BaseGeometry:
    import geopandas
    import pyogrio.errors

    try:
        frame = geopandas.read_file(path)
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise SargassesError(
            f"--aoi {path} cannot be read as a vector file ({exc}); give a GeoPackage, GeoJSON or shapefile"
        ) from None
    polygons = frame[frame.geometry.notna() & frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise SargassesError(f"--aoi {path} holds no polygon; draw the area as a polygon layer")
    if polygons.crs is not None:
        polygons = polygons.to_crs("EPSG:4326")
    return polygons.geometry.union_all()
