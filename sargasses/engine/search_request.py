"""The engine's `search` request: STAC items over an area (a polygon, else a lon/lat box) between two dates, for
the plugin's scene list.

The plugin imports only qgis.* and the standard library, so the search (pystac-client) runs here, in the engine;
the answer is `search_items`'s list as plain JSON, each item's `href` being what a `detect` request's `input` takes.
"""

from __future__ import annotations

from typing import Any

from sargasses.errors import SargassesError

FIELDS = {
    "stac": str,
    "collection": str | None,
    "bbox": tuple[float, float, float, float],  # west, south, east, north in degrees
    "area": dict | None,  # a GeoJSON (Multi)Polygon in lon/lat: searched as itself (STAC intersects), not its bbox
    "dates": str,
    "max_cloud": float | None,
    "token": str | None,  # the catalogue's bearer token, from QGIS's authentication database; never logged
}


def search_result(fields: dict[str, Any]) -> dict[str, Any]:
    from sargasses.reading.stac_http import request_token
    from sargasses.search.aoi import parse_bbox
    from sargasses.search.search import search_items

    if not all(fields.get(name) for name in ("stac", "bbox", "dates")):
        raise SargassesError(
            "a search request needs 'stac' (a catalogue URL or short name), 'bbox' ([west, south, east, north] in "
            "degrees) and 'dates' (START/END)"
        )
    area = parse_bbox(",".join(str(v) for v in fields["bbox"]))
    if fields.get("area"):
        area = _polygon(fields["area"])
    with request_token(fields.get("token")):
        found = search_items(fields["stac"], area, fields["dates"], fields.get("collection"), fields.get("max_cloud"))
    return {"items": [f.as_dict() for f in found]}


def _polygon(geojson: dict[str, Any]) -> Any:
    from shapely.geometry import shape

    try:
        polygon = shape(geojson)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise SargassesError(f"a search request's 'area' is not a GeoJSON geometry ({exc})") from None
    if polygon.geom_type not in ("Polygon", "MultiPolygon") or polygon.is_empty:
        raise SargassesError(f"a search request's 'area' must be a non-empty (Multi)Polygon, not a {polygon.geom_type}")
    return polygon if polygon.is_valid else polygon.buffer(0)
