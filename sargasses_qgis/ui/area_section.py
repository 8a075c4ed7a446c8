"""The dock's area: the whole layer, the map view, or the selected polygons of a layer."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGroupBox

from ..raster_input import InputError
from ..results import is_result

AREA_CHOICES = [
    ("Whole layer", "layer"),
    ("Current map extent", "canvas"),
    ("Selected polygons of a layer", "polygons"),
]


class AreaSection(QGroupBox):
    def __init__(self, iface) -> None:
        super().__init__("Area")
        self.iface = iface
        self.area_combo = QComboBox()
        for label, value in AREA_CHOICES:
            self.area_combo.addItem(label, value)
        self.polygon_combo = QgsMapLayerComboBox()
        self.polygon_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.polygon_combo.setAllowEmptyLayer(True)  # no layer until "Selected polygons" is chosen
        self.polygon_combo.setLayer(None)
        self.polygon_combo.setEnabled(False)
        self.polygon_combo.setToolTip("Only the selected polygons of this layer are searched")
        form = QFormLayout(self)
        form.addRow("Search", self.area_combo)
        form.addRow("Polygons", self.polygon_combo)
        self.area_combo.currentIndexChanged.connect(self._area_changed)

    def _area_changed(self) -> None:
        polygons = self.area_combo.currentData() == "polygons"
        self.polygon_combo.setEnabled(polygons)
        current = self.polygon_combo.currentLayer()
        if polygons and (current is None or is_result(current)):
            self.polygon_combo.setLayer(self._likely_area_layer())

    def _likely_area_layer(self) -> QgsVectorLayer | None:
        """The polygon layer the user most likely means: the active one, else one with a selection; never one of
        this plugin's result layers (rafts are what a run finds, not where it looks)."""
        candidates = [
            self.polygon_combo.layer(i)
            for i in range(self.polygon_combo.count())
            if isinstance(self.polygon_combo.layer(i), QgsVectorLayer) and not is_result(self.polygon_combo.layer(i))
        ]
        active = self.iface.activeLayer() if self.iface is not None else None
        for layer in candidates:
            if layer is active:
                return layer
        selected = [layer for layer in candidates if layer.selectedFeatureCount()]
        return (selected or candidates or [None])[0]

    def area(self, layer: QgsRasterLayer) -> tuple[QgsRectangle | None, QgsGeometry | None]:
        """The area to search in the layer's CRS, and the polygons to keep rafts in (None: all)."""
        choice = self.area_combo.currentData()
        if choice == "layer":
            return None, None
        if choice == "canvas":
            return self._canvas_extent(layer), None
        return self._selected_polygons(layer)

    def _canvas_extent(self, layer: QgsRasterLayer) -> QgsRectangle:
        canvas = self.iface.mapCanvas()
        to_layer = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), QgsProject.instance())
        extent = to_layer.transformBoundingBox(canvas.extent()).intersect(layer.extent())
        if extent.isEmpty():
            raise InputError("the map view does not show any part of the layer; pan to it or search the whole layer")
        return extent

    def _selected_polygons(self, layer: QgsRasterLayer) -> tuple[QgsRectangle, QgsGeometry]:
        polygons = self.polygon_combo.currentLayer()
        if not isinstance(polygons, QgsVectorLayer):
            raise InputError("choose the polygon layer whose selected polygons bound the search")
        selected = [f.geometry() for f in polygons.selectedFeatures() if f.hasGeometry()]
        if not selected:
            raise InputError(
                f"no polygon of {polygons.name()!r} is selected; select the areas to search, or search the whole layer"
            )
        area = QgsGeometry.unaryUnion(selected)
        area.transform(QgsCoordinateTransform(polygons.crs(), layer.crs(), QgsProject.instance()))
        extent = area.boundingBox().intersect(layer.extent())
        if extent.isEmpty():
            raise InputError(f"the selected polygons of {polygons.name()!r} do not overlap the layer")
        return extent, area
