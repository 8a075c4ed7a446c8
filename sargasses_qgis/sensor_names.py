"""Sensor profiles as people name them (the engine's identifiers are for files), and the levels a user can say an
image is when its file does not tell (docs/reading.md: a GeoTIFF without tags is read as Sentinel-2 Level-2A)."""

from __future__ import annotations

SENSOR_NAMES = {
    "sentinel2_l2a": "Sentinel-2 Level-2A",
    "sentinel2_l1c": "Sentinel-2 Level-1C",
    "sentinel3_olci": "Sentinel-3 OLCI",
    "landsat_oli": "Landsat 8/9 OLI",
    "otci_rgb": "OLCI OTCI RGB image",
}
# (engine's `sensor` option, for people): "" lets the engine read it from the file. Short enough for the combo of
# a 340 px dock (the longer words are in its tooltip).
LEVELS = [
    ("", "From the file (else L2A)"),
    ("sentinel2_l2a", "Sentinel-2 Level-2A"),
    ("sentinel2_l1c", "Sentinel-2 Level-1C"),
]


def sensor_name(key: str) -> str:
    """`sentinel2_l2a` -> `Sentinel-2 Level-2A`; an identifier this plugin does not know stays as it is."""
    return SENSOR_NAMES.get(str(key), str(key))


def sensors_text(keys: list[str]) -> str:
    """A card's sensors for people, each once, in its order."""
    names = [sensor_name(k) for k in keys if k]
    return ", ".join(dict.fromkeys(names)) or "not said"
