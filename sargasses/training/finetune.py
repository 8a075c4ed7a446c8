"""`sargasses finetune LABELS.gpkg -o NEW.pt`: teach a model file the corrections a user made on their own coast.

The labels file the QGIS plugin writes (sargasses.training.label_store) is the data source of a
SargassesDataModule; the model file's weights start a SargassesLightningModule (`init_from`), which Lightning
trains for a few epochs at a low learning rate on small crops. Scenes are grouped by date and some held back
(never trained on). The new model file keeps its parent's card (bands, normalization, threshold) and records in
`metrics.finetune` its parent, the scenes and label counts it learned from, and its scores before and after on the
held-back scenes and on the bundled synthetic check scene; a fall in either is a warning, never silent.
The labels file is only read; the new model never replaces a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sargasses.errors import DetectionCancelled, SargassesError

Progress = Callable[[float, str], None]


@dataclass
class FinetuneOptions:
    """What a fine-tune needs: also the fields of the engine's `finetune` request (docs/engine_protocol.md)."""

    labels: str  # the labels GeoPackage
    output: str  # the new model file; must not exist
    model: str | None = None  # the parent model file; None: the bundled default model
    epochs: int = 8
    device: str = "auto"  # auto, cpu, cuda, mps
    learning_rate: float = 3e-4  # a tenth of training from scratch: adjust, do not relearn
    crop_size: int = 64
    crops_per_epoch: int = 256
    batch_size: int = 16
    hold_out: float = 0.25  # share of dates held back for before/after scores (one at least, from 3 dates)
    seed: int = 0


def _accelerator(device: str) -> str:
    from sargasses.detection.devices import choose_device

    kind = choose_device(device).kind
    return "gpu" if kind.startswith("cuda") else kind


