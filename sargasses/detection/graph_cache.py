"""The cache of exported ONNX graphs: one graph per model file, checked before every use.

Why checked: ONNX Runtime opens any graph with the right input name, so a graph that is not this model's (another
model's export copied over it, a file left by an older exporter, a damaged file that still parses) would give
wrong probabilities under this model's name, silently. Each graph has a JSON sidecar that ties it to the model
file's SHA-256, the cache format (`CACHE_VERSION`) and the exporter (torch's version), and holds the graph's own
SHA-256 and size; an entry is used only when all of them match, and is deleted (and rebuilt by the caller)
otherwise. See docs/detect.md ("The ONNX graph cache").
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

CACHE_VERSION = 3  # bump when onnx_bytes changes what it exports (3: entries carry a checked sidecar)


def cache_dir() -> Path:
    """Where derived files (ONNX graphs) are kept: $SARGASSES_CACHE_DIR, else the user's cache folder."""
    if os.environ.get("SARGASSES_CACHE_DIR"):
        return Path(os.environ["SARGASSES_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "sargasses" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "sargasses"


def exporter() -> str:
    """What made the graphs: torch's version, read without importing torch (CPU runs from the cache skip it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"torch {version('torch')}, opset 17"
    except PackageNotFoundError:
        return "no torch"


def entry_paths(digest: str) -> tuple[Path, Path]:
    """The graph and its sidecar for the model file whose SHA-256 is `digest`."""
    tool = hashlib.sha256(exporter().encode()).hexdigest()[:8]  # two torch versions sharing a cache keep apart
    stem = cache_dir() / "onnx" / f"{digest}-v{CACHE_VERSION}-{tool}"
    return stem.with_suffix(".onnx"), stem.with_suffix(".json")


def sidecar(digest: str, graph: bytes) -> dict[str, Any]:
    """What an entry must say to be used for the model `digest`."""
    return {
        "model_sha256": digest,
        "cache_version": CACHE_VERSION,
        "exporter": exporter(),
        "graph_sha256": hashlib.sha256(graph).hexdigest(),
        "graph_bytes": len(graph),
    }


def verified(digest: str) -> bytes | None:
    """The cached graph of model `digest` when its entry checks out in full, else None."""
    graph_path, sidecar_path = entry_paths(digest)
    try:
        said = json.loads(sidecar_path.read_text(encoding="utf-8"))
        graph = graph_path.read_bytes()
    except (OSError, ValueError):
        return None
    return graph if said == sidecar(digest, graph) else None


def lookup(digest: str) -> Path:
    """The graph's path when its entry checks out; otherwise the entry is deleted and the path returned has no
    file, so the caller exports the graph again (a path that cannot be deleted is never returned)."""
    graph_path, sidecar_path = entry_paths(digest)
    if not graph_path.exists() and not sidecar_path.exists():
        return graph_path
    if verified(digest) is not None:
        return graph_path
    try:
        for path in (graph_path, sidecar_path):
            path.unlink(missing_ok=True)
    except OSError:  # a cache we cannot clean: name a file that is not there, and store() will fail too
        return graph_path.with_name(f".absent-{uuid.uuid4().hex}.onnx")
    return graph_path


def store(digest: str, graph: bytes) -> Path | None:
    """Keep a graph and its sidecar for the next run (each written atomically; the sidecar last, so a graph is
    never described before it is whole). A cache that cannot be written is simply not used."""
    graph_path, sidecar_path = entry_paths(digest)
    try:
        graph_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(graph_path, graph)
        _write_atomic(sidecar_path, json.dumps(sidecar(digest, graph), indent=1).encode())
        return graph_path
    except OSError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    from sargasses.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
