"""Sensor profiles: which bands a sensor has, where they sit in the spectrum, and how its numbers become reflectance.

A model file names its sensor and bands; the reader uses the profile to find, stack and scale them.
Band labels found in files ("B8A_865", "B8", "SR_B4", "Oa17_radiance") are matched to a profile's band names by
`match_band`, so every reader and tool agrees on what a label means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sargasses.errors import SargassesError


@dataclass(frozen=True)
class Band:
    name: str  # as the product names it, e.g. "B8A", "Oa17"
    wavelength_nm: float | None  # centre wavelength; None for rendered channels (RGB images)
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

    def match_band(self, label: str | None) -> str | None:
        """The profile's name for a band label found in a file, or None when the label names none of its bands.

        Case-insensitive; leading zeros and suffixes after a separator are ignored, so "B8A_865", "b8a",
        "B08", "B8" and "SR_B4" all resolve; words before the band token ("SR_", "TOA ") are skipped.
        """
        if not label:
            return None
        keys = self._match_keys()
        exact = self.exact_match(label)
        if exact is not None:
            return exact
        for token in re.split(r"[^0-9A-Za-z]+", label.strip()):
            name = keys.get(_normalise_label(token))
            if name is not None:
                return name
        return None

    def exact_match(self, label: str | None) -> str | None:
        """The band the whole label names ("B8A", "SR_B4"), None when only a part of it might ("B8A_865")."""
        return self._match_keys().get(_normalise_label(label.strip())) if label else None

    def canonical_band(self, name: str) -> str:
        """The profile's spelling of a band name a user or model file gave; a SargassesError when none."""
        found = self.match_band(name)
        if found is None:
            raise SargassesError(
                f"{self.title} has no band {name!r}; its bands are {', '.join(self.band_names)}. "
                "Ask for bands by these names."
            )
        return found

    def _match_keys(self) -> dict[str, str]:
        keys = {_normalise_label(b.name): b.name for b in self.bands}
        keys.update({_normalise_label(alias): name for alias, name in self.aliases.items()})
        return keys


def _normalise_label(token: str) -> str:
    """Lower case, and leading zeros of the number dropped: "B08" and "b8" give "b8", "Oa01" gives "oa1"."""
    m = re.fullmatch(r"([a-z]*)0*(\d+)([a-z]*)", token.lower())
    if m is None:
        return token.lower()
    return f"{m.group(1)}{int(m.group(2))}{m.group(3)}"


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

# Digital numbers: reflectance = (DN + offset) / 10000; the offset is -1000 since processing baseline 04.00
# and is read from each product's metadata; 0 here is the right default for older products.
SENTINEL2_L2A = SensorProfile(
    "sentinel2_l2a", "Sentinel-2 MSI Level-2A", tuple(b for b in _MSI_BANDS if b.name != "B10"), scale=1e-4
)
SENTINEL2_L1C = SensorProfile("sentinel2_l1c", "Sentinel-2 MSI Level-1C", _MSI_BANDS, scale=1e-4)

_OLCI_CENTRES_NM = (400, 412.5, 442.5, 490, 510, 560, 620, 665, 673.75, 681.25, 708.75, 753.75, 761.25)
_OLCI_CENTRES_NM += (764.375, 767.5, 778.75, 865, 885, 900, 940, 1020)

# OLCI: a .SEN3 product is read directly (olci_scene.py: its NetCDF scaling, TOA reflectance from L1 radiance);
# as a GeoTIFF the bands are expected as float reflectance.
SENTINEL3_OLCI = SensorProfile(
    "sentinel3_olci",
    "Sentinel-3 OLCI",
    tuple(Band(f"Oa{i:02d}", wl, 300) for i, wl in enumerate(_OLCI_CENTRES_NM, start=1)),
)

# Landsat 8/9 Collection 2 Level-2 surface reflectance: reflectance = DN * 2.75e-5 - 0.2,
# written here as (DN + offset) * scale with offset = -0.2 / 2.75e-5.
LANDSAT_OLI = SensorProfile(
    "landsat_oli",
    "Landsat 8/9 OLI (Collection 2 Level-2)",
    (
        Band("B1", 443, 30),
        Band("B2", 482, 30),
        Band("B3", 561, 30),
        Band("B4", 655, 30),
        Band("B5", 865, 30),
        Band("B6", 1609, 30),
        Band("B7", 2201, 30),
    ),
    scale=2.75e-5,
    offset=-0.2 / 2.75e-5,
    aliases={f"SR_B{i}": f"B{i}" for i in range(1, 8)},  # the names USGS gives surface reflectance files
)

# Meteo-France's original project: OLCI OTCI maps rendered as RGB images, values 0-255 used as float.
OTCI_RGB = SensorProfile(
    "otci_rgb",
    "Sentinel-3 OLCI OTCI RGB image",
    (Band("red", None, 300), Band("green", None, 300), Band("blue", None, 300)),
    aliases={"r": "red", "g": "green", "b": "blue"},
)

PROFILES: dict[str, SensorProfile] = {
    p.name: p for p in (SENTINEL2_L2A, SENTINEL2_L1C, SENTINEL3_OLCI, LANDSAT_OLI, OTCI_RGB)
}
# Other names people and files use for the same profiles.
_PROFILE_ALIASES = {
    "sentinel2": "sentinel2_l2a",
    "sentinel_2": "sentinel2_l2a",
    "sentinel_2a": "sentinel2_l2a",
    "sentinel_2b": "sentinel2_l2a",
    "sentinel_2c": "sentinel2_l2a",
    "s2": "sentinel2_l2a",
    "s2_l2a": "sentinel2_l2a",
    "msil2a": "sentinel2_l2a",
    "s2_l1c": "sentinel2_l1c",
    "msil1c": "sentinel2_l1c",
    "olci": "sentinel3_olci",
    "sentinel3": "sentinel3_olci",
    "landsat8": "landsat_oli",
    "landsat9": "landsat_oli",
    "landsat8_oli": "landsat_oli",
    "landsat9_oli": "landsat_oli",
    "otci": "otci_rgb",
}


def get_profile(name: str) -> SensorProfile:
    """The profile called `name` (case and "-" / " " vs "_" do not matter), or an error listing the known ones."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    key = _PROFILE_ALIASES.get(key, key)
    if key in PROFILES:
        return PROFILES[key]
    raise SargassesError(f"unknown sensor {name!r}; known sensors are {', '.join(PROFILES)}. Use one of these names.")


def is_rendered(profile: SensorProfile) -> bool:
    """A rendered image (an RGB picture, 0-255), not a sensor's bands: no band has a wavelength."""
    return all(band.wavelength_nm is None for band in profile.bands)


def is_sentinel2(profile: SensorProfile) -> bool:
    """Sentinel-2 digital numbers use 0 for nodata even where a file does not declare it."""
    return profile.name.startswith("sentinel2")


# The default model's input: Sentinel-2 surface reflectance at 20 m, these 10 bands in this order (docs/reading.md).
DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
DEFAULT_RESOLUTION_M = 20.0
