"""Speed and memory of `sargasses detect`, against this CPU's compute ceiling and against the ways others do it.

    .venv/bin/python benchmarks/benchmark_detect.py            # full: a 5490 x 5490 x 10 Sentinel-2 tile at 20 m
    .venv/bin/python benchmarks/benchmark_detect.py --quick    # small sizes, for a machine others are using

Prints tables (Markdown) and writes them with every figure to WORKDIR/results.json. Each measured run is a separate
process, so its peak RSS (VmHWM) is its own. Sections:
1. machine: CPU, threads, load average before and after (a loaded machine makes every figure worse);
2. compute ceiling of this CPU, re-measured: fp32 matmul and a 64-channel 3x3 convolution (torch, all threads);
3. model throughput on 512 x 512 tiles per backend (torch eager, channels-last, ONNX Runtime on all threads, ONNX
   Runtime with tiles at once on one thread each as sargasses runs it on a CPU, torch.compile), with the FLOPs per
   pixel counted by torch and the share of the ceiling reached;
4. end to end: `python -m sargasses detect SCENE -o rafts.shp --probabilities p.tif` (read, infer, polygons, write)
   at each size: wall time of the process, time inside run_detection, Mpx/s, peak RSS;
5. the ways others do it, on the same scene and model: whole-image inference as Meteo-France's original project did
   (torch eager, the whole scene in one tensor) and a tile-by-tile loop with batch 1 and crop-only stitching as the
   Deepness QGIS plugin does (ONNX Runtime and torch eager).

The scene is synthetic and written block by block (never whole in memory): sea with noise, a coast, clouds, and
thousands of planted Sargassum filaments, as uint16 L2A digital numbers (offset -1000). Two models: the bundled
default (or --model), and HalfUNet-16, the original project's network, with hand-set weights
(tests/core/model_helpers.py's red_edge_weights) that cost what a trained HalfUNet-16 costs and find the planted filaments.
The first end-to-end run is a fresh process's first run (the model file read, ONNX Runtime warming up); later runs
are what every run after the first is in a warm engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))  # model_helpers: the hand-set HalfUNet the tests use too

WATER = np.array([0.034, 0.024, 0.017, 0.014, 0.014, 0.015, 0.013, 0.014, 0.009, 0.007], np.float32)
SARGASSUM = np.array([0.041, 0.049, 0.045, 0.095, 0.118, 0.141, 0.133, 0.137, 0.016, 0.010], np.float32)
LAND = np.array([0.05, 0.08, 0.07, 0.12, 0.25, 0.30, 0.32, 0.33, 0.22, 0.12], np.float32)
CLOUD = np.array([0.35, 0.34, 0.33, 0.33, 0.34, 0.35, 0.35, 0.35, 0.25, 0.18], np.float32)
BLOCK_ROWS = 512
TILE = 512
RSS_RUNS = 3  # runs of each size whose median peak RSS the spread compares
PAIRS = 3  # loop / tiled inference pairs whose median throughput ratio is reported


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count() or 1
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        memory_gb = float("nan")
    return {"cpu": cpu, "threads": threads, "memory_gb": round(memory_gb, 1), "load_before": os.getloadavg()}


# --------------------------------------------------------------------------- scene and model
def write_scene(path: Path, size: int, seed: int = 0, coast_share: float = 0.06) -> Path:
    """A size x size, 10-band uint16 L2A-like GeoTIFF, written 512 rows at a time; land in its first `coast_share`
    of columns."""
    import rasterio
    from affine import Affine

    from sargasses.reading.sensors import DEFAULT_BANDS

    if path.exists():
        return path
    tmp = path.with_name(f".{path.name}.part")
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 10,
        "dtype": "uint16",
        "crs": "EPSG:32620",
        "transform": Affine(20.0, 0.0, 600000.0, 0.0, -20.0, 1800000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 2,
        "zlevel": 1,
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    coast = int(size * coast_share)
    with rasterio.open(tmp, "w", **profile) as dst:
        for i, name in enumerate(DEFAULT_BANDS, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(
            SENSOR="sentinel2_l2a",
            BOA_ADD_OFFSET="-1000",
            BOA_QUANTIFICATION_VALUE="10000",
            ACQUISITION_DATE="2024-06-01",
            PRODUCT_ID=f"BENCHMARK_{size}",
        )
        for r0 in range(0, size, BLOCK_ROWS):
            rng = np.random.default_rng([seed, r0])
            h = min(BLOCK_ROWS, size - r0)
            block = WATER[:, None, None] + rng.normal(0, 0.0015, (10, h, size)).astype(np.float32)
            cover = np.zeros((h, size), np.float32)
            for _ in range(max(1, size * h // 12_000)):  # about 2500 filaments on a full tile
                y, x = rng.uniform(0, h), rng.uniform(coast, size)
                angle, length = rng.uniform(0, np.pi), rng.uniform(8, 120)
                t = np.linspace(0, length, int(length * 2))
                ys = np.clip((y + t * np.sin(angle)).astype(int), 0, h - 1)
                xs = np.clip((x + t * np.cos(angle)).astype(int), 0, size - 1)
                cover[ys, xs] = np.maximum(cover[ys, xs], rng.uniform(0.4, 1.0))
            block += cover * (SARGASSUM - WATER)[:, None, None]
            block[:, :, :coast] = LAND[:, None, None]
            for _ in range(max(1, h * size // 2_000_000)):
                cy, cx, radius = rng.uniform(0, h), rng.uniform(0, size), rng.uniform(20, 120)
                yy, xx = np.ogrid[:h, :size]
                block[:, (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = CLOUD[:, None]
            dn = np.clip(np.rint(block * 10000 + 1000), 1, 65535).astype(np.uint16)
            dst.write(dn, window=((r0, r0 + h), (0, size)))
    os.replace(tmp, path)
    return path


def reference_model(workdir: Path) -> Path:
    """HalfUNet-16, the original project's network, with hand-set weights (tests/core/model_helpers.py)."""
    from model_helpers import make_card, red_edge_weights

    from sargasses.model_file import save_model_file

    path = workdir / "halfunet16_red_edge.sargasses"
    if not path.exists():
        card = make_card(
            "HalfUNet",
            {"num_filters": 16, "bias": True, "autopad_enabled": True},
            mean=WATER.tolist(),
            std=[0.05] * 10,
            name="halfunet16-hand-set",
            version="bench",
        )
        save_model_file(path, red_edge_weights(card), card)
    return path


