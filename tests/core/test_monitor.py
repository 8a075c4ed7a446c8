"""`sargasses monitor` on a synthetic series: the per-day covered km2 is the sum of the scenes', the grid adds up to
it, gaps are exactly where nothing was seen, the detected cover follows what was planted, and reruns, failures,
Ctrl-C and a failed write never duplicate, lose or half-write a scene."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import xarray as xr
from monitor_helpers import (
    consistent_scenes,
    duplicate_rafts,
    make_series,
    monitor_argv,
    read_csv,
    read_layer,
    scene_files,
    scenes_recorded,
)

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.errors import SargassesError
from sargasses.monitor.catalogue import Catalogue
from sargasses.monitor.cli import main as monitor
from sargasses.monitor.inputs import scene_inputs

pytestmark = pytest.mark.slow
ONE_WORKER = ["--workers", "1"]


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    return make_series(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="module")
def run(series: Path, tmp_path_factory) -> dict:
    """Three days first, then all five (the first three skipped), then all again (nothing to do)."""
    out = tmp_path_factory.mktemp("monitoring")
    scenes = scene_files(series)
    assert monitor(monitor_argv(scenes[:3], out, series, *ONE_WORKER)) == 0
    first = consistent_scenes(out / "catalogue.gpkg")
    assert monitor(monitor_argv([str(series / "scene_*.tif")], out, series, *ONE_WORKER)) == 0
    second = read_layer(out / "catalogue.gpkg", "scenes")
    assert monitor(monitor_argv(scenes, out, series, *ONE_WORKER)) == 0
    return {"out": out, "scenes": scenes, "first": first, "second": second}


def test_day_totals_are_the_sum_of_the_scenes(run):
    scenes = read_layer(run["out"] / "catalogue.gpkg", "scenes")
    assert sorted(scenes["scene"]) == run["scenes"] and set(scenes["status"]) == {"done"}
    days = {r["date"]: r for r in read_csv(run["out"] / "days.csv")}
    assert len(days) == len(run["scenes"])
    for date, row in days.items():
        mine = [c for c, d in zip(scenes["covered_km2"], scenes["date"], strict=True) if d == date]
        assert float(row["covered_km2"]) == pytest.approx(sum(mine), rel=1e-6)
        assert int(row["scenes"]) == len(mine)


def test_a_scenes_covered_km2_is_the_detections(run, series, tmp_path):
    """The catalogue's figure for a scene against an independent detection of the same scene (its summary)."""
    scene = run["scenes"][1]
    summary = run_detection(
        DetectOptions(input=scene, output=str(tmp_path / "r.gpkg"), coverage=str(tmp_path / "c.tif"))
    )
    layer = read_layer(run["out"] / "catalogue.gpkg", "scenes")
    k = layer["scene"].index(scene)
    assert layer["covered_km2"][k] == pytest.approx(summary["covered_area_km2"], abs=1e-6)
    assert layer["rafts"][k] == summary["rafts"]
    assert layer["area_km2"][k] == pytest.approx(summary["total_area_km2"])
    pixels = summary["pixels"]
    assert layer["cloud_share"][k] == pytest.approx(pixels["cloud"] / (pixels["width"] * pixels["height"]))


def test_grid_total_equals_the_days_and_cover_is_covered_over_observed(run):
    days = {r["date"]: float(r["covered_km2"] or "nan") for r in read_csv(run["out"] / "days.csv")}
    with xr.open_dataset(run["out"] / "grid.nc") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds["time"].attrs["standard_name"] == "time"
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate"
        for t in range(ds.sizes["time"]):
            date = str(ds["time"].values[t])[:10]
            assert float(ds["covered_km2"][t].sum()) == pytest.approx(days[date], rel=1e-6)
        observed, covered = ds["observed_km2"].values, ds["covered_km2"].values
        fraction = ds["cover_fraction"].values
    seen = observed > 0
    assert np.array_equal(np.isnan(fraction), ~seen) and np.array_equal(np.isnan(covered), ~seen)
    np.testing.assert_allclose(fraction[seen], covered[seen] / observed[seen], rtol=1e-6)


