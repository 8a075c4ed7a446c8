"""One detection, from a planned input to result files: shared by the dock's task and the Processing algorithm.

Plain callbacks (progress, is_cancelled) rather than Qt signals, so that both a QgsTask and a Processing
feedback can drive it. Runs in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDistanceArea,
    QgsFeature,
    QgsFeedback,
    QgsGeometry,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .engine_client import EngineError, EngineManager, RequestCancelled, follow_request
from .log import log_info
from .raster_input import InputPlan, materialize

PREPARE_SHARE = 0.05  # progress fractions: preparing the input, then the engine's run
ENGINE_SHARE = 0.93

Progress = Callable[[float, str], None]


DetectionCancelled = RequestCancelled  # the user cancelled a detection; nothing was added to the project


@dataclass
class DetectionJob:
    """Everything a run needs, gathered on the main thread from the dock or the algorithm's parameters."""

    layer_name: str
    plan: InputPlan
    options: dict[str, Any]  # engine options other than input, output and probabilities
    work_dir: Path  # this run's folder
    output: Path  # the vector file of rafts
    probabilities: Path | None = None
    coverage: Path | None = None  # the fractional cover GeoTIFF
    clip: QgsGeometry | None = None  # keep only rafts inside this area
    clip_crs: QgsCoordinateReferenceSystem | None = None
    run_name: str = ""
    token: str | None = field(default=None, repr=False)  # a STAC catalogue's, sent beside the options, never logged
    asker: str = "dock"  # whose words the engine's messages take: "dock" or "processing" (sargasses/option_words.py)


@dataclass
class DetectionOutcome:
    summary: dict[str, Any]
    output: Path
    probabilities: Path | None
    seconds: float
    coverage: Path | None = None
    engine_pid: int | None = None
    warnings: list[str] = field(default_factory=list)  # the engine's: inputs whose results are not to be trusted


def execute(
    job: DetectionJob,
    manager: EngineManager,
    progress: Progress,
    is_cancelled: Callable[[], bool],
    feedback: QgsFeedback | None = None,
) -> DetectionOutcome:
    started = time.perf_counter()
    job.work_dir.mkdir(parents=True, exist_ok=True)
    progress(0.0, f"Preparing the input: {job.plan.description}")
    input_path = materialize(job.plan, job.work_dir, feedback)
    if is_cancelled():
        raise DetectionCancelled("the run was cancelled")
    progress(0.02, "Starting the detection engine" if manager.current() is None else "Sending the run to the engine")
    client = manager.client()
    if is_cancelled():
        raise DetectionCancelled("the run was cancelled")
    raw_output = job.output if job.clip is None else job.work_dir / f"unclipped_{job.output.stem}.gpkg"
    options = {**job.options, "input": input_path, "output": str(raw_output)}
    if job.probabilities is not None:
        options["probabilities"] = str(job.probabilities)
    if job.coverage is not None:
        options["coverage"] = str(job.coverage)
    log_info(f"run {job.run_name or job.layer_name}: detect {options}")
    request = client.request("detect", options=options, asker=job.asker, **({"token": job.token} if job.token else {}))
    event = follow_request(
        manager,
        client,
        request,
        lambda fraction, message: progress(PREPARE_SHARE + ENGINE_SHARE * fraction, message or "Detecting"),
        is_cancelled,
    )
    summary = dict(event.get("summary") or {})
    if job.clip is not None:
        progress(PREPARE_SHARE + ENGINE_SHARE, "Keeping the rafts inside the area")
        summary.update(clip_to_area(raw_output, job.output, job.clip, job.clip_crs))
    progress(1.0, "Done")
    return DetectionOutcome(
        summary=summary,
        output=job.output,
        probabilities=job.probabilities,
        coverage=job.coverage,
        seconds=time.perf_counter() - started,
        engine_pid=client.pid,
        warnings=[str(w) for w in summary.get("warnings") or []],
    )


def clip_to_area(
    source: Path, target: Path, area: QgsGeometry, area_crs: QgsCoordinateReferenceSystem | None
) -> dict[str, Any]:
    """Keep the parts of rafts inside `area`; the counts for the summary."""
    layer = QgsVectorLayer(str(source), "rafts", "ogr")
    if not layer.isValid():
        raise EngineError(f"the engine's output {source} cannot be read")
    geometry = QgsGeometry(area)
    if area_crs is not None and area_crs.isValid() and area_crs != layer.crs():
        geometry.transform(QgsCoordinateTransform(area_crs, layer.crs(), QgsProject.instance()))
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = QgsVectorFileWriter.driverForExtension(target.suffix) or "GPKG"
    options.fileEncoding = "UTF-8"
    tmp = target.with_name(f".part_{target.name}")
    writer = QgsVectorFileWriter.create(
        str(tmp),
        layer.fields(),
        QgsWkbTypes.Type.MultiPolygon,
        layer.crs(),
        QgsProject.instance().transformContext(),
        options,
    )
    area_calc = QgsDistanceArea()
    area_calc.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
    area_calc.setEllipsoid(layer.crs().ellipsoidAcronym() or "EPSG:7030")
    kept, total_m2 = 0, 0.0
    engine = geometry.createGeometryEngine(geometry.constGet())
    engine.prepareGeometry()
    for feature in layer.getFeatures():
        geom = feature.geometry()
        if geom.isEmpty() or not engine.intersects(geom.constGet()):
            continue
        inside = geom.intersection(geometry)
        if inside.isEmpty():
            continue
        inside.convertToMultiType()
        out = QgsFeature(feature)
        out.setGeometry(inside)
        writer.addFeature(out)
        kept += 1
        total_m2 += area_calc.measureArea(inside)
    del writer
    _replace_vector(tmp, target)
    return {"rafts_in_area": kept, "area_km2_in_area": round(total_m2 / 1e6, 6), "clipped_to_area": True}


def _replace_vector(tmp: Path, target: Path) -> None:
    """Rename a written vector (and a shapefile's side files) to its final name."""
    for part in tmp.parent.glob(tmp.stem + ".*"):
        part.replace(target.with_suffix(part.suffix))
