"""SargassesLightningModule: mfai's SegmentationLightningModule (binary) made fit for rare, thin Sargassum rafts.

Beyond mfai it:
- scores only scorable pixels (label 255 ignored) and adds AUROC and IoU to mfai's accuracy / F1 / recall / precision;
- picks the F1-best threshold on the validation set every epoch (`val_best_threshold`), and uses it for test;
- logs a validation figure to TensorBoard through `val_plot_step`: colour composite, target, probability, mask;
- carries the model card (sensor, bands, GSD, scaling, normalization, tile size, threshold), so that a checkpoint
  alone gives a model file (`sargasses export-model`), and `load_from_checkpoint(path)` needs no other argument.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torchmetrics as tm
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters, _given_hyperparameters_context
from mfai.pytorch.lightning_modules.segmentation import SegmentationLightningModule
from mfai.pytorch.models.base import BaseModel
from torch import Tensor

from sargasses.detection.tiling import tile_overlap_for
from sargasses.errors import SargassesError
from sargasses.training.losses import BCEDiceLoss

# Lightning advises against saving nn.Module hparams; here it is on purpose (load_from_checkpoint(path) alone).
warnings.filterwarnings("ignore", message=r"Attribute '(model|loss)' is an instance of `nn.Module`")

IGNORE = 255
SWEEP_BINS = 1000  # thresholds 0.000, 0.001, ..., 0.999 for the F1-best threshold


class ThresholdSweep(tm.Metric):
    """Histograms of predicted probability for positive and negative scorable pixels; DDP sums them.

    compute() -> (F1-best threshold, its F1): exact at the bin edges, cheap, and independent of batch order.
    """

    full_state_update = False

    def __init__(self, bins: int = SWEEP_BINS, ignore_index: int = IGNORE) -> None:
        super().__init__()
        self.bins = bins
        self.ignore_index = ignore_index
        self.add_state("positive", default=torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("negative", default=torch.zeros(bins, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probability: Tensor, target: Tensor) -> None:
        index = (probability.detach().float() * self.bins).long().clamp_(0, self.bins - 1).flatten()
        target = target.flatten()
        self.positive += torch.bincount(index[target == 1], minlength=self.bins)
        self.negative += torch.bincount(index[target == 0], minlength=self.bins)

    def compute(self) -> tuple[Tensor, Tensor]:
        # detected when probability >= t_i = i / bins: counts of bins i and above
        tp = self.positive.flip(0).cumsum(0).flip(0).double()
        fp = self.negative.flip(0).cumsum(0).flip(0).double()
        fn = self.positive.sum().double() - tp
        f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1.0)
        f1[0] = -1.0  # threshold 0 detects everything: never a useful choice
        best = int(torch.argmax(f1))
        return torch.tensor(best / self.bins), f1[best].clamp_min(0.0).float()


class SargassesLightningModule(SegmentationLightningModule):
    def __init__(
        self,
        model: BaseModel | None = None,
        loss: torch.nn.Module | None = None,
        segmentation_type: Literal["binary"] = "binary",
        threshold: float = 0.5,
        input_card: dict[str, Any] | None = None,
        plot_batches: Sequence[int] = (0,),
        init_from: str | None = None,
        learning_rate: float | None = None,
    ) -> None:
        """
        Args:
            model: an mfai network (HalfUNet, UNet, Segformer, ...), out_channels=1, returning logits.
            loss: the training loss on logits; default BCEDiceLoss (BCE + Dice, label 255 ignored).
            segmentation_type: only "binary" (Sargassum or not); the name is the original project's.
            threshold: probability threshold until validation has picked the F1-best one.
            input_card: what the data tells the model card (sensor, bands, GSD, normalization, tile size);
                the CLI links it from the DataModule, a checkpoint restores it.
            plot_batches: validation batches whose first crops are drawn in TensorBoard.
            init_from: a model file (.sargasses, or an old .pt) whose weights start the training: fine-tuning. `model` may then be left
                out (the file's network is used); when given, it must be the same network.
            learning_rate: Adam's rate when no optimizer is configured (fine-tuning from Python); the CLI's
                `optimizer:` section takes precedence.
        """
        start = None
        if init_from is not None:
            model, start = _network_from_model_file(init_from, model, input_card)
        if model is None:
            raise SargassesError("model: give a network (model.model in the config) or a model file (model.init_from)")
        if segmentation_type != "binary":
            raise SargassesError(f"segmentation_type={segmentation_type!r}: sargasses trains binary models only")
        if getattr(model, "out_channels", 1) != 1:
            raise SargassesError(f"model.out_channels={model.out_channels}: a binary model needs out_channels=1")
        if input_card is not None and len(input_card["band_names"]) != model.in_channels:
            raise SargassesError(
                f"the data gives {len(input_card['band_names'])} bands ({', '.join(input_card['band_names'])}) "
                f"but the model has in_channels={model.in_channels}; set model.model.init_args.in_channels to "
                f"{len(input_card['band_names'])} or change data.bands"
            )
        super().__init__(model, "binary", loss if loss is not None else BCEDiceLoss())
        # mfai's own call ignores model and loss; saving them too is what makes load_from_checkpoint(path) work
        self._save_all_hyperparameters(threshold, input_card, plot_batches, init_from, learning_rate)
        self.learning_rate = learning_rate
        self.threshold = float(threshold if start is None or threshold != 0.5 else start.threshold)
        self.input_card = dict(input_card or {})
        self.plot_batches = tuple(plot_batches)
        self.val_auroc = tm.classification.BinaryAUROC(thresholds=200, ignore_index=IGNORE)
        self.test_auroc = tm.classification.BinaryAUROC(thresholds=200, ignore_index=IGNORE)
        self.val_sweep = ThresholdSweep()
        self.val_scores: dict[str, float] = {}
        self.test_scores: dict[str, float] = {}
        # one small example (mfai's is 8 full tiles): Lightning's summary runs it through the network
        self.example_input_array = torch.zeros(1, model.in_channels, *model.input_shape)
        self._plot_inputs: tuple[Tensor, Tensor] | None = None

    def _save_all_hyperparameters(
        self,
        threshold: float,
        input_card: dict | None,
        plot_batches: Sequence[int],
        init_from: str | None = None,
        learning_rate: float | None = None,
    ) -> None:
        """Save model and loss as {class_path, init_args}, as LightningCLI does, also when built in Python.

        Stored as plain data, the checkpoint's hyperparameters load with `weights_only=True` and are rebuilt
        by Lightning's CLI instantiator, so `load_from_checkpoint(path)` works alone in both cases.
        """
        if _given_hyperparameters.get() is not None:  # built by LightningCLI: it hands over the config itself
            self.save_hyperparameters()
            return
        try:
            hparams = {
                "model": _describe(self.model, network=True),
                "loss": _describe(self.loss),
                "segmentation_type": "binary",
                "threshold": float(threshold),
                "input_card": input_card,
                "plot_batches": list(plot_batches),
                "init_from": init_from,
                "learning_rate": learning_rate,
            }
        except (TypeError, AttributeError):  # a network or loss we cannot describe: pickle it as Lightning would
            self.save_hyperparameters()
            return
        with _given_hyperparameters_context(hparams=hparams, instantiator="lightning.pytorch.cli.instantiate_module"):
            self.save_hyperparameters()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.learning_rate is None:
            return super().configure_optimizers()
        return torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=1e-4)

    # ------------------------------------------------------------------ metrics
    def get_metrics(self) -> tm.MetricCollection:
        """mfai's binary metrics over scorable pixels only, plus IoU (Jaccard index)."""
        kwargs = {"ignore_index": IGNORE}
        return tm.MetricCollection(
            [
                tm.classification.BinaryAccuracy(**kwargs),
                tm.classification.BinaryF1Score(**kwargs),
                tm.classification.BinaryRecall(**kwargs),
                tm.classification.BinaryPrecision(**kwargs),
                tm.classification.BinaryJaccardIndex(**kwargs),
            ]
        )

    def probabilities_to_classes(self, y_hat: Tensor) -> Tensor:
        return (y_hat >= self.threshold).int()

    def _shared_epoch_end(self, losses: list[Tensor], label: str) -> None:
        if losses and self.logger is not None and hasattr(self.logger.experiment, "add_scalar"):
            super()._shared_epoch_end(losses, label)

    # ------------------------------------------------------------------ validation
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        y_hat, loss = self._shared_forward_step(x, y)
        self.log("val_loss", loss, on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        self.validation_loss.append(loss)
        target = y.long()
        self.valid_metrics.update(self.probabilities_to_classes(y_hat), target)
        self.val_auroc.update(y_hat, target)
        self.val_sweep.update(y_hat, target)
        self._plot_inputs = (x, y_hat)
        self.val_plot_step(batch_idx, y, self.probabilities_to_classes(y_hat))
        return loss

    def on_validation_epoch_end(self) -> None:
        self._shared_epoch_end(self.validation_loss, "validation")
        self.validation_loss.clear()
        scores = {k: float(v) for k, v in self.valid_metrics.compute().items()}
        scores["val_AUROC"] = float(self.val_auroc.compute())
        best_threshold, best_f1 = self.val_sweep.compute()
        scores["val_best_threshold"] = float(best_threshold)
        scores["val_best_F1"] = float(best_f1)
        for metric in (self.valid_metrics, self.val_auroc, self.val_sweep):
            metric.reset()
        self.log_dict(scores, sync_dist=False)  # torchmetrics has already gathered every rank's counts
        if not self.trainer.sanity_checking:
            self.val_scores = scores
            if best_f1 > 0:
                self.threshold = float(best_threshold)

    def val_plot_step(self, batch_idx: int, y: Tensor, y_hat: Tensor) -> None:
        """Colour composite, target, probability and mask of the crop with the most Sargassum in the batch."""
        if self.trainer.sanity_checking or batch_idx not in self.plot_batches or self._plot_inputs is None:
            return
        if self.logger is None:
            return
        experiment = self.logger.experiment
        if not hasattr(experiment, "add_figure"):
            return
        from sargasses.training.plots import validation_figure

        x, probability = self._plot_inputs
        i = int(torch.argmax((y == 1).flatten(1).sum(1)))
        figure = validation_figure(
            composite_rgb(x[i], self.input_card),
            y[i, 0].cpu().numpy(),
            probability[i, 0].float().cpu().numpy(),
            y_hat[i, 0].cpu().numpy(),
            self.threshold,
            title=f"epoch {self.current_epoch}, validation batch {batch_idx}",
        )
        experiment.add_figure(f"val_plots/batch_{batch_idx}", figure, self.current_epoch)

    # ------------------------------------------------------------------ test
    def on_test_start(self) -> None:
        self.test_metrics = self.metrics.clone(prefix="test_")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        y_hat, _ = self._shared_forward_step(x, y)
        target = y.long()
        self.test_metrics.update(self.probabilities_to_classes(y_hat), target)
        self.test_auroc.update(y_hat, target)

    def on_test_epoch_end(self) -> None:
        scores = {k: float(v) for k, v in self.test_metrics.compute().items()}
        scores["test_AUROC"] = float(self.test_auroc.compute())
        scores["test_threshold"] = self.threshold
        self.test_metrics.reset()
        self.test_auroc.reset()
        self.log_dict(scores)
        self.test_scores = scores
        if self.logger is not None:
            self.logger.log_hyperparams(self.get_hparams(), metrics=scores)

    def get_hparams(self) -> dict:
        hparams = {k: v for k, v in super().get_hparams().items() if k != "input_card"}
        hparams.update({f"card_{k}": str(v) for k, v in self.input_card.items() if k != "normalization"})
        return hparams

    # ------------------------------------------------------------------ the model card
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sargasses"] = {"threshold": self.threshold, "val_scores": self.val_scores}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("sargasses", {})
        self.threshold = float(saved.get("threshold", self.threshold))
        self.val_scores = dict(saved.get("val_scores", {}))

    def architecture(self) -> dict[str, Any]:
        """The network as the model file's allowlist describes it: class name, settings, shapes."""
        settings = self.model.settings
        return {
            "name": type(self.model).__name__,
            "settings": dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings),
            "in_channels": int(self.model.in_channels),
            "out_channels": int(self.model.out_channels),
            "input_shape": [int(v) for v in self.model.input_shape],
        }

    def card_fields(self) -> dict[str, Any]:
        """Everything the model card needs that this module knows; export_model adds names and metrics."""
        if not self.input_card:
            raise SargassesError(
                "this checkpoint carries no input card (sensor, bands, normalization): it was not trained with "
                "SargassesDataModule through `sargasses fit`; retrain it with a config from configs/"
            )
        fields = {k: v for k, v in self.input_card.items() if k != "trained_on"}
        fields["tile_overlap"] = tile_overlap_for(int(fields.get("tile_size", 512)))
        fields["architecture"] = self.architecture()
        fields["threshold"] = self.threshold
        fields["trained_on"] = self.input_card.get("trained_on", "")
        if self.val_scores:
            fields["metrics"] = {"validation": dict(self.val_scores)}
        return fields


def _network_from_model_file(path: str, model: BaseModel | None, input_card: dict[str, Any] | None) -> tuple[Any, Any]:
    """The network of a model file, trainable, and its card: the start of a fine-tune."""
    from sargasses.model_file import load_model_file

    loaded = load_model_file(path)
    network = loaded.module.network
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    card = loaded.card
    if input_card is not None and list(input_card.get("band_names") or []) != list(card.band_names):
        raise SargassesError(
            f"{path} takes bands {' '.join(card.band_names)}, the data gives {' '.join(input_card['band_names'])}; "
            "set data.bands to the model file's bands"
        )
    if model is None:
        return network.train(), card
    try:
        model.load_state_dict(network.state_dict(), strict=True)
    except RuntimeError as exc:
        raise SargassesError(
            f"model.model is not the network of {path} ({str(exc).splitlines()[0]}); leave model.model out to "
            "fine-tune the file's own network"
        ) from None
    return model, card


def _describe(obj: torch.nn.Module, network: bool = False) -> dict[str, Any]:
    """{class_path, init_args} of an mfai network (from its settings) or of a loss (from its init arguments)."""
    kls = type(obj)
    if network:
        settings = obj.settings
        if not dataclasses.is_dataclass(settings):
            raise TypeError(f"{kls.__name__} settings are not a dataclass")
        init_args = {
            "in_channels": int(obj.in_channels),
            "out_channels": int(obj.out_channels),
            "input_shape": [int(v) for v in obj.input_shape],
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()},
        }
    else:
        init_args = {}
        for name, parameter in inspect.signature(kls.__init__).parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            value = getattr(obj, name)  # AttributeError: not describable
            if not isinstance(value, (int, float, str, bool, list, tuple, type(None))):
                raise TypeError(f"{kls.__name__}.{name} is not plain data")
            init_args[name] = list(value) if isinstance(value, tuple) else value
    return {"class_path": f"{kls.__module__}.{kls.__qualname__}", "init_args": init_args}


def composite_rgb(x: Tensor, input_card: dict[str, Any]) -> np.ndarray:
    """A (H, W, 3) 0-1 colour picture of a normalized crop: true colour (B04, B03, B02) when the bands allow."""
    bands = list(input_card.get("band_names") or [])
    normalization = input_card.get("normalization") or {}
    picks = [bands.index(b) for b in ("B04", "B03", "B02")] if {"B04", "B03", "B02"} <= set(bands) else [0, 1, 2]
    picks = [min(p, x.shape[0] - 1) for p in picks]
    rgb = x[picks].float().cpu().numpy()
    if normalization:
        mean = np.asarray(normalization["mean"], dtype=np.float32)[picks, None, None]
        std = np.asarray(normalization["std"], dtype=np.float32)[picks, None, None]
        rgb = rgb * std + mean
    low, high = np.percentile(rgb, 1), np.percentile(rgb, 99)
    rgb = np.clip((rgb - low) / max(high - low, 1e-6), 0, 1) ** 0.8
    return np.moveaxis(rgb, 0, -1)