def test_grid_gaps_are_exactly_the_cells_no_pixel_saw(run, tmp_path):
    """Day 2 has its east half overcast: the cells no valid water pixel of an independent detection falls in."""
    scene = run["scenes"][2]
    run_detection(DetectOptions(input=scene, output=str(tmp_path / "r.gpkg"), coverage=str(tmp_path / "c.tif")))
    with rasterio.open(tmp_path / "c.tif") as src:
        cover, transform = src.read(1), src.transform
    rows, cols = np.nonzero(np.isfinite(cover))
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    expected = {(int(np.floor(x / 1000)), int(np.floor(y / 1000))) for x, y in zip(xs, ys, strict=True)}
    with xr.open_dataset(run["out"] / "grid.nc") as ds:
        day = ds.sel(time=np.datetime64(json_date(run, 2)))
        seen = np.isfinite(day["cover_fraction"].values)
        cells = {
            (int(np.floor(x / 1000)), int(np.floor(y / 1000)))
            for (r, c) in zip(*np.nonzero(seen), strict=True)
            for x, y in [(float(day["x"][c]), float(day["y"][r]))]
        }
        east = day["x"].values - 500 >= transform.c + transform.a * cover.shape[1] / 2  # cells wholly east
        assert east.any() and np.isnan(day["cover_fraction"].values[:, east]).all()
    assert cells == expected


def json_date(run, day: int) -> str:
    scenes = read_layer(run["out"] / "catalogue.gpkg", "scenes")
    return scenes["date"][scenes["scene"].index(run["scenes"][day])]


def test_sectors_have_gaps_where_the_sector_was_not_seen(run, series):
    truth = json.loads((series / "truth.json").read_text())["days"]
    passes = read_csv(run["out"] / "sectors.csv")
    assert len(passes) == 2 * len(truth)
    for row in passes:
        day = next(d for d in truth if d["acquisition_date"] == row["date"])
        unseen = day["sectors_observed_share"][row["sector"]] == 0.0
        assert (row["covered_km2"] == "") == unseen, row
        assert (row["risk"] == "not observed") == unseen
        if not unseen:
            assert row["risk"] in ("low", "medium", "high")
            assert float(row["covered_km2"]) == pytest.approx(day["sectors_visible_km2"][row["sector"]], rel=0.35)
    assert (run["out"] / "sectors.png").stat().st_size > 10_000


def test_detected_cover_follows_the_planted_cover(run, series):
    truth = {d["acquisition_date"]: d for d in json.loads((series / "truth.json").read_text())["days"]}
    for row in read_csv(run["out"] / "days.csv"):
        assert float(row["covered_km2"]) == pytest.approx(truth[row["date"]]["visible_km2"], rel=0.3)


def test_rafts_layer_has_every_raft_once_with_its_scene_and_time(run):
    catalogue = run["out"] / "catalogue.gpkg"
    rafts = read_layer(catalogue, "rafts")
    scenes = read_layer(catalogue, "scenes")
    assert duplicate_rafts(catalogue) == []
    assert len(rafts["raft_id"]) == sum(scenes["rafts"]) > 0
    for k, scene in enumerate(rafts["scene"]):
        s = scenes["scene"].index(scene)
        assert rafts["datetime"][k] == scenes["datetime"][s]
        footprint = shapely.from_wkb(scenes["geometry"][s])
        raft = shapely.from_wkb(rafts["geometry"][k])
        assert -64 < raft.centroid.x < -60 and 10 < raft.centroid.y < 20  # WGS84, in the Caribbean
        assert footprint.buffer(0.002).contains(raft)


def test_rerun_skips_what_is_done_and_adds_new_scenes(run):
    second = run["second"]
    first_three = sorted(run["first"])
    assert first_three == run["scenes"][:3] and sorted(second["scene"]) == run["scenes"]
    now = consistent_scenes(run["out"] / "catalogue.gpkg")
    assert {s: now[s] for s in first_three} == run["first"]  # the scenes done first were kept as they were
    third = read_layer(run["out"] / "catalogue.gpkg", "scenes")
    assert third["updated"] == second["updated"]  # the third run found nothing to do: no scene rewritten


def test_other_settings_are_refused_on_an_existing_folder(run, series, capsys):
    assert monitor([run["scenes"][0], "-o", str(run["out"]), "--sectors", str(series / "sectors.gpkg"),
                    "--grid-crs", "EPSG:32620", "--cell", "500"]) == 1  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "--out" in err[0]


