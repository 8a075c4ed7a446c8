"""Zip bombs in a model file: how long a reader takes to refuse them, and how much memory it holds meanwhile.

`python benchmarks/hostile_model_files.py [--tree PATH ...] [--inflated-mib 2048]` writes a few hostile
`.sargasses` files (a card.json or a weights.npz of a few MB that inflates to just under 2 GiB; the manifest hashes them
right) and opens each in a fresh process with each source tree's sargasses (e.g. a checkout of an older commit, before the size
limits, and this tree), printing a table: tree, file, seconds, peak resident memory, and the first words of the
refusal. Issue 21, item 7.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "core"))  # hostile_files.write_bomb: the files the tests refuse


READER = """
import sys, time
from sargasses.errors import SargassesError
from sargasses.model_archive import read_model_archive
start = time.perf_counter()
try:
    read_model_archive(sys.argv[1], graph=True, weights=True)
    outcome = "read (not refused)"
except SargassesError as exc:
    outcome = "refused: " + str(exc).split(": ", 1)[-1][:60]
except MemoryError:
    outcome = "MemoryError"
print(f"{time.perf_counter() - start:.2f}\\t{outcome}")
"""


def measure(tree: Path, model: Path) -> tuple[float, float, str]:
    """(seconds, peak resident MiB, outcome) of reading `model` in a fresh process importing `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(
        [sys.executable, "-c", READER, str(model)], env=env, stdout=subprocess.PIPE, text=True, cwd=model.parent
    )
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds, _, outcome = out.strip().partition("\t")
    if process.returncode:
        outcome = f"exit {process.returncode} {outcome}"
    return float(seconds or "nan"), usage.ru_maxrss / 1024, outcome


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, action="append", help="a source tree to measure (default: this one)")
    p.add_argument(
        "--inflated-mib", type=int, default=2047, help="what the bomb inflates to (under the old 2 GiB limit)"
    )
    args = p.parse_args()
    from hostile_files import write_bomb

    trees = args.tree or [ROOT]
    with tempfile.TemporaryDirectory(prefix="sargasses-bombs-") as folder:
        files = {}
        for member in ("card.json", "weights.npz"):
            path = write_bomb(Path(folder) / f"{member.split('.')[0]}_bomb.sargasses", member, args.inflated_mib << 20)
            files[f"{member} -> {args.inflated_mib} MiB ({path.stat().st_size / 2**20:.1f} MiB file)"] = path
        print("| tree | hostile file | seconds | peak memory (MiB) | outcome |")
        print("|---|---|---|---|---|")
        for tree in trees:
            for what, path in files.items():
                started = time.perf_counter()
                seconds, peak, outcome = measure(tree, path)
                seconds = seconds if seconds == seconds else time.perf_counter() - started
                print(f"| {tree} | {what} | {seconds:.2f} | {peak:.0f} | {outcome} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
