"""The scenes of a STAC search as a monitoring run's inputs: one per item, named in the catalogue by its id.

Why the id and not the href: a catalogue may move or re-sign its links between two runs; the id stays, so a rerun of
the same search skips the items done with the same model and runs only the new ones. Each item is read remotely
(reading/stac_item.py), only over the area searched (`aoi_extent`, in the item's CRS), as `sargasses detect` reads
an item's URL.
"""

from __future__ import annotations

import argparse

from sargasses.errors import SargassesError
from sargasses.monitor.gpkg_time import parse_gpkg_datetime
from sargasses.monitor.inputs import SceneInput


def search_options_given(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a search; a half-given one is refused with what is missing."""
    given = {"--stac": args.stac, "--dates": args.dates, "--aoi or --bbox": args.aoi or args.bbox}
    if not any(given.values()) and not args.collection and args.max_cloud is None:
        return False
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise SargassesError(f"a search needs {', '.join(missing)} as well (e.g. --dates 2025-06-01/2025-06-07)")
    return True


def stac_inputs(args: argparse.Namespace) -> list[SceneInput]:
    """The items the search finds, oldest first, as scene inputs read over the searched area only."""
    from sargasses.search.aoi import parse_bbox, read_aoi
    from sargasses.search.search import search_items

    aoi = parse_bbox(args.bbox) if args.bbox else read_aoi(args.aoi)
    found = search_items(args.stac, aoi, args.dates, args.collection, args.max_cloud)
    return [
        SceneInput(scene=f.id, source=f.href, datetime=parse_gpkg_datetime(f.datetime), extent=_extent(f.aoi_extent))
        for f in found
    ]


def _extent(bounds: list[float] | None) -> tuple[float, float, float, float] | None:
    return None if bounds is None else (bounds[0], bounds[1], bounds[2], bounds[3])
