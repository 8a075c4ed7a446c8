"""GPU check: the GPU paths of `sargasses detect` against the CPU's results, then the full-tile benchmark on the GPU.

    .venv/bin/python scripts/gpu_check.py                  # on a machine with an NVIDIA GPU (under 5 minutes)
    .venv/bin/python scripts/gpu_check.py --out gpu.md     # also write the tables (Markdown) to gpu.md
    .venv/bin/python scripts/gpu_check.py --cpu            # the same checks on the CPU, small scenes (a dry run)

1. The GPU as torch sees it (name, memory, CUDA and cuDNN versions, TF32 settings) and ONNX Runtime's providers.
   Without a CUDA GPU it stops with exit code 2 (unless --cpu).
2. Synthetic test scenes (sargasses.synth.make_scene) through `run_detection` with the bundled default model, once
   per path: the CPU engine (ONNX Runtime, the reference), `--device auto` (what the engine picks here), torch on the
   CPU in fp32, torch CUDA in fp32 and in fp16 autocast, and ONNX Runtime's CUDAExecutionProvider when it is
   installed (the engine does not use it: reported for information). Each path's probability raster is compared
   with the reference's: max |dp|, pixels on the other side of the threshold, NaN pixels that differ, rafts found.
3. The end-to-end benchmark of a full 5490 x 5490 x 10 Sentinel-2 tile (benchmarks/benchmark_detect.py's scene and
   worker, each run its own process): first run, warm runs, --tile-size 1024, and the CPU (CUDA hidden) beside.

Exit code 0 when every path agrees with the CPU within its tolerance and every run worked, 1 otherwise, 2 when
there is no GPU. The tables go to stdout and to --out (default WORKDIR/gpu_check.md), every figure to
WORKDIR/gpu_check.json. With --cpu the "GPU" paths run on the CPU (fp16 autocast included) on small scenes, so the
script can be tested on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchmark_detect as bench  # noqa: E402

FULL_TILE = 5490
FP32_TOLERANCE = 5e-3  # max |dp| of an fp32 path (cuDNN may run fp32 convolutions in TF32 on Ampere and later)
CROSSING_SHARE = 1e-4  # share of the scored pixels allowed on the other side of the threshold


def fail(message: str, code: int) -> None:
    print(f"gpu_check: {message}", file=sys.stderr)
    raise SystemExit(code)


# --------------------------------------------------------------------------- the machine
def describe_gpu(cpu_mode: bool) -> dict[str, Any]:
    """torch's view of the GPU, ONNX Runtime's providers; stops (exit 2) when there is no CUDA GPU."""
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "torch_cuda": torch.version.cuda}
    info["cuda_available"] = torch.cuda.is_available()
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["ort_providers"] = ort.get_available_providers()
    except ImportError:
        info["ort_providers"] = []
    if info["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpus=torch.cuda.device_count(),
            memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            cudnn=torch.backends.cudnn.version(),
            cudnn_tf32=torch.backends.cudnn.allow_tf32,
            matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
        )
    elif not cpu_mode:
        fail(
            f"no CUDA GPU: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees none "
            "(torch.cuda.is_available() is False). Run this on the GPU machine, or with --cpu for a dry run on the CPU.",
            2,
        )
    return info


# --------------------------------------------------------------------------- scorers for each path
class OrtCudaScorer:
    """The model's ONNX graph (exported as it is) on ONNX Runtime's CUDAExecutionProvider. Not used by the engine."""

    def __init__(self, loaded: Any, device: Any) -> None:
        import onnxruntime as ort

        from sargasses.detection.onnx_export import onnx_bytes

        self.band_names = list(loaded.card.band_names)
        self.parallel = 1
        self.device = device
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            onnx_bytes(loaded, blocked=False), options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
        )
        if self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise RuntimeError(f"ONNX Runtime fell back to {self.session.get_providers()}")
        self.description = f"ONNX Runtime {ort.__version__} CUDAExecutionProvider, fp32"

    def prepare(self, tile_h: int, tile_w: int) -> None:
        pass

    def score(self, batch: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        (y,) = self.session.run(None, {"reflectance": np.asarray(batch, dtype=np.float32)})
        return y[:, 0]


def torch_scorer(model: Path, device: Any, half: bool) -> Any:
    """A TorchScorer on a fresh copy of the model (TorchScorer moves the module it is given to its device)."""
    from sargasses.detection.scorers import TorchScorer
    from sargasses.model_file import load_model_file

    scorer = TorchScorer(load_model_file(model), device, half=half)
    if half and not scorer.half:  # TorchScorer keeps fp32 on the CPU: the dry run forces autocast there too
        scorer.half = True
        scorer.description = scorer.description.replace("fp32", "fp16 autocast")
    scorer.device = device
    return scorer


@contextlib.contextmanager
def scorer_in_run(scorer: Any):
    """run_detection with this scorer instead of the one its cache would choose (the rest of the run unchanged)."""
    from sargasses.detection import method as detect

    original = detect.cached_scorer
    detect.cached_scorer = lambda path, device, backend: scorer
    try:
        yield
    finally:
        detect.cached_scorer = original


def paths(model: Path, cpu_mode: bool, providers: list[str]) -> list[tuple[str, str, Any]]:
    """(name, precision, scorer factory or device string) of each path to compare with the CPU engine."""
    from sargasses.detection.devices import choose_device

    cpu = choose_device("cpu")
    gpu = cpu if cpu_mode else choose_device("cuda")
    where = "CPU (dry run)" if cpu_mode else "CUDA"
    out: list[tuple[str, str, Any]] = [
        ("engine, --device auto", "auto", "auto"),
        ("torch CPU", "fp32", lambda: torch_scorer(model, cpu, False)),
    ]
    if not cpu_mode:
        out.append((f"torch {where}", "fp32", lambda: torch_scorer(model, gpu, False)))
    out.append((f"torch {where}", "fp16", lambda: torch_scorer(model, gpu, True)))
    if not cpu_mode and "CUDAExecutionProvider" in providers:
        out.append(("ONNX Runtime CUDA (not used by the engine)", "fp32", lambda: OrtCudaScorer(load(model), gpu)))
    return out


def load(model: Path) -> Any:
    from sargasses.model_file import load_model_file

    return load_model_file(model)


# --------------------------------------------------------------------------- results against the CPU
def detect_once(scene: Path, model: Path, outdir: Path, device: str = "cpu", scorer: Any = None) -> dict[str, Any]:
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    outdir.mkdir(parents=True, exist_ok=True)
    options = DetectOptions(
        str(scene),
        str(outdir / "rafts.gpkg"),
        model=str(model),
        probabilities=str(outdir / "p.tif"),
        overwrite=True,
        device=device,
    )
    t0 = time.perf_counter()
    with scorer_in_run(scorer) if scorer is not None else contextlib.nullcontext():
        summary = run_detection(options)
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def read_probabilities(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def compare(reference: np.ndarray, other: np.ndarray, threshold: float) -> dict[str, Any]:
    both = np.isfinite(reference) & np.isfinite(other)
    dp = np.abs(reference[both] - other[both])
    crossings = int(((reference[both] >= threshold) != (other[both] >= threshold)).sum())
    return {
        "max_dp": float(dp.max()) if dp.size else 0.0,
        "mean_dp": float(dp.mean()) if dp.size else 0.0,
        "crossings": crossings,
        "scored_px": int(both.sum()),
        "nan_differ": int((np.isfinite(reference) != np.isfinite(other)).sum()),
    }


def check_scenes(args: argparse.Namespace, model: Path, info: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    from sargasses.detection.scorers import HALF_TOLERANCE
    from sargasses.synth import make_scene, write_scene

    kinds = ["mixed", "confounders", "mixed", "clean"]
    rows = []
    for i in range(args.scenes):
        seed, kind = 100 + i, kinds[i % len(kinds)]
        print(f"scene {seed} ({kind}, {args.size} px) ...", file=sys.stderr)
        scene = write_scene(make_scene(seed, args.size, kind), workdir / "scenes", overwrite=True)["image"]
        ref = detect_once(scene, model, workdir / f"out_{seed}" / "reference")
        ref_p = read_probabilities(workdir / f"out_{seed}" / "reference" / "p.tif")
        threshold = ref["threshold"]
        base = {"scene": f"{seed} ({kind}, {args.size} px)", "reference_rafts": ref["rafts"]}
        for j, (name, precision, how) in enumerate(paths(model, args.cpu, info["ort_providers"])):
            outdir = workdir / f"out_{seed}" / f"path{j}"
            row = {**base, "path": name, "precision": precision}
            try:
                scorer = None if isinstance(how, str) else how()
                summary = detect_once(
                    scene, model, outdir, device=how if isinstance(how, str) else "cpu", scorer=scorer
                )
            except Exception as exc:  # a path that fails is a result too
                rows.append({**row, "error": f"{type(exc).__name__}: {exc}"[:200], "ok": False})
                continue
            half = "fp16" in summary["scorer"]
            got = compare(ref_p, read_probabilities(outdir / "p.tif"), threshold)
            tolerance = HALF_TOLERANCE if half else FP32_TOLERANCE
            ok = got["max_dp"] <= tolerance and got["crossings"] <= CROSSING_SHARE * max(got["scored_px"], 1)
            ok = ok and got["nan_differ"] == 0
            rows.append(
                {
                    **row,
                    **got,
                    "scorer": summary["scorer"],
                    "rafts": summary["rafts"],
                    "model_s": summary["timing"]["model_s"],
                    "tolerance": tolerance,
                    "ok": bool(ok),
                }
            )
    return rows


def results_table(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["scene"], r["path"], r["precision"], "failed", "", "", "", r["error"][:80], "FAILED"])
            continue
        lines.append(
            [
                r["scene"],
                r["path"],
                r["precision"] if r["precision"] != "auto" else r["scorer"].rsplit(", ", 1)[-1],
                f"{r['max_dp']:.2e}",
                f"{r['crossings']} / {r['scored_px']}",
                r["nan_differ"],
                f"{r['reference_rafts']} / {r['rafts']}",
                r["scorer"],
                "ok" if r["ok"] else f"DIFFERS (tolerance {r['tolerance']:g})",
            ]
        )
    headers = ["scene", "path", "precision", "max abs dp", "px across threshold / scored"]
    headers += ["NaN differ", "rafts CPU / this", "scorer", "check"]
    return bench.table(headers, lines)


# --------------------------------------------------------------------------- the full-tile benchmark
def benchmark(args: argparse.Namespace, model: Path, workdir: Path) -> tuple[list[dict[str, Any]], str]:
    size = args.bench_size or (512 if args.cpu else FULL_TILE)
    print(f"benchmark scene {size} x {size} ...", file=sys.stderr)
    scene = bench.write_scene(workdir / f"bench_scene_{size}.tif", size)
    env: dict[str, str] = {}
    hidden = {**env, "CUDA_VISIBLE_DEVICES": ""}  # torch sees no GPU: `auto` is the CPU engine
    runs: list[tuple[str, list[str], dict[str, str]]] = [
        ("first run (loads the model, warms up)", [], env),
        ("warm", [], env),
    ]
    if not args.cpu:
        runs += [
            ("warm, again", [], env),
            ("--tile-size 1024", ["auto", "1024"], env),
            ("CPU (CUDA hidden), first CPU run: exports ONNX", [], hidden),
            ("CPU (CUDA hidden)", [], hidden),
        ]
    results, lines = [], []
    for label, extra, run_env in runs:
        print(f"  {label} ...", file=sys.stderr)
        out = str(workdir / "bench_out")
        r = bench.worker("detect", str(scene), str(model), out, *extra, timeout=900, env=run_env)
        results.append({"run": label, "size": size, **r})
        if "error" in r:
            lines.append([label, "failed", "", "", "", "", "", "", "", r["error"][:80]])
            continue
        t = r["timing"]
        gpu_mb = r.get("gpu_peak_mb")
        lines.append(
            [
                label,
                r["scorer"],
                r["mpx"],
                r["process_wall_s"],
                r["time_s"],
                r["mpx"] / r["time_s"],
                r["peak_rss_mb"],
                "" if gpu_mb is None else gpu_mb,
                r["rafts"],
                f"{t['model_s']:.1f} / {t['read_s']:.1f} / {t['polygons_s']:.1f} / {t['write_s']:.1f}",
            ]
        )
    headers = ["run", "scorer", "Mpx", "process wall s", "run_detection s", "Mpx/s", "peak RSS MB", "GPU peak MB"]
    headers += ["rafts", "model / read (beside) / polygons / write s"]
    return results, f"{size} x {size} x 10 scene (benchmarks/benchmark_detect.py's)\n\n" + bench.table(headers, lines)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", "--dry-run", action="store_true", help="no GPU needed: the same checks on the CPU")
    parser.add_argument("--size", type=int, help="side of the test scenes (default 1024; 256 with --cpu)")
    parser.add_argument("--scenes", type=int, help="number of test scenes (default 3; 1 with --cpu)")
    parser.add_argument("--bench-size", type=int, help=f"benchmark scene side (default {FULL_TILE}; 512 with --cpu)")
    parser.add_argument("--no-benchmark", action="store_true", help="skip the end-to-end benchmark")
    parser.add_argument(
        "--model", type=Path, help="model file (default: the bundled resources/default_model.sargasses)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sargasses-gpu-check"), help="scenes and outputs")
    parser.add_argument("--out", type=Path, help="write the tables (Markdown) here (default WORKDIR/gpu_check.md)")
    args = parser.parse_args(argv)
    args.size = args.size or (256 if args.cpu else 1024)
    args.scenes = args.scenes or (1 if args.cpu else 3)
    started = time.perf_counter()
    if args.cpu:  # the CPU even where a GPU is: `--device auto` and the benchmark's workers see none
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    info = describe_gpu(args.cpu)  # exits 2 when there is no GPU (unless --cpu)
    model = args.model or ROOT / "resources" / "default_model.sargasses"
    if not model.is_file():
        fail(f"model file {model} does not exist (give --model)", 1)
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    machine = bench.machine()

    report = ["# sargasses GPU check" + (" (dry run on the CPU: --cpu)" if args.cpu else ""), ""]
    if info["cuda_available"]:
        report.append(
            f"GPU: {info['gpu']} ({info['memory_gib']} GiB, compute capability {info['capability']}, "
            f"{info['gpus']} GPU(s)); torch {info['torch']}, CUDA {info['torch_cuda']}, cuDNN {info['cudnn']}; "
            f"TF32: cuDNN {info['cudnn_tf32']}, matmul {info['matmul_tf32']}"
        )
    else:
        report.append(f"GPU: none (torch {info['torch']}, CUDA build {info['torch_cuda']}): the dry run on the CPU")
    report.append(f"CPU: {machine['cpu']}, {machine['threads']} threads, {machine['memory_gb']} GB RAM")
    report.append(f"ONNX Runtime {info.get('onnxruntime', 'absent')}: providers {', '.join(info['ort_providers'])}")
    report.append(f"model: {bench.model_label(model)}, {model}")
    print("\n".join(report), flush=True)

    rows = check_scenes(args, model, info, workdir)
    section = [
        "",
        "## Results against the CPU engine (ONNX Runtime, fp32)",
        "",
        f"Synthetic scenes (sargasses.synth.make_scene), `run_detection` once per path; tolerance of max |dp|: "
        f"{FP32_TOLERANCE:g} in fp32, the engine's HALF_TOLERANCE in fp16; pixels across the threshold at most "
        f"{CROSSING_SHARE:g} of those scored.",
        "",
        results_table(rows),
    ]
    print("\n".join(section), flush=True)
    report += section
    bench_results: list[dict[str, Any]] = []
    if not args.no_benchmark:
        bench_results, text = benchmark(args, model, workdir)
        where = "CPU (dry run)" if args.cpu else info["gpu"]
        section = ["", f"## End to end on {where}: read, infer, polygons, write", "", text]
        print("\n".join(section), flush=True)
        report += section

    # ONNX Runtime on CUDA is reported for information: the engine does not use it, so it fails nothing.
    failures = [r for r in rows if not r["ok"] and "not used by the engine" not in r["path"]]
    failures += [r for r in bench_results if "error" in r]
    verdict = "all paths agree with the CPU and every run worked"
    if failures:
        verdict = f"{len(failures)} check(s) failed: see the tables"
    report += ["", f"verdict: {verdict} ({time.perf_counter() - started:.0f} s in all)", ""]
    print(report[-2])
    out = args.out or workdir / "gpu_check.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report))
    figures = {"gpu": info, "machine": machine, "checks": rows, "benchmark": bench_results}
    (workdir / "gpu_check.json").write_text(json.dumps(figures, indent=1, default=str))
    print(f"tables: {out}; all figures: {workdir / 'gpu_check.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
