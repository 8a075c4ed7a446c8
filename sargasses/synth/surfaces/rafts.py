"""Sargassum: clusters of curved windrows with scattered mats, and lone mats, up to a target positive share."""

from __future__ import annotations

import numpy as np

from sargasses.synth.labels import MAX_POSITIVE_SHARE, POSITIVE_COVERAGE
from sargasses.synth.spectra import SARGASSUM_NIR_FACTOR, VARIABILITY
from sargasses.synth.strokes import Patch, Stroke, render, windrow


def plant_sargassum(rng, shape, wind: float, kind: str) -> tuple[dict[str, np.ndarray], list[dict], list[Patch]]:
    """Clusters of curved windrows with scattered mats, plus lone mats, until the target positive share is met."""
    h, w = shape
    cov = np.zeros(shape, np.float32)
    bright = np.zeros(shape, np.float32)
    nir = np.zeros(shape, np.float32)
    rafts: list[dict] = []
    patches: list[Patch] = []
    if kind == "confounders":
        return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches
    target = float(np.exp(rng.uniform(np.log(0.0015), np.log(0.012)))) * h * w
    max_len = max(12.0, min(400.0, 0.4 * min(h, w)))
    min_len = min(15.0, max_len / 2)
    positives = 0
    refused = 0
    for _attempt in range(20000):  # bounded: a tiny scene may never reach its target
        if positives >= target or refused >= 30:
            break
        lone = rng.random() < 0.25
        b = float(rng.uniform(*VARIABILITY["dense_sargassum"]))
        n = float(rng.uniform(*SARGASSUM_NIR_FACTOR))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        heading = wind + rng.normal(0, 0.25)
        strokes: list[Stroke] = []
        if lone:  # a small mat or a short filament on its own
            strokes.append(
                windrow(rng, cy, cx, heading, rng.uniform(0.5, 12), rng.uniform(0.3, 2.5), rng.uniform(0.3, 1))
            )
        else:
            n_rows = int(rng.integers(2, 14))
            spacing = rng.uniform(4, 30)
            across = np.cumsum(rng.uniform(0.5, 1.5, n_rows) * spacing)
            across -= across.mean()
            for a in across:
                length = float(np.exp(rng.uniform(np.log(min_len), np.log(max_len))))
                if rng.random() < 0.7:  # most windrows are narrower than a pixel
                    width0 = float(np.exp(rng.uniform(np.log(0.08), np.log(0.9))))
                else:
                    width0 = float(rng.uniform(0.9, 3.0))
                along = rng.uniform(-0.3, 0.3) * length
                y0 = cy + a * np.cos(heading) + along * np.sin(heading)
                x0 = cx - a * np.sin(heading) + along * np.cos(heading)
                strokes.append(windrow(rng, y0, x0, heading, length, width0, rng.uniform(0.4, 1.0)))
            for _ in range(int(rng.poisson(6))):  # mats scattered around the cluster
                r = rng.uniform(0, spacing * n_rows + 20)
                phi = rng.uniform(0, 2 * np.pi)
                y0, x0 = cy + r * np.sin(phi), cx + r * np.cos(phi)
                size_ = (rng.uniform(0.5, 6), rng.uniform(0.2, 2.0), rng.uniform(0.3, 1.0))
                strokes.append(windrow(rng, y0, x0, heading + rng.normal(0, 0.5), *size_))
        patch = render(rng, strokes, shape)
        if patch is None:
            continue
        win = patch.window
        before = int((cov[win] >= POSITIVE_COVERAGE).sum())
        cov[win] += patch.values
        gained = int((cov[win] >= POSITIVE_COVERAGE).sum()) - before
        if positives + gained > MAX_POSITIVE_SHARE * h * w * 0.95:
            cov[win] -= patch.values  # this raft would break the 2 % ceiling: leave it out, try a smaller one
            refused += 1
            continue
        positives += gained
        bright[win] += patch.values * b
        nir[win] += patch.values * n
        patches.append(patch)
        rafts.append(
            {
                "id": len(rafts),
                "shape": "mat" if lone else "windrow_cluster",
                "filaments": len(strokes),
                "bbox": patch.bbox(),
                "brightness": round(b, 3),
                "nir_factor": round(n, 3),
            }
        )
    return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches
