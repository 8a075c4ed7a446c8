"""The detection limit: how faint a raft the model finds in real water, by cover, shape, spectrum and level.

    .venv/bin/python benchmarks/detection_limit.py [--model FILE] [--seeds 2] [--json F] [--plot F.png]

Needs data/real/ (scripts/build_real_scenes.py). Into the open water of the held-out real scenes (data/real/test:
Aberystwyth south, Ponce cays; never trained on), at L2A as they are and at L1C through the ATLANTIC atmosphere,
rafts of one fixed fractional cover each are planted by linear mixing (rho + cover x T x (raft - water)):
1-px filaments, 2-3 px windrows 1-5 km long, wide patches up to 120 px (2.4 km) across and small dense mats, with
three measured spectra (MARIDA dense and sparse Sargassum, seaweed off Accra), a 5 % per-pixel jitter on the raft's
signal, and Sentinel-2 noise over dark water (sargasses.synth.spectra.NOISE_SIGMA, about 0.001) added to every
pixel. The same geometry is planted at every cover level, so the levels differ in cover alone.
Per cover level: pixel recall, interior recall (pixels 3 px or more inside a patch's edge), rafts found (any pixel
detected); the cover at which pixel recall reaches 0.5 and 0.9; and on the same scenes without rafts the false
alarms (rafts of 3 px or more) per 100 km2 of open water and per 10 km of coastline. AFAI and FAI (minus a median
background, the engine's masks) are scored at the engine's default thresholds and at the threshold that gives them
the model's false-alarm rate on the clean scenes (equal false alarms: the fair comparison).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import held_out
import numpy as np
from scipy import ndimage

from sargasses.detection.baseline import DEFAULT_THRESHOLDS, baseline_scores
from sargasses.evaluation.evaluate import INDEX_THRESHOLDS, model_probability
from sargasses.model_file import load_model_file
from sargasses.raft_size import MIN_RAFT_PIXELS
from sargasses.reading.masking import exclusion_mask
from sargasses.reading.scene import open_scene
from sargasses.reading.sensors import DEFAULT_BANDS
from sargasses.synth.atmosphere import ATLANTIC, band_wavelengths, to_top_of_atmosphere
from sargasses.synth.planting import open_water
from sargasses.synth.spectra import NOISE_SIGMA, SPECTRA, SPECTRAL_JITTER

BANDS = list(DEFAULT_BANDS)
PIXEL_KM = 0.02
COVERS = (0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50, 0.80)
SPECTRA_PLANTED = {
    "MARIDA dense": SPECTRA["dense_sargassum"],
    "MARIDA sparse": SPECTRA["sparse_sargassum"],
    # ACOLITE-corrected seaweed pixels off Accra (Floating Marine Debris Data, CC-BY-4.0): peak at B08
    "Accra": np.array([0.015, 0.029, 0.021, 0.056, 0.075, 0.090, 0.103, 0.081, 0.011, 0.011], np.float32),
}
SHAPES = ("filament", "windrow", "patch", "mat")


@dataclass
class Raft:
    shape: str
    mask: np.ndarray  # (H, W) bool
    interior: np.ndarray  # (H, W) bool: 3 px or more inside the edge


def _raft_mask(rng, shape: str, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    yy, xx = grid
    h, w = yy.shape
    cy, cx, th = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, np.pi)
    along = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
    across = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
    if shape == "filament":
        return (np.abs(across) < 0.5) & (np.abs(along) < rng.uniform(10, 30))
    if shape == "windrow":
        return (np.abs(across) < rng.uniform(1.0, 1.5)) & (np.abs(along) < rng.uniform(25, 125))
    radius = rng.uniform(10, 60) if shape == "patch" else rng.uniform(2, 4)
    return (along / radius) ** 2 + (across / (radius / rng.uniform(1, 2))) ** 2 <= 1


def place_rafts(water: np.ndarray, rng: np.random.Generator, per_shape: int = 3) -> list[Raft]:
    """Rafts of every shape, each wholly on open water 3 px from anything else, none touching another."""
    room = ndimage.binary_erosion(water, iterations=3)
    taken = np.zeros_like(water)
    grid = np.mgrid[0 : water.shape[0], 0 : water.shape[1]].astype(np.float32) + 0.5
    rafts: list[Raft] = []
    for shape in SHAPES:
        placed = 0
        for _ in range(400):
            if placed == per_shape:
                break
            mask = _raft_mask(rng, shape, (grid[0], grid[1]))
            if mask.sum() < 2 or (mask & ~room).any() or (mask & taken).any():
                continue
            taken |= ndimage.binary_dilation(mask, iterations=4)
            rafts.append(Raft(shape, mask, ndimage.binary_erosion(mask, iterations=3)))
            placed += 1
    return rafts


def planted(background, rafts, cover, spectrum, transmittance, rng) -> np.ndarray:
    """The background with every raft at `cover`, then Sentinel-2 noise on every pixel."""
    out = background.copy()
    where = np.zeros(background.shape[1:], bool)
    for raft in rafts:
        where |= raft.mask
    signal = cover * transmittance[:, None] * (spectrum - SPECTRA["water"])[:, None]
    signal = signal * (1 + SPECTRAL_JITTER * rng.standard_normal((len(BANDS), int(where.sum()))))
    out[:, where] += signal.astype(np.float32)
    return noisy(out, rng)


def noisy(reflectance: np.ndarray, rng) -> np.ndarray:
    return reflectance + (NOISE_SIGMA[:, None, None] * rng.standard_normal(reflectance.shape)).astype(np.float32)


def false_alarms(detected: np.ndarray, water: np.ndarray) -> dict[str, float]:
    """Rafts of MIN_RAFT_PIXELS or more on open water and on the coast, per 100 km2 and per 10 km of coastline."""
    labels, count = ndimage.label(detected, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    coast = ndimage.binary_dilation(~water, iterations=2)
    on_coast = np.zeros(count + 1, bool)
    on_coast[np.unique(labels[coast & detected])] = True
    big = sizes >= MIN_RAFT_PIXELS
    big[0] = False
    shoreline_km = float((water & ndimage.binary_dilation(~water)).sum()) * PIXEL_KM
    water_km2 = float(water.sum()) * PIXEL_KM**2
    return {
        "open_water_rafts": int((big & ~on_coast).sum()),
        "coast_rafts": int((big & on_coast).sum()),
        "water_km2": water_km2,
        "coast_km": shoreline_km,
    }


def score_maps(loaded, reflectance: np.ndarray, excluded: np.ndarray, flips: int = 1) -> dict[str, np.ndarray]:
    maps = {"model": np.where(excluded, 0.0, model_probability(loaded, reflectance, flips))}
    for method in ("afai", "fai"):
        maps[method] = baseline_scores(reflectance, BANDS, method, background=True, exclusion=excluded)
    return maps


def run(
    loaded, scene_files: list[Path], seeds: int, flips: int = 1, model_thresholds: tuple[float, ...] = ()
) -> tuple[list[dict], list[dict], dict]:
    """Every planting scored by every method; returns (detection rows, clean rows, each method's thresholds).
    `model_thresholds`: the model scored at these as well (rows "model at T"), to pick a threshold on the
    detection limit and the coasts together."""
    transmittance = {"L2A": np.ones(len(BANDS), np.float32), "L1C": ATLANTIC.transmittance(band_wavelengths(BANDS))}
    scored, clean = [], []
    for path in scene_files:
        with open_scene(path, bands=BANDS) as scene:
            surface = scene.read()
        for level in ("L2A", "L1C"):
            background = surface if level == "L2A" else to_top_of_atmosphere(surface, BANDS, ATLANTIC)
            water = open_water(background, BANDS)
            for seed in range(seeds):
                rng = np.random.default_rng([seed, 19])
                rafts = place_rafts(water, rng)
                image = noisy(background, rng)
                excluded = exclusion_mask(image, BANDS)
                maps = score_maps(loaded, image, excluded, flips)
                clean.append({"level": level, "maps": maps, "water": water & ~excluded})
                for (name, spectrum), cover in ((s, c) for s in SPECTRA_PLANTED.items() for c in COVERS):
                    image = planted(background, rafts, cover, spectrum, transmittance[level], rng)
                    maps = score_maps(loaded, image, exclusion_mask(image, BANDS), flips)
                    scored.append({"scene": path.stem, "level": level, "spectrum": name, "cover": cover,
                                   "maps": maps, "rafts": rafts})  # fmt: skip
    thresholds = {"model": loaded.card.threshold, **{f"model at {t:g}": t for t in model_thresholds}}
    thresholds.update({f"{m} (default)": DEFAULT_THRESHOLDS[m] for m in ("afai", "fai")})
    for method in ("afai", "fai"):
        thresholds[f"{method} (model's false alarms)"] = matched_threshold(clean, method, thresholds["model"])
    return scored, clean, thresholds


def matched_threshold(clean: list[dict], method: str, model_threshold: float) -> float:
    """The lowest index threshold that flags no more clean open water than the model does."""
    flagged = sum(int(((c["maps"]["model"] >= model_threshold) & c["water"]).sum()) for c in clean)
    for t in INDEX_THRESHOLDS:
        if sum(int(((np.nan_to_num(c["maps"][method], nan=-1) >= t) & c["water"]).sum()) for c in clean) <= flagged:
            return float(t)
    return float(INDEX_THRESHOLDS[-1])


def _method_key(label: str) -> str:
    return label.split(" ")[0]


def recall_rows(scored: list[dict], thresholds: dict, spectrum: str | None = None) -> list[dict]:
    """Per method, level and cover: pixel, interior and raft recall (of one planted spectrum, or of all)."""
    rows = []
    for label, t in thresholds.items():
        for level in ("L2A", "L1C"):
            for cover in COVERS:
                cases = [s for s in scored if s["level"] == level and s["cover"] == cover]
                cases = [s for s in cases if spectrum is None or s["spectrum"] == spectrum]
                hit = total = inner_hit = inner_total = found = rafts = 0
                for case in cases:
                    detected = np.nan_to_num(case["maps"][_method_key(label)], nan=-1) >= t
                    for raft in case["rafts"]:
                        hit += int(detected[raft.mask].sum())
                        total += int(raft.mask.sum())
                        inner_hit += int(detected[raft.interior].sum())
                        inner_total += int(raft.interior.sum())
                        found += bool(detected[raft.mask].any())
                        rafts += 1
                rows.append({"method": label, "threshold": float(t), "level": level, "cover": cover,
                             "recall": hit / max(total, 1), "interior_recall": inner_hit / max(inner_total, 1),
                             "rafts_found": found / max(rafts, 1), "rafts": rafts})  # fmt: skip
    return rows


def cover_at(rows: list[dict], target: float) -> float | None:
    """The cover (linear between levels) at which recall first reaches `target`; None if it never does."""
    for a, b in itertools.pairwise(rows):
        if a["recall"] >= target:
            return a["cover"]
        if b["recall"] >= target:
            return a["cover"] + (target - a["recall"]) * (b["cover"] - a["cover"]) / (b["recall"] - a["recall"])
    return rows[0]["cover"] if rows and rows[0]["recall"] >= target else None


def alarm_rows(clean: list[dict], thresholds: dict) -> list[dict]:
    rows = []
    for label, t in thresholds.items():
        for level in ("L2A", "L1C"):
            parts = [false_alarms((np.nan_to_num(c["maps"][_method_key(label)], nan=-1) >= t) & c["water"], c["water"])
                     for c in clean if c["level"] == level]  # fmt: skip
            total = {k: sum(p[k] for p in parts) for k in parts[0]}
            rows.append({"method": label, "level": level,
                         "per_100_km2": 100 * total["open_water_rafts"] / max(total["water_km2"], 1e-9),
                         "per_10_km_coast": 10 * total["coast_rafts"] / max(total["coast_km"], 1e-9)})  # fmt: skip
    return rows


def _fmt(v: float | None) -> str:
    return "never" if v is None else f"{100 * v:.1f} %"


def markdown(recalls: list[dict], alarms: list[dict]) -> str:
    lines = ["| method | level | " + " | ".join(f"{100 * c:g} %" for c in COVERS) + " | 0.5 at | 0.9 at |",
             "|---|---|" + "---|" * (len(COVERS) + 2)]  # fmt: skip
    for label in dict.fromkeys(r["method"] for r in recalls):
        for level in ("L2A", "L1C"):
            rows = [r for r in recalls if r["method"] == label and r["level"] == level]
            cells = [f"{r['recall']:.2f} / {r['interior_recall']:.2f} / {r['rafts_found']:.2f}" for r in rows]
            lines.append(
                f"| {label} | {level} | "
                + " | ".join(cells)
                + f" | {_fmt(cover_at(rows, 0.5))} | {_fmt(cover_at(rows, 0.9))} |"
            )
    lines += ["", "Cells: pixel recall / interior recall / rafts found.", "",
              "| method | level | false rafts per 100 km2 of open water | per 10 km of coastline |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {a['method']} | {a['level']} | {a['per_100_km2']:.2f} | {a['per_10_km_coast']:.2f} |" for a in alarms]
    return "\n".join(lines)


def plot(path: Path, recalls: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, level in zip(axes, ("L2A", "L1C"), strict=True):
        for label in dict.fromkeys(r["method"] for r in recalls):
            rows = [r for r in recalls if r["method"] == label and r["level"] == level]
            ax.plot([100 * r["cover"] for r in rows], [r["recall"] for r in rows], "o-", label=label)
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.axhline(0.9, color="grey", lw=0.6, ls=":")
        ax.set(
            xscale="log", xlabel="fractional cover of the raft's pixels (%)", title=f"{level}: planted in real water"
        )
        ax.set_xticks([100 * c for c in COVERS], [f"{100 * c:g}" for c in COVERS])
        ax.minorticks_off()
    axes[0].set_ylabel("pixel recall")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    held_out.add_arguments(p, 2, "plantings (raft geometries) per scene and level")
    p.add_argument("--plot", type=Path, help="also draw recall against cover (PNG)")
    p.add_argument("--flips", type=int, default=1, choices=(1, 2, 4), help="average the model over 2 or 4 flips")
    p.add_argument("--thresholds", default="", help="comma-separated model thresholds to score as well")
    p.add_argument("--by-spectrum", action="store_true", help="also a table per planted spectrum (model only)")
    args = p.parse_args(argv)
    files = held_out.scene_files(args.scenes)
    if not files:
        return 1
    loaded = load_model_file(args.model)
    extra = tuple(float(t) for t in args.thresholds.split(",") if t.strip())
    scored, clean, thresholds = run(loaded, files, args.seeds, args.flips, extra)
    recalls, alarms = recall_rows(scored, thresholds), alarm_rows(clean, thresholds)
    flips = f", averaged over {args.flips} flips" if args.flips > 1 else ""
    print(f"model {args.model.name} (threshold {loaded.card.threshold:g}{flips}); "
          f"scenes: {', '.join(f.stem for f in files)}")  # fmt: skip
    print(markdown(recalls, alarms))
    if args.by_spectrum:
        models = {k: v for k, v in thresholds.items() if _method_key(k) == "model"}
        for name in SPECTRA_PLANTED:
            print(f"\n{name} spectrum only:\n")
            print(markdown(recall_rows(scored, models, name), []).split("\n\nCells")[0])
    if args.plot is not None:
        plot(args.plot, recalls)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"thresholds": thresholds, "recall": recalls, "false_alarms": alarms}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
