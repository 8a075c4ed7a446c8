"""Sentinel-3 OLCI products read directly: synthetic L1 EFR and L2 WFR `.SEN3` products in the real layout,
checked against what was written (reflectance, geolocation, flags), zip against folder, windows against whole,
the OTCI rendering, and rafts found by AFAI at OLCI's bands."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading import olci
from sargasses.reading.netcdf import decode
from sargasses.reading.olci_scene import OlciScene, open_olci
from sargasses.reading.otci import RGB_BANDS, RGB_MAX_REFLECTANCE, render_float, render_otci_rgb
from sargasses.reading.scene import open_scene
from sargasses.reading.swath import Lookup
from sargasses.synth.olci_product import (
    L2_REFLECTANCE_SCALE,
    draw_swath,
    olci_spectrum,
    toa_reflectance,
    write_products,
)

SEED = 5


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> dict[str, Path]:
    return write_products(tmp_path_factory.mktemp("sen3"), seed=SEED, zip_too=True)


@pytest.fixture(scope="module")
def swath():
    return draw_swath(SEED)


def _swath_pixels(scene: OlciScene):
    """The swath row and column each output pixel took, and where it took one."""
    lookup = scene.grid.lookup(0, 0, scene.height, scene.width)
    return lookup.rows + lookup.r0, lookup.cols + lookup.c0, lookup.valid


def test_manifest_gives_level_platform_and_date(products):
    for key, level in (("l1", olci.LEVEL1), ("l2", olci.LEVEL2)):
        product = olci.find_product(products[key])
        assert (product.level, product.platform, product.date) == (level, "Sentinel-3A", "2023-06-06")
        assert olci.find_product(products[key] / "Oa01_radiance.nc" if key == "l1" else products[key]).level == level
    assert len(olci.find_product(products["l1"]).band_names) == 21
    assert olci.find_product(products["l2"]).band_names == list(olci.LEVEL2_BANDS)


def test_level1_is_top_of_atmosphere_reflectance_from_radiance(products, swath):
    """pi * L / (F0(detector) * cos(SZA)) gives back the TOA reflectance written; a wrong detector (the synthetic
    detectors differ by up to 3 %) or a wrong SZA would not."""
    with open_olci(products["l1"]) as scene:
        data = scene.read()
        rows, cols, valid = _swath_pixels(scene)
    expected = toa_reflectance(swath)[:, rows, cols]
    ok = valid & ~swath.invalid[rows, cols]
    assert ok.sum() > 0.5 * ok.size  # a rotated swath fills about two thirds of the grid around it
    error = np.abs(data[:, ok] / expected[:, ok] - 1)
    assert error.max() < 2e-3, error.max()
    assert np.isnan(data[:, ~valid]).all()  # off the swath
    assert np.isnan(data[:, valid & swath.invalid[rows, cols]]).all()  # flagged invalid


def test_level2_is_the_water_reflectance_written(products, swath):
    with open_olci(products["l2"]) as scene:
        data = scene.read()
        rows, cols, valid = _swath_pixels(scene)
    water = valid & ~swath.land[rows, cols] & ~swath.invalid[rows, cols]
    index = [int(b[2:]) - 1 for b in olci.LEVEL2_BANDS]
    expected = swath.surface[index][:, rows, cols]
    assert np.abs(data[:, water] - expected[:, water]).max() <= L2_REFLECTANCE_SCALE
    assert np.isnan(data[:, valid & swath.land[rows, cols]]).all()  # WFR leaves land unprocessed
    with pytest.raises(SargassesError, match="no band Oa13"):
        open_olci(products["l2"], bands=["Oa13"])


def test_planted_rafts_land_in_the_output_pixel_of_their_latitude_longitude(products, swath):
    """At 150 m the output pixel that holds a raft's centre is nearer to it than to any other swath pixel, so it
    must show exactly that raft's mixed reflectance."""
    planted = json.loads(products["planted"].read_text())
    with open_olci(products["l2"], bands=["Oa17"], resolution=150) as scene:
        data = scene.read()[0]
        to_map = Transformer.from_crs("EPSG:4326", scene.crs.to_wkt(), always_xy=True)
        for raft in planted["rafts"]:
            x, y = to_map.transform(raft["lon"], raft["lat"])
            col, row = (math.floor(v) for v in ~scene.transform @ (x, y))
            mixed = swath.surface[16, raft["swath_row"], raft["swath_col"]]
            assert abs(data[row, col] - mixed) <= L2_REFLECTANCE_SCALE, raft
            assert data[row, col] > olci_spectrum("water")[16] * 1.03 * 1.01  # brighter than any water pixel


