"""The ONNX graph cache is checked before use: a graph that is not the model's own (another model's export, a
damaged file, one without its sidecar or from another exporter) is rebuilt, never run.

The model is `bright_model`, whose probabilities are known exactly: sigmoid(200 (B07 - B04 - 0.05)). A foreign
graph is the export of `random_model`, and a changed weight keeps a valid graph: ONNX Runtime runs both just as
happily (same input, same output), so only the check can tell them from the model's own. Entries are found by listing the cache folder, so each test reads the same before
and after the check was added.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from detect_helpers import bright_model, plant, random_model, water, write_scene

from sargasses.detection import model_cache, onnx_export
from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    raft = np.zeros((64, 64), bool)
    raft[20:26, 30:40] = True
    return write_scene(tmp_path / "scene.tif", plant(water(64, 64, seed=5), [raft]))


@pytest.fixture
def exports(monkeypatch) -> list[str]:
    """Counts the graphs exported (a run from a good cache entry exports none)."""
    calls: list[str] = []
    real = onnx_export.onnx_bytes

    def counted(loaded, *args, **kwargs):
        calls.append(loaded.card.name)
        return real(loaded, *args, **kwargs)

    monkeypatch.setattr(onnx_export, "onnx_bytes", counted)
    return calls


def run(scene: Path, model: Path, cache: Path, out: Path, monkeypatch) -> np.ndarray:
    """One CPU run through ONNX Runtime with `cache` as the cache folder; its probabilities."""
    monkeypatch.setenv("SARGASSES_CACHE_DIR", str(cache))
    model_cache.clear_cache()  # the in-process scorer cache would hide the file cache
    out.mkdir(parents=True, exist_ok=True)
    options = DetectOptions(
        str(scene), str(out / "rafts.gpkg"), model=str(model), device="cpu", backend="onnx",
        probabilities=str(out / "p.tif"), overwrite=True,
    )  # fmt: skip
    summary = run_detection(options)
    assert summary["rafts"] == 1
    with rasterio.open(out / "p.tif") as src:
        return src.read(1)


def known(scene: Path) -> np.ndarray:
    """bright_model's probabilities, from its formula."""
    with rasterio.open(scene) as src:
        bands = src.read().astype(np.float64)
    return 1.0 / (1.0 + np.exp(-200.0 * (bands[5] - bands[2] - 0.05)))


def entry(cache: Path) -> dict[str, Path]:
    """The cache's one entry: its files by suffix (".onnx", and ".json" where there is a sidecar)."""
    files = [p for p in (cache / "onnx").iterdir() if not p.name.startswith(".")]
    assert len({p.suffix for p in files}) == len(files), files
    return {p.suffix: p for p in files}


@pytest.fixture
def cached(scene: Path, tmp_path: Path, exports: list[str], monkeypatch) -> dict[str, Path]:
    """bright_model's entry in tmp/cache (after one run) and random_model's in tmp/other; exports counted anew."""
    bright, other = bright_model(tmp_path / "bright.pt"), random_model(tmp_path / "random.pt", gain=1.0)
    p = run(scene, bright, tmp_path / "cache", tmp_path / "first", monkeypatch)
    np.testing.assert_allclose(p, known(scene), atol=1e-4)
    run(scene, other, tmp_path / "other", tmp_path / "foreign", monkeypatch)
    assert exports == ["test-bright", "test-random"]
    exports.clear()
    return {"bright": bright, "mine": entry(tmp_path / "cache")[".onnx"], "foreign": entry(tmp_path / "other")}


def test_a_good_entry_is_used_without_exporting_again(scene, tmp_path, cached, exports, monkeypatch):
    p = run(scene, cached["bright"], tmp_path / "cache", tmp_path / "again", monkeypatch)
    np.testing.assert_allclose(p, known(scene), atol=1e-4)
    assert exports == []


@pytest.mark.parametrize(
    "damage",
    [
        "another model's graph",
        "another model's graph and sidecar",
        "random bytes",
        "a changed weight",
        "a truncated graph",
        "no sidecar",
        "a sidecar from another exporter",
    ],
)
def test_a_graph_that_is_not_the_models_own_is_rebuilt(scene, tmp_path, cached, exports, monkeypatch, damage):
    mine, foreign = entry(tmp_path / "cache"), cached["foreign"]
    if damage.startswith("another model's graph"):
        mine[".onnx"].write_bytes(foreign[".onnx"].read_bytes())
        if "sidecar" in damage and ".json" in mine:
            mine[".json"].write_bytes(foreign[".json"].read_bytes())
    elif damage == "random bytes":
        mine[".onnx"].write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "a changed weight":  # still a valid graph, with another answer: only a hash can tell
        import onnx
        from onnx import numpy_helper

        graph = onnx.load_from_string(mine[".onnx"].read_bytes())
        weights = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))
        weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) * -1.0, weights.name))
        mine[".onnx"].write_bytes(graph.SerializeToString())
    elif damage == "a truncated graph":
        mine[".onnx"].write_bytes(mine[".onnx"].read_bytes()[:-200])
    elif damage == "no sidecar":
        assert ".json" in mine  # fails where there is no sidecar: nothing then ties the graph to its model
        mine[".json"].unlink()
    else:
        assert ".json" in mine
        said = json.loads(mine[".json"].read_text())
        mine[".json"].write_text(json.dumps({**said, "exporter": "torch 0.1, opset 9"}))

    p = run(scene, cached["bright"], tmp_path / "cache", tmp_path / "after", monkeypatch)
    np.testing.assert_allclose(p, known(scene), atol=1e-4)  # the foreign graph's answer differs by far more
    assert exports == ["test-bright"]
    exports.clear()  # the rebuilt entry is good again: the next run exports nothing
    p = run(scene, cached["bright"], tmp_path / "cache", tmp_path / "later", monkeypatch)
    np.testing.assert_allclose(p, known(scene), atol=1e-4)
    assert exports == []
