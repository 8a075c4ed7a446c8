"""The model file: round trip, probabilities out, normalization inside, and refusal of unsafe or foreign files
(old .pt files included; the format itself: test_model_archive.py)."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from model_helpers import make_card, red_edge_weights, save_legacy_model_file, small_halfunet_card

from sargasses.errors import SargassesError
from sargasses.model_file import (
    ModelCard,
    build_network,
    default_model_path,
    load_model_file,
    read_model_file,
    save_model_file,
)


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return small_halfunet_card(metrics={"val_f1": 0.8}, trained_on="synthetic seeds 0-9")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, card) -> Path:
    torch.manual_seed(0)
    net = build_network(card)
    path = tmp_path_factory.mktemp("model") / "m.sargasses"
    save_model_file(path, net.state_dict(), card)
    return path


def test_round_trip_keeps_card_and_weights(model_path, card):
    loaded = load_model_file(model_path)
    assert loaded.card.to_dict() == card.to_dict()
    assert not loaded.module.training
    torch.manual_seed(0)
    ref = build_network(card)
    for name, tensor in ref.state_dict().items():
        assert torch.equal(loaded.module.network.state_dict()[name], tensor), name


def test_module_takes_reflectance_and_gives_probabilities_with_normalization_inside(model_path, card):
    loaded = load_model_file(model_path)
    torch.manual_seed(1)
    x = torch.rand(2, 10, 40, 56)  # not a multiple of 16: autopad inside mfai
    with torch.no_grad():
        y = loaded.module(x)
        mean = torch.tensor(card.normalization["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(card.normalization["std"]).view(1, -1, 1, 1)
        expected = torch.sigmoid(loaded.module.network((x - mean) / std))
    assert y.shape == (2, 1, 40, 56)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-6)


def test_lightning_style_prefixed_state_dict_is_accepted(tmp_path, card):
    net = build_network(card)
    prefixed = {f"model.{k}": v for k, v in net.state_dict().items()}
    save_model_file(tmp_path / "p.pt", prefixed, card)
    _, weights = read_model_file(tmp_path / "p.pt")
    assert set(weights) == set(net.state_dict())


def test_save_is_atomic_and_refuses_weights_that_do_not_fit(tmp_path, card):
    other = make_card("HalfUNet", {"num_filters": 4, "autopad_enabled": True}, tile_size=64, tile_overlap=8)
    with pytest.raises(SargassesError, match="do not fit"):
        save_model_file(tmp_path / "bad.pt", build_network(other).state_dict(), card)
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_unknown_architecture_and_settings_are_refused(card):
    data = card.to_dict()
    data["architecture"]["name"] = "os.system"
    with pytest.raises(SargassesError, match="does not build"):
        ModelCard.from_dict(data)
    data = card.to_dict()
    data["architecture"]["settings"]["nonsense"] = 3
    with pytest.raises(SargassesError, match="no settings nonsense"):
        ModelCard.from_dict(data)
    data = card.to_dict()
    data["normalization"]["std"][0] = 0.0
    with pytest.raises(SargassesError, match="std"):
        ModelCard.from_dict(data)
    data = card.to_dict()
    data["band_names"] = data["band_names"][:9]
    with pytest.raises(SargassesError, match="band"):
        ModelCard.from_dict(data)


class _RunsCode:
    """Pickling this makes a file that would call os.system on a plain pickle load."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/sargasses_pwned_by_model_file",))


def test_crafted_pickle_that_would_run_code_is_refused(tmp_path):
    marker = Path("/tmp/sargasses_pwned_by_model_file")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"  # an old-format file (torch.save), read by torch's weights-only loader
    torch.save({"format": "sargasses-model", "format_version": 1, "card": _RunsCode(), "state_dict": {}}, evil)
    with pytest.raises(SargassesError, match="not a sargasses model file or unsafe"):
        load_model_file(evil)
    raw = tmp_path / "evil.pkl"  # a plain pickle: not even opened as one
    raw.write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(SargassesError, match="not a sargasses model file"):
        load_model_file(raw)
    assert not marker.exists()


