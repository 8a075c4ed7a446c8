"""Showing a Sentinel-2 layer as people expect: true colour (B04, B03, B02), stretched for a dark sea."""

from __future__ import annotations

from qgis.core import Qgis, QgsContrastEnhancement, QgsMultiBandColorRenderer, QgsRasterLayer

from .band_matching import band_label, label_names

SEA_REFLECTANCE_MAX = 0.12  # reflectance; digital numbers are stretched to 10000 times this


def show_true_colour(layer: QgsRasterLayer) -> bool:
    """Red, green, blue from the bands named B04, B03, B02; False (nothing changed) when they are not there."""
    labels = {i: band_label(layer.bandName(i)) for i in range(1, layer.bandCount() + 1)}
    found = {}
    for band in ("B04", "B03", "B02"):
        found[band] = next((i for i, label in labels.items() if label_names(label, band)), None)
    if None in found.values():
        return False
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, found["B04"], found["B03"], found["B02"])
    setters = (
        renderer.setRedContrastEnhancement,
        renderer.setGreenContrastEnhancement,
        renderer.setBlueContrastEnhancement,
    )
    for band, setter in zip(found.values(), setters, strict=True):
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