def benchmark_models(workdir: Path, model: str | None) -> dict[str, Path]:
    """The model to benchmark (given, else the bundled default) and the HalfUNet-16 reference."""
    models = {}
    default = Path(model) if model else ROOT / "resources" / "default_model.sargasses"
    if default.exists():
        models["default"] = default
    models["halfunet16"] = reference_model(workdir)
    return models


# --------------------------------------------------------------------------- running workers
def run_process(command: list[str], timeout: float = 3600, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; its wall time, return code, stdout and stderr."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    wall = time.perf_counter() - started
    # communicate() reaped the child: its rusage is in RUSAGE_CHILDREN only cumulatively, so workers report their own
    return {"wall_s": wall, "rc": process.returncode, "stdout": out, "stderr": err}


def worker(kind: str, *args: str, timeout: float = 3600, env: dict[str, str] | None = None) -> dict[str, Any]:
    """This script as a worker process; the worker prints one JSON line with its results and its peak RSS."""
    result = run_process([sys.executable, __file__, "--worker", kind, *args], timeout=timeout, env=env)
    if result["rc"] != 0:
        tail = (result["stderr"] or "").strip().splitlines()[-3:]
        return {"error": f"rc={result['rc']}: {' | '.join(tail)}", "wall_s": result["wall_s"]}
    data = json.loads(result["stdout"].strip().splitlines()[-1])
    data["process_wall_s"] = result["wall_s"]
    return data


def peak_rss_mb() -> float:
    """This process's own peak RSS. On Linux VmHWM: ru_maxrss would also hold the parent's peak, which a forked
    child carries over through exec (this script's parent grows to ~1 GB while it writes the scenes)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB; macOS: bytes (rare here)


# --------------------------------------------------------------------------- workers
def work_ceiling() -> dict[str, Any]:
    import torch

    def best_rate(fn, flops: float, repeats: int = 5) -> float:
        fn()
        best = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return flops / best / 1e9

    n = 2048
    a, b = torch.rand(n, n), torch.rand(n, n)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).eval()
    x = torch.rand(1, 64, 256, 256)
    with torch.inference_mode():
        matmul = best_rate(lambda: a @ b, 2 * n**3)
        conv_rate = best_rate(lambda: conv(x), 2 * 64 * 64 * 9 * 256 * 256)
    return {"matmul_gflops": matmul, "conv64_gflops": conv_rate, "torch_threads": torch.get_num_threads()}


def work_throughput(model_path: str, backend: str, batch: str) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sargasses.detection.onnx_export import onnx_bytes, onnx_session
    from sargasses.model_file import load_model_file

    batch_size = int(batch)
    loaded = load_model_file(model_path)
    module = loaded.module.eval()
    channels = len(loaded.card.band_names)
    x = torch.rand(batch_size, channels, TILE, TILE) * 0.1
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        module(x[:1])
    flops_per_px = counter.get_total_flops() / (TILE * TILE)
    if backend == "torch-eager":
        run = lambda: module(x)  # noqa: E731
    elif backend == "torch-channels-last":
        module = module.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        run = lambda: module(xc)  # noqa: E731
    elif backend in ("onnxruntime", "onnxruntime-blocked"):  # exported as it is, or with sargasses' rewrite
        graph = onnx_bytes(loaded, blocked=backend == "onnxruntime-blocked")
        session = onnx_session(graph, torch.get_num_threads())
        xn = x.numpy()
        run = lambda: session.run(None, {"reflectance": xn})  # noqa: E731
    elif backend == "onnxruntime-tiles-at-once":  # what sargasses does on a CPU: tiles on one thread each
        from concurrent.futures import ThreadPoolExecutor

        from sargasses.detection.scorers import OnnxScorer

        scorer = OnnxScorer(loaded.card.band_names, onnx_bytes(loaded), torch.get_num_threads())
        pool = ThreadPoolExecutor(scorer.parallel)
        tiles, excluded = [t[None] for t in x.numpy()], np.zeros((1, TILE, TILE), bool)
        run = lambda: list(pool.map(lambda t: scorer.score(t, excluded), tiles))  # noqa: E731
    elif backend == "torch-compile":
        compiled = torch.compile(module)
        run = lambda: compiled(x)  # noqa: E731
    else:
        raise SystemExit(f"unknown backend {backend}")
    with torch.inference_mode():
        run()  # warm-up (compiles, allocates)
        times = []
        for _ in range(4):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
    best = min(times)
    mpx_s = batch_size * TILE * TILE / best / 1e6
    return {
        "backend": backend,
        "batch": batch_size,
        "mpx_s": mpx_s,
        "gflops": mpx_s * 1e6 * flops_per_px / 1e9,
        "flops_per_px": flops_per_px,
        "peak_rss_mb": peak_rss_mb(),
    }


def work_whole_image(scene: str, model_path: str) -> dict[str, Any]:
    """Meteo-France's original way: the whole scene as one tensor through the network (torch eager)."""
    import rasterio
    import torch

    from sargasses.model_file import load_model_file
    from sargasses.reading.scene import open_scene

    loaded = load_model_file(model_path)
    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=64 * 1024 * 1024), open_scene(scene, bands=loaded.card.band_names) as s:
        image = np.nan_to_num(s.read(), nan=0.0)
    t1 = time.perf_counter()
    with torch.inference_mode():
        prob = loaded.module(torch.from_numpy(image)[None])[0, 0].numpy()
    t2 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "model_s": t2 - t1,
        "mpx": image.shape[1] * image.shape[2] / 1e6,
        "detected_px": int((prob >= loaded.card.threshold).sum()),
        "peak_rss_mb": peak_rss_mb(),
    }


