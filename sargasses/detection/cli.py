"""`sargasses detect INPUT -o OUTPUT ...`: the command line over `sargasses.detection.run.run_detection`.

Errors the user can act on print one line (`sargasses: error: ...`) and exit 1; Ctrl-C exits 130, SIGTERM 143
(sargasses/command_ending.py, as every long command). In every case nothing new is left and earlier files are intact (the outputs are one set: sargasses/outputs/output_set.py). A progress bar runs on stderr; the summary goes to stdout (`--json` for JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from sargasses.command_ending import Endings, run_command
from sargasses.detection.baseline import DEFAULT_THRESHOLDS
from sargasses.errors import SargassesError
from sargasses.outputs.output_set import InterruptedAfterCommit


def _bands(text: str) -> list[str]:
    return [b for b in text.replace(",", " ").split() if b]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sargasses detect",
        description="Find Sargassum rafts on a raster and write them as polygons.",
        epilog="Example: sargasses detect scene.tif -o rafts.shp --probabilities prob.tif --quicklook look.png",
    )
    _add_scene(p)
    _add_detection_and_outputs(p)
    _add_scorer(p)
    _add_reading(p)
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def _add_scene(p: argparse.ArgumentParser) -> None:
    """The input: a raster or SAFE/SEN3 path, or a STAC item."""
    p.add_argument(
        "input",
        nargs="?",
        help="raster: multi-band GeoTIFF/VRT, Sentinel-2 .SAFE folder or one band file of it, "
        "Sentinel-3 OLCI .SEN3 folder or its zip, or a STAC item (its URL or JSON file; or give --stac and --id)",
    )
    stac = p.add_argument_group("a STAC item by id (read remotely, docs/stac.md)")
    stac.add_argument("--stac", help="the catalogue: a STAC API URL, earth-search or planetary-computer")
    stac.add_argument("--collection", help="the item's collection (default: the catalogue's Sentinel-2 L2A)")
    stac.add_argument("--id", dest="stac_id", metavar="ID", help="the item's id, as sargasses search lists it")


def _add_detection_and_outputs(p: argparse.ArgumentParser) -> None:
    """How rafts are told apart (model or index, threshold, smallest raft) and the files written."""
    p.add_argument(
        "-o", "--output", required=True, help="polygons; the extension picks the format: .gpkg .shp .geojson"
    )
    p.add_argument("--model", help="sargasses model file (.sargasses); default: the bundled model")
    p.add_argument(
        "--method", choices=("model", "afai", "fai"), default="model", help="model (default) or an index baseline"
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="probability (model; default: the model file's, picked on validation) or index height (afai "
        f"{DEFAULT_THRESHOLDS['afai']:g}, fai {DEFAULT_THRESHOLDS['fai']:g} by default) to call a pixel Sargassum",
    )
    p.add_argument(
        "--min-area",
        type=float,
        metavar="M2",
        help="drop rafts smaller than this (m2); default: rafts under 3 pixels (1200 m2 at 20 m); 0 keeps all",
    )
    p.add_argument("--probabilities", metavar="FILE.tif", help="also write the probability raster (GeoTIFF)")
    p.add_argument(
        "--coverage",
        metavar="FILE.tif",
        help="also write the fractional cover of each pixel (GeoTIFF, 0-1; for rafts smaller than a pixel)",
    )
    p.add_argument("--quicklook", metavar="FILE.png", help="also write a false-colour PNG with the rafts outlined")


def _add_scorer(p: argparse.ArgumentParser) -> None:
    """Where the model runs."""
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--backend", choices=("auto", "torch", "onnx"), default="auto", help="auto: ONNX Runtime on CPU, torch on GPU"
    )


def _add_reading(p: argparse.ArgumentParser) -> None:
    """Which part of the input is read, and how (bands, box, sensor, land, units)."""
    p.add_argument("--bands", type=_bands, help="bands of the input to use, in the model's order, e.g. B02,B03,...")
    p.add_argument(
        "--extent",
        type=float,
        nargs=4,
        metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
        help="process only this box (raster CRS)",
    )
    p.add_argument(
        "--sensor",
        help="the input's sensor and level when the file does not say it, e.g. sentinel2_l1c (default: from the "
        "file's tags and band names, Sentinel-2 L2A when they do not tell)",
    )
    p.add_argument("--land", metavar="FILE", help="land mask: vector (polygons = land) or raster (non-zero = land)")
    p.add_argument("--simplify", type=float, metavar="M", help="simplify polygons with this tolerance (metres)")
    p.add_argument("--no-background", action="store_true", help="afai/fai: do not subtract the median background")
    p.add_argument("--tile-size", type=int, help="largest tile side in pixels (default: the model file's)")
    p.add_argument("--batch-size", type=int, help="tiles per batch (default for 512 px tiles: 1 on CPU, 8 on GPU)")
    p.add_argument(
        "--pixel-units",
        action="store_true",
        help="accept a raster without a CRS: areas (and --min-area, --simplify) in pixels, no lon/lat",
    )


class ProgressBar:
    """A tqdm bar on stderr, opened at the first progress report (so an early error prints alone)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}", file=sys.stderr)
        target = round(max(0.0, min(1.0, fraction)) * 1000)
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)
        self.bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _stages(summary: dict[str, Any]) -> str:
    """Where the time went, e.g. 'model 4.1 s, reading 3.0 s (beside the model), polygons 1.2 s, cover 0.1 s, writing 0.8 s'."""
    t = summary.get("timing", {})
    return (
        f"model {t.get('model_s', 0):.1f} s, reading {t.get('read_s', 0):.1f} s (beside the model), "
        f"polygons {t.get('polygons_s', 0):.1f} s, cover {t.get('coverage_s', 0):.1f} s, "
        f"writing {t.get('write_s', 0):.1f} s"
    )


