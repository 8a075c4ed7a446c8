"""Fractional cover (`--coverage`, `covered_area_km2`): rafts planted as sub-pixel cover are measured by it.

The scene is water from the reference spectra with rafts mixed in at known cover (pixel = water + cover x
(dense Sargassum - water)), as a raft smaller than a pixel looks; detection/coverage.py must give that cover back.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from detect_helpers import SARGASSUM, WATER, bright_model, water, write_scene

from sargasses.detection.cli import main

PIXEL_M2 = 20.0 * 20.0


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """(scene path, planted cover): streaks 2-3 px wide whose pixels are 50-100 % covered, one fully covered block."""
    rng = np.random.default_rng(3)
    size = 256
    cover = np.zeros((size, size), np.float32)
    for r, c, h, w in ((30, 20, 2, 90), (80, 140, 3, 60), (150, 40, 2, 120), (200, 180, 40, 3), (120, 120, 6, 6)):
        cover[r : r + h, c : c + w] = rng.uniform(0.5, 1.0, (h, w))
    reflectance = water(size, size, seed=5) + cover[None] * (SARGASSUM - WATER)[:, None, None]
    path = write_scene(tmp_path_factory.mktemp("coverage") / "mixed.tif", reflectance.astype(np.float32))
    return path, cover


def run(args, capsys) -> dict:
    code = main([*args, "--json", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("method", ["afai", "model"])
def test_coverage_sums_to_the_planted_cover(mixed, tmp_path, capsys, method):
    path, planted = mixed
    model = ["--model", str(bright_model(tmp_path / "bright.pt"))] if method == "model" else ["--method", "afai"]
    summary = run(
        [str(path), "-o", str(tmp_path / "rafts.gpkg"), "--coverage", str(tmp_path / "cover.tif"), *model], capsys
    )
    with rasterio.open(tmp_path / "cover.tif") as written:
        cover = written.read(1)
        assert written.crs == "EPSG:32620" and written.tags()["SCORE"] == "fractional cover"
    assert summary["coverage_method"] == "unmixing" and summary["coverage"] == str(tmp_path / "cover.tif")
    detected = cover > 0
    # nearly every planted pixel is found (the model here calls pixels from 53 % cover), nothing else is
    assert detected[planted > 0].mean() > (0.97 if method == "afai" else 0.9)
    assert not detected[planted == 0].any()
    # per pixel within a few % of cover (the water's noise), the sum within 2 % of what was planted there
    assert np.abs(cover[detected] - planted[detected]).mean() < 0.05
    assert cover.sum() == pytest.approx(planted[detected].sum(), rel=0.02)
    assert cover.sum() == pytest.approx(planted.sum(), rel=0.05 if method == "afai" else 0.1)
    # the area of a pixel is measured on the ground (UTM scale factor): 0.05 % off 400 m2 here
    assert summary["covered_area_km2"] == pytest.approx(cover.sum() * PIXEL_M2 / 1e6, rel=2e-3)
    # polygons count whole pixels: the covered area is about 3/4 of it for these 50-100 % covered pixels
    assert 0.65 < summary["covered_area_km2"] / summary["total_area_km2"] < 0.85


def test_coverage_of_a_partly_covered_pixel_below_the_threshold_is_not_counted(mixed, tmp_path, capsys):
    """Cover is measured on detected pixels only: a pixel the detector missed counts nothing (documented)."""
    path, planted = mixed
    args = [str(path), "-o", str(tmp_path / "r.gpkg"), "--method", "afai", "--threshold", "0.03"]
    summary = run([*args, "--coverage", str(tmp_path / "c.tif")], capsys)
    found = summary["covered_area_km2"] * 1e6 / PIXEL_M2
    assert found < 0.9 * planted.sum()  # a higher threshold misses the 50-75 % covered pixels
    # without --coverage no cover is measured (unmixing costs a second read of the strips with rafts)
    summary = run([*args, "--overwrite"], capsys)
    assert summary["coverage"] is None and summary["covered_area_km2"] is None and summary["coverage_method"] is None
    assert summary["timing"]["coverage_s"] == 0


def test_coverage_must_be_a_geotiff(mixed, tmp_path, capsys):
    path, _ = mixed
    assert main([str(path), "-o", str(tmp_path / "r.gpkg"), "--method", "afai", "--coverage", "c.png"]) == 1
    assert "--coverage c.png: give a GeoTIFF name ending in .tif" in capsys.readouterr().err
    assert not (tmp_path / "r.gpkg").exists()


def test_unmixing_picks_olci_bands_by_wavelength():
    """On OLCI (Oa08 665, Oa12 753.75, Oa17 865 nm) the same unmixing gives the planted cover back."""
    from sargasses.detection.coverage import UNMIXING, CoverEstimator, profile_wavelengths
    from sargasses.reading.sensors import DEFAULT_BANDS, SENTINEL2_L2A, get_profile

    olci = get_profile("sentinel3_olci")
    names = olci.band_names
    wavelengths = profile_wavelengths("sentinel3_olci", names)
    s2_nm = [SENTINEL2_L2A.band(b).wavelength_nm for b in DEFAULT_BANDS]
    sea = np.interp(wavelengths, s2_nm, WATER).astype(np.float32)
    raft = np.interp(wavelengths, s2_nm, SARGASSUM).astype(np.float32)
    size = 96
    cover = np.zeros((size, size), np.float32)
    cover[40:42, 10:80] = 0.35  # a windrow covering a third of each 300 m pixel
    rng = np.random.default_rng(0)
    reflectance = sea[:, None, None] + cover[None] * (raft - sea)[:, None, None]
    reflectance = (reflectance + rng.normal(0, 3e-4, reflectance.shape)).astype(np.float32)

    def read_rows(row: int, height: int) -> np.ndarray:  # the AFAI bands only, as detection reads them
        return reflectance[list(estimator.bands), max(row, 0) : row + height]

    estimator = CoverEstimator(names, wavelengths, read_rows)
    assert estimator.method == UNMIXING and "Oa12, Oa08, Oa17" in estimator.description
    assert [names[i] for i in estimator.bands] == ["Oa12", "Oa08", "Oa17"]
    detected = cover > 0
    found = estimator.cover(0, detected, np.zeros_like(cover), np.zeros_like(detected))
    assert found[detected].mean() == pytest.approx(0.35, abs=0.02)
    assert (found[~detected] == 0).all()


def test_covered_area_of_an_olci_product_is_the_planted_area(tmp_path, capsys):
    """The README's OLCI example: a synthetic .SEN3 pair with twelve single-pixel rafts covering 10-60 % of their
    300 m pixel. The polygons count whole pixels; the covered area is the planted area (Level-2), a little less at
    top of atmosphere (Level-1: the atmosphere dims the raft)."""
    from sargasses.synth.olci_product import write_products

    products = write_products(tmp_path / "sen3", seed=3)
    planted_km2 = json.loads(products["planted"].read_text())["total_area_m2"] / 1e6
    covered = {}
    for level in ("l2", "l1"):
        out = tmp_path / level
        summary = run(
            [str(products[level]), "-o", str(out / "rafts.gpkg"), "--method", "afai", "--coverage", str(out / "c.tif")],
            capsys,
        )
        assert summary["rafts"] == 12 and summary["coverage_method"] == "unmixing"
        assert summary["total_area_km2"] > 3 * summary["covered_area_km2"]
        covered[level] = summary["covered_area_km2"]
    assert covered["l2"] == pytest.approx(planted_km2, rel=0.1)
    assert 0.7 * planted_km2 < covered["l1"] < covered["l2"]