def loop_starts(length: int, overlap: int) -> list[int]:
    """Deepness's grid: TILE-px tiles every TILE - overlap pixels, the last one moved back to end at the edge."""
    starts = list(range(0, max(length - TILE, 0), TILE - overlap))
    return [*starts, max(length - TILE, 0)]


def work_tile_loop(scene: str, model_path: str, backend: str) -> dict[str, Any]:
    """Deepness's way: tiles one at a time (batch 1), each tile's centre cropped into a whole-scene result array."""
    import rasterio
    import torch
    from rasterio.windows import Window

    from sargasses.detection.onnx_export import onnx_bytes, onnx_session
    from sargasses.model_file import load_model_file
    from sargasses.reading.scene import open_scene

    loaded = load_model_file(model_path)
    overlap = loaded.card.tile_overlap
    if backend == "onnxruntime":  # the model exported as it is, as Deepness would run it
        session = onnx_session(onnx_bytes(loaded, blocked=False), torch.get_num_threads())
        run = lambda x: session.run(None, {"reflectance": x})[0]  # noqa: E731
    else:
        run = lambda x: loaded.module(torch.from_numpy(x)).numpy()  # noqa: E731
    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=64 * 1024 * 1024), open_scene(scene, bands=loaded.card.band_names) as s:
        result = np.zeros((s.height, s.width), np.float32)
        margin = overlap // 2
        rows, cols = loop_starts(s.height, overlap), loop_starts(s.width, overlap)
        read_s = model_s = 0.0
        with torch.inference_mode():
            for r in rows:
                for c in cols:
                    t1 = time.perf_counter()
                    tile = np.nan_to_num(s.read(Window(c, r, TILE, TILE)), nan=0.0)[None]
                    t2 = time.perf_counter()
                    prob = run(tile)[0, 0]
                    t3 = time.perf_counter()
                    read_s, model_s = read_s + t2 - t1, model_s + t3 - t2
                    top = 0 if r == 0 else margin
                    left = 0 if c == 0 else margin
                    result[r + top : r + TILE, c + left : c + TILE] = prob[top:, left:]
        mpx = s.height * s.width / 1e6
    elapsed = time.perf_counter() - t0
    return {
        "time_s": elapsed,
        "mpx": mpx,
        "mpx_s": mpx / elapsed,
        "read_s": read_s,
        "model_s": model_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def work_inference(scene: str, model_path: str) -> dict[str, Any]:
    """sargasses' tiled inference alone (read, mask, model, blend into strips): the loop's work, done our way."""
    import rasterio
    from rasterio.windows import Window

    from sargasses.detection.model_cache import cached_scorer
    from sargasses.detection.run import GDAL_CACHE_MB
    from sargasses.detection.tiled_loop import RunStats, run_tiles
    from sargasses.detection.tiling import tile_grid
    from sargasses.model_file import read_card
    from sargasses.reading.scene import open_scene

    card = read_card(model_path)
    scorer = cached_scorer(Path(model_path), "cpu", "auto")
    t0 = time.perf_counter()
    stats = RunStats()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024), open_scene(scene, bands=card.band_names) as s:
        grid = tile_grid(s.height, s.width, card.tile_size, card.tile_overlap)
        strips = run_tiles(grid, lambda r, c, h, w: s.read(Window(c, r, w, h)), scorer, batch_size=1, stats=stats)
        rows = sum(strip.height for strip in strips)
        mpx = s.height * s.width / 1e6
    elapsed = time.perf_counter() - t0
    assert rows == grid.height
    return {
        "time_s": elapsed,
        "mpx": mpx,
        "mpx_s": mpx / elapsed,
        "tile": grid.tile_h,
        "model_s": stats.model_s,
        "read_s": stats.read_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def work_detect(scene: str, model_path: str, outdir: str, *extra: str) -> dict[str, Any]:
    """`sargasses detect` in this process (so ru_maxrss is the detection's own), as the CLI runs it."""
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    Path(outdir).mkdir(parents=True, exist_ok=True)
    backend = extra[0] if extra else "auto"
    tile_size = int(extra[1]) if len(extra) > 1 else None
    t0 = time.perf_counter()
    summary = run_detection(
        DetectOptions(
            scene,
            str(Path(outdir) / "rafts.shp"),
            model=model_path,
            probabilities=str(Path(outdir) / "probabilities.tif"),
            overwrite=True,
            backend=backend,
            tile_size=tile_size,
        )
    )
    result = {
        "time_s": time.perf_counter() - t0,
        "mpx": summary["pixels"]["width"] * summary["pixels"]["height"] / 1e6,
        "rafts": summary["rafts"],
        "rafts_by_setting": summary.get("rafts_by_setting"),  # trees before issue 19 item 4 have none
        "scorer": summary["scorer"],
        "timing": summary["timing"],
        "tile": summary["tiles"]["size"][0],
        "peak_rss_mb": peak_rss_mb(),
    }
    torch = sys.modules.get("torch")  # on a GPU: the peak of torch's CUDA allocator too (scripts/gpu_check.py)
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


WORKERS = {
    "ceiling": work_ceiling,
    "throughput": work_throughput,
    "whole": work_whole_image,
    "loop": work_tile_loop,
    "detect": work_detect,
    "inference": work_inference,
}


# --------------------------------------------------------------------------- the report
def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def model_label(path: Path) -> str:
    from sargasses.model_file import read_card

    card = read_card(path)
    arch = card.architecture
    settings = ",".join(f"{k}={v}" for k, v in arch["settings"].items() if k != "autopad_enabled")
    return f"{card.name} ({arch['name']} {settings})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 1024 and 2048 only (a shared machine)")
    parser.add_argument(
        "--sizes", help="comma-separated scene sides for the memory curve (default 1024,2048,4096,5490)"
    )
    parser.add_argument("--whole-size", type=int, help="scene side for whole-image inference (default 2048: RAM)")
    parser.add_argument("--loop-size", type=int, help="scene side for the batch-1 tile loops (default: largest size)")
    parser.add_argument("--model", help="model file (default: the bundled model)")
    parser.add_argument("--workdir", default="/tmp/sargasses-benchmark", help="scenes and outputs (scenes reused)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        print(json.dumps(WORKERS[kind](*rest)))
        return 0

    sizes = sorted(int(s) for s in (args.sizes or ("1024,2048" if args.quick else "1024,2048,4096,5490")).split(","))
    largest = sizes[-1]
    whole_size = args.whole_size or min(2048, largest)
    loop_size = args.loop_size or largest
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {}
    info = machine()
    models = benchmark_models(workdir, args.model)
    main_name = "default" if "default" in models else "halfunet16"
    main_model = models[main_name]
    results: dict[str, Any] = {"machine": info, "models": {k: str(v) for k, v in models.items()}, "sizes": sizes}
    print("# sargasses detection benchmark\n")
    print(f"machine: {info['cpu']}, {info['threads']} threads, {info['memory_gb']} GB RAM")
    print(f"load average before: {info['load_before'][0]:.2f} (1 min), {info['load_before'][1]:.2f} (5 min)")
    for name, path in models.items():
        print(f"model {name}: {model_label(path)}, {path}")

    print("writing scenes ...", file=sys.stderr)
    scenes = {
        size: write_scene(workdir / f"scene_{size}.tif", size) for size in sorted({*sizes, whole_size, loop_size})
    }

    print("compute ceiling ...", file=sys.stderr)
    ceiling = worker("ceiling")
    results["ceiling"] = ceiling
    top = max(ceiling.get("matmul_gflops", 0), ceiling.get("conv64_gflops", 0))
    print("\n## Compute ceiling (torch, fp32, all threads)\n")
    print(
        table(
            ["fp32 matmul GFLOP/s", "64-ch 3x3 conv GFLOP/s", "threads"],
            [[ceiling.get("matmul_gflops"), ceiling.get("conv64_gflops"), ceiling.get("torch_threads")]],
        )
    )

    print("model throughput ...", file=sys.stderr)
    rows = []
    results["throughput"] = []
    for name, path in models.items():
        for backend in (
            "torch-eager",
            "torch-channels-last",
            "onnxruntime",
            "onnxruntime-blocked",
            "onnxruntime-tiles-at-once",
            "torch-compile",
        ):
            for batch in ("1", "4"):
                r = worker("throughput", str(path), backend, batch, timeout=900)
                results["throughput"].append({"model": name, "backend": backend, "batch": int(batch), **r})
                if "error" in r:
                    rows.append([name, backend, batch, "failed", "", "", "", r["error"][:60]])
                    continue
                share = f"{100 * r['gflops'] / top:.1f}%"
                rows.append(
                    [name, backend, batch, r["mpx_s"], r["gflops"], share, r["flops_per_px"] / 1e3, r["peak_rss_mb"]]
                )
    print(f"\n## Model throughput, {TILE}x{TILE} tiles (share of the matmul ceiling)\n")
    headers = ["model", "backend", "batch", "Mpx/s", "GFLOP/s", "share of ceiling", "kFLOP/px", "peak RSS MB"]
    print(table(headers, rows))

    print("end to end ...", file=sys.stderr)
    rows = []
    results["end_to_end"] = []
    runs = [(name, size, "first run" if i == 0 else "") for i, size in enumerate([min(sizes[-1], 2048), *sizes])]
    runs = [(main_name, size, note) for _, size, note in runs]
    runs.append((main_name, largest, "--tile-size 1024"))
    if main_name != "halfunet16":
        runs.append(("halfunet16", largest, "first run"))
        runs.append(("halfunet16", largest, ""))
    for name, size, note in runs:
        extra = ["auto", "1024"] if note == "--tile-size 1024" else []
        outdir = str(workdir / f"out_{size}")
        r = worker("detect", str(scenes[size]), str(models[name]), outdir, *extra, timeout=3600, env=env)
        results["end_to_end"].append({"model": name, "size": size, "note": note, **r})
        what = {"first run": "first run: reads the model file"}.get(note, note)
        label = f"{size}x{size}" + (f" ({what})" if note else "")
        if "error" in r:
            rows.append([name, label, "failed", "", "", "", "", r["error"][:80]])
            continue
        t = r["timing"]
        rows.append(
            [
                name,
                label,
                r["mpx"],
                r["process_wall_s"],
                r["time_s"],
                r["mpx"] / r["time_s"],
                r["peak_rss_mb"],
                r["rafts"],
                r["tile"],
                f"{t['model_s']:.1f} / {t['read_s']:.1f} / {t['polygons_s']:.1f} / {t['write_s']:.1f}",
            ]
        )
    print("\n## End to end: read, infer, polygons, write (shapefile + probability GeoTIFF)\n")
    headers = ["model", "scene", "Mpx", "process wall s", "run_detection s", "Mpx/s", "peak RSS MB", "rafts", "tile"]
    headers.append("model / read (beside) / polygons / write s")
    print(table(headers, rows))
    warm = [
        r
        for r in results["end_to_end"]
        if r["model"] == main_name and not r["note"] and "error" not in r and r["mpx"] >= 4
    ]
    if len(warm) >= 2:
        # A run's peak depends on how its threads happened to overlap (+-3 % here): the spread is taken between
        # medians of RSS_RUNS runs of each size.
        print("peak RSS, repeated ...", file=sys.stderr)
        rows, medians = [], []
        results["peak_rss_runs"] = []
        for r in warm:
            size = r["size"]
            peaks = [r["peak_rss_mb"]]
            for _ in range(RSS_RUNS - 1):
                again = worker(
                    "detect", str(scenes[size]), str(models[main_name]), str(workdir / f"out_{size}"), env=env
                )
                peaks.append(again.get("peak_rss_mb", float("nan")))
            medians.append(statistics.median(peaks))
            results["peak_rss_runs"].append({"size": size, "peak_rss_mb": peaks})
            rows.append([f"{size}x{size}", " / ".join(f"{p:.0f}" for p in peaks), medians[-1]])
        print(f"\n## Peak RSS, {RSS_RUNS} runs of each size ({main_name})\n")
        print(table(["scene", "peak RSS MB of each run", "median"], rows))
        spread = 100 * (max(medians) / min(medians) - 1)
        results["peak_rss_spread_pct"] = spread
        print(f"\npeak RSS from 4 Mpx up, medians: {min(medians):.0f}-{max(medians):.0f} MB, spread {spread:.1f}%")

    print("the ways others do it ...", file=sys.stderr)
    rows = []
    for name, path in models.items():
        whole = worker("whole", str(scenes[whole_size]), str(path), timeout=3600)
        results[f"whole_image_{name}"] = {"size": whole_size, **whole}
        label = f"{name}: whole image, torch eager (original project), {whole_size}x{whole_size}"
        if "error" in whole:
            rows.append([label, "failed", "", "", whole["error"][:60]])
        else:
            rows.append([label, whole["mpx"], whole["model_s"], whole["mpx"] / whole["model_s"], whole["peak_rss_mb"]])
    for backend in ("onnxruntime", "torch-eager"):
        loop = worker("loop", str(scenes[loop_size]), str(main_model), backend, timeout=3600)
        results[f"loop_{backend}"] = {"size": loop_size, **loop}
        label = f"{main_name}: tile loop, batch 1, crop stitching, {backend} (Deepness), {loop_size}x{loop_size}"
        if "error" in loop:
            rows.append([label, "failed", "", "", loop["error"][:60]])
        else:
            rows.append([label, loop["mpx"], loop["time_s"], loop["mpx_s"], loop["peak_rss_mb"]])
    ours = next(
        (
            r
            for r in results["end_to_end"]
            if r["model"] == main_name and r["size"] == loop_size and not r["note"] and "error" not in r
        ),
        None,
    )
    stage = worker("inference", str(scenes[loop_size]), str(main_model), timeout=3600, env=env)
    results["inference_stage"] = {"size": loop_size, **stage}
    label = f"{main_name}: sargasses tiled inference (read, mask, model, blend), {loop_size}x{loop_size}"
    if "error" in stage:
        rows.append([label, "failed", "", "", stage["error"][:60]])
    else:
        rows.append([label, stage["mpx"], stage["time_s"], stage["mpx_s"], stage["peak_rss_mb"]])
    if ours:
        label = f"{main_name}: sargasses detect, end to end, {loop_size}x{loop_size}"
        rows.append([label, ours["mpx"], ours["time_s"], ours["mpx"] / ours["time_s"], ours["peak_rss_mb"]])
    print("\n## Against the ways others do it (reading + model for them; the same, then end to end, for us)\n")
    print(table(["way", "Mpx", "seconds", "Mpx/s", "peak RSS MB"], rows))
    for backend in ("onnxruntime", "torch-eager"):
        loop = results.get(f"loop_{backend}", {})
        if "mpx_s" not in loop:
            continue
        print(f"batch-1 tile loop ({backend}): reading {loop['read_s']:.1f} s, model {loop['model_s']:.1f} s")
        if "mpx_s" in stage:
            ratio = stage["mpx_s"] / loop["mpx_s"]
            print(f"sargasses tiled inference vs batch-1 tile loop ({backend}), same work: {ratio:.2f}x the throughput")
        if ours:
            ratio = (ours["mpx"] / ours["time_s"]) / loop["mpx_s"]
            print(f"sargasses end to end vs batch-1 tile loop ({backend}): {ratio:.2f}x the throughput")

    # The machine's speed drifts by a third within minutes: the ratio is also taken over PAIRS runs of the loop,
    # each followed at once by the tiled inference, and the median of the pairs' ratios reported.
    print("loop and tiled inference, in pairs ...", file=sys.stderr)
    rows, ratios = [], []
    results["pairs_onnxruntime"] = []
    for i in range(1, PAIRS + 1):
        loop = worker("loop", str(scenes[loop_size]), str(main_model), "onnxruntime", timeout=3600)
        inference = worker("inference", str(scenes[loop_size]), str(main_model), timeout=3600, env=env)
        if "time_s" not in loop or "time_s" not in inference:
            rows.append([i, loop.get("error", ""), inference.get("error", ""), ""])
            continue
        ratios.append(loop["time_s"] / inference["time_s"])
        results["pairs_onnxruntime"].append({"loop_s": loop["time_s"], "inference_s": inference["time_s"]})
        rows.append([i, loop["time_s"], inference["time_s"], ratios[-1]])
    print(f"\n## Batch-1 ONNX Runtime loop, then sargasses' tiled inference, {PAIRS} pairs ({loop_size}x{loop_size})\n")
    print(table(["pair", "loop s", "tiled inference s", "throughput ratio"], rows))
    if ratios:
        results["pairs_median_ratio"] = statistics.median(ratios)
        print(f"\nmedian ratio: {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}x)")

    info["load_after"] = os.getloadavg()
    print(f"\nload average after: {info['load_after'][0]:.2f} (1 min), {info['load_after'][1]:.2f} (5 min)")
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"all figures: {workdir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
