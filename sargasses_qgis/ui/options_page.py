"""Settings > Options > Sargasses: the engine's Python, the engine's state, the results folder."""

from __future__ import annotations

import threading

from qgis.gui import QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from .. import settings
from ..engine_finder import ENV_VAR, find_engine, forget_checks
from ..paths import default_results_dir, icon_path, installed_engine_dir
from .text import html_wrapping_paths

PAGE_NAME = "sargassesOptions"


class _Relay(QObject):
    text = pyqtSignal(str)


class SargassesOptionsPage(QgsOptionsPageWidget):
    def __init__(self, plugin, parent=None) -> None:
        super().__init__(parent)
        self.plugin = plugin
        self.setObjectName(PAGE_NAME)
        self.python = QgsFileWidget()
        self.python.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.python.setFilePath(settings.engine_python())
        self.python.lineEdit().setPlaceholderText("empty: SARGASSES_PYTHON, then the installed engine")
        self.results = QgsFileWidget()
        self.results.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.results.setFilePath(str(settings.results_dir()))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        check = QPushButton("Check engine")
        check.clicked.connect(self.check)
        install = QPushButton("Install detection engine…")
        install.clicked.connect(lambda: plugin.show_installer() if plugin is not None else None)
        buttons = QHBoxLayout()
        buttons.addWidget(check)
        buttons.addWidget(install)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("Engine Python", self.python)
        form.addRow(
            "", _note(f"Order: this path, then {ENV_VAR}, then the engine installed in {installed_engine_dir()}")
        )
        form.addRow("Results folder", self.results)
        form.addRow("", _note(f"Default: {default_results_dir()}"))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self._relay = _Relay()
        self._relay.text.connect(self.status.setText)

    def check(self) -> None:
        """Save the path and look for the engine (in a thread: it starts a Python)."""
        self.apply()
        self.status.setText("Checking…")

        def work() -> None:
            forget_checks()
            self._relay.text.emit(find_engine().explain())

        threading.Thread(target=work, daemon=True).start()

    def apply(self) -> None:
        settings.set_engine_python(self.python.filePath())
        results = self.results.filePath().strip()
        settings.set_results_dir("" if results == str(default_results_dir()) else results)
        forget_checks()
        if self.plugin is not None:
            self.plugin.engine.shutdown()  # the next run starts the engine the settings now name
            if self.plugin.dock is not None:
                self.plugin.dock.refresh_engine()


def _note(text: str) -> QLabel:
    """A line under a field that wraps, at path separators too: a profile's long path kept on one line pushed the
    page wider than a 1366 px screen, the browse buttons off it (QGIS 3.40/3.44)."""
    label = QLabel(html_wrapping_paths(text))
    label.setWordWrap(True)
    return label


class SargassesOptionsFactory(QgsOptionsWidgetFactory):
    def __init__(self, plugin) -> None:
        super().__init__("Sargasses", QIcon(icon_path()))
        self.plugin = plugin

    # No pagePositionHint(): QGIS (3.18 to 4.x) wants the object name of a page to insert this one before, a
    # string; the default (empty) puts the page after QGIS's own, where it belongs.

    def createWidget(self, parent=None) -> SargassesOptionsPage:
        return SargassesOptionsPage(self.plugin, parent)