def test_flags_give_nodata_land_and_cloud(products, swath):
    with open_olci(products["l1"]) as scene:
        layers = scene.read_exclusion()
        rows, cols, valid = _swath_pixels(scene)
    assert np.array_equal(layers.nodata, ~valid | swath.invalid[rows, cols])
    assert np.array_equal(layers.land, valid & swath.land[rows, cols] & ~swath.invalid[rows, cols])
    assert np.array_equal(layers.cloud, valid & swath.cloud[rows, cols])  # L1: the "bright" flag
    with open_olci(products["l2"]) as scene:
        l2 = scene.read_exclusion()
    assert np.array_equal(l2.land, layers.land)
    # L2 adds CLOUD_MARGIN around the cloud
    assert (l2.cloud >= layers.cloud).all() and l2.cloud.sum() > layers.cloud.sum()


def test_zip_reads_the_same_as_the_folder_and_leaves_nothing(products):
    with open_olci(products["l1"]) as folder, open_olci(products["l1_zip"]) as zipped:
        assert (zipped.width, zipped.height, zipped.transform) == (folder.width, folder.height, folder.transform)
        assert np.array_equal(zipped.read(), folder.read(), equal_nan=True)
        extracted = zipped.product._extracted
        assert extracted is not None and extracted.is_dir()
        copied = {p.name for p in extracted.iterdir()}
        assert "Oa01_radiance.nc" in copied and len(copied) < 26  # only what the reads needed
    assert not extracted.exists()
    with zipfile.ZipFile(products["l2_zip"]) as archive:
        assert archive.namelist()[0].startswith(products["l2"].name + "/")


def test_a_pickled_scene_reads_the_same(products):
    """As a DataLoader worker gets it: files are reopened (and copied out of the zip) by the copy itself."""
    with open_olci(products["l1_zip"], bands=["Oa08", "Oa17"]) as scene:
        window = Window(40, 30, 64, 64)
        expected = scene.read(window)
        with pickle.loads(pickle.dumps(scene)) as copy:
            assert np.array_equal(copy.read(window), expected, equal_nan=True)
            assert copy.product._extracted not in (None, scene.product._extracted)


def test_windows_read_the_same_as_the_whole(products):
    with open_olci(products["l1"], bands=["Oa08", "Oa12", "Oa17"]) as scene:
        whole = scene.read()
        layers = scene.read_exclusion()
        tiled = np.full((3, scene.height + 120, scene.width + 120), -1.0, np.float32)
        land = np.zeros(tiled.shape[1:], bool)
        for row in range(-20, scene.height + 20, 70):
            for col in range(-20, scene.width + 20, 90):
                window = Window(col, row, 90, 70)
                tiled[:, row + 20 : row + 90, col + 20 : col + 110] = scene.read(window)
                land[row + 20 : row + 90, col + 20 : col + 110] = scene.read_exclusion(window).land
    inner = tiled[:, 20 : 20 + whole.shape[1], 20 : 20 + whole.shape[2]]
    assert np.array_equal(inner, whole, equal_nan=True)
    assert np.isnan(tiled[:, :20, : 40 + whole.shape[2]]).all()  # overhanging windows: NaN outside the grid
    assert np.array_equal(land[20 : 20 + whole.shape[1], 20 : 20 + whole.shape[2]], layers.land)


