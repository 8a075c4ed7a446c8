"""`sargasses monitor --stac ...`: a monitoring folder fed by a STAC search, against real servers on loopback
(rustac's STAC API behind nginx, the items' band assets COGs served by nginx; tests/core/stac_helpers.py).

The same synthetic series is monitored from its files on disk and from its items: the rafts and the per-day covered
km2 must be the same; a rerun of the search adds nothing; an item whose asset is gone (404) is that scene failed
with its one-line reason, the others done.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
import stac_helpers as sh
from monitor_helpers import consistent_scenes, monitor_argv, read_csv, read_layer, scene_files
from pyproj import Transformer
from test_stac import COLLECTION, _servers_available

from sargasses.monitor.cli import main as monitor
from sargasses.monitor.scene_task import acquisition_datetime

pytestmark = pytest.mark.slow
DAYS, SIZE, SEED = 3, 256, 60
ONE_WORKER = ["--workers", "1"]
GONE = "S2B_20PPC_20220724_1_L2A"  # an item of the second day whose B8A asset is no longer published


def _item_id(scene: Path) -> str:
    with rasterio.open(scene) as src:
        tags = src.tags()
    return f"{tags['SPACECRAFT']}_20PPC_{tags['ACQUISITION_DATE'].replace('-', '')}_0_L2A"


def _item(scene: Path, cogs_root: Path, servers: sh.LoopbackServers) -> dict:
    """The scene as an Earth Search item, dated by the sensing time its product name says (as on disk)."""
    with rasterio.open(scene) as src:
        product = src.tags()["PRODUCT_ID"]
    item_id = _item_id(scene)
    item = sh.earth_search_item(item_id, scene, sh.write_cog_set(scene, cogs_root / item_id), servers.href, COLLECTION)
    item["properties"]["datetime"] = acquisition_datetime(product, None).replace(".000Z", "Z")
    return item


def _bbox(scene: Path) -> str:
    """The scene's bounds in degrees, a little larger: the search area holds the whole scene."""
    with rasterio.open(scene) as src:
        west, south, east, north = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform_bounds(
            *src.bounds
        )
    return f"{west - 0.01},{south - 0.01},{east + 0.01},{north + 0.01}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 3-day uint16 series on disk, its items in a catalogue (and GONE, whose B8A is a 404)."""
    _servers_available()
    root = tmp_path_factory.mktemp("monitor-stac")
    series = root / "series"
    cmd = [sys.executable, "-m", "sargasses", "synth", str(series), "--series", str(DAYS), "--seed", str(SEED),
           "--size", str(SIZE), "--dtype", "uint16"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    scenes = [Path(s) for s in scene_files(series)]
    servers = sh.LoopbackServers(root=root / "cogs", work=root / "servers")
    items = [_item(s, root / "cogs", servers) for s in scenes]
    gone = sh.earth_search_item(GONE, scenes[1], sh.write_cog_set(scenes[1], root / "cogs" / GONE), servers.href)
    gone["properties"]["datetime"] = items[1]["properties"]["datetime"].replace("T14", "T15")
    gone["assets"]["nir08"]["href"] = servers.url("cogs") + f"/{GONE}/gone/B8A.tif"
    servers.start([*items, gone])
    try:
        yield {"series": series, "scenes": scenes, "servers": servers, "items": items, "bbox": _bbox(scenes[0])}
    finally:
        servers.stop()


def _search(world: dict, dates: str) -> list[str]:
    return [
        "--stac",
        world["servers"].url("api"),
        "--collection",
        COLLECTION,
        f"--bbox={world['bbox']}",
        "--dates",
        dates,
    ]


@pytest.fixture(scope="module")
def runs(world, tmp_path_factory):
    """From disk; from the search over the first two days, then over all three, then the same again."""
    disk, remote = tmp_path_factory.mktemp("from-disk"), tmp_path_factory.mktemp("from-search")
    files = [str(s) for s in world["scenes"]]
    assert monitor(monitor_argv(files, disk, world["series"], *ONE_WORKER)) == 0
    dates = [i["properties"]["datetime"][:10] for i in world["items"]]
    assert (
        monitor(monitor_argv([], remote, world["series"], *ONE_WORKER, *_search(world, f"{dates[0]}/{dates[1]}"))) == 0
    )
    assert (
        monitor(monitor_argv([], remote, world["series"], *ONE_WORKER, *_search(world, f"{dates[0]}/{dates[2]}"))) == 0
    )
    full = {
        "scenes": read_layer(remote / "catalogue.gpkg", "scenes"),
        "rafts": consistent_scenes(remote / "catalogue.gpkg"),
    }
    assert (
        monitor(monitor_argv([], remote, world["series"], *ONE_WORKER, *_search(world, f"{dates[0]}/{dates[2]}"))) == 0
    )
    return {"disk": disk, "remote": remote, "full": full}


def test_the_search_fed_folder_equals_the_one_from_the_files(runs, world):
    disk_days = {r["date"]: r for r in read_csv(runs["disk"] / "days.csv")}
    remote_days = {r["date"]: r for r in read_csv(runs["remote"] / "days.csv")}
    assert sorted(remote_days) == sorted(disk_days) and len(disk_days) == DAYS
    for date, row in disk_days.items():
        assert float(remote_days[date]["covered_km2"]) == pytest.approx(float(row["covered_km2"]), rel=1e-6)
    disk_rafts, remote_rafts = (read_layer(f / "catalogue.gpkg", "rafts") for f in (runs["disk"], runs["remote"]))
    assert len(disk_rafts["area_m2"]) > 0

    def by_day(rafts: dict) -> dict[str, list[float]]:
        days: dict[str, list[float]] = {}
        for when, area in zip(rafts["datetime"], rafts["area_m2"], strict=True):
            days.setdefault(str(when)[:10], []).append(round(float(area), 3))
        return {d: sorted(a) for d, a in days.items()}

    assert by_day(remote_rafts) == by_day(disk_rafts)
    scenes = read_layer(runs["remote"] / "catalogue.gpkg", "scenes")
    done = {
        s: d for s, d, st in zip(scenes["scene"], scenes["datetime"], scenes["status"], strict=True) if st == "done"
    }
    assert done.keys() == {i["id"] for i in world["items"]}  # keyed by the item id
    for item in world["items"]:  # the item's date-time, as the product name on disk says it
        assert str(done[item["id"]]).startswith(item["properties"]["datetime"][:19])


def test_a_rerun_of_the_search_adds_nothing(runs):
    after = read_layer(runs["remote"] / "catalogue.gpkg", "scenes")
    assert sorted(after["scene"]) == sorted(runs["full"]["scenes"]["scene"]) and len(after["scene"]) == DAYS + 1
    assert consistent_scenes(runs["remote"] / "catalogue.gpkg") == runs["full"]["rafts"]
    before = dict(zip(runs["full"]["scenes"]["scene"], runs["full"]["scenes"]["updated"], strict=True))
    for scene, updated, status in zip(after["scene"], after["updated"], after["status"], strict=True):
        assert status == "failed" or updated == before[scene], f"{scene} was run again"


def test_a_gone_asset_fails_its_scene_with_one_line_and_the_others_complete(runs, world):
    scenes = read_layer(runs["remote"] / "catalogue.gpkg", "scenes")
    status = dict(zip(scenes["scene"], zip(scenes["status"], scenes["reason"], strict=True), strict=True))
    assert status[GONE][0] == "failed"
    reason = status[GONE][1]
    assert reason.startswith(f"asset /vsicurl/{world['servers'].url('cogs')}/{GONE}/gone/B8A.tif of STAC item {GONE} ")
    assert "\n" not in reason and "404" in reason and "still published" in reason
    assert {s for s, (st, _) in status.items() if st == "done"} == set(status) - {GONE}
