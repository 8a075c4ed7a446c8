"""Writing a file so that it is whole or absent: one helper instead of a copy in every module that writes.

`atomic_write(path, write)` lets `write` fill a hidden temporary file beside `path` (same folder, so the same
filesystem), flushes it to the disk (fsync), then renames it over `path`: a rename within one filesystem is atomic on
POSIX, so a reader sees the old file or the new one, never a part. On any error or interrupt the temporary file is
removed and `path` is left as it was.

`write_error(path, exc)` turns whatever a writer raised (OSError, GDAL's or pyogrio's errors, whose messages can
hold kilobytes of SQL) into one line that says what failed and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sargasses.errors import SargassesError

# Phrases in GDAL / pyogrio / libtiff messages -> (the reason to print, what to do)
_KNOWN = (
    ("no space left on device", "No space left on device", "free some space or choose another folder"),
    ("database or disk is full", "No space left on device", "free some space or choose another folder"),  # SQLite
    ("disk quota exceeded", "Disk quota exceeded", "free some space or choose another folder"),
    ("file too large", "File too large", "choose another folder or a smaller --extent"),
    ("input/output error", "Input/output error", "check the disk, or choose another folder"),
    ("read-only file system", "Read-only file system", "choose a folder you can write to"),
    ("permission denied", "Permission denied", "choose a folder you can write to"),
)
_ADVICE = {
    errno.ENOSPC: "free some space or choose another folder",
    errno.EDQUOT: "free some space or choose another folder",
    errno.EFBIG: "choose another folder or a smaller --extent",
    errno.EIO: "check the disk, or choose another folder",
    errno.EROFS: "choose a folder you can write to",
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to",
}


def write_error(path: str | os.PathLike, exc: BaseException | str) -> SargassesError:
    """One line for a failed write: 'could not write PATH: REASON; WHAT TO DO' (never a traceback or SQL)."""
    reason, advice = "", "check the folder and the disk, or choose another folder"
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = os.strerror(exc.errno)
        advice = _ADVICE.get(exc.errno, advice)
    text = str(exc).lower()
    for phrase, known, what in _KNOWN:
        if not reason and phrase in text:
            reason, advice = known, what
    if not reason and _nearly_full(Path(path)):  # GDAL and SQLite often hide ENOSPC behind a later error
        reason, advice = os.strerror(errno.ENOSPC), _ADVICE[errno.ENOSPC]
    if not reason:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
        if len(reason) > 160:
            reason = reason[:157] + "..."
    return SargassesError(f"could not write {path}: {reason}; {advice}")


def _nearly_full(path: Path) -> bool:
    """Under 1 MiB left where `path` is written: a failure there is a full disk, whatever the writer said."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a written file to the disk: a late write error (a full disk on NFS, EIO) shows here, not after."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (the renames in it); not possible on every platform and filesystem: best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path: str | os.PathLike, suffix: str = ".part") -> Path:
    """A hidden name beside `path`, unique to this process and call: `.NAME.PID.RANDOM.part`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], object], *, shared: bool = True, sync: bool = True
) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, flush it, then rename it to `path`.

    `shared` gives the file the usual permissions (0666 less the umask), as an ordinary `open` would. Anything
    `write` leaves beside the temporary file (GDAL's `.aux.xml`) is removed too.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        write(tmp)
        if shared and tmp.exists():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if sync:
            fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.aux.xml").unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync: bool = True) -> Path:
    """`atomic_write` of a bytes value."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), sync=sync)


def atomic_write_text(path: str | os.PathLike, text: str, *, sync: bool = True) -> Path:
    """`atomic_write` of a text value, in UTF-8."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), sync=sync)
