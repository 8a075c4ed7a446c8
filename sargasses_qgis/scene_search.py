"""Find scenes: the engine's STAC search in a QgsTask, and a found item turned into a detection job.

The plugin imports only qgis.* and the standard library, so pystac-client runs in the engine (its `search`
request); the items come back as plain dicts (`sargasses search --json`'s objects). A job detects an item
remotely: its `href` is the engine's input, its `aoi_extent` (the area in the item's CRS) the extent, so only
the area's windows of its COGs are read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

from . import settings
from .detect_request import DetectRequest
from .detection_run import DetectionJob
from .engine_client import EngineError, RequestCancelled
from .engine_task import EngineTask
from .paths import new_run_folder
from .raster_input import InputPlan

SEARCH_TIMEOUT_S = 120.0  # a catalogue that has not answered by then will not


class SearchTask(EngineTask):
    """`items` is set on success (oldest first); otherwise EngineTask's `error` and `error_kind`."""

    def __init__(self, fields: dict[str, Any], manager: Any, token: str | None = None) -> None:
        super().__init__("Sargasses: searching the STAC catalogue", manager)
        self.fields = fields  # the request without the token: what may be logged
        self._token = token
        self.items: list[dict[str, Any]] | None = None

    def work(self) -> None:
        client = self.manager.client()
        request = client.request("search", **self.fields, **({"token": self._token} if self._token else {}))
        self._token = None
        deadline = dt.datetime.now() + dt.timedelta(seconds=SEARCH_TIMEOUT_S)
        while True:
            # A cancel only stops waiting: the engine's search ends by itself, its answer is dropped.
            if self.isCanceled():
                raise RequestCancelled("the search was cancelled")
            event = request.next_event(timeout=0.1)
            if event is None:
                if dt.datetime.now() > deadline:
                    raise RequestCancelled(f"the catalogue did not answer within {SEARCH_TIMEOUT_S:.0f} s")
                continue
            if event.get("event") == "result":
                self.items = list((event.get("result") or {}).get("items") or [])
                return
            if event.get("event") == "error":
                raise EngineError(str(event.get("message") or "the search failed"))


def lonlat_box(extent: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> list[float]:
    """`extent` in `crs` as [west, south, east, north] in degrees, what the engine's search takes."""
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    box = QgsCoordinateTransform(crs, wgs84, QgsProject.instance()).transformBoundingBox(extent)
    return [round(v, 6) for v in (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())]


def lonlat_polygons(layer: QgsVectorLayer) -> dict[str, Any] | None:
    """The union of the layer's selected polygons (all of them when none is selected) as GeoJSON in lon/lat: the
    engine searches this shape itself (STAC `intersects`), so an item touching only its bbox is not listed."""
    features = layer.getSelectedFeatures() if layer.selectedFeatureCount() else layer.getFeatures()
    union = QgsGeometry.unaryUnion([f.geometry() for f in features if f.hasGeometry()])
    if union.isNull() or union.isEmpty():
        return None
    union.transform(
        QgsCoordinateTransform(layer.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    )
    return json.loads(union.asJson(7))


def item_job(
    item: dict[str, Any],
    request: DetectRequest,
    extra_rasters: Callable[[Path], tuple[Path | None, Path | None]],
    token: str | None = None,
) -> DetectionJob:
    """A detection of `item` read remotely by the engine, over the searched area only."""
    stamp = dt.datetime.now()
    work_dir = new_run_folder(settings.results_dir(), str(item["id"]), stamp, "item")
    probabilities, coverage = extra_rasters(work_dir)
    request.sensor, request.extent = None, None  # the item says its level; its area is the search's
    options = request.detect_options()
    if item.get("aoi_extent"):
        options["extent"] = [float(v) for v in item["aoi_extent"]]
    return DetectionJob(
        layer_name=str(item["id"]),
        plan=InputPlan(kind="file", path=str(item["href"]), description=f"STAC item {item['id']}, read remotely"),
        options=options,
        work_dir=work_dir,
        output=work_dir / "rafts.gpkg",
        probabilities=probabilities,
        coverage=coverage,
        run_name=f"Sargassum · {item['id']} · {stamp:%H:%M:%S}",
        token=token,
    )
