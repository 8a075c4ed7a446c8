"""A model trained the original way runs everywhere: Meteo-France's setup (configs/original_otci_halfunet.yaml, OTCI
RGB PNGs with .npz masks) trained tiny on synthetic OTCI data, exported, then `sargasses detect` on the renderings
as users have them (a PNG without georeferencing, a PNG with a world file, a GeoTIFF) finds the planted rafts.

tests/qgis/test_processing.py runs the same kind of model from QGIS (its own tiny fit, in the engine's Python).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from otci_helpers import (
    PIXEL_DEG,
    TEST_SEED,
    TINY_FIT,
    fit_original_tiny,
    make_otci_scene,
    original_checkpoint,
    write_geotiff,
    write_png,
    write_world_file,
)
from rasterio.features import rasterize
from training_helpers import REPO, run_sargasses

from sargasses.detection.cli import main

ORIGINAL_CONFIG = REPO / "configs" / "original_otci_halfunet.yaml"


@pytest.fixture(scope="module")
def otci_model(tmp_path_factory) -> Path:
    """`sargasses fit --config configs/original_otci_halfunet.yaml` on the original layout, then export-model."""
    return fit_original_tiny(tmp_path_factory.mktemp("otci"))


def detect(capsys, *args: object) -> tuple[int, dict | None, str]:
    code = main([*map(str, args), "--json", "-q"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def found_rafts(label: np.ndarray, detected: np.ndarray) -> tuple[int, int]:
    """(planted rafts with a detected pixel, detected pixels off every planted raft's 1-pixel surroundings)."""
    from scipy import ndimage

    rafts, count = ndimage.label(label, structure=np.ones((3, 3)))
    hit = len(set(np.unique(rafts[detected])) - {0})
    near = ndimage.binary_dilation(label > 0, iterations=2)
    assert count >= 4
    return hit, int((detected & ~near).sum())


def test_the_card_asks_for_rendered_images(otci_model):
    from sargasses.model_file import read_card

    card = read_card(otci_model)
    assert card.scaling == "rendered 0-255" and card.sensor == "otci_rgb" and card.gsd_m == 300.0


def test_detect_on_a_georeferenced_geotiff_finds_the_planted_rafts(otci_model, tmp_path, capsys):
    scene = make_otci_scene(TEST_SEED)
    image = write_geotiff(tmp_path / "20220415_S3_OTCI.tif", scene)
    code, summary, err = detect(
        capsys, image, "-o", tmp_path / "rafts.gpkg", "--model", otci_model, "--coverage", tmp_path / "cover.tif",
        "--quicklook", tmp_path / "look.png",
    )  # fmt: skip
    assert code == 0, err
    rafts = gpd.read_file(tmp_path / "rafts.gpkg")
    with rasterio.open(image) as source:
        detected = rasterize(rafts.geometry, out_shape=scene.label.shape, transform=source.transform) > 0
    hit, stray = found_rafts(scene.label, detected)
    assert hit == scene.rafts and stray == 0, (hit, scene.rafts, stray)
    assert summary["sensor"] == "otci_rgb" and summary["units"] == "metres"
    # about 300 m pixels: the polygons' area is their pixels' area
    pixel_km2 = (PIXEL_DEG * 111.32) ** 2 * np.cos(np.radians(15.75))
    assert summary["total_area_km2"] == pytest.approx(detected.sum() * pixel_km2, rel=0.1)
    # an RGB rendering has no reflectance to unmix: cover is the model's probability, at most the polygons' area
    assert summary["coverage_method"] == "probability"
    assert 0 < summary["covered_area_km2"] <= summary["total_area_km2"] * 1.05
    from PIL import Image

    look = np.asarray(Image.open(tmp_path / "look.png"))
    sea = look[scene.cover == 0].mean(axis=0)
    assert sea[2] > sea[0]  # true colour: the sea is blue in the quicklook, as in the rendering


def test_a_png_without_georeferencing_is_refused_then_measured_in_pixels(otci_model, tmp_path, capsys):
    scene = make_otci_scene(TEST_SEED)
    png = write_png(tmp_path / "20220415_S3_OTCI.png", scene)
    code, _, err = detect(capsys, png, "-o", tmp_path / "rafts.gpkg", "--model", otci_model)
    assert code == 1 and "has no georeferencing" in err and "--pixel-units" in err and "gdal_translate" in err
    assert not (tmp_path / "rafts.gpkg").exists()
    code, summary, err = detect(capsys, png, "-o", tmp_path / "rafts.gpkg", "--model", otci_model, "--pixel-units")
    assert code == 0, err
    rafts = gpd.read_file(tmp_path / "rafts.gpkg")
    detected = rasterize(rafts.geometry, out_shape=scene.label.shape) > 0  # pixel coordinates
    hit, stray = found_rafts(scene.label, detected)
    assert hit == scene.rafts and stray == 0
    assert summary["units"] == "pixels" and summary["total_area_px"] == detected.sum()


def test_a_png_with_a_world_file_needs_its_crs_from_a_side_car(otci_model, tmp_path, capsys):
    scene = make_otci_scene(TEST_SEED)
    png = write_png(tmp_path / "20220415_S3_OTCI.png", scene)
    write_world_file(png)
    code, _, err = detect(capsys, png, "-o", tmp_path / "rafts.gpkg", "--model", otci_model)
    assert code == 1 and "placed by a world file" in err and "20220415_S3_OTCI.prj" in err
    # the .prj GIS tools write beside a world file (GDAL itself reads only .aux.xml side-cars)
    (tmp_path / "20220415_S3_OTCI.prj").write_text(rasterio.crs.CRS.from_epsg(4326).to_wkt())
    code, summary, err = detect(capsys, png, "-o", tmp_path / "rafts.gpkg", "--model", otci_model)
    assert code == 0, err
    assert summary["crs"] == "EPSG:4326" and summary["units"] == "metres"
    rafts = gpd.read_file(tmp_path / "rafts.gpkg")
    assert rafts.crs == "EPSG:4326"
    transform = rasterio.transform.from_origin(-62.0, 16.0, PIXEL_DEG, PIXEL_DEG)
    detected = rasterize(rafts.geometry, out_shape=scene.label.shape, transform=transform) > 0
    hit, stray = found_rafts(scene.label, detected)
    assert hit == scene.rafts and stray == 0


def test_a_bad_prj_is_named(otci_model, tmp_path, capsys):
    png = write_png(tmp_path / "a.png", make_otci_scene(TEST_SEED))
    write_world_file(png)
    (tmp_path / "a.prj").write_text("not a CRS")
    code, _, err = detect(capsys, png, "-o", tmp_path / "rafts.gpkg", "--model", otci_model)
    assert code == 1 and "a.prj does not hold a coordinate reference system" in err


def test_a_reflectance_scene_is_refused_by_a_rendered_model(otci_model, tmp_path, capsys):
    from detect_helpers import water, write_scene

    scene = write_scene(tmp_path / "s2.tif", water(64, 64))
    code, _, err = detect(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", otci_model, "--bands", "B04,B03,B02")
    assert code == 1 and "takes rendered RGB images" in err


def test_predict_writes_probabilities_for_the_pngs(otci_model, tmp_path):
    """`sargasses predict` with the original config on a PNG writes its probability raster (pixel grid)."""
    root = otci_model.parent
    checkpoint = original_checkpoint(root)
    png = write_png(tmp_path / "20220415_S3_OTCI.png", make_otci_scene(TEST_SEED))
    result = run_sargasses(
        [
            "predict",
            "--config",
            str(ORIGINAL_CONFIG),
            *TINY_FIT,
            f"--data.predict_images={png}",
            f"--ckpt_path={checkpoint}",
        ],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = root / "predictions" / "20220415_S3_OTCI_probability.tif"
    with rasterio.open(written) as probability:
        values = probability.read(1)
    scene = make_otci_scene(TEST_SEED)
    assert values[scene.label == 1].mean() > 0.5 > values[scene.cover == 0].mean()
