"""`sargasses synth OUTDIR`: write synthetic Sentinel-2 scenes with their label masks and what was planted, or
(`--olci`) synthetic Sentinel-3 OLCI products (.SEN3, Level-1 EFR and Level-2 WFR) with their planted rafts."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sargasses.errors import SargassesError
from sargasses.synth import DTYPES, FULL_TILE_SIZE, KINDS, make_scene, scene_paths, write_scene


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sargasses synth",
        description="Write synthetic Sentinel-2 L2A 20 m scenes (10 bands B02..B12) with label masks "
        "(1 Sargassum, 0 not, 255 not scorable) and a JSON of what was planted, one set per seed.",
    )
    p.add_argument("outdir", type=Path, help="folder for scene_SEED.tif, scene_SEED_label.tif, scene_SEED.json")
    p.add_argument("--count", type=int, default=1, help="number of scenes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first scene; the next ones count up (default 0)")
    p.add_argument(
        "--size", type=int, default=1024, help=f"scene width and height in pixels, {FULL_TILE_SIZE} = a full tile"
    )
    p.add_argument("--kind", choices=KINDS, default="mixed", help="mixed (default), confounders (no Sargassum), clean")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="float32 reflectance or uint16 L2A numbers")
    p.add_argument(
        "--background",
        type=Path,
        help="plant rafts into this real scene (10 bands, 20 m; L1C or L2A) instead of drawing a synthetic one",
    )
    p.add_argument(
        "--level",
        choices=("L2A", "L1C"),
        default="L2A",
        help="L2A surface reflectance (default) or L1C: seen through a random atmosphere, tagged sentinel2_l1c",
    )
    p.add_argument("--figure", type=Path, help="also save a PNG of the first scene (true colour, red edge, mask)")
    p.add_argument(
        "--olci",
        action="store_true",
        help="write Sentinel-3 OLCI products instead: a Level-1 EFR and a Level-2 WFR .SEN3 folder per seed, in the "
        "real layout, with sub-pixel rafts listed in olci_SEED_planted.json (docs/reading.md)",
    )
    p.add_argument(
        "--series",
        type=int,
        metavar="N",
        help="write N scenes of the same sea on successive days instead (rafts drifting and growing, clouds on some "
        "days), with truth.json (cover per day and per sector) and sectors.gpkg: the monitoring test world",
    )
    p.add_argument("--zip", action="store_true", help="with --olci: also write each product's zip")
    p.add_argument("--overwrite", action="store_true", help="replace scene files that already exist")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sargasses.synth.atmosphere import as_level_1c
    from sargasses.synth.planting import planted_scene

    if args.count < 1:
        raise SargassesError(f"--count {args.count}: give at least 1 scene")
    seeds = range(args.seed, args.seed + args.count)
    if args.seed < 0:
        raise SargassesError(f"--seed {args.seed}: seeds are counted from 0 up")
    if args.olci:
        return _olci(args, seeds)
    if args.series is not None:
        from sargasses.synth.series_cli import write_series

        return write_series(args)
    if args.zip:
        raise SargassesError("--zip goes with --olci: Sentinel-2 scenes are GeoTIFFs")
    if not args.overwrite:  # check every file before writing any: no half-done batch
        for seed in seeds:
            taken = [p for p in scene_paths(args.outdir, seed).values() if p.exists()]
            if taken:
                raise SargassesError(
                    f"{taken[0]} already exists: pass --overwrite to replace it, or pick another folder or --seed"
                )
    if args.figure is not None and args.figure.exists() and not args.overwrite:
        raise SargassesError(f"{args.figure} already exists: pass --overwrite to replace it, or pick another name")
    started = time.perf_counter()
    positives = 0.0
    for i, seed in enumerate(tqdm(seeds, desc="synthetic scenes", unit="scene", disable=None)):
        scene = planted_scene(args.background, seed) if args.background else make_scene(seed, args.size, args.kind)
        if args.level == "L1C":
            scene = as_level_1c(scene, seed)
        write_scene(scene, args.outdir, args.dtype, overwrite=args.overwrite)
        positives += scene.meta["stats"]["positive_share"]
        if i == 0 and args.figure is not None:
            _figure(scene, args.figure)
    elapsed = time.perf_counter() - started
    what = f"planted into {args.background.name}" if args.background else f"{args.kind}, {args.size}x{args.size} px"
    print(
        f"wrote {args.count} scene(s) ({what}) to {args.outdir} "
        f"in {elapsed:.1f} s ({elapsed / args.count:.1f} s each); mean positive share {positives / args.count:.4%}"
    )
    return 0


def _olci(args: argparse.Namespace, seeds: range) -> int:
    """Synthetic OLCI product pairs, one per seed; every file checked before any is written."""
    from sargasses.synth.olci_product import product_paths, write_products

    if args.background or args.figure or args.level != "L2A" or args.dtype != "float32":
        raise SargassesError("--olci writes its own swath: --background, --figure, --level and --dtype do not apply")
    if not args.overwrite:
        for seed in seeds:
            taken = [p for p in product_paths(args.outdir, seed, args.zip).values() if p.exists()]
            if taken:
                raise SargassesError(
                    f"{taken[0]} already exists: pass --overwrite to replace it, or pick another folder or --seed"
                )
    started = time.perf_counter()
    for seed in seeds:
        write_products(args.outdir, seed, zip_too=args.zip, overwrite=args.overwrite)
    elapsed = time.perf_counter() - started
    print(f"wrote {args.count} OLCI product pair(s) (L1 EFR, L2 WFR) to {args.outdir} in {elapsed:.1f} s")
    return 0


def _figure(scene, path: Path) -> None:
    from sargasses.figures import save_scene_figure, zoom_on_positives

    save_scene_figure(
        path,
        scene.reflectance,
        scene.label,
        title=f"synthetic scene seed {scene.seed} ({scene.kind}), {scene.meta['product_id']}",
        zoom=zoom_on_positives(scene.label),
    )
    print(f"figure: {path}")
