"""A run's outputs as one set: all of them appear under their final names, or none of them does.

Every output (polygons with all of a shapefile's files, probabilities, quicklook, summary) is written in a hidden
staging folder beside its destination, `.sargasses-NAME.PID.RANDOM.part/`, holding a marker file (`RUN.json`: pid,
host, start time). Only when every file is written and flushed to the disk (fsync) are they renamed into place, the
summary last. A rename within one filesystem is atomic per file on POSIX: between the first rename and the last
(microseconds, no I/O but the folder entries) a reader may see new polygons beside the old summary; SIGINT and
SIGTERM wait until the renames are done. If a rename fails, the files already renamed are put back as they were (the
old ones are hard-linked into the staging folder first). An error or a signal before that removes the staging folder:
nothing new appears, every earlier file is intact (with `overwrite`, the old files stay until the new set is whole).

A run killed outright (kill -9, power cut) leaves its staging folder and lock files; the next run into the same
folder removes staging folders whose process is gone (same host) or that are older than a day, and lock files no
process holds.

Concurrent runs: each destination is locked for the whole run by an exclusive `flock` on `.NAME.lock` beside it; a
second run asking for a locked output stops at once with one line, before any work. Lock files are removed when the
run ends (a lock file left by a killed run holds no lock: the kernel releases it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sargasses.atomic import fsync_file, fsync_folder, write_error
from sargasses.errors import SargassesError
from sargasses.signals import signals_deferred

PREFIX = ".sargasses-"
SUFFIX = ".part"
MARKER = "RUN.json"
STALE_AFTER_S = 24 * 3600  # a staging folder this old is a leftover, whoever made it


class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C or SIGTERM came while the outputs were being renamed into place: they are complete and in place."""


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl-C there: only the age rule applies
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def is_leftover(folder: Path, now: float | None = None) -> bool:
    """A staging folder of a run that is over: its process is gone (same host), or it is older than a day.

    A `.part` folder without a marker (older sargasses) is a leftover when older than a day."""
    now = time.time() if now is None else now
    try:
        age = now - folder.stat().st_mtime
    except OSError:
        return False
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return age > STALE_AFTER_S
    if age > STALE_AFTER_S:
        return True
    pid, host = marker.get("pid"), marker.get("host")
    return isinstance(pid, int) and host == socket.gethostname() and not _alive(pid)


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove the staging folders killed runs left in `folder`; returns what was removed."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(SUFFIX) and entry.is_dir() and is_leftover(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        elif entry.name.startswith(".") and entry.name.endswith(".lock") and _remove_free_lock(entry):
            removed.append(entry)
    return removed


def _remove_free_lock(path: Path) -> bool:
    """A lock file nobody holds (its run was killed) is removed, under the lock, as a finishing run removes its own."""
    try:
        import fcntl
    except ImportError:
        return False

    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            return False
        path.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class _Lock:
    """An exclusive, non-blocking flock on `.NAME.lock` beside an output, removed when released."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = _folder(target) / f".{target.name}.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs are not locked there
            return

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    who = f" ({holder})" if holder else ""
                    raise SargassesError(
                        f"another sargasses run{who} is writing {self.target}; wait for it to end, "
                        "or choose another output name"
                    ) from None
                return  # a filesystem without locks (some network shares): run unlocked
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file its previous holder removed while we waited for it
                break
            os.close(fd)
        self.fd = fd
        with contextlib.suppress(OSError):  # who holds it, for a waiting run's message: a full disk has no room
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still holding it: a waiting run then sees a removed file and retries
        os.close(self.fd)
        self.fd = None


class OutputSet:
    """The outputs of one run; use as a context manager, `stage()` each file, then `commit()`.

    `targets` are the final paths (a shapefile with all its parts); `locks` the paths to lock (one per output).
    """

    def __init__(self, targets: Sequence[Path], locks: Sequence[Path], overwrite: bool, label: str) -> None:
        self.targets = [Path(t) for t in targets]
        self.lock_paths = [Path(p) for p in locks]
        self.overwrite = overwrite
        self.label = label
        self.locks: list[_Lock] = []
        self.staging: dict[Path, Path] = {}  # destination folder -> staging folder
        self.committed = False

    def __enter__(self) -> OutputSet:
        try:
            for path in sorted(set(self.lock_paths), key=str):
                lock = _Lock(path)
                lock.acquire()
                self.locks.append(lock)
            self._check_absent()
            for folder in dict.fromkeys(_folder(t) for t in self.targets):
                clean_leftovers(folder)
                self.staging[folder.resolve()] = self._make_staging(folder)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_staging(self, folder: Path) -> Path:
        name = f"{PREFIX}{self.label}.{os.getpid()}.{uuid.uuid4().hex[:8]}{SUFFIX}"
        staging = folder / name
        try:
            staging.mkdir()
            marker = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "outputs": [str(t) for t in self.targets if _folder(t) == folder],
            }
            (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            what = ", ".join(str(t) for t in self.targets if _folder(t) == folder)  # the user's names, not ours
            raise write_error(what or folder, exc) from None
        return staging

    def _check_absent(self) -> None:
        if self.overwrite:
            return
        for target in self.targets:
            if target.exists():
                raise SargassesError(f"{target} already exists; add --overwrite to replace it, or choose another name")

    def stage(self, target: Path) -> Path:
        """Where to write `target` during the run (in the staging folder beside it, under its own name)."""
        target = Path(target)
        return self.staging[_folder(target).resolve()] / target.name

    def commit(self, order: Sequence[Path], remove: Sequence[Path] = ()) -> None:
        """Rename the staged files of `order` into place, in that order (the summary last); `remove` lists old
        files that must go with them (a shapefile's index, wrong for the new file). All or nothing."""
        staged = [(self.stage(t), Path(t)) for t in order]
        missing = [str(t) for s, t in staged if not s.exists()]
        if missing:
            raise SargassesError(f"internal error: {', '.join(missing)} was not written; please report it")
        self._check_absent()  # another program may have made one since the start
        for source, target in staged:
            try:
                fsync_file(source)
            except OSError as exc:
                raise write_error(target, exc) from None
        backups: list[tuple[Path, Path]] = []  # (old file kept in the staging folder, its place)
        for target in [*[t for _, t in staged], *remove]:
            if target.exists():
                keep = self.stage(target).with_name(f"old.{len(backups)}.{target.name}")
                try:
                    os.link(target, keep)
                except OSError:
                    continue  # a filesystem without hard links: no rollback for this file
                backups.append((keep, target))
        done: list[Path] = []
        with signals_deferred() as caught:
            try:
                for target in remove:
                    target.unlink(missing_ok=True)
                for source, target in staged:
                    os.replace(source, target)
                    done.append(target)
            except BaseException as exc:
                for target in done:
                    target.unlink(missing_ok=True)
                for keep, target in backups:
                    with contextlib.suppress(OSError):
                        os.replace(keep, target)
                if isinstance(exc, OSError):
                    raise write_error(done[-1] if done else staged[0][1], exc) from None
                raise
            self.committed = True
        for folder in {_folder(t) for _, t in staged}:
            fsync_folder(folder)
        if caught:
            raise InterruptedAfterCommit()

    def close(self) -> None:
        """Remove the staging folders (after a commit they hold only the old files' links) and the locks."""
        for staging in self.staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self.staging.clear()
        for lock in reversed(self.locks):
            lock.release()
        self.locks.clear()
