"""Top-of-atmosphere reflectance from surface reflectance: what turns an L2A-like scene into an L1C-like one.

An L1C pixel is the surface seen through the atmosphere: rho_toa = T(lambda) * rho_surface + P(lambda), with
- P the path reflectance: Rayleigh scattering (falls as lambda^-4) plus aerosol (lambda^-alpha, alpha 0.3-2) plus a
  small spectrally flat part (thin haze, diffuse glint);
- T the two-way diffuse transmittance, lowest in the blue.
Over clear tropical ocean a real L1C scene reads about 0.10 more than L2A in B02, 0.06 in B04, 0.02 in B8A and
almost nothing in B11 (docs/training.md). A raft adds coverage x T x (raft - water) at L1C: linear mixing holds.

Training draws a random atmosphere per crop (`random_atmosphere`) so one model serves L1C and L2A; the real-imagery
benchmark uses fixed ones (`ATLANTIC`, `HAZY`) to make L1C versions of L2A scenes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sargasses.reading.sensors import SENTINEL2_L2A, SensorProfile


@dataclass(frozen=True)
class Atmosphere:
    """Path reflectance and transmittance parameters (reflectance units, at the reference wavelengths)."""

    rayleigh_490: float  # Rayleigh path reflectance at 490 nm
    aerosol_865: float  # aerosol path reflectance at 865 nm
    angstrom: float  # aerosol spectral slope
    haze: float  # spectrally flat path reflectance
    transmittance_490: float  # two-way transmittance at 490 nm (rises towards 1 in the SWIR)

    def path(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        wl = np.asarray(wavelengths_nm, np.float64)
        return self.rayleigh_490 * (wl / 490.0) ** -4.08 + self.aerosol_865 * (wl / 865.0) ** -self.angstrom + self.haze

    def transmittance(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        wl = np.asarray(wavelengths_nm, np.float64)
        loss = (1.0 - self.transmittance_490) * (wl / 490.0) ** -1.5
        return 1.0 - loss


# Fixed atmospheres for the benchmark. ATLANTIC is fitted to the open water of a real L1C Atlantic scene minus L2A
# clear water (path 0.094 / 0.038 / 0.019 / 0.004 in B02 / B04 / B8A / B11, against 0.097 / 0.060 / 0.019 / 0.003
# measured); HAZY adds a thick aerosol layer (B02 path 0.11, B11 0.03).
ATLANTIC = Atmosphere(rayleigh_490=0.050, aerosol_865=0.014, angstrom=2.0, haze=0.0, transmittance_490=0.85)
HAZY = Atmosphere(rayleigh_490=0.060, aerosol_865=0.030, angstrom=0.6, haze=0.006, transmittance_490=0.78)


def random_atmosphere(rng: np.random.Generator) -> Atmosphere:
    """An atmosphere from the range met over the tropical Atlantic, clear to hazy."""
    return Atmosphere(
        rayleigh_490=float(rng.uniform(0.035, 0.075)),
        aerosol_865=float(np.exp(rng.uniform(np.log(0.002), np.log(0.04)))),
        angstrom=float(rng.uniform(0.3, 2.5)),
        haze=float(rng.uniform(0.0, 0.01)),
        transmittance_490=float(rng.uniform(0.72, 0.95)),
    )


def band_wavelengths(band_names: Sequence[str], profile: SensorProfile = SENTINEL2_L2A) -> np.ndarray:
    """Centre wavelengths (nm) of `band_names`, for the spectral laws above."""
    return np.array([profile.band(name).wavelength_nm for name in band_names], np.float64)


def to_top_of_atmosphere(
    reflectance: np.ndarray, band_names: Sequence[str], atmosphere: Atmosphere, out: np.ndarray | None = None
) -> np.ndarray:
    """(C, H, W) surface reflectance -> top-of-atmosphere reflectance through `atmosphere` (NaN stays NaN)."""
    wl = band_wavelengths(band_names)
    t = atmosphere.transmittance(wl).astype(np.float32)[:, None, None]
    p = atmosphere.path(wl).astype(np.float32)[:, None, None]
    out = np.multiply(reflectance, t, out=out)
    out += p
    return out


def as_level_1c(scene, seed: int):
    """A surface-reflectance SyntheticScene seen from space through a random atmosphere (drawn from `seed`),
    tagged Sentinel-2 L1C. A scene that is already top-of-atmosphere is returned as it is."""
    from sargasses.reading.sensors import SENTINEL2_L1C

    if scene.meta.get("sensor") == SENTINEL2_L1C.name:
        return scene
    atmosphere = random_atmosphere(np.random.default_rng([int(seed), 11]))
    to_top_of_atmosphere(scene.reflectance, scene.band_names, atmosphere, out=scene.reflectance)
    scene.meta["sensor"] = SENTINEL2_L1C.name
    scene.meta["atmosphere"] = {k: round(v, 4) for k, v in vars(atmosphere).items()}
    return scene
