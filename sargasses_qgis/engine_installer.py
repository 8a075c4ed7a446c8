"""Installing the detection engine: a new virtual environment in the QGIS profile, the bundled core package in it.

Two engines (the core package's extras): the CPU engine (`engine`: ONNX Runtime, no PyTorch, the default) and the
GPU engine (`full`: PyTorch with CUDA, also for training), offered when an NVIDIA GPU is present. Never touches
QGIS's own Python: the environment is created by another Python >= 3.10 (found on PATH, else the system's python3)
without --system-site-packages, and pip runs inside it. Runs as a QgsTask: progress in the task bar (packages
fetched, then megabytes written against the engine's measured size), pip's output line by line for the dialog,
Cancel kills pip, removes the half-made environment and ends the task as cancelled, not failed.

A new engine is built beside the one in place (`engine.new`) and takes its place only once it answers as an
engine: a cancelled or failed install leaves the engine the user had untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .engine_finder import check_python, engine_environment, forget_checks
from .log import log_error, log_info
from .paths import ENGINE_MARKER, bundled_core, installed_engine_dir, venv_python

MIN_PYTHON = (3, 10)
FETCH_SHARE = 0.35  # of pip's step: fetching packages (by count); the rest is writing them (by megabytes)
TORCH_CPU_INDEX_VAR = "SARGASSES_TORCH_CPU_INDEX"
SIZE_POLL_S = 1.0  # how often the environment's size is measured while pip writes it


@dataclass(frozen=True)
class EngineChoice:
    """One engine the installer can make; sizes in MB of 2**20 bytes, measured with Python 3.11 on Linux x86_64
    (docs/qgis_plugin.md)."""

    key: str
    extra: str  # the core package's extra that pip installs
    title: str
    holds: str  # for people: what is in it
    download_mb: int
    disk_mb: int
    packages: int  # distributions pip installs: for the progress bar
    cpu_torch: bool = False  # PyTorch's CPU build, from the index the user set (settings.torch_cpu_index)


CPU_ENGINE = EngineChoice("cpu", "engine", "CPU engine", "ONNX Runtime, rasterio and GDAL; no PyTorch", 160, 600, 20)
GPU_ENGINE = EngineChoice(
    "gpu",
    "full",
    "GPU engine",
    "PyTorch with CUDA, Lightning and mfai: detection on the GPU and training",
    3300,
    5600,
    116,
)
# The full engine where no NVIDIA GPU is seen: PyTorch's CPU build, no CUDA libraries. Its sizes are not measured
# (0: the question says so): this project's machines reach no index that serves it.
CPU_FULL_ENGINE = EngineChoice(
    "full_cpu",
    "full",
    "full engine, CPU build",
    "PyTorch's CPU build, Lightning and mfai: detection and fine-tuning on the CPU",
    0,
    0,
    GPU_ENGINE.packages,
    cpu_torch=True,
)
_PYTHON_NAMES = ("python3.14", "python3.13", "python3.12", "python3.11", "python3.10", "python3", "python")
_PROBE = "import sys, venv, ensurepip; print(sys.version_info[0], sys.version_info[1], sys.prefix != sys.base_prefix)"


class InstallError(Exception):
    pass


def nvidia_gpu() -> str:
    """The first NVIDIA GPU's name as `nvidia-smi -L` gives it, or "" when there is none (or no driver)."""
    tool = shutil.which("nvidia-smi")
    if not tool:
        return ""
    try:
        done = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in done.stdout.splitlines():
        match = re.match(r"GPU \d+: (.+?)(?: \(UUID:.*)?$", line.strip())
        if done.returncode == 0 and match:
            return match.group(1)
    return ""


