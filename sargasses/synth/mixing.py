"""Mixing the layers into reflectance, band by band: water, floating matter, glint, land and coast, ships, shadow,
cloud, sensor noise and detector stripes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sargasses.reading.sensors import DEFAULT_BANDS, SENTINEL2_L2A
from sargasses.synth.fields import shift
from sargasses.synth.layers import Layers, Sparse
from sargasses.synth.spectra import (
    BAND_INDEX,
    BAND_TIME_S,
    GLINT_SHAPE,
    NOISE_RELATIVE,
    NOISE_SIGMA,
    RED_EDGE_NIR,
    SHALLOW_BOTTOM,
    SPECTRA,
    SPECTRAL_JITTER,
    WET_FACTOR,
)
from sargasses.synth.surfaces.coast import END_MEMBERS, SURFACES
from sargasses.synth.surfaces.confounders import ship_patch


@dataclass
class _Spectra:
    """What every band's mixing reads: the water's spectrum and its fields' strengths, the land's end members,
    and the turbidity split at 1 (sediment-laden below, very turbid above)."""

    water0: np.ndarray
    colour_amp: np.ndarray
    aerosol_amp: np.ndarray
    end_a: np.ndarray  # (band, kind)
    end_b: np.ndarray
    t_low: np.ndarray | None
    t_high: np.ndarray | None


def mix_bands(layers: Layers, jitter_rng, noise_rng, noise_scale: float) -> np.ndarray:
    """Mix every layer into each band: water, floating matter, glint, land, ships, shadow, cloud, noise.

    Works band by band, in place, on full planes only for what spreads over the scene (memory: a full tile).
    Keep the order of the steps: the glint and the noise draw from `noise_rng`, the rafts, foam and ships from
    `jitter_rng`, band after band.
    """
    h, w = layers.shape
    out = np.empty((len(DEFAULT_BANDS), h, w), dtype=np.float32)
    spectra = _spectra(layers)
    for b in range(len(DEFAULT_BANDS)):
        band = out[b]
        _fill_with_water(band, b, layers, spectra)
        if layers.glint is not None:
            _add_glint(band, b, layers, noise_rng)
        if layers.floating is not None:
            _cover_with_floating_matter(band, b, layers.floating, jitter_rng)
        if layers.land is not None:
            _cover_with_land(band, b, layers.land, spectra)
        for ship in layers.ships:
            _cover_with_ship(band, b, ship, layers.shape, jitter_rng)
        if layers.shadow is not None:
            # the shadow takes direct sunlight, more of it in the NIR than in the blue (sky light)
            depth = layers.cloud_params["shadow_depth"] * (0.7 + 0.3 * b / (len(DEFAULT_BANDS) - 1))
            band *= 1 - np.float32(depth) * layers.shadow
        for alpha_field, params, cumulus in ((layers.cirrus, layers.cirrus_params, False),
                                             (layers.cloud, layers.cloud_params, True)):  # fmt: skip
            if alpha_field is not None:
                _cover_with_cloud(band, b, alpha_field, params, cumulus)
        _add_sensor_noise(band, b, noise_rng, noise_scale)
        if layers.stripes is not None:
            band += layers.stripe_offsets[:, b][layers.stripes]
        np.maximum(band, -0.099, out=band)  # the lowest value an L2A offset of -1000 can hold
        if layers.nodata is not None:
            band[layers.nodata] = np.nan
    return out


def _spectra(layers: Layers) -> _Spectra:
    water0 = SPECTRA["water"] * np.float32(layers.water_gain)
    # the water-colour field mostly moves blue and green (chlorophyll, CDOM, water masses)
    colour_amp = np.array([0.22, 0.12, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02, 0.02], np.float32)
    aerosol_amp = 0.0015 * (np.array([b.wavelength_nm for b in _bands()], np.float32) / 865.0) ** -1.0
    end_a = np.array([SPECTRA[END_MEMBERS[k][0]] for k in SURFACES], np.float32).T.copy()  # (band, kind)
    end_b = np.array([SPECTRA[END_MEMBERS[k][1]] for k in SURFACES], np.float32).T.copy()
    t_low = t_high = None
    if layers.turbidity is not None:
        t_low = np.minimum(layers.turbidity, 1)
        t_high = np.maximum(layers.turbidity - 1, 0)
    return _Spectra(water0, colour_amp, aerosol_amp, end_a, end_b, t_low, t_high)


def _fill_with_water(band: np.ndarray, b: int, layers: Layers, spectra: _Spectra) -> None:
    """The sea: its colour field, the aerosol, and where it is turbid, sediment and the land's adjacency light."""
    water0 = spectra.water0
    np.multiply(layers.water_colour, water0[b] * spectra.colour_amp[b], out=band)
    band += water0[b]
    band += layers.aerosol * spectra.aerosol_amp[b]
    if spectra.t_low is not None:
        t_low, t_high = spectra.t_low, spectra.t_high
        band -= t_low * band
        band += t_low * SPECTRA["sediment_laden_water"][b]
        band += t_high * (SPECTRA["very_turbid_water"][b] - SPECTRA["sediment_laden_water"][b])
        band += layers.adjacency * SPECTRA["vegetation"][b]


