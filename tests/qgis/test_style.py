"""The rafts style (resources/rafts.qml): outlines when zoomed in, a small dot a raft when zoomed out, readable both ways;
rafts on the shoreline (probably surf or beach) grey and hatched, the others in the usual yellow."""

from __future__ import annotations

import math
import random

import pytest
from conftest import ROOT
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPointXY,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtGui import QColor

STYLE = ROOT / "resources" / "rafts.qml"
SCALES = [1_000, 20_000, 99_000, 101_000, 150_000, 1_000_000, 20_000_000]
SEA = QColor(20, 60, 110)


def styled_rafts(count: int = 0, seed: int = 3) -> tuple[QgsVectorLayer, list[tuple[float, float]]]:
    """`count` thin rafts (40-400 m long, 10-30 m wide) in swirls over a 30 km scene, styled by rafts.qml."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:32620&field=id:integer&field=area_m2:double", "rafts", "memory")
    rng = random.Random(seed)
    centres = [(600_000 + rng.uniform(0, 30_720), 1_800_000 + rng.uniform(0, 30_720)) for _ in range(60)]
    features = []
    for i in range(count):
        cx, cy = rng.choice(centres)
        cx, cy = cx + rng.gauss(0, 1500), cy + rng.gauss(0, 1500)
        length, width, angle = rng.uniform(40, 400), rng.uniform(10, 30), rng.uniform(0, math.pi)
        dx, dy = math.cos(angle), math.sin(angle)
        corners = [
            QgsPointXY(cx + sx * length / 2 * dx - sy * width / 2 * dy, cy + sx * length / 2 * dy + sy * width / 2 * dx)
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPolygonXY([corners]))
        feature.setAttributes([i, length * width])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    message, ok = layer.loadNamedStyle(str(STYLE))
    assert ok, message
    return layer, centres


def coloured_fraction(layer: QgsVectorLayer, extent: QgsRectangle, size: int = 500) -> float:
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(SEA)
    settings.setExtent(extent)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    sea = SEA.rgb()
    painted = sum(image.pixel(x, y) != sea for y in range(0, size, 2) for x in range(0, size, 2))
    return painted / (size // 2) ** 2


def test_rafts_style_has_scale_dependent_rules(qgis_app) -> None:
    layer, _ = styled_rafts()
    renderer = layer.renderer()
    assert renderer.type() == "RuleRenderer"
    settings = renderer.rootRule().children()  # open water, nearshore, shoreline, and rafts without a setting
    assert len(settings) == 4
    for setting in settings:
        rules = setting.children()
        assert len(rules) >= 2 and all(rule.dependsOnScale() for rule in rules)
        # Exactly one rule draws a raft at any scale: nothing vanishes, nothing is drawn twice.
        for scale in SCALES:
            assert sum(rule.isScaleOK(scale) for rule in rules) == 1, (setting.label(), scale)
    rules = settings[0].children()
    near = next(rule for rule in rules if rule.isScaleOK(20_000))
    far = next(rule for rule in rules if rule.isScaleOK(1_000_000))
    # Zoomed in: the raft itself, outlined. Zoomed out: a small dot a raft, no outline to clutter the map.
    assert near.symbol().symbolLayer(0).strokeWidth() > 0
    assert all(layer.layerType() != "CentroidFill" for layer in near.symbol().symbolLayers())
    dots = [layer for layer in far.symbol().symbolLayers() if layer.layerType() == "CentroidFill"]
    assert dots and dots[0].subSymbol().size() <= 1.5  # mm
    assert far.symbol().symbolLayer(0).strokeStyle() == 0  # Qt's NoPen
    assert layer.mapTipTemplate() and layer.attributeAlias(layer.fields().indexOf("area_m2")) == "Area (m²)"


def one_raft(setting: str | None) -> QgsVectorLayer:
    """A 400 x 200 m raft of that setting (None: a layer without the field, as runs of older versions wrote)."""
    fields = "&field=setting:string" if setting is not None else ""
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:32620&field=id:integer{fields}", "rafts", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(600_000, 1_800_000, 600_400, 1_800_200)))
    feature.setAttributes([1] if setting is None else [1, setting])
    layer.dataProvider().addFeatures([feature])
    message, ok = layer.loadNamedStyle(str(STYLE))
    assert ok, message
    return layer


def warm_and_grey(layer: QgsVectorLayer, scale_extent_m: float) -> tuple[int, int]:
    """Pixels drawn in the rafts' yellow-orange, and in grey, around the raft at about 1:`scale_extent_m`0 (on
    black, so that the edges blended with the background keep their hue)."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(400, 400))
    settings.setBackgroundColor(QColor(0, 0, 0))
    half = scale_extent_m / 2
    settings.setExtent(QgsRectangle(600_200 - half, 1_800_100 - half, 600_200 + half, 1_800_100 + half))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    colours = [QColor(image.pixel(x, y)) for y in range(400) for x in range(400)]
    warm = sum(c.red() - c.blue() > 60 for c in colours)
    grey = sum(c.red() > 40 and max(c.getRgb()[:3]) - min(c.getRgb()[:3]) < 15 for c in colours)
    return warm, grey


@pytest.mark.parametrize("extent_m", [1_000, 60_000])  # zoomed in (about 1:10,000) and out (1:600,000)
def test_shoreline_rafts_are_grey_and_the_others_the_usual_yellow(qgis_app, extent_m: float) -> None:
    for setting in ("open_water", "nearshore", None):
        warm, grey = warm_and_grey(one_raft(setting), extent_m)
        assert warm > 0 and grey == 0, (setting, warm, grey)
    warm, grey = warm_and_grey(one_raft("shoreline"), extent_m)
    assert warm == 0 and grey > 0, (warm, grey)


def test_zoomed_in_shoreline_rafts_are_hatched_with_a_dashed_outline(qgis_app) -> None:
    """Hatched: the beach or surf under the raft shows through, and the outline says "not a raft for sure"."""
    layer = one_raft("shoreline")
    shoreline = next(
        rule for rule in layer.renderer().rootRule().children() if "'shoreline'" in rule.filterExpression()
    )
    fill = next(rule for rule in shoreline.children() if rule.isScaleOK(20_000)).symbol().symbolLayer(0)
    assert fill.brushStyle() == Qt.BrushStyle.BDiagPattern and fill.strokeStyle() == Qt.PenStyle.DashLine
    assert layer.attributeAlias(layer.fields().indexOf("setting")) == "Setting"


@pytest.mark.parametrize("count", [3763])
def test_zoomed_out_rafts_do_not_flood_the_map(qgis_app, count: int) -> None:
    """The issue's case, 3763 rafts on a 3072 px (30 km) scene: zoomed out the map stays mostly sea; zoomed in,
    the rafts are drawn."""
    layer, centres = styled_rafts(count)
    whole = QgsRectangle(600_000, 1_800_000, 630_720, 1_830_720)
    for pixels in (900, 500):  # the scene across a screen (about 1:130,000), or across a small map (1:230,000)
        assert coloured_fraction(layer, whole, pixels) < 0.15, pixels  # the markers of old covered 26-52 %
    cx, cy = centres[0]
    assert coloured_fraction(layer, QgsRectangle(cx - 2500, cy - 2500, cx + 2500, cy + 2500)) > 0.005
