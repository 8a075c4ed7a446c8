"""scripts/gpu_check.py, the one command a lent GPU machine runs: its dry run on the CPU, and its refusal without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
MODEL = ROOT / "resources" / "default_model.sargasses"


def gpu_check(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not MODEL.is_file(), reason="no bundled default model")
def test_dry_run_compares_every_path_with_the_cpu_and_benchmarks(tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    args = ["--cpu", "--size", "256", "--bench-size", "256", "--workdir", str(tmp_path / "work"), "--out", str(out)]
    done = gpu_check(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads((tmp_path / "work" / "gpu_check.json").read_text())
    checks = {(r["path"], r["precision"]): r for r in figures["checks"]}
    assert set(checks) == {("engine, --device auto", "auto"), ("torch CPU", "fp32"), ("torch CPU (dry run)", "fp16")}
    for r in checks.values():
        assert r["ok"] and "error" not in r, r
        assert r["scored_px"] > 10_000 and r["nan_differ"] == 0
        assert r["reference_rafts"] > 0 and abs(r["rafts"] - r["reference_rafts"]) <= 1
    assert checks[("torch CPU", "fp32")]["max_dp"] < 1e-4  # torch and ONNX Runtime: the same function
    half = checks[("torch CPU (dry run)", "fp16")]
    assert "fp16 autocast" in half["scorer"] and 0 < half["max_dp"] <= 0.02
    # The benchmark: a first and a warm run of the same scene, each its own process, the same rafts each time.
    runs = figures["benchmark"]
    assert len(runs) == 2 and all("error" not in r for r in runs), runs
    assert len({r["rafts"] for r in runs}) == 1 and all(r["mpx"] == pytest.approx(256 * 256 / 1e6) for r in runs)
    table = out.read_text()
    assert "## Results against the CPU engine" in table and "## End to end on CPU (dry run)" in table
    assert table.count("| ok |") == 3 and "DIFFERS" not in table and "failed" not in table
    assert "verdict: all paths agree with the CPU" in table
    assert done.stdout.strip().endswith(f"all figures: {tmp_path / 'work' / 'gpu_check.json'}")


def test_without_a_gpu_it_stops_with_a_clear_message(tmp_path: Path) -> None:
    if cuda_available():
        pytest.skip("a CUDA GPU is here: the script would run its full check")
    done = gpu_check("--workdir", str(tmp_path / "work"), cwd=tmp_path)
    assert done.returncode == 2
    assert "no CUDA GPU" in done.stderr and "--cpu" in done.stderr
    assert not (tmp_path / "work").exists()  # stopped before writing anything
