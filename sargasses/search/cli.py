"""`sargasses search`: the STAC items over an area and dates, as a table sorted by date (or JSON for scripts)."""

from __future__ import annotations

import argparse
import json

from sargasses.command_ending import Endings, run_command
from sargasses.search.catalogues import CATALOGUES
from sargasses.search.search import FoundItem, search_items


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sargasses search",
        description="List the STAC items (scenes) over an area between two dates, oldest first.",
        epilog="Example: sargasses search --stac earth-search --bbox=-61.9,15.8,-61.0,16.6 --dates 2025-06-01/2025-06-07",
    )
    p.add_argument(
        "--stac", required=True, help=f"a STAC API URL, or {' / '.join(CATALOGUES)} (short names of known catalogues)"
    )
    p.add_argument("--collection", help="the collection (default for a known catalogue: its Sentinel-2 L2A COGs)")
    area = p.add_mutually_exclusive_group(required=True)
    area.add_argument("--bbox", metavar="W,S,E,N", help="the area in degrees")
    area.add_argument("--aoi", metavar="FILE", help="the area: the polygons of a vector file (GeoPackage, GeoJSON...)")
    p.add_argument("--dates", required=True, metavar="START/END", help="ISO dates, e.g. 2025-06-01/2025-06-07")
    p.add_argument("--max-cloud", type=float, metavar="PCT", help="drop items cloudier than this (eo:cloud_cover, %%)")
    p.add_argument("--json", action="store_true", help="print the items as JSON (a list) instead of a table")
    return p


def format_table(found: list[FoundItem]) -> str:
    """One line per item; water is the tile's share (the archive's classification), not the area's."""
    rows = [("date-time (UTC)", "id", "platform", "level", "cloud %", "area %", "water % (tile)")]
    for f in found:
        rows.append(
            (
                f.datetime[:19],
                f.id,
                f.platform or "",
                f.level or "",
                "" if f.cloud_pct is None else f"{f.cloud_pct:.1f}",
                f"{100 * f.aoi_share:.0f}",
                "" if f.water_pct is None else f"{f.water_pct:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([*lines, f"{len(found)} item(s)"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def search() -> list[FoundItem]:
        from sargasses.search.aoi import parse_bbox, read_aoi

        aoi = parse_bbox(args.bbox) if args.bbox else read_aoi(args.aoi)
        return search_items(args.stac, aoi, args.dates, args.collection, args.max_cloud)

    def show(found: list[FoundItem]) -> str:
        return json.dumps([f.as_dict() for f in found], indent=1) if args.json else format_table(found)

    return run_command(search, show, Endings(lambda exc: "interrupted; nothing was written"))
