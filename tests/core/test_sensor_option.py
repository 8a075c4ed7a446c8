"""`sensor` says what an input is when its file does not: a Level-1C GeoTIFF is not taken for Level-2A."""

from __future__ import annotations

from pathlib import Path

import pytest

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.errors import SargassesError
from sargasses.synth import make_scene, write_scene


def test_the_sensor_option_names_the_level(tmp_path: Path) -> None:
    image = str(write_scene(make_scene(7, 128, "clean"), tmp_path)["image"])
    told = run_detection(DetectOptions(input=image, output=str(tmp_path / "l1c.gpkg"), method="afai", sensor="s2_l1c"))
    assumed = run_detection(DetectOptions(input=image, output=str(tmp_path / "l2a.gpkg"), method="afai"))
    assert told["sensor"] == "sentinel2_l1c" and assumed["sensor"] == "sentinel2_l2a"
    with pytest.raises(SargassesError, match="known sensors are"):
        DetectOptions.from_mapping({"input": image, "output": str(tmp_path / "x.gpkg"), "sensor": "sentinel9"})
