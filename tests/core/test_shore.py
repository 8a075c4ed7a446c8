"""Each raft's distance to the shore and its setting (issue 19 item 4): rafts planted at known distances from a
coast get the distance and the setting that their position says, whatever the strips and blocks the scene is cut
into; the distances are those of one distance transform of the whole scene; a detection run writes both fields."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import distance_transform_edt

from sargasses.detection import shore
from sargasses.detection.shore import SETTINGS, ShoreDistance
from sargasses.detection.vectorize import PixelMetric, RaftCollector

UTM = CRS.from_epsg(32620)
TRANSFORM = Affine(20.0, 0.0, 446100.0, 0.0, -20.0, 1591940.0)  # 20 m pixels: the search is 100 px (2 km)
WIDTH, HEIGHT, COAST = 251, 60, 100  # land is columns 0-99
# first column of each 3 x 3 raft -> (metres from its nearest pixel to the nearest land pixel, setting)
PLANTED = {
    100: (20.0, "shoreline"),  # next to the land
    104: (100.0, "nearshore"),  # 5 px: beyond touching
    131: (640.0, "nearshore"),  # 32 px
    161: (1240.0, "open_water"),  # 62 px: beyond 1 km, within the 2 km searched
    230: (None, "open_water"),  # 131 px: farther than 2 km
}


def collect(land: np.ndarray, mask: np.ndarray, strip_height: int, crs: CRS | None = UTM) -> list:
    """The rafts of `mask`, fed strip by strip with their distances to `land`, as the rafts sink feeds them
    (without `crs`, in pixel units)."""
    metric = PixelMetric(TRANSFORM, crs, pixel_units=crs is None)
    collector = RaftCollector(TRANSFORM, crs, mask.shape[1], pixel_units=crs is None)
    distances = ShoreDistance(metric, mask.shape[1], mask.shape[0])
    strips = {}
    for row in range(0, mask.shape[0], strip_height):
        rows = slice(row, row + strip_height)
        strips[row] = mask[rows]
        for done, distance in distances.add(row, land[rows], mask[rows]):
            collector.add(done, strips[done], strips[done].astype(np.float32), distance)
    for done, distance in distances.finish():
        collector.add(done, strips[done], strips[done].astype(np.float32), distance)
    return collector.finish()


@pytest.mark.parametrize("strip_height", [HEIGHT, 7])
def test_rafts_get_their_distance_to_the_coast_and_their_setting(strip_height: int) -> None:
    land = np.zeros((HEIGHT, WIDTH), bool)
    land[:, :COAST] = True
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for col in PLANTED:
        mask[20:23, col : col + 3] = True
    rafts = collect(land, mask, strip_height)
    assert [raft.col for raft in rafts] == sorted(PLANTED)
    for raft, (expected_m, expected_setting) in zip(rafts, (PLANTED[c] for c in sorted(PLANTED)), strict=True):
        assert raft.setting == expected_setting, (raft.col, raft.shore_m)
        # true metres on the ellipsoid: UTM's 20 m pixels measure 20.006 m here
        assert raft.shore_m == (None if expected_m is None else pytest.approx(expected_m, rel=0.001))


def test_a_raft_touching_land_diagonally_is_on_the_shoreline() -> None:
    land = np.zeros((40, 40), bool)
    land[:10, :10] = True
    mask = np.zeros((40, 40), bool)
    mask[10, 10] = mask[11, 11] = True  # a filament leaving the corner of the land
    mask[30, 30] = True
    near, far = collect(land, mask, 40)
    assert near.setting == "shoreline" and near.shore_m == pytest.approx(20 * 2**0.5, rel=0.001)
    assert far.setting == "nearshore" and far.shore_m == pytest.approx(20 * np.hypot(21, 21), rel=0.001)


@pytest.mark.parametrize("strip_height,block_rows", [(64, 256), (7, 16), (700, 100_000), (13, 40)])
def test_strip_and_block_seams_do_not_change_any_distance(monkeypatch, strip_height: int, block_rows: int) -> None:
    """Islands and a coast over 700 rows, cut into strips and blocks of several heights: every raft's distance is
    the minimum over its pixels of one distance transform of the whole scene (capped at the search: 200 pixels,
    as the area is measured in pixels here, so that every block has the same pixel size)."""
    monkeypatch.setattr(shore, "BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(5)
    height, width = 700, 800
    land = np.zeros((height, width), bool)
    land[:, :20] = True
    for _ in range(12):
        r, c, size = rng.integers(0, height), rng.integers(40, 400), rng.integers(1, 15)
        land[r : r + size, c : c + size] = True
    mask = (rng.random((height, width)) < 0.01) & ~land
    rafts = collect(land, mask, strip_height, crs=None)
    whole = distance_transform_edt(~land)
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    nearest = ndimage.minimum(whole, labels, np.arange(1, labels.max() + 1))
    expected = {(int(r.start), int(c.start)): nearest[i] for i, (r, c) in enumerate(ndimage.find_objects(labels))}
    assert len(rafts) == len(expected) > 1000
    shores = 0
    for raft in rafts:
        metres = expected[(raft.row, raft.col)]
        if metres > shore.MAX_SEARCH_PX:
            assert raft.shore_m is None, (raft.row, raft.col, metres)
        else:
            assert raft.shore_m == pytest.approx(metres, abs=0.1), (raft.row, raft.col)
            shores += 1
    assert shores > 1000 and len(rafts) - shores > 1000  # both sides of the search's limit are compared


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


@pytest.fixture(scope="module")
def coast(tmp_path_factory) -> dict:
    """A 20 m scene: land (the spectral test's) in columns 0-99, the PLANTED rafts in the water east of it, across
    the rows where strips meet (64), and a bright-model file (its answer does not depend on tiling)."""
    from detect_helpers import LAND, bright_model, plant, water, write_scene

    folder = tmp_path_factory.mktemp("coast")
    height, width = 160, WIDTH
    land = np.zeros((height, width), bool)
    land[:, :COAST] = True
    rafts = []
    for col in PLANTED:
        raft = np.zeros((height, width), bool)
        raft[62:66, col : col + 3] = True
        rafts.append(raft)
    sea = plant(plant(water(height, width, seed=2, noise=0.0005), rafts), [land], LAND)
    scene = write_scene(folder / "coast.tif", sea, transform=TRANSFORM)
    return {"scene": scene, "model": bright_model(folder / "bright.sargasses", tile_size=64, overlap=16)}


def _run(coast: dict, out) -> dict:
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    return run_detection(DetectOptions(input=str(coast["scene"]), output=str(out), model=str(coast["model"])))


@pytest.mark.parametrize("extension", [".gpkg", ".shp", ".geojson"])
def test_rafts_off_a_detected_coast_carry_distance_and_setting_in_every_format(coast, tmp_path, extension) -> None:
    import geopandas as gpd

    summary = _run(coast, tmp_path / f"rafts{extension}")
    frame = gpd.read_file(tmp_path / f"rafts{extension}").sort_values("lon")
    assert len(frame) == len(PLANTED)
    for (_, raft), col in zip(frame.iterrows(), sorted(PLANTED), strict=True):
        expected_m, expected_setting = PLANTED[col]
        assert raft["setting"] == expected_setting, (col, raft["shore_m"])
        if expected_m is None:
            assert np.isnan(raft["shore_m"])
        else:
            assert raft["shore_m"] == pytest.approx(expected_m, rel=0.001)
    assert summary["rafts_by_setting"] == {"open_water": 2, "nearshore": 2, "shoreline": 1}


def test_strips_do_not_change_a_run_s_distances(coast, tmp_path, monkeypatch) -> None:
    """The same scene in strips of 64 rows and blocks of 256 (one block), then in strips of 5 and blocks of 8."""
    import geopandas as gpd

    from sargasses.detection import tiled_loop

    _run(coast, tmp_path / "one.gpkg")
    monkeypatch.setattr(tiled_loop, "STRIP_ROWS", 5)
    monkeypatch.setattr(shore, "BLOCK_ROWS", 8)
    _run(coast, tmp_path / "many.gpkg")
    one, many = (gpd.read_file(tmp_path / f"{name}.gpkg") for name in ("one", "many"))
    assert list(one["setting"]) == list(many["setting"]) and len(one) == len(PLANTED)
    assert one["shore_m"].fillna(-1).tolist() == many["shore_m"].fillna(-1).tolist()
