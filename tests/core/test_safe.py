"""Sentinel-2 .SAFE products: band files found, MTD scaling applied, bands stacked on one grid at 20 m."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from sargasses.errors import SargassesError
from sargasses.reading import safe
from sargasses.reading.scene import open_scene
from sargasses.reading.sensors import DEFAULT_BANDS


def test_jp2_driver_available() -> None:
    """The fake products are real JPEG 2000 files: rasterio's GDAL must have the driver, as users' has."""
    with rasterio.Env() as env:
        assert "JP2OpenJPEG" in env.drivers()


def _reflectance(dn: np.ndarray, offset: float) -> np.ndarray:
    return (dn.astype(np.float64) + offset) / 10000.0


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    return a.reshape(a.shape[0] // k, k, a.shape[1] // k, k).mean(axis=(1, 3))


def test_l2a_product_stacks_default_bands_at_20m_with_mtd_offsets(tmp_path, make_safe) -> None:
    offsets = {b: -1000.0 for b in DEFAULT_BANDS} | {"B8A": -900.0, "B11": -800.0}
    root, dn = make_safe(tmp_path, "L2A", offsets=offsets)
    with open_scene(root) as scene:
        assert scene.band_names == list(DEFAULT_BANDS)
        assert scene.sensor == "sentinel2_l2a" and not scene.top_of_atmosphere
        assert scene.product_id == root.name[:-5]
        assert scene.acquisition_date == "2023-06-14"
        assert (scene.width, scene.height) == (12, 12)
        assert scene.resolution == 20.0
        assert scene.crs.to_epsg() == 32620
        with rasterio.open(next(root.glob("GRANULE/*/IMG_DATA/R20m/*_B05_20m.jp2"))) as b05:
            assert scene.transform.almost_equals(b05.transform)
        data = scene.read()
    assert data.shape == (10, 12, 12) and data.dtype == np.float32
    for i, band in enumerate(DEFAULT_BANDS):
        # L2A ships every 10 m band also at 20 m: that file is used as is.
        expected = _reflectance(dn[(band, 20.0)], offsets[band])
        np.testing.assert_allclose(data[i], expected, atol=1e-6, err_msg=band)


def test_l1c_coarsens_10m_by_block_average_and_refines_60m_bilinearly(tmp_path, make_safe) -> None:
    root, dn = make_safe(tmp_path, "L1C", offsets={b: -1000.0 for b in ("B01", "B02", "B8A")})
    with open_scene(root, bands=["B02", "B01", "B8A"]) as scene:
        assert scene.sensor == "sentinel2_l1c" and scene.top_of_atmosphere
        data = scene.read()
    with open_scene(root, sensor="sentinel2_l2a") as scene:  # the profile read with, not what the product is
        assert scene.top_of_atmosphere
    # A 20 m pixel is the mean of the 2x2 block of 10 m pixels it covers.
    np.testing.assert_allclose(data[0], _block_mean(_reflectance(dn[("B02", 10.0)], -1000), 2), atol=1e-6)
    np.testing.assert_allclose(data[2], _reflectance(dn[("B8A", 20.0)], -1000), atol=1e-6)
    # 60 m -> 20 m: bilinear between 60 m pixel centres, checked where four neighbours exist.
    b01 = _reflectance(dn[("B01", 60.0)], -1000)
    f = (np.arange(12) + 0.5) / 3 - 0.5  # 20 m pixel centres in 60 m pixel coordinates
    inner = (f >= 0) & (f <= b01.shape[0] - 1)
    i0 = np.clip(np.floor(f).astype(int), 0, b01.shape[0] - 2)
    w = f - i0
    rows = b01[i0] * (1 - w)[:, None] + b01[i0 + 1] * w[:, None]
    expected = rows[:, i0] * (1 - w)[None, :] + rows[:, i0 + 1] * w[None, :]
    np.testing.assert_allclose(data[1][np.ix_(inner, inner)], expected[np.ix_(inner, inner)], atol=1e-5)


def test_l2a_without_20m_copies_averages_the_10m_files(tmp_path, make_safe) -> None:
    root, dn = make_safe(tmp_path, "L2A", bands={"B02": [10], "B05": [20]}, offsets={"B02": -1000, "B05": -1000})
    with open_scene(root, bands=["B02", "B05"]) as scene:
        data = scene.read()
    np.testing.assert_allclose(data[0], _block_mean(_reflectance(dn[("B02", 10.0)], -1000), 2), atol=1e-6)


def test_stack_at_10m_keeps_10m_bands_and_refines_20m(tmp_path, make_safe) -> None:
    root, dn = make_safe(tmp_path, "L2A", bands={"B02": [10, 20], "B05": [20]}, offsets={})
    with open_scene(root, bands=["B02", "B05"], resolution=10) as scene:
        assert (scene.width, scene.height, scene.resolution) == (24, 24, 10.0)
        data = scene.read()
    np.testing.assert_allclose(data[0], _reflectance(dn[("B02", 10.0)], -1000), atol=1e-6)
    # Bilinear refinement keeps the mean level and stays within the 20 m values' range.
    b05 = _reflectance(dn[("B05", 20.0)], -1000)
    assert b05.min() - 1e-6 <= np.nanmin(data[1]) and np.nanmax(data[1]) <= b05.max() + 1e-6
    np.testing.assert_allclose(_block_mean(data[1], 2)[3:-3, 3:-3].mean(), b05[3:-3, 3:-3].mean(), atol=2e-3)


def test_nodata_zero_stays_nan_and_is_left_out_of_averages(tmp_path, make_safe, write_raster) -> None:
    root, dn = make_safe(tmp_path, "L1C", bands={"B02": [10]}, offsets={"B02": -1000})
    b02 = dn[("B02", 10.0)].copy()
    b02[0:2, 0:2] = 0  # a whole 20 m block without data
    b02[2, 2] = 0  # one of four 10 m pixels without data
    band_file = next(root.glob("GRANULE/*/IMG_DATA/*_B02.jp2"))
    band_file.unlink()
    write_raster(band_file, b02, resolution=10, driver="JP2OpenJPEG")
    with open_scene(root, bands=["B02"]) as scene:
        data = scene.read()[0]
    assert np.isnan(data[0, 0]) and np.isnan(data).sum() == 1
    expected = _reflectance(b02[2:4, 2:4].ravel()[1:], -1000).mean()
    assert data[1, 1] == pytest.approx(expected, abs=1e-6)


def test_window_equals_the_same_slice_of_a_full_read(tmp_path, make_safe) -> None:
    root, _ = make_safe(tmp_path, "L1C", offsets={})
    with open_scene(root, bands=["B01", "B02", "B05", "B12"]) as scene:
        full = scene.read()
        for window in (Window(3, 5, 4, 6), Window(0, 0, 12, 12), Window(7, 1, 5, 11)):
            part = scene.read(window)
            rows, cols = window.toslices()
            np.testing.assert_array_equal(part, full[:, rows, cols])


def test_one_band_file_opens_its_whole_product(tmp_path, make_safe) -> None:
    root, _ = make_safe(tmp_path, "L2A", offsets={"B02": -1000})
    band_file = next(root.glob("GRANULE/*/IMG_DATA/R10m/*_B03_10m.jp2"))
    with open_scene(band_file) as from_file, open_scene(root) as from_folder:
        assert from_file.band_names == from_folder.band_names
        assert from_file.product_id == from_folder.product_id
        np.testing.assert_array_equal(from_file.read(), from_folder.read())


@pytest.mark.parametrize(("baseline", "offset"), [("N0509", -1000.0), ("N0301", 0.0)])
def test_without_mtd_the_offset_follows_the_baseline_in_the_name(tmp_path, make_safe, baseline, offset) -> None:
    name = f"S2A_MSIL2A_20210101T143521_{baseline}_R053_T20QKD_20210101T170512"
    root, dn = make_safe(tmp_path, "L2A", name=name, bands={"B05": [20]}, with_mtd=False)
    with open_scene(root, bands=["B05"]) as scene:
        assert scene.acquisition_date == "2021-01-01"
        np.testing.assert_allclose(scene.read()[0], _reflectance(dn[("B05", 20.0)], offset), atol=1e-6)


def test_mtd_parsing(tmp_path, make_safe) -> None:
    root, _ = make_safe(tmp_path, "L2A", bands={"B05": [20]}, offsets={"B02": -1000, "B8A": -900, "B12": -700})
    product = safe.read_product(root)
    assert product.level == "L2A"
    assert product.quantification == 10000
    assert product.offsets == {"B02": -1000, "B8A": -900, "B12": -700}
    assert product.nodata == 0
    assert product.date == "2023-06-14"


def test_missing_band_error_names_it_and_the_bands_found(tmp_path, make_safe) -> None:
    root, _ = make_safe(tmp_path, "L2A", bands={"B02": [10], "B05": [20]})
    with pytest.raises(SargassesError, match=r"band B11 \(bands found: B02, B05\)"):
        open_scene(root, bands=["B02", "B11"])


def test_unrecognised_level_is_named(tmp_path, make_safe) -> None:
    root, _ = make_safe(tmp_path, "L2A", name="my_product", bands={"B05": [20]}, with_mtd=False)
    with pytest.raises(SargassesError, match=r"product level .* not recognised"):
        open_scene(root)
    root, _ = make_safe(tmp_path, "L1B", name="S2A_MSIL1B_20230614T143521_N0509", bands={"B05": [20]})
    with pytest.raises(SargassesError, match="Level-1B"):
        open_scene(root)


def test_zipped_product_asks_to_unzip(tmp_path) -> None:
    archive = tmp_path / "S2A_MSIL2A_20230614T143521_N0509_R053_T20QKD_20230614T170512.zip"
    archive.write_bytes(b"PK\x03\x04")
    with pytest.raises(SargassesError, match="Unzip"):
        open_scene(archive)


def test_two_granules_with_the_same_band_are_refused(tmp_path, make_safe, write_raster) -> None:
    root, dn = make_safe(tmp_path, "L1C", bands={"B05": [20]})
    write_raster(root / "GRANULE/L1C_T20QKE/IMG_DATA/T20QKE_20230614T143521_B05.jp2", dn[("B05", 20.0)])
    with pytest.raises(SargassesError, match="several granules"):
        open_scene(root)
