"""Sensor profiles: which bands a sensor has, where they sit in the spectrum, and how its numbers become reflectance.

A model file names its sensor and bands; the reader uses the profile to find, stack and scale them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Band:
    name: str  # as the product names it, e.g. "B8A", "Oa17"
    wavelength_nm: float  # centre wavelength
    resolution_m: float  # native ground sample distance


@dataclass(frozen=True)
class SensorProfile:
    name: str  # e.g. "sentinel2_l2a"
    title: str  # for people, e.g. "Sentinel-2 MSI Level-2A"
    bands: tuple[Band, ...]
    scale: float = 1.0  # reflectance = (DN + offset) * scale for integer data
    offset: float = 0.0
    aliases: dict[str, str] = field(default_factory=dict)  # other spellings -> band name

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band(self, name: str) -> Band:
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(f"{self.title} has no band {name!r}; its bands are {', '.join(self.band_names)}")


_MSI_BANDS = (
    Band("B01", 443, 60),
    Band("B02", 490, 10),
    Band("B03", 560, 10),
    Band("B04", 665, 10),
    Band("B05", 705, 20),
    Band("B06", 740, 20),
    Band("B07", 783, 20),
    Band("B08", 842, 10),
    Band("B8A", 865, 20),
    Band("B09", 945, 60),
    Band("B10", 1375, 60),
    Band("B11", 1610, 20),
    Band("B12", 2190, 20),
)

SENTINEL2_L2A = SensorProfile(
    "sentinel2_l2a", "Sentinel-2 MSI Level-2A", tuple(b for b in _MSI_BANDS if b.name != "B10"), scale=1e-4
)

# The default model's input: Sentinel-2 surface reflectance at 20 m, these 10 bands in this order (DESIGN.md).
DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
DEFAULT_RESOLUTION_M = 20.0
