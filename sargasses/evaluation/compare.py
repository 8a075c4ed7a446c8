"""Two model files on the same labelled scenes: did a fine-tune help, and did it make anything worse?

Used by `sargasses finetune` (the parent against the new model, on the user's held-back scenes and on the bundled
synthetic check scene) and by `sargasses evaluate --against`. Scores are those of `sargasses evaluate`: the model
at its card's threshold, the engine's land / cloud / nodata mask applied, pixel F1 and rafts found, plus the
pixels detected where the labels say *not Sargassum* (the false positives a user marked, and the rest of what they
looked at).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sargasses.evaluation.evaluate import EvalScene, model_probability
from sargasses.evaluation.metrics import ObjectCounts, PixelCounts, SceneScores, rafts_found_text, score_detection

CHECK_SCENE_SEED = 9900  # the default model's check scene (docs/training.md): never trained on
CHECK_SCENE_SIZE = 512
# A fine-tuned model is called worse than its parent when it loses more than this
F1_DROP, RECALL_DROP = 0.01, 0.02


def model_scores(loaded: Any, scenes: Sequence[EvalScene]) -> dict[str, Any]:
    """Scores of one loaded model on scenes, summed: F1, precision, recall, rafts found, false-positive pixels."""
    total = SceneScores(PixelCounts(), ObjectCounts())
    for scene in scenes:
        probability = model_probability(loaded, scene.reflectance)
        detected = (probability >= loaded.card.threshold) & ~scene.excluded
        total = total + score_detection(detected, scene.label)
    scores = total.as_dict()
    scores["false_positive_pixels"] = int(total.pixels.fp)
    scores["threshold"] = float(loaded.card.threshold)
    return scores


def check_scene(band_names: Sequence[str], seed: int = CHECK_SCENE_SEED, size: int = CHECK_SCENE_SIZE) -> EvalScene:
    """The bundled synthetic check scene, generated afresh from its seed (mixed: rafts and confounders)."""
    from sargasses.reading.masking import exclusion_mask
    from sargasses.synth import make_scene

    scene = make_scene(seed, size, "mixed")
    names = list(scene.band_names)
    picks = [names.index(b) for b in band_names]
    reflectance = scene.reflectance[picks]
    return EvalScene(
        f"check_{seed}", "mixed", reflectance, scene.label, list(band_names), exclusion_mask(reflectance, band_names)
    )


def before_after(parent: Any, child: Any, scenes: Sequence[EvalScene]) -> dict[str, Any]:
    return {"before": model_scores(parent, scenes), "after": model_scores(child, scenes)}


def got_worse(comparison: dict[str, Any], where: str) -> list[str]:
    """Warnings, for people, where the new model scores below its parent."""
    before, after = comparison["before"], comparison["after"]
    warnings = []
    if after["f1"] < before["f1"] - F1_DROP:
        warnings.append(f"on {where} the new model's F1 fell from {before['f1']:.3f} to {after['f1']:.3f}")
    if before["rafts"] and after["object_recall"] < before["object_recall"] - RECALL_DROP:
        warnings.append(
            f"on {where} the new model finds fewer rafts: {before['object_recall']:.2f} -> {after['object_recall']:.2f}"
        )
    return warnings


def comparison_markdown(rows: dict[str, dict[str, Any]]) -> str:
    """A table of models (name -> scores) on the same scenes."""
    lines = [
        "| model | threshold | F1 | precision | recall | rafts found | false-positive pixels |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['threshold']:.3g} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{rafts_found_text(r)} | {r['false_positive_pixels']} |"
        )
    return "\n".join(lines)


def labelled_eval_scenes(items: Sequence[Any], band_names: Sequence[str]) -> list[EvalScene]:
    """LabelledScenes (a labels file's included) read as evaluation scenes."""
    from sargasses.evaluation.evaluate import load_scene

    return [load_scene(item, band_names) for item in items]