def test_open_scene_takes_a_sen3_folder_its_zip_or_a_file_in_it(products):
    for path in (products["l1"], products["l1_zip"], products["l1"] / "xfdumanifest.xml"):
        with open_scene(path, bands=["Oa08", "Oa17"]) as scene:
            assert isinstance(scene, OlciScene)
            assert scene.band_names == ["Oa08", "Oa17"]
            assert scene.resolution == 300.0  # the Sentinel-2 default (20 m) never applies to OLCI
            assert scene.crs.to_epsg() == 32620 and scene.acquisition_date == "2023-06-06"
            assert scene.top_of_atmosphere  # Level-1
    with open_scene(products["l2"], sensor="otci_rgb") as scene:
        assert scene.band_names == ["red", "green", "blue"] and scene.sensor == "otci_rgb"
        assert not scene.top_of_atmosphere  # Level-2
    with open_olci(products["l2"], bands=["Oa17"], crs="EPSG:4326") as geographic:
        assert geographic.crs.to_epsg() == 4326 and abs(geographic.resolution - 300 / 111_320) < 1e-9


def test_sentinel2_models_and_baselines_say_the_product_is_olci(products, tmp_path):
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    with pytest.raises(SargassesError, match="B02, B8A are not OLCI bands"):
        open_scene(products["l1"], bands=["B02", "B8A"])
    with pytest.raises(SargassesError, match="no band near 1240 nm"):
        run_detection(DetectOptions(input=str(products["l2"]), output=str(tmp_path / "r.gpkg"), method="fai"))


def test_unknown_product_types_are_refused(products, tmp_path):
    copy = tmp_path / products["l1"].name.replace("OL_1_EFR", "OL_1_ERR")
    shutil.copytree(products["l1"], copy)
    manifest = copy / "xfdumanifest.xml"
    manifest.write_text(manifest.read_text().replace("OL_1_EFR___", "OL_1_ERR___"))
    with pytest.raises(SargassesError, match="only OLCI Level-1 EFR"):
        open_scene(copy)
    broken = tmp_path / f"{products['l1'].name}.zip"
    broken.write_bytes(b"PK\x03\x04")
    with pytest.raises(SargassesError, match="not a readable zip"):
        open_scene(broken)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_synthetic_files_are_real_netcdf(products):
    """GDAL's netCDF driver (as SNAP or xarray would) reads the same stored numbers and scaling."""
    path = products["l1"] / "Oa08_radiance.nc"
    netcdf = olci.find_product(products["l1"]).open("Oa08_radiance.nc")
    # without coordinates GDAL would show the rows bottom-up (its netCDF default); the file itself is top-down
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"), rasterio.open(f'NETCDF:"{path}":Oa08_radiance') as dataset:
        assert dataset.dtypes[0] == "uint16" and dataset.nodatavals[0] == 65535
        assert math.isclose(dataset.scales[0], netcdf.attribute("scale_factor", "Oa08_radiance"), rel_tol=1e-6)
        assert np.array_equal(dataset.read(1), netcdf.raw("Oa08_radiance"))
    netcdf.close()


def test_gathered_flags_keep_every_bit():
    """WQSF is uint64 with flags up to bit 63: filling off-swath pixels must not turn it into float64."""
    block = np.array([[2**63 + 1, 3]], np.uint64)
    lookup = Lookup(0, 1, 0, 2, np.array([[0, 0]]), np.array([[0, 1]]), np.array([[True, False]]))
    gathered = lookup.gather(block, fill=0)
    assert gathered.dtype == np.uint64 and gathered.tolist() == [[2**63 + 1, 0]]


def test_cf_decoding_fill_scale_offset_and_log10():
    stored = np.array([[0, 100, 65535]], np.uint16)
    decoded = decode(stored, {"_FillValue": 65535, "scale_factor": 0.01, "add_offset": -1.0})
    assert np.allclose(decoded[0, :2], [-1.0, 0.0]) and np.isnan(decoded[0, 2])
    log = decode(np.array([[200]], np.int16), {"scale_factor": 0.01, "log10_scaled": "true"})
    assert math.isclose(float(log[0, 0]), 100.0, rel_tol=1e-5)


