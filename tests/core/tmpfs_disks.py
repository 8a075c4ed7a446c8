"""Small tmpfs disks for the full-disk and read-only cases (issue 21), for the core and the QGIS tests alike.

Standard library and pytest only: QGIS's Python imports it too (tests/qgis/conftest.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def mounted_disks(folder: Path) -> Iterator[Callable[[str], Path]]:
    """A fixture's body: `mount("70k")` mounts a new tmpfs of that size under `folder` (writes past it fail with
    ENOSPC, as on a full disk); all are unmounted at the end. Skips the test where mounting is not permitted (it
    needs root)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        disk = folder / f"disk{len(mounted)}-{size}"
        disk.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {result.stderr.decode().strip()}")
        mounted.append(disk)
        return disk

    try:
        yield mount
    finally:
        for disk in reversed(mounted):
            subprocess.run(["umount", "-l", str(disk)], check=False)


def make_read_only(disk: Path) -> None:
    """Remount a disk of `mounted_disks` read-only: what is on it stays readable, nothing can be written (root
    ignores a folder's permissions, not a read-only mount)."""
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True)
