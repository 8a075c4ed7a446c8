"""`sargasses synth OUTDIR --series N`: the days of a synthetic series, its truth and its sectors, on disk."""

from __future__ import annotations

import argparse
import time

from sargasses.errors import SargassesError


def write_series(args: argparse.Namespace) -> int:
    """Every file checked before any is written; each scene, then the truth and the sectors, written whole."""
    from tqdm import tqdm

    from sargasses.synth.series import series_day, series_world, truth_row, write_sectors, write_truth
    from sargasses.synth.writing import scene_paths, write_scene

    if args.series < 1:
        raise SargassesError(f"--series {args.series}: give at least 1 day")
    if args.background or args.level != "L2A" or args.count != 1:
        raise SargassesError("--series draws its own sea: --background, --level and --count do not apply")
    days = range(args.series)
    extra = [args.outdir / "truth.json", args.outdir / "sectors.gpkg"]
    if not args.overwrite:
        for path in [p for d in days for p in scene_paths(args.outdir, args.seed + d).values()] + extra:
            if path.exists():
                raise SargassesError(f"{path} already exists: pass --overwrite to replace it, or pick another folder")
    started = time.perf_counter()
    world = series_world(args.seed, args.size)
    rows = []
    for day in tqdm(days, desc="series days", unit="scene", disable=None):
        scene = series_day(world, day)
        write_scene(scene, args.outdir, args.dtype, overwrite=args.overwrite)
        rows.append(truth_row(scene))
        del scene
    extra[1].unlink(missing_ok=True)
    write_sectors(world, extra[1])
    write_truth(rows, extra[0])
    print(
        f"wrote a {args.series}-day series ({args.size}x{args.size} px, from {rows[0]['acquisition_date']}) to "
        f"{args.outdir} in {time.perf_counter() - started:.1f} s; truth.json, sectors.gpkg"
    )
    return 0