def test_otci_rendering_is_fixed_and_documented():
    """red = Oa12, green = Oa11, blue = Oa10; 255 * clip(R / 0.25, 0, 1) ** 0.5; nodata 0."""
    names = ["Oa10", "Oa11", "Oa12", "Oa17"]
    reflectance = np.zeros((4, 1, 4), np.float32)
    reflectance[2, 0] = [0.0, RGB_MAX_REFLECTANCE / 4, RGB_MAX_REFLECTANCE, 1.0]  # Oa12 -> red
    reflectance[1, 0] = [0.01, 0.01, 0.01, np.nan]  # Oa11 -> green
    rgb = render_otci_rgb(reflectance, names)
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 1, 4)
    assert rgb[0, 0].tolist() == [0, 128, 255, 0]  # the last pixel is nodata (its green is NaN)
    assert rgb[1, 0, 0] == round(255 * math.sqrt(0.01 / RGB_MAX_REFLECTANCE)) and rgb[2, 0, 0] == 0
    assert RGB_BANDS == ("Oa12", "Oa11", "Oa10")
    with pytest.raises(SargassesError, match="Oa10"):
        render_otci_rgb(reflectance[1:], names[1:])


def test_rendered_scene_is_the_rendering_of_the_reflectance(products):
    with open_olci(products["l1"], sensor="otci_rgb") as rendered, open_olci(products["l1"], bands=RGB_BANDS) as bands:
        rgb = rendered.read(Window(30, 40, 100, 80))
        expected = render_float(bands.read(Window(30, 40, 100, 80)))
    assert np.array_equal(rgb, expected, equal_nan=True)
    assert np.nanmax(rgb) <= 255 and np.nanmin(rgb) >= 0 and np.isnan(rgb).any()


def test_afai_at_olci_bands_finds_every_planted_raft_and_its_cover(products, swath):
    """AFAI (Wang & Hu 2016: R748 over the R667 -> R869 line) on OLCI's nearest bands, Oa12 over Oa08 -> Oa17,
    on the L2 product: every raft stands out of the water, nothing else on the water does, and the index gives
    back the planted cover fraction (linear mixing)."""
    planted = json.loads(products["planted"].read_text())
    weight = (753.75 - 665.0) / (865.0 - 665.0)
    with open_olci(products["l2"], bands=["Oa08", "Oa12", "Oa17"]) as scene:
        r665, r754, r865 = scene.read()
        excluded = scene.read_exclusion().excluded
        rows, cols, _ = _swath_pixels(scene)
    afai = r754 - (r665 + (r865 - r665) * weight)
    water_afai = np.nanmedian(afai[~excluded])
    found = (afai - water_afai > 0.003) & ~excluded
    raft_pixels = np.zeros(found.shape, bool)
    for raft in planted["rafts"]:
        raft_pixels |= (rows == raft["swath_row"]) & (cols == raft["swath_col"])
    assert not (found & ~raft_pixels).any()  # no false alarm on the water
    s = olci_spectrum("dense_sargassum")
    w = olci_spectrum("water")
    full = (s[11] - (s[7] + (s[16] - s[7]) * weight)) - (w[11] - (w[7] + (w[16] - w[7]) * weight))
    for raft in planted["rafts"]:
        at = (rows == raft["swath_row"]) & (cols == raft["swath_col"])
        if not at.any():
            continue  # nearest neighbour may skip a swath pixel where the grid is finer than the swath's edge
        assert found[at].all(), raft
        fraction = float(np.mean(afai[at] - water_afai)) / full
        assert abs(fraction - raft["fraction"]) < 0.03, (fraction, raft)
    seen = sum(bool(((rows == r["swath_row"]) & (cols == r["swath_col"])).any()) for r in planted["rafts"])
    assert seen >= len(planted["rafts"]) - 1
    assert math.isclose(planted["total_area_m2"], sum(r["area_m2"] for r in planted["rafts"]))
    assert all(
        math.isclose(r["area_m2"], r["fraction"] * swath.pixel_area[r["swath_row"], r["swath_col"]])
        for r in planted["rafts"]
    )


def _hand_set_model(path: Path, bands: list[str], sensor: str, high: str, low: str, rise: float, gain: float) -> Path:
    """A HalfUNet whose answer is known: sigmoid(gain * (max(high - low, 0) - rise)) per pixel."""
    from model_helpers import make_card, red_edge_weights

    from sargasses.model_file import save_model_file

    card = make_card(
        "HalfUNet",
        {"num_filters": 4, "bias": True, "autopad_enabled": True},
        band_names=bands,
        sensor=sensor,
        gsd_m=300.0,
        tile_size=64,
        tile_overlap=16,
        name=f"test-{sensor}",
    )
    return save_model_file(path, red_edge_weights(card, gain=gain, rise=rise, high=high, low=low), card)


