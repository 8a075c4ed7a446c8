"""Synthetic data in the original project's layout: OTCI RGB renderings as PNG (`<YYYYMMDD>_S3_OTCI.png`, 0-255)
with `.npz` masks (`<YYYYMMDD>_<annotator>.npz`, key `arr_0`), and the rafts planted in them as sub-pixel cover.

At 300 m a raft rarely fills a pixel: each raft is a thin streak whose cover per pixel is known, and the rendering
mixes linearly, `pixel = sea + cover * (raft - sea)`. The mask marks pixels with cover >= LABEL_COVER, as an
annotator would. White cloud patches are planted beside them (not Sargassum), so the model must learn colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEA = np.array([24.0, 46.0, 92.0], np.float32)  # the dark blue of open water in the rendering
RAFT = np.array([196.0, 168.0, 52.0], np.float32)  # a pixel fully covered by Sargassum
CLOUD = np.array([228.0, 230.0, 234.0], np.float32)
LABEL_COVER = 0.3
SIZE = 192
DATES = [f"202204{day:02d}" for day in range(1, 9)]
PIXEL_DEG = 0.0027  # about 300 m at the equator, for the georeferenced copies
WEST, NORTH = -62.0, 16.0  # top-left corner of the georeferenced copies (east of the Antilles)
TEST_SEED = 900  # the scene the tests detect on (not one of the training dates)
# The original config as it is, made small: 64 px crops, a few hundred of them, four epochs (about a minute of CPU).
TINY_FIT = [
    "--data.crop_size=64",
    "--data.eval_crop_size=64",
    "--data.crops_per_epoch=192",
    "--data.batch_size=16",
    "--data.num_workers=0",
    "--trainer.max_epochs=4",
    "--trainer.enable_progress_bar=false",
    "--model.model.init_args.input_shape=[64,64]",
]


@dataclass
class OtciScene:
    rgb: np.ndarray  # (H, W, 3) uint8
    cover: np.ndarray  # (H, W) float32 planted fractional cover 0-1
    label: np.ndarray  # (H, W) uint8 0/1

    @property
    def rafts(self) -> int:
        from scipy import ndimage

        return int(ndimage.label(self.label, structure=np.ones((3, 3)))[1])


def streak_cover(size: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Thin straight streaks (windrows), anti-aliased: cover falls off linearly over one pixel across them."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    cover = np.zeros((size, size), np.float32)
    for _ in range(count):
        r0, c0 = rng.uniform(20, size - 20, 2)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(20, 45)
        peak = rng.uniform(0.6, 1.0)  # the densest part of a windrow rarely covers a whole 300 m pixel
        along = (rows - r0) * np.sin(angle) + (cols - c0) * np.cos(angle)
        across = np.abs(-(rows - r0) * np.cos(angle) + (cols - c0) * np.sin(angle))
        on = (np.abs(along) <= length / 2) & (across < 1.5)
        cover = np.maximum(cover, np.where(on, peak * np.clip(1.5 - across, 0, 1), 0))
    return cover


def make_otci_scene(seed: int, size: int = SIZE, rafts: int = 5) -> OtciScene:
    rng = np.random.default_rng(seed)
    cover = streak_cover(size, rng, rafts)
    rgb = SEA[:, None, None] + rng.normal(0, 3.0, (3, size, size)).astype(np.float32)
    rgb += cover[None] * (RAFT - SEA)[:, None, None]
    rows, cols = np.mgrid[0:size, 0:size]
    for _ in range(2):  # cloud patches: bright, but white, not Sargassum's colour
        r, c, radius = *rng.uniform(0, size, 2), rng.uniform(6, 14)
        inside = (rows - r) ** 2 + (cols - c) ** 2 < radius**2
        rgb[:, inside & (cover == 0)] = CLOUD[:, None]
    label = (cover >= LABEL_COVER).astype(np.uint8)
    return OtciScene(np.clip(np.rint(rgb), 0, 255).astype(np.uint8).transpose(1, 2, 0), cover, label)


def write_original_layout(root: Path, seed0: int = 500) -> tuple[Path, Path]:
    """`root/images/<date>_S3_OTCI.png` and `root/masks/<date>_w1.npz` for DATES, as the original project has them."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    for k, date in enumerate(DATES):
        scene = make_otci_scene(seed0 + k)
        Image.fromarray(scene.rgb).save(images / f"{date}_S3_OTCI.png")
        np.savez(masks / f"{date}_w1.npz", scene.label)
    return images, masks


def fit_original_tiny(root: Path) -> Path:
    """`sargasses fit --config configs/original_otci_halfunet.yaml` (TINY_FIT) on the original layout written in
    `root/data/otci` (the config's own data paths), run in `root`, then `sargasses export-model`: the model file."""
    from training_helpers import REPO, run_sargasses

    write_original_layout(root / "data" / "otci")
    config = str(REPO / "configs" / "original_otci_halfunet.yaml")
    result = run_sargasses(["fit", "--config", config, *TINY_FIT], cwd=root, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = original_checkpoint(root)
    result = run_sargasses(["export-model", str(checkpoint), "-o", str(root / "otci.sargasses")], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HalfUNet, bands red green blue" in result.stdout, result.stdout
    return root / "otci.sargasses"


def original_checkpoint(root: Path) -> Path:
    return sorted(root.glob("logs/original_otci_halfunet/version_*/checkpoints/*.ckpt"))[-1]


def write_png(path: Path, scene: OtciScene) -> Path:
    from PIL import Image

    Image.fromarray(scene.rgb).save(path)
    return path


def write_world_file(png: Path, west: float = WEST, north: float = NORTH, pixel: float = PIXEL_DEG) -> Path:
    """The `.pgw` beside a PNG: pixel size, rotations, and the centre of the top-left pixel."""
    world = png.with_suffix(".pgw")
    world.write_text(f"{pixel}\n0\n0\n{-pixel}\n{west + pixel / 2}\n{north - pixel / 2}\n")
    return world


def write_geotiff(path: Path, scene: OtciScene, west: float = WEST, north: float = NORTH) -> Path:
    """The same rendering as a georeferenced RGB GeoTIFF (EPSG:4326, about 300 m pixels)."""
    import rasterio
    from affine import Affine
    from rasterio.enums import ColorInterp

    height, width, _ = scene.rgb.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": Affine(PIXEL_DEG, 0, west, 0, -PIXEL_DEG, north),
        "photometric": "RGB",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene.rgb.transpose(2, 0, 1))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    return path


def write_label_geotiff(path: Path, scene: OtciScene, west: float = WEST, north: float = NORTH) -> Path:
    """The planted rafts' mask on the same grid (1 Sargassum, 0 not), as sargasses' label files are."""
    import rasterio
    from affine import Affine

    height, width = scene.label.shape
    transform = Affine(PIXEL_DEG, 0, west, 0, -PIXEL_DEG, north)
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs="EPSG:4326",
        transform=transform,
    ) as dst:  # fmt: skip
        dst.write(scene.label, 1)
    return path
