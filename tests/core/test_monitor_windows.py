"""A huge scene as window tasks (sargasses/monitor/scene_windows.py) on a real Dask cluster: a LocalCluster of two
worker processes started here, `sargasses monitor --scheduler` on it. Each scene cut into 3 x 3 windows gives the
rafts one task gives, each once, rafts across the seams included, and the same observed and covered areas."""

from __future__ import annotations

import pytest
import shapely
from monitor_helpers import duplicate_rafts, make_series, monitor_argv, read_layer, scene_files

from sargasses.monitor.cli import main as monitor
from sargasses.monitor.inputs import SceneInput
from sargasses.monitor.scene_windows import plan_windows

pytestmark = pytest.mark.slow
WINDOW, HALO = 200, 96  # a 512-px scene in 3 x 3 windows


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_scene_in_windows_gives_the_rafts_of_one_task(scheduler, tmp_path):
    series = make_series(tmp_path / "series", days=2, size=512)
    scenes = scene_files(series)
    windows = {s: plan_windows(SceneInput(scene=s, source=s), WINDOW, HALO) for s in scenes}
    assert {len(w) for w in windows.values()} == {9}
    runs = {}
    for name, size in (("windows", WINDOW), ("one task", 0)):
        out = tmp_path / name
        extra = ("--scheduler", scheduler, "--window-size", str(size), "--window-halo", str(HALO))
        assert monitor(monitor_argv(scenes, out, series, *extra)) == 0
        assert duplicate_rafts(out / "catalogue.gpkg") == []
        runs[name] = (read_layer(out / "catalogue.gpkg", "scenes"), read_layer(out / "catalogue.gpkg", "rafts"))
    (split, split_rafts), (whole, whole_rafts) = runs["windows"], runs["one task"]
    assert set(split["status"]) == set(whole["status"]) == {"done"}
    for s in scenes:
        a, b = _rafts_of(split_rafts, s), _rafts_of(whole_rafts, s)
        assert len(a) == len(b) > 0, s
        for raft in b:  # each raft of the one task is one raft of the windows, nearly pixel for pixel
            assert sum(_iou(raft, other) > 0.9 for other in a) == 1, (s, raft.bounds)
    seams = [_crosses_a_seam(raft, windows[s]) for s in scenes for raft in _rafts_of(whole_rafts, s)]
    assert sum(seams) >= 2  # rafts cut by the windows' cores were put back whole
    for field, tolerance in (("observed_km2", 1e-4), ("covered_km2", 0.01), ("area_km2", 0.01), ("rafts", 0)):
        mine, ref = _by_scene(split, field), _by_scene(whole, field)
        assert all(abs(mine[s] - ref[s]) <= tolerance * ref[s] for s in scenes), (field, mine, ref)


def _rafts_of(layer: dict, scene: str) -> list:
    return [shapely.from_wkb(g) for g, s in zip(layer["geometry"], layer["scene"], strict=True) if s == scene]


def _by_scene(layer: dict, field: str) -> dict:
    return dict(zip(layer["scene"], layer[field], strict=True))


def _iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def _crosses_a_seam(raft_wgs84, windows) -> bool:
    """Whether the raft (WGS84) overlaps more than one window's core (in the scene's CRS, EPSG:32620 here)."""
    from sargasses.monitor.reproject import WGS84, geometries

    raft = geometries(WGS84, "EPSG:32620")(raft_wgs84)
    return sum(raft.intersects(shapely.box(*w.core)) for w in windows) > 1