def test_an_rgb_model_runs_on_a_level2_product_and_finds_the_planted_rafts(products, tmp_path):
    """An original-way model (rendered 0-255 RGB, sensor otci_rgb) on the .SEN3 directly: hand-set weights flag
    red - blue > 4 (a raft's red-edge rise in the rendering; water is about -3), so every raft pixel must be found
    and nothing else; land and cloud are counted from the product's flags."""
    import geopandas

    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    model = _hand_set_model(tmp_path / "otci.sargasses", ["red", "green", "blue"], "otci_rgb", "red", "blue", 4.0, 2.0)
    output = tmp_path / "rafts.gpkg"
    summary = run_detection(DetectOptions(input=str(products["l2_zip"]), output=str(output), model=str(model)))
    with open_olci(products["l2"], bands=["Oa17"]) as scene:
        layers = scene.read_exclusion()
        rows, cols, _ = _swath_pixels(scene)
        transform = scene.transform
    pixels = summary["pixels"]
    assert pixels["land"] == int((layers.land).sum()) > 0  # WFR's land has no values: the LAND flag says land
    assert pixels["cloud"] == int((layers.cloud & ~layers.land).sum()) > 0
    rafts = geopandas.read_file(output)
    planted = json.loads(products["planted"].read_text())
    centres = []
    for raft in planted["rafts"]:
        at = np.argwhere((rows == raft["swath_row"]) & (cols == raft["swath_col"]))
        centres += [transform @ (c + 0.5, r + 0.5) for r, c in at]
    from shapely.geometry import Point

    hits = [any(geometry.contains(Point(x, y)) for geometry in rafts.geometry) for x, y in centres]
    assert all(hits) and len(rafts) <= len(planted["rafts"])
    assert summary["pixels"]["detected"] == len(centres)
    assert summary["min_raft_pixels"] == 1  # 300 m pixels: single-pixel rafts are kept by default


def test_product_flags_keep_land_out_of_a_level1_detection(products, swath, tmp_path):
    """On Level-1, vegetation's red edge (Oa12 over Oa08) is far stronger than a raft's: the island would be one
    big raft. The product's land flag keeps it out."""
    import geopandas
    from shapely.geometry import Point

    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    model = _hand_set_model(tmp_path / "l1.sargasses", ["Oa08", "Oa12"], "sentinel3_olci", "Oa12", "Oa08", 0.05, 200.0)
    output = tmp_path / "rafts.gpkg"
    summary = run_detection(DetectOptions(input=str(products["l1"]), output=str(output), model=str(model)))
    r, c = (int(v) for v in np.argwhere(swath.land).mean(axis=0))  # the island's centre
    with open_olci(products["l1"], bands=["Oa08"]) as scene:
        to_map = Transformer.from_crs("EPSG:4326", scene.crs.to_wkt(), always_xy=True)
        centre = Point(*to_map.transform(swath.lon[r, c], swath.lat[r, c]))
        island = int(scene.read_exclusion().land.sum())
    assert summary["pixels"]["land"] == island > 0
    assert not any(geometry.contains(centre) for geometry in geopandas.read_file(output).geometry)
    assert summary["pixels"]["detected"] == 0  # and the rafts' red edge at the TOA (cover <= 0.6) stays under 0.05


