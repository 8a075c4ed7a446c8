"""Tiled inference: the grid covers the scene, blending leaves no seams, tiling does not change the answer."""

from __future__ import annotations

import itertools
import os
import threading
import time

import numpy as np
import pytest
import rasterio
import torch
from detect_helpers import CLOUD, LAND, TRANSFORM, constant_model, random_model, water, write_scene

from sargasses.detection import model_cache
from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.detection.scorers import Scorer
from sargasses.detection.tiled_loop import run_tiles
from sargasses.detection.tiling import blend_weights, tile_grid
from sargasses.errors import DetectionCancelled
from sargasses.model_file import load_model_file


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.crs


@pytest.mark.parametrize(("height", "width"), [(1, 1), (20, 300), (512, 512), (700, 1190), (1000, 513), (5490, 2048)])
@pytest.mark.parametrize(("tile", "overlap"), [(64, 16), (512, 64)])
def test_grid_covers_the_scene_with_tiles_inside_it(height, width, tile, overlap):
    grid = tile_grid(height, width, tile, overlap)
    covered = np.zeros((height, width), bool)
    for _, row, col, h, w in grid.tiles():
        assert h % 32 == 0 and w % 32 == 0 and h <= tile and w <= tile
        assert (row, col) >= (0, 0)
        assert row + h <= height or row == 0  # only a side shorter than a tile overhangs the scene
        assert col + w <= width or col == 0
        covered[row : row + h, col : col + w] = True
    assert covered.all()
    for spans, length in ((grid.rows, height), (grid.cols, width)):
        if len(spans) == 1:
            continue
        assert spans[-1][0] + spans[-1][1] == length  # the last tile ends at the edge
        seams = [start + size - after for (start, size), (after, _) in itertools.pairwise(spans)]
        assert min(seams) >= overlap  # every seam keeps the card's overlap
        assert len(spans) == -(-(length - overlap) // (tile - overlap)) or len(spans) == 2  # as few tiles as can be
        needed = length + (len(spans) - 1) * overlap
        assert sum(size for _, size in spans) - needed < 32  # each as small as multiples of 32 allow


def test_a_full_sentinel2_tile_computes_fewer_pixels_than_equal_tiles():
    """5490 px in 13 tiles: 480- and 512-px sides compute 6272 px per side, equal 512-px tiles 6656."""
    grid = tile_grid(5490, 5490, 512, 64)
    assert len(grid.rows) == 13 and {size for _, size in grid.rows} == {480, 512}
    assert sum(size for _, size in grid.cols) == 6272
    assert grid.shapes == [(512, 512), (512, 480), (480, 512), (480, 480)]


def test_blend_weights_are_positive_and_flat_inside():
    w = blend_weights(64, 96, 16)
    assert w.min() > 0 and w.max() == 1.0
    assert (w[16:-16, 16:-16] == 1.0).all()
    assert np.allclose(w, w[::-1, ::-1])


@pytest.fixture(scope="module")
def scene_with_nodata(tmp_path_factory):
    """300 x 200 water with a nodata corner and a nodata stripe, so several tiles are all nodata."""
    folder = tmp_path_factory.mktemp("inference")
    sea = water(200, 300, seed=1)
    sea[:, :70, :100] = np.nan
    sea[:, 150:, :] = np.nan
    return write_scene(folder / "scene.tif", sea), folder


CONSTANT_LOGIT = 1.3


def detect_with_constant_model(scene, tmp_path, backend="auto"):
    """A detection whose model says sigmoid(CONSTANT_LOGIT) everywhere, on 64-px tiles: (summary, probabilities)."""
    model = constant_model(tmp_path / "constant.sargasses", logit=CONSTANT_LOGIT, tile_size=64, overlap=16)
    summary = run_detection(
        DetectOptions(
            str(scene),
            str(tmp_path / "out.gpkg"),
            model=str(model),
            probabilities=str(tmp_path / "p.tif"),
            device="cpu",
            backend=backend,
        )
    )
    return summary, read(tmp_path / "p.tif")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_constant_model_gives_a_constant_raster_across_tile_borders(scene_with_nodata, tmp_path, backend):
    scene, _ = scene_with_nodata
    summary, (prob, transform, crs) = detect_with_constant_model(scene, tmp_path, backend)
    nodata = np.isnan(water(200, 300)[0])  # no NaN there; the planted nodata follows
    nodata[:70, :100] = True
    nodata[150:, :] = True
    assert np.array_equal(np.isnan(prob), nodata)
    expected = 1.0 / (1.0 + np.exp(-CONSTANT_LOGIT))
    assert np.abs(prob[~nodata] - expected).max() < 1e-6
    assert transform == TRANSFORM and crs.to_epsg() == 32620
    assert summary["tiles"]["skipped_nodata"] > 0 and summary["tiles"]["run"] < summary["tiles"]["total"]
    timing = summary["timing"]  # where the time went: every stage measured, none longer than the run
    assert set(timing) == {"read_s", "model_s", "waiting_for_reads_s", "polygons_s", "coverage_s", "write_s"}
    assert all(0 <= v <= summary["time_s"] for v in timing.values())


def test_tiles_of_land_only_are_not_run_and_not_scored(tmp_path):
    """Land covers the left 120 columns: tiles inside it skip the model; land and cloud are NaN in the raster."""
    sea = water(128, 320, seed=3)
    sea[:, :, :120] = LAND[:, None, None]
    sea[:, 100:, 200:230] = CLOUD[:, None, None]
    scene = write_scene(tmp_path / "coast.tif", sea)
    summary, (prob, _, _) = detect_with_constant_model(scene, tmp_path)
    not_water = np.zeros(prob.shape, bool)
    not_water[:, :120] = True
    not_water[100:, 200:230] = True
    assert np.array_equal(np.isnan(prob), not_water)
    assert np.abs(prob[~not_water] - 1.0 / (1.0 + np.exp(-CONSTANT_LOGIT))).max() < 1e-6
    tiles = summary["tiles"]
    land_only = sum(1 for _, _, col, _, w in tile_grid(128, 320, 64, 16).tiles() if col + w <= 120)
    assert land_only > 0 and tiles["skipped_no_water"] == land_only
    assert tiles["run"] == tiles["total"] - land_only
    assert summary["pixels"]["land"] == 128 * 120 and summary["pixels"]["cloud"] == 28 * 30


@pytest.fixture(scope="module")
def random_scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("random_scene")
    rng = np.random.default_rng(5)
    sea = water(256, 256, seed=2, noise=0.003)
    sea[:, rng.random((256, 256)) > 0.98] += 0.05  # texture for the network to react to
    return write_scene(folder / "scene.tif", sea.astype(np.float32)), folder


def probabilities(scene, folder, model, tile_size, name, backend="torch"):
    out = folder / f"{name}.tif"
    run_detection(
        DetectOptions(
            str(scene),
            str(folder / f"{name}.gpkg"),
            model=str(model),
            probabilities=str(out),
            tile_size=tile_size,
            device="cpu",
            backend=backend,
            overwrite=True,
        )
    )
    return read(out)[0]


def test_results_agree_across_tile_sizes_and_with_whole_image(random_scene, tmp_path):
    scene, _ = random_scene
    model = random_model(tmp_path / "random.sargasses", tile_size=128, overlap=32)
    with rasterio.open(scene) as ds:
        image = torch.from_numpy(ds.read())[None]
    with torch.no_grad():
        whole = load_model_file(model).module(image)[0, 0].numpy()
    results = {t: probabilities(scene, tmp_path, model, t, f"t{t}") for t in (64, 128, 256)}
    assert np.abs(results[256] - whole).max() < 1e-5  # one tile: the whole image
    for tile in (64, 128):
        diff = np.abs(results[tile] - whole)
        # a tile sees less context than the whole image near its borders; blending keeps that small
        assert diff.mean() < 0.01, (tile, diff.mean())
        assert np.percentile(diff, 99) < 0.05, (tile, np.percentile(diff, 99))


def test_torch_and_onnx_runtime_agree(random_scene, tmp_path):
    scene, _ = random_scene
    model = random_model(tmp_path / "random.sargasses", tile_size=64, overlap=16, seed=3)
    eager = probabilities(scene, tmp_path, model, 64, "torch", backend="torch")
    onnx = probabilities(scene, tmp_path, model, 64, "onnx", backend="onnx")
    assert np.abs(eager - onnx).max() < 1e-4


def test_a_raster_smaller_than_a_tile_works(tmp_path):
    scene = write_scene(tmp_path / "small.tif", water(20, 37))
    model = constant_model(tmp_path / "c.sargasses", logit=-0.5, tile_size=512, overlap=64)
    summary = run_detection(
        DetectOptions(str(scene), str(tmp_path / "o.geojson"), model=str(model), probabilities=str(tmp_path / "p.tif"))
    )
    prob, transform, _ = read(tmp_path / "p.tif")
    assert prob.shape == (20, 37) and transform == TRANSFORM
    assert np.allclose(prob, 1 / (1 + np.exp(0.5)), atol=1e-6)
    assert summary["tiles"]["total"] == 1 and summary["tiles"]["size"] == [32, 64]


def test_extent_crops_and_keeps_georeferencing(random_scene, tmp_path):
    scene, _ = random_scene
    model = constant_model(tmp_path / "c.sargasses", logit=0.0, tile_size=64, overlap=16)
    x0, y0 = TRANSFORM @ (40, 100)  # pixel (col 40, row 100) -> its upper-left corner
    x1, y1 = TRANSFORM @ (140, 130)
    run_detection(
        DetectOptions(
            str(scene),
            str(tmp_path / "o.gpkg"),
            model=str(model),
            probabilities=str(tmp_path / "p.tif"),
            extent=(x0, y1, x1, y0),
        )
    )
    prob, transform, _ = read(tmp_path / "p.tif")
    assert prob.shape == (30, 100)
    assert transform == TRANSFORM @ TRANSFORM.translation(40, 100)


def test_cancel_stops_and_leaves_nothing(random_scene, tmp_path):
    scene, _ = random_scene
    model = random_model(tmp_path / "random.sargasses", tile_size=64, overlap=16)
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()

    def progress(fraction, message):
        if message.startswith("tile"):
            cancel.set()

    with pytest.raises(DetectionCancelled):
        run_detection(
            DetectOptions(
                str(scene),
                str(out / "rafts.shp"),
                model=str(model),
                probabilities=str(out / "p.tif"),
                quicklook=str(out / "q.png"),
                batch_size=1,
            ),
            progress=progress,
            cancel=cancel,
        )
    assert list(out.iterdir()) == []


def test_a_second_run_reuses_the_loaded_model(random_scene, tmp_path, monkeypatch):
    import sargasses.model_file as model_file

    scene, _ = random_scene
    model = random_model(tmp_path / "random.sargasses", tile_size=64, overlap=16)
    model_cache.clear_cache()
    calls = []
    real = model_file.load_model_file

    def counting(path, device="cpu"):
        calls.append(path)
        return real(path, device)

    monkeypatch.setattr(model_file, "load_model_file", counting)
    options = DetectOptions(str(scene), str(tmp_path / "o.gpkg"), model=str(model), overwrite=True, backend="torch")
    run_detection(options)
    run_detection(options)
    assert len(calls) == 1
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))  # the file may have changed
    run_detection(options)
    assert len(calls) == 2


