"""Sargassum: clusters of curved windrows, lone mats and wide patches, dense or sparse, up to a target positive share.

Why these forms: what arrives first at a coast is sparse windrows (a few % of each pixel covered), and what strands
is wide dense mats; a model trained on thin dense filaments alone misses both (issue 19). Each raft draws a density
that scales its cover, so the same windrow appears from 2 % to full cover, and wide patches are filled to their
interiors, which are scored.
"""

from __future__ import annotations

import math

import numpy as np

from sargasses.synth.labels import MAX_POSITIVE_SHARE, POSITIVE_COVERAGE
from sargasses.synth.spectra import SARGASSUM_NIR_FACTOR, VARIABILITY
from sargasses.synth.strokes import Patch, Stroke, render, windrow

# Share of rafts of each form, and of windrows / mats drawn sparse (cover scaled down by SPARSE_DENSITY).
FORMS = {"windrow_cluster": 0.5, "mat": 0.25, "patch": 0.25}
SPARSE_SHARE = 0.45
SPARSE_DENSITY = (0.03, 0.6)  # log-uniform scale on a sparse raft's cover
PATCH_RADIUS_PX = (5.0, 60.0)  # log-uniform half-length of a wide patch (up to 120 px, 2.4 km across)


def _log_uniform(rng, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _cluster(rng, cy: float, cx: float, heading: float, shape, density: float) -> list[Stroke]:
    """2-13 parallel windrows with mats scattered around them."""
    h, w = shape
    max_len = max(12.0, min(400.0, 0.4 * min(h, w)))
    min_len = min(15.0, max_len / 2)
    n_rows = int(rng.integers(2, 14))
    spacing = rng.uniform(4, 30)
    across = np.cumsum(rng.uniform(0.5, 1.5, n_rows) * spacing)
    across -= across.mean()
    strokes = []
    for a in across:
        length = _log_uniform(rng, min_len, max_len)
        # most windrows are narrower than a pixel
        width0 = _log_uniform(rng, 0.08, 0.9) if rng.random() < 0.7 else float(rng.uniform(0.9, 3.0))
        along = rng.uniform(-0.3, 0.3) * length
        y0 = cy + a * np.cos(heading) + along * np.sin(heading)
        x0 = cx - a * np.sin(heading) + along * np.cos(heading)
        strokes.append(windrow(rng, y0, x0, heading, length, width0, density * rng.uniform(0.4, 1.0)))
    for _ in range(int(rng.poisson(6))):
        r = rng.uniform(0, spacing * n_rows + 20)
        phi = rng.uniform(0, 2 * np.pi)
        y0, x0 = cy + r * np.sin(phi), cx + r * np.cos(phi)
        size_ = (rng.uniform(0.5, 6), rng.uniform(0.2, 2.0), density * rng.uniform(0.3, 1.0))
        strokes.append(windrow(rng, y0, x0, heading + rng.normal(0, 0.5), *size_))
    return strokes


def wide_patch(rng, cy: float, cx: float, heading: float, shape, radius: float, density: float) -> Patch | None:
    """A filled patch: an elongated blob with a ragged edge, cover `density` times a texture, soft at the rim."""
    aspect = float(rng.uniform(1.0, 2.5))
    half_w = max(1.5, radius / aspect)
    reach = math.ceil(radius + 3)
    r0, c0 = math.floor(cy) - reach, math.floor(cx) - reach
    yy, xx = np.mgrid[r0 : r0 + 2 * reach + 1, c0 : c0 + 2 * reach + 1].astype(np.float32) + 0.5
    dy, dx = yy - cy, xx - cx
    along = dx * math.cos(heading) + dy * math.sin(heading)
    across = -dx * math.sin(heading) + dy * math.cos(heading)
    angle = np.arctan2(across / half_w, along / radius)
    ragged = 1.0 + sum(
        rng.uniform(0.02, 0.12) * np.sin(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5, 7)
    )  # the edge of a real patch is lobed, not an ellipse
    rho = np.hypot(along / radius, across / half_w) / ragged
    rim = np.clip((1.0 - rho) * half_w + 0.5, 0.0, 1.0)  # sub-pixel cover across the last pixel of the edge
    texture = np.clip(1.0 + 0.25 * rng.standard_normal(rim.shape).astype(np.float32), 0.4, 1.4)
    values = (density * rim * texture).astype(np.float32)
    values = np.minimum(values, 1.0)
    inside = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
    values[~inside] = 0
    rows, cols = np.nonzero(values > 0)
    if not len(rows):
        return None
    top, left = rows.min(), cols.min()
    return Patch(r0 + int(top), c0 + int(left), values[top : rows.max() + 1, left : cols.max() + 1].copy())


def _draw_raft(rng, shape, wind: float) -> tuple[str, float, int, Patch | None]:
    """One raft: its form, density, number of filaments and rendered cover."""
    h, w = shape
    form = str(rng.choice(list(FORMS), p=list(FORMS.values())))
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    heading = wind + rng.normal(0, 0.25)
    if form == "patch":
        dense = rng.random() < 0.5
        density = float(rng.uniform(0.5, 1.0)) if dense else _log_uniform(rng, *SPARSE_DENSITY)
        top = min(PATCH_RADIUS_PX[1], 0.15 * min(h, w))
        radius = _log_uniform(rng, PATCH_RADIUS_PX[0], max(top, PATCH_RADIUS_PX[0] + 1))
        return form, density, 1, wide_patch(rng, cy, cx, heading, shape, radius, density)
    density = _log_uniform(rng, *SPARSE_DENSITY) if rng.random() < SPARSE_SHARE else 1.0
    if form == "mat":  # a small mat or a short filament on its own
        strokes = [
            windrow(rng, cy, cx, heading, rng.uniform(0.5, 12), rng.uniform(0.3, 2.5), density * rng.uniform(0.3, 1))
        ]
    else:
        strokes = _cluster(rng, cy, cx, heading, shape, density)
    return form, density, len(strokes), render(rng, strokes, shape)


def plant_sargassum(rng, shape, wind: float, kind: str) -> tuple[dict[str, np.ndarray], list[dict], list[Patch]]:
    """Rafts of every form until the target positive share is met (none in confounder-only scenes)."""
    h, w = shape
    cov = np.zeros(shape, np.float32)
    bright = np.zeros(shape, np.float32)
    nir = np.zeros(shape, np.float32)
    rafts: list[dict] = []
    patches: list[Patch] = []
    if kind == "confounders":
        return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches
    target = _log_uniform(rng, 0.0015, 0.012) * h * w
    positives = 0
    refused = 0
    for _attempt in range(20000):  # bounded: a tiny scene may never reach its target
        if positives >= target or refused >= 30:
            break
        b = float(rng.uniform(*VARIABILITY["dense_sargassum"]))
        n = float(rng.uniform(*SARGASSUM_NIR_FACTOR))
        form, density, filaments, patch = _draw_raft(rng, shape, wind)
        if patch is None:
            continue
        win = patch.window
        before = int((cov[win] >= POSITIVE_COVERAGE).sum())
        cov[win] += patch.values
        gained = int((cov[win] >= POSITIVE_COVERAGE).sum()) - before
        if positives + gained > MAX_POSITIVE_SHARE * h * w * 0.95:
            cov[win] -= patch.values  # this raft would break the ceiling: leave it out, try a smaller one
            refused += 1
            continue
        positives += gained
        bright[win] += patch.values * b
        nir[win] += patch.values * n
        patches.append(patch)
        rafts.append(
            {
                "id": len(rafts),
                "shape": form,
                "density": round(density, 3),
                "filaments": filaments,
                "bbox": patch.bbox(),
                "brightness": round(b, 3),
                "nir_factor": round(n, 3),
            }
        )
    return {"sarg": cov, "sarg_bright": bright, "sarg_nir": nir}, rafts, patches
