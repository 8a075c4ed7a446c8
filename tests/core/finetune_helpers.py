"""Scenes for the fine-tune tests: synthetic rafts plus planted green-algae lookalikes, and a user's marks on them.

Also run as a script by the QGIS tests (with the core environment's Python):
`python finetune_helpers.py FOLDER SEED [SEED ...]` writes one scene per seed and prints their paths as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

SIZE = 256
LOOKALIKES = 12


def write_lookalike_scene(
    folder: Path, seed: int, size: int = SIZE, count: int = LOOKALIKES, kind: str = "clean"
) -> dict:
    """A clean synthetic scene (rafts on open sea; kind "confounders": no rafts) with green algae planted away from
    its rafts, on disk.

    Returns the paths (image, label: the truth, lookalikes: a .npy mask of the algae) and the planted patch count.
    """
    from scipy.ndimage import binary_dilation

    from sargasses.synth import make_scene, write_scene
    from sargasses.synth.surfaces.lookalikes import plant_green_algae

    scene = make_scene(seed, size, kind)
    near_rafts = binary_dilation(scene.label == 1, iterations=8)
    water = (scene.label == 0) & ~near_rafts & ~np.isnan(scene.reflectance).any(axis=0)
    planted = plant_green_algae(scene.reflectance, water, np.random.default_rng(seed), count)
    paths = write_scene(dataclasses.replace(scene, reflectance=planted.reflectance), folder, overwrite=True)
    lookalikes = folder / f"scene_{seed:04d}_lookalikes.npy"
    np.save(lookalikes, planted.mask)
    return {
        "image": str(paths["image"]),
        "label": str(paths["label"]),
        "lookalikes": str(lookalikes),
        "patches": len(planted.centres),
        # patch centres in the scene's CRS: where a user clicks to select the detections on them
        "centres_xy": [list(scene.transform * (col + 0.5, row + 0.5)) for row, col in planted.centres],
        "date": str(scene.meta["acquisition_date"]),
    }


def detections_on(detections: Path, image: Path, mask: np.ndarray) -> np.ndarray:
    """For each polygon of a rafts file: whether it covers any pixel of `mask` (on the image's grid)."""
    import geopandas as gpd
    import rasterio
    from rasterio import features

    frame = gpd.read_file(detections)
    with rasterio.open(image) as src:
        frame = frame.to_crs(src.crs)
        ids = features.rasterize(
            ((geom, i + 1) for i, geom in enumerate(frame.geometry)),
            out_shape=(src.height, src.width),
            transform=src.transform,
            all_touched=True,
            dtype=np.int32,
        )
    hit = np.zeros(len(frame) + 1, bool)
    hit[np.unique(ids[mask & (ids > 0)])] = True
    return hit[1:]


def mark_like_a_user(
    store: Path, image: Path, detections: Path, lookalikes: np.ndarray, date: str, none_are_rafts: bool = False
) -> dict:
    """What the plugin writes when a user marks the detections on green algae as false positives: the run's area
    as looked at, the run's detections copied as Sargassum, and the marked ones turned into false positives
    (`none_are_rafts`: every detection marked, a clean day's "none of these are rafts")."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    from sargasses.training.label_store import add_to_store

    frame = gpd.read_file(detections)
    on_algae = detections_on(detections, image, lookalikes)
    if none_are_rafts:
        on_algae[:] = True
    labels = gpd.GeoDataFrame(
        {
            "scene": str(image),
            "kind": np.where(on_algae, "false_positive", "sargassum"),
            "date": date,
            "author": "test",
            "created": "2026-12-02T00:00:00",
            "detection": [f"{detections}#{i}" for i in range(len(frame))],
        },
        geometry=frame.geometry.values,
        crs=frame.crs,
    )
    with rasterio.open(image) as src:
        looked = gpd.GeoDataFrame(
            {"scene": [str(image)], "run": [str(detections)], "date": [date], "author": ["test"], "created": [""]},
            geometry=[box(*src.bounds)],
            crs=src.crs,
        )
    add_to_store(store, labels, looked)
    return {"sargassum": int((~on_algae).sum()), "false_positive": int(on_algae.sum())}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps([write_lookalike_scene(out, int(seed)) for seed in sys.argv[2:]]))
