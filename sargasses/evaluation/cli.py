"""`sargasses evaluate`: the command line over evaluate.py (a model and the baselines on labelled scenes) and, with
`--against`, compare.py (two model files on the same scenes). Apart from both, so that neither imports the other."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sargasses.errors import SargassesError, warnings_in_one_line
from sargasses.evaluation.compare import comparison_markdown, model_scores
from sargasses.evaluation.evaluate import (
    acceptance,
    card_metrics,
    check_scene_scores,
    check_scorable,
    evaluate,
    labelled_scenes,
    load_scene,
    load_scenes,
    markdown,
    pick_threshold,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sargasses evaluate",
        description="Score a model file and the AFAI / FAI baselines on labelled scenes (same pixels, same code).",
    )
    parser.add_argument("test", nargs="+", help="labelled test scenes: folder(s), glob(s) or files")
    parser.add_argument("--model", help="model file (default: the bundled default model); 'none' for baselines only")
    parser.add_argument(
        "--against", help="a second model file: compare the two on the same scenes (e.g. a fine-tune and its parent)"
    )
    parser.add_argument("--val", nargs="+", help="validation scenes, to pick the baselines' thresholds")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--card-metrics", type=Path, help="write the figures for the model card here (JSON)")
    parser.add_argument("--check-scene", type=int, help="also score a fresh synthetic scene of this seed (512 px)")
    parser.add_argument(
        "--pick-threshold", type=Path, help="pick the model's threshold on the --val scenes and write it here (JSON)"
    )
    args = parser.parse_args(argv)
    warnings_in_one_line()
    if args.against:
        return compare_main(args)
    try:
        from sargasses.model_file import default_model_path

        model = None if args.model == "none" else (args.model or default_model_path())
        report = evaluate(model, args.test, args.val)
        if model is not None and args.check_scene is not None:
            from sargasses.model_file import load_model_file

            report["check_scene"] = check_scene_scores(load_model_file(model), args.check_scene)
        if model is not None and args.pick_threshold is not None:
            if not args.val:
                raise SargassesError("--pick-threshold needs validation scenes: add --val FOLDER")
            from sargasses.model_file import load_model_file

            loaded = load_model_file(model)
            picked = pick_threshold(loaded, list(load_scenes(args.val, loaded.card.band_names)))
            args.pick_threshold.write_text(json.dumps(picked, indent=2) + "\n")
            print(f"threshold picked on validation: {picked['threshold']:.3f} (F1 {picked['validation']['f1']:.3f})")
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1
    if model is not None:
        report["acceptance"] = acceptance(report)
    print(markdown(report))
    if "acceptance" in report:
        print("acceptance:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in report["acceptance"].items()))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.card_metrics is not None and model is not None:
        args.card_metrics.write_text(json.dumps(card_metrics(report), indent=2) + "\n")
    return 0


def compare_main(args: argparse.Namespace) -> int:
    """`--against`: two model files on the same labelled scenes, a row each."""
    from sargasses.model_file import default_model_path, load_model_file

    try:
        paths = [Path(args.model) if args.model else default_model_path(), Path(args.against)]
        models = [load_model_file(p) for p in paths]
        if models[0].card.band_names != models[1].card.band_names:
            raise SargassesError(f"{paths[0]} and {paths[1]} take different bands; they cannot read the same scenes")
        scenes = [load_scene(item, models[0].card.band_names) for item in labelled_scenes(args.test)]
        check_scorable(scenes, " ".join(args.test))
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1
    names = [p.name if paths[0].name != paths[1].name else str(p) for p in paths]
    rows = {name: model_scores(model, scenes) for name, model in zip(names, models, strict=True)}
    print(comparison_markdown(rows))
    if args.json is not None:
        report = {"scenes": len(scenes), "models": rows, "paths": [str(p) for p in paths]}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0
