"""`search_items`: the items of a STAC collection over an area and dates, with what a forecaster chooses by
(date, cloud, how much of the area the item covers), sorted by date. A library function, so `sargasses monitor`
and the QGIS engine call it as the CLI does; `FoundItem.href` is what `sargasses detect` takes.

Cloud is filtered here, on each item's `eo:cloud_cover`, rather than with the API's query/filter extension: not
every server has one (Earth Search and Planetary Computer do, in different dialects).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sargasses.errors import SargassesError
from sargasses.reading.stac_http import auth_headers, http_error_line, redact
from sargasses.search.catalogues import catalogue_url, resolve

MAX_ITEMS = 500  # a season over one tile is ~150 items; more means the area or the dates were not what was meant


@dataclass(frozen=True)
class FoundItem:
    id: str
    datetime: str
    platform: str | None
    level: str | None  # L1C / L2A
    cloud_pct: float | None  # eo:cloud_cover, the whole tile's
    aoi_share: float  # share of the area asked for inside the item's footprint (0-1)
    water_pct: float | None  # s2:water_percentage: the tile's water pixels by the archive's scene classification
    href: str  # the item's self link: `sargasses detect HREF` reads it
    crs: str | None
    aoi_extent: list[float] | None  # the area's bounds in the item's CRS: `sargasses detect --extent`
    thumbnail: str | None = None  # a small preview image's URL (the plugin's scene list shows it)
    visual: str | None = None  # the true-colour COG's URL (the plugin adds it as a layer, for looking)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def search_items(
    stac: str,
    aoi: BaseGeometry,
    dates: str,
    collection: str | None = None,
    max_cloud: float | None = None,
    max_items: int = MAX_ITEMS,
) -> list[FoundItem]:
    """Items of `collection` (the catalogue's Sentinel-2 L2A one by default) meeting `aoi` (lon/lat) between
    `dates` ("START/END", ISO 8601, open ends as ".."), at most `max_cloud` % cloudy, oldest first."""
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    _check_dates(dates)
    url = catalogue_url(stac)
    known = resolve(stac)
    collection = collection or (known.collection if known else None)
    if not collection:
        raise SargassesError(f"give the collection to search in {redact(url)} with --collection (e.g. sentinel-2-l2a)")
    try:
        client = Client.open(url, headers=auth_headers())  # unsigned: detect signs an item it reads
        search = client.search(
            collections=[collection], intersects=aoi.__geo_interface__, datetime=dates, max_items=max_items
        )
        items = [item.to_dict() for item in search.items()]
    except APIError as exc:
        status = getattr(exc, "status_code", None)
        if status is not None:
            raise SargassesError(http_error_line("the STAC search", url, status)) from None
        raise SargassesError(_unreachable(url, exc)) from None
    except (OSError, ValueError) as exc:  # connection refused, DNS, not JSON (requests' errors are OSErrors)
        raise SargassesError(_unreachable(url, exc)) from None
    found = [_found(item, aoi) for item in items]
    if max_cloud is not None:
        found = [f for f in found if f.cloud_pct is None or f.cloud_pct <= max_cloud]
    return sorted(found, key=lambda f: (f.datetime, f.id))


_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?")


def _check_dates(dates: str) -> None:
    """Dates that are not dates are said before any catalogue is asked (it would answer a network error, or 400)."""
    ends = str(dates).split("/")
    if len(ends) > 2 or not all(end == ".." or _DATE.fullmatch(end.strip()) for end in ends):
        raise SargassesError(
            f"the dates {dates!r} are not START/END in ISO 8601: give e.g. 2025-06-01/2025-06-07 ('..' for an open end)"
        )


def _unreachable(url: str, exc: Exception) -> str:
    reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]
    return f"the STAC catalogue at {redact(url)} could not be searched ({reason}); check the address and the network"


def item_href(stac: str, item_id: str, collection: str | None = None) -> str:
    """The self link of item `item_id` in catalogue `stac` (its default collection unless one is given)."""
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    url = catalogue_url(stac)
    known = resolve(stac)
    collection = collection or (known.collection if known else None)
    try:
        client = Client.open(url, headers=auth_headers())
        search = client.search(ids=[item_id], collections=[collection] if collection else None, max_items=1)
        items = [item.to_dict() for item in search.items()]
    except APIError as exc:
        status = getattr(exc, "status_code", None)
        raise SargassesError(
            http_error_line("the STAC search", url, status) if status else _unreachable(url, exc)
        ) from None
    except (OSError, ValueError) as exc:
        raise SargassesError(_unreachable(url, exc)) from None
    if not items:
        where = f"collection {collection} of " if collection else ""
        raise SargassesError(f"no item {item_id} in {where}{redact(url)}; list them with sargasses search")
    return _self_href(items[0])


def item_hrefs(*args: Any, **kwargs: Any) -> list[str]:
    """The hrefs of `search_items(...)`, for a batch of detections."""
    return [found.href for found in search_items(*args, **kwargs)]


def _found(item: dict[str, Any], aoi: BaseGeometry) -> FoundItem:
    props = item.get("properties", {})
    footprint = shape(item["geometry"]) if item.get("geometry") else None
    share = footprint.intersection(aoi).area / aoi.area if footprint is not None and aoi.area else 0.0
    code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
    return FoundItem(
        id=str(item["id"]),
        datetime=str(props.get("datetime") or props.get("start_datetime") or ""),
        platform=props.get("platform"),
        level=_level(item),
        cloud_pct=_number(props.get("eo:cloud_cover")),
        aoi_share=round(share, 4),
        water_pct=_number(props.get("s2:water_percentage")),
        href=_self_href(item),
        crs=code,
        aoi_extent=_extent_in(code, aoi) if code else None,
        thumbnail=_asset_href(item, ("thumbnail", "rendered_preview", "preview"), "thumbnail"),
        visual=_asset_href(item, ("visual", "tci", "TCI"), "visual"),
    )


def _asset_href(item: dict[str, Any], keys: tuple[str, ...], role: str) -> str | None:
    """The href of the first asset named by one of `keys`, else of the first with `role`."""
    assets = item.get("assets") or {}
    for key in keys:
        if isinstance(assets.get(key), dict) and assets[key].get("href"):
            return str(assets[key]["href"])
    found = next((a for a in assets.values() if isinstance(a, dict) and role in (a.get("roles") or [])), None)
    return str(found["href"]) if found and found.get("href") else None


def _level(item: dict[str, Any]) -> str | None:
    from sargasses.reading.stac_item import item_profile

    props = item.get("properties", {})
    if props.get("processing:level"):
        return str(props["processing:level"])
    return "L1C" if item_profile(item).name.endswith("l1c") else "L2A"


def _number(value: Any) -> float | None:
    return round(float(value), 2) if isinstance(value, int | float) else None


def _self_href(item: dict[str, Any]) -> str:
    for link in item.get("links", []):
        if link.get("rel") == "self":
            return str(link["href"])
    raise SargassesError(f"STAC item {item.get('id')} has no self link; the catalogue does not say where it lives")


def _extent_in(code: str, aoi: BaseGeometry) -> list[float]:
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4326", code, always_xy=True)
    west, south, east, north = transformer.transform_bounds(*aoi.bounds)
    return [round(west, 1), round(south, 1), round(east, 1), round(north, 1)]
