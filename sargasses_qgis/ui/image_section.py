"""The dock's image: the raster layer to search, its level, and a rendering that shows rafts.

The layer follows the active raster layer, and each raster newly added, until the user picks one in the list:
the docs promise "the active layer is the default", and a run on yesterday's image would go unnoticed.
"""

from __future__ import annotations

import contextlib

from qgis.core import QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QPushButton, QWidget

from ..results import is_result
from ..scene_style import rendering_bands, show_rendering
from ..sensor_names import LEVELS


class ImageSection(QGroupBox):
    """`layerChanged(layer)` fires with the layer to search, however it was chosen; `picked_by_hand` says whether
    the user chose it in the list (the section then stops following the active layer)."""

    layerChanged = pyqtSignal(object)

    def __init__(self, iface) -> None:
        super().__init__("Image")
        self.iface = iface
        self.picked_by_hand = False
        self._picked_id = ""
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setToolTip("The image to search: the active raster layer, until you choose another one here")
        self.level_combo = QComboBox()
        for value, label in LEVELS:
            self.level_combo.addItem(label, value)
        self.level_combo.setToolTip(
            "Which product the image is when its file does not say: a GeoTIFF without tags is read as Level-2A "
            "(surface reflectance); Level-1C (top of atmosphere) reads brighter"
        )
        self.natural_button = QPushButton("Natural colour")
        self.natural_button.setToolTip("Show the layer as the eye sees it (B04, B03, B02)")
        self.false_button = QPushButton("False colour")
        self.false_button.setToolTip("Near infrared as red (B8A, B04, B03): floating Sargassum stands out bright")
        colours = QWidget()
        row = QHBoxLayout(colours)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.natural_button)
        row.addWidget(self.false_button)
        self.colours_row = colours
        form = QFormLayout(self)
        form.addRow("Raster layer", self.layer_combo)
        form.addRow("Level", self.level_combo)
        form.addRow(colours)  # its own full row: the dock stays narrow
        self._choose_start_layer()
        self._connect()

    def _connect(self) -> None:
        self.layer_combo.activated.connect(self._picked)  # the user's choice; setLayer() does not emit it
        self.layer_combo.layerChanged.connect(self._changed)
        self.natural_button.clicked.connect(lambda: self.show_colours("natural"))
        self.false_button.clicked.connect(lambda: self.show_colours("false"))
        project = QgsProject.instance()
        project.layersAdded.connect(self._layers_added)
        project.layersWillBeRemoved.connect(self._layers_removed)
        project.cleared.connect(self._forget_pick)  # a new or opened project: follow its images
        if self.iface is not None:
            self.iface.currentLayerChanged.connect(self.follow)
        self._update_colours()

    def _choose_start_layer(self) -> None:
        active = self.iface.activeLayer() if self.iface is not None else None
        if isinstance(active, QgsRasterLayer) and not is_result(active):
            self.layer_combo.setLayer(active)
        elif self.layer_combo.count() > 1:
            self.layer_combo.setCurrentIndex(1)  # the first raster layer rather than none

    def shutdown(self) -> None:
        project = QgsProject.instance()
        with contextlib.suppress(TypeError):
            project.layersAdded.disconnect(self._layers_added)
            project.layersWillBeRemoved.disconnect(self._layers_removed)
            project.cleared.disconnect(self._forget_pick)
        if self.iface is not None:
            with contextlib.suppress(TypeError):
                self.iface.currentLayerChanged.disconnect(self.follow)

    def layer(self) -> QgsRasterLayer | None:
        layer = self.layer_combo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

    def sensor(self) -> str | None:
        """The level the user says the image is (an engine sensor profile), None: the file's own."""
        return str(self.level_combo.currentData() or "") or None

    def follow(self, layer) -> None:
        """Take `layer` (the active or a new layer) unless the user picked one by hand; never a run's own raster."""
        if self.picked_by_hand or not isinstance(layer, QgsRasterLayer) or is_result(layer):
            return
        if layer is not self.layer_combo.currentLayer():
            self.layer_combo.setLayer(layer)

    def _picked(self, _index: int) -> None:
        layer = self.layer_combo.currentLayer()
        self.picked_by_hand = layer is not None
        self._picked_id = layer.id() if layer is not None else ""

    def _forget_pick(self) -> None:
        self.picked_by_hand, self._picked_id = False, ""

    def _layers_added(self, layers: list) -> None:
        rasters = [layer for layer in layers if isinstance(layer, QgsRasterLayer)]
        if rasters:
            self.follow(rasters[-1])

    def _layers_removed(self, layer_ids: list[str]) -> None:
        if self._picked_id in layer_ids:
            self._forget_pick()  # the chosen image is gone: follow the active one again

    def _changed(self, layer) -> None:
        self.level_combo.setCurrentIndex(0)  # another image: its own level, unless the user says
        self._update_colours()
        self.layerChanged.emit(layer)

    def _update_colours(self) -> None:
        layer = self.layer()
        self.natural_button.setEnabled(layer is not None and rendering_bands(layer, "natural") is not None)
        self.false_button.setEnabled(layer is not None and rendering_bands(layer, "false") is not None)
        self.colours_row.setVisible(self.natural_button.isEnabled() or self.false_button.isEnabled())

    def show_colours(self, rendering: str) -> bool:
        layer = self.layer()
        return layer is not None and show_rendering(layer, rendering)
