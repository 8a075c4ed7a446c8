"""The run summary: what `run_detection` returns and writes beside its output as `<output>.summary.json`.

One typed shape, documented field by field in docs/engine_protocol.md ("The run summary"). The QGIS plugin cannot
import this module: the keys it reads are listed in sargasses_qgis/results.py (SUMMARY_KEYS), and
tests/core/test_summary.py checks that each of them is a field here.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ModelInfo(TypedDict):
    """The model file a `method="model"` run used (null in the summary for `afai` / `fai`)."""

    name: str
    version: str
    path: str
    sensor: str


class PixelCounts(TypedDict):
    """The pixels of the area read (the scene, or its `extent` window), by kind."""

    width: int
    height: int
    valid: int  # not nodata
    water: int  # valid, neither land nor cloud: where rafts are looked for
    land: int
    cloud: int
    nodata: int
    detected: int  # scored at or above the threshold (before small rafts are dropped)


class RaftSettings(TypedDict):
    """The rafts written, by setting (sargasses/detection/shore.py: distance to the land of the scene's mask)."""

    open_water: int
    nearshore: int  # land within 1 km
    shoreline: int  # touching land: Sargassum on a beach, or a waterline artefact


class TileCounts(TypedDict):
    """How the area was cut into model tiles, and how many of them the model ran on."""

    size: list[int]  # [height, width] in pixels
    overlap: int
    total: int
    run: int
    skipped_nodata: int
    skipped_no_water: int
    batch_size: int


class Timing(TypedDict):
    """Seconds per stage; reading runs in a background thread, beside the model."""

    read_s: float
    model_s: float
    waiting_for_reads_s: float
    polygons_s: float
    coverage_s: float  # fractional cover (detection/coverage.py: unmixing reads the strips with rafts again)
    write_s: float


class _RequiredSummary(TypedDict):
    """The fields every summary has, in the order they are written."""

    input: str
    output: str
    summary: str
    probabilities: str | None
    coverage: str | None
    quicklook: str | None
    method: str
    model: ModelInfo | None
    scorer: str
    device: str
    device_name: str
    threshold: float
    threshold_source: str
    units: str
    min_area_m2: float | None
    min_raft_pixels: int
    rafts: int
    rafts_by_setting: RaftSettings
    total_area_km2: float | None
    covered_area_km2: float | None
    coverage_method: str | None
    water_area_km2: float | None
    water_share_covered: float
    rafts_dropped_small: int
    pixels: PixelCounts
    tiles: TileCounts
    timing: Timing
    crs: str | None
    sensor: str | None
    product_id: str | None
    stac_item: str | None  # the STAC item's self link when the input was an item
    acquisition_date: str | None
    options: dict[str, Any]
    created: str
    warnings: list[str]


class RunSummary(_RequiredSummary, total=False):
    """What `run_detection` returns (also written as JSON beside the output); see docs/engine_protocol.md."""

    total_area_px: int  # only with units "pixels" (a raster without CRS)
    water_area_px: int  # only with units "pixels"
    covered_area_px: float  # only with units "pixels" and --coverage
    time_s: float  # set last by run_detection: always in what it returns and writes


class EngineSummary(RunSummary, total=False):
    """The summary of a `detect` request's `result` event: RunSummary plus what the engine adds."""

    engine_seconds: float
    engine_run: int  # 1 for the first detection of this engine process: a warm engine shows > 1
    engine_pid: int


def summary_keys(shape: type = EngineSummary) -> set[str]:
    """Every top-level key a summary of `shape` may hold (required and optional, inherited ones included)."""
    return set(shape.__required_keys__) | set(shape.__optional_keys__)
