"""Model capacity against the full-tile budget: wider UNets and test-time flips, what each costs end to end.

    .venv/bin/python benchmarks/capacity.py [--size 5490] [--widths 4,6,8] [--model FILE] [--workdir DIR]

For each UNet width (init_features), a model file with the given model's card (bands, normalisation, tile size,
threshold) and the same network made wider: the given model's own weights at its own width, freshly initialised
weights at the others (a network's speed does not depend on its weights). Each is run end to end on
benchmark_detect.py's synthetic full-size tile (sea, coast, clouds, thousands of filaments), in a process of its own,
as `sargasses detect` runs it: wall time, time inside run_detection, time in the model, peak RSS. Flips (test-time
augmentation: the tile mirrored, scored again, mirrored back and averaged) are one more model pass per flip and
leave the rest of the run as it is: the time with k flips is the measured time plus (k - 1) x the measured model
time. What flips and width buy in detections: benchmarks/detection_limit.py --flips 2|4 on a trained model.
The budget (issue 19): a full tile in 15 s and 1 GB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from benchmark_detect import ROOT, machine, table, worker, write_scene

from sargasses.model_file import build_network, read_model_file, save_model_file

BUDGET_S = 15.0
FLIPS = (1, 2, 4)


def widened(model: Path, width: int, workdir: Path) -> Path:
    """`model` as it is at its own width; at another width, its card with freshly initialised weights."""
    card, _ = read_model_file(model)
    if int(card.architecture["settings"].get("init_features", 0)) == width:
        return model
    settings = {**card.architecture["settings"], "init_features": width}
    card = dataclasses.replace(card, architecture={**card.architecture, "settings": settings}, name=f"unet-if{width}")
    path = workdir / f"unet_if{width}.sargasses"
    if not path.exists():
        save_model_file(path, build_network(card).state_dict(), card)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=5490, help="side of the synthetic tile (default 5490: a full S2 tile)")
    p.add_argument("--widths", default="4,6,8", help="UNet init_features to compare (default 4,6,8)")
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "default_model.sargasses")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sargasses-benchmark"), help="scenes reused")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    scene = write_scene(args.workdir / f"scene_{args.size}.tif", args.size)
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        model = widened(args.model, width, args.workdir)
        run = worker("detect", str(scene), str(model), str(args.workdir / f"capacity_if{width}"))
        if "error" in run:
            print(f"init_features={width}: {run['error']}", file=sys.stderr)
            return 1
        model_s = run["timing"]["model_s"]
        for k in FLIPS:
            seconds = run["time_s"] + (k - 1) * model_s
            fits = "yes" if seconds <= BUDGET_S and run["peak_rss_mb"] <= 1024 else "no"
            measured = "measured" if k == 1 else f"+ {k - 1} x model time"
            rows.append([width, k, seconds, model_s * k, run["peak_rss_mb"], run["rafts"], measured, fits])
    info = machine()
    print(f"{args.size} x {args.size} px tile; {info['cpu']}, {info['threads']} threads; load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")  # fmt: skip
    headers = ["init_features", "flips", "run_detection s", "model s", "peak RSS MB", "rafts", "time", "<= 15 s, 1 GB"]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
