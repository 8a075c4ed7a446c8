"""Finding the detection engine's Python: plugin settings, then SARGASSES_PYTHON, then the one the plugin installed.

A candidate counts only if `python -m sargasses engine --version` answers with this plugin's protocol: a Python
without the core package, or with an old one, is reported with what to do, never used.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import settings
from .paths import ENGINE_MARKER, installed_engine_dir, venv_python

PROTOCOL_VERSION = 1
CHECK_TIMEOUT_S = 60.0
ENV_VAR = "SARGASSES_PYTHON"


@dataclass
class EngineCandidate:
    python: str
    source: str  # for people: where the path came from
    version: str = ""
    problem: str = ""  # empty when it works


@dataclass
class EngineLookup:
    engine: EngineCandidate | None
    tried: list[EngineCandidate] = field(default_factory=list)

    def explain(self) -> str:
        """Why no engine is usable, and what to do: for the message bar and the dock."""
        if self.engine is not None:
            return f"Detection engine: {self.engine.python} ({self.engine.source}, sargasses {self.engine.version})"
        lines = ["The detection engine is not set up."]
        lines += [f"{c.source}: {c.problem}" for c in self.tried]
        lines.append(
            'Click "Install detection engine" (Sargasses dock or Settings > Options > Sargasses), '
            f"or set the Python of an environment where sargasses is installed (or {ENV_VAR})."
        )
        return "\n".join(lines)


_cache: dict[tuple[str, float], tuple[str, str]] = {}
_cache_lock = threading.Lock()


def check_python(python: str) -> tuple[str, str]:
    """(version, problem): problem is "" when `python` runs an engine this plugin can talk to."""
    path = Path(python)
    if not path.exists():
        return "", f"{python} does not exist"
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as exc:
        return "", f"{python} cannot be read ({exc})"
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    result = _run_check(python)
    with _cache_lock:
        _cache[key] = result
    return result


def forget_checks() -> None:
    """After an install or a settings change: check again."""
    with _cache_lock:
        _cache.clear()


def _run_check(python: str) -> tuple[str, str]:
    try:
        done = subprocess.run(
            [python, "-m", "sargasses", "engine", "--version"],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env=engine_environment(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return "", f"{python} cannot be run ({exc})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return "", f"{python} has no usable sargasses package ({last})"
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "", f"{python} answered something else than a sargasses engine: {done.stdout[:200]!r}"
    if answer.get("protocol") != PROTOCOL_VERSION:
        return "", (
            f"{python} has sargasses {answer.get('version')} with engine protocol {answer.get('protocol')}, "
            f"this plugin speaks {PROTOCOL_VERSION}: update one of them (reinstall the engine)"
        )
    return str(answer.get("version", "")), ""


def engine_environment() -> dict[str, str]:
    """The environment for engine processes: QGIS's own Python settings must not leak into another Python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def installed_python() -> Path | None:
    """The Python of the environment the plugin installed, when the installer finished it."""
    venv = installed_engine_dir()
    python = venv_python(venv)
    return python if (venv / ENGINE_MARKER).is_file() and python.exists() else None


def candidates() -> list[EngineCandidate]:
    found = []
    if settings.engine_python():
        found.append(EngineCandidate(settings.engine_python(), "the plugin's settings"))
    if os.environ.get(ENV_VAR, "").strip():
        found.append(EngineCandidate(os.environ[ENV_VAR].strip(), f"the {ENV_VAR} environment variable"))
    installed = installed_python()
    if installed is not None:
        found.append(EngineCandidate(str(installed), "the engine the plugin installed"))
    return found


def find_engine() -> EngineLookup:
    """The first candidate that works. Runs a process per new candidate: call it off the main thread."""
    tried = []
    for candidate in candidates():
        candidate.version, candidate.problem = check_python(candidate.python)
        if not candidate.problem:
            return EngineLookup(candidate, tried)
        tried.append(candidate)
    if not tried:
        tried.append(
            EngineCandidate(
                "",
                "Nothing set",
                problem="no engine Python in the plugin's settings, "
                f"no {ENV_VAR}, and no engine installed in this QGIS profile",
            )
        )
    return EngineLookup(None, tried)
