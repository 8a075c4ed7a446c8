"""Where the plugin's files are: in the installed plugin (zip layout) or in the source tree (`make qgis`).

Zip layout: sargasses_qgis/{metadata.txt, icon.png, resources/, core/sargasses-*.whl, ...}.
Source tree: sargasses_qgis/ beside resources/, pyproject.toml and sargasses/.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from qgis.core import QgsApplication

PLUGIN_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_NAME = "default_model.sargasses"
ENGINE_MARKER = ".sargasses-engine.json"  # written last by the installer: the environment is complete


def _source_tree() -> Path | None:
    root = PLUGIN_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "sargasses" / "__init__.py").is_file():
        return root
    return None


def resources_dir() -> Path:
    inside = PLUGIN_DIR / "resources"
    if inside.is_dir():
        return inside
    return PLUGIN_DIR.parent / "resources"


def resource(name: str) -> Path:
    return resources_dir() / name


def icon_path() -> str:
    for candidate in (PLUGIN_DIR / "icon.png", resource("icon.png"), resource("icon.svg")):
        if candidate.is_file():
            return str(candidate)
    return ""


def bundled_model() -> Path | None:
    """The default model the plugin ships, or None (a source tree before training: the engine says so)."""
    path = resource(DEFAULT_MODEL_NAME)
    return path if path.is_file() else None


def bundled_core() -> Path | None:
    """What the installer gives pip: the wheel the zip bundles, else the source tree."""
    wheels = sorted((PLUGIN_DIR / "core").glob("sargasses-*.whl"))
    if wheels:
        return wheels[-1]
    return _source_tree()


def profile_dir() -> Path:
    """This QGIS profile's folder: the installed engine and the default results folder live there."""
    return Path(QgsApplication.qgisSettingsDirPath())


def installed_engine_dir() -> Path:
    return profile_dir() / "sargasses" / "engine"


def default_results_dir() -> Path:
    return profile_dir() / "sargasses" / "runs"


def venv_python(venv: Path) -> Path:
    windows = venv / "Scripts" / "python.exe"
    return windows if windows.exists() else venv / "bin" / "python"


def new_run_folder(parent: Path, label: str, stamp: dt.datetime, fallback: str) -> Path:
    """A run folder named by its start `stamp` and `label` (made safe for a file name; `fallback` when nothing of
    it is), that no other run uses (two runs may start within the same second)."""
    slug = re.sub(r"[^0-9A-Za-z_-]+", "_", label).strip("_")[:40] or fallback
    name = f"{stamp:%Y%m%d_%H%M%S}_{slug}"
    candidate, n = parent / name, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{name}_{n}"
    candidate.mkdir(parents=True)
    return candidate