def test_one_onnx_graph_serves_every_tile_shape(tmp_path):
    """The ONNX graph is traced once on a small sample; it must match torch at every multiple-of-32 shape."""
    from sargasses.detection.devices import DeviceChoice
    from sargasses.detection.onnx_export import onnx_bytes
    from sargasses.detection.scorers import OnnxScorer, TorchScorer

    loaded = load_model_file(random_model(tmp_path / "r.sargasses", tile_size=512, overlap=64, filters=8))
    onnx = OnnxScorer(loaded.card.band_names, onnx_bytes(loaded))
    eager = TorchScorer(loaded, DeviceChoice("cpu", "CPU"))
    rng = np.random.default_rng(0)
    for shape in ((1, 10, 32, 64), (2, 10, 96, 160), (1, 10, 512, 512)):
        batch = (rng.random(shape) * 0.1).astype(np.float32)
        batch[:, :, :5, :7] = 0.0  # nodata, as run_tiles feeds it to every scorer
        excluded = np.zeros((shape[0], *shape[2:]), bool)
        assert np.abs(onnx.score(batch, excluded) - eager.score(batch, excluded)).max() < 1e-4


def test_exclusion_mask_on_reference_spectra():
    """Water and Sargassum (dense, sparse) stay; land, cloud and nodata go (MARIDA class means)."""
    from sargasses.reading.masking import exclusion_layers, exclusion_mask
    from sargasses.reading.sensors import DEFAULT_BANDS

    spectra = {
        "water": [0.034, 0.024, 0.017, 0.014, 0.014, 0.015, 0.013, 0.014, 0.009, 0.007],
        "dense_sargassum": [0.041, 0.049, 0.045, 0.095, 0.118, 0.141, 0.133, 0.137, 0.016, 0.010],
        "foam": [0.16, 0.16, 0.153, 0.119, 0.104, 0.114, 0.114, 0.106, 0.033, 0.017],
        "turbid": [0.10, 0.13, 0.136, 0.124, 0.097, 0.109, 0.086, 0.086, 0.010, 0.006],
        "vegetation": [0.03, 0.06, 0.04, 0.10, 0.25, 0.30, 0.32, 0.33, 0.20, 0.10],
        "bare_soil": [0.08, 0.11, 0.14, 0.16, 0.18, 0.19, 0.20, 0.21, 0.30, 0.25],
        "cloud": [0.35, 0.34, 0.33, 0.33, 0.34, 0.35, 0.35, 0.35, 0.25, 0.18],
    }
    names = list(spectra)
    stack = np.array([spectra[n] for n in names], np.float32).T[:, None, :]  # (10, 1, classes)
    stack = np.concatenate([stack, np.full((10, 1, 1), np.nan, np.float32)], axis=2)  # + a nodata pixel
    layers = exclusion_layers(stack, DEFAULT_BANDS)
    kept = dict(zip([*names, "nodata"], ~exclusion_mask(stack, DEFAULT_BANDS)[0], strict=True))
    assert kept["water"] and kept["dense_sargassum"] and kept["foam"] and kept["turbid"]
    assert not kept["vegetation"] and not kept["bare_soil"] and not kept["cloud"] and not kept["nodata"]
    assert layers.land[0, names.index("vegetation")] and layers.cloud[0, names.index("cloud")]
    assert layers.nodata[0, -1] and not layers.land[0, -1]


