"""`sargasses export-model CHECKPOINT -o MODEL.sargasses`: a model file for distribution from a training checkpoint.

The model file holds the model card, the network's ONNX graph and its weights (sargasses.model_file): nothing in
it is unpickled, so opening one never runs code. The checkpoint itself is a full pickle and is only ever opened
here, on the machine that trained it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sargasses.errors import SargassesError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sargasses export-model",
        description="Make a distributable model file (card, ONNX graph, weights; no code) from a Lightning checkpoint.",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint (.ckpt) written by `sargasses fit`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.sargasses)")
    parser.add_argument("--name", default="sargasses-model", help="model name written in the card")
    parser.add_argument("--version", default="1.0.0", help="model version written in the card")
    parser.add_argument("--threshold", type=float, help="probability threshold (default: the one picked on validation)")
    parser.add_argument("--metrics", type=Path, help="JSON file of metrics to put in the card (e.g. test scores)")
    parser.add_argument("--trained-on", help="what the model was trained on, for the card")
    parser.add_argument("--description", default="", help="free text for the card")
    parser.add_argument(
        "--tile-size", type=int, help="inference tile size for the engine (default: the eval crop size)"
    )
    parser.add_argument("--card-json", type=Path, help="also write the card as readable JSON here")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT (and --card-json) if they exist")
    return parser


def export_checkpoint(
    checkpoint: Path,
    output: Path,
    name: str = "sargasses-model",
    version: str = "1.0.0",
    threshold: float | None = None,
    metrics: dict[str, Any] | None = None,
    trained_on: str | None = None,
    description: str = "",
    tile_size: int | None = None,
    force: bool = False,
):
    """Write `output` from `checkpoint`; returns the ModelCard written."""
    from sargasses.detection.tiling import tile_overlap_for
    from sargasses.model_file import ModelCard, save_model_file
    from sargasses.training.plmodule import SargassesLightningModule

    checkpoint, output = Path(checkpoint), Path(output)
    if not checkpoint.is_file():
        raise SargassesError(f"checkpoint {checkpoint} does not exist; give a .ckpt written by `sargasses fit`")
    if output.exists() and not force:
        raise SargassesError(f"{output} exists; choose another name or add --force to replace it")
    try:
        module = SargassesLightningModule.load_from_checkpoint(checkpoint, map_location="cpu")
    except SargassesError:
        raise
    except Exception as exc:
        raise SargassesError(
            f"{checkpoint} is not a SargassesLightningModule checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    fields = module.card_fields()
    if threshold is not None:
        fields["threshold"] = threshold
    if tile_size is not None:
        fields["tile_size"] = tile_size
        fields["tile_overlap"] = tile_overlap_for(tile_size)
    if metrics:
        fields["metrics"] = {**fields.get("metrics", {}), **metrics}
    if trained_on:
        fields["trained_on"] = trained_on
    card = ModelCard(name=name, version=version, description=description, **fields)
    save_model_file(output, module.model.state_dict(), card)
    return card


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    metrics = None
    if args.metrics is not None:
        try:
            metrics = json.loads(args.metrics.read_text())
        except (OSError, ValueError) as exc:
            raise SargassesError(f"cannot read metrics {args.metrics} ({exc}); give a JSON object") from exc
    if args.card_json is not None and args.card_json.exists() and not args.force:
        raise SargassesError(f"{args.card_json} exists; choose another name or add --force to replace it")
    card = export_checkpoint(
        args.checkpoint,
        args.output,
        name=args.name,
        version=args.version,
        threshold=args.threshold,
        metrics=metrics,
        trained_on=args.trained_on,
        description=args.description,
        tile_size=args.tile_size,
        force=args.force,
    )
    if args.card_json is not None:
        from sargasses.atomic import atomic_write_text

        atomic_write_text(args.card_json, json.dumps(card.to_dict(), indent=2) + "\n")
    size = args.output.stat().st_size / 1e6
    print(
        f"wrote {args.output} ({size:.2f} MB): {card.architecture['name']}, bands {' '.join(card.band_names)}, "
        f"threshold {card.threshold:.3f}"
    )
    return 0
