"""`sargasses synth --series`: the same sea day after day, rafts that drift and grow, clouds that hide some, and
a truth file that says so; the monitoring tests check their time series against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely

from sargasses.synth.series import series_day, series_world

SIZE, DAYS, SEED = 256, 4, 40


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("series")
    cmd = [sys.executable, "-m", "sargasses", "synth", str(out), "--series", str(DAYS), "--seed", str(SEED),
           "--size", str(SIZE)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def test_days_are_one_grid_on_successive_dates(series: Path):
    truth = json.loads((series / "truth.json").read_text())["days"]
    dates = [np.datetime64(d["acquisition_date"]) for d in truth]
    assert [int((d - dates[0]) / np.timedelta64(1, "D")) for d in dates] == list(range(DAYS))
    grids = set()
    for day in range(DAYS):
        with rasterio.open(series / f"scene_{SEED + day:04d}.tif") as src:
            grids.add((src.crs.to_string(), tuple(src.transform), src.shape))
            assert src.tags()["ACQUISITION_DATE"] == truth[day]["acquisition_date"]
            assert truth[day]["acquisition_date"].replace("-", "") in src.tags()["PRODUCT_ID"]
    assert len(grids) == 1


def test_rafts_drift_and_grow_by_their_own_rates():
    world = series_world(SEED, SIZE)
    for raft in world.rafts:
        (y0, x0, r0), (y3, x3, r3) = raft.on_day(0), raft.on_day(3)
        assert (y3 - y0, x3 - x0) == pytest.approx((3 * raft.vy, 3 * raft.vx))
        assert r3 == pytest.approx(r0 * (1 + raft.growth) ** 3) and r3 > r0
    day0, day1 = series_day(world, 0), series_day(world, 1)
    first = {r["id"]: r for r in day0.meta["rafts"]}
    for raft in day1.meta["rafts"]:
        own = world.rafts[raft["id"]]
        assert raft["y"] - first[raft["id"]]["y"] == pytest.approx(own.vy, abs=0.02)
        assert raft["x"] - first[raft["id"]]["x"] == pytest.approx(own.vx, abs=0.02)
    # the cover moved: the planted cover of day 1 is not where day 0's was
    assert np.abs(day1.coverage - day0.coverage).sum() > 0.5 * day0.coverage.sum()


def test_truth_is_the_planted_cover_minus_what_cloud_hid(series: Path):
    truth = json.loads((series / "truth.json").read_text())["days"]
    world = series_world(SEED, SIZE)
    for row in truth:
        scene = series_day(world, row["day"])
        pixel_km2 = 400 / 1e6
        assert row["planted_km2"] == pytest.approx(scene.coverage.astype(np.float64).sum() * pixel_km2, rel=1e-9)
        hidden = scene.label == 255
        hidden_cover = scene.coverage[hidden & (scene.coverage >= 0.2)].sum() * pixel_km2  # thick cloud on rafts
        assert row["visible_km2"] <= row["planted_km2"] - 0.9 * hidden_cover + 1e-9
        assert sum(row["sectors_visible_km2"].values()) == pytest.approx(row["visible_km2"], rel=1e-9)
    east_day = truth[2]
    assert east_day["sky"] == "east" and east_day["sectors_observed_share"]["east"] == 0.0
    assert east_day["sectors_visible_km2"]["east"] == 0.0 and east_day["sectors_visible_km2"]["west"] > 0


def test_sectors_are_the_two_halves_of_the_scene(series: Path):
    _, _, wkb, values = pyogrio.raw.read(series / "sectors.gpkg")
    assert list(values[0]) == ["west", "east"]
    with rasterio.open(series / f"scene_{SEED:04d}.tif") as src:
        scene_box = shapely.box(*src.bounds)
    halves = shapely.from_wkb(wkb)
    assert shapely.union_all(halves).equals(scene_box)
    assert halves[0].area == pytest.approx(halves[1].area)


def test_a_seed_gives_the_same_days():
    a, b = series_day(series_world(7, 128), 2), series_day(series_world(7, 128), 2)
    assert np.array_equal(a.reflectance, b.reflectance, equal_nan=True) and a.meta == b.meta
