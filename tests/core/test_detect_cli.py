"""`sargasses detect` end to end: planted rafts found, true areas, readable outputs, and every bad input refused.

Scenes are hand-made: water from the reference spectra with dense-Sargassum rafts of known pixels planted in it.
The model is `bright_model` (detect_helpers), a HalfUNet whose weights are set by hand to call a pixel Sargassum
when its red edge rises, so what it must find is known exactly; the trained default model is tested on a synthetic
scene when it is bundled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
from detect_helpers import (
    LAND,
    TRANSFORM,
    assert_summary_shape,
    bright_model,
    plant,
    planted_rafts,
    random_model,
    water,
    write_scene,
)
from rasterio.features import rasterize

from sargasses.detection.cli import main
from sargasses.evaluation.metrics import label_from_cover, object_counts

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """300 x 300 water, six planted rafts, a land block (bright red edge too: must be masked out)."""
    folder = tmp_path_factory.mktemp("planted")
    rafts = planted_rafts(300, 300)
    sea = plant(water(300, 300, seed=4, noise=0.0005), rafts)
    land = np.zeros((300, 300), bool)
    land[250:300, 0:60] = True
    sea = plant(sea, [land], LAND)
    scene = write_scene(folder / "scene.tif", sea)
    model = bright_model(folder / "bright.sargasses", tile_size=128, overlap=32)
    return {"scene": scene, "model": model, "rafts": rafts, "land": land, "folder": folder}


def detect(*args: str) -> int:
    return main([str(a) for a in args])


def rafts_mask(frame, shape=(300, 300)) -> np.ndarray:
    if len(frame) == 0:
        return np.zeros(shape, bool)
    burned = rasterize(((g, 1) for g in frame.geometry), out_shape=shape, transform=TRANSFORM, dtype="uint8")
    return burned.astype(bool)


def match_planted(frame, rafts) -> None:
    """Each planted raft is exactly one output raft, with its pixels' area in true metres."""
    assert len(frame) == len(rafts)
    for raft in rafts:
        hits = [g for g in frame.geometry if g.intersects(shapely.box(*_box(raft)))]
        assert len(hits) == 1
        (row,) = frame[frame.geometry.apply(lambda g, h=hits[0]: g.equals(h))].itertuples()
        assert row.geometry.area == pytest.approx(raft.sum() * 400.0)  # the mask's pixels, in the CRS
        assert row.area_m2 == pytest.approx(raft.sum() * 400.0, rel=2e-3)  # on the ellipsoid (UTM scale)


def _box(mask):
    rows, cols = np.nonzero(mask)
    x0, y0 = TRANSFORM @ (cols.min() + 0.5, rows.max() + 0.5)
    x1, y1 = TRANSFORM @ (cols.max() + 0.5, rows.min() + 0.5)
    return x0, y0, x1, y1


