"""Label files onto the scene grid: polygons (GeoPackage, shapefile, GeoJSON), raster masks, the original npz."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from sargasses.errors import SargassesError
from sargasses.reading.labels import find_labelled_scenes, read_label
from sargasses.reading.scene import open_scene

X0, Y0, PIXEL = 600000.0, 1800000.0, 20.0
CRS = "EPSG:32620"
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def write_scene(path, size=20):
    profile = dict(
        driver="GTiff",
        height=size,
        width=size,
        count=10,
        dtype="float32",
        crs=CRS,
        transform=from_origin(X0, Y0, PIXEL, PIXEL),
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((10, size, size), 0.02, np.float32))
        for i, band in enumerate(BANDS, start=1):
            dst.set_band_description(i, band)
    return path


def pixel_box(row0, row1, col0, col1, inset=2.0):
    """A polygon over pixels [row0, row1) x [col0, col1), a little inside their edges."""
    return box(
        X0 + col0 * PIXEL + inset, Y0 - row1 * PIXEL + inset, X0 + col1 * PIXEL - inset, Y0 - row0 * PIXEL - inset
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_polygons_rasterize_onto_the_right_pixels(tmp_path, suffix):
    import geopandas as gpd

    image = write_scene(tmp_path / "scene.tif")
    frame = gpd.GeoDataFrame(geometry=[pixel_box(2, 4, 3, 6), pixel_box(10, 11, 0, 20)], crs=CRS)
    # stored in lon/lat: it must be projected onto the scene's UTM grid
    frame.to_crs("EPSG:4326").to_file(tmp_path / f"scene_label{suffix}")
    [item] = find_labelled_scenes(tmp_path)
    assert item.label == tmp_path / f"scene_label{suffix}"
    with open_scene(image) as scene:
        label = read_label(item.label, scene)
    expected = np.zeros((20, 20), np.uint8)
    expected[2:4, 3:6] = 1
    expected[10, :] = 1
    assert np.array_equal(label, expected)


def test_polygon_class_column_marks_unsure_areas(tmp_path):
    import geopandas as gpd

    image = write_scene(tmp_path / "scene.tif")
    frame = gpd.GeoDataFrame({"class": [1, 255]}, geometry=[pixel_box(0, 5, 0, 5), pixel_box(3, 8, 3, 8)], crs=CRS)
    frame.to_file(tmp_path / "scene_label.gpkg")
    with open_scene(image) as scene:
        label = read_label(tmp_path / "scene_label.gpkg", scene)
    assert (label[0:3, 0:3] == 1).all()
    assert (label[3:8, 3:8] == 255).all()  # not-scorable wins where they overlap
    assert label[15, 15] == 0


def test_raster_label_on_another_grid_is_resampled(tmp_path):
    image = write_scene(tmp_path / "scene.tif")
    coarse = np.zeros((10, 10), np.uint8)
    coarse[2, 3] = 1  # one 40 m pixel = 2 x 2 scene pixels
    profile = dict(
        driver="GTiff", height=10, width=10, count=1, dtype="uint8", crs=CRS, transform=from_origin(X0, Y0, 40.0, 40.0)
    )
    with rasterio.open(tmp_path / "scene_label.tif", "w", **profile) as dst:
        dst.write(coarse, 1)
    with open_scene(image) as scene:
        label = read_label(tmp_path / "scene_label.tif", scene)
    assert np.argwhere(label == 1).tolist() == [[4, 6], [4, 7], [5, 6], [5, 7]]


def test_a_0_255_mask_is_refused_with_advice(tmp_path):
    image = write_scene(tmp_path / "scene.tif")
    profile = dict(
        driver="GTiff",
        height=20,
        width=20,
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=from_origin(X0, Y0, PIXEL, PIXEL),
    )
    with rasterio.open(tmp_path / "scene_label.tif", "w", **profile) as dst:
        dst.write(np.where(np.eye(20) > 0, 200, 0).astype(np.uint8), 1)
    with open_scene(image) as scene, pytest.raises(SargassesError, match=r"must be 0 .* 1 .* or 255"):
        read_label(tmp_path / "scene_label.tif", scene)


def test_scene_without_label_is_named(tmp_path):
    write_scene(tmp_path / "lonely.tif")
    with pytest.raises(SargassesError, match=r"lonely\.tif"):
        find_labelled_scenes(tmp_path)


def test_original_png_and_npz_format_loads(tmp_path):
    """Meteo-France's layout: <date>*_S3_OTCI.png RGB images and <date>_<annotator>.npz masks (arr_0)."""
    from PIL import Image

    from sargasses.training.datamodule import SargassesDataModule

    otci, masks = tmp_path / "otci", tmp_path / "masks"
    otci.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for day in (1, 2, 3, 4):
        rgb = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        mask = np.zeros((96, 128), np.uint8)
        mask[40:44, 10:110] = 1
        rgb[40:44, 10:110] = (250, 10, 10)
        Image.fromarray(rgb).save(otci / f"202204{day:02d}_S3_OTCI.png")
        np.savez(masks / f"202204{day:02d}_w1.npz", mask)
    data = SargassesDataModule(
        images=str(otci),
        labels=str(masks),
        label_format="original",
        sensor="otci_rgb",
        split_by="date",
        val_share=0.25,
        test_share=0.25,
        crop_size=32,
        eval_crop_size=64,
        crops_per_epoch=8,
        num_workers=0,
    )
    assert data.num_bands == 3 and data.input_card["scaling"] == "rendered 0-255"
    assert sorted(len(v) for v in data.splits.values()) == [1, 1, 2]
    data.setup("fit")
    store = data.stores["train"]
    assert np.array_equal(store.labels[0][40:44, 10:110], np.ones((4, 100)))
    x, y = data.train_set[0]
    assert x.shape == (3, 32, 32) and y.shape == (1, 32, 32)
    red = x[0][y[0] == 1]
    assert torch_allclose(red, (250 - 127.5) / 64.0)


def torch_allclose(values, expected) -> bool:
    return bool(((values - expected).abs() < 1e-5).all())
