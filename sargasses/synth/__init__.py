"""Synthetic Sentinel-2 L2A scenes with planted Sargassum and the confounders that fool index thresholds.

Why: no public labelled Sargassum data is reachable here, so the default model learns only from these scenes. They
must be hard in the ways real scenes are: sub-pixel windrows over a sea whose colour changes, clouds and their
shadows, sun glint, foam and ship wakes, turbid coastal water, organic slicks, land and beaches with a red edge,
nodata borders and sensor noise. `docs/dataset.md` explains the model; every number here that is not from the
reference table (`sargasses/data/reference_spectra.csv`) is an estimate documented there.

One file per step, in the order a scene is made:
- `scene.py`: `make_scene` draws every component from its own random stream, in a fixed order, and assembles them;
- `identity.py`: the grid, tile, date and product name;
- `surfaces/water.py`: water masses and fronts, and the share of each pixel that floating matter takes;
- `surfaces/rafts.py`: Sargassum windrows and mats;
- `surfaces/confounders.py`: land, turbid water, slicks, whitecaps, ships, clouds, glint, nodata, detector stripes;
- `surfaces/coast.py`: the shore of that land: beaches with surf and waterline mixtures, marsh and tidal channels, tidal
  flats, shallow bottoms, lakes, rivers, fields and roads;
- `mixing.py`: the layers (`layers.py`) mixed into reflectance band by band, with sensor noise;
- `labels.py`: the labelling rule, the label mask, per-pixel classes and statistics;
- `writing.py`: GeoTIFFs and JSON on disk;
- `surfaces/lookalikes.py`: floating green algae the default model mistakes for Sargassum (fine-tuning tests);
- beside the Sentinel-2 scenes: `planting.py` (rafts planted into real scenes), `atmosphere.py` (L2A -> L1C),
  `olci_product.py` (Sentinel-3 OLCI .SEN3 products), `cli.py` (`sargasses synth`);
- shared by the steps: `spectra.py` (class spectra, sensor noise, band timing), `fields.py` (noise and smoothing),
  `strokes.py` (sub-pixel strokes rendered as coverage).
"""

from sargasses.synth.identity import FULL_TILE_SIZE
from sargasses.synth.labels import (
    CLASS_CODES,
    MAX_POSITIVE_SHARE,
    POSITIVE_COVERAGE,
    SCORABLE_MIN_COVERAGE,
    THICK_CLOUD_OPACITY,
)
from sargasses.synth.scene import KINDS, SyntheticScene, make_scene
from sargasses.synth.spectra import BLANK_CELL_ESTIMATES, ESTIMATED_SPECTRA, VARIABILITY, reference_table
from sargasses.synth.writing import DTYPES, scene_paths, write_scene

__all__ = [
    "BLANK_CELL_ESTIMATES",
    "CLASS_CODES",
    "DTYPES",
    "ESTIMATED_SPECTRA",
    "FULL_TILE_SIZE",
    "KINDS",
    "MAX_POSITIVE_SHARE",
    "POSITIVE_COVERAGE",
    "SCORABLE_MIN_COVERAGE",
    "THICK_CLOUD_OPACITY",
    "VARIABILITY",
    "SyntheticScene",
    "make_scene",
    "reference_table",
    "scene_paths",
    "write_scene",
]
