"""SargassesDataModule: crops honour the Sargassum share, splits never leak, whole scenes are scored, errors are clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import tiny_datamodule, write_tiny_scenes

from sargasses.errors import SargassesError
from sargasses.training.datamodule import SargassesDataModule


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_scenes(tmp_path_factory.mktemp("dm"))


def test_positive_crops_honour_the_minimum_share(folders):
    share = 0.01
    data = tiny_datamodule(folders, min_positive_share=share, background_share=0.0)
    data.setup("fit")
    shares = []
    for i in range(len(data.train_set)):
        x, y = data.train_set[i]
        assert x.shape == (10, 64, 64) and x.dtype == torch.float32 and torch.isfinite(x).all()
        shares.append(float((y == 1).float().mean()))
    assert min(shares) >= share
    # with background crops, some crops hold little or no Sargassum: the model also sees plain sea and confounders
    data = tiny_datamodule(folders, min_positive_share=share, background_share=0.5)
    data.setup("fit")
    low = sum(float((data.train_set[i][1] == 1).float().mean()) < share for i in range(len(data.train_set)))
    assert 30 < low < 170


def test_augmentation_flips_and_rotates_image_and_label_together(folders):
    data = tiny_datamodule(folders, min_positive_share=0.01, background_share=0.0)
    data.setup("fit")
    dataset = data.train_set
    torch.manual_seed(0)
    x, y = dataset[3]
    # the label sits on the pixels whose spectrum the image shows: Sargassum is bright in B06 (red edge)
    b06 = x[4]
    assert b06[y[0] == 1].mean() > b06[y[0] == 0].mean() + 0.5


def test_validation_tiles_cover_every_scene_pixel_once(folders):
    data = tiny_datamodule(folders, eval_crop_size=64)
    data.setup("validate")
    store = data.stores["val"]
    loader = data.val_dataloader()
    positives = sum(int((y == 1).sum()) for _, y in loader)
    assert positives == sum(int((label == 1).sum()) for label in store.labels)
    scorable = sum(int((y != 255).sum()) for _, y in loader)
    assert scorable == sum(int((label != 255).sum()) for label in store.labels)


def test_split_by_date_keeps_a_date_in_one_split(folders, tmp_path):
    images = sorted(folders["train"].glob("scene_????.tif")) + sorted(folders["val"].glob("scene_????.tif"))
    dated = tmp_path / "dated"
    dated.mkdir()
    for i in range(12):
        source = images[i % len(images)]
        stem = f"S2_202301{1 + i // 2:02d}_tile{i}"  # two scenes per date
        (dated / f"{stem}.tif").symlink_to(source)
        (dated / f"{stem}_label.tif").symlink_to(source.with_name(f"{source.stem}_label.tif"))
    data = SargassesDataModule(images=str(dated), split_by="date", val_share=0.2, test_share=0.2, num_workers=0)
    dates = {split: {s.group for s in scenes} for split, scenes in data.splits.items()}
    assert all(dates.values())
    assert not (dates["train"] & dates["val"] or dates["train"] & dates["test"] or dates["val"] & dates["test"])
    assert sum(len(s) for s in data.splits.values()) == 12


def test_worker_processes_load_batches(folders):
    data = tiny_datamodule(folders, num_workers=2, batch_size=4, crops_per_epoch=16)
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert len(batches) == 4
    assert all(x.shape == (4, 10, 64, 64) and y.shape == (4, 1, 64, 64) for x, y in batches)
    # different crops: workers draw their own positions
    assert not torch.equal(batches[0][0], batches[1][0])


def test_normalization_comes_from_the_sensor_profile(folders):
    data = tiny_datamodule(folders)
    card = data.input_card
    assert card["sensor"] == "sentinel2_l2a" and card["gsd_m"] == 20.0
    assert len(card["normalization"]["mean"]) == 10 and all(s > 0 for s in card["normalization"]["std"])
    # typical clear water maps near 0: the normalization is centred on the sea
    water = np.array(card["normalization"]["mean"])
    assert np.all((water > 0.005) & (water < 0.05))


def test_missing_folder_and_scene_in_two_splits_are_named(folders, tmp_path):
    with pytest.raises(SargassesError, match="does not exist"):
        tiny_datamodule(folders, train_images=str(tmp_path / "missing"))
    with pytest.raises(SargassesError, match="in both the train and the val sets"):
        tiny_datamodule(folders, val_images=str(folders["train"]))


def test_reading_crops_from_disk_gives_the_same_tiles_as_preloading(folders):
    in_memory = tiny_datamodule(folders, preload=True)
    from_disk = tiny_datamodule(folders, preload=False)  # whole Sentinel-2 tiles: crops are read window by window
    in_memory.setup("test")
    from_disk.setup("test")
    for (x1, y1), (x2, y2) in zip(in_memory.test_dataloader(), from_disk.test_dataloader(), strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
