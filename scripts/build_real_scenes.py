"""Rebuild data/real/ (the real Sentinel-2 scenes of training and of the real-imagery benchmark) from their sources.

    .venv/bin/python scripts/build_real_scenes.py                 # files from GitHub at the pinned commits
    .venv/bin/python scripts/build_real_scenes.py --mirror DIR    # or from bare clones DIR/OWNER+NAME/repo

The sources, their licences, products, dates and levels are in sargasses/data/real_scenes.json. Each scene is
mosaicked, its bands put in the model's order (missing red-edge bands interpolated where the manifest says so),
scaled to reflectance (DN x scale + offset), warped to its UTM zone at 20 m (average), cut into the manifest's crops and written as
data/real/<split>/<crop>.tif (float32, band names, SENSOR and DATE tags), each under a temporary name then renamed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.merge import merge
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "sargasses" / "data" / "real_scenes.json"
WAVELENGTH = {"B04": 665, "B05": 705, "B06": 740, "B07": 783, "B08": 842}
# B12 estimated from B11 where a file lacks it: the B12/B11 ratio of MARIDA's water (0.78) and of sand (0.83)
B12_OVER_B11 = 0.8


def expand(files: str) -> list[str]:
    """'dir/tile{0..3}.tif' -> ['dir/tile0.tif', ..., 'dir/tile3.tif']."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", files)
    if m is None:
        return [files]
    return [files[: m.start()] + str(i) + files[m.end() :] for i in range(int(m.group(1)), int(m.group(2)) + 1)]


def fetch(scene: dict, path: str, mirror: Path | None, into: Path) -> Path:
    """One source file, from a bare clone under `mirror` or from GitHub at the pinned commit."""
    out = into / Path(path).name
    if mirror is not None:
        repo = mirror / scene["repo"].replace("/", "+") / "repo"
        data = subprocess.run(
            ["git", "-C", str(repo), "show", f"{scene['commit']}:{path}"], check=True, capture_output=True
        ).stdout
        out.write_bytes(data)
    else:
        url = f"https://raw.githubusercontent.com/{scene['repo']}/{scene['commit']}/{path}"
        with urllib.request.urlopen(url, timeout=120) as response:
            out.write_bytes(response.read())
    return out


def model_bands(stack: np.ndarray, scene: dict, names: list[str]) -> np.ndarray:
    """The source bands in the model's order, as reflectance (NaN for nodata); missing ones interpolated."""
    source = scene["source_bands"]
    nodata = scene.get("nodata")
    valid = np.ones(stack.shape[1:], bool) if nodata is None else (stack != nodata).all(axis=0)
    valid &= np.isfinite(stack).all(axis=0) & (np.abs(stack) < 1e30).all(axis=0)
    scale, offset = np.float32(scene["scale"]), np.float32(scene.get("offset", 0.0))
    refl = {name: stack[source.index(name)].astype(np.float32) * scale + offset for name in source if name in names}
    if "B8A" not in refl:
        refl["B8A"] = refl["B08"]
    if "B12" not in refl:
        refl["B12"] = np.float32(B12_OVER_B11) * refl["B11"]
    for name in ("B05", "B06", "B07"):  # between the nearest bands the file has, linearly in wavelength
        if name not in refl:
            below = max((b for b in WAVELENGTH if b in refl and WAVELENGTH[b] < WAVELENGTH[name]), key=WAVELENGTH.get)
            above = min((b for b in WAVELENGTH if b in refl and WAVELENGTH[b] > WAVELENGTH[name]), key=WAVELENGTH.get)
            w = (WAVELENGTH[name] - WAVELENGTH[below]) / (WAVELENGTH[above] - WAVELENGTH[below])
            refl[name] = (1 - w) * refl[below] + w * refl[above]
    out = np.stack([refl[name] for name in names])
    out[:, ~valid] = np.nan
    return out


def utm_of(crs: CRS, transform, width: int, height: int) -> CRS:
    """The scene's own projected CRS, or its UTM zone when it is geographic."""
    if crs.is_projected:
        return crs
    bounds = rasterio.transform.array_bounds(height, width, transform)
    west, south, east, north = transform_bounds(crs, "EPSG:4326", *bounds)
    lon, lat = (west + east) / 2, (south + north) / 2
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1)


def build_scene(scene: dict, grid: dict, mirror: Path | None, outdir: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [fetch(scene, p, mirror, Path(tmp)) for p in expand(scene["files"])]
        datasets = [rasterio.open(p) for p in paths]
        try:
            stack, transform = merge(datasets, nodata=scene.get("nodata"))
            crs = datasets[0].crs
        finally:
            for d in datasets:
                d.close()
    refl = model_bands(stack, scene, grid["bands"])
    height, width = refl.shape[1:]
    target = utm_of(crs, transform, width, height)
    res = float(grid["resolution_m"])
    bounds = rasterio.transform.array_bounds(height, width, transform)
    dst_transform, dst_w, dst_h = calculate_default_transform(crs, target, width, height, *bounds, resolution=res)
    warped = np.full((refl.shape[0], dst_h, dst_w), np.nan, np.float32)
    reproject(
        refl, warped, src_transform=transform, src_crs=crs, dst_transform=dst_transform, dst_crs=target,
        src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.average,
    )  # fmt: skip
    written = []
    sensor = {"L1C": "sentinel2_l1c", "L2A": "sentinel2_l2a"}[scene["level"]]
    for crop in scene["crops"]:
        r0, r1 = crop["rows"][0], min(crop["rows"][1], dst_h)
        data = warped[:, r0:r1]
        path = outdir / crop["split"] / f"{crop['name']}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        profile = {
            "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
            "dtype": "float32", "crs": target, "transform": dst_transform @ rasterio.Affine.translation(0, r0),
            "nodata": float("nan"), "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256,
        }  # fmt: skip
        with rasterio.open(partial, "w", **profile) as out:
            out.write(data)
            out.descriptions = tuple(grid["bands"])
            out.update_tags(SENSOR=sensor, ACQUISITION_DATE=scene["date"], PRODUCT_ID=crop["name"], SOURCE=scene["repo"],
                            LEVEL=scene["level"], WHAT=crop["what"])  # fmt: skip
        partial.replace(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirror", type=Path, help="folder of bare clones OWNER+NAME/repo (default: download)")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "real", help="output folder (default data/real)")
    args = p.parse_args(argv)
    manifest = json.loads(MANIFEST.read_text())
    for scene in manifest["scenes"]:
        for path in build_scene(scene, manifest["grid"], args.mirror, args.out):
            with rasterio.open(path) as d:
                valid = np.isfinite(d.read(1)).mean()
                print(f"{path.relative_to(args.out)}: {d.width} x {d.height} px, {scene['level']}, {valid:.0%} valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
