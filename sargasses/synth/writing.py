"""Writing a scene: the image (float32 reflectance or uint16 L2A numbers), the label mask and the JSON of what
was planted; each file under a temporary name, then renamed."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.errors import SargassesError
from sargasses.reading.sensors import SENTINEL2_L2A
from sargasses.synth.labels import LABEL_IGNORE
from sargasses.synth.scene import SyntheticScene

DTYPES = ("float32", "uint16")


def scene_paths(outdir: str | os.PathLike, seed: int) -> dict[str, Path]:
    """Where write_scene puts the scene for this seed."""
    outdir = Path(outdir)
    return {
        "image": outdir / f"scene_{seed:04d}.tif",
        "label": outdir / f"scene_{seed:04d}_label.tif",
        "meta": outdir / f"scene_{seed:04d}.json",
    }


def write_scene(
    scene: SyntheticScene, outdir: str | os.PathLike, dtype: str = "float32", overwrite: bool = False
) -> dict[str, Path]:
    """Write the image, the label mask and the JSON; each under a temporary name, then renamed.

    uint16 follows L2A (processing baseline >= 04.00): DN = reflectance * 10000 + 1000, nodata 0.
    """
    if dtype not in DTYPES:
        raise SargassesError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = scene_paths(outdir, scene.seed)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise SargassesError(
            f"{existing[0]} already exists: choose another folder or seed, or pass overwrite=True (--overwrite)"
        )
    profile, tags = _image_profile(scene, dtype), _image_tags(scene, dtype)
    _atomic(paths["image"], partial(_write_image, scene=scene, profile=profile, tags=tags))
    _atomic(paths["label"], partial(_write_label, scene=scene, profile=profile, tags=tags))
    _atomic(paths["meta"], partial(_write_meta, scene=scene))
    return paths


def _image_profile(scene: SyntheticScene, dtype: str) -> dict[str, Any]:
    """The GeoTIFF of the image: tiled and compressed, float32 (NaN nodata) or uint16 (0 nodata)."""
    profile = {
        "driver": "GTiff",
        "width": scene.width,
        "height": scene.height,
        "count": len(scene.band_names),
        "crs": scene.crs,
        "transform": scene.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    if dtype == "uint16":
        profile.update(dtype="uint16", nodata=0, predictor=2)
    else:
        profile.update(dtype="float32", nodata=float("nan"), predictor=3)
    return profile


def _image_tags(scene: SyntheticScene, dtype: str) -> dict[str, str]:
    """The tags a reader takes the sensor, date and product from (as a real L2A GeoTIFF export has them)."""
    tags = {
        "SENSOR": scene.meta.get("sensor", SENTINEL2_L2A.name),
        "PRODUCT_ID": scene.meta.get("product_id"),
        "ACQUISITION_DATE": scene.meta.get("acquisition_date"),
        "SPACECRAFT": scene.meta.get("spacecraft"),
        "PROCESSING_BASELINE": scene.meta.get("processing_baseline"),
        "SYNTHETIC": "yes" if scene.meta.get("synthetic", True) else "rafts planted into a real scene",
        "GENERATOR": scene.meta["generator"],
        "SEED": str(scene.seed),
        "KIND": scene.kind,
    }
    tags = {key: value for key, value in tags.items() if value is not None}
    if dtype == "uint16":
        tags.update(BOA_ADD_OFFSET="-1000", BOA_QUANTIFICATION_VALUE="10000")
    return tags


def _write_image(tmp: Path, scene: SyntheticScene, profile: dict[str, Any], tags: dict[str, str]) -> None:
    import rasterio

    with rasterio.open(tmp, "w", **profile) as dst:
        dst.update_tags(**tags)
        for i, name in enumerate(scene.band_names, start=1):
            dst.set_band_description(i, name)
            dst.update_tags(i, WAVELENGTH_NM=str(SENTINEL2_L2A.band(name).wavelength_nm))
        step = 512
        for r0 in range(0, scene.height, step):  # by row blocks: a full tile never doubles in memory
            block = scene.reflectance[:, r0 : r0 + step]
            if profile["dtype"] == "uint16":
                block = to_digital_numbers(block)
            dst.write(block, window=((r0, r0 + block.shape[1]), (0, scene.width)))


def _write_label(tmp: Path, scene: SyntheticScene, profile: dict[str, Any], tags: dict[str, str]) -> None:
    import rasterio

    label_profile = {**profile, "count": 1, "dtype": "uint8", "nodata": LABEL_IGNORE, "predictor": 2}
    with rasterio.open(tmp, "w", **label_profile) as dst:
        label_tags = {k: v for k, v in tags.items() if not k.startswith("BOA_")}  # labels are not DNs
        dst.update_tags(LABEL_VALUES="1 Sargassum, 0 not Sargassum, 255 not scorable", **label_tags)
        dst.set_band_description(1, "sargassum_label")
        dst.write(scene.label, 1)


def _write_meta(tmp: Path, scene: SyntheticScene) -> None:
    tmp.write_text(json.dumps(scene.meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def to_digital_numbers(reflectance: np.ndarray) -> np.ndarray:
    """L2A digital numbers (baseline >= 04.00): DN = reflectance * 10000 + 1000, NaN -> 0 (nodata)."""
    dn = np.rint(np.nan_to_num(reflectance, nan=-1.0) * 10000.0 + 1000.0)
    dn = np.clip(dn, 0, 65535).astype(np.uint16)
    dn[np.isnan(reflectance)] = 0
    dn[(dn == 0) & ~np.isnan(reflectance)] = 1
    return dn


def _atomic(path: Path, writer) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written file is ever left."""
    from sargasses.atomic import atomic_write

    atomic_write(path, writer, sync=False)  # scenes are rebuilt on demand: no need to wait for the disk
