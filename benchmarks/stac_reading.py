"""How much of a remote tile a small-area detection fetches: a full-size synthetic Sentinel-2 tile (109.8 km, 5490 px
at 20 m; the 10 m bands at 10980 px) written as Earth Search-shaped COGs, served by nginx behind rustac's STAC API
on loopback (tests/core/stac_helpers.py), detected on square areas of several sizes at several places.

Prints, per area: bytes nginx sent (its access log) against the ten band files' sizes, the requests made, the time
of the remote run and of the same area read from the multi-band GeoTIFF on disk, and whether both found the same
rafts. Loopback has no latency: the times are a floor for a real network (each request there costs ~20-100 ms).

    .venv/bin/python benchmarks/stac_reading.py [--size 5490] [--blocksize 512] [--work DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "core"))  # stac_helpers: the loopback servers the tests use too

import geopandas as gpd  # noqa: E402
import rasterio  # noqa: E402
import stac_helpers as sh  # noqa: E402

from sargasses.detection.options import DetectOptions  # noqa: E402
from sargasses.detection.run import run_detection  # noqa: E402
from sargasses.synth import cli as synth_cli  # noqa: E402

ITEM, COLLECTION = "S2A_20PPB_20240622_0_L2A", "sentinel-2-c1-l2a"
# (side in km, offset of the area's top-left corner from the tile's, in km): centre, off the block grid, a corner
AREAS = ((10, 50.0, 50.0), (10, 33.3, 71.7), (10, 0.0, 0.0), (5, 50.0, 50.0), (20, 40.0, 40.0))
SMALL_AREAS = ((5, 2.0, 2.0), (2, 8.0, 8.0))  # for a --size under 2500 px (a try of the script)


def _requests(servers: sh.LoopbackServers, start_line: int) -> int:
    lines = servers.access_log.read_text().splitlines()[start_line:]
    return sum(1 for line in lines if line.split(" ")[0] == str(servers.ports["cogs"]))


def _rafts(path: Path) -> list[tuple[float, ...]]:
    return sorted(tuple(round(v, 3) for v in g.bounds) for g in gpd.read_file(path).geometry)


def _measure(servers: sh.LoopbackServers, scene: Path, total: int, side: float, dx: float, dy: float, out: Path) -> str:
    with rasterio.open(scene) as src:
        left, top = src.bounds.left + dx * 1000, src.bounds.top - dy * 1000
    extent = (left, top - side * 1000, left + side * 1000, top)
    url = f"{servers.url('api')}/collections/{COLLECTION}/items/{ITEM}"
    before, lines = servers.bytes_served("/"), len(servers.access_log.read_text().splitlines())
    started = time.perf_counter()
    remote = run_detection(DetectOptions(input=url, output=str(out / "remote.gpkg"), extent=extent, overwrite=True))
    remote_s = time.perf_counter() - started
    sent, requests = servers.bytes_served("/") - before, _requests(servers, lines)
    started = time.perf_counter()
    local = run_detection(
        DetectOptions(input=str(scene), output=str(out / "local.gpkg"), extent=extent, overwrite=True)
    )
    local_s = time.perf_counter() - started
    same = remote["rafts"] == local["rafts"] and _rafts(out / "remote.gpkg") == _rafts(out / "local.gpkg")
    return (
        f"| {side:g} km at ({dx:g}, {dy:g}) km | {sent / 1e6:.1f} | {100 * sent / total:.1f} % | {requests} | "
        f"{remote_s:.1f} | {local_s:.1f} | {remote['rafts']} | {'yes' if same else 'NO'} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5490, help="tile side in 20 m pixels (5490: a Sentinel-2 tile)")
    parser.add_argument("--blocksize", type=int, default=512, help="COG block size (Earth Search: 1024 at 10 m)")
    parser.add_argument("--work", type=Path, help="where to write the tile (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sargasses-stac-bench-"))
    started = time.perf_counter()
    synth_argv = [str(work / "scene"), "--count", "1", "--size", str(args.size), "--seed", "7", "--dtype", "uint16"]
    assert synth_cli.main([*synth_argv, "--kind", "mixed"]) == 0
    scene = work / "scene" / "scene_0007.tif"
    cogs = sh.write_cog_set(scene, work / "cogs" / ITEM, blocksize=args.blocksize)
    total = sum(p.stat().st_size for p in cogs.values())
    print(
        f"tile written in {time.perf_counter() - started:.0f} s: {args.size} px, COGs {total / 1e6:.0f} MB",
        file=sys.stderr,
    )
    servers = sh.LoopbackServers(root=work / "cogs", work=work / "servers")
    servers.start([sh.earth_search_item(ITEM, scene, cogs, servers.href)])
    try:
        print(
            f"{args.size} px tile ({args.size * 0.02:.1f} km), {args.blocksize} px COG blocks, "
            f"ten band COGs {total / 1e6:.0f} MB (4 at 10 m, 6 at 20 m)\n"
        )
        print("| area | MB sent | share of the COGs | requests | remote s | disk s | rafts | same rafts |")
        print("|---|---|---|---|---|---|---|---|")
        for side, dx, dy in AREAS if args.size >= 2500 else SMALL_AREAS:
            print(_measure(servers, scene, total, side, dx, dy, work), flush=True)
    finally:
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
