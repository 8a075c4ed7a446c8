"""What each surface and the sensor look like: class spectra, their variability, sensor noise and band timing.

The reference table (`sargasses/data/reference_spectra.csv`) gives most class spectra; its blank cells and the
classes it lacks are estimates documented in docs/dataset.md ("Spectra").
"""

from __future__ import annotations

import csv
import math
from importlib import resources

import numpy as np

from sargasses.errors import SargassesError
from sargasses.reading.sensors import DEFAULT_BANDS

# Blank cells of the reference table, filled with the estimates documented in docs/dataset.md ("Spectra").
BLANK_CELL_ESTIMATES: dict[str, dict[str, float]] = {
    # linear mix of water and dense Sargassum at the ~22 % coverage implied by the red and NIR cells of that row
    "sparse_sargassum": {"B02": 0.0355, "B03": 0.0295},
    # clouds are white in the visible: the red value, slightly brighter in the blue
    "cloud_mean": {"B02": 0.160, "B03": 0.155},
    # the table's shadow pixels lie within 20 % of water in every given band: take water's blue and green
    "cloud_shadow": {"B02": 0.034, "B03": 0.024},
    # foam is white in the visible: the red value, flat
    "foam_whitecaps": {"B02": 0.160, "B03": 0.158},
    # sediment-laden water rises from blue to a green-red plateau
    "sediment_laden_water": {"B02": 0.080, "B03": 0.125},
    # brownish organic matter: darker in the blue than in the red
    "natural_organic_material": {"B02": 0.045, "B03": 0.055},
}

# Classes the table does not have, estimated from typical L2A spectra (docs/dataset.md), bands in DEFAULT_BANDS order.
ESTIMATED_SPECTRA: dict[str, tuple[float, ...]] = {
    #                  B02    B03    B04    B05    B06    B07    B08    B8A    B11    B12
    "vegetation": (0.025, 0.055, 0.030, 0.100, 0.260, 0.320, 0.340, 0.350, 0.170, 0.080),
    "bare_soil": (0.080, 0.110, 0.140, 0.160, 0.180, 0.190, 0.200, 0.210, 0.280, 0.240),
    "beach_sand": (0.200, 0.240, 0.270, 0.290, 0.300, 0.310, 0.320, 0.320, 0.360, 0.300),
    "very_turbid_water": (0.120, 0.190, 0.220, 0.220, 0.170, 0.170, 0.150, 0.150, 0.020, 0.012),
    "ship": (0.250, 0.260, 0.270, 0.270, 0.270, 0.270, 0.270, 0.270, 0.220, 0.180),
    # coasts and farmland: irrigated crops (brighter NIR than forest), salt marsh (wet: lower NIR and SWIR),
    # wet tidal mud (dark and flat, a slight NIR rise), asphalt and concrete roads
    "crop": (0.030, 0.070, 0.035, 0.120, 0.330, 0.420, 0.450, 0.460, 0.220, 0.110),
    "marsh_vegetation": (0.030, 0.050, 0.040, 0.080, 0.170, 0.210, 0.230, 0.240, 0.120, 0.060),
    "tidal_mud": (0.045, 0.055, 0.060, 0.065, 0.070, 0.072, 0.075, 0.076, 0.055, 0.040),
    "road": (0.100, 0.110, 0.120, 0.130, 0.140, 0.140, 0.150, 0.150, 0.170, 0.150),
}
# A wet surface keeps this share of its dry reflectance (water film and filled pores, strongest in the SWIR).
WET_FACTOR = np.array([0.65, 0.65, 0.62, 0.60, 0.60, 0.58, 0.58, 0.58, 0.40, 0.40], dtype=np.float32)
# A bright sandy bottom under 1-5 m of clear water: added to the water, mostly blue and green, nothing in the NIR.
SHALLOW_BOTTOM = np.array([0.045, 0.060, 0.025, 0.008, 0.003, 0.002, 0.001, 0.001, 0.0, 0.0], dtype=np.float32)
# Sun glint is nearly white (Fresnel reflection), a little weaker where the atmosphere transmits less (SWIR).
GLINT_SHAPE = np.array([1.00, 0.99, 0.97, 0.96, 0.95, 0.94, 0.93, 0.93, 0.85, 0.78], dtype=np.float32)

