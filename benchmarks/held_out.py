"""What the real-imagery benchmarks share: their command-line options and the held-out real scenes they read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(p: argparse.ArgumentParser, seeds: int, seeds_help: str) -> None:
    """--model, --scenes, --seeds and --json, as both benchmarks take them."""
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "default_model.sargasses")
    p.add_argument("--scenes", type=Path, default=ROOT / "data" / "real" / "test")
    p.add_argument("--seeds", type=int, default=seeds, help=seeds_help)
    p.add_argument("--json", type=Path, help="also write every figure here")


def scene_files(folder: Path) -> list[Path]:
    """The held-out scenes, or an empty list after saying how to build them."""
    files = sorted(folder.glob("*.tif"))
    if not files:
        print(f"no scenes in {folder}: run scripts/build_real_scenes.py first", file=sys.stderr)
    return files
