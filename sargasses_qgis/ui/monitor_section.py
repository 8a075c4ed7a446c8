"""The dock's monitoring section, shown once a monitoring folder is loaded: its sector plot (sectors.png: covered
km2 per coastal sector and pass, with the risk classes) and "New since the previous pass" (monitor_passes.py)."""

from __future__ import annotations

import contextlib
import os

from qgis.core import QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import QCheckBox, QGroupBox, QLabel, QVBoxLayout

from ..monitor_passes import new_since_filter, pass_days, previous_pass

PLOT_WIDTH = 320  # px: the dock's width; the full plot is sectors.png in the folder


class MonitorSection(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Monitoring")
        self.plot = QLabel()
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot_pixmap = QPixmap()
        self.passes_label = QLabel()
        self.passes_label.setWordWrap(True)
        self.new_check = QCheckBox("New since the previous pass")
        self.new_check.setToolTip("Show only the rafts of the scenes dated after the previous pass's day")
        layout = QVBoxLayout(self)
        for widget in (self.plot, self.passes_label, self.new_check):
            layout.addWidget(widget)
        self.rafts: QgsVectorLayer | None = None
        self.new_filter = ""
        self.new_check.toggled.connect(self._filter_rafts)
        self.setVisible(False)  # until a folder is loaded

    def show_folder(self, loaded: dict) -> None:
        """Show the folder `load_monitoring_folder` loaded: its plot, its passes, the filter off."""
        self.new_check.setChecked(False)
        self.rafts = loaded["rafts"]
        path = os.path.join(str(loaded["folder"]), "sectors.png")
        self.plot_pixmap = QPixmap(path).scaledToWidth(PLOT_WIDTH, Qt.TransformationMode.SmoothTransformation)
        if self.plot_pixmap.isNull():
            self.plot.setText("No sector plot: no pass observed yet.")
        else:
            self.plot.setPixmap(self.plot_pixmap)
            self.plot.setToolTip(f"{path}: covered km2 per sector and pass, risk class against the baseline")
        days = pass_days(loaded["scenes"])
        previous = previous_pass(days)
        self.new_filter = new_since_filter(previous)
        self.passes_label.setText(
            f"{len(days)} pass(es); newest {days[-1]}, previous {previous or 'none'}." if days else "No pass observed."
        )
        self.setVisible(True)

    def _filter_rafts(self, on: bool) -> None:
        if self.rafts is None:
            return
        with contextlib.suppress(RuntimeError):  # the layer was removed from the project
            self.rafts.setSubsetString(self.new_filter if on else "")
