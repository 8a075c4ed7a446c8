"""Installing the detection engine: a new virtual environment in the QGIS profile, the bundled core package in it.

Never touches QGIS's own Python: the environment is created by another Python >= 3.10 (found on PATH, else the
system's python3) without --system-site-packages, and pip runs inside it. Runs as a QgsTask: progress in the task
bar, pip's output line by line for the dialog, Cancel kills pip and removes the half-made environment.
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
from pathlib import Path

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .engine_finder import check_python, engine_environment, forget_checks
from .log import log_error, log_info
from .paths import ENGINE_MARKER, bundled_core, installed_engine_dir, venv_python

MIN_PYTHON = (3, 10)
EXPECTED_PACKAGES = 90  # about how many distributions pip collects for the core package: for the progress bar
_PYTHON_NAMES = ("python3.13", "python3.12", "python3.11", "python3.10", "python3", "python")
_PROBE = "import sys, venv, ensurepip; print(sys.version_info[0], sys.version_info[1], sys.prefix != sys.base_prefix)"


class InstallError(Exception):
    pass


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


class EngineInstallTask(QgsTask):
    """Create `target` (a venv) and pip-install `source` (a wheel or a source tree) into it."""

    line = pyqtSignal(str)  # a line of the log (our steps and pip's output)

    def __init__(self, target: Path | None = None, source: Path | None = None, base_python: str | None = None):
        super().__init__("Sargasses: installing the detection engine", QgsTask.Flag.CanCancel)
        self.target = Path(target or installed_engine_dir())
        self.source = source or bundled_core()
        self.base_python = base_python
        self.error = ""
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
            self.error = "cancelled" if self.isCanceled() else str(exc)
            if not self.isCanceled():
                log_error(f"engine installation failed: {exc}")
            self._say(f"Failed: {self.error}. Removing the unfinished environment {self.target}")
            _remove_soon(self.target)
            return False

    def _install(self) -> None:
        if self.source is None:
            raise InstallError("this plugin has no bundled core package to install (the zip is incomplete)")
        base = self.base_python or find_base_python()
        self._say(f"Python used to create the environment: {base}")
        if self.target.exists():
            self._say(f"Removing the previous engine {self.target}")
            shutil.rmtree(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._say(f"Creating the virtual environment {self.target}")
        self._run([base, "-m", "venv", str(self.target)], 0.0, 0.04)
        python = str(venv_python(self.target))
        self._say(f"Installing {Path(self.source).name} and its dependencies (torch, Lightning, mfai, rasterio, ...)")
        self._run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", str(self.source)],
            0.04,
            0.95,
            pip=True,
        )
        self._say("Checking the new engine")
        forget_checks()
        version, problem = check_python(python)
        if problem:
            raise InstallError(f"the new environment does not work: {problem}")
        marker = {"version": version, "source": str(self.source), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        (self.target / ENGINE_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        self.python = python
        self.setProgress(100.0)
        log_info(f"detection engine installed: {python} (sargasses {version})")

    def _run(self, command: list[str], start: float, end: float, pip: bool = False) -> None:
        """Run a step, streaming its output; progress between `start` and `end` (pip: by packages collected)."""
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
        collected = 0
        for raw in iter(self._process.stdout.readline, ""):
            if self.isCanceled():  # a cancel that came while the step was starting found no process to kill
                _kill_tree(self._process)
            text = raw.rstrip()
            if text:
                self.line.emit(text)
            if pip:
                if re.match(r"^(Collecting|Requirement already satisfied)", text):
                    collected += 1
                    share = 0.6 * min(1.0, collected / EXPECTED_PACKAGES)
                elif text.startswith("Installing collected packages"):
                    share = 0.7
                elif text.startswith("Successfully installed"):
                    share = 1.0
                else:
                    continue
                self.setProgress(100.0 * (start + (end - start) * share))
        code = self._process.wait()
        self._process = None
        if self.isCanceled():
            raise InstallError("cancelled")
        if code != 0:
            raise InstallError(f"{Path(command[0]).name} {' '.join(command[1:3])} failed with exit code {code}")
        self.setProgress(100.0 * end)

    def _say(self, text: str) -> None:
        log_info(text)
        self.line.emit(text)
