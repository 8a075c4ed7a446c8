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
# Sizes no real model comes near (the default model: a 3 kB card, 0.5 MB graph and weights; a UNet of 30 million
# weights would be 120 MB): a member that says it is larger, or inflates beyond it, is damaged or hostile (a 3 MB
# file whose card inflated to 2 GiB once took 20 s and 4.5 GB of memory before it was refused).
MAX_TEXT_BYTES = 1 << 20  # manifest.json, card.json
MAX_MEMBER_BYTES = 512 << 20  # model.onnx, weights.npz
READ_CHUNK = 1 << 20  # members are inflated this much at a time, the limit checked after each


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
            if graph_data is not None:
                check_self_contained(graph_data, path)
            weight_data = _member(path, archive, manifest, WEIGHTS) if weights else None
    except SargassesError:
        raise
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:  # a truncated or garbled zip
        raise _damaged(path, exc) from None
    if not isinstance(card, dict):
        raise SargassesError(f"{path}: its card is not a JSON object; export the model file again")
    return ModelArchive(path, manifest, card, graph_data, _arrays(path, weight_data) if weight_data else None)


# How ONNX writes a tensor's external data reference: a key/value entry (field 1, 8 bytes) "location", the file's
# path. A model file's graph holds all its weights: one naming a file outside it is hostile (it once pointed at
# ../../../../etc/passwd), and is refused before ONNX Runtime could open that file.
EXTERNAL_DATA_KEY = b"\x0a\x08location"


def check_self_contained(graph: bytes, what: str | os.PathLike) -> None:
    """Refuse an ONNX graph that points to data in other files (whatever backend runs the model)."""
    if EXTERNAL_DATA_KEY in graph:
        raise SargassesError(
            f"{what}: its ONNX graph points to data in other files (external data), which a model file never "
            "holds: it is refused unread; use a model file made by `sargasses export-model`"
        )


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
    """A member's bytes, its declared size checked against its limit before anything is inflated, and its
    inflated size after each chunk (the declared size is the file's word, not a fact)."""
    info = archive.getinfo(name)
    limit = MAX_TEXT_BYTES if name in (MANIFEST, CARD) else MAX_MEMBER_BYTES
    if info.file_size > limit:
        raise _too_large(path, name, info.file_size, limit)
    chunks, size = [], 0
    with archive.open(info) as member:
        while chunk := member.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(path, name, size, limit)
            chunks.append(chunk)
    return b"".join(chunks)


def _too_large(path: Path, name: str, size: int, limit: int) -> SargassesError:
    return SargassesError(
        f"{path}: its {name} is {size} bytes or more inflated, more than a model holds ({limit >> 20} MiB at most); "
        "the file is damaged or not a model: copy or export it again"
    )


def _member(path: Path, archive: zipfile.ZipFile, manifest: dict[str, Any], name: str) -> bytes:
    """A member's bytes, checked against the manifest's SHA-256."""
    data = _read(path, archive, name)
    if hashlib.sha256(data).hexdigest() != manifest["members"][name]:
        raise SargassesError(f"{path} is damaged: its {name} is not what its manifest says; copy or export it again")
    return data


def _arrays(path: Path, data: bytes) -> dict[str, np.ndarray]:
    """The .npz's arrays; object arrays (pickles) are refused by numpy itself, arrays larger than their bytes
    before numpy allocates them."""
    try:
        _check_array_sizes(path, data)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _damaged(path, exc) from None


def _check_array_sizes(path: Path, data: bytes) -> None:
    """The .npz is a zip too: its members' declared sizes add up to no more than a member holds, and each array's
    header (shape x item size) asks for no more than its member's bytes (numpy allocates the header's size)."""
    with zipfile.ZipFile(io.BytesIO(data)) as npz:
        infos = npz.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_MEMBER_BYTES:
            raise _too_large(path, WEIGHTS, total, MAX_MEMBER_BYTES)
        for info in infos:
            with npz.open(info) as member:
                header = np.lib.format.read_array_header_1_0
                if np.lib.format.read_magic(member) != (1, 0):
                    header = np.lib.format.read_array_header_2_0
                shape, _, dtype = header(member, max_header_size=10_000)
            if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
                raise SargassesError(
                    f"{path}: the weight array {info.filename} says it holds more than its bytes (shape {shape}); "
                    "the file is damaged: copy or export it again"
                )


def _damaged(path: Path, exc: BaseException) -> SargassesError:
    reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return SargassesError(
        f"{path} cannot be read as a sargasses model file ({reason}); it may be truncated or damaged: "
        "copy or export it again"
    )