# Multiplicative range drawn per object (raft, slick, cloud field, land region) around the class spectrum.
VARIABILITY: dict[str, tuple[float, float]] = {
    "water": (0.85, 1.25),
    "dense_sargassum": (0.70, 1.40),  # times a red-edge/NIR factor in SARGASSUM_NIR_FACTOR (submersion, age)
    "natural_organic_material": (0.70, 1.50),
    "foam_whitecaps": (0.60, 1.30),
    "sediment_laden_water": (0.80, 1.20),
    "cloud_mean": (1.00, 3.50),  # MARIDA's mean mixes thin and thick cloud; cumulus cores reach 0.5
    "vegetation": (0.75, 1.25),
    "bare_soil": (0.80, 1.30),
    "beach_sand": (0.85, 1.20),
    "ship": (0.70, 1.40),
}
SARGASSUM_NIR_FACTOR = (0.80, 1.20)
SPECTRAL_JITTER = 0.05  # per pixel and band, multiplicative standard deviation on planted material

# Sensor noise of L2A over dark water, per band (reflectance), scaled per scene by NOISE_SCALE.
NOISE_SIGMA = np.array(
    [0.0015, 0.0012, 0.0010, 0.0010, 0.0009, 0.0009, 0.0012, 0.0009, 0.0010, 0.0010], dtype=np.float32
)
NOISE_SCALE = (0.8, 1.5)
NOISE_RELATIVE = 0.01  # plus 1 % of the signal (bright targets)

# Approximate acquisition time of each band relative to B02 (s), after the MSI focal-plane layout: moving or
# high objects (clouds, ships, whitecaps) land a little apart in each band, which lights up band-difference indices.
BAND_TIME_S = np.array([0.00, 0.53, 1.01, 1.27, 1.53, 1.79, 0.26, 2.05, 1.55, 2.30], dtype=np.float32)


def _read_reference_table() -> dict[str, np.ndarray]:
    """Rows of the shipped reference table, bands in DEFAULT_BANDS order, NaN for blank cells."""
    text = resources.files("sargasses").joinpath("data/reference_spectra.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader)
    columns = [h.split("_")[0] for h in header[1:]]  # "B02_490" -> "B02"
    order = [columns.index(b) for b in DEFAULT_BANDS]
    table = {}
    for row in reader:
        values = [float(v) if v.strip() else math.nan for v in row[1:]]
        table[row[0]] = np.array([values[i] for i in order], dtype=np.float32)
    return table


def reference_table() -> dict[str, np.ndarray]:
    """The reference table as published (NaN where blank): what tests check the scenes against."""
    return {k: v.copy() for k, v in _REFERENCE.items()}


def class_spectra() -> dict[str, np.ndarray]:
    """Every class spectrum the generator uses: the table with blanks filled, plus the estimated classes."""
    spectra = {}
    for name, values in _REFERENCE.items():
        filled = values.copy()
        for band, value in BLANK_CELL_ESTIMATES.get(name, {}).items():
            filled[DEFAULT_BANDS.index(band)] = value
        if np.isnan(filled).any():
            raise SargassesError(f"reference spectra: class {name!r} has blank cells with no estimate")
        spectra[name] = filled
    for name, values in ESTIMATED_SPECTRA.items():
        spectra[name] = np.array(values, dtype=np.float32)
    return spectra


_REFERENCE = _read_reference_table()
SPECTRA = class_spectra()
# where each band sits in DEFAULT_BANDS, and the bands Sargassum's red-edge/NIR factor scales
BAND_INDEX = {name: i for i, name in enumerate(DEFAULT_BANDS)}
RED_EDGE_NIR = np.array([name in ("B05", "B06", "B07", "B08", "B8A") for name in DEFAULT_BANDS])
