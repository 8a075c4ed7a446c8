"""A Processing vector destination that is a file: whole at its name, or the user's old file back (issue 21).

QGIS's sink writes straight to the final name and reports no error when the disk fills: a GeoPackage is then left
without its tables and the run says it succeeded. So the file already there is set aside (renamed, same folder)
while the sink writes, the written file is read back and its features counted once the sink is closed, and on any
failure what was written goes and the old file comes back.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qgis.core import QgsProcessingException, QgsProcessingUtils, QgsVectorFileWriter, QgsVectorLayer

# A shapefile is several files: the writer replaces all of these beside the .shp.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qpj", ".qix", ".sbn", ".sbx")
SET_ASIDE = ".sargasses-old-"
PROVIDER_PREFIX = re.compile(r"^[A-Za-z]{2,}:")  # memory:, ogr:, postgres: (not a drive letter, C:)


def destination_file(destination: str) -> Path | None:
    """The file QGIS's sink writes for a destination string, or None (a memory layer, a database, a table inside
    a GeoPackage). A name without a vector format's extension (`scene.tif`) gets Processing's default one."""
    if not destination or "|" in destination or PROVIDER_PREFIX.match(destination):
        return None
    path = Path(destination)
    if path.suffix.lower().lstrip(".") not in QgsVectorFileWriter.supportedFormatExtensions():
        path = path.with_name(f"{path.name}.{QgsProcessingUtils.defaultVectorExtension()}")
    return path


def _parts(path: Path) -> list[Path]:
    if path.suffix.lower() == ".shp":
        return [path.with_suffix(suffix) for suffix in SHAPEFILE_PARTS]
    return [path]


@contextmanager
def kept_until_written(destination: str) -> Iterator[Path | None]:
    """Around creating, filling and closing the sink for `destination` (yields the file it writes, None for no
    file): the user's file of that name (and a shapefile's side files) renamed aside, then removed once the new
    one is written, or put back on failure."""
    path = destination_file(destination)
    if path is None:
        yield None
        return
    _check_writable(path)
    kept = _set_aside(path)
    try:
        yield path
    except BaseException:
        for part in _parts(path):
            if part.exists():  # (unlink fails on a read-only disk even for a file that is not there)
                part.unlink()
        _put_back(kept)
        raise
    for _, aside in kept:
        aside.unlink(missing_ok=True)


def _check_writable(path: Path) -> None:
    """Fail in one line, with the OS's reason, when `path`'s folder cannot take a file (read-only, no permission):
    QGIS's sink would say only that OGR could not open a database."""
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise write_failure(path, str(exc), exc.errno) from None


def _set_aside(path: Path) -> list[tuple[Path, Path]]:
    """Rename the user's files of `path` aside: (file, its name aside) for each. A folder that cannot be written (a
    read-only disk) fails in one line, every file back under its name (the rename was a traceback, issue 21)."""
    kept: list[tuple[Path, Path]] = []
    for part in _parts(path):
        if not part.exists():
            continue
        aside = part.with_name(SET_ASIDE + part.name)
        try:
            part.replace(aside)
        except OSError as exc:
            _put_back(kept)
            raise write_failure(path, str(exc), exc.errno) from None
        kept.append((part, aside))
    return kept


def _put_back(kept: list[tuple[Path, Path]]) -> None:
    for part, aside in kept:
        aside.replace(part)


def check_written(path: Path | None, count: int) -> None:
    """QgsProcessingException unless the closed file reads back with `count` features (QGIS's writer leaves a
    truncated file without a word when the disk is full)."""
    if path is None:
        return
    layer = QgsVectorLayer(str(path), "written", "ogr")
    if layer.isValid() and layer.featureCount() == count:
        return
    raise write_failure(path, "the file written is incomplete")


def write_failure(path: Path | None, detail: str, error: int | None = None) -> QgsProcessingException:
    """One line for a write that failed: a full disk said as such (GDAL's own words hold SQL), the OS's words for
    another known `error` (errno: a read-only disk), else `detail`."""
    if error is None:
        try:
            full = path is not None and shutil.disk_usage(path.parent).free < 1 << 20
        except OSError:
            full = False
    else:
        full = error == errno.ENOSPC
    if full:
        reason = f"{os.strerror(errno.ENOSPC)}; free some space or choose another folder"
    elif error is not None:
        reason = f"{os.strerror(error)}; choose another folder"
    else:
        first = (detail.strip().splitlines() or ["unknown error"])[0][:160]
        reason = f"{first}; check the disk, or choose another folder"
    return QgsProcessingException(f"Could not write {path or 'the rafts'}: {reason}.")