def test_a_failed_scene_is_recorded_and_retried(series, tmp_path, capsys):
    bad = tmp_path / "scene_bad.tif"
    bad.write_text("not a raster\n")
    out = tmp_path / "monitoring"
    assert monitor(monitor_argv([str(bad), scene_files(series)[0]], out, series, *ONE_WORKER)) == 0
    scenes = read_layer(out / "catalogue.gpkg", "scenes")
    k = scenes["scene"].index(str(bad))
    assert scenes["status"][k] == "failed" and str(bad.name) in scenes["reason"][k]
    assert "\n" not in scenes["reason"][k]
    shutil.copy(scene_files(series)[1], bad)  # the user fixes the file: the rerun retries it, and only it
    assert monitor(monitor_argv([str(bad), scene_files(series)[0]], out, series, *ONE_WORKER)) == 0
    assert "1 already done with this model, 1 to run" in capsys.readouterr().out
    scenes = read_layer(out / "catalogue.gpkg", "scenes")
    assert scenes["status"] == ["done", "done"] and duplicate_rafts(out / "catalogue.gpkg") == []


def test_a_write_that_fails_leaves_the_scene_as_it_was(run, tmp_path):
    """A scene re-recorded with a result that breaks half-way (bad geometry after the old rows were deleted)."""
    catalogue = tmp_path / "catalogue.gpkg"
    shutil.copy(run["out"] / "catalogue.gpkg", catalogue)
    before = consistent_scenes(catalogue)
    db = sqlite3.connect(catalogue)
    identity = db.execute("SELECT value FROM monitor_settings WHERE key = 'identity'").fetchone()[0]
    db.close()
    scene = run["scenes"][0]
    broken = {"scene": scene, "model_sha256": "x", "status": "done", "summary": {"datetime": "2024-01-01T00:00:00Z"},
              "rafts": {"fields": ["id"], "values": [[1]], "wkb": [b"not wkb"]},
              "measures": {"observed_m2": 1.0, "covered_m2": 0.0, "cells": [], "sectors": [], "footprint_wkb": None}}  # fmt: skip
    cat = Catalogue(catalogue, identity)
    with pytest.raises(Exception):  # noqa: B017 - shapely's error for bad WKB: any error must roll back
        cat.record(broken)
    cat.close()
    assert consistent_scenes(catalogue) == before
    assert (
        read_layer(catalogue, "scenes")["model_sha256"]
        == read_layer(run["out"] / "catalogue.gpkg", "scenes")["model_sha256"]
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "kill"])
def test_an_interrupted_run_keeps_whole_scenes_and_the_rerun_completes(run, series, tmp_path, sig):
    """Ctrl-C exits 130 and `kill` 143 with one line (sargasses/command_ending.py, as detect); kill -9 says nothing:
    in every case the catalogue holds whole scenes only, and the rerun completes it."""
    out = tmp_path / "monitoring"
    argv = monitor_argv(run["scenes"], out, series, *ONE_WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "sargasses", "monitor", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not scenes_recorded(out / "catalogue.gpkg"):
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read().decode()
    proc.send_signal(sig)
    said = proc.communicate(timeout=60)[0].decode()
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # the local cluster's workers go with their client
    else:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], said
        last = "sargasses: interrupted; the catalogue keeps every scene finished before"
        assert said.strip().splitlines()[-1] == last, said
        assert "Traceback" not in said, said
    partial = consistent_scenes(out / "catalogue.gpkg")
    assert 1 <= len(partial) < len(run["scenes"])
    assert all(run["first"].get(s, n) == n for s, n in partial.items())
    assert monitor(argv) == 0
    assert consistent_scenes(out / "catalogue.gpkg") == consistent_scenes(run["out"] / "catalogue.gpkg")
    assert duplicate_rafts(out / "catalogue.gpkg") == []


def test_inputs_from_patterns_lists_and_hrefs(series, tmp_path):
    files = scene_files(series)
    listing = tmp_path / "scenes.txt"
    rel = os.path.relpath(files[1], tmp_path)
    listing.write_text(f"# my scenes\n{rel}\n\nhttps://example.org/a/B02.tif\n{files[0]}\n")
    got = scene_inputs([str(listing), str(series / "scene_*.tif"), files[0]])
    assert got == [files[1], "https://example.org/a/B02.tif", files[0], *[f for f in files if f not in files[:2]]]
    with pytest.raises(SargassesError, match="does not exist"):
        scene_inputs([str(tmp_path / "nope.tif")])
    with pytest.raises(SargassesError, match="matches no file"):
        scene_inputs([str(tmp_path / "*.tif")])