def test_model_finds_planted_rafts_with_their_areas_and_attributes(planted, tmp_path, capsys):
    out = tmp_path / "rafts.shp"
    rc = detect(
        planted["scene"],
        "-o",
        out,
        "--model",
        planted["model"],
        "--probabilities",
        tmp_path / "p.tif",
        "--quicklook",
        tmp_path / "q.png",
        "-q",
    )
    assert rc == 0
    assert "rafts found        6" in capsys.readouterr().out
    frame = gpd.read_file(out)
    match_planted(frame, planted["rafts"])
    assert not (rafts_mask(frame) & planted["land"]).any()  # the land block was masked
    assert set(frame["model"]) == {"test-bright"} and set(frame["acq_date"]) == {"2024-05-17"}
    assert set(frame["product"]) == {"TEST_PRODUCT"} and set(frame["sensor"]) == {"sentinel2_l2a"}
    assert (frame["prob_mean"] > 0.99).all() and (frame["prob_max"] <= 1.0).all()
    assert frame["lon"].between(-62.1, -62.0).all() and frame["lat"].between(15.3, 15.4).all()
    filament = frame.loc[frame["area_m2"].sub(80 * 2 * 400).abs().idxmin()]
    assert filament["length_m"] == pytest.approx(80 * 20, rel=0.01)
    # probabilities keep the input's grid; the quicklook is a PNG
    with rasterio.open(planted["scene"]) as src, rasterio.open(tmp_path / "p.tif") as prob:
        assert prob.crs == src.crs and prob.transform == src.transform and prob.shape == src.shape
        assert prob.profile["tiled"] and prob.compression is not None
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "rafts.summary.json").read_text())
    assert_summary_shape(summary)  # sargasses.outputs.summary.RunSummary, as documented
    assert summary["rafts"] == 6
    assert summary["total_area_km2"] == pytest.approx(frame["area_m2"].sum() / 1e6, rel=1e-4)
    water_km2 = (300 * 300 - planted["land"].sum()) * 400 / 1e6
    assert summary["water_area_km2"] == pytest.approx(water_km2, rel=3e-3)
    assert summary["water_share_covered"] == pytest.approx(summary["total_area_km2"] / water_km2, rel=3e-3)
    from sargasses.detection.devices import choose_device

    assert summary["device"] == choose_device("auto").kind and summary["time_s"] > 0  # "cpu", or a GPU where one is


