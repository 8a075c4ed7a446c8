"""Fractional cover: how much of each detected pixel the raft covers, for sensors whose pixels are larger than rafts.

At 300 m (Sentinel-3 OLCI) a windrow rarely fills a pixel, so a polygon's area overstates the Sargassum in it.
Cover is estimated for the pixels a run detected (elsewhere it is 0 on water, NaN where nodata, land or cloud):

- `unmixing`, when the scene has reflectance bands near 667, 748 and 869 nm (Sentinel-2 B04 B06 B8A, OLCI Oa08
  Oa12 Oa17): a pixel is water and Sargassum mixed linearly, so its AFAI (Wang & Hu 2016) is too, and
      cover = clip((AFAI - AFAI_water) / (AFAI_sargassum - AFAI_water), 0, 1)
  with AFAI_water the median AFAI of the local water (about 51 x 51 pixels, detected pixels, land and cloud left
  out) and AFAI_sargassum that of a pixel fully covered by dense Sargassum (MARIDA's class mean,
  sargasses/data/reference_spectra.csv, surface reflectance). At top of atmosphere (Level-1C / Level-1) the raft's
  signal is dimmed by the atmosphere's transmittance (0.8-0.9 in the NIR), so cover reads low by that much.
- `probability`, when the scene has no such bands (a rendered RGB image, e.g. the original project's OTCI maps):
  the model's probability. That is confidence, not cover: it follows cover only as far as the training labels
  did, so it is an upper bound (the detected area weighted by confidence), not a measure.

The covered area of a run is the sum of cover times pixel area (`covered_area_km2` in the summary, beside
`total_area_km2`, the polygons' area).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sargasses.detection.baseline import BACKGROUND_WINDOW, line_height, median_background

AFAI_NM = (748.0, 667.0, 869.0)  # peak, left and right of the AFAI baseline (Wang & Hu 2016)
BAND_TOLERANCE_NM = 20.0  # a band this close to an AFAI wavelength stands in for it
UNMIXING, PROBABILITY = "unmixing", "probability"
MARGIN = BACKGROUND_WINDOW // 2  # rows read above and below a strip for its local water

ReadRows = Callable[[int, int], np.ndarray]  # (row, height) -> (3, h, W) reflectance of the AFAI bands, NaN outside


def afai_bands(band_names: Sequence[str], wavelengths: Sequence[float | None]) -> tuple[int, int, int] | None:
    """Positions of the bands standing in for AFAI's 748 / 667 / 869 nm, or None when one is missing."""
    picked = []
    for target in AFAI_NM:
        near = [
            (abs(w - target), i)
            for i, w in enumerate(wavelengths)
            if w is not None and abs(w - target) <= BAND_TOLERANCE_NM
        ]
        if not near:
            return None
        picked.append(min(near)[1])
    return picked[0], picked[1], picked[2]


def afai_line(reflectance: np.ndarray, bands: tuple[int, int, int], wavelengths: Sequence[float]) -> np.ndarray:
    """AFAI on the given bands: the peak band's height above the line between the two others."""
    peak, left, right = bands
    return line_height(
        reflectance[peak],
        reflectance[left],
        reflectance[right],
        wavelengths[peak],
        wavelengths[left],
        wavelengths[right],
    )


def full_cover_afai(bands: tuple[int, int, int], wavelengths: Sequence[float]) -> float:
    """AFAI of a pixel fully covered by dense Sargassum, at these bands' wavelengths (reference spectrum)."""
    from sargasses.reading.sensors import DEFAULT_BANDS, SENTINEL2_L2A
    from sargasses.synth.spectra import reference_table

    known = [SENTINEL2_L2A.band(b).wavelength_nm for b in DEFAULT_BANDS]
    spectrum = np.interp(wavelengths, known, reference_table()["dense_sargassum"]).astype(np.float32)
    return float(afai_line(spectrum[:, None, None], bands, wavelengths)[0, 0])


