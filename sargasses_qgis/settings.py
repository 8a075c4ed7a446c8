"""The plugin's settings, kept in QGIS's settings under "sargasses/"."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsSettings

from .paths import default_results_dir

_PREFIX = "sargasses/"


def _get(key: str, default, kind=str):
    return QgsSettings().value(_PREFIX + key, default, type=kind)


def _set(key: str, value) -> None:
    QgsSettings().setValue(_PREFIX + key, value)


def engine_python() -> str:
    """The Python of the detection engine set by the user; "" when not set."""
    return str(_get("engine_python", "")).strip()


def set_engine_python(path: str) -> None:
    _set("engine_python", path.strip())


def torch_cpu_index() -> str:
    """The package index of PyTorch's CPU builds, for a full engine without a GPU; "" when not set."""
    return str(_get("torch_cpu_index", "")).strip()


def results_dir() -> Path:
    """Where runs write their layers; a persistent folder so saved projects keep their layers."""
    value = str(_get("results_dir", "")).strip()
    return Path(value) if value else default_results_dir()


def set_results_dir(path: str) -> None:
    _set("results_dir", path.strip())


def last_run_settings() -> dict:
    """What the dock showed last time, so a user does not set the same values twice."""
    return {
        "model_choice": str(_get("model_choice", "default")),
        "model_path": str(_get("model_path", "")),
        "threshold": float(_get("threshold", 0.0, float)),
        "min_area": float(_get("min_area", 0.0, float)),
        "device": str(_get("device", "auto")),
        "probabilities": bool(_get("probabilities", False, bool)),
        "coverage": bool(_get("coverage", False, bool)),
    }


def save_run_settings(values: dict) -> None:
    for key, value in values.items():
        _set(key, value)


def finetuned_models() -> list[str]:
    """Model files fine-tuned in this profile that still exist, newest first: the dock lists them."""
    paths = [p for p in str(_get("finetuned_models", "")).split("\n") if p.strip()]
    return [p for p in paths if Path(p).is_file()]


def add_finetuned_model(path: str) -> None:
    paths = [path, *[p for p in finetuned_models() if p != path]]
    _set("finetuned_models", "\n".join(paths[:20]))
