"""Showing a Sentinel-2 layer as people expect: natural colour (B04, B03, B02), or the false colour rafts stand out
in (near infrared as red: floating vegetation is bright there, the sea dark), stretched for a dark sea."""

from __future__ import annotations

from qgis.core import Qgis, QgsContrastEnhancement, QgsMultiBandColorRenderer, QgsRasterLayer

from .band_matching import band_label, label_names

SEA_REFLECTANCE_MAX = 0.12  # reflectance; digital numbers are stretched to 10000 times this
# Red, green, blue of each rendering, the first band found of each tuple.
RENDERINGS = {
    "natural": (("B04",), ("B03",), ("B02",)),
    "false": (("B8A", "B08"), ("B04",), ("B03",)),
}


def rendering_bands(layer: QgsRasterLayer, rendering: str) -> tuple[int, int, int] | None:
    """The layer's band numbers for red, green and blue of `rendering`, or None when its bands are not named so."""
    labels = {i: band_label(layer.bandName(i)) for i in range(1, layer.bandCount() + 1)}
    found = []
    for names in RENDERINGS[rendering]:
        match = next((i for name in names for i, label in labels.items() if label_names(label, name)), None)
        if match is None:
            return None
        found.append(match)
    return found[0], found[1], found[2]


def show_rendering(layer: QgsRasterLayer, rendering: str) -> bool:
    """Render the layer as `rendering` ("natural" or "false"); False (nothing changed) when its bands are missing."""
    bands = rendering_bands(layer, rendering)
    if bands is None:
        return False
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    setters = (
        renderer.setRedContrastEnhancement,
        renderer.setGreenContrastEnhancement,
        renderer.setBlueContrastEnhancement,
    )
    for band, setter in zip(bands, setters, strict=True):
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setContrastEnhancementAlgorithm(
            QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum
        )
        # Float32, Float64: reflectance; else digital numbers
        integer = provider.dataType(band) not in (Qgis.DataType.Float32, Qgis.DataType.Float64)
        enhancement.setMinimumValue(0.0)
        enhancement.setMaximumValue(SEA_REFLECTANCE_MAX * (10000 if integer else 1))
        setter(enhancement)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return True


def show_true_colour(layer: QgsRasterLayer) -> bool:
    """Red, green, blue from the bands named B04, B03, B02; False (nothing changed) when they are not there."""
    return show_rendering(layer, "natural")
