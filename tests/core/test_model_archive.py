"""The model file format (sargasses.model_archive): a round trip, nothing unpickled, damage refused in one line,
and an old .pt file converted to the same probabilities."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from model_helpers import save_legacy_model_file, small_halfunet_card

from sargasses.errors import SargassesError
from sargasses.model_archive import MANIFEST, read_model_archive, write_model_archive
from sargasses.model_file import (
    build_network,
    convert_model_file,
    load_model_file,
    read_card,
    read_graph,
    save_model_file,
)

MARKER = Path("/tmp/sargasses_pwned_by_model_archive")


@pytest.fixture(scope="module")
def card():
    return small_halfunet_card()


@pytest.fixture(scope="module")
def model(tmp_path_factory, card) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("archive") / "m.sargasses"
    save_model_file(path, build_network(card).state_dict(), card)
    return path


def _probabilities(graph: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return session.run(None, {"reflectance": x})[0]


def test_round_trip_card_graph_and_weights(model, card):
    archive = read_model_archive(model, graph=True, weights=True)
    assert archive.card == card.to_dict() and archive.manifest["format_version"] == 2
    assert archive.exporter.startswith("torch ")
    torch.manual_seed(0)
    for name, tensor in build_network(card).state_dict().items():
        assert np.array_equal(archive.weights[name], tensor.numpy()), name
    # the stored graph gives what the torch module gives
    x = np.random.default_rng(1).uniform(0, 0.2, (2, 10, 64, 96)).astype(np.float32)
    with torch.no_grad():
        expected = load_model_file(model).module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_probabilities(archive.graph, x), expected, atol=2e-5)
    assert read_card(model).to_dict() == card.to_dict()
    graph_card, graph = read_graph(model)
    assert graph_card.to_dict() == card.to_dict() and graph == archive.graph


def test_members_are_json_onnx_and_plain_arrays(model):
    with zipfile.ZipFile(model) as archive:
        assert sorted(archive.namelist()) == ["card.json", "manifest.json", "model.onnx", "weights.npz"]
        json.loads(archive.read("card.json"))
        with np.load(io.BytesIO(archive.read("weights.npz")), allow_pickle=False) as npz:
            assert {npz[name].dtype.kind for name in npz.files} <= {"f", "i"}  # numbers only, never objects


class _RunsCode:
    """Unpickling this would call os.system."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def test_a_pickle_in_the_weights_never_runs(tmp_path, model):
    """A hostile file with correct digests: its weights hold an object array (a pickle). Refused, not run."""
    MARKER.unlink(missing_ok=True)
    good = read_model_archive(model, graph=True)
    hostile = {"w": np.array([_RunsCode()], dtype=object)}
    buffer = io.BytesIO()
    np.savez(buffer, **hostile)  # numpy pickles object arrays into the .npy
    assert b"system" in buffer.getvalue()
    evil = tmp_path / "evil.sargasses"
    write_model_archive(evil, good.card, good.graph, {}, "test")
    _replace_member(evil, "weights.npz", buffer.getvalue())
    with pytest.raises(SargassesError, match="cannot be read"):
        load_model_file(evil)
    with pytest.raises(SargassesError, match="cannot be read"):
        read_model_archive(evil, weights=True)
    assert not MARKER.exists()


def _replace_member(path: Path, name: str, data: bytes, fix_digest: bool = True) -> None:
    """Rewrite one member (and, unless told not to, its digest in the manifest, as an attacker would)."""
    import hashlib

    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = data
    if fix_digest:
        manifest = json.loads(members[MANIFEST])
        manifest["members"][name] = hashlib.sha256(data).hexdigest()
        members[MANIFEST] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


def test_damaged_truncated_garbage_and_foreign_files_get_one_clear_line(tmp_path, model):
    tampered = tmp_path / "tampered.sargasses"
    tampered.write_bytes(model.read_bytes())
    graph = read_model_archive(model).graph
    _replace_member(tampered, "model.onnx", graph[:-10] + b"0123456789", fix_digest=False)
    with pytest.raises(SargassesError, match=r"is damaged: its model.onnx is not what its manifest says"):
        read_graph(tampered)
    truncated = tmp_path / "truncated.sargasses"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    for reader in (read_card, read_graph, load_model_file):
        with pytest.raises(SargassesError, match="truncated or damaged"):
            reader(truncated)
    garbage = tmp_path / "garbage.sargasses"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(SargassesError, match="not a sargasses model file"):
        read_card(garbage)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(SargassesError, match="not a sargasses model file"):
        read_graph(foreign)
    newer = tmp_path / "newer.sargasses"
    newer.write_bytes(model.read_bytes())
    manifest = json.loads(zipfile.ZipFile(model).read(MANIFEST))
    manifest["format_version"] = 99
    _replace_member(newer, MANIFEST, json.dumps(manifest).encode(), fix_digest=False)
    with pytest.raises(SargassesError, match="upgrade sargasses"):
        read_card(newer)
    with pytest.raises(SargassesError, match="does not exist"):
        read_card(tmp_path / "absent.sargasses")


def test_an_old_pt_file_converts_to_the_same_probabilities(tmp_path, card):
    torch.manual_seed(3)
    state = build_network(card).state_dict()
    old = tmp_path / "old.pt"
    save_legacy_model_file(old, state, card)
    assert zipfile.is_zipfile(old) and "data.pkl" in " ".join(zipfile.ZipFile(old).namelist())  # torch.save
    new = convert_model_file(old, tmp_path / "new.sargasses")
    x = np.random.default_rng(2).uniform(0, 0.2, (1, 10, 64, 64)).astype(np.float32)
    old_card, old_graph = read_graph(old)  # torch is here: the old file's graph is made in memory
    new_card, new_graph = read_graph(new)
    assert new_card.to_dict() == old_card.to_dict() == card.to_dict()
    np.testing.assert_array_equal(_probabilities(new_graph, x), _probabilities(old_graph, x))
    with pytest.raises(SargassesError, match="exists"):
        convert_model_file(old, new)
