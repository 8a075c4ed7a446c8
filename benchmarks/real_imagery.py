"""How the model holds up on real Sentinel-2 imagery kept out of training, against AFAI and FAI with the same masks.

    .venv/bin/python benchmarks/real_imagery.py [--model FILE] [--scenes data/real/test] [--seeds 20] [--json F]

Needs data/real/ (scripts/build_real_scenes.py). For each held-out real scene, at L2A (as the file is) and at L1C
(the same scene seen through the ATLANTIC atmosphere of sargasses.synth.atmosphere, fitted to a real L1C scene):
1. the scene as it is (no Sargassum): the share of its open water flagged, the rafts found (3 px and more) and
   how many of them touch the coast (within 2 px, 40 m, of land or of a non-water pixel): beach, surf, rocks;
2. rafts planted into its water (`--seeds` plantings, about 1 % of the water each, sargasses.synth.planting), with
   each of two measured floating-Sargassum spectra (RAFT_SPECTRA): pixel F1, precision, recall, object recall.
The model runs at its card's threshold; AFAI and FAI (minus a median background) at the engine's default
thresholds on the clean scenes, and at their oracle (F1-best on these very plantings) threshold on the planted
ones: the fairest comparison for the indices. Prints markdown tables; figures are in docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import held_out
import numpy as np
from scipy import ndimage

from sargasses.detection.baseline import DEFAULT_THRESHOLDS
from sargasses.evaluation.evaluate import (
    INDEX_THRESHOLDS,
    EvalScene,
    baseline_score_maps,
    model_probability,
    score_detections,
    sweep_thresholds,
    thresholded,
)
from sargasses.evaluation.metrics import MIN_RAFT_PIXELS
from sargasses.model_file import load_model_file
from sargasses.reading.masking import exclusion_mask
from sargasses.reading.scene import open_scene
from sargasses.reading.sensors import DEFAULT_BANDS
from sargasses.synth.atmosphere import ATLANTIC, band_wavelengths, to_top_of_atmosphere
from sargasses.synth.planting import open_water, plant_rafts
from sargasses.synth.spectra import SPECTRA

BANDS = list(DEFAULT_BANDS)
COAST_PX = 2  # a raft within this many pixels of land or of a non-water pixel is "on the coast"
PLANTED_WATER_SHARE = 0.01
# Raft spectra planted, each a measured mean of floating Sargassum (bands B02..B12): MARIDA's dense Sargassum
# (Kikaki et al. 2022), and ACOLITE-corrected seaweed pixels off Accra, read from the figure of the Floating Marine
# Debris Data (Duarte & Azevedo 2023, CC-BY-4.0): darker in the blue, peak at B08, B8A a fifth lower.
RAFT_SPECTRA = {
    "MARIDA": SPECTRA["dense_sargassum"],
    "Accra": np.array([0.015, 0.029, 0.021, 0.056, 0.075, 0.090, 0.103, 0.081, 0.011, 0.011], np.float32),
}


def rafts_on_coast(detected: np.ndarray, water: np.ndarray) -> tuple[int, int]:
    """(rafts of MIN_RAFT_PIXELS or more, those touching the coast) among the detected pixels."""
    labels, count = ndimage.label(detected, structure=np.ones((3, 3)))
    if count == 0:
        return 0, 0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    near_land = ndimage.binary_dilation(~water, iterations=COAST_PX)
    touching = np.zeros(count + 1, bool)
    touching[np.unique(labels[near_land & detected])] = True
    big = sizes >= MIN_RAFT_PIXELS
    big[0] = False
    return int(big.sum()), int((big & touching).sum())


def clean_scene_row(name: str, level: str, reflectance: np.ndarray, maps: dict[str, np.ndarray], thresholds):
    excluded = exclusion_mask(reflectance, BANDS)
    water = open_water(reflectance, BANDS)
    rows = []
    for method, score in maps.items():
        detected = (np.nan_to_num(score, nan=-np.inf) >= thresholds[method]) & ~excluded
        rafts, coastal = rafts_on_coast(detected, water)
        rows.append(
            {
                "scene": name,
                "level": level,
                "method": method,
                "threshold": float(thresholds[method]),
                "water_pixels": int(water.sum()),
                "flagged_pixels": int(detected.sum()),
                "water_share_flagged": float(detected.sum() / max(int(water.sum()), 1)),
                "rafts": rafts,
                "rafts_on_coast": coastal,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    held_out.add_arguments(p, 20, "plantings per scene and level (default 20)")
    p.add_argument("--figure", type=Path, help="also draw one planting of each held-out scene at L1C (PNG)")
    args = p.parse_args(argv)
    files = held_out.scene_files(args.scenes)
    if not files:
        return 1
    loaded = load_model_file(args.model)
    model_threshold = loaded.card.threshold
    thresholds = {"model": model_threshold, **DEFAULT_THRESHOLDS}
    transmittance = ATLANTIC.transmittance(band_wavelengths(BANDS))
    clean_rows: list[dict] = []
    planted: dict[tuple[str, str], list[EvalScene]] = {(lv, sp): [] for lv in ("L2A", "L1C") for sp in RAFT_SPECTRA}
    for path in files:
        with open_scene(path, bands=BANDS) as scene:
            surface = scene.read()
        for level in ("L2A", "L1C"):
            background = surface if level == "L2A" else to_top_of_atmosphere(surface, BANDS, ATLANTIC)
            excluded = exclusion_mask(background, BANDS)
            probe = EvalScene(path.stem, "", background, np.zeros(background.shape[1:], np.uint8), BANDS, excluded)
            maps = {"model": model_probability(loaded, background)}
            maps |= {m: baseline_score_maps([probe], m)[0][1] for m in ("afai", "fai")}
            clean_rows += clean_scene_row(path.stem, level, background, maps, thresholds)
            t = transmittance if level == "L1C" else None
            for (lv, name), scenes in planted.items():
                if lv != level:
                    continue
                for seed in range(args.seeds):
                    rng = np.random.default_rng([seed, 2026])
                    scene = plant_rafts(background, BANDS, rng, t, PLANTED_WATER_SHARE, RAFT_SPECTRA[name])
                    excluded = exclusion_mask(scene.reflectance, BANDS)
                    scenes.append(EvalScene(f"{path.stem}_{seed}", "", scene.reflectance, scene.label, BANDS, excluded))
    planted_rows = []
    for (level, name), scenes in planted.items():
        maps = [(s, np.where(s.excluded, 0.0, model_probability(loaded, s.reflectance))) for s in scenes]
        model = score_detections(thresholded(maps, model_threshold), model_threshold).as_dict()
        planted_rows.append({"level": level, "spectrum": name, "method": "model", **model})
        for method in ("afai", "fai"):
            index_maps = baseline_score_maps(scenes, method)
            oracle, _ = sweep_thresholds(index_maps, INDEX_THRESHOLDS).best()
            result = score_detections(thresholded(index_maps, oracle), oracle).as_dict()
            planted_rows.append({"level": level, "spectrum": name, "method": method, **result})
    print(markdown(clean_rows, planted_rows, loaded.card, len(files), args.seeds))
    if args.figure is not None:
        shown = [next(s for s in planted[("L1C", "MARIDA")] if s.name == f"{path.stem}_0") for path in files]
        draw(args.figure, shown, loaded)
    if args.json is not None:
        args.json.write_text(json.dumps({"clean": clean_rows, "planted": planted_rows}, indent=1) + "\n")
    return 0


def draw(path: Path, scenes: list[EvalScene], loaded) -> None:
    """Per scene: the L1C planting in false colour, and the model's answer on it (hits, misses, false alarms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from sargasses.figures import composite

    panels = []
    for scene in scenes:
        detected = (model_probability(loaded, scene.reflectance) >= loaded.card.threshold) & ~scene.excluded
        cols = np.flatnonzero(open_water(scene.reflectance, BANDS).mean(axis=0) > 0.3)  # the sea and 30 px of coast
        keep = slice(max(int(cols.min()) - 30, 0), int(cols.max()) + 31)
        detected, label = detected[:, keep], scene.label[:, keep]
        image = composite(scene.reflectance[:, :, keep], ("B8A", "B06", "B04"))
        answer = np.repeat(image.mean(axis=-1, keepdims=True) * 0.6, 3, axis=-1)
        answer[detected & (label == 1)] = (0.1, 0.9, 1.0)  # found
        answer[~detected & (label == 1)] = (1.0, 0.9, 0.0)  # missed
        answer[detected & (label == 0)] = (1.0, 0.1, 0.1)  # false alarm
        turned = image.shape[0] > image.shape[1]  # a coast running north-south is shown lying down
        if turned:
            image, answer = np.rot90(image), np.rot90(answer)
        panels.append((scene.name.rsplit("_", 1)[0] + (" (north to the left)" if turned else ""), image, answer))
    heights = [p[1].shape[0] / p[1].shape[1] for p in panels]
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(13, 6.5 * sum(heights) + 1.2), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for (name, image, answer), pair in zip(panels, axes, strict=True):
        pair[0].imshow(image, interpolation="nearest")
        pair[0].set_title(f"{name}, L1C, rafts planted (B8A B06 B04)", fontsize=9)
        pair[1].imshow(answer, interpolation="nearest")
        pair[1].set_title(f"model at {loaded.card.threshold:g}", fontsize=9)
        for ax in pair:
            ax.set_axis_off()
    colours = {"found": (0.1, 0.9, 1.0), "missed": (1.0, 0.9, 0.0), "false alarm": (1.0, 0.1, 0.1)}
    fig.legend(handles=[Patch(color=c, label=k) for k, c in colours.items()], loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(clean_rows: list[dict], planted_rows: list[dict], card, scenes: int, seeds: int) -> str:
    lines = [
        f"Model {card.name} {card.version} at threshold {card.threshold:g}; {scenes} held-out real scenes.",
        "",
        "Real scenes as they are (no Sargassum):",
        "",
        "| scene | level | method | threshold | water flagged | rafts (3+ px) | rafts on the coast |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in clean_rows:
        lines.append(
            f"| {r['scene']} | {r['level']} | {r['method']} | {r['threshold']:.3g} | "
            f"{r['water_share_flagged']:.3%} ({r['flagged_pixels']} of {r['water_pixels']} px) | {r['rafts']} | "
            f"{r['rafts_on_coast']} |"
        )
    lines += [
        "",
        f"Rafts planted into their water ({seeds} plantings per scene and level, ~{PLANTED_WATER_SHARE:.0%} of the "
        "water each; indices at their oracle threshold):",
        "",
        "| level | raft spectrum | method | threshold | pixel F1 | precision | recall | object recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in planted_rows:
        lines.append(
            f"| {r['level']} | {r['spectrum']} | {r['method']} | {r['threshold']:.3g} | {r['f1']:.3f} | "
            f"{r['precision']:.3f} | "
            f"{r['recall']:.3f} | {r['object_recall']:.3f} ({r['rafts']} rafts) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
