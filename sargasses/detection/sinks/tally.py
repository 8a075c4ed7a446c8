"""Sink "tally": pixels counted by what they are (water, land, cloud, nodata, detected), and the areas of water."""

from __future__ import annotations

from sargasses.detection.detected import DetectedStrip
from sargasses.detection.input_checks import InputCheck
from sargasses.detection.vectorize import Raft
from sargasses.errors import SargassesError


class PixelTally:
    """The summary's pixel counts and its water / valid areas (m2, or pixels in pixel units)."""

    def __init__(self) -> None:
        self.counts = {"valid": 0, "water": 0, "land": 0, "cloud": 0, "nodata": 0, "detected": 0}
        self.water_m2 = 0.0
        self.valid_m2 = 0.0

    def add(self, detected: DetectedStrip) -> None:
        strip, counts = detected.strip, self.counts
        water = detected.valid & ~strip.excluded
        n_valid, n_water = detected.valid_count, int(water.sum())
        counts["valid"] += n_valid
        counts["water"] += n_water
        counts["land"] += int(strip.land.sum())
        counts["cloud"] += int(strip.cloud.sum())
        counts["nodata"] += int(strip.nodata.sum())
        counts["detected"] += int(detected.mask.sum())
        if n_valid:
            self.water_m2 += n_water * detected.pixel_area
            self.valid_m2 += n_valid * detected.pixel_area

    def close(self, rafts: list[Raft]) -> None:
        pass

    def discard(self) -> None:
        pass

    def check(self, input_path: str, inside_extent: bool, checked: InputCheck) -> list[str]:
        """Refuse a scene with no valid pixel; the warnings about its values (input_checks.InputCheck)."""
        where = " inside --extent" if inside_extent else ""
        if self.counts["valid"] == 0 and checked.infinite:
            raise SargassesError(
                f"{input_path} holds only infinite values (inf){where}, "
                "no reflectance; the file was likely made by a division by zero or an overflow: export it again"
            )
        if self.counts["valid"] == 0:
            raise SargassesError(
                f"{input_path} has no valid pixel{where} (all nodata); "
                "check the input (and its nodata value) or the extent"
            )
        warnings = [w for w in [checked.verdict(input_path)] if w]
        if checked.infinite:
            warnings.append(
                f"{input_path} holds infinite values (inf); they were taken as nodata: check how the file was made"
            )
        return warnings
