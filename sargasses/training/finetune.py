"""`sargasses finetune LABELS.gpkg -o NEW.sargasses`: teach a model file the corrections a user made on their own coast.

The labels file the QGIS plugin writes (sargasses.training.label_store) is the data source of a
SargassesDataModule; the model file's weights start a SargassesLightningModule (`init_from`), which Lightning
trains for a few epochs at a low learning rate on small crops. Scenes are grouped by date and some held back
(never trained on). The new model file keeps its parent's card (bands, normalization, threshold) and records in
`metrics.finetune` its parent, the scenes and label counts it learned from, and its scores before and after on the
held-back scenes and on the bundled synthetic check scene; a fall in either is a warning, never silent.
While it learns the user's coast it also rehearses a few of the synthetic scenes the default model was trained
on (rafts among clouds, glint, foam, coasts), so that it does not forget them: a few clean scenes of one coast
alone taught a first version to flag glint on the check scene.
The labels file is only read; the new model never replaces a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from sargasses.command_ending import Endings, run_command
from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.signals import raise_for, signals_deferred

Progress = Callable[[float, str], None]
# Synthetic training scenes of the default model (docs/training.md: seeds 1000-1099), rehearsed while fine-tuning
REHEARSAL_SEEDS = tuple(range(1000, 1010))
REHEARSAL_SIZE = 256
# The loss of the default model's training (configs/sentinel2_unet.yaml): another weighting moves every probability,
# and the parent's threshold (0.9), which the new model keeps, would then cut rafts the parent found.
POS_WEIGHT = 2.0
# Half the crops rehearse, half are on the user's scenes, whatever their sizes: by pixel count, three small rehearsal
# scenes beside two small labelled ones took 60 % of the crops and the marked false positives were not unlearned.
REHEARSAL_SHARE = 0.5


@dataclass
class FinetuneOptions:
    """What a fine-tune needs: also the fields of the engine's `finetune` request (docs/engine_protocol.md)."""

    labels: str  # the labels GeoPackage
    output: str  # the new model file; must not exist
    model: str | None = None  # the parent model file; None: the bundled default model
    epochs: int = 8
    device: str = "auto"  # auto, cpu, cuda, mps
    learning_rate: float = 1e-3  # a third of training from scratch: a few steps must undo confident mistakes
    crop_size: int = 64
    crops_per_epoch: int = 256
    batch_size: int = 16
    hold_out: float = 0.25  # share of dates held back for before/after scores (one at least, from 3 dates)
    seed: int = 0
    rehearsal: int = 3  # synthetic scenes of the default model's training rehearsed beside the user's (0: none)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FinetuneOptions:
        """Options from outside values (an engine request's JSON): unknown and missing names refused, every value
        checked against its field's type, with a message naming the option."""
        from sargasses.checked_values import checked

        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SargassesError(
                f"this engine does not know the fine-tune option(s) {', '.join(unknown)}; update the detection engine"
            )
        missing = [n for n, f in known.items() if n not in values and f.default is MISSING]
        if missing:
            raise SargassesError(f"a fine-tune's options need {', '.join(map(repr, missing))}")
        hints = typing.get_type_hints(cls)
        return cls(**{name: checked(f"option {name!r}", value, hints[name]) for name, value in values.items()})


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

    from sargasses.model_file import ModelCard, default_model_path, load_model_file, save_model_file

    started = time.perf_counter()
    say = progress or (lambda fraction, message: None)
    output = _checked_output(Path(options.output))
    check_options(options)
    parent_path = Path(options.model) if options.model else default_model_path()
    say(0.0, "Reading the labels and the scenes")
    parent = load_model_file(parent_path)
    card = parent.card
    pl.seed_everything(options.seed, verbose=False)
    with tempfile.TemporaryDirectory(prefix="sargasses-rehearsal-") as rehearsal_dir:
        rehearsal = _rehearsal_scenes(Path(rehearsal_dir), options.rehearsal, card.band_names)
        data, module, trainer = _train(options, parent_path, card, rehearsal, say, cancel)
    check_learned(module.model)
    train_seconds = round(time.perf_counter() - started, 1)
    say(0.92, "Scoring the new model against its parent")
    network = module.model.cpu().eval()
    child_card = ModelCard.from_dict({**card.to_dict()})
    report = _training_report(options, parent_path, card, data, trainer, len(rehearsal))
    report["seconds"] = train_seconds
    report.update(_scores(parent, _loaded_like(child_card, network), data, card))
    _describe_child(child_card, card, parent_path, options, report)
    save_model_file(output, network.state_dict(), child_card)
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    say(1.0, "Done")
    return report


