"""Real imagery: rafts planted into real scenes, the atmosphere that makes L1C, the real scenes' rebuild, L1C input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from detect_helpers import WATER, bright_model, write_scene
from rasterio.transform import from_origin

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.errors import SargassesError
from sargasses.reading.sensors import DEFAULT_BANDS
from sargasses.synth import make_scene
from sargasses.synth.atmosphere import ATLANTIC, HAZY, band_wavelengths, random_atmosphere, to_top_of_atmosphere
from sargasses.synth.labels import POSITIVE_COVERAGE
from sargasses.synth.planting import open_water, plant_rafts
from sargasses.synth.spectra import SPECTRA

BANDS = list(DEFAULT_BANDS)
ROOT = Path(__file__).resolve().parents[2]


def coast(height: int = 160, width: int = 200, seed: int = 0) -> np.ndarray:
    """Water on the left, a sandy beach strip, then vegetated land on the right (surface reflectance)."""
    rng = np.random.default_rng(seed)
    out = np.repeat(WATER[:, None, None], height, 1).repeat(width, 2).astype(np.float32)
    out += rng.normal(0, 0.001, out.shape).astype(np.float32)
    out[:, :, 140:150] = SPECTRA["beach_sand"][:, None, None]
    out[:, :, 150:] = SPECTRA["vegetation"][:, None, None]
    return out


def test_rafts_land_on_water_only_and_add_the_measured_contrast():
    background = coast()
    planted = plant_rafts(background, BANDS, np.random.default_rng(3), water_share=0.02)
    water = open_water(background, BANDS)
    assert water[:, :140].all() and not water[:, 140:].any()
    assert planted.coverage[:, 140:].max() == 0  # nothing on the beach or the land
    np.testing.assert_array_equal(planted.reflectance[:, :, 140:], background[:, :, 140:])
    untouched = planted.coverage == 0
    np.testing.assert_array_equal(planted.reflectance[:, untouched], background[:, untouched])
    positives = planted.label == 1
    assert positives.sum() >= 0.01 * water.sum()
    assert (planted.coverage[positives] >= POSITIVE_COVERAGE).all()
    dense = planted.coverage >= 0.5
    assert dense.sum() > 5
    # the rise per unit of cover: a pixel half covered rises half as much (linear mixing)
    rise = (planted.reflectance[:, dense] - background[:, dense]) / planted.coverage[dense]
    expected = SPECTRA["dense_sargassum"] - SPECTRA["water"]
    # brightness 0.7-1.4, a red-edge factor 0.8-1.2 and a spectral shape around the measured spectrum: the red edge
    # rises well above the red, the SWIR stays low
    b08, b04, b11 = BANDS.index("B08"), BANDS.index("B04"), BANDS.index("B11")
    assert 0.5 * expected[b08] < np.median(rise[b08]) < 1.7 * expected[b08]
    assert np.median(rise[b08] - rise[b04]) > 0.03
    assert np.abs(rise[b11]).max() < 0.06


def test_at_l1c_the_contrast_is_seen_through_the_atmosphere():
    background = coast()
    t = ATLANTIC.transmittance(band_wavelengths(BANDS))
    surface = plant_rafts(background, BANDS, np.random.default_rng(5), water_share=0.02)
    toa = plant_rafts(background, BANDS, np.random.default_rng(5), t, water_share=0.02)
    np.testing.assert_array_equal(surface.label, toa.label)
    where = surface.coverage > 0
    np.testing.assert_allclose(
        toa.reflectance[:, where] - background[:, where],
        (surface.reflectance[:, where] - background[:, where]) * t[:, None].astype(np.float32),
        rtol=1e-4,
        atol=1e-6,
    )


def test_atmosphere_adds_a_path_that_falls_with_wavelength():
    wl = band_wavelengths(BANDS)
    zero = np.zeros((10, 2, 2), np.float32)
    for atmosphere in (ATLANTIC, HAZY, random_atmosphere(np.random.default_rng(1))):
        path = to_top_of_atmosphere(zero.copy(), BANDS, atmosphere)[:, 0, 0]
        assert (np.diff(path) < 0).all(), path
        t = atmosphere.transmittance(wl)
        assert (t > 0.6).all() and (t <= 1).all() and (np.diff(t) > 0).all()
    # ATLANTIC is fitted to a real L1C scene's open water minus L2A clear water: 0.097 / 0.019 / 0.003 (B02/B8A/B11)
    path = ATLANTIC.path(wl)
    assert abs(path[BANDS.index("B02")] - 0.097) < 0.005
    assert abs(path[BANDS.index("B8A")] - 0.019) < 0.005
    assert abs(path[BANDS.index("B11")] - 0.003) < 0.005
    nan = np.full((10, 1, 1), np.nan, np.float32)
    assert np.isnan(to_top_of_atmosphere(nan, BANDS, ATLANTIC)).all()


def test_synth_cli_plants_into_a_real_scene_and_tags_l1c(tmp_path):
    scene = make_scene(41, 128, "confounders")
    background = write_scene(tmp_path / "real.tif", scene.reflectance, transform=scene.transform, crs=scene.crs)
    out = tmp_path / "planted"
    run = subprocess.run(
        [sys.executable, "-m", "sargasses", "synth", str(out), "--background", str(background), "--seed", "7", "--count", "2",
         "--level", "L1C"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with rasterio.open(out / "scene_0007.tif") as image, rasterio.open(out / "scene_0007_label.tif") as label:
        assert image.tags()["SENSOR"] == "sentinel2_l1c"
        toa = image.read()
        y = label.read(1)
    meta = json.loads((out / "scene_0007.json").read_text())
    assert meta["kind"] == "planted" and meta["background"] == "real.tif"
    assert (y == 1).sum() > 0
    # seen through an atmosphere: the blue of the water rose by a Rayleigh-sized path, the SWIR barely
    water = (y == 0) & open_water(scene.reflectance, BANDS)
    rise = np.nanmedian(toa[:, water] - scene.reflectance[:, water], axis=1)
    assert 0.03 < rise[BANDS.index("B02")] < 0.15
    assert abs(rise[BANDS.index("B11")]) < 0.04


def test_a_model_that_accepts_l1c_runs_on_l1c_and_others_refuse_it(tmp_path):
    reflectance = to_top_of_atmosphere(coast(96, 96), BANDS, ATLANTIC)
    scene = write_scene(tmp_path / "l1c.tif", reflectance, SENSOR="sentinel2_l1c")
    l2a_only = bright_model(tmp_path / "l2a_only.sargasses")
    with pytest.raises(SargassesError, match=r"sentinel2_l2a data but .* is sentinel2_l1c"):
        run_detection(DetectOptions(input=scene, output=tmp_path / "a.gpkg", model=l2a_only))
    both = _with_card(l2a_only, tmp_path / "both.sargasses", accepted_sensors=["sentinel2_l1c"])
    summary = run_detection(DetectOptions(input=scene, output=tmp_path / "b.gpkg", model=both))
    assert summary["sensor"] == "sentinel2_l1c"


def _with_card(model: Path, output: Path, **fields) -> Path:
    from sargasses.model_file import ModelCard, read_model_file, save_model_file

    card, weights = read_model_file(model)
    return save_model_file(output, weights, ModelCard(**{**card.to_dict(), **fields}))


def test_the_real_scenes_rebuild_from_a_mirror(tmp_path):
    """The rebuild script on a bare clone holding two tiles of a 10 m L2A stack in the manifest's layout."""
    spec = importlib.util.spec_from_file_location("build_real_scenes", ROOT / "scripts" / "build_real_scenes.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.expand("d/t{0..2}.tif") == ["d/t0.tif", "d/t1.tif", "d/t2.tif"]

    work = tmp_path / "work"
    (work / "tiles").mkdir(parents=True)
    rng = np.random.default_rng(0)
    values = (rng.uniform(10, 60, (6, 40, 80)) * 10).astype(np.uint16)  # x1000 reflectance, 6 bands as Ponce's
    for i, x0 in enumerate((0, 40)):
        with rasterio.open(
            work / "tiles" / f"t{i}.tif", "w", driver="GTiff", width=40, height=40, count=6, dtype="uint16",
            crs="EPSG:32619", transform=from_origin(742860 + 10 * x0, 1988700, 10, 10),
        ) as dst:  # fmt: skip
            dst.write(values[:, :, x0 : x0 + 40])
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiles"], check=True
    )
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    mirror = tmp_path / "mirror"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror / "me+tiles" / "repo")], check=True)
    scene = {
        "id": "fake", "repo": "me/tiles", "commit": commit.strip(), "files": "tiles/t{0..1}.tif", "date": "2019-01-08",
        "level": "L2A", "source_bands": ["B04", "B03", "B02", "B08", "B11", "B12"], "scale": 0.001, "nodata": None,
        "crops": [{"name": "top", "rows": [0, 10], "split": "train", "what": "top"},
                  {"name": "bottom", "rows": [10, 20], "split": "test", "what": "bottom"}],
    }  # fmt: skip
    grid = {"resolution_m": 20, "bands": BANDS}
    written = build.build_scene(scene, grid, mirror, tmp_path / "real")
    assert [p.relative_to(tmp_path / "real").as_posix() for p in written] == ["train/top.tif", "test/bottom.tif"]
    with rasterio.open(written[0]) as top:
        assert (top.width, top.height, top.count) == (40, 10, 10)
        assert top.res == (20.0, 20.0)
        assert top.descriptions == tuple(BANDS)
        assert top.tags()["SENSOR"] == "sentinel2_l2a" and top.tags()["ACQUISITION_DATE"] == "2019-01-08"
        out = top.read()
    source = values.astype(np.float64) * 0.001
    # 20 m pixel (0, 0) is the average of the 10 m block [0:2, 0:2]; B04 is source band 0, B02 source band 2
    assert out[BANDS.index("B04"), 0, 0] == pytest.approx(source[0, :2, :2].mean(), rel=1e-5)
    assert out[BANDS.index("B02"), 0, 0] == pytest.approx(source[2, :2, :2].mean(), rel=1e-5)
    # missing red-edge bands are interpolated in wavelength between B04 and B08, B8A is B08
    b04, b08 = out[BANDS.index("B04")], out[BANDS.index("B08")]
    w06 = (740 - 665) / (842 - 665)
    np.testing.assert_allclose(out[BANDS.index("B06")], (1 - w06) * b04 + w06 * b08, rtol=1e-5)
    np.testing.assert_array_equal(out[BANDS.index("B8A")], b08)


