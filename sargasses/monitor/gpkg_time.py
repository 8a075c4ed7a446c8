"""Date-times as the catalogue keeps them: GeoPackage's form (ISO 8601 in UTC, milliseconds, "Z").

Why one form: the catalogue's date-times are compared and sorted as text (a scene's date is its first 10
characters, the dock's "New since the previous pass" filters on them), so every writer must spell them alike.
"""

from __future__ import annotations

import datetime as dt


def gpkg_datetime(when: dt.datetime) -> str:
    """`when` in GeoPackage's form; a naive date-time is taken as UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_gpkg_datetime(text: str | None) -> str | None:
    """An ISO 8601 / RFC 3339 date-time or date (a STAC item's, a summary's) in GeoPackage's form."""
    if not text:
        return None
    return gpkg_datetime(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def now_gpkg() -> str:
    return gpkg_datetime(dt.datetime.now(dt.timezone.utc))