def test_corrupt_foreign_and_missing_files_get_clear_errors(tmp_path, model_path):
    truncated = tmp_path / "trunc.sargasses"
    truncated.write_bytes(model_path.read_bytes()[:300])
    with pytest.raises(SargassesError, match="truncated or damaged"):
        load_model_file(truncated)
    text = tmp_path / "notes.sargasses"
    text.write_text("hello, not a model\n")
    with pytest.raises(SargassesError, match="not a sargasses model file"):
        load_model_file(text)
    foreign = tmp_path / "plain_checkpoint.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, foreign)
    with pytest.raises(SargassesError, match="export-model"):
        load_model_file(foreign)
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("a.txt", "b")
    with pytest.raises(SargassesError, match="not a sargasses model file"):
        load_model_file(tmp_path / "x.zip")
    with pytest.raises(SargassesError, match="does not exist"):
        load_model_file(tmp_path / "absent.pt")


def test_an_old_pt_file_is_still_read_with_torch(tmp_path, model_path, card):
    card_read, weights = read_model_file(model_path)
    old = save_legacy_model_file(tmp_path / "old.pt", weights, card_read)
    loaded = load_model_file(old)
    assert loaded.card.to_dict() == card.to_dict()
    for name, tensor in weights.items():
        assert torch.equal(loaded.module.network.state_dict()[name], tensor), name
    payload = torch.load(old, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(SargassesError, match="format version 99"):
        load_model_file(tmp_path / "odd.pt")


def test_other_allowlisted_architectures_build_and_round_trip(tmp_path):
    for arch, settings in (("UNet", {"init_features": 4, "autopad_enabled": True}), ("Segformer", None)):
        if settings is None:
            settings = {
                "dims": [8, 16, 24, 32],
                "heads": [1, 1, 1, 1],
                "decoder_dim": 16,
                "num_downsampling_chans": 8,
                "autopad_enabled": True,
            }
        card = make_card(arch, settings, tile_size=64, tile_overlap=8)
        save_model_file(tmp_path / f"{arch}.pt", build_network(card).state_dict(), card)
        loaded = load_model_file(tmp_path / f"{arch}.pt")
        with torch.no_grad():
            y = loaded.module(torch.rand(1, 10, 64, 64))
        assert y.shape == (1, 1, 64, 64) and 0 <= float(y.min()) <= float(y.max()) <= 1


def test_default_model_path_honours_environment(tmp_path, model_path, monkeypatch):
    monkeypatch.setenv("SARGASSES_DEFAULT_MODEL", str(model_path))
    assert default_model_path() == model_path


def test_red_edge_weights_give_the_documented_answer(tmp_path):
    card = make_card(
        "HalfUNet",
        {"num_filters": 8, "bias": True, "autopad_enabled": True},
        mean=[0.02] * 10,
        std=[0.03] * 10,
        tile_size=64,
        tile_overlap=8,
    )
    save_model_file(tmp_path / "r.pt", red_edge_weights(card, gain=100.0, rise=0.04), card)
    module = load_model_file(tmp_path / "r.pt").module
    x = torch.rand(2, 10, 48, 80) * 0.2
    with torch.no_grad():
        y = module(x)
    expected = torch.sigmoid(100.0 * (torch.relu(x[:, 5:6] - x[:, 2:3]) - 0.04))
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)


def test_read_card_gives_the_same_card_and_refuses_what_load_refuses(tmp_path, model_path, card):
    from sargasses.model_file import read_card

    assert read_card(model_path).to_dict() == card.to_dict()
    evil = tmp_path / "evil.pt"
    torch.save({"format": "sargasses-model", "format_version": 1, "card": _RunsCode(), "state_dict": {}}, evil)
    with pytest.raises(SargassesError, match="not a sargasses model file or unsafe"):
        read_card(evil)
    truncated = tmp_path / "trunc.sargasses"
    truncated.write_bytes(model_path.read_bytes()[:300])
    with pytest.raises(SargassesError, match="truncated or damaged"):
        read_card(truncated)
