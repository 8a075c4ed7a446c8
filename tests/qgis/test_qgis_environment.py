"""The QGIS environment works: QGIS's own Python opens a GeoTIFF that the core package wrote, with the same grid."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from qgis.core import QgsRasterLayer

ENGINE_PYTHON = os.environ.get("SARGASSES_PYTHON", "")

READ_GRID = """
import json, sys
from sargasses.reading.scene import open_scene
with open_scene(sys.argv[1]) as s:
    left, top = s.transform.c, s.transform.f
    print(json.dumps({"epsg": s.crs.to_epsg(), "width": s.width, "height": s.height, "bands": len(s.band_names),
                      "left": left, "top": top, "right": left + s.width * s.transform.a,
                      "bottom": top + s.height * s.transform.e}))
"""


@pytest.fixture(scope="module")
def core_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A synthetic scene written by the core package in its own environment, and its grid as the core reads it."""
    if not ENGINE_PYTHON:
        pytest.fail("SARGASSES_PYTHON must name the core environment's python (make test sets it)")
    out = tmp_path_factory.mktemp("scene")
    subprocess.run(
        [ENGINE_PYTHON, "-m", "sargasses", "synth", str(out), "--count", "1", "--seed", "3", "--size", "200"],
        check=True,
        capture_output=True,
    )
    tif = out / "scene_0003.tif"
    grid = subprocess.run([ENGINE_PYTHON, "-c", READ_GRID, str(tif)], check=True, capture_output=True, text=True)
    return tif, json.loads(grid.stdout)


def test_qgis_opens_core_geotiff(qgis_app, core_scene) -> None:
    tif, grid = core_scene
    layer = QgsRasterLayer(str(tif), "scene", "gdal")
    assert layer.isValid(), layer.error().summary()
    assert layer.crs().authid() == f"EPSG:{grid['epsg']}"
    assert layer.bandCount() == grid["bands"] == 10
    assert (layer.width(), layer.height()) == (grid["width"], grid["height"]) == (200, 200)
    extent = layer.extent()
    for got, want in [
        (extent.xMinimum(), grid["left"]),
        (extent.xMaximum(), grid["right"]),
        (extent.yMinimum(), grid["bottom"]),
        (extent.yMaximum(), grid["top"]),
    ]:
        assert got == pytest.approx(want, abs=1e-6)
    # Band names travel with the file: QGIS shows the descriptions the core wrote.
    assert "B02" in layer.bandName(1)
