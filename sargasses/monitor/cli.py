"""`sargasses monitor SCENES... -o FOLDER`: many scenes -> a monitoring folder (docs/monitoring.md).

The folder: catalogue.gpkg (rafts, scenes, and the tables the products are made from), grid.nc (cover per cell and
time step), days.csv, sectors.csv and sectors.png. Run it again with more scenes: what is done with the same model
is skipped, failed scenes are retried, the products are rebuilt from the whole catalogue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sargasses.command_ending import Endings, print_out, run_command
from sargasses.monitor.periods import PERIODS
from sargasses.monitor.settings import WINDOW_HALO, WINDOW_SIZE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sargasses monitor", description=__doc__.splitlines()[0])
    p.add_argument("scenes", nargs="*", help="scene files or hrefs, glob patterns (quoted), or .txt files listing them")
    p.add_argument("-o", "--out", type=Path, required=True, help="the monitoring folder (made, or added to)")
    p.add_argument("--method", choices=("model", "afai", "fai"), default="model")
    p.add_argument("--model", help="model file (default: the bundled model); workers must see the same path")
    p.add_argument("--threshold", type=float, help="detection threshold (default: the model card's)")
    p.add_argument("--min-area", type=float, help="smallest raft kept, m2 (default: detect's)")
    p.add_argument("--grid-crs", default="EPSG:4326", help="CRS of the grid (default EPSG:4326)")
    p.add_argument("--cell", type=float, default=0.05, help="cell size in grid CRS units (default 0.05 degree)")
    p.add_argument("--period", choices=PERIODS, default="day", help="time step of the grid (default day)")
    p.add_argument("--sectors", type=Path, help="polygon layer of coastal sectors (default: everything observed)")
    p.add_argument("--sector-field", help="the field naming each sector (default: name)")
    p.add_argument("--coast", type=Path, help="land polygons: sectors are the sea within 50 km of each")
    p.add_argument("--baseline", help="START:END dates (ISO) of the risk baseline (default: every pass)")
    search = p.add_argument_group("scenes from a STAC search (each item read remotely over the area, docs/stac.md)")
    search.add_argument("--stac", help="a STAC API URL, or earth-search / planetary-computer")
    search.add_argument("--collection", help="the collection (default for a known catalogue: its Sentinel-2 L2A)")
    area = search.add_mutually_exclusive_group()
    area.add_argument("--bbox", metavar="W,S,E,N", help="the area in degrees")
    area.add_argument("--aoi", metavar="FILE", help="the area: the polygons of a vector file")
    search.add_argument("--dates", metavar="START/END", help="ISO dates, e.g. 2025-06-01/2025-06-07")
    search.add_argument("--max-cloud", type=float, metavar="PCT", help="drop items cloudier than this (%%)")
    p.add_argument("--scheduler", help="tcp://HOST:PORT of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local cluster workers (default: one per CPU)")
    p.add_argument("--threads", type=int, default=1, help="threads per local worker (default 1)")
    p.add_argument("--memory-limit", default="auto", help="memory per local worker, e.g. 4GB (default: RAM / workers)")
    p.add_argument("--threads-per-scene", type=int, help="CPU threads of one scene's detection (default: CPUs / tasks)")
    p.add_argument("--window-size", type=int, default=WINDOW_SIZE, help=f"a scene with a longer side (px) runs as "
                   f"windows of at most this, one task each (default {WINDOW_SIZE}; 0: never)")  # fmt: skip
    p.add_argument(
        "--window-halo", type=int, default=WINDOW_HALO, help=f"px read around each window (default {WINDOW_HALO})"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def monitor() -> None:
        from sargasses.monitor.run import run_monitor

        run_monitor(args, say=print_out)  # it says what it did, scene after scene

    endings = Endings(lambda exc: "interrupted; the catalogue keeps every scene finished before")
    return run_command(monitor, lambda _: None, endings)
