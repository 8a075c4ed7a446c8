"""The model file's container: a zip archive that the standard library and numpy read, with no code in it.

    manifest.json   {"format": "sargasses-model", "format_version": 2, "exporter": ..., "members": {name: sha256}}
    card.json       the model card (sargasses.model_file.ModelCard) as readable JSON
    model.onnx      the network as an ONNX graph: reflectance in, probabilities out (what detection runs on a CPU)
    weights.npz     the network's weights as plain arrays, to run it with torch (GPU) or train it further

Why this format: detection needs only ONNX Runtime and numpy, not torch (gigabytes), and opening a model file must
never run code: JSON, a graph and `np.load(allow_pickle=False)` arrays, nothing unpickled. Each member's SHA-256
is in the manifest and checked on reading, so a damaged or tampered file is refused with one line, never run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.errors import SargassesError

FORMAT = "sargasses-model"
FORMAT_VERSION = 2  # 1 was a torch.save pickle (.pt), read by sargasses.model_file when torch is installed
SUFFIX = ".sargasses"
MANIFEST, CARD, GRAPH, WEIGHTS = "manifest.json", "card.json", "model.onnx", "weights.npz"
MEMBERS = (CARD, GRAPH, WEIGHTS)
MAX_MEMBER_BYTES = 2 << 30  # no member of a real model comes near: a larger one is a damaged or hostile file


@dataclass
class ModelArchive:
    """What a model file holds; `graph` and `weights` are None when they were not asked for."""

    path: Path
    manifest: dict[str, Any]
    card: dict[str, Any]
    graph: bytes | None = None
    weights: dict[str, np.ndarray] | None = None

    @property
    def exporter(self) -> str:
        return str(self.manifest.get("exporter", ""))


def is_model_archive(path: str | os.PathLike) -> bool:
    """Whether `path` is a model file in this format (a zip with our manifest), without reading it through."""
    try:
        with zipfile.ZipFile(path) as archive:
            return MANIFEST in archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def weights_bytes(weights: dict[str, np.ndarray]) -> bytes:
    """The weights as an .npz (uncompressed: the zip around it compresses)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(array, order="C") for name, array in weights.items()})
    return buffer.getvalue()


def write_model_archive(
    path: str | os.PathLike, card: dict[str, Any], graph: bytes, weights: dict[str, np.ndarray], exporter: str
) -> Path:
    """Write a model file atomically (a temporary name beside `path`, then a rename)."""
    from sargasses.atomic import atomic_write, write_error

    contents = {
        CARD: (json.dumps(card, indent=2, allow_nan=False) + "\n").encode(),
        GRAPH: graph,
        WEIGHTS: weights_bytes(weights),
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exporter": exporter,
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name, data in {MANIFEST: (json.dumps(manifest, indent=2) + "\n").encode(), **contents}.items():
                # a fixed date: the same model gives the same bytes (its SHA-256 names it)
                member = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)

    try:
        return atomic_write(Path(path), write)
    except OSError as exc:  # a full disk: one line naming the model file, never zipfile's traceback
        raise write_error(path, exc) from None


def read_model_archive(path: str | os.PathLike, graph: bool = True, weights: bool = False) -> ModelArchive:
    """The manifest and card of a model file, and its graph and weights when asked; every member checked."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _manifest(path, archive)
            card = json.loads(_member(path, archive, manifest, CARD))
            graph_data = _member(path, archive, manifest, GRAPH) if graph else None
            weight_data = _member(path, archive, manifest, WEIGHTS) if weights else None
    except SargassesError:
        raise
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:  # a truncated or garbled zip
        raise _damaged(path, exc) from None
    if not isinstance(card, dict):
        raise SargassesError(f"{path}: its card is not a JSON object; export the model file again")
    return ModelArchive(path, manifest, card, graph_data, _arrays(path, weight_data) if weight_data else None)


def _manifest(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    if MANIFEST not in archive.namelist():
        raise SargassesError(
            f"{path} is not a sargasses model file (no {MANIFEST}); give a file made by `sargasses export-model`"
        )
    manifest = json.loads(_read(path, archive, MANIFEST))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SargassesError(f"{path} is not a sargasses model file (no '{FORMAT}' marker in its {MANIFEST})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SargassesError(
            f"{path} has model format version {version!r}, newer than this sargasses reads ({FORMAT_VERSION}); "
            "upgrade sargasses"
        )
    if not isinstance(manifest.get("members"), dict) or set(manifest["members"]) != set(MEMBERS):
        raise SargassesError(f"{path}: its {MANIFEST} does not list {', '.join(MEMBERS)}; export the model again")
    return manifest


def _read(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise SargassesError(f"{path}: {name} says it is {info.file_size} bytes, more than a model holds")
    return archive.read(info)


def _member(path: Path, archive: zipfile.ZipFile, manifest: dict[str, Any], name: str) -> bytes:
    """A member's bytes, checked against the manifest's SHA-256."""
    data = _read(path, archive, name)
    if hashlib.sha256(data).hexdigest() != manifest["members"][name]:
        raise SargassesError(f"{path} is damaged: its {name} is not what its manifest says; copy or export it again")
    return data


def _arrays(path: Path, data: bytes) -> dict[str, np.ndarray]:
    """The .npz's arrays; object arrays (pickles) are refused by numpy itself."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _damaged(path, exc) from None


def _damaged(path: Path, exc: BaseException) -> SargassesError:
    reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return SargassesError(
        f"{path} cannot be read as a sargasses model file ({reason}); it may be truncated or damaged: "
        "copy or export it again"
    )
