"""What each raft's distance to the shore (issue 19 item 4) costs a detection run, in this tree and in earlier ones.

    .venv/bin/python benchmarks/shore_distance.py                       # this tree only
    .venv/bin/python benchmarks/shore_distance.py --before 5c850e4 --before 5c850e4^
    .venv/bin/python benchmarks/shore_distance.py --skip-full           # the many-rafts case only

Two cases, each with and without land, each run as `make benchmark` runs detection (benchmarks/benchmark_detect.py's
worker: a process of its own, shapefile + probability GeoTIFF, peak RSS its own):
1. many rafts: a random-weights HalfUNet-8 (tests/core/detect_helpers.random_model, 64 px tiles, threshold 0.75) on a
   1536 x 1536 scene of noisy water, which it breaks into tens of thousands of rafts; "land" puts land in the scene's first fifth
   of columns. The polygons stage (where the distances are taken) is what changes.
2. full tile: make benchmark's 5490 x 5490 scene (benchmark_detect.write_scene: a coast in its first 6 % of columns,
   about 2500 filaments, clouds) with the bundled default model, and the same scene without the coast.
Each `--before REV` is a commit of this repository, extracted (git archive) into a temporary folder and run there
with the same scenes and models: e.g. 5c850e4 (a distance transform per raft) and 5c850e4^ (no distances at all).
Prints Markdown tables, with the load average before and after (others share the machine: it slows every figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(ROOT))

import benchmark_detect  # noqa: E402  (benchmarks/ and tests/core/ are put on the path above)

MANY_SIZE = 1536
FULL_SIZE = 5490
RANDOM_THRESHOLD = 0.75  # near the 75th percentile of the random model's probabilities there: the most rafts


def many_rafts_scene(path: Path, land: bool) -> Path:
    """Noisy water (and land in the first fifth of columns): a random model breaks it into many rafts."""
    from detect_helpers import LAND, water, write_scene

    if path.exists():
        return path
    sea = water(MANY_SIZE, MANY_SIZE, seed=11, noise=0.002)
    if land:
        sea[:, :, : MANY_SIZE // 5] = LAND[:, None, None]
    return write_scene(path, sea)


def extract(rev: str, into: Path) -> Path:
    """The tree of commit `rev` (its code, benchmarks and test helpers) in a folder of its own."""
    folder = into / rev.replace("/", "_").replace("^", "_parent")
    if not folder.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "sargasses", "benchmarks", "tests/core"],
            capture_output=True,
            check=True,
        ).stdout
        folder.mkdir(parents=True)
        with tempfile.TemporaryFile() as tmp:
            tmp.write(archive)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as tar:
                tar.extractall(folder, filter="data")
    return folder


def detect(tree: Path, scene: Path, model: Path, outdir: Path) -> dict[str, Any]:
    """One detection by `tree`'s own benchmark worker, importing `tree`'s own sargasses."""
    script = tree / "benchmarks" / "benchmark_detect.py"
    command = [sys.executable, str(script), "--worker", "detect", str(scene), str(model), str(outdir)]
    result = benchmark_detect.run_process(command, env={"PYTHONPATH": str(tree)})
    if result["rc"] != 0:
        return {"error": (result["stderr"] or "").strip().splitlines()[-1:]}
    return json.loads(result["stdout"].strip().splitlines()[-1])


def settings(r: dict[str, Any]) -> str:
    by = r.get("rafts_by_setting")
    return "-" if not by else f"{by['open_water']} / {by['nearshore']} / {by['shoreline']}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", action="append", default=[], help="a commit to compare with (repeatable)")
    parser.add_argument("--skip-full", action="store_true", help="the many-rafts case only")
    parser.add_argument("--workdir", default="/tmp/sargasses-shore-benchmark", help="scenes, trees and outputs")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    from detect_helpers import random_model

    trees = {"this tree": ROOT, **{rev: extract(rev, workdir / "trees") for rev in args.before}}
    random = workdir / "random.sargasses"
    if not random.exists():
        random_model(random, tile_size=64, overlap=16, seed=0, threshold=RANDOM_THRESHOLD)
    cases = [(f"{MANY_SIZE} px, random model", land, many_rafts_scene(workdir / f"many_{land}.tif", land), random)
             for land in (False, True)]  # fmt: skip
    if not args.skip_full:
        default = ROOT / "resources" / "default_model.sargasses"
        for land in (False, True):
            scene = workdir / f"full_{land}.tif"
            benchmark_detect.write_scene(scene, FULL_SIZE, coast_share=0.06 if land else 0.0)
            cases.append((f"{FULL_SIZE} px, default model", land, scene, default))
    load_before = os.getloadavg()
    rows = []
    for label, land, scene, model in cases:
        for name, tree in trees.items():
            print(f"{label}, land {land}, {name} ...", file=sys.stderr)
            r = detect(tree, scene, model, workdir / "out")
            if "error" in r:
                rows.append([label, "yes" if land else "no", name, "failed", "", "", "", "", str(r["error"])[:80]])
                continue
            timing = r["timing"]
            rows.append([label, "yes" if land else "no", name, r["rafts"], settings(r), round(timing["polygons_s"], 1),
                         round(r["time_s"], 1), round(r["peak_rss_mb"]), round(timing["model_s"], 1)])  # fmt: skip
    load_after = os.getloadavg()
    print("# Shore distance: what it costs a detection run\n")
    print(f"load average before: {load_before[0]:.1f} (1 min), {load_before[1]:.1f} (5 min); "
          f"after: {load_after[0]:.1f}, {load_after[1]:.1f}; {os.cpu_count()} CPUs\n")  # fmt: skip
    headers = ["scene", "land", "tree", "rafts", "open / near / shoreline", "polygons s", "run_detection s"]
    print(benchmark_detect.table([*headers, "peak RSS MB", "model s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
