"""The passes of a loaded monitoring folder, and "New since the previous pass" as a filter on its rafts.

A pass is a UTC day on which at least one scene of the folder was observed (status done): the scenes of one day are
one overpass of the region (a Sentinel-2 orbit's tiles, an OLCI granule). The newest pass is the last such day; the
previous pass the one before it. "New since the previous pass" keeps the rafts of scenes dated after the previous
pass's day: the newest pass's rafts, what a forecaster has not seen in the last bulletin. Days on which every scene
failed or saw no water are not passes: nothing new was seen on them.
"""

from __future__ import annotations

import datetime as dt

from qgis.core import QgsFeatureRequest, QgsVectorLayer


def pass_days(scenes: QgsVectorLayer) -> list[str]:
    """The ISO days with a scene done, oldest first."""
    request = QgsFeatureRequest().setFilterExpression("\"status\" = 'done'")
    return sorted({str(f["date"]) for f in scenes.getFeatures(request) if f["date"]})


def previous_pass(days: list[str]) -> str | None:
    return days[-2] if len(days) > 1 else None


def new_since_filter(previous: str | None) -> str:
    """The rafts layer's subset string: rafts dated after the previous pass's day (all rafts when there is none).
    The catalogue's date-times are ISO text in UTC, so text order is time order."""
    if previous is None:
        return ""
    after = dt.date.fromisoformat(previous) + dt.timedelta(days=1)
    return f"\"datetime\" >= '{after.isoformat()}'"