def _add_glint(band: np.ndarray, b: int, layers: Layers, noise_rng) -> None:
    """Sun glint, with its own log-normal speckle in each band (the waves move between the bands)."""
    h, w = layers.shape
    own = noise_rng.standard_normal((h, w), dtype=np.float32)
    s = layers.glint_params["own_sigma"]
    own *= np.float32(s)
    own -= np.float32(s * s / 2)
    np.exp(own, out=own)
    own *= layers.glint
    own *= GLINT_SHAPE[b]
    band += own


def _cover_with_floating_matter(band: np.ndarray, b: int, fl: Sparse, jitter_rng) -> None:
    """Floating matter replaces the water it covers (glint lands on water only): Sargassum, slicks, foam."""
    v = fl.values
    flat = band.reshape(-1)
    water = flat[fl.idx]
    cover = v["sarg"].copy()
    mix = water * 0
    sarg_b = v["sarg_bright"] * SPECTRA["dense_sargassum"][b]
    if RED_EDGE_NIR[b]:
        sarg_b *= v["sarg_nir"]
    sarg_b *= 1 + SPECTRAL_JITTER * jitter_rng.standard_normal(len(sarg_b), dtype=np.float32)
    mix += v["sarg"] * sarg_b
    if "slick" in v:
        cover += v["slick"]
        mix += v["slick"] * v["slick_bright"] * SPECTRA["natural_organic_material"][b]
    if "foam" in v:
        # whitecaps grow and fade within the seconds between bands
        f = v["foam"] * np.exp(0.35 * jitter_rng.standard_normal(len(cover), dtype=np.float32) - 0.06)
        cover += v["foam"]
        mix += f * SPECTRA["foam_whitecaps"][b]
    flat[fl.idx] = water * (1 - cover) + mix


def _cover_with_land(band: np.ndarray, b: int, land: Sparse, spectra: _Spectra) -> None:
    """Each surface kind mixes two end members by its vegetation share; sand, wetness, then the water."""
    v = land.values
    flat = band.reshape(-1)
    spec = v["veg"] * spectra.end_a[b][v["kind"]] + (1 - v["veg"]) * spectra.end_b[b][v["kind"]]
    spec = (1 - v["beach"]) * spec * v["bright"] + v["beach"] * SPECTRA["beach_sand"][b]
    spec *= 1 - v["wet"] * (1 - WET_FACTOR[b])
    sea = flat[land.idx]
    sea += v["shallow"] * SHALLOW_BOTTOM[b]
    flat[land.idx] = sea + v["frac"] * (spec - sea)


def _cover_with_ship(band: np.ndarray, b: int, ship: dict, shape: tuple[int, int], jitter_rng) -> None:
    patch = ship_patch(jitter_rng, ship, b, shape)
    if patch is not None:
        frac = np.minimum(patch.values, 1)
        win = band[patch.window]
        win += frac * (SPECTRA["ship"][b] * ship["bright"] - win)


def _cover_with_cloud(band: np.ndarray, b: int, alpha_field: np.ndarray, params: dict, cumulus: bool) -> None:
    """A cloud layer, moved along its track by the seconds between this band and B04 (parallax and motion)."""
    step = params["speed"] * float(BAND_TIME_S[b] - BAND_TIME_S[BAND_INDEX["B04"]])
    a = shift(alpha_field, step * math.cos(params["track"]), step * math.sin(params["track"]))
    band -= a * band
    cloud = SPECTRA["cloud_mean"][b]
    if cumulus:  # cores brighter than edges
        band += a * np.float32(cloud)
        band += a * a * np.float32(cloud * (params["bright"] - 1))
    else:
        band += a * np.float32(cloud)


def _add_sensor_noise(band: np.ndarray, b: int, noise_rng, noise_scale: float) -> None:
    """Sensor noise: a constant part and a part relative to the signal."""
    h, w = band.shape
    noise = noise_rng.standard_normal((h, w), dtype=np.float32)
    sigma = np.float32(NOISE_SIGMA[b] * noise_scale)
    rel = noise * band
    rel *= np.float32(NOISE_RELATIVE)
    noise *= sigma
    band += noise
    band += rel


def _bands():
    return [SENTINEL2_L2A.band(name) for name in DEFAULT_BANDS]
