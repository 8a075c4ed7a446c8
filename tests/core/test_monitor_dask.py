"""`sargasses monitor --scheduler` on a real Dask cluster on loopback: a `dask scheduler` and two `dask worker`
processes. One worker is killed while it holds a scene: the catalogue still ends complete, every scene once, with
the same figures as a run on one local worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from monitor_helpers import (
    consistent_scenes,
    duplicate_rafts,
    make_series,
    monitor_argv,
    read_layer,
    scene_files,
    scenes_recorded,
)

from sargasses.monitor.cli import main as monitor

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers (no nanny: a killed worker stays dead), stopped after the test."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    logs = open(tmp_path / "cluster.log", "w")  # noqa: SIM115 - closed below, after the processes
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--dashboard-address", f"127.0.0.1:{free_port()}"], env=ENV, stdout=logs, stderr=logs)]  # fmt: skip
    for name in ("w1", "w2"):
        procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                       "--memory-limit", "3GB", "--name", name], env=ENV, stdout=logs, stderr=logs))  # fmt: skip
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


def busy_worker_pid(address: str) -> int | None:
    """The pid of a worker that is running a scene now."""
    from distributed import Client

    with Client(address, timeout="20s") as client:
        pids = client.run(os.getpid)
        busy = [w for w, tasks in client.processing().items() if tasks]
    return pids[busy[0]] if busy else None


def test_a_killed_worker_leaves_a_complete_catalogue(cluster, tmp_path):
    address, procs = cluster
    series = make_series(tmp_path / "series", days=6)
    scenes = scene_files(series)
    out = tmp_path / "monitoring"
    argv = monitor_argv(scenes, out, series, "--scheduler", address)
    run = subprocess.Popen([sys.executable, "-m", "sargasses", "monitor", *argv], env=ENV, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        if scenes_recorded(out / "catalogue.gpkg") >= 1:
            killed = busy_worker_pid(address)
            if killed is not None:
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    output, _ = run.communicate(timeout=300)
    assert killed is not None, f"no worker was busy to kill:\n{output}"
    assert run.returncode == 0, output
    assert f"Dask scheduler {address}, 2 workers; dashboard http://" in output
    assert sum(p.poll() is not None for p in procs[1:]) == 1  # one worker died, the other finished the run

    layer = read_layer(out / "catalogue.gpkg", "scenes")
    assert sorted(layer["scene"]) == scenes and set(layer["status"]) == {"done"}
    assert duplicate_rafts(out / "catalogue.gpkg") == []
    reference = tmp_path / "one-worker"
    assert monitor(monitor_argv(scenes, reference, series, "--workers", "1")) == 0
    assert consistent_scenes(out / "catalogue.gpkg") == consistent_scenes(reference / "catalogue.gpkg")
    mine = dict(zip(layer["scene"], layer["covered_km2"], strict=True))
    ref = read_layer(reference / "catalogue.gpkg", "scenes")
    assert mine == dict(zip(ref["scene"], ref["covered_km2"], strict=True))
