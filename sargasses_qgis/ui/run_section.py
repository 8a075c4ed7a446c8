"""The dock's footer: Run and Cancel, the progress, what the run says, and the last result's shoreline filter and
exports.

It stays below the scrolling sections, visible on any screen height.
"""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from .shore_toggle import ShoreToggle
from .text import error_html


class RunSection(QWidget):
    """`runRequested`, `cancelRequested` and `exportRequested(kind)` ("shp", "gpkg") fire on its buttons."""

    runRequested = pyqtSignal()
    cancelRequested = pyqtSignal()
    exportRequested = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("sargassesRunButton")
        self.run_button.setIcon(QgsApplication.getThemeIcon("/mActionStart.svg"))
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_shp_button = QPushButton("Export SHP…")
        self.export_shp_button.setToolTip("Export the last result to a shapefile")
        self.export_gpkg_button = QPushButton("Export GPKG…")
        self.export_gpkg_button.setToolTip("Export the last result to a GeoPackage")
        self.shore_toggle = ShoreToggle()
        self.results_box = QGroupBox("Results")
        self._lay_out()
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.export_shp_button.clicked.connect(lambda: self.exportRequested.emit("shp"))
        self.export_gpkg_button.clicked.connect(lambda: self.exportRequested.emit("gpkg"))

    def _lay_out(self) -> None:
        footer = QVBoxLayout(self)
        footer.setContentsMargins(9, 0, 9, 6)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        footer.addLayout(buttons)
        footer.addWidget(self.progress)
        footer.addWidget(self.status_label)
        results = QVBoxLayout(self.results_box)
        results.addWidget(self.shore_toggle)
        exports = QHBoxLayout()
        for button in (self.export_shp_button, self.export_gpkg_button):  # text only: both fit in a narrow dock
            button.setEnabled(False)
            exports.addWidget(button)
        results.addLayout(exports)
        footer.addWidget(self.results_box)

    def running(self, description: str) -> None:
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status_label.setText(f"Starting: {description}")

    def stopped(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def show_error(self, message: str) -> None:
        """An error the user can act on; the progress bar does not keep an earlier run's 100 % beside it."""
        self.progress.setValue(0)
        self.status_label.setText(error_html(message))

    def enable_exports(self) -> None:
        for button in (self.export_shp_button, self.export_gpkg_button):
            button.setEnabled(True)