def _checked_output(output: Path) -> Path:
    """The new model file's name: a model file's suffix, a free name (a fine-tune never replaces a file), a folder
    that exists."""
    from sargasses.model_archive import SUFFIX

    if output.suffix != SUFFIX:
        raise SargassesError(f"name the new model file {output.stem}{SUFFIX}: model files end in {SUFFIX}")
    if output.exists():
        raise SargassesError(f"{output} exists; a fine-tune never replaces a file: choose another name")
    if not output.parent.is_dir():
        raise SargassesError(f"folder {output.parent} does not exist; create it first")
    return output


def _training_report(
    options: FinetuneOptions, parent_path: Path, card: Any, data: Any, trainer: Any, rehearsal: int
) -> dict[str, Any]:
    """What was learned from what: the parent, the options, each scene with its split and label counts."""
    from sargasses.training.label_store import store_scenes

    trained = [s for s in data.splits.get("train", []) if s.label_key is not None]
    held_back = data.splits.get("val", [])
    report: dict[str, Any] = {
        "output": str(options.output),
        "parent": {"path": str(parent_path), "name": card.name, "version": card.version},
        "labels": str(options.labels),
        "epochs": options.epochs,
        "device": str(trainer.strategy.root_device),
        "rehearsal_scenes": rehearsal,
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
    return report


def _scores(parent: Any, child: Any, data: Any, card: Any) -> dict[str, Any]:
    """Parent and child on the held-back scenes and on the synthetic check scene; a fall in either is a warning."""
    from sargasses.evaluation.compare import before_after, check_scene, got_worse, labelled_eval_scenes

    held_back = data.splits.get("val", [])
    scores: dict[str, Any] = {}
    warnings: list[str] = []
    if held_back:
        scenes = labelled_eval_scenes(held_back, card.band_names)
        scores["held_back"] = {**before_after(parent, child, scenes), "scenes": len(scenes)}
        warnings += got_worse(scores["held_back"], "your held-back scenes")
    else:
        scores["held_back"] = {
            "note": "no held-back scene (fewer than 3 dates labelled): the change on your coast is not measured"
        }
    scores["check_scene"] = before_after(parent, child, [check_scene(card.band_names)])
    warnings += got_worse(scores["check_scene"], "the synthetic check scene")
    scores["warnings"] = warnings
    return scores


def _describe_child(
    child_card: Any, card: Any, parent_path: Path, options: FinetuneOptions, report: dict[str, Any]
) -> None:
    """The new model's card: its name, version, what it was trained on, and the fine-tune's record."""
    child_card.name = f"{card.name}-coast"
    child_card.version = f"{card.version}+ft{time.strftime('%Y%m%d%H%M%S')}"
    child_card.created = time.strftime("%Y-%m-%d")
    child_card.trained_on = (
        f"{card.trained_on}; fine-tuned on {report['trained_on']['scenes']} scene(s) of {Path(options.labels).name} "
        f"({report['trained_on']['sargassum']} Sargassum, {report['trained_on']['false_positive']} false positives, "
        f"{report['trained_on']['not_sargassum']} not Sargassum)"
    )
    child_card.description = f"Fine-tuned from {card.name} {card.version} ({parent_path.name}) on a user's labels."
    finetune_record = {k: v for k, v in report.items() if k not in ("output", "options")}
    child_card.metrics = {"finetune": finetune_record, "check_scene": report["check_scene"]["after"]}


def check_options(options: FinetuneOptions) -> None:
    """Refuse, before any work, the options with which a fine-tune cannot learn: it would write a model that is
    its parent or worse, reported as fine-tuned."""
    rate = options.learning_rate
    if not (math.isfinite(rate) and rate > 0):
        raise SargassesError(f"learning rate {rate}: give a number above 0 (default 1e-3)")
    for name in ("epochs", "crops_per_epoch", "batch_size"):
        if getattr(options, name) < 1:
            raise SargassesError(f"{name.replace('_', ' ')} {getattr(options, name)}: give at least 1")
    if not (0 <= options.hold_out < 1):
        raise SargassesError(f"hold-out {options.hold_out}: give a share of dates from 0 up to (not including) 1")


def check_learned(network: Any) -> None:
    """Refuse a network whose training diverged (loss NaN): its weights are NaN and it would flag nothing."""
    arrays = network.state_dict().values()  # parameters and buffers (batch-norm statistics go NaN too)
    broken = sum(1 for a in arrays if a.is_floating_point() and not bool(a.isfinite().all()))
    if broken:
        raise SargassesError(
            f"the fine-tune diverged (loss NaN; {broken} weight arrays NaN or infinite); no model was written: "
            "give a lower --learning-rate (default 1e-3)"
        )


def _rehearsal_scenes(folder: Path, count: int, band_names: list[str]) -> list[str]:
    """`count` synthetic scenes of the default model's training set, written to `folder` with their labels."""
    from sargasses.reading.sensors import DEFAULT_BANDS
    from sargasses.synth import make_scene, write_scene

    if count <= 0 or list(band_names) != list(DEFAULT_BANDS):  # synthetic scenes have the default model's bands
        return []
    return [
        str(write_scene(make_scene(seed, REHEARSAL_SIZE, "mixed"), folder)["image"]) for seed in REHEARSAL_SEEDS[:count]
    ]


def _finetune_data(options: FinetuneOptions, parent_path: Path, card: Any, rehearsal: list[str]) -> Any:
    """The labels file's scenes split by date, with the rehearsal scenes, on the parent model's bands and grid;
    a SargassesError when the parent cannot take them or no scene is left to train on."""
    from sargasses.training.datamodule import SargassesDataModule

    data = SargassesDataModule(
        label_store=options.labels,
        train_images=rehearsal or None,
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
        rehearsal_share=REHEARSAL_SHARE,
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
    if not any(s.label_key is not None for s in data.splits.get("train", [])):
        raise SargassesError(f"{options.labels} leaves no scene to train on; label one more scene (another date)")
    return data


def _train(
    options: FinetuneOptions,
    parent_path: Path,
    card: Any,
    rehearsal: list[str],
    say: Progress,
    cancel: threading.Event | None,
) -> tuple[Any, Any, Any]:
    """The DataModule (labels file + rehearsal scenes), the module started from the parent, the trainer, fitted."""
    stop = cancel if cancel is not None else threading.Event()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # its banners and tips give a user nothing to do
    import lightning.pytorch as pl

    from sargasses.training.losses import BCEDiceLoss
    from sargasses.training.plmodule import SargassesLightningModule

    data = _finetune_data(options, parent_path, card, rehearsal)
    module = SargassesLightningModule(
        model=None,
        loss=BCEDiceLoss(pos_weight=POS_WEIGHT),
        init_from=str(parent_path),
        input_card=data.input_card,
        learning_rate=options.learning_rate,
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
        limit_val_batches=0,  # held-back scenes are scored after, before and after, never used to pick anything
        callbacks=[_epoch_report(options.epochs, say, stop)],
    )
    say(0.1, f"Fine-tuning on {len(data.splits['train'])} scene(s), {options.epochs} epochs")
    _fit(trainer, module, data, stop)
    return data, module, trainer


def _fit(trainer: Any, module: Any, data: Any, stop: threading.Event) -> None:
    """`trainer.fit`, with Ctrl-C and SIGTERM stopping it at the end of a batch (`stop`) and raised after it as
    KeyboardInterrupt / Terminated: Lightning turns a KeyboardInterrupt into exit 1 and SIGTERM into exit 0."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with signals_deferred(stop) as caught:
        try:
            trainer.fit(module, datamodule=data)
        except (DetectionCancelled, SIGTERMException):
            raise_for(caught)
            raise
    raise_for(caught)
    if stop.is_set():
        raise DetectionCancelled("the fine-tune was cancelled; no model was written")


def _loaded_like(card: Any, network: Any) -> Any:
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
        found = (
            f"rafts found {b['object_recall']:.2f} -> {a['object_recall']:.2f}" if b["rafts"] else "no raft labelled"
        )
        lines.append(
            f"{what}: F1 {b['f1']:.3f} -> {a['f1']:.3f}, {found}, "
            f"false-positive pixels {b['false_positive_pixels']} -> {a['false_positive_pixels']}"
        )
    lines += [f"WARNING: {w}" for w in report["warnings"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sargasses finetune",
        description="Fine-tune a model file on a labels GeoPackage written by the QGIS plugin (docs/training.md).",
    )
    parser.add_argument("labels", help="the labels GeoPackage (sargasses_labels.gpkg)")
    parser.add_argument("-o", "--output", required=True, help="the new model file (.sargasses); never replaces a file")
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

    def finetune() -> dict[str, Any]:
        report = run_finetune(options, progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr))
        if args.json is not None:
            from sargasses.atomic import atomic_write_text, write_error

            try:
                atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
            except OSError as exc:
                raise write_error(args.json, exc) from None
        return report

    def interrupted(exc: KeyboardInterrupt) -> str:
        written = Path(options.output).exists()  # it did not exist before, and takes its name only when whole
        return f"interrupted; {'the new model was complete and is in place' if written else 'no model was written'}"

    out_of_memory = "out of memory; give a smaller --crop-size, or --device cpu"
    return run_command(finetune, summary_text, Endings(interrupted, out_of_memory))
