"""Loaded models and their prepared scorers, kept per process: the plugin's warm engine does not reload them.

Keyed by the model file's path, size and modification time and by the device; at most two models are kept."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sargasses.errors import SargassesError

_CACHE_LOCK = threading.RLock()
_CARDS: dict[tuple, Any] = {}  # (path, size, mtime_ns) -> ModelCard
_MODELS: dict[tuple, Any] = {}  # (path, size, mtime_ns) -> LoadedModel
_SCORERS: dict[tuple, Any] = {}  # (model key, device, backend) -> Scorer
_CACHE_MODELS = 2  # models kept loaded at once


def _model_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _evict(keep: tuple) -> None:
    """Forget all but the most recent models (and their scorers), so a long-lived engine does not grow."""
    recent = list(dict.fromkeys([*_CARDS, keep]))[-_CACHE_MODELS:]
    for table in (_CARDS, _MODELS):
        for key in [k for k in table if k not in recent]:
            table.pop(key)
    for key in [k for k in _SCORERS if k[0] not in recent]:
        _SCORERS.pop(key)


def model_card(path: Path) -> tuple[tuple, Any]:
    """The card of a model file (read without torch, but for an old .pt file), cached by path, size and mtime."""
    from sargasses.model_file import read_card

    if not path.exists():
        raise SargassesError(f"model file {path} does not exist; give --model a sargasses model file (.sargasses)")
    key = _model_key(path)
    with _CACHE_LOCK:
        if key not in _CARDS:
            _evict(key)
            _CARDS[key] = read_card(path)
        return key, _CARDS[key]


def cached_model(path: Path) -> tuple[tuple, Any]:
    """A loaded model file (torch), from the cache when the same file (path, size, mtime) was loaded before."""
    from sargasses.model_file import load_model_file

    key = _model_key(path)
    with _CACHE_LOCK:
        if key not in _MODELS:
            _evict(key)
            _MODELS[key] = load_model_file(path)
            _CARDS[key] = _MODELS[key].card
        return key, _MODELS[key]


def cached_scorer(path: Path, device: str, backend: str) -> Any:
    """The scorer for a model on a device: ONNX Runtime on CPU when `auto` (faster there), torch otherwise.

    ONNX Runtime runs the graph the model file holds, read without torch; an old-format (.pt) file's graph is
    exported from its weights, with torch, once per process.
    """
    from sargasses.detection.devices import choose_device
    from sargasses.detection.scorers import OnnxScorer, TorchScorer
    from sargasses.model_file import read_graph

    choice = choose_device(device)
    if backend == "onnx" and choice.kind != "cpu":
        raise SargassesError("--backend onnx runs on the CPU only; use --device cpu or --backend torch")
    if backend == "auto":
        backend = "onnx" if choice.kind == "cpu" else "torch"
    key, card = model_card(path)
    scorer_key = (key, choice.torch_device, backend)
    with _CACHE_LOCK:
        if scorer_key in _SCORERS:
            return _SCORERS[scorer_key]
        if backend == "onnx":
            scorer = OnnxScorer(card.band_names, read_graph(path)[1])
        else:
            _, loaded = cached_model(path)
            scorer = TorchScorer(loaded, choice)
        scorer.device = choice
        _SCORERS[scorer_key] = scorer
        return scorer


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CARDS.clear()
        _MODELS.clear()
        _SCORERS.clear()