def test_the_default_model_runs_on_an_l1c_safe_and_says_it_takes_both_levels(tmp_path, make_safe):
    from sargasses.model_file import default_model_path, read_card

    card = read_card(default_model_path())
    assert card.sensors == ["sentinel2_l2a", "sentinel2_l1c"]
    root, _ = make_safe(tmp_path, "L1C", size_m=1280.0)
    summary = run_detection(DetectOptions(input=root, output=tmp_path / "rafts.gpkg"))
    assert summary["sensor"] == "sentinel2_l1c"
    assert summary["model"]["name"] == card.name
    assert summary["threshold"] == pytest.approx(card.threshold)
    assert summary["threshold_source"] == "the model's, picked on validation"


def test_specks_under_three_pixels_are_dropped_unless_a_minimum_area_is_given(tmp_path):
    """The default minimum (3 pixels) drops one- and two-pixel specks and keeps a 3-pixel raft; --min-area 0 all."""
    from detect_helpers import plant, water

    masks = []
    for (r, c), n in (((10, 10), 1), ((40, 40), 2), ((70, 70), 3), ((20, 80), 12)):
        m = np.zeros((96, 96), bool)
        m[r, c : c + n] = True
        masks.append(m)
    scene = write_scene(tmp_path / "specks.tif", plant(water(96, 96), masks))
    model = bright_model(tmp_path / "bright.sargasses")
    default = run_detection(DetectOptions(input=scene, output=tmp_path / "a.gpkg", model=model))
    every = run_detection(DetectOptions(input=scene, output=tmp_path / "b.gpkg", model=model, min_area=0.0))
    assert (default["rafts"], default["rafts_dropped_small"], default["min_raft_pixels"]) == (2, 2, 3)
    assert default["min_area_m2"] is None
    assert (every["rafts"], every["rafts_dropped_small"], every["min_raft_pixels"]) == (4, 0, 1)