def _epoch_report(epochs: int, progress: Progress, cancel: threading.Event | None) -> Any:
    """A Lightning callback: progress after each epoch, and the cancel checked after every batch.

    Built here so that importing this module (the engine checks requests against FinetuneOptions) needs no Lightning.
    """
    import lightning.pytorch as pl

    class EpochReport(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if cancel is not None and cancel.is_set():
                raise DetectionCancelled("the fine-tune was cancelled; no model was written")

        def on_train_epoch_end(self, trainer, module) -> None:
            metrics = trainer.callback_metrics
            loss = metrics.get("train_loss_epoch", metrics.get("train_loss"))
            epoch = trainer.current_epoch + 1
            text = f"epoch {epoch}/{epochs}" + (f", loss {float(loss):.3f}" if loss is not None else "")
            progress(0.1 + 0.8 * epoch / epochs, text)

    return EpochReport()


def run_finetune(
    options: FinetuneOptions, progress: Progress | None = None, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Fine-tune, score before and after, write the new model file; the report (also in the new card)."""
    import lightning.pytorch as pl
    import torch

    from sargasses.evaluation.compare import before_after, check_scene, got_worse, labelled_eval_scenes
    from sargasses.model_file import ModelCard, default_model_path, load_model_file, save_model_file
    from sargasses.training.datamodule import SargassesDataModule
    from sargasses.training.label_store import store_scenes
    from sargasses.training.plmodule import SargassesLightningModule

    started = time.perf_counter()
    say = progress or (lambda fraction, message: None)
    output = Path(options.output)
    if output.exists():
        raise SargassesError(f"{output} exists; a fine-tune never replaces a file: choose another name")
    if not output.parent.is_dir():
        raise SargassesError(f"folder {output.parent} does not exist; create it first")
    if options.epochs < 1:
        raise SargassesError(f"epochs={options.epochs}: give at least 1")
    parent_path = Path(options.model) if options.model else default_model_path()
    say(0.0, "Reading the labels and the scenes")
    parent = load_model_file(parent_path)
    card = parent.card
    pl.seed_everything(options.seed, verbose=False)
    data = SargassesDataModule(
        label_store=options.labels,
        sensor=card.sensor,
        accepted_sensors=card.accepted_sensors,
        bands=card.band_names,
        resolution=card.gsd_m,
        split_by="date",
        val_share=options.hold_out,
        test_share=0.0,
        crop_size=options.crop_size,
        eval_crop_size=min(card.tile_size, 256),
        min_positive_share=0.002,
        background_share=0.5,
        crops_per_epoch=options.crops_per_epoch,
        batch_size=options.batch_size,
        num_workers=0,
        augment=True,
    )
    if data.normalization != card.normalization:
        raise SargassesError(
            f"{parent_path} normalizes its bands differently from the {card.sensor} profile; fine-tune it with "
            "`sargasses fit` and a config of its own"
        )
    trained = data.splits.get("train", [])
    held_back = data.splits.get("val", [])
    if not trained:
        raise SargassesError(f"{options.labels} leaves no scene to train on; label one more scene (another date)")
    module = SargassesLightningModule(
        model=None, init_from=str(parent_path), input_card=data.input_card, learning_rate=options.learning_rate
    )
    trainer = pl.Trainer(
        accelerator=_accelerator(options.device),
        devices=1,
        max_epochs=options.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,  # held-back scenes are scored below, before and after, never used to pick anything
        callbacks=[_epoch_report(options.epochs, say, cancel)],
    )
    say(0.1, f"Fine-tuning on {len(trained)} scene(s), {options.epochs} epochs")
    trainer.fit(module, datamodule=data)
    if cancel is not None and cancel.is_set():
        raise DetectionCancelled("the fine-tune was cancelled; no model was written")
    train_seconds = time.perf_counter() - started

    say(0.92, "Scoring the new model against its parent")
    network = module.model.cpu().eval()
    child_card = ModelCard.from_dict({**card.to_dict()})
    child = _loaded_like(parent, child_card, network)
    report: dict[str, Any] = {
        "output": str(output),
        "parent": {"path": str(parent_path), "name": card.name, "version": card.version},
        "labels": str(options.labels),
        "epochs": options.epochs,
        "device": str(trainer.strategy.root_device),
        "seconds": round(train_seconds, 1),
        "options": asdict(options),
    }
    counts = {s.image: s.counts for s in store_scenes(options.labels)}
    report["scenes"] = [
        {"scene": str(s.image), "split": split, "date": s.group, **counts.get(s.image, {})}
        for split, items in (("train", trained), ("held_back", held_back))
        for s in items
    ]
    report["trained_on"] = {
        "scenes": len(trained),
        **{
            k: sum(counts.get(s.image, {}).get(k, 0) for s in trained)
            for k in ("sargassum", "false_positive", "not_sargassum", "looked_at")
        },
    }
    warnings: list[str] = []
    if held_back:
        scenes = labelled_eval_scenes(held_back, card.band_names)
        report["held_back"] = {**before_after(parent, child, scenes), "scenes": len(scenes)}
        warnings += got_worse(report["held_back"], "your held-back scenes")
    else:
        report["held_back"] = {
            "note": "no held-back scene (fewer than 3 dates labelled): the change on your coast is not measured"
        }
    report["check_scene"] = before_after(parent, child, [check_scene(card.band_names)])
    warnings += got_worse(report["check_scene"], "the synthetic check scene")
    report["warnings"] = warnings

    child_card.name = f"{card.name}-coast"
    child_card.version = f"{card.version}+ft{time.strftime('%Y%m%d%H%M%S')}"
    child_card.created = time.strftime("%Y-%m-%d")
    child_card.trained_on = (
        f"{card.trained_on}; fine-tuned on {len(trained)} scene(s) of {Path(options.labels).name} "
        f"({report['trained_on']['sargassum']} Sargassum, {report['trained_on']['false_positive']} false positives, "
        f"{report['trained_on']['not_sargassum']} not Sargassum)"
    )
    child_card.description = f"Fine-tuned from {card.name} {card.version} ({parent_path.name}) on a user's labels."
    finetune_record = {k: v for k, v in report.items() if k not in ("output", "options")}
    child_card.metrics = {"finetune": finetune_record, "check_scene": report["check_scene"]["after"]}
    save_model_file(output, network.state_dict(), child_card)
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    say(1.0, "Done")
    return report


def _loaded_like(parent: Any, card: Any, network: Any) -> Any:
    """The trained network wrapped as a loaded model file (reflectance in, probability out), without a file."""
    from sargasses.model_file import LoadedModel, probability_model

    module = probability_model(card, network)
    for p in module.parameters():
        p.requires_grad_(False)
    return LoadedModel(card=card, module=module, path=None)


def summary_text(report: dict[str, Any]) -> str:
    """The report for a terminal: what was learned, before/after, warnings."""
    t = report["trained_on"]
    lines = [
        f"wrote {report['output']}: fine-tuned from {report['parent']['name']} on {t['scenes']} scene(s) "
        f"({t['sargassum']} Sargassum, {t['false_positive']} false positives, {t['not_sargassum']} not Sargassum), "
        f"{report['epochs']} epochs in {report['seconds']:.0f} s on {report['device']}"
    ]
    for key, what in (("held_back", "held-back scenes"), ("check_scene", "synthetic check scene")):
        entry = report[key]
        if "before" not in entry:
            lines.append(f"{what}: {entry['note']}")
            continue
        b, a = entry["before"], entry["after"]
        lines.append(
            f"{what}: F1 {b['f1']:.3f} -> {a['f1']:.3f}, rafts found {b['object_recall']:.2f} -> "
            f"{a['object_recall']:.2f}, false-positive pixels {b['false_positive_pixels']} -> {a['false_positive_pixels']}"
        )
    lines += [f"WARNING: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sargasses finetune",
        description="Fine-tune a model file on a labels GeoPackage written by the QGIS plugin (docs/training.md).",
    )
    parser.add_argument("labels", help="the labels GeoPackage (sargasses_labels.gpkg)")
    parser.add_argument("-o", "--output", required=True, help="the new model file (.pt); never replaces a file")
    parser.add_argument("--model", help="the model file to start from (default: the bundled default model)")
    defaults = FinetuneOptions("", "")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--device", default=defaults.device, choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--crop-size", type=int, default=defaults.crop_size)
    parser.add_argument("--crops-per-epoch", type=int, default=defaults.crops_per_epoch)
    parser.add_argument("--hold-out", type=float, default=defaults.hold_out, help="share of dates held back")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    options = FinetuneOptions(
        labels=args.labels,
        output=args.output,
        model=args.model,
        epochs=args.epochs,
        device=args.device,
        learning_rate=args.learning_rate,
        crop_size=args.crop_size,
        crops_per_epoch=args.crops_per_epoch,
        hold_out=args.hold_out,
        seed=args.seed,
    )
    try:
        report = run_finetune(options, progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr))
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1
    print(summary_text(report))
    if args.json is not None:
        from sargasses.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0
