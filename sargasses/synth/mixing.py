"""Mixing the layers into reflectance, band by band: water, floating matter, glint, land and coast, ships, shadow,
cloud, sensor noise and detector stripes."""

from __future__ import annotations

import math

import numpy as np

from sargasses.reading.sensors import DEFAULT_BANDS, SENTINEL2_L2A
from sargasses.synth.fields import shift
from sargasses.synth.layers import Layers
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


def mix_bands(layers: Layers, jitter_rng, noise_rng, noise_scale: float) -> np.ndarray:
    """Mix every layer into each band: water, floating matter, glint, land, ships, shadow, cloud, noise.

    Works band by band, in place, on full planes only for what spreads over the scene (memory: a full tile).
    """
    h, w = layers.shape
    out = np.empty((len(DEFAULT_BANDS), h, w), dtype=np.float32)
    water0 = SPECTRA["water"] * np.float32(layers.water_gain)
    # the water-colour field mostly moves blue and green (chlorophyll, CDOM, water masses)
    colour_amp = np.array([0.22, 0.12, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02, 0.02], np.float32)
    aerosol_amp = 0.0015 * (np.array([b.wavelength_nm for b in _bands()], np.float32) / 865.0) ** -1.0
    fl = layers.floating
    end_a = np.array([SPECTRA[END_MEMBERS[k][0]] for k in SURFACES], np.float32).T.copy()  # (band, kind)
    end_b = np.array([SPECTRA[END_MEMBERS[k][1]] for k in SURFACES], np.float32).T.copy()
    if layers.turbidity is not None:
        t_low = np.minimum(layers.turbidity, 1)
        t_high = np.maximum(layers.turbidity - 1, 0)
    for b in range(len(DEFAULT_BANDS)):
        band = out[b]
        np.multiply(layers.water_colour, water0[b] * colour_amp[b], out=band)
        band += water0[b]
        band += layers.aerosol * aerosol_amp[b]
        if layers.turbidity is not None:
            band -= t_low * band
            band += t_low * SPECTRA["sediment_laden_water"][b]
            band += t_high * (SPECTRA["very_turbid_water"][b] - SPECTRA["sediment_laden_water"][b])
            band += layers.adjacency * SPECTRA["vegetation"][b]
        if layers.glint is not None:
            own = noise_rng.standard_normal((h, w), dtype=np.float32)
            s = layers.glint_params["own_sigma"]
            own *= np.float32(s)
            own -= np.float32(s * s / 2)
            np.exp(own, out=own)
            own *= layers.glint
            own *= GLINT_SHAPE[b]
            band += own
            del own
        if fl is not None:
            # floating matter replaces the water it covers (glint lands on water only)
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
        if layers.land is not None:
            # each surface kind mixes two end members by its vegetation share; sand, wetness, then the water
            v = layers.land.values
            flat = band.reshape(-1)
            spec = v["veg"] * end_a[b][v["kind"]] + (1 - v["veg"]) * end_b[b][v["kind"]]
            spec = (1 - v["beach"]) * spec * v["bright"] + v["beach"] * SPECTRA["beach_sand"][b]
            spec *= 1 - v["wet"] * (1 - WET_FACTOR[b])
            sea = flat[layers.land.idx]
            sea += v["shallow"] * SHALLOW_BOTTOM[b]
            flat[layers.land.idx] = sea + v["frac"] * (spec - sea)
            del spec, sea
        for ship in layers.ships:
            patch = ship_patch(jitter_rng, ship, b, layers.shape)
            if patch is not None:
                frac = np.minimum(patch.values, 1)
                win = band[patch.window]
                win += frac * (SPECTRA["ship"][b] * ship["bright"] - win)
        if layers.shadow is not None:
            # the shadow takes direct sunlight, more of it in the NIR than in the blue (sky light)
            depth = layers.cloud_params["shadow_depth"] * (0.7 + 0.3 * b / (len(DEFAULT_BANDS) - 1))
            band *= 1 - np.float32(depth) * layers.shadow
        for alpha_field, params, cumulus in ((layers.cirrus, layers.cirrus_params, False),
                                             (layers.cloud, layers.cloud_params, True)):  # fmt: skip
            if alpha_field is None:
                continue
            step = params["speed"] * float(BAND_TIME_S[b] - BAND_TIME_S[BAND_INDEX["B04"]])
            a = shift(alpha_field, step * math.cos(params["track"]), step * math.sin(params["track"]))
            band -= a * band
            cloud = SPECTRA["cloud_mean"][b]
            if cumulus:  # cores brighter than edges
                band += a * np.float32(cloud)
                band += a * a * np.float32(cloud * (params["bright"] - 1))
            else:
                band += a * np.float32(cloud)
            del a
        noise = noise_rng.standard_normal((h, w), dtype=np.float32)
        sigma = np.float32(NOISE_SIGMA[b] * noise_scale)
        rel = noise * band
        rel *= np.float32(NOISE_RELATIVE)
        noise *= sigma
        band += noise
        band += rel
        del noise, rel
        if layers.stripes is not None:
            band += layers.stripe_offsets[:, b][layers.stripes]
        np.maximum(band, -0.099, out=band)  # the lowest value an L2A offset of -1000 can hold
        if layers.nodata is not None:
            band[layers.nodata] = np.nan
    return out


def _bands():
    return [SENTINEL2_L2A.band(name) for name in DEFAULT_BANDS]
