"""Rafts planted into a real scene: real backgrounds (coasts, surf, clouds, turbid water) with known Sargassum.

Real labelled Sargassum scenes are rare, real scenes without Sargassum are not. A raft is added to a real water
pixel by linear mixing, as it happens in the sensor: rho' = rho + coverage x T x (rho_raft - rho_water), with
rho_raft a measured floating-Sargassum spectrum (MARIDA dense Sargassum by default, with the generator's brightness,
red-edge and per-pixel variability), rho_water the measured open-water spectrum and T the atmosphere's transmittance
(1 at L2A; below 1 at L1C, where the path reflectance is already in the pixel and needs no change).
The raft geometry (windrows, mats) is the synthetic generator's; rafts land on water pixels only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sargasses.reading.masking import exclusion_mask
from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M, SENTINEL2_L1C, SENTINEL2_L2A
from sargasses.synth.labels import (
    CLASS_CODES,
    LABEL_IGNORE,
    LABEL_POSITIVE,
    POSITIVE_COVERAGE,
    label_from_coverage,
)
from sargasses.synth.spectra import RED_EDGE_NIR, SPECTRA, SPECTRAL_JITTER
from sargasses.synth.surfaces.rafts import plant_sargassum

# Sargassum pixels as a share of the scene's open water: clusters of windrows, as in the synthetic scenes
WATER_SHARE_RANGE = (0.004, 0.02)


@dataclass
class PlantedScene:
    """A real scene with rafts added: reflectance, labels (1 / 0 / 255) and the planted coverage."""

    reflectance: np.ndarray  # (10, H, W) float32
    label: np.ndarray  # (H, W) uint8
    coverage: np.ndarray  # (H, W) float32, Sargassum sub-pixel coverage 0-1


def open_water(reflectance: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """Pixels where a raft can float: not nodata, land or cloud, and water by NDWI (green above NIR)."""
    names = list(band_names)
    green, nir = reflectance[names.index("B03")], reflectance[names.index("B08")]
    with np.errstate(invalid="ignore"):
        return ~exclusion_mask(reflectance, names) & (green > nir)


def plant_rafts(
    background: np.ndarray,
    band_names: Sequence[str],
    rng: np.random.Generator,
    transmittance: np.ndarray | None = None,
    water_share: float | None = None,
    spectrum: np.ndarray | None = None,
) -> PlantedScene:
    """Rafts on `background`'s open water until about `water_share` of it is Sargassum (random when None).

    `transmittance`: per band, for a top-of-atmosphere (L1C) background; None for surface reflectance.
    `spectrum`: the rafts' reflectance per band; None: MARIDA's dense Sargassum.
    """
    if list(band_names) != list(DEFAULT_BANDS):
        raise ValueError(f"planting needs the bands {DEFAULT_BANDS}, got {list(band_names)}")
    shape = background.shape[1:]
    water = open_water(background, band_names)
    share = water_share if water_share is not None else float(rng.uniform(*WATER_SHARE_RANGE))
    target = share * int(water.sum())
    coverage = np.zeros(shape, np.float32)
    bright = np.zeros(shape, np.float32)
    nir = np.zeros(shape, np.float32)
    for _ in range(12):  # each round plants over the whole grid; what falls on land is dropped
        if (coverage >= POSITIVE_COVERAGE).sum() >= target:
            break
        fields, _, _ = plant_sargassum(rng, shape, float(rng.uniform(0, np.pi)), "mixed")
        coverage += np.where(water, fields["sarg"], 0)
        bright += np.where(water, fields["sarg_bright"], 0)
        nir += np.where(water, fields["sarg_nir"], 0)
    np.minimum(coverage, 1.0, out=coverage)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_bright = np.where(coverage > 0, bright / np.maximum(coverage, 1e-6), 0).astype(np.float32)
        mean_nir = np.where(coverage > 0, nir / np.maximum(coverage, 1e-6), 0).astype(np.float32)
    t = np.ones(len(band_names), np.float32) if transmittance is None else np.asarray(transmittance, np.float32)
    if spectrum is None:
        spectrum = SPECTRA["dense_sargassum"]
    out = background.astype(np.float32, copy=True)
    where = coverage > 0
    for b in range(len(band_names)):
        raft = spectrum[b] * mean_bright[where]
        if RED_EDGE_NIR[b]:
            raft *= mean_nir[where]
        raft *= 1 + SPECTRAL_JITTER * rng.standard_normal(raft.shape[0]).astype(np.float32)
        out[b][where] += coverage[where] * t[b] * (raft - SPECTRA["water"][b])
    label = label_from_coverage(coverage)
    label[np.isnan(background).any(axis=0)] = LABEL_IGNORE
    return PlantedScene(out, label, coverage)


def planted_scene(background: str | Path, seed: int):
    """`background` (a real scene file) with rafts planted by `seed`, as a SyntheticScene ready for write_scene."""
    from sargasses.reading.scene import open_scene
    from sargasses.synth.atmosphere import band_wavelengths, random_atmosphere
    from sargasses.synth.labels import scene_stats
    from sargasses.synth.scene import GENERATOR_VERSION, SyntheticScene

    with open_scene(background, bands=list(DEFAULT_BANDS), resolution=DEFAULT_RESOLUTION_M) as scene:
        reflectance = scene.read()
        crs, transform, sensor = scene.crs, scene.transform, scene.sensor or SENTINEL2_L2A.name
        product, date = scene.product_id, scene.acquisition_date
    rng = np.random.default_rng([int(seed), 7])
    transmittance = None
    if sensor == SENTINEL2_L1C.name:  # a top-of-atmosphere background: the raft is seen through the air
        transmittance = random_atmosphere(rng).transmittance(band_wavelengths(DEFAULT_BANDS))
    planted = plant_rafts(reflectance, DEFAULT_BANDS, rng, transmittance)
    classes = np.where(planted.label == LABEL_POSITIVE, CLASS_CODES["sargassum"], 0).astype(np.uint8)
    meta = {
        "generator": f"sargasses.synth {GENERATOR_VERSION} (rafts planted into a real scene)",
        "synthetic": False,
        "seed": int(seed),
        "kind": "planted",
        "background": Path(background).name,
        "sensor": sensor,
        "product_id": product,
        "acquisition_date": date,
        "bands": list(DEFAULT_BANDS),
        "stats": scene_stats(planted.coverage, planted.label, classes),
    }
    return SyntheticScene(
        int(seed), "planted", planted.reflectance, planted.label, transform, crs, meta, classes, planted.coverage
    )
