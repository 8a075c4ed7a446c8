"""Scenes on Dask: one task per scene, on an embedded LocalCluster or an existing scheduler; results as they come.

Why Dask (dask.distributed): a region's archive outgrows one machine, and Dask already schedules, retries the tasks
of a worker that died, bounds each worker's memory and shows a dashboard. The client keeps the catalogue: each
result is recorded the moment it arrives, so an interrupted run keeps every scene finished before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sargasses.errors import SargassesError
from sargasses.monitor.inputs import SceneInput
from sargasses.monitor.scene_task import process_scene
from sargasses.monitor.scene_windows import merge_windows, scene_tasks
from sargasses.monitor.settings import MonitorSettings

ALLOWED_FAILURES = 3  # a scene whose worker dies this many times is recorded as failed (Dask's KilledWorker)


@dataclass(frozen=True)
class ClusterOptions:
    """Where the scenes run: `scheduler` (tcp://HOST:PORT) or a local cluster of `workers` x `threads`."""

    scheduler: str | None = None
    workers: int | None = None  # None: from the machine's CPUs
    threads: int = 1
    memory_limit: str = "auto"  # per worker, e.g. "4GB"; Dask pauses, then restarts, a worker that passes it
    dashboard: bool = True


def local_shape(cpus: int, workers: int | None, threads: int) -> tuple[int, int]:
    """(workers, threads per worker): one single-threaded worker per CPU unless told otherwise."""
    threads = max(1, threads)
    return (max(1, workers) if workers else max(1, cpus // threads)), threads


@contextmanager
def dask_client(options: ClusterOptions, say: Callable[[str], None]) -> Iterator[Any]:
    """A Client on the scheduler, or on a LocalCluster made for this run (closed after it)."""
    import dask
    from distributed import Client, LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
    if options.scheduler:
        try:
            client = Client(options.scheduler, timeout="20s")
        except OSError as exc:
            raise SargassesError(
                f"cannot reach the Dask scheduler at {options.scheduler} ({exc}): start it (`dask scheduler`) "
                "or leave --scheduler out to run on this machine"
            ) from None
        try:
            say(
                f"Dask scheduler {options.scheduler}, {len(client.nthreads())} workers; dashboard {client.dashboard_link}"
            )
            yield client
        finally:
            client.close()
        return
    from sargasses.detection.devices import cpu_threads

    workers, threads = local_shape(cpu_threads(), options.workers, options.threads)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=threads, processes=True, memory_limit=options.memory_limit,
        dashboard_address=":0" if options.dashboard else None, silence_logs=40,
    )  # fmt: skip
    client = Client(cluster)
    try:
        say(f"local Dask cluster: {workers} worker(s) x {threads} thread(s); dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        cluster.close()


def threads_per_scene(client: Any, settings_threads: int | None, local: bool) -> int:
    """CPU threads each scene's detection may use: on a local cluster, this machine's CPUs shared among the tasks
    running at once; on another cluster 1 (its machines are not known from here: --threads-per-scene says)."""
    if settings_threads:
        return settings_threads
    if not local:
        return 1
    running = sum(client.nthreads().values()) or 1
    return max(1, (os.cpu_count() or 1) // running)


def run_scenes(client: Any, scenes: list[SceneInput], settings: MonitorSettings) -> Iterator[dict[str, Any]]:
    """Each scene's result as it arrives (a huge scene's once all its windows are in; a scene that killed its
    workers comes back as failed)."""
    from distributed import as_completed

    tasks = scene_tasks(scenes, settings)
    futures = [client.submit(process_scene, scene, settings, window, pure=False) for scene, window in tasks]
    owner = {f.key: task for f, task in zip(futures, tasks, strict=True)}
    windows: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for future in as_completed(futures):
        scene, window = owner[future.key]
        if future.status == "finished":
            result = future.result()
        else:
            exc = future.exception()
            result = {"scene": scene.scene, "model_sha256": settings.model_sha256, "status": "failed",
                      "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}  # fmt: skip
        future.release()
        if window is None:
            yield result
            continue
        done = windows.setdefault(scene.scene, [])
        done.append((window.index, result))
        if len(done) == window.count:
            yield merge_windows([r for _, r in sorted(done, key=lambda d: d[0])])
            del windows[scene.scene]
