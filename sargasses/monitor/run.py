"""A monitoring run: the scenes still to do, on Dask, each result recorded as it comes, then the products."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from sargasses.errors import SargassesError
from sargasses.monitor.catalogue import Catalogue
from sargasses.monitor.cluster import ClusterOptions, dask_client, run_scenes, threads_per_scene
from sargasses.monitor.inputs import SceneInput, file_inputs
from sargasses.monitor.settings import MonitorSettings, coast_sectors, load_sectors, model_identity

CATALOGUE = "catalogue.gpkg"
FINISHED = ("done", "skipped")


def settings_from(args: argparse.Namespace) -> MonitorSettings:
    """The folder's measuring rules from the command line (sectors read, model hashed)."""
    if args.cell <= 0:
        raise SargassesError(f"--cell {args.cell}: give a positive cell size in the grid CRS's units")
    if args.sectors and args.coast:
        raise SargassesError("give --sectors or --coast, not both")
    sectors = ()
    if args.sectors:
        sectors = load_sectors(args.sectors, args.sector_field)
    elif args.coast:
        sectors = coast_sectors(args.coast)
    model, sha = model_identity(args.method, args.model)
    return MonitorSettings(
        method=args.method, model=model, model_sha256=sha, threshold=args.threshold, min_area=args.min_area,
        grid_crs=args.grid_crs, cell=args.cell, sectors=sectors, threads_per_scene=args.threads_per_scene,
        window_size=args.window_size or None, window_halo=max(0, args.window_halo),
    )  # fmt: skip


def run_inputs(args: argparse.Namespace) -> list[SceneInput]:
    """The scenes named on the command line, then the items of the STAC search it asks for, each once."""
    from sargasses.monitor.stac_inputs import search_options_given, stac_inputs

    inputs = file_inputs(args.scenes)
    if search_options_given(args):
        inputs += stac_inputs(args)
    elif not inputs:
        raise SargassesError("no scene to monitor: give scene files, or a search (--stac, --aoi or --bbox, --dates)")
    return list({i.scene: i for i in inputs}.values())


def pending_scenes(scenes: list[SceneInput], statuses: dict[str, tuple[str, str]], sha: str) -> list[SceneInput]:
    """The scenes not yet finished with this model: new ones, failed ones, ones done with another model."""
    done = {s for s, (status, model) in statuses.items() if status in FINISHED and model == sha}
    return [s for s in scenes if s.scene not in done]


def run_monitor(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, int]:
    from tqdm import tqdm

    scenes = run_inputs(args)
    settings = settings_from(args)
    baseline = _baseline(args.baseline)
    args.out.mkdir(parents=True, exist_ok=True)
    catalogue = Catalogue(args.out / CATALOGUE, settings.identity_json())
    counts = {"done": 0, "failed": 0, "skipped": 0}
    try:
        todo = pending_scenes(scenes, catalogue.statuses(), settings.model_sha256)
        say(f"{len(scenes)} scene(s), {len(scenes) - len(todo)} already done with this model, {len(todo)} to run")
        if todo:
            cluster = ClusterOptions(args.scheduler, args.workers, args.threads, args.memory_limit)
            with dask_client(cluster, say) as client:
                settings = _with_threads(
                    settings, threads_per_scene(client, settings.threads_per_scene, not args.scheduler)
                )
                started = time.perf_counter()
                for result in tqdm(run_scenes(client, todo, settings), total=len(todo), unit="scene", disable=None):
                    status = catalogue.record(result)
                    counts[status] += 1
                    if status == "failed":
                        say(f"failed: {result['scene']}: {result['reason']}")
                say(f"{len(todo)} scenes ran in {time.perf_counter() - started:.1f} s")
        write_products(catalogue, settings, args.out, args.period, baseline)
    finally:
        catalogue.close()
    say(f"{counts['done']} done, {counts['skipped']} skipped (no water seen), {counts['failed']} failed; {args.out}")
    return counts


def write_products(catalogue: Catalogue, settings: MonitorSettings, out: Path, period: str, baseline) -> None:
    """grid.nc, grid.png, days.csv, sectors.csv and sectors.png, from the whole catalogue (each written whole)."""
    from sargasses.monitor.grid_product import write_grid, write_grid_figure
    from sargasses.monitor.sector_product import sector_passes, write_days_csv, write_sector_csv, write_sector_plot

    write_grid(catalogue.db, settings, period, out / "grid.nc")
    write_grid_figure(catalogue.db, period, out / "grid.png")
    write_days_csv(catalogue.db, out / "days.csv")
    passes = sector_passes(catalogue.db, settings.sector_names(), baseline)
    write_sector_csv(passes, out / "sectors.csv")
    if passes:
        write_sector_plot(passes, settings.sector_names(), out / "sectors.png")


def _with_threads(settings: MonitorSettings, threads: int) -> MonitorSettings:
    from dataclasses import replace

    return replace(settings, threads_per_scene=threads)


def _baseline(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    import datetime as dt

    try:
        start, end = text.split(":")
        return dt.date.fromisoformat(start).isoformat(), dt.date.fromisoformat(end).isoformat()
    except ValueError:
        raise SargassesError(f"--baseline {text}: give START:END as ISO dates, e.g. 2024-03-01:2024-05-31") from None
