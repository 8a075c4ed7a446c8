"""Time and peak memory of synthetic scene generation (make_scene, write_scene), one fresh process per case.

    .venv/bin/python benchmarks/synth_speed.py                 # 1024 px scenes (3 kinds) and a full 5490 px tile
    .venv/bin/python benchmarks/synth_speed.py --sizes 1024 --seeds 0 1 2

Prints a table; peak memory is the child process's maximum resident set size (Linux ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time


def child(seed: int, size: int, kind: str, dtype: str) -> None:
    from sargasses.synth import make_scene, write_scene

    started = time.perf_counter()
    scene = make_scene(seed, size, kind)
    made = time.perf_counter()
    with tempfile.TemporaryDirectory() as outdir:
        write_scene(scene, outdir, dtype)
    written = time.perf_counter()
    print(
        json.dumps(
            {
                "make_s": made - started,
                "write_s": written - made,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "positive_share": scene.meta["stats"]["positive_share"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 5490])
    parser.add_argument("--kinds", nargs="+", default=["mixed", "confounders", "clean"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--dtype", default="uint16")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seed, size, kind, dtype = args.child
        child(int(seed), int(size), kind, dtype)
        return
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'size':>6} {'kind':<12} {'seed':>4} {'dtype':<8} {'make s':>7} {'write s':>8} {'peak MB':>8} {'pos %':>6}")
    for size in args.sizes:
        kinds = args.kinds if size <= 2048 else args.kinds[:1]
        seeds = args.seeds if size <= 2048 else args.seeds[:1]
        for kind in kinds:
            for seed in seeds:
                cmd = [sys.executable, __file__, "--child", str(seed), str(size), kind, args.dtype]
                out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                print(
                    f"{size:>6} {kind:<12} {seed:>4} {args.dtype:<8} {out['make_s']:>7.2f} {out['write_s']:>8.2f} "
                    f"{out['peak_mb']:>8.0f} {100 * out['positive_share']:>6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