def test_synth_command_writes_product_pairs_and_keeps_what_exists(tmp_path, capsys):
    from sargasses.synth.cli import main

    assert main([str(tmp_path), "--olci", "--seed", "2", "--count", "2", "--zip"]) == 0
    for seed in (2, 3):
        assert len(list(tmp_path.glob(f"*_{seed:04d}_MAR_O_NT_003.SEN3"))) == 2
        assert len(list(tmp_path.glob(f"*_{seed:04d}_MAR_O_NT_003.SEN3.zip"))) == 2
        assert json.loads((tmp_path / f"olci_{seed:04d}_planted.json").read_text())["seed"] == seed
    assert main([str(tmp_path), "--olci", "--seed", "3"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([str(tmp_path / "s2"), "--zip"]) == 1  # --zip is for OLCI products


def test_outputs_never_go_inside_the_input_product(products, tmp_path):
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    inside = products["l2"] / "rafts.gpkg"
    with pytest.raises(SargassesError, match="inside the input product"):
        run_detection(DetectOptions(input=str(products["l2"] / "xfdumanifest.xml"), output=str(inside), method="afai"))
    assert not inside.exists()


def test_quicklook_colours_olci_and_rendered_scenes():
    """NIR, red, green as for Sentinel-2 (Oa17, Oa08, Oa06); a rendered RGB scene as it is."""
    from sargasses.outputs.quicklook import Quicklook

    olci_bands = [f"Oa{i:02d}" for i in range(1, 22)]
    assert Quicklook(8, 8, olci_bands).bands == [16, 7, 5]
    assert Quicklook(8, 8, ["red", "green", "blue"]).bands == [0, 1, 2]
    assert Quicklook(8, 8, ["B02", "B03", "B04", "B8A"]).bands == [3, 2, 1]


def test_product_flags_join_the_spectral_masks():
    """Flagged land or cloud stays land or cloud where the values are missing (WFR's land); flagged invalid is
    nodata whatever the values say."""
    from sargasses.reading.masking import ExclusionLayers

    def layers(nodata, land, cloud):
        return ExclusionLayers(np.array(nodata), np.array(land), np.array(cloud))

    spectral = layers([True, True, False, False], [False, False, False, True], [False, False, True, False])
    flags = layers([False, False, True, False], [True, False, False, False], [False, True, False, False])
    joined = spectral.with_flags(flags)
    assert joined.nodata.tolist() == [False, False, True, False]
    assert joined.land.tolist() == [True, False, False, True]
    assert joined.cloud.tolist() == [False, True, False, False]


def test_rendered_inputs_are_range_checked_as_0_to_255():
    from sargasses.detection.input_checks import InputCheck

    fine, wrong = InputCheck(rendered=True), InputCheck(rendered=True)
    fine.add(np.full((3, 8, 8), 200.0, np.float32))
    wrong.add(np.full((3, 8, 8), 300.0, np.float32))
    assert fine.verdict("x.png") is None
    with pytest.raises(SargassesError, match=r"outside the range a rendered RGB image can take \(0 to 255\)"):
        wrong.verdict("x.png")
    as_reflectance = InputCheck()
    as_reflectance.add(np.full((3, 8, 8), 200.0, np.float32))
    with pytest.raises(SargassesError, match="reflectance can take"):
        as_reflectance.verdict("x.tif")


@pytest.mark.parametrize("level", ["l1", "l2"])
def test_afai_baseline_runs_on_an_olci_product_and_finds_the_planted_rafts(products, level, tmp_path):
    """`--method afai` on a .SEN3 (Oa12 over Oa08 -> Oa17, the OLCI default threshold): every planted raft in a
    polygon, no polygon elsewhere, single-pixel rafts kept (300 m pixels)."""
    import geopandas
    from shapely.geometry import Point

    from sargasses.detection.baseline import OLCI_DEFAULT_THRESHOLDS
    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection

    output = tmp_path / "rafts.gpkg"
    summary = run_detection(DetectOptions(input=str(products[level]), output=str(output), method="afai"))
    assert summary["threshold"] == OLCI_DEFAULT_THRESHOLDS["afai"] and summary["min_raft_pixels"] == 1
    rafts = geopandas.read_file(output)
    planted = json.loads(products["planted"].read_text())
    with open_olci(products[level], bands=["Oa17"]) as scene:
        rows, cols, _ = _swath_pixels(scene)
        transform = scene.transform
    seen = 0
    for raft in planted["rafts"]:
        at = np.argwhere((rows == raft["swath_row"]) & (cols == raft["swath_col"]))
        if not len(at):
            continue  # nearest neighbour skipped this swath pixel (see the reader's limits)
        seen += 1
        x, y = transform @ (at[0][1] + 0.5, at[0][0] + 0.5)
        assert any(geometry.contains(Point(x, y)) for geometry in rafts.geometry), raft
    assert seen >= len(planted["rafts"]) - 1 and len(rafts) <= seen
