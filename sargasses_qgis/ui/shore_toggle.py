"""The results' "Hide shoreline rafts" check box and the count beside it (shore_filter.py does the filtering).

The box stays as the user left it: a new run's rafts are filtered the same way. The count follows the layer's
filter, also when it is changed elsewhere (Layer > Filter).
"""

from __future__ import annotations

import contextlib

from qgis.core import QgsVectorLayer
from qgis.PyQt.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from .. import shore_filter


class ShoreToggle(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.check = QCheckBox("Hide shoreline rafts")
        self.check.setObjectName("sargassesHideShoreline")
        self.check.setToolTip(
            "Hide the rafts touching land (setting = shoreline): surf, wet sand and inlet edges more often than "
            "Sargassum. The filter is saved with the project; Layer > Filter shows it."
        )
        self.check.setEnabled(False)
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.count_label)
        self.layer: QgsVectorLayer | None = None
        self.check.toggled.connect(self._toggled)

    def show_layer(self, layer: QgsVectorLayer) -> None:
        """A run's rafts: filtered as the box says (a layer without settings, from an older engine, cannot be)."""
        self._forget_layer()
        self.layer = layer
        usable = shore_filter.has_settings(layer)
        self.check.setEnabled(usable)
        layer.willBeDeleted.connect(self._layer_gone)
        if usable:
            layer.subsetStringChanged.connect(self._refresh)
            if self.check.isChecked():
                shore_filter.hide_shoreline(layer, True)
        self._refresh()

    def _toggled(self, hide: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the layer was removed from the project
            if self.layer is not None and shore_filter.has_settings(self.layer):
                shore_filter.hide_shoreline(self.layer, hide)
                self.layer.triggerRepaint()

    def _refresh(self) -> None:
        try:
            layer = self.layer
            usable = layer is not None and shore_filter.has_settings(layer)
            text = shore_filter.count_text(layer) if usable else ""
            hidden = usable and shore_filter.shoreline_hidden(layer)
        except RuntimeError:  # the layer was removed from the project
            self.layer, usable, text = None, False, ""
        self.count_label.setText(text)
        if usable:  # the box shows the layer's state (Layer > Filter may have changed it), without filtering again
            self.check.blockSignals(True)
            self.check.setChecked(hidden)
            self.check.blockSignals(False)

    def _layer_gone(self) -> None:
        """The rafts left the project (removed, another project opened): nothing to count or filter."""
        self._forget_layer()
        self.count_label.setText("")
        self.check.setEnabled(False)

    def _forget_layer(self) -> None:
        layer, self.layer = self.layer, None
        if layer is None:
            return
        for signal, slot in (("subsetStringChanged", self._refresh), ("willBeDeleted", self._layer_gone)):
            with contextlib.suppress(RuntimeError, TypeError):  # deleted already, or never connected
                getattr(layer, signal).disconnect(slot)
