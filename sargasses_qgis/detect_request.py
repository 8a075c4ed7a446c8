"""What a detection asks the engine, built in one place for the dock and the Processing algorithm.

Each side gathers the user's choices (widgets, or parameters) into a DetectRequest; the engine's `detect` and
`info` options come from here only, so the two cannot drift apart (docs/engine_protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qgis.core import QgsRectangle

from .paths import bundled_model

DEVICES = ["auto", "cpu", "cuda", "mps"]  # as the engine's `device` option spells them
# The threshold is a probability: the core takes it strictly between 0 and 1; the dock's field and Processing's
# parameter both offer 0.001 to 0.999, to the third decimal (AFAI's 0.016 can be typed).
THRESHOLD_RANGE = (0.001, 0.999)
THRESHOLD_DECIMALS = 3


def threshold_problem(value: float) -> str:
    """Why `value` cannot be the probability threshold ("" when it can), in words for the dialog."""
    low, high = THRESHOLD_RANGE
    if low <= value <= high:
        return ""
    return (
        f"Probability threshold {value:g} is not a probability strictly between 0 and 1: give a number from "
        f"{low:g} to {high:g}, or leave it empty for the model's own."
    )


@dataclass
class DetectRequest:
    """The user's choices for one run; None everywhere means "the engine's (or the model's) own"."""

    method: str = "model"  # model | afai | fai
    device: str = "auto"
    model: str | None = None  # a model file; None: the bundled default model (method "model")
    threshold: float | None = None
    min_area: float | None = None  # m²; None: the engine's 3 pixels
    extent: QgsRectangle | None = None  # in the layer's CRS; None: the whole layer
    sensor: str | None = None  # the image's level as an engine sensor profile; None: what the file says

    def model_file(self) -> str | None:
        """The model file the engine loads; None for the indexes (and when this copy has no bundled model)."""
        if self.method != "model":
            return None
        if self.model:
            return self.model
        default = bundled_model()
        return str(default) if default is not None else None

    def info_options(self) -> dict[str, Any]:
        """The `info` request: which card and device this run would use."""
        options: dict[str, Any] = {"method": self.method, "device": self.device}
        if self.model_file():
            options["model"] = self.model_file()
        return options

    def detect_options(self) -> dict[str, Any]:
        """The `detect` options other than the input and output files."""
        options = self.info_options()
        if self.threshold is not None:
            options["threshold"] = float(self.threshold)
        if self.min_area is not None:
            options["min_area"] = float(self.min_area)
        if self.extent is not None:
            e = self.extent
            options["extent"] = [e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()]
        if self.sensor:
            options["sensor"] = self.sensor
        return options
