"""SargassesLightningModule: trains, logs AUROC / IoU and the validation figure, reloads from its checkpoint alone."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from mfai.pytorch.models.half_unet import HalfUNet, HalfUNetSettings
from training_helpers import tiny_datamodule, write_tiny_scenes

from sargasses.errors import SargassesError
from sargasses.evaluation.metrics import pixel_counts
from sargasses.model_file import ModelCard
from sargasses.training.losses import BCEDiceLoss
from sargasses.training.plmodule import SargassesLightningModule, ThresholdSweep


def network(in_channels: int = 10) -> HalfUNet:
    return HalfUNet(in_channels, 1, (64, 64), HalfUNetSettings(num_filters=4, autopad_enabled=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("plmodule")
    folders = write_tiny_scenes(root / "data")
    data = tiny_datamodule(folders, test_images=None, crops_per_epoch=32, min_positive_share=0.005)
    model = SargassesLightningModule(network(), input_card=data.input_card)
    checkpoint = ModelCheckpoint(dirpath=root / "ckpt", monitor="val_best_F1", mode="max")
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=TensorBoardLogger(root / "logs", name="t"),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(model, datamodule=data)
    return model, data, Path(checkpoint.best_model_path), root


def test_checkpoint_reloads_with_no_other_argument(trained):
    model, data, path, _ = trained
    reloaded = SargassesLightningModule.load_from_checkpoint(path, map_location="cpu")
    assert isinstance(reloaded.model, HalfUNet) and isinstance(reloaded.loss, BCEDiceLoss)
    assert reloaded.input_card == data.input_card
    assert reloaded.threshold == pytest.approx(torch.load(path, weights_only=False)["sargasses"]["threshold"])
    x = torch.randn(2, 10, 64, 64)
    state = torch.load(path, weights_only=False)["state_dict"]
    model.load_state_dict(state)
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), reloaded(x))
    card = ModelCard(name="t", version="0", **reloaded.card_fields())
    assert card.architecture["name"] == "HalfUNet" and card.architecture["settings"]["num_filters"] == 4
    assert card.band_names == data.bands and card.threshold == reloaded.threshold


def test_metrics_and_validation_figure_reach_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, _, root = trained
    events = EventAccumulator(glob.glob(str(root / "logs" / "t" / "version_0" / "events*"))[0])
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for name in ("val_AUROC", "val_BinaryJaccardIndex", "val_BinaryF1Score", "val_best_F1", "val_best_threshold"):
        assert name in scalars
    auroc = [e.value for e in events.Scalars("val_AUROC")]
    assert len(auroc) == 2 and all(0.0 <= a <= 1.0 for a in auroc)  # one value per epoch
    images = events.Tags()["images"]
    assert "val_plots/batch_0" in images
    assert len(events.Images("val_plots/batch_0")) == 2  # one figure per epoch


def test_threshold_sweep_finds_the_f1_best_threshold():
    torch.manual_seed(0)
    target = (torch.rand(1, 1, 40, 40) < 0.1).long()
    target[..., :3] = 255
    probability = (torch.rand(1, 1, 40, 40) * 0.6 + 0.35 * (target == 1)).clamp(0, 1)
    sweep = ThresholdSweep()
    sweep.update(probability, target)
    threshold, f1 = sweep.compute()
    label = target[0, 0].numpy().astype("uint8")
    brute = max(pixel_counts(probability[0, 0].numpy() >= t / 1000, label).f1 for t in range(1, 1000))
    assert float(f1) == pytest.approx(brute, abs=1e-6)
    assert pixel_counts(probability[0, 0].numpy() >= float(threshold), label).f1 == pytest.approx(brute, abs=1e-6)


def test_loss_ignores_not_scorable_pixels():
    loss = BCEDiceLoss()
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2, :] = 1
    target[..., 5:, :] = 255
    logits = torch.randn(1, 1, 8, 8)
    changed = logits.clone()
    changed[..., 5:, :] = 50.0  # whatever the network says where nobody can tell
    assert torch.allclose(loss(logits, target), loss(changed, target))


def test_band_count_mismatch_is_named():
    card = {"band_names": ["B02", "B03", "B04"], "normalization": {"mean": [0] * 3, "std": [1] * 3}}
    with pytest.raises(SargassesError, match=r"the data gives 3 bands .* in_channels=10"):
        SargassesLightningModule(network(10), input_card=card)
