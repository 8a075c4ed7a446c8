"""Small real training data for the training tests: synthetic scenes written as GeoTIFFs, and a tiny fit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "tiny.yaml"
# seeds whose 192 px mixed scenes hold Sargassum (checked in write_tiny_scenes)
TINY_SEEDS = {"train": (7001, 7004, 7005, 7007), "val": (7009,), "test": (7010,)}
TINY_SIZE = 192


def write_tiny_scenes(root: Path) -> dict[str, Path]:
    """train / val / test folders of small synthetic scenes (each with some Sargassum)."""
    from sargasses.synth import make_scene, write_scene

    folders = {}
    for split, seeds in TINY_SEEDS.items():
        folder = root / split
        for seed in seeds:
            scene = make_scene(seed, TINY_SIZE, "mixed")
            assert (scene.label == 1).sum() > 20, f"seed {seed} has too little Sargassum for the tests"
            write_scene(scene, folder, overwrite=True)
        folders[split] = folder
    return folders


def tiny_datamodule(folders: dict[str, Path], **overrides):
    """A SargassesDataModule over the tiny scenes, small enough for a test; keywords override its settings."""
    from sargasses.training.datamodule import SargassesDataModule

    args = dict(
        train_images=str(folders["train"]),
        val_images=str(folders["val"]),
        test_images=str(folders["test"]),
        crop_size=64,
        eval_crop_size=64,
        crops_per_epoch=200,
        batch_size=8,
        num_workers=0,
    )
    args.update(overrides)
    return SargassesDataModule(**args)


def data_args(folders: dict[str, Path]) -> list[str]:
    return [
        "--data.images=null",
        f"--data.train_images={folders['train']}",
        f"--data.val_images={folders['val']}",
        f"--data.test_images={folders['test']}",
    ]


def run_sargasses(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m sargasses ARGS` in a real process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "core")])}
    return subprocess.run(
        [sys.executable, "-m", "sargasses", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def tiny_fit(folders: dict[str, Path], workdir: Path, extra: list[str] = ()) -> Path:
    """Fit the tiny config and return its best checkpoint."""
    result = run_sargasses(["fit", "--config", str(TINY_CONFIG), *data_args(folders), *extra], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = sorted((workdir / "lightning_logs").glob("tiny/version_*/checkpoints/tiny-*.ckpt"))
    assert checkpoints, f"no checkpoint written:\n{result.stderr[-2000:]}"
    return checkpoints[-1]


def positive_share(label: np.ndarray) -> float:
    return float((label == 1).sum()) / label.size
