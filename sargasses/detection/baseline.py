"""The classical index baselines the model must beat: AFAI and FAI, thresholded, optionally minus a median background.

- FAI (Hu 2009): R859 - [R645 + (R1240 - R645) * (859 - 645) / (1240 - 645)]; on MSI: B8A over the B04 -> B11 line.
- AFAI (Wang & Hu 2016): R748 - [R667 + (R869 - R667) * (748 - 667) / (869 - 667)]; on MSI: B06 over the B04 -> B8A line,
  on OLCI: Oa12 over the Oa08 -> Oa17 line.
The baseline on MSI is computed with MSI's own band centres (sensors.py), so the line is exact for this sensor.
Background removal subtracts a running median (about 51 x 51 pixels): floating algae stand above their
surroundings, while haze, glint and turbid water raise whole areas. The detection engine's `--method afai|fai`
and the benchmarks use these functions; metrics.py scores them against the model on the same pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from sargasses.errors import SargassesError
from sargasses.reading.sensors import SENTINEL2_L2A, SENTINEL3_OLCI, SensorProfile

Method = Literal["afai", "fai"]

# (band on which algae stand out, left band of the baseline, right band of the baseline) on MSI
INDEX_BANDS: dict[str, tuple[str, str, str]] = {
    "afai": ("B06", "B04", "B8A"),
    "fai": ("B8A", "B04", "B11"),
}
# On OLCI: AFAI at its nearest bands, Oa12 (754 nm) over the Oa08 (665) -> Oa17 (865) line. OLCI has no band near
# FAI's 1240 nm, so no FAI.
OLCI_INDEX_BANDS: dict[str, tuple[str, str, str]] = {"afai": ("Oa12", "Oa08", "Oa17")}

BACKGROUND_WINDOW = 51  # pixels, as in the MODIS AFAI practice (51 x 51 median)

# Default thresholds on the background-removed index (reflectance units). Chosen as the F1-best threshold on
# synthetic validation scenes (seeds 9000-9103, `sargasses evaluate --val` prints it): the published
# MODIS value for AFAI (1.79e-4) sits below MSI's noise floor and would flag most of the sea.
DEFAULT_THRESHOLDS: dict[str, float] = {"afai": 0.016, "fai": 0.038}
# On OLCI (300 m, far less noisy per pixel than MSI at 20 m): the middle of the range where synthetic OLCI products
# (`sargasses synth --olci`, 3 seeds, L1 and L2, 37 rafts of 10-60 % cover) score pixel F1 >= 0.986 (0.001-0.003;
# 0.005 loses the sparsest rafts); not yet checked against real OLCI noise.
OLCI_DEFAULT_THRESHOLDS: dict[str, float] = {"afai": 0.002}


def is_olci(band_names: Sequence[str]) -> bool:
    """Bands named the OLCI way (Oa01..Oa21)."""
    return any(name.startswith("Oa") for name in band_names)


def default_threshold(method: str, band_names: Sequence[str]) -> float:
    """The index's default threshold for the scene's sensor."""
    return (OLCI_DEFAULT_THRESHOLDS if is_olci(band_names) else DEFAULT_THRESHOLDS)[method]


def _band_index(band_names: Sequence[str], name: str, method: str) -> int:
    try:
        return list(band_names).index(name)
    except ValueError:
        raise SargassesError(
            f"the {method.upper()} baseline needs band {name}, which the scene lacks "
            f"(it has {', '.join(band_names)}); read the scene with its {', '.join(INDEX_BANDS[method])} bands"
        ) from None


def spectral_index(
    reflectance: np.ndarray,
    band_names: Sequence[str],
    method: Method,
    profile: SensorProfile = SENTINEL2_L2A,
) -> np.ndarray:
    """AFAI or FAI of a (bands, H, W) reflectance stack: the peak band's height above the line between two others."""
    if method not in INDEX_BANDS:
        raise SargassesError(f"unknown baseline {method!r}; use one of {', '.join(INDEX_BANDS)}")
    if is_olci(band_names):
        if method not in OLCI_INDEX_BANDS:
            raise SargassesError(f"{method.upper()} needs a band near 1240 nm, which OLCI lacks; use --method afai")
        profile = SENTINEL3_OLCI
    peak, left, right = (OLCI_INDEX_BANDS if is_olci(band_names) else INDEX_BANDS)[method]
    r_peak, r_left, r_right = (reflectance[_band_index(band_names, name, method)] for name in (peak, left, right))
    w_peak, w_left, w_right = (profile.band(name).wavelength_nm for name in (peak, left, right))
    return line_height(r_peak, r_left, r_right, w_peak, w_left, w_right)