def test_shapefile_reads_back_in_gdal_and_geopandas(planted, tmp_path):
    out = tmp_path / "rafts.shp"
    assert detect(planted["scene"], "-o", out, "--model", planted["model"], "-q") == 0
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        assert out.with_suffix(suffix).exists(), suffix
    assert out.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    info = subprocess.run(["ogrinfo", "-so", "-al", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Feature Count: 6" in info and "UTM zone 20N" in info
    fields = ("id:", "area_m2:", "length_m:", "prob_mean:", "prob_max:", "lon:", "lat:", "shore_m:", "setting:")
    for field in (*fields, "acq_date:", "model_ver:"):
        assert field in info, field
    frame = gpd.read_file(out)
    assert frame.crs.to_epsg() == 32620
    assert sorted(frame["id"]) == list(range(1, 7))
    assert pyogrio.read_info(out)["geometry_type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize("extension", [".gpkg", ".geojson"])
def test_other_formats(planted, tmp_path, extension):
    out = tmp_path / f"rafts{extension}"
    assert detect(planted["scene"], "-o", out, "--model", planted["model"], "-q") == 0
    frame = gpd.read_file(out)
    assert len(frame) == 6
    assert frame.crs.to_epsg() == (4326 if extension == ".geojson" else 32620)


def test_land_mask_from_a_vector_file(planted, tmp_path):
    """A raft under the user's land polygon is not reported."""
    first = planted["rafts"][0]
    land = gpd.GeoDataFrame(geometry=[shapely.box(*_box(first)).buffer(30)], crs="EPSG:32620")
    land.to_file(tmp_path / "land.gpkg")
    out = tmp_path / "rafts.gpkg"
    assert detect(planted["scene"], "-o", out, "--model", planted["model"], "--land", tmp_path / "land.gpkg", "-q") == 0
    frame = gpd.read_file(out)
    assert len(frame) == 5 and not (rafts_mask(frame) & first).any()


@pytest.mark.parametrize("method", ["afai", "fai"])
def test_index_baselines_find_planted_rafts(planted, tmp_path, method):
    out = tmp_path / "rafts.gpkg"
    assert detect(planted["scene"], "-o", out, "--method", method, "--min-area", "1000", "-q") == 0
    frame = gpd.read_file(out)
    found = object_counts(rafts_mask(frame), np.any(planted["rafts"], axis=0).astype(np.uint8))
    assert found.recall == 1.0
    assert not (rafts_mask(frame) & planted["land"]).any()
    assert set(frame["model"]) == {method}


@pytest.mark.skipif(
    not (ROOT / "resources" / "default_model.sargasses").exists(), reason="the default model is not bundled yet"
)
def test_default_model_finds_rafts_on_a_synthetic_scene(tmp_path):
    from sargasses.synth import make_scene, write_scene

    scene = make_scene(4242, 512, "clean")
    paths = write_scene(scene, tmp_path)
    out = tmp_path / "rafts.gpkg"
    assert detect(paths["image"], "-o", out, "-q") == 0
    frame = gpd.read_file(out)
    burned = rasterize(((g, 1) for g in frame.geometry), out_shape=scene.label.shape, transform=scene.transform)
    # the rafts of 20 % cover and more; fainter ones are scored by benchmarks/detection_limit.py
    assert object_counts(burned.astype(bool), label_from_cover(scene.label, scene.coverage, 0.2)).recall >= 0.8


# --------------------------------------------------------------------------- bad input
def refused(capsys, folder: Path, before: set[str], *args, match: str) -> None:
    """One line on stderr that says what to do, exit code 1, and nothing new in the output folder."""
    rc = detect(*args, "-q")
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("sargasses: error: ") and "\n" not in err, err
    assert match.lower() in err.lower(), err
    assert {p.name for p in folder.iterdir()} == before


@pytest.fixture
def outdir(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_not_a_raster(tmp_path, outdir, capsys):
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    refused(capsys, outdir, set(), text, "-o", outdir / "r.gpkg", "--method", "afai", match="not a raster")
    refused(capsys, outdir, set(), empty, "-o", outdir / "r.gpkg", "--method", "afai", match="not a raster")
    refused(capsys, outdir, set(), tmp_path / "absent.tif", "-o", outdir / "r.gpkg", match="does not exist")


def test_damaged_raster_fails_cleanly_mid_run(planted, tmp_path, outdir, capsys):
    """A block's compressed stream broken: the file opens, one tile cannot be read."""
    with rasterio.open(planted["scene"]) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    data = bytearray(Path(planted["scene"]).read_bytes())
    data[offset : offset + 64] = b"\xff" * 64  # no valid zlib header
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(bytes(data))
    refused(
        capsys,
        outdir,
        set(),
        damaged,
        "-o",
        outdir / "r.shp",
        "--model",
        planted["model"],
        "--probabilities",
        outdir / "p.tif",
        match="damaged",
    )


def test_bands_missing_are_named(planted, tmp_path, outdir, capsys):
    three = write_scene(tmp_path / "three.tif", water(50, 50)[:3])
    refused(capsys, outdir, set(), three, "-o", outdir / "r.gpkg", "--model", planted["model"], match="B05")


def test_unsupported_data_type(planted, tmp_path, outdir, capsys, write_raster):
    data = (water(40, 40) + 1j * water(40, 40)).astype(np.complex64)
    path = write_raster(tmp_path / "complex.tif", data, descriptions=[f"B{i}" for i in range(10)])
    refused(capsys, outdir, set(), path, "-o", outdir / "r.gpkg", "--model", planted["model"], match="complex")


def test_all_nodata_input(planted, tmp_path, outdir, capsys):
    blank = write_scene(tmp_path / "blank.tif", np.full((10, 80, 90), np.nan, np.float32))
    refused(
        capsys,
        outdir,
        set(),
        blank,
        "-o",
        outdir / "r.shp",
        "--model",
        planted["model"],
        "--probabilities",
        outdir / "p.tif",
        match="no valid pixel",
    )


def test_corrupt_and_foreign_model_files(planted, tmp_path, outdir, capsys):
    truncated = tmp_path / "truncated.sargasses"
    truncated.write_bytes(Path(planted["model"]).read_bytes()[:500])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "epoch": 1}, foreign)
    scene = planted["scene"]
    refused(capsys, outdir, set(), scene, "-o", outdir / "r.gpkg", "--model", truncated, match="truncated or damaged")
    refused(capsys, outdir, set(), scene, "-o", outdir / "r.gpkg", "--model", foreign, match="export-model")


def test_model_sensor_and_pixel_size_mismatch(planted, tmp_path, outdir, capsys):
    l1c = write_scene(tmp_path / "l1c.tif", water(64, 64), SENSOR="sentinel2_l1c")
    refused(capsys, outdir, set(), l1c, "-o", outdir / "r.gpkg", "--model", planted["model"], match="trained on")
    from affine import Affine

    coarse = write_scene(
        tmp_path / "coarse.tif", water(64, 64), transform=Affine(0.002, 0, -61, 0, -0.002, 15), crs="EPSG:4326"
    )
    refused(capsys, outdir, set(), coarse, "-o", outdir / "r.gpkg", "--model", planted["model"], match="resample")


def test_output_folder_not_writable(planted, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anywhere chmod allows; /proc/1 refuses even root
        target = Path("/proc/1/rafts.gpkg")
        rc = detect(planted["scene"], "-o", target, "--model", planted["model"], "-q")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "rafts.gpkg"
        rc = detect(planted["scene"], "-o", target, "--model", planted["model"], "-q")
        locked.chmod(0o700)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith("sargasses: error: ") and "not writable" in err and "\n" not in err


def test_existing_output_is_kept_unless_overwrite(planted, outdir, capsys):
    out = outdir / "r.gpkg"
    out.write_bytes(b"precious")
    refused(capsys, outdir, {"r.gpkg"}, planted["scene"], "-o", out, "--model", planted["model"], match="--overwrite")
    assert out.read_bytes() == b"precious"
    (outdir / "p.tif").write_bytes(b"also precious")
    refused(
        capsys,
        outdir,
        {"r.gpkg", "p.tif"},
        planted["scene"],
        "-o",
        outdir / "new.gpkg",
        "--model",
        planted["model"],
        "--probabilities",
        outdir / "p.tif",
        match="--overwrite",
    )
    assert detect(planted["scene"], "-o", out, "--model", planted["model"], "--overwrite", "-q") == 0
    assert len(gpd.read_file(out)) == 6


def test_unknown_output_format(planted, outdir, capsys):
    refused(capsys, outdir, set(), planted["scene"], "-o", outdir / "r.txt", "--model", planted["model"], match=".gpkg")


# --------------------------------------------------------------------------- real processes
def test_command_line_in_a_real_process(planted, tmp_path):
    out = tmp_path / "r.geojson"
    run = subprocess.run(
        [PYTHON, "-m", "sargasses", "detect", str(planted["scene"]), "-o", str(out), "--model", str(planted["model"])],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "rafts found        6" in run.stdout
    assert len(gpd.read_file(out)) == 6


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "kill"])
def test_a_signal_stops_a_run_in_one_line_and_leaves_nothing(tmp_path, sig, status):
    """Ctrl-C and `kill` end as a shell reports them (128 + the signal), with one line and no traceback
    (sargasses/command_ending.py, shared by the long commands)."""
    # large enough that the run is still going when the signal comes, on a fast machine too
    scene = write_scene(tmp_path / "big.tif", water(1536, 1536, seed=9))
    model = random_model(tmp_path / "random.sargasses", tile_size=64, overlap=16)
    outdir = tmp_path / "out"
    outdir.mkdir()
    process = subprocess.Popen(
        [
            *(PYTHON, "-m", "sargasses", "detect", str(scene), "-o", str(outdir / "r.shp"), "--model", str(model)),
            *("--probabilities", str(outdir / "p.tif"), "--batch-size", "1", "--backend", "torch"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT, and its children inherit that: give the run the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not any(p.name.endswith(".part") for p in outdir.iterdir()):  # the run is writing
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert err.strip().splitlines()[-1] == "sargasses: interrupted; no output was written", err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert list(outdir.iterdir()) == []