def format_summary(summary: dict[str, Any]) -> str:
    model = summary.get("model")
    if summary.get("units") == "pixels":
        areas = [
            f"total area         {summary['total_area_px']} pixels (no CRS: --pixel-units)",
            f"valid water        {summary['water_area_px']} pixels, {100 * summary['water_share_covered']:.4f}% covered",
        ]
    else:
        areas = [
            f"total area         {summary['total_area_km2']:.4f} km2",
            f"valid water        {summary['water_area_km2']:.2f} km2, "
            f"{100 * summary['water_share_covered']:.4f}% covered",
        ]
    if summary.get("coverage_method"):
        covered = (
            f"{summary['covered_area_px']:.1f} pixels"
            if summary.get("units") == "pixels"
            else f"{summary['covered_area_km2']:.4f} km2"
        )
        areas.insert(1, f"covered area       {covered} (sum of fractional cover: {summary['coverage_method']})")
    lines = [
        f"rafts found        {summary['rafts']}",
        *areas,
        f"method             {summary['method']}" + (f" ({model['name']} {model['version']})" if model else ""),
        f"threshold          {summary['threshold']:g} ({summary.get('threshold_source', '')})",
        f"device             {summary['device_name']} - {summary['scorer']}",
        f"time               {summary['time_s']:.1f} s ({_stages(summary)})",
        f"polygons           {summary['output']}",
    ]
    if summary.get("probabilities"):
        lines.append(f"probabilities      {summary['probabilities']}")
    if summary.get("coverage"):
        lines.append(f"coverage           {summary['coverage']}")
    if summary.get("quicklook"):
        lines.append(f"quicklook          {summary['quicklook']}")
    lines.append(f"summary            {summary['summary']}")
    return "\n".join(lines)


def _input(args: argparse.Namespace) -> str:
    """INPUT, or the self link of the STAC item --stac/--id name."""
    if (args.stac is None) != (args.stac_id is None) or (args.stac_id is not None) == (args.input is not None):
        raise SargassesError("give an INPUT, or --stac CATALOGUE with --id ITEM (not both)")
    if args.stac_id is None:
        return args.input
    from sargasses.search.search import item_href

    return item_href(args.stac, args.stac_id, args.collection)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    skip = ("quiet", "json", "no_background", "stac", "collection", "stac_id")
    values = {k: v for k, v in vars(args).items() if k not in skip}
    bar = ProgressBar(args.quiet)

    def detect() -> dict[str, Any]:
        values["input"] = _input(args)
        options = DetectOptions.from_mapping({**values, "background": not args.no_background})
        return run_detection(options, progress=bar, cancel=threading.Event())

    def show(summary: dict[str, Any]) -> str:
        for warning in summary.get("warnings") or ():
            print(f"sargasses: warning: {warning}", file=sys.stderr)
        return json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary)

    def interrupted(exc: KeyboardInterrupt) -> str:
        if isinstance(exc, InterruptedAfterCommit):
            return f"interrupted after the outputs were complete; they are in place ({args.output})"
        return "interrupted; no output was written"

    endings = Endings(
        interrupted,
        out_of_memory="out of memory; use a smaller --batch-size or --tile-size, or --device cpu",
        writing=args.output,
        interrupted_after="interrupted; the outputs were complete and are in place",
    )
    return run_command(detect, show, endings, stop_progress=bar.close)


if __name__ == "__main__":
    sys.exit(main())
