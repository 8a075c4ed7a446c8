"""Reading GeoTIFF/VRT scenes: bands matched by name or position, scaled to reflectance, read by window."""

from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading.scene import open_scene
from sargasses.reading.sensors import DEFAULT_BANDS

SYNTH_TAGS = {
    "BOA_ADD_OFFSET": -1000,
    "BOA_QUANTIFICATION_VALUE": 10000,
    "SENSOR": "sentinel2_l2a",
    "PRODUCT_ID": "synthetic_0007",
    "ACQUISITION_DATE": "2024-03-09",
}


def _dn(count: int, height: int = 30, width: int = 40, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(1001, 9000, size=(count, height, width)).astype(np.uint16)


def test_synthetic_uint16_scene_reads_as_reflectance_with_its_offset(tmp_path, write_raster) -> None:
    dn = _dn(10)
    dn[:, 0, :3] = 0  # nodata
    path = write_raster(tmp_path / "s.tif", dn, nodata=0, descriptions=DEFAULT_BANDS, tags=SYNTH_TAGS)
    with open_scene(path) as scene:
        assert scene.band_names == list(DEFAULT_BANDS)
        assert (scene.sensor, scene.product_id, scene.acquisition_date) == (
            "sentinel2_l2a",
            "synthetic_0007",
            "2024-03-09",
        )
        assert (scene.width, scene.height, scene.resolution) == (40, 30, 20.0)
        with rasterio.open(path) as src:
            assert scene.transform == src.transform and scene.crs == src.crs
        data = scene.read()
    expected = (dn.astype(np.float64) - 1000) / 10000
    expected[dn == 0] = np.nan
    np.testing.assert_allclose(data, expected, atol=1e-6)
    assert np.isnan(data[:, 0, :3]).all() and np.isnan(data).sum() == 30


def test_float_scene_is_reflectance_as_is_and_nan_stays_nan(tmp_path, write_raster) -> None:
    refl = np.random.default_rng(2).uniform(0, 0.3, size=(10, 16, 16)).astype(np.float32)
    refl[3, 5, 5] = np.nan
    path = write_raster(tmp_path / "f.tif", refl, nodata=np.nan, descriptions=DEFAULT_BANDS, tags=SYNTH_TAGS)
    with open_scene(path) as scene:
        data = scene.read()
    np.testing.assert_array_equal(data, refl)  # no offset on float data, even with the tag present


def test_bands_are_matched_by_description_in_any_order_and_spelling(tmp_path, write_raster) -> None:
    spellings = ["b12", "B11_1610", "B8A_865", "B8", "B7", "B06", "B05", "B4", "B3", "B02", "QA"]
    dn = _dn(len(spellings))
    path = write_raster(tmp_path / "m.tif", dn, descriptions=spellings)
    with open_scene(path) as scene:
        data = scene.read()
    assert scene.band_names == list(DEFAULT_BANDS)
    # DEFAULT_BANDS order is B02..B12: file band 10 (B02) first, file band 1 (b12) last.
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    np.testing.assert_allclose(data, dn[order].astype(np.float64) / 10000, atol=1e-6)


def test_bands_asked_in_another_spelling_come_back_in_the_profile_spelling(tmp_path, write_raster) -> None:
    dn = _dn(10)
    path = write_raster(tmp_path / "m.tif", dn, descriptions=DEFAULT_BANDS)
    with open_scene(path, bands=["b8a", "B4", "B11"]) as scene:
        assert scene.band_names == ["B8A", "B04", "B11"]
        np.testing.assert_allclose(scene.read(), dn[[7, 2, 8]] / 10000.0, atol=1e-6)


def test_unnamed_bands_are_taken_by_position_when_the_count_matches(tmp_path, write_raster) -> None:
    dn = _dn(10)
    path = write_raster(tmp_path / "u.tif", dn)
    with open_scene(path) as scene:
        assert scene.band_names == list(DEFAULT_BANDS)
        np.testing.assert_allclose(scene.read(), dn / 10000.0, atol=1e-6)


def test_unnamed_bands_of_another_count_are_refused(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "u.tif", _dn(4))
    with pytest.raises(SargassesError, match=r"4 band.*10 are needed"):
        open_scene(path)


def test_missing_band_error_names_the_band_and_the_bands_found(tmp_path, write_raster) -> None:
    names = [b for b in DEFAULT_BANDS if b != "B8A"]
    path = write_raster(tmp_path / "m.tif", _dn(9), descriptions=names)
    with pytest.raises(SargassesError) as info:
        open_scene(path)
    message = str(info.value)
    assert "lacks band(s) B8A" in message
    assert "its bands are B02, B03, B04, B05, B06, B07, B08, B11, B12" in message


def test_not_a_raster_is_named(tmp_path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("these are not pixels")
    with pytest.raises(SargassesError, match=r"notes\.tif is not a raster"):
        open_scene(path)


def test_missing_path_and_plain_folder_are_named(tmp_path) -> None:
    with pytest.raises(SargassesError, match="does not exist"):
        open_scene(tmp_path / "nowhere.tif")
    with pytest.raises(SargassesError, match=r"neither a Sentinel-2 \.SAFE nor a Sentinel-3 \.SEN3 product"):
        open_scene(tmp_path)


def test_complex_data_is_refused(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "c.tif", np.ones((10, 4, 4), dtype=np.complex64))
    with pytest.raises(SargassesError, match="complex"):
        open_scene(path)


def test_single_band_paletted_image_is_refused(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "p.tif", np.zeros((1, 4, 4), dtype=np.uint8))
    with rasterio.open(path, "r+") as dst:
        dst.write_colormap(1, {0: (0, 0, 0, 255), 1: (255, 0, 0, 255)})
    with pytest.raises(SargassesError, match="single-band image with a colour palette"):
        open_scene(path, sensor="otci_rgb")


def test_band_level_offset_wins_over_dataset_level(tmp_path, write_raster) -> None:
    dn = _dn(10)
    path = write_raster(
        tmp_path / "o.tif",
        dn,
        descriptions=DEFAULT_BANDS,
        tags={"BOA_ADD_OFFSET": -1000},
        band_tags={8: {"BOA_ADD_OFFSET": -500}},  # B8A
    )
    with open_scene(path, bands=["B02", "B8A"]) as scene:
        data = scene.read()
    np.testing.assert_allclose(data[0], (dn[0] - 1000.0) / 10000, atol=1e-6)
    np.testing.assert_allclose(data[1], (dn[7] - 500.0) / 10000, atol=1e-6)


def test_undeclared_zero_is_nodata_for_sentinel2_digital_numbers(tmp_path, write_raster) -> None:
    dn = _dn(10)
    dn[:, 4, 4] = 0
    path = write_raster(tmp_path / "z.tif", dn, descriptions=DEFAULT_BANDS)
    with open_scene(path) as scene:
        assert np.isnan(scene.read()[:, 4, 4]).all()


def test_windows_equal_the_same_slice_of_a_full_read(tmp_path, write_raster) -> None:
    dn = _dn(10, 30, 40)
    dn[2, 10:12, 10:13] = 0
    path = write_raster(tmp_path / "w.tif", dn, nodata=0, descriptions=DEFAULT_BANDS, tags=SYNTH_TAGS)
    for resolution in (20.0, 40.0, 10.0):  # own grid, coarsened by average, refined bilinearly
        with open_scene(path, resolution=resolution) as scene:
            full = scene.read()
            h, w = scene.height, scene.width
            for window in (Window(0, 0, w, h), Window(3, 7, 9, 5), Window(w - 6, h - 4, 6, 4)):
                rows, cols = window.toslices()
                np.testing.assert_array_equal(scene.read(window), full[:, rows, cols])


def test_window_overhanging_the_edge_is_nan_outside(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "e.tif", _dn(10, 8, 8), descriptions=DEFAULT_BANDS)
    with open_scene(path) as scene:
        full = scene.read()
        part = scene.read(Window(-2, 5, 6, 6))
    assert part.shape == (10, 6, 6)
    assert np.isnan(part[:, :, :2]).all() and np.isnan(part[:, 3:, :]).all()
    np.testing.assert_array_equal(part[:, :3, 2:], full[:, 5:8, 0:4])


def test_a_window_reads_only_its_own_blocks(tmp_path, write_raster) -> None:
    """A damaged tile far from the window is never touched: the reader does not read the whole scene."""
    dn = _dn(2, 1024, 256)
    path = write_raster(
        tmp_path / "t.tif",
        dn,
        descriptions=["B02", "B03"],
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        interleave="band",
    )
    with rasterio.open(path) as src:  # byte range of band 1's last tile, from GDAL's TIFF metadata
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_3", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_3", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    raw[offset : offset + size] = b"\xff" * size
    path.write_bytes(bytes(raw))
    for resolution in (20.0, 40.0):  # own grid, and resampled through a warped view
        with open_scene(path, bands=["B02"], resolution=resolution) as scene:
            assert np.isfinite(scene.read(Window(0, 0, 64, 64))).all()
            with pytest.raises(SargassesError, match=r"band B02 of .*t\.tif could not be read"):
                scene.read()


def test_geotiff_at_10m_is_averaged_to_20m(tmp_path, write_raster) -> None:
    dn = _dn(10, 20, 20)
    path = write_raster(tmp_path / "ten.tif", dn, resolution=10.0, descriptions=DEFAULT_BANDS)
    with open_scene(path) as scene:
        assert (scene.width, scene.height, scene.resolution) == (10, 10, 20.0)
        data = scene.read()
    expected = (dn / 10000.0).reshape(10, 10, 2, 10, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(data, expected, atol=1e-6)


def test_geographic_raster_keeps_its_own_grid(tmp_path, write_raster) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, size=(3, 12, 10)).astype(np.uint8)
    path = write_raster(tmp_path / "otci.tif", rgb, crs="EPSG:4326", resolution=0.01, origin=(-60.0, 15.0))
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    with open_scene(path) as scene:
        assert scene.sensor == "otci_rgb"  # guessed from the red/green/blue colour interpretation
        assert scene.band_names == ["red", "green", "blue"]
        assert (scene.width, scene.height) == (10, 12)
        assert scene.resolution == pytest.approx(0.01)
        data = scene.read()
    np.testing.assert_array_equal(data, rgb.astype(np.float32))  # 0-255 as float, no scaling


def test_unnamed_rgb_png_like_image_with_sensor_given(tmp_path, write_raster) -> None:
    rgb = np.random.default_rng(4).integers(0, 256, size=(3, 8, 8)).astype(np.uint8)
    path = write_raster(tmp_path / "otci.tif", rgb, crs=None)
    with open_scene(path, sensor="otci_rgb") as scene:
        np.testing.assert_array_equal(scene.read(), rgb.astype(np.float32))


def test_olci_band_names_are_recognised_without_a_sensor_tag(tmp_path, write_raster) -> None:
    refl = np.random.default_rng(5).uniform(0, 0.2, size=(3, 6, 6)).astype(np.float32)
    path = write_raster(tmp_path / "olci.tif", refl, descriptions=["Oa08_reflectance", "Oa17", "Oa21"])
    with open_scene(path, bands=["Oa17", "Oa8"]) as scene:
        assert scene.sensor == "sentinel3_olci"
        assert scene.band_names == ["Oa17", "Oa08"]
        np.testing.assert_array_equal(scene.read(), refl[[1, 0]])


def test_landsat_digital_numbers_use_the_collection2_scaling(tmp_path, write_raster) -> None:
    dn = np.full((7, 4, 4), 10000, dtype=np.uint16)
    names = [f"SR_B{i}" for i in range(1, 8)]
    path = write_raster(tmp_path / "lc09.tif", dn, resolution=30.0, descriptions=names)
    with open_scene(path, resolution=None) as scene:
        assert scene.sensor == "landsat_oli"
        np.testing.assert_allclose(scene.read(), 10000 * 2.75e-5 - 0.2, atol=1e-6)


def test_vrt_of_single_band_files_is_read_like_a_geotiff(tmp_path, write_raster) -> None:
    dn = _dn(2, 10, 10)
    a = write_raster(tmp_path / "a.tif", dn[0])
    b = write_raster(tmp_path / "b.tif", dn[1])
    vrt = tmp_path / "stack.vrt"
    with rasterio.open(a) as src:
        xml = "".join(
            f'<VRTRasterBand dataType="UInt16" band="{i}"><Description>{name}</Description>'
            f'<SimpleSource><SourceFilename relativeToVRT="1">{f.name}</SourceFilename>'
            f"<SourceBand>1</SourceBand>"
            "</SimpleSource></VRTRasterBand>"
            for i, (name, f) in enumerate([("B8A", a), ("B04", b)], start=1)
        )
        vrt.write_text(
            f'<VRTDataset rasterXSize="10" rasterYSize="10"><SRS>{src.crs.to_wkt()}</SRS>'
            f"<GeoTransform>{', '.join(str(v) for v in src.transform.to_gdal())}</GeoTransform>{xml}</VRTDataset>"
        )
    with open_scene(vrt, bands=["B04", "B8A"]) as scene:
        np.testing.assert_allclose(scene.read(), dn[[1, 0]] / 10000.0, atol=1e-6)


def test_unknown_sensor_lists_the_known_ones(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "s.tif", _dn(10))
    with pytest.raises(SargassesError, match="known sensors are sentinel2_l2a, sentinel2_l1c"):
        open_scene(path, sensor="modis")


def test_foreign_sensor_tag_falls_back_to_band_names(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "f.tif", _dn(10), descriptions=DEFAULT_BANDS, tags={"SENSOR": "MSI"})
    with open_scene(path) as scene:
        assert scene.sensor == "sentinel2_l2a" and scene.band_names == list(DEFAULT_BANDS)


def test_a_pickled_scene_reopens_its_files(tmp_path, write_raster) -> None:
    path = write_raster(tmp_path / "p.tif", _dn(10), resolution=10.0, descriptions=DEFAULT_BANDS)
    with open_scene(path) as scene:
        before = scene.read(((2, 6), (1, 5)))  # rasterio's ((row_start, row_stop), (col_start, col_stop))
        with pickle_roundtrip(scene) as copy:
            np.testing.assert_array_equal(copy.read(Window(1, 2, 4, 4)), before)


@contextlib.contextmanager
def pickle_roundtrip(scene):
    copy = pickle.loads(pickle.dumps(scene))
    try:
        yield copy
    finally:
        copy.close()


def test_undeclared_nan_is_left_out_of_averages(tmp_path, write_raster) -> None:
    refl = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4).repeat(10, axis=0) / 1000
    refl[:, 0, 0] = np.nan
    path = write_raster(tmp_path / "n.tif", refl, resolution=10.0, descriptions=DEFAULT_BANDS)
    with open_scene(path) as scene:
        data = scene.read()
    assert data[0, 0, 0] == pytest.approx((0.002 + 0.005 + 0.006) / 3)
    assert data[0, 1, 1] == pytest.approx((0.011 + 0.012 + 0.015 + 0.016) / 4)