class _SlowBand0Scorer(Scorer):
    """Scores each pixel with its first band, after a random pause: batches finish out of order."""

    def __init__(self, band_names, parallel):
        self.band_names, self.parallel = list(band_names), parallel
        self.rng = np.random.default_rng(0)
        self.lock = threading.Lock()
        self.running = self.most_at_once = 0

    def score(self, batch, excluded):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            pause = self.rng.uniform(0, 0.02)
        time.sleep(pause)
        with self.lock:
            self.running -= 1
        return batch[:, 0].copy()


@pytest.mark.parametrize(("parallel", "batch_size"), [(1, 1), (3, 1), (2, 3)])
def test_tiles_scored_at_once_are_placed_where_they_belong(parallel, batch_size):
    """A score that is a pixel's own value blends back to exactly that value, whatever order tiles finish in,
    with tiles of two heights (96 and 64 px) and batches that hold one shape each."""
    names = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    rng = np.random.default_rng(1)
    image = (0.01 + 0.02 * rng.random((len(names), 300, 410))).astype(np.float32)
    grid = tile_grid(300, 410, 96, 16)
    assert grid.shapes == [(96, 96), (64, 96)]
    scorer = _SlowBand0Scorer(names, parallel)
    read = lambda r, c, h, w: image[:, r : r + h, c : c + w].copy()  # noqa: E731
    strips = list(run_tiles(grid, read, scorer, batch_size=batch_size))
    result = np.concatenate([s.score for s in strips])
    assert [s.row for s in strips] == sorted(s.row for s in strips)
    assert result.shape == (300, 410)
    np.testing.assert_allclose(result, image[0], rtol=1e-5)
    assert scorer.most_at_once == parallel


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_model_that_gives_nan_is_an_error_never_zero_rafts(scene_with_nodata, tmp_path, backend):
    from detect_helpers import make_card
    from hostile_files import write_nan_model

    from sargasses.errors import SargassesError

    scene, _ = scene_with_nodata
    model = tmp_path / "nan.sargasses"
    write_nan_model(model, make_card(tile_size=64, tile_overlap=16))
    options = DetectOptions(
        str(scene), str(tmp_path / "out.gpkg"), model=str(model), probabilities=str(tmp_path / "p.tif"), device="cpu"
    )
    options.backend = backend
    # torch refuses the NaN weight as it loads them; ONNX Runtime runs the graph and its NaN output is refused
    with pytest.raises(SargassesError, match="NaN"):
        run_detection(options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.sargasses"]  # nothing written, nothing half-written
