"""Each raft's distance to the shore and its setting (issue 19 item 4): rafts planted at known distances from a
straight coast get the distance and the setting that their position says, whatever the strips; a detection run
writes both fields."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from sargasses.detection.shore import SETTINGS, ShoreMap
from sargasses.detection.vectorize import RaftCollector

UTM = CRS.from_epsg(32620)
TRANSFORM = Affine(20.0, 0.0, 446100.0, 0.0, -20.0, 1591940.0)  # 20 m pixels
WIDTH, HEIGHT, COAST = 251, 60, 100  # land is columns 0-99 (a width that is no multiple of 8: packed bits)
# first column of each 3 x 3 raft -> (metres from its nearest pixel to the nearest land pixel, setting)
PLANTED = {
    100: (20.0, "shoreline"),  # next to the land
    131: (640.0, "nearshore"),  # 32 px
    161: (1240.0, "open_water"),  # 62 px: beyond 1 km, within the 2 km searched
    230: (None, "open_water"),  # 131 px: farther than 2 km
}


def _rafts_and_shore(strip_height: int) -> list:
    land = np.zeros((HEIGHT, WIDTH), bool)
    land[:, :COAST] = True
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for col in PLANTED:
        mask[20:23, col : col + 3] = True
    collector = RaftCollector(TRANSFORM, UTM, WIDTH)
    shore = ShoreMap(TRANSFORM, WIDTH)
    for row in range(0, HEIGHT, strip_height):
        rows = slice(row, row + strip_height)
        collector.add(row, mask[rows], mask[rows].astype(np.float32))
        shore.add(land[rows])
    rafts = collector.finish()
    return [(raft, *shore.measure(raft)) for raft in rafts]


@pytest.mark.parametrize("strip_height", [HEIGHT, 7])
def test_rafts_get_their_distance_to_the_coast_and_their_setting(strip_height: int) -> None:
    measured = _rafts_and_shore(strip_height)
    assert len(measured) == len(PLANTED)
    for (raft, metres, setting), (col, (expected_m, expected_setting)) in zip(
        measured, sorted(PLANTED.items()), strict=True
    ):
        assert raft.col == col
        assert setting == expected_setting, (col, metres, setting)
        if expected_m is None:
            assert metres is None
        else:
            assert metres == pytest.approx(expected_m, rel=0.01)


def test_a_detection_run_writes_shore_distance_and_setting(tmp_path) -> None:
    import geopandas as gpd

    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection
    from sargasses.synth import make_scene, write_scene

    paths = write_scene(make_scene(7, 256, "clean"), tmp_path)
    out = tmp_path / "rafts.gpkg"
    run_detection(DetectOptions(input=str(paths["image"]), output=str(out)))
    frame = gpd.read_file(out)
    assert len(frame) > 0 and {"shore_m", "setting"} <= set(frame.columns)
    assert set(frame["setting"]) <= set(SETTINGS)
    # open sea: no land within 2 km of any raft
    assert frame["shore_m"].isna().all() and (frame["setting"] == "open_water").all()