def folder_mb(folder: Path) -> float:
    """Disk space a folder takes, in MB of 2**20 bytes as `du -sm` counts it (the unit of EngineChoice's
    sizes), skipping what vanishes while pip works."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += getattr(stat, "st_blocks", 0) * 512 or stat.st_size
    return total / 2**20


_FETCH = re.compile(r"^(Collecting|Processing|Requirement already satisfied:?) (\S+)")
_DOWNLOAD = re.compile(r"^\s*Downloading (\S+) \(([^)]+)\)")


def _package_name(token: str) -> str:
    """`numpy>=1.26`, `/wheels/numpy-2.4.6-cp311-...whl` or `./sargasses-0.1.0-py3-none-any.whl` -> the name."""
    base = Path(token).name
    if base.endswith((".whl", ".tar.gz", ".zip")):
        return base.split("-")[0]
    return re.split(r"[<>=!~\[;]", base)[0]


class PipProgress:
    """pip's output, line by line, as a share of pip's step done and a status line for people.

    Fetching is counted in packages against the engine's known count; once pip says "Installing collected
    packages" it goes silent for a minute or more, so `written` measures the environment's growth against the
    engine's known size instead. Shares only grow; 1.0 only when pip says it succeeded.
    """

    def __init__(self, engine: EngineChoice, start_mb: float = 0.0) -> None:
        self.engine = engine
        self.start_mb = start_mb
        self.fetched = 0
        self.installing = 0  # packages pip is writing, once it said so
        self.share = 0.0

    def _advance(self, share: float) -> float:
        self.share = max(self.share, min(share, 1.0))
        return self.share

    def feed(self, line: str) -> tuple[float, str] | None:
        """(share, status) for a line that moves the install on, else None."""
        text = line.rstrip()
        fetch = _FETCH.match(text)
        if fetch and not self.installing:
            self.fetched += 1
            name = _package_name(fetch.group(2))
            share = FETCH_SHARE * min(self.fetched / self.engine.packages, 0.99)
            return self._advance(share), f"Getting {name} ({self.fetched} of about {self.engine.packages} packages)"
        download = _DOWNLOAD.match(text)
        if download:
            return self._advance(self.share), f"Downloading {download.group(1)} ({download.group(2)})"
        if text.startswith("Installing collected packages:"):
            self.installing = len([n for n in text.split(":", 1)[1].split(",") if n.strip()])
            return self._advance(FETCH_SHARE), self._writing(self.start_mb)
        if text.startswith("Successfully installed"):
            return self._advance(1.0), "Installed; checking the new engine"
        return None

    def written(self, folder_size_mb: float) -> tuple[float, str] | None:
        """(share, status) from the environment's size while pip writes the packages; None before that."""
        if not self.installing:
            return None
        done = max(0.0, folder_size_mb - self.start_mb) / max(1.0, self.engine.disk_mb - self.start_mb)
        return self._advance(FETCH_SHARE + (1 - FETCH_SHARE) * min(done, 0.99)), self._writing(folder_size_mb)

    def _writing(self, size_mb: float) -> str:
        return f"Installing {self.installing} packages: {size_mb:.0f} of about {self.engine.disk_mb} MB written"


def _sizes(engine: EngineChoice) -> str:
    if not engine.disk_mb:
        return f"about {engine.packages} packages, size not measured"
    return f"about {engine.packages} packages, {engine.download_mb} MB to download, {engine.disk_mb} MB on disk"


def torch_cpu_index() -> str:
    """The package index of PyTorch's CPU builds, as the user set it (docs/qgis_plugin.md); "" when not set."""
    from . import settings

    return os.environ.get(TORCH_CPU_INDEX_VAR, "").strip() or settings.torch_cpu_index()


