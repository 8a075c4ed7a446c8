"""Model capacity against the full-tile budget: wider UNets and test-time flips, what each costs end to end.

    .venv/bin/python benchmarks/capacity.py [--size 5490] [--widths 4,6,8] [--model FILE] [--workdir DIR]

For each UNet width (init_features), a model file with the given model's card (bands, normalisation, tile size,
threshold) and the same network made wider: the given model's own weights at its own width, freshly initialised
weights at the others (a network's speed does not depend on its weights, but an untrained one finds no rafts, so
its polygon stage costs less than a trained one's would: the wider rows are a lower bound). Each is run end to end
on benchmark_detect.py's synthetic full-size tile (sea, coast, clouds, thousands of filaments), in a process of its
own, as `sargasses detect` runs it: time inside run_detection, seconds in the model (summed over the tiles scored
at once, so it may exceed the wall time), peak RSS. Test-time flips: benchmarks/detection_limit.py --flips 2|4
(each flip is one more model pass per tile).
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
        fits = "yes" if run["time_s"] <= BUDGET_S and run["peak_rss_mb"] <= 1024 else "no"
        rows.append([width, run["time_s"], run["timing"]["model_s"], run["peak_rss_mb"], run["rafts"], fits])
    info = machine()
    print(f"{args.size} x {args.size} px tile; {info['cpu']}, {info['threads']} threads; load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")  # fmt: skip
    headers = [
        "init_features",
        "run_detection s",
        "model s (summed over tiles)",
        "peak RSS MB",
        "rafts",
        "<= 15 s, 1 GB",
    ]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
