"""The engine's `search` request: STAC items over a lon/lat box between two dates, for the plugin's scene list.

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
    with request_token(fields.get("token")):
        found = search_items(fields["stac"], area, fields["dates"], fields.get("collection"), fields.get("max_cloud"))
    return {"items": [f.as_dict() for f in found]}
