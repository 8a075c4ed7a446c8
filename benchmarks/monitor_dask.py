"""Throughput of `sargasses monitor` on a local Dask cluster: 2 single-threaded workers against 1, and the peak
memory of each worker as scenes are added.

    .venv/bin/python benchmarks/monitor_dask.py                      # 12 synthetic scenes of 1024 x 1024 px
    .venv/bin/python benchmarks/monitor_dask.py --days 4 --size 512  # quick

Each configuration is a fresh `sargasses monitor` process on a fresh folder (same scenes), with one CPU thread per
scene's detection (SARGASSES_CPU_THREADS=1 via --threads-per-scene 1), so that the workers are the only parallelism.
Throughput is scenes per second of the scenes phase (tasks submitted to last result recorded, as `sargasses monitor`
prints it); the whole command's time (cluster start and products included) is shown beside it. The peak resident memory of each worker
process after each of its scenes comes from the scenes layer (worker_peak_mb): flat = memory bounded per worker.
Prints Markdown tables; the machine and its load average are printed first, since a shared machine lowers the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=12)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--workdir", type=Path, help="keep the series and folders here (default: a temporary folder)")
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sargasses-monitor-bench-"))
    series = work / "series"
    print(machine())
    if not (series / "truth.json").exists():
        run([sys.executable, "-m", "sargasses", "synth", str(series), "--series", str(args.days), "--size",
             str(args.size), "--seed", "500", "--overwrite"])  # fmt: skip
    rows = []
    for workers in (1, 2):
        rows.append(measure(series, work / f"workers-{workers}", workers, args.days))
    print(f"\n{args.days} scenes of {args.size} x {args.size} px, local cluster, 1 thread per worker and per scene\n")
    print(
        "| workers | command s | scenes s | scenes/s | s per scene (mean) | scenes per worker | peak MB per worker, after 1st / last scene |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        peaks = "; ".join(f"{first:.0f} / {last:.0f}" for first, last in r["peaks"])
        print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['scenes_s']:.1f} | {r['days'] / r['scenes_s']:.3f} | "
              f"{r['scene_s']:.2f} | {', '.join(map(str, r['per_worker']))} | {peaks} |")  # fmt: skip
    ratio = rows[0]["scenes_s"] / rows[1]["scenes_s"]
    whole = rows[0]["wall_s"] / rows[1]["wall_s"]
    print(
        f"\nthroughput 2 workers / 1 worker: {ratio:.2f}x on the scenes, {whole:.2f}x on the whole command "
        f"(target >= 1.7x); load average now {load()}"
    )
    return 0


def measure(series: Path, out: Path, workers: int, days: int) -> dict:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "sargasses", "monitor", str(series / "scene_*.tif"), "-o", str(out),
           "--sectors", str(series / "sectors.gpkg"), "--grid-crs", "EPSG:32620", "--cell", "1000",
           "--workers", str(workers), "--threads", "1", "--threads-per-scene", "1"]  # fmt: skip
    started = time.perf_counter()
    output = run(cmd)
    wall = time.perf_counter() - started
    scenes_s = float(re.search(r"scenes ran in ([0-9.]+) s", output).group(1))
    layer = scenes_layer(out / "catalogue.gpkg")
    assert set(layer["status"]) == {"done"}, layer["status"]
    by_worker: dict[int, list[float]] = {}
    for pid, peak in zip(layer["worker_pid"], layer["worker_peak_mb"], strict=True):
        by_worker.setdefault(pid, []).append(peak)  # a peak only grows: its least is after the first scene
    scene_s = sum(layer["elapsed_s"]) / len(layer["elapsed_s"])
    return {"workers": workers, "wall_s": wall, "scenes_s": scenes_s, "days": days, "scene_s": scene_s,
            "peaks": [(min(v), max(v)) for v in by_worker.values()], "per_worker": [len(v) for v in by_worker.values()]}  # fmt: skip


def scenes_layer(path: Path) -> dict[str, list]:
    import pyogrio.raw

    meta, _, _, values = pyogrio.raw.read(path, layer="scenes", read_geometry=False)
    return {name: list(v) for name, v in zip(meta["fields"], values, strict=True)}


def run(cmd: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    model = names[0] if names else platform.processor()
    return f"machine: {platform.machine()} {model}, {cpus} CPUs, Python {platform.python_version()}; load {load()}"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    sys.exit(main())
