"""What a detection is asked to do: `DetectOptions`, checked before any work, and the one way to build it from
the command line's or an engine request's values (`DetectOptions.from_mapping`)."""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from sargasses.checked_values import checked
from sargasses.errors import SargassesError
from sargasses.raft_size import MIN_RAFT_PIXELS

METHODS = ("model", "afai", "fai")
BACKENDS = ("auto", "torch", "onnx")

# Without --min-area, rafts of fewer pixels are dropped: the smallest raft the scores count; one- and two-pixel
# specks along real coasts were most of the false alarms left there (20 m Sentinel-2). On coarse pixels (OLCI's
# 300 m) a raft rarely fills even one pixel: there every raft is kept.
DEFAULT_MIN_PIXELS = MIN_RAFT_PIXELS
COARSE_PIXEL_M = 100.0


def default_min_pixels(options: DetectOptions, pixel_m: float | None) -> int:
    """The smallest raft kept, in pixels: 1 with --min-area (the area decides) or on pixels of COARSE_PIXEL_M and
    more; DEFAULT_MIN_PIXELS otherwise (and where the pixel size is not known: pixel units)."""
    if options.min_area is not None or (pixel_m is not None and pixel_m >= COARSE_PIXEL_M):
        return 1
    return DEFAULT_MIN_PIXELS


@dataclass
class DetectOptions:
    input: str
    output: str
    model: str | None = None
    method: str = "model"
    threshold: float | None = None
    min_area: float | None = None  # m2; None: rafts under DEFAULT_MIN_PIXELS pixels are dropped
    probabilities: str | None = None  # GeoTIFF path
    device: str = "auto"
    bands: list[str] | None = None
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax in the raster's CRS
    land: str | None = None  # vector or raster land mask
    overwrite: bool = False
    quicklook: str | None = None  # PNG path
    simplify: float | None = None  # tolerance in metres
    tile_size: int | None = None
    batch_size: int | None = None
    backend: str = "auto"  # auto | torch | onnx (ONNX Runtime, CPU only)
    background: bool = True  # afai/fai: subtract the median background
    pixel_units: bool = False  # a raster without a CRS: measure in pixels instead of refusing it
    coverage: str | None = None  # GeoTIFF path: fractional cover of each pixel (detection/coverage.py)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DetectOptions:
        """The one way to build options from outside values (the command line's arguments, an engine request's
        JSON): unknown names and missing ones are refused, every value is checked against its field's type (ints
        for floats, lists for tuples) with a message naming the option."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UnknownOptions(unknown)
        missing = [n for n, f in known.items() if n not in values and f.default is MISSING]
        if missing:
            raise SargassesError(f"a detection's options need {', '.join(map(repr, missing))}")
        hints = typing.get_type_hints(cls)
        options = cls(**{name: checked(f"option {name!r}", value, hints[name]) for name, value in values.items()})
        check_options(options)
        return options


class UnknownOptions(SargassesError):
    """Options this sargasses does not know (a newer client?)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"unknown option(s) {', '.join(names)}")
        self.names = names


def _check_finite(options: DetectOptions) -> None:
    """NaN or inf in a number option would silently give no rafts (every comparison with NaN is false)."""
    numbers = [("--threshold", options.threshold), ("--min-area", options.min_area), ("--simplify", options.simplify)]
    numbers += [("--extent", v) for v in options.extent or ()]
    for flag, value in numbers:
        if value is None:
            continue
        try:
            finite = math.isfinite(float(value))
        except (TypeError, ValueError):
            raise SargassesError(f"{flag} {value!r} is not a number; give a number") from None
        if not finite:
            raise SargassesError(f"{flag} {value} is not a finite number; give a plain number such as 0.5")


def check_options(options: DetectOptions) -> None:
    _check_finite(options)
    if options.method not in METHODS:
        raise SargassesError(f"unknown method {options.method!r}; use one of {', '.join(METHODS)}")
    if options.backend not in BACKENDS:
        raise SargassesError(f"unknown backend {options.backend!r}; use one of {', '.join(BACKENDS)}")
    if options.method == "model" and options.threshold is not None and not 0.0 < options.threshold < 1.0:
        raise SargassesError(f"--threshold {options.threshold} must lie between 0 and 1 (a probability)")
    if options.min_area is not None and options.min_area < 0:
        raise SargassesError("--min-area must be 0 or more (square metres)")
    if options.simplify is not None and options.simplify < 0:
        raise SargassesError("--simplify must be 0 or more (metres)")
    if options.tile_size is not None and options.tile_size < 32:
        raise SargassesError("--tile-size must be at least 32 pixels")
    if options.batch_size is not None and options.batch_size < 1:
        raise SargassesError("--batch-size must be at least 1")
    if options.extent is not None and (
        len(options.extent) != 4
        or not options.extent[0] < options.extent[2]
        or not options.extent[1] < options.extent[3]
    ):
        raise SargassesError("--extent must be XMIN YMIN XMAX YMAX in the raster's CRS, with XMIN < XMAX, YMIN < YMAX")