class CoverEstimator:
    """Cover of each strip's detected pixels (see the module docstring); `method` says which way.

    `read_rows(row, height)` gives the (3, height, W) reflectance of the AFAI bands (`bands`: peak, left, right) of
    the area's rows, NaN outside; each row is read once (strips come top to bottom and their margins overlap)."""

    def __init__(
        self, band_names: Sequence[str], wavelengths: Sequence[float | None], read_rows: ReadRows | None
    ) -> None:
        self.band_names = list(band_names)
        self.bands = afai_bands(band_names, wavelengths)
        self.read_rows = read_rows
        self._top, self._index = 0, np.zeros((0, 0), np.float32)  # AFAI of the rows read last
        if self.bands is not None:
            self.method = UNMIXING
            self.wavelengths = [float(wavelengths[i] or 0.0) for i in self.bands]
            self.full = full_cover_afai((0, 1, 2), self.wavelengths)
        else:
            self.method = PROBABILITY

    @property
    def description(self) -> str:
        if self.method == UNMIXING:
            names = ", ".join(self.band_names[i] for i in self.bands or ())
            return f"linear unmixing of AFAI ({names}) between the local water and dense Sargassum"
        return "the model's probability on detected pixels (confidence, an upper bound of cover)"

    def cover(self, row: int, detected: np.ndarray, score: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        """(h, W) float32 cover of the strip whose first row is `row`: 0-1 on detected pixels, 0 on other water,
        NaN where excluded."""
        out = np.zeros(detected.shape, np.float32)
        if detected.any():
            if self.method == UNMIXING:
                out[detected] = self._unmixed(row, detected, excluded)[detected]
            else:
                out[detected] = np.clip(score[detected], 0.0, 1.0)
        out[excluded] = np.nan
        return out

    def _afai_rows(self, top: int, bottom: int) -> np.ndarray:
        """AFAI of rows [top, bottom), reusing the rows the previous strip read."""
        kept = self._index[max(0, top - self._top) :] if self._top <= top < self._top + len(self._index) else None
        start = top if kept is None else self._top + len(self._index)
        assert self.read_rows is not None  # unmixing always has its reader
        new = afai_line(self.read_rows(start, bottom - start), (0, 1, 2), self.wavelengths)
        index = new if kept is None else np.concatenate([kept, new])
        self._top, self._index = top, index
        return index

    def _unmixed(self, row: int, detected: np.ndarray, excluded: np.ndarray) -> np.ndarray:
        """Cover by unmixing, for the strip's rows; the local water is taken over MARGIN more rows each side
        (there only nodata is known to be left out: land within 25 rows of a strip enters its water median)."""
        height = detected.shape[0]
        top = max(0, row - MARGIN)
        index = self._afai_rows(top, row + height + MARGIN)
        water = np.isfinite(index)
        inside = slice(row - top, row - top + height)
        water[inside] &= ~(detected | excluded)
        background = median_background(np.where(water, index, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            cover = (index[inside] - background[inside]) / (self.full - background[inside])
        return np.clip(np.nan_to_num(cover, nan=0.0), 0.0, 1.0).astype(np.float32)


def afai_reader(
    scene: Any, bands: tuple[int, int, int], col_off: int, row_off: int, width: int
) -> tuple[ReadRows, Callable[[], None]]:
    """(read_rows for CoverEstimator, close) over the area's columns, with file handles of its own (the tile
    reader's thread holds the scene's). A GDAL scene is read for the three bands only; another reader (an OLCI
    product) is copied and read whole, its three bands kept."""
    from rasterio.windows import Window

    from sargasses.reading.scene import Scene

    if isinstance(scene, Scene):
        sources = [scene.sources[i] for i in bands]
        view: Any = Scene(sources, scene.crs, scene.transform, scene.width, scene.height, scene.sensor)
        pick: Any = slice(None)
    else:
        view, pick = copy.copy(scene), list(bands)

    def read_rows(row: int, height: int) -> np.ndarray:
        return view.read(Window(col_off, row + row_off, width, height))[pick]

    return read_rows, view.close


def profile_wavelengths(sensor: str | None, band_names: Sequence[str]) -> list[float | None]:
    """Centre wavelengths of the scene's bands from its sensor profile (None where unknown or rendered)."""
    from sargasses.errors import SargassesError
    from sargasses.reading.sensors import get_profile

    if not sensor:
        return [None] * len(band_names)
    try:
        profile = get_profile(sensor)
    except SargassesError:
        return [None] * len(band_names)
    out: list[float | None] = []
    for name in band_names:
        try:
            out.append(profile.band(name).wavelength_nm)
        except KeyError:
            out.append(None)
    return out
