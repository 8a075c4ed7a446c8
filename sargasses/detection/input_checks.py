"""The scene and the run's inputs, checked: the bands the model needs, the sensor and pixel size it was trained
on, a CRS, values reflectance can take, and the area asked for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.detection.options import DetectOptions
from sargasses.errors import SargassesError
from sargasses.reading.sensors import OTCI_RGB, SENTINEL3_OLCI, get_profile, is_rendered

# Bands the index baselines read when the raster lacks the default ten: the index bands, and masking's blue/SWIR.
BASELINE_BANDS = {"afai": ["B02", "B03", "B04", "B06", "B8A", "B11"], "fai": ["B02", "B03", "B04", "B8A", "B11"]}

# Reflectance outside [LOW, HIGH] cannot be real: L2A's offset gives at most -0.1 on the darkest water, glint stays
# under 1.5. A share of sampled values out of range above WARN_SHARE is reported, above REFUSE_SHARE refused.
REFLECTANCE_RANGE = (-0.2, 2.0)
RENDERED_RANGE = (0.0, 255.0)  # a rendered RGB image (otci_rgb): 8-bit values taken as float
RENDERED_SCALING = "rendered 0-255"  # the scaling a model trained on rendered images asks for
# What a model card's `scaling` may ask for: reflectance 0-1 (or "raw": the values as read), or rendered channels.
KNOWN_SCALINGS = ("reflectance", "raw", RENDERED_SCALING)
WARN_SHARE, REFUSE_SHARE = 0.01, 0.5
SAMPLE_STEP = 4  # the range check looks at every 4th row and column of each tile


def _open(options: DetectOptions, bands: list[str] | None, resolution: float | None) -> Any:
    """The input as a scene: a raster or product on disk (reading/scene.py), or a STAC item (reading/stac_item.py)."""
    from sargasses.reading.scene import open_scene
    from sargasses.reading.stac_item import is_stac_item, open_stac_item

    if is_stac_item(options.input):
        return open_stac_item(options.input, bands=bands, resolution=resolution, sensor=options.sensor)
    return open_scene(options.input, bands=bands, resolution=resolution, sensor=options.sensor)


def open_checked_scene(options: DetectOptions, card: Any) -> Any:
    """The scene with the bands the model (or the baseline) needs."""
    if card is not None:
        bands = options.bands or list(card.band_names)
        scene = _open(options, bands, card.gsd_m)
        if len(scene.band_names) != len(card.band_names):
            scene.close()
            raise SargassesError(
                f"--bands gives {len(bands)} bands but model {card.name} takes {len(card.band_names)} "
                f"({', '.join(card.band_names)}); give that many bands, in that order"
            )
        return scene
    if options.bands:
        scene = _open(options, options.bands, None)
    else:
        try:
            scene = _open(options, None, None)
        except SargassesError as first:
            try:
                scene = _open(options, BASELINE_BANDS[options.method], None)
            except SargassesError:
                raise first from None
    if scene.sensor == OTCI_RGB.name or (scene.sensor == SENTINEL3_OLCI.name and options.method != "afai"):
        scene.close()
        raise SargassesError(
            f"the {options.method.upper()} baseline needs bands {options.input} lacks (it is "
            f"{'a rendered RGB image' if scene.sensor == OTCI_RGB.name else 'Sentinel-3 OLCI: no band near 1240 nm'}); "
            "use --method afai on an OLCI product, or a model made for this imagery (--model)"
        )
    return scene


def check_model_fits(card: Any, scene: Any, options: DetectOptions) -> None:
    """Model/sensor mismatch and a wrong pixel size are errors: the model would return nonsense."""
    from sargasses.detection.vectorize import PixelMetric

    if scene.sensor and card.sensor and scene.sensor not in card.sensors and not options.bands:
        takes = " or ".join(card.sensors)
        raise SargassesError(
            f"model {card.name} was trained on {takes} data but {options.input} is {scene.sensor}; "
            f"give a {takes} product or a model trained for {scene.sensor} (or map bands with --bands)"
        )
    if scene.crs is not None:
        metric = PixelMetric(scene.transform, scene.crs)
        dx, dy, _ = metric.pixel_steps(np.array([scene.height // 2]), np.array([scene.width // 2]))
        size = float(math.sqrt(dx[0] * dy[0]))
        if not 0.5 <= size / card.gsd_m <= 2.0:
            raise SargassesError(
                f"model {card.name} takes {card.gsd_m:g} m pixels but {options.input} has about {size:.0f} m pixels; "
                f"resample the input to {card.gsd_m:g} m (e.g. gdalwarp -tr {card.gsd_m:g} {card.gsd_m:g})"
            )
    scaling = card_scaling(card)
    if scaling not in KNOWN_SCALINGS:
        raise SargassesError(
            f"model {card.name} asks for input scaling {card.scaling!r}, which this sargasses does not know; "
            "upgrade sargasses"
        )
    if scaling == RENDERED_SCALING and not (scene.sensor and is_rendered(get_profile(scene.sensor))):
        raise SargassesError(
            f"model {card.name} takes rendered RGB images (0-255) but {options.input} holds {scene.sensor} "
            "reflectance; give the RGB rendering the model was trained on (e.g. the OTCI PNG)"
        )


def card_scaling(card: Any) -> str:
    """The card's scaling name (a string, or a dict's "type")."""
    return card.scaling if isinstance(card.scaling, str) else str(card.scaling.get("type", ""))


# Formats GDAL cannot update in place: a CRS goes in side-car files, or the image is converted to GeoTIFF.
SIDECAR_ONLY = (".png", ".jpg", ".jpeg", ".gif", ".bmp")


def check_crs(scene: Any, options: DetectOptions) -> None:
    """Without a CRS, areas and positions cannot be measured: refuse rather than give pixel units as m2.

    A world file (.pgw, .wld...) places the image but does not say in which CRS: a `.prj` side-car (read by
    reading/scene.py) or an `.aux.xml` one (read by GDAL) does."""
    if scene.crs is not None or options.pixel_units:
        return
    path = Path(options.input)
    prj = path.with_suffix(".prj")
    sidecar_only = path.suffix.lower() in SIDECAR_ONLY
    if sidecar_only and not scene.transform.is_identity:
        fix = (
            f"{path} is placed by a world file but has no coordinate reference system (CRS), so areas cannot be "
            f"measured; say which CRS the world file is in with a side-car {prj.name} "
            f"(e.g. gdalsrsinfo -o wkt1 EPSG:4326 > {prj})"
        )
    elif sidecar_only:
        fix = (
            f"{path} has no georeferencing (no CRS, no world file), so areas and positions cannot be measured; "
            f"georeference it (a world file {path.stem}{path.suffix[:2]}{path.suffix[-1]}w with a {prj.name} "
            f"beside it, or gdal_translate -a_srs EPSG:4326 -a_ullr WEST NORTH EAST SOUTH {path} out.tif)"
        )
    else:
        fix = (
            f"{path} has no coordinate reference system (CRS), so areas and positions cannot be measured; "
            f"assign the right one (e.g. gdal_edit.py -a_srs EPSG:32620 {path})"
        )
    raise SargassesError(f"{fix}, or pass --pixel-units to measure areas in pixels")


class InputCheck:
    """What the tiles read say about the input: values reflectance cannot take, and infinite values.

    It looks at every SAMPLE_STEP-th row and column of each tile (tiles overlap: shares are approximate), on the
    reader's thread only."""

    def __init__(self, rendered: bool = False) -> None:
        self.rendered = rendered
        self.range = RENDERED_RANGE if rendered else REFLECTANCE_RANGE
        self.pixels = 0  # sampled pixels with a value in every band
        self.below = 0  # of them, pixels with a band below the range
        self.above = 0  # ... above it
        self.infinite = 0  # sampled pixels with an infinite value in a band

    def add(self, reflectance: np.ndarray) -> None:
        sample = reflectance[:, ::SAMPLE_STEP, ::SAMPLE_STEP]
        self.pixels += int(np.isfinite(sample).all(axis=0).sum())
        self.infinite += int(np.isinf(sample).any(axis=0).sum())
        finite = np.isfinite(sample)  # infinite values are counted apart, not as out of range
        with np.errstate(invalid="ignore"):
            self.below += int(((sample < self.range[0]) & finite).any(axis=0).sum())
            self.above += int(((sample > self.range[1]) & finite).any(axis=0).sum())

    def verdict(self, path: str) -> str | None:
        """None when the values look like reflectance; a warning when some pixels' do not; raises SargassesError
        when most pixels' do not."""
        out = min(self.pixels, self.below + self.above)
        if not self.pixels or out < WARN_SHARE * self.pixels:
            return None
        low, high = self.range
        share = out / self.pixels
        if self.rendered:
            cause = "a rendered RGB image holds 0-255; give the 8-bit image, or the product's bands to a model of them"
        elif self.above >= self.below:
            cause = (
                f"values above {high:g} look like digital numbers or percent: float data is taken as reflectance "
                "0-1, so divide by the scale (e.g. 10000 for Sentinel-2), or give the integer digital numbers"
            )
        else:
            cause = (
                f"values below {low:g} suggest a wrong offset (e.g. the L2A offset of -0.1 applied twice) or a "
                "wrong scale; give reflectance 0-1 or the original digital numbers"
            )
        kind = "a rendered RGB image" if self.rendered else "reflectance"
        message = (
            f"{share:.0%} of the pixels of {path} have values outside the range {kind} can take "
            f"({low:g} to {high:g}); {cause}"
        )
        if share > REFUSE_SHARE:
            raise SargassesError(message)
        return message + "; the rafts there are not to be trusted"


def area_window(scene: Any, extent: tuple[float, float, float, float] | None) -> Any:
    """The pixel window to process: the whole scene, or the part of it inside `extent`."""
    from rasterio.windows import Window, from_bounds

    full = Window(0, 0, scene.width, scene.height)
    if extent is None:
        return full
    window = from_bounds(*extent, transform=scene.transform)
    col0, row0 = math.floor(window.col_off + 1e-6), math.floor(window.row_off + 1e-6)
    col1 = math.ceil(window.col_off + window.width - 1e-6)
    row1 = math.ceil(window.row_off + window.height - 1e-6)
    col0, row0, col1, row1 = max(col0, 0), max(row0, 0), min(col1, scene.width), min(row1, scene.height)
    if col1 <= col0 or row1 <= row0:
        b = scene.bounds
        raise SargassesError(
            f"--extent {extent} does not overlap the raster ({b[0]:.6g}, {b[1]:.6g}, {b[2]:.6g}, {b[3]:.6g} in its CRS); "
            "give the extent in the raster's CRS"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)
