"""Green floating algae planted into a scene: a Sargassum lookalike that the bundled model flags as Sargassum.

Why: a fine-tune must show that it removes a kind of false positive that users mark. Blooms of green algae
(Ulva-like) float in compact patches with a red-edge rise like Sargassum's, but a green peak (B03 well above B04)
that Sargassum lacks. The bundled default model flags about nine in ten of their pixels (measured on clean
synthetic scenes, seeds 501-503): exactly the kind of mistake a user would mark on their coast. The spectrum is an
estimate (dense Sargassum's red edge and SWIR, a green peak of 0.09 and red of 0.04), not a measured one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GREEN_ALGAE = np.array([0.040, 0.090, 0.040, 0.080, 0.120, 0.140, 0.135, 0.137, 0.016, 0.010], dtype=np.float32)
SPECTRAL_JITTER = 0.05
SIZE_PX = (2.0, 5.0)  # semi-axes of a patch, pixels
COVERAGE = (0.6, 1.0)  # peak sub-pixel coverage of a patch
MASK_COVERAGE = 0.3  # pixels covered more than this are the patch


@dataclass
class PlantedLookalikes:
    reflectance: np.ndarray  # (10, H, W) float32 with the patches mixed in
    mask: np.ndarray  # (H, W) bool: the patches
    centres: list[tuple[float, float]]  # (row, col) of each patch


def plant_green_algae(
    reflectance: np.ndarray, water: np.ndarray, rng: np.random.Generator, count: int = 12, margin: int = 10
) -> PlantedLookalikes:
    """`count` patches of green algae on `water` pixels (patch centres only there), by linear mixing:
    rho' = (1 - c) rho + c rho_algae, with a 5 % per-pixel jitter of the algae spectrum."""
    _, height, width = reflectance.shape
    rows, cols = np.nonzero(water[margin : height - margin, margin : width - margin])
    if len(rows) == 0:
        return PlantedLookalikes(reflectance.copy(), np.zeros((height, width), bool), [])
    yy, xx = np.mgrid[0:height, 0:width]
    coverage = np.zeros((height, width), np.float32)
    centres = []
    for index in rng.choice(len(rows), size=min(count, len(rows)), replace=False):
        cy, cx = rows[index] + margin + rng.uniform(-0.5, 0.5), cols[index] + margin + rng.uniform(-0.5, 0.5)
        a, b = rng.uniform(*SIZE_PX), rng.uniform(*SIZE_PX)
        patch = np.clip(1.2 - ((yy - cy) / a) ** 2 - ((xx - cx) / b) ** 2, 0, 1) * rng.uniform(*COVERAGE)
        coverage = np.maximum(coverage, patch.astype(np.float32))
        centres.append((float(cy), float(cx)))
    coverage *= water
    jitter = 1 + SPECTRAL_JITTER * rng.standard_normal(reflectance.shape).astype(np.float32)
    mixed = reflectance * (1 - coverage) + coverage * GREEN_ALGAE[:, None, None] * jitter
    return PlantedLookalikes(mixed.astype(np.float32), coverage > MASK_COVERAGE, centres)
