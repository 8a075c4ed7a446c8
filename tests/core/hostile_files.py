"""Hostile model files, crafted for real (issue 21): zip bombs, an array header that lies, ONNX external data, NaN
weights.

Each is a `.sargasses` zip whose manifest hashes its members right, so only the size and content checks can refuse
it. Used by tests/core/test_fault_sweep.py, tests/core/test_inference.py, benchmarks/hostile_model_files.py and
tests/qgis/make_faulty_files.py (imported by path).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

CHUNK = 1 << 24


def _real_members() -> dict[str, bytes]:
    """The bundled default model's card, graph and weights, as bytes."""
    from sargasses.model_archive import CARD, GRAPH, WEIGHTS, read_model_archive, weights_bytes
    from sargasses.model_file import default_model_path

    real = read_model_archive(default_model_path(), graph=True, weights=True)
    return {CARD: json.dumps(real.card).encode(), GRAPH: real.graph or b"", WEIGHTS: weights_bytes(real.weights or {})}


def _write(path: Path, members: dict[str, bytes], hashes: dict[str, str] | None = None) -> Path:
    from sargasses.model_archive import MANIFEST

    digests = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()} | (hashes or {})
    manifest = {"format": "sargasses-model", "format_version": 2, "exporter": "hostile", "members": digests}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_bomb(path: Path, bomb_member: str, inflated: int) -> Path:
    """A model file whose `bomb_member` is `inflated` bytes of JSON whitespace then `{}` (deflate packs it
    ~1000:1), streamed so that writing it holds no more than a chunk."""
    from sargasses.model_archive import MANIFEST

    members = _real_members()
    digest = hashlib.sha256()
    blank = b" " * CHUNK
    whole, rest = divmod(inflated, CHUNK)
    for _ in range(whole):
        digest.update(blank)
    digest.update(blank[:rest] + b"{}")
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    hashes[bomb_member] = digest.hexdigest()
    manifest = {"format": "sargasses-model", "format_version": 2, "exporter": "bomb", "members": hashes}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            if name != bomb_member:
                archive.writestr(name, data)
                continue
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(whole):
                    member.write(blank)
                member.write(blank[:rest] + b"{}")
    return path


def write_lying_weights(path: Path) -> Path:
    """A model file whose weights.npz holds a 64-byte array whose header says (2**40,) float32: 4 TiB to allocate."""
    from sargasses.model_archive import WEIGHTS

    header = np.lib.format.header_data_from_array_1_0(np.zeros(16, np.float32)) | {"shape": (1 << 40,)}
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    npy.write(b"\0" * 64)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("huge.npy", npy.getvalue())
    return _write(path, {**_real_members(), WEIGHTS: npz.getvalue()})


def write_external_data(path: Path, location: str = "../../../../etc/passwd") -> Path:
    """A model file whose ONNX graph keeps its first weight in another file, `location` (needs the onnx package)."""
    import onnx

    from sargasses.model_archive import GRAPH

    members = _real_members()
    graph = onnx.load_from_string(members[GRAPH])
    tensor = graph.graph.initializer[0]
    tensor.ClearField("raw_data")
    del tensor.float_data[:]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(4 * int(np.prod(tensor.dims))))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return _write(path, {**members, GRAPH: graph.SerializeToString()})


def write_nan_model(path: Path, card) -> Path:
    """A model file whose graph and weights hold a NaN (its manifest hashes right, as a damaged export's would):
    written by hand, since save_model_file refuses NaN weights."""
    import torch

    from sargasses.detection.onnx_export import onnx_bytes
    from sargasses.model_archive import write_model_archive
    from sargasses.model_file import LoadedModel, build_network, probability_model

    network = build_network(card)
    with torch.no_grad():
        next(iter(network.parameters())).view(-1)[0] = float("nan")
    graph = onnx_bytes(LoadedModel(card=card, module=probability_model(card, network)))
    weights = {k: v.numpy() for k, v in network.state_dict().items()}
    write_model_archive(path, card.to_dict(), graph, weights, "test")
    return path
