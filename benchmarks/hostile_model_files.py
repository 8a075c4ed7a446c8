"""Zip bombs in a model file: how long a reader takes to refuse them, and how much memory it holds meanwhile.

`python benchmarks/hostile_model_files.py [--tree PATH ...] [--inflated-mib 2048]` writes a few hostile
`.sargasses` files (a card.json or a weights.npz of a few MB that inflates to just under 2 GiB; the manifest hashes them
right) and opens each in a fresh process with each source tree's sargasses (e.g. /work/main, before the size
limits, and this tree), printing a table: tree, file, seconds, peak resident memory, and the first words of the
refusal. Issue 21, item 7.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 24


def write_bomb(path: Path, bomb_member: str, inflated: int) -> Path:
    """A model file whose `bomb_member` is `inflated` bytes of JSON whitespace (deflate packs it ~1000:1)."""
    from sargasses.model_archive import CARD, GRAPH, MANIFEST, WEIGHTS, read_model_archive
    from sargasses.model_file import default_model_path

    real = read_model_archive(default_model_path(), graph=True)
    contents = {CARD: json.dumps(real.card).encode(), GRAPH: real.graph or b"", WEIGHTS: b""}
    digest = hashlib.sha256()
    blank = b" " * CHUNK
    for _ in range(inflated // CHUNK):
        digest.update(blank)
    digest.update(b"{}")
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    hashes[bomb_member] = digest.hexdigest()
    manifest = {"format": "sargasses-model", "format_version": 2, "exporter": "bomb", "members": hashes}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        for name, data in contents.items():
            if name != bomb_member:
                archive.writestr(name, data)
                continue
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(inflated // CHUNK):
                    member.write(blank)
                member.write(b"{}")
    return path


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