def line_height(
    peak: np.ndarray, left: np.ndarray, right: np.ndarray, w_peak: float, w_left: float, w_right: float
) -> np.ndarray:
    """How far the peak band stands above the straight line between the left and right bands (AFAI, FAI)."""
    peak, left, right = (np.asarray(band, dtype=np.float32) for band in (peak, left, right))
    return peak - (left + (right - left) * np.float32((w_peak - w_left) / (w_right - w_left)))


def afai(reflectance: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """Alternative Floating Algae Index (Wang & Hu 2016) on MSI bands B04, B06, B8A."""
    return spectral_index(reflectance, band_names, "afai")


def fai(reflectance: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """Floating Algae Index (Hu 2009) on MSI bands B04, B8A, B11."""
    return spectral_index(reflectance, band_names, "fai")


def median_background(index: np.ndarray, window: int = BACKGROUND_WINDOW) -> np.ndarray:
    """A running median of `index` over about `window` x `window` pixels, NaN-aware, fast on whole tiles.

    The exact running median costs window^2 per pixel; this takes the median of blocks of window/3 pixels,
    then the median of 3 x 3 blocks, and interpolates back: the same estimate where positives are rare (<1%),
    at a cost that does not grow with the window.
    """
    height, width = index.shape
    block = max(1, window // 3)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.full((rows * block, cols * block), np.nan, dtype=np.float32)
    padded[:height, :width] = index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        blocks = np.nanmedian(
            padded.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2
        )
        ring = np.pad(blocks, 1, constant_values=np.nan)
        neighbours = np.stack([ring[i : i + rows, j : j + cols] for i in range(3) for j in range(3)])
        grid = np.nanmedian(neighbours, axis=0)
        fill = np.nanmedian(grid) if np.isfinite(grid).any() else 0.0
    grid = np.where(np.isfinite(grid), grid, fill).astype(np.float32)
    background = ndimage.zoom(grid, block, order=1, mode="nearest", grid_mode=True)
    return background[:height, :width]


def baseline_scores(
    reflectance: np.ndarray,
    band_names: Sequence[str],
    method: Method,
    background: bool = True,
    exclusion: np.ndarray | None = None,
    window: int = BACKGROUND_WINDOW,
) -> np.ndarray:
    """The index (minus its median background), NaN where the pixel cannot be scored (nodata or `exclusion`)."""
    index = spectral_index(reflectance, band_names, method)
    if exclusion is not None:
        index = np.where(exclusion, np.nan, index)
    if background:
        # land and clouds are left out of the background, so they do not lift the sea around them
        index = index - median_background(index, window)
    return index.astype(np.float32)


def detect_baseline(
    reflectance: np.ndarray,
    band_names: Sequence[str],
    method: Method = "afai",
    threshold: float | None = None,
    background: bool = True,
    exclusion: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean Sargassum mask: index (minus background) at or above `threshold` (default: DEFAULT_THRESHOLDS)."""
    scores = baseline_scores(reflectance, band_names, method, background=background, exclusion=exclusion)
    limit = default_threshold(method, band_names) if threshold is None else threshold
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(scores, nan=-np.inf) >= limit