def find_base_python() -> str:
    """A Python >= 3.10 with venv and ensurepip: on PATH first, else the system's python3."""
    seen: set[str] = set()
    candidates = [shutil.which(name) for name in _PYTHON_NAMES] + ["/usr/bin/python3", "/usr/local/bin/python3"]
    problems = []
    for candidate in candidates:
        if not candidate or candidate in seen or not os.path.exists(candidate):
            continue
        seen.add(candidate)
        try:
            done = subprocess.run(
                [candidate, "-c", _PROBE], capture_output=True, text=True, timeout=30, env=engine_environment()
            )
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{candidate}: {exc}")
            continue
        if done.returncode != 0:
            problems.append(f"{candidate}: no venv/ensurepip module")
            continue
        major, minor, in_venv = done.stdout.split()
        if (int(major), int(minor)) < MIN_PYTHON:
            problems.append(f"{candidate}: Python {major}.{minor} is too old")
            continue
        if in_venv == "True":
            problems.append(f"{candidate}: is itself a virtual environment")
            continue
        return candidate
    raise InstallError(
        "no Python >= 3.10 with the venv module was found to create the engine's environment "
        f"({'; '.join(problems) or 'none on PATH'}). Install Python 3.10 or newer (on Debian/Ubuntu: "
        "apt install python3-venv) and try again."
    )


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill pip and whatever it started: they share the session pip was started in."""
    try:
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_soon(folder: Path) -> None:
    """Take a half-made environment off its name at once, then delete it (gigabytes) in the background."""
    if not folder.exists():
        return
    doomed = folder.with_name(f"{folder.name}.removing-{os.getpid()}-{time.monotonic_ns()}")
    try:
        folder.rename(doomed)
    except OSError:
        doomed = folder
    threading.Thread(target=shutil.rmtree, args=(doomed,), kwargs={"ignore_errors": True}, daemon=True).start()


def _task_flags():
    """CanCancel, and Silent where QGIS has it (3.26+): the dialog reports the end, not a system notification."""
    flags = QgsTask.Flag.CanCancel
    silent = getattr(QgsTask.Flag, "Silent", None)  # qt6: ok
    return flags | silent if silent is not None else flags


class EngineInstallTask(QgsTask):
    """Create `target` (a venv) and pip-install `source` (a wheel or a source tree) with the engine's extra into it.

    A cancel is not a failure: the task then ends as completed with `cancelled` set (QGIS 3.22 has no other way to
    keep its task bar from saying "Task failed"), after removing what was half made.
    """

    line = pyqtSignal(str)  # a line of the log (our steps and pip's output)
    status = pyqtSignal(str)  # what is going on now, in a few words (progress of the current step)

    def __init__(
        self,
        target: Path | None = None,
        source: Path | None = None,
        base_python: str | None = None,
        engine: EngineChoice = CPU_ENGINE,
    ):
        super().__init__(f"Sargasses: installing the detection engine ({engine.title})", _task_flags())
        self.target = Path(target or installed_engine_dir())
        self.staging = self.target.with_name(f"{self.target.name}.new")  # built here, moved into place once it works
        self.had_engine = (self.target / ENGINE_MARKER).is_file()
        self.source = source or bundled_core()
        self.base_python = base_python
        self.engine = engine
        self.error = ""
        self.cancelled = False
        self.python = ""
        self.seconds = 0.0
        self._process: subprocess.Popen | None = None

    def cancel(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            _kill_tree(process)
        super().cancel()

    def run(self) -> bool:
        started = time.monotonic()
        try:
            self._install()
            self.seconds = time.monotonic() - started
            self._say(f"Done in {self.seconds:.0f} s: the detection engine is {self.python}")
            return True
        except Exception as exc:
            _remove_soon(self.staging)
            kept = f"the engine you had is kept ({self.target})" if self.had_engine else "nothing was installed"
            if self.isCanceled():
                self.cancelled = True
                self.error = "cancelled"
                self.setDescription(f"Sargasses: engine installation cancelled, {kept}")
                self._say(f"Cancelled: {kept} (the unfinished environment {self.staging} is removed)")
                return True
            self.error = str(exc)
            log_error(f"engine installation failed: {exc}")
            self._say(f"Failed: {self.error}. Removing the unfinished environment {self.staging}; {kept}")
            return False

    def outcome_text(self) -> str:
        """What the user has after the task, in one line for the dialog."""
        if self.cancelled:
            return "Cancelled: the engine you had is kept." if self.had_engine else "Cancelled: nothing was installed."
        return "Installed: the detection engine is ready."

    def _install(self) -> None:
        if self.source is None:
            raise InstallError("this plugin has no bundled core package to install (the zip is incomplete)")
        base = self.base_python or find_base_python()
        self._say(f"Python used to create the environment: {base}")
        if self.staging.exists():
            _remove_soon(self.staging)  # an earlier install that did not finish
        self.staging.parent.mkdir(parents=True, exist_ok=True)
        self._say(f"Creating the virtual environment {self.staging}")
        self._run([base, "-m", "venv", str(self.staging)], 0.0, 0.04)
        engine = self.engine
        self._say(
            f"Installing the {engine.title} ({engine.holds}): {Path(self.source).name}[{engine.extra}], {_sizes(engine)}"
        )
        self._run(self.pip_command(), 0.04, 0.97, pip=PipProgress(engine, folder_mb(self.staging)))
        self._say("Checking the new engine")
        version = self._check(str(venv_python(self.staging)))
        marker = {"version": version, "engine": engine.key, "source": str(self.source)}
        marker["created"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (self.staging / ENGINE_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        old = self._take_place()
        self.python = str(venv_python(self.target))
        try:
            self._check(self.python)  # it answers from its new place too
        except InstallError:
            _remove_soon(self.target)
            if old is not None:
                old.rename(self.target)
            raise
        if old is not None:
            _remove_soon(old)
        self.setProgress(100.0)
        log_info(f"detection engine installed: {self.python} (sargasses {version})")

    def pip_command(self) -> list[str]:
        """pip in the new environment, installing the core package with the engine's extra."""
        python = str(venv_python(self.staging))
        command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
        index = torch_cpu_index()
        if self.engine.cpu_torch and index:
            command += ["--extra-index-url", index]  # its torch "+cpu" builds outrank the plain ones
        return [*command, f"{self.source}[{self.engine.extra}]"]

    def _check(self, python: str) -> str:
        forget_checks()
        version, problem = check_python(python)
        if problem:
            raise InstallError(f"the new environment does not work: {problem}")
        return version

    def _take_place(self) -> Path | None:
        """The checked new engine takes the place of the one there; the old one's new name (None: there was none),
        removed once the new one answers from its place."""
        if self.isCanceled():
            raise InstallError("cancelled")
        old = None
        if self.target.exists():
            old = self.target.with_name(f"{self.target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            self.target.rename(old)
        try:
            self.staging.rename(self.target)
        except OSError:
            if old is not None:
                old.rename(self.target)
            raise
        self._say(f"The new engine is in place: {self.target}")
        return old

    def _run(self, command: list[str], start: float, end: float, pip: PipProgress | None = None) -> None:
        """Run a step, streaming its output; progress between `start` and `end` (pip: as PipProgress says)."""
        if self.isCanceled():
            raise InstallError("cancelled")
        self._say("$ " + " ".join(command))
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=engine_environment(),
            start_new_session=sys.platform != "win32",
        )

        def show(update: tuple[float, str] | None) -> None:
            if update is not None:
                self.setProgress(100.0 * (start + (end - start) * update[0]))
                self.status.emit(update[1])

        done = threading.Event()
        watcher = None
        if pip is not None:  # pip writes for minutes without a word: measure the environment as it grows

            def watch() -> None:
                while not done.wait(SIZE_POLL_S):
                    show(pip.written(folder_mb(self.staging)))

            watcher = threading.Thread(target=watch, name="sargasses-install-size", daemon=True)
            watcher.start()
        try:
            for raw in iter(self._process.stdout.readline, ""):
                if self.isCanceled():  # a cancel that came while the step was starting found no process to kill
                    _kill_tree(self._process)
                text = raw.rstrip()
                if text:
                    self.line.emit(text)
                if pip is not None:
                    show(pip.feed(text))
            code = self._process.wait()
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        self._process = None
        if self.isCanceled():
            raise InstallError("cancelled")
        if code != 0:
            raise InstallError(f"{Path(command[0]).name} {' '.join(command[1:3])} failed with exit code {code}")
        self.setProgress(100.0 * end)

    def _say(self, text: str) -> None:
        log_info(text)
        self.line.emit(text)
        self.status.emit(text)
