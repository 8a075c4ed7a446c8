"""The "OTCI" RGB rendering: OLCI reflectance as the 0-255 RGB images Meteo-France's original models were trained on.

The original project's input images are called OTCI images (after the OLCI Terrestrial Chlorophyll Index, which
uses Oa10, Oa11 and Oa12); how they were rendered is not published. This rendering is a documented stand-in,
not a reproduction (docs/reading.md, "Sentinel-3 OLCI"):
- channels: red = Oa12 (753.75 nm), green = Oa11 (708.75 nm), blue = Oa10 (681.25 nm), the three OTCI bands;
  a Sargassum raft's red-edge rise makes it brighter in red and green than the water around it;
- stretch: fixed, the same for every scene and window (so a tiled read equals a whole-image read):
  value = 255 * clip(reflectance / RGB_MAX_REFLECTANCE, 0, 1) ** (1 / RGB_GAMMA), rounded; gamma 2 (a square
  root) spreads the dark water over more levels than a linear stretch would;
- nodata (NaN in any of the three bands) is 0 in all three channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sargasses.errors import SargassesError

RGB_BANDS = ("Oa12", "Oa11", "Oa10")  # red, green, blue
RGB_MAX_REFLECTANCE = 0.25  # reflectance that maps to 255 (thick cloud and land saturate; water stays below ~100)
RGB_GAMMA = 2.0


def render_otci_rgb(reflectance: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """(3, H, W) uint8 RGB of a (C, H, W) OLCI reflectance stack that holds Oa12, Oa11 and Oa10 (any order)."""
    missing = [b for b in RGB_BANDS if b not in band_names]
    if missing:
        raise SargassesError(
            f"the OTCI rendering needs OLCI bands {', '.join(RGB_BANDS)}; {', '.join(missing)} missing. "
            "Read these bands from the product."
        )
    return to_uint8(render_float(reflectance[[list(band_names).index(b) for b in RGB_BANDS]]))


def render_float(rgb_reflectance: np.ndarray) -> np.ndarray:
    """(3, H, W) reflectance in RGB_BANDS order -> (3, H, W) float32 0-255 (whole numbers), NaN where any band is
    nodata: what the scene hands a rendered model, so nodata stays nodata for the masks."""
    with np.errstate(invalid="ignore"):
        scaled = np.clip(rgb_reflectance / np.float32(RGB_MAX_REFLECTANCE), 0.0, 1.0)
        out = np.round(np.float32(255.0) * scaled ** np.float32(1.0 / RGB_GAMMA)).astype(np.float32)
    nodata = ~np.isfinite(rgb_reflectance).all(axis=0)
    out[:, nodata] = np.nan
    return out


def to_uint8(rendered: np.ndarray) -> np.ndarray:
    """The float rendering as bytes, nodata as 0."""
    return np.nan_to_num(rendered, nan=0.0).astype(np.uint8)
