"""Synthetic scenes: the planted weed looks like Sargassum to the indices, the confounders fool them, the files are
real GeoTIFFs on a Caribbean UTM grid that the reader gives back exactly, and a seed always gives the same bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from sargasses.detection.baseline import afai, fai
from sargasses.errors import SargassesError
from sargasses.reading.scene import open_scene
from sargasses.reading.sensors import DEFAULT_BANDS
from sargasses.synth import (
    BLANK_CELL_ESTIMATES,
    CLASS_CODES,
    MAX_POSITIVE_SHARE,
    POSITIVE_COVERAGE,
    SCORABLE_MIN_COVERAGE,
    THICK_CLOUD_OPACITY,
    make_scene,
    reference_table,
    write_scene,
)

SIZE = 384


@cache
def scene(seed: int, kind: str = "mixed", size: int = SIZE):
    return make_scene(seed, size, kind)


def table_row(name: str) -> np.ndarray:
    """A class spectrum as published, with the documented estimates only where the table is blank."""
    row = reference_table()[name]
    for band, value in BLANK_CELL_ESTIMATES.get(name, {}).items():
        assert np.isnan(row[DEFAULT_BANDS.index(band)]), f"{name} {band} is not blank: no estimate should replace it"
        row[DEFAULT_BANDS.index(band)] = value
    assert not np.isnan(row).any()
    return row


def test_planted_pixels_carry_higher_afai_than_the_water_around_them():
    for seed, kind in ((0, "clean"), (3, "mixed"), (7, "mixed")):
        s = scene(seed, kind)
        index = afai(s.reflectance, DEFAULT_BANDS)
        positive = s.label == 1
        assert positive.sum() > 50, "a Sargassum scene must hold positives"
        near = ndimage.binary_dilation(s.coverage > 0.005, iterations=4) & (s.coverage == 0)
        near &= np.isin(s.classes, [CLASS_CODES["water"], CLASS_CODES["glint"]]) & np.isfinite(index)
        water = np.nanmedian(index[near])
        # a pixel at the positive threshold lifts AFAI by about 0.2 * 0.04: ask for most of that, on the median
        assert np.nanmedian(index[positive]) - water > 0.005
        # and pixel by pixel, most positives stand above the local water's spread
        assert np.mean(index[positive] > water + 2 * np.nanstd(index[near])) > 0.6


def test_class_spectra_stay_in_the_ranges_of_the_reference_table():
    tol = 0.01  # sensor noise, spectral jitter and the water left in a pixel
    clean = scene(0, "clean")
    water = clean.reflectance[:, clean.classes == CLASS_CODES["water"]]
    lo, hi = np.percentile(water, 5, axis=1), np.percentile(water, 95, axis=1)
    assert np.all(lo > table_row("water") * 0.6 - 0.004) and np.all(hi < table_row("water") * 1.5 + 0.004)

    dense = table_row("dense_sargassum")
    checked = 0
    for seed, kind in [(k, "clean") for k in range(4)] + [(3, "mixed"), (5, "mixed")]:
        s = scene(seed, kind)
        pure = (s.coverage >= 0.95) & (s.classes == CLASS_CODES["sargassum"])
        if pure.sum() < 5:
            continue
        px = s.reflectance[:, pure]
        assert np.all(np.percentile(px, 2, axis=1) > dense * 0.70 * 0.80 - tol)
        assert np.all(np.percentile(px, 98, axis=1) < dense * 1.40 * 1.20 + tol)
        # the red edge: B06-B8A well above red, SWIR low (what separates it from land, cloud and slicks)
        b = {n: px[DEFAULT_BANDS.index(n)] for n in ("B04", "B06", "B8A", "B11")}
        assert np.median(b["B8A"] / b["B04"]) > 2 and np.median(b["B11"]) < 0.04
        checked += 1
    assert checked >= 2

    # the table's own sparse-Sargassum row is what linear mixing gives at about 20-25 % coverage
    s = scene(1, "clean")
    sparse = (s.coverage >= 0.2) & (s.coverage < 0.27) & (s.classes == CLASS_CODES["sargassum"])
    assert sparse.sum() > 30
    median = np.median(s.reflectance[:, sparse], axis=1)
    row = table_row("sparse_sargassum")
    for band in ("B05", "B06", "B07", "B08", "B8A"):
        i = DEFAULT_BANDS.index(band)
        assert row[i] * 0.6 < median[i] < row[i] * 1.6, band

    cloudy = next(scene(seed, "confounders") for seed in range(20) if (scene(seed, "confounders").classes == 12).any())
    core = cloudy.reflectance[:, cloudy.classes == CLASS_CODES["thick_cloud"]]
    core = core[:, np.isfinite(core).all(axis=0)]
    assert np.all(np.percentile(core, 99, axis=1) < table_row("cloud_mean") * 3.5 + tol)
    assert np.all(np.median(core, axis=1) > table_row("cloud_mean") * 0.5)


def test_same_seed_gives_the_same_bytes_and_other_seeds_differ(tmp_path):
    for dtype in ("uint16", "float32"):
        a = write_scene(make_scene(11, 128), tmp_path / f"a_{dtype}", dtype)
        b = write_scene(make_scene(11, 128), tmp_path / f"b_{dtype}", dtype)
        for key in a:
            assert a[key].read_bytes() == b[key].read_bytes(), f"{key} ({dtype}) differs between two runs"
    one, two = make_scene(11, 128), make_scene(12, 128)
    assert not np.array_equal(np.nan_to_num(one.reflectance), np.nan_to_num(two.reflectance))
    assert one.meta["product_id"] != two.meta["product_id"] or one.transform != two.transform


def test_files_are_georeferenced_tiled_and_masks_align_with_the_image(tmp_path):
    s = scene(5)
    paths = write_scene(s, tmp_path, "uint16")
    assert {p.name for p in tmp_path.iterdir()} == {"scene_0005.tif", "scene_0005_label.tif", "scene_0005.json"}
    with rasterio.open(paths["image"]) as img, rasterio.open(paths["label"]) as lab:
        assert img.crs.to_epsg() == 32620 and lab.crs == img.crs
        assert img.transform == lab.transform == s.transform
        assert (img.height, img.width) == (lab.height, lab.width) == (SIZE, SIZE)
        assert img.transform.a == 20 and img.transform.e == -20
        # a Caribbean tile of UTM zone 20N: about 14.5 N to 18 N
        assert 300_000 <= img.transform.c <= 810_000 and 1_480_000 <= img.transform.f <= 2_000_100
        assert img.descriptions == DEFAULT_BANDS
        assert img.count == 10 and img.dtypes[0] == "uint16" and img.nodata == 0
        assert img.profile["tiled"] and img.profile["compress"] == "deflate"
        tags = img.tags()
        assert tags["SENSOR"] == "sentinel2_l2a" and tags["BOA_ADD_OFFSET"] == "-1000"
        assert tags["BOA_QUANTIFICATION_VALUE"] == "10000"
        assert tags["ACQUISITION_DATE"] == s.meta["acquisition_date"]
        product = tags["PRODUCT_ID"]
        assert product.startswith(("S2A_MSIL2A_", "S2B_MSIL2A_", "S2C_MSIL2A_")) and "_T20" in product
        assert product.split("_")[2][:8] == tags["ACQUISITION_DATE"].replace("-", "")
        assert np.array_equal(lab.read(1), s.label)
        assert lab.dtypes[0] == "uint8" and lab.nodata == 255 and "BOA_ADD_OFFSET" not in lab.tags()
        dn = img.read(8)
    valid = np.isfinite(s.reflectance[7])
    assert np.all(dn[~valid] == 0) and np.all(dn[valid] > 0)
    meta = json.loads(paths["meta"].read_text())
    assert meta["seed"] == 5 and meta["stats"]["positive_pixels"] == int((s.label == 1).sum())
    assert meta["rafts"] and all(r["pixels"] > 0 and len(r["bbox"]) == 4 for r in meta["rafts"])
    assert sum(r["positive_pixels"] for r in meta["rafts"]) >= meta["stats"]["positive_pixels"]


def test_float32_files_hold_nan_nodata(tmp_path):
    s = next(scene(seed) for seed in range(30) if np.isnan(scene(seed).reflectance).any())
    paths = write_scene(s, tmp_path, "float32")
    with rasterio.open(paths["image"]) as img:
        assert img.dtypes[0] == "float32" and np.isnan(img.nodata)
        assert "BOA_ADD_OFFSET" not in img.tags()
        assert np.array_equal(img.read(), s.reflectance, equal_nan=True)


def test_labels_follow_the_rule():
    nodata_seen = cloud_seen = False
    for seed in range(8):
        s = scene(seed)
        assert 0 < (s.label == 1).mean() < MAX_POSITIVE_SHARE
        assert set(np.unique(s.label)) <= {0, 1, 255}
        assert np.all(s.coverage[s.label == 1] >= POSITIVE_COVERAGE)
        assert np.all(s.label[(s.coverage >= SCORABLE_MIN_COVERAGE) & (s.coverage < POSITIVE_COVERAGE)] == 255)
        nodata = np.isnan(s.reflectance).any(axis=0)
        assert np.all(s.label[nodata] == 255)
        thick = s.classes == CLASS_CODES["thick_cloud"]
        assert np.all(s.label[thick] == 255)
        clouds = [c for c in s.meta["confounders"] if c["type"] == "cloud"]
        if clouds:  # the share of thick cloud, measured on the cloud field itself, is all unscored
            assert (s.label == 255).mean() >= clouds[0]["thick_share"]
        nodata_seen |= bool(nodata.any())
        cloud_seen |= bool(thick.any())
        # under thick cloud the pixel is cloud-bright in the visible: nobody could score it
        if thick.any():
            assert np.nanmedian(s.band("B04")[thick]) > 0.1 * THICK_CLOUD_OPACITY
    assert nodata_seen and cloud_seen


def test_uint16_round_trip_through_the_reader(tmp_path):
    s = next(scene(seed) for seed in range(30) if np.isnan(scene(seed).reflectance).any())
    paths = write_scene(s, tmp_path, "uint16")
    with open_scene(paths["image"]) as opened:
        assert opened.band_names == list(DEFAULT_BANDS)
        assert opened.crs == s.crs and opened.transform == s.transform
        assert opened.sensor == "sentinel2_l2a" and opened.acquisition_date == s.meta["acquisition_date"]
        assert opened.product_id == s.meta["product_id"]
        back = opened.read()
    assert np.array_equal(np.isnan(back), np.isnan(s.reflectance))
    assert np.nanmax(np.abs(back - s.reflectance)) <= 1e-4


def test_confounder_scenes_hold_no_weed_but_fool_index_thresholds():
    # what one pixel at the positive threshold (20 % dense Sargassum over water) reads on each index
    dense, water = table_row("dense_sargassum")[:, None, None], table_row("water")[:, None, None]
    at_threshold = water + POSITIVE_COVERAGE * (dense - water)
    afai_t = float(afai(at_threshold, DEFAULT_BANDS)[0, 0])
    fai_t = float(fai(at_threshold, DEFAULT_BANDS)[0, 0])
    land_fooled = 0
    for seed in range(6):
        s = scene(seed, "confounders")
        assert not (s.label == 1).any() and s.coverage.max() == 0 and s.meta["rafts"] == []
        negative = s.label == 0
        fooled = (afai(s.reflectance, DEFAULT_BANDS) > afai_t) | (fai(s.reflectance, DEFAULT_BANDS) > fai_t)
        assert (fooled & negative).sum() > 50, f"seed {seed}: no pixel where a naive threshold fires"
        land = s.classes == CLASS_CODES["land"]
        if land.any():
            land_fooled += int((afai(s.reflectance, DEFAULT_BANDS)[land] > afai_t).sum())
    assert land_fooled > 1000


def test_kinds_hold_what_they_say():
    clean = scene(2, "clean")
    assert set(np.unique(clean.classes)) <= {CLASS_CODES[c] for c in ("water", "sargassum", "sargassum_faint")}
    assert not np.isnan(clean.reflectance).any()
    kinds_of_confounder = set()
    for seed in range(6):
        kinds_of_confounder |= {c["type"] for c in scene(seed, "mixed").meta["confounders"]}
    assert {"cloud", "land", "organic_slick", "sun_glint", "ship", "whitecaps"} <= kinds_of_confounder
    with pytest.raises(SargassesError, match="kind"):
        make_scene(0, 64, "cloudy")
    with pytest.raises(SargassesError, match="size"):
        make_scene(0, 10)


def test_rafts_come_thin_wide_dense_and_sparse():
    """Windrows 1-3 px wide, wide patches with scored interiors, sparse rafts of a few % cover (issue 19)."""
    thin = wide = sparse = 0
    planted = []
    for seed in range(8):
        s = scene(seed, "clean")
        planted.append(s.coverage[s.coverage > 0.02])
        for raft in s.meta["rafts"]:
            r0, c0, r1, c1 = raft["bbox"]
            own = s.label[r0:r1, c0:c1] == 1
            if not own.any():
                continue
            interior = ndimage.binary_erosion(s.coverage[r0:r1, c0:c1] >= SCORABLE_MIN_COVERAGE, iterations=3)
            if raft["shape"] == "windrow_cluster":
                extent = max(r1 - r0, c1 - c0)
                thin += extent >= 30 and not interior.any()
            elif raft["shape"] == "patch" and interior.sum() >= 20:
                wide += 1
            if raft["density"] < 0.2:
                cover = s.coverage[r0:r1, c0:c1][own]
                sparse += np.median(cover) < 0.15
    assert thin >= 3 and wide >= 2 and sparse >= 3, (thin, wide, sparse)
    planted = np.concatenate(planted)
    # cover from faint (under 15 %) to full, each a good share of the planted pixels
    assert np.mean(planted < 0.15) > 0.2 and np.mean(planted > 0.5) > 0.2 and (planted > 0.95).any()


def test_cli_writes_scenes_and_a_figure_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "scenes"
    cmd = [sys.executable, "-m", "sargasses", "synth", str(out), "--count", "2", "--seed", "40", "--size", "96"]
    done = subprocess.run([*cmd, "--dtype", "uint16", "--figure", str(tmp_path / "f.png")], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"scene_{s:04d}{x}" for s in (40, 41) for x in (".json", ".tif", "_label.tif")]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with rasterio.open(out / "scene_0041.tif") as img:
        assert img.dtypes[0] == "uint16" and img.tags()["SEED"] == "41"
    before = (out / "scene_0040.tif").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert (out / "scene_0040.tif").stat().st_mtime_ns == before
    forced = subprocess.run([*cmd, "--overwrite", "--kind", "confounders"], capture_output=True, text=True, check=False)
    assert forced.returncode == 0, forced.stderr
    with rasterio.open(out / "scene_0040.tif") as img:
        assert img.dtypes[0] == "float32" and img.tags()["KIND"] == "confounders"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_write_scene_refuses_to_overwrite(tmp_path):
    s = make_scene(3, 64)
    write_scene(s, tmp_path)
    with pytest.raises(SargassesError, match="already exists"):
        write_scene(s, tmp_path)
    write_scene(s, tmp_path, overwrite=True)


def test_shipped_table_is_the_reference_table():
    shipped = Path(__file__).parents[2] / "sargasses" / "data" / "reference_spectra.csv"
    text = shipped.read_text()
    assert text.startswith("# Mean surface reflectance") and "Kikaki et al. 2022" in text
    assert table_row("water")[DEFAULT_BANDS.index("B8A")] == pytest.approx(0.014)


def test_coasts_hold_surf_waterline_mixtures_and_marsh_channels_all_negative():
    code = CLASS_CODES
    dry = [code[c] for c in ("land", "beach", "wetland", "tidal_flat")]
    checked = 0
    for seed in range(12):
        s = scene(seed, "confounders")
        land = [c for c in s.meta["confounders"] if c["type"] == "land"]
        if not land or not {"sandy", "marsh"} <= set(land[0]["coast"]["features"]):
            continue
        ground = np.isin(s.classes, dry)
        # mixed sand/water pixels on the waterline of the beaches: their sand lifts NIR over red against the sea
        waterline = (s.classes == code["shoreline_mix"]) & ndimage.binary_dilation(s.classes == code["beach"])
        offshore = ndimage.binary_dilation(ground, iterations=8) & ~ndimage.binary_dilation(ground, iterations=3)
        offshore &= np.isin(s.classes, [code["water"], code["turbid_water"], code["glint"]])
        # breaking waves within 12 px (240 m) of the shore
        surf = (s.classes == code["foam"]) & ndimage.binary_dilation(ground, iterations=12)
        # tidal channels and ponds cutting into the marsh
        channels = (s.classes == code["inland_water"]) & ndimage.binary_dilation(s.classes == code["wetland"])
        if waterline.sum() < 100 or surf.sum() < 100 or channels.sum() < 30:
            continue
        rise = s.band("B8A") - s.band("B04")
        assert np.nanmedian(rise[waterline]) > np.nanmedian(rise[offshore]) + 0.003
        assert land[0]["coast"]["tidal_channels"] > 0 and land[0]["coast"]["surf_bands"] > 0
        for where in (waterline, surf, channels):
            assert np.all(s.label[where] == 0)
        checked += 1
    assert checked >= 1
    # the weed stays at sea: nothing planted on land, marsh, flats, lakes, rivers or channels
    for seed in range(6):
        s = scene(seed, "mixed")
        ashore = np.isin(s.classes, [*dry, code["inland_water"]])
        assert not ashore.any() or s.coverage[ashore].max() == 0
