"""The dock's engine line: which engine runs the model (version, Python, runs kept warm), or why none can yet."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from .text import html_wrapping_paths


class EngineSection(QWidget):
    """`installRequested` and `settingsRequested` fire on its buttons; `problem` is why no engine answered ("")."""

    installRequested = pyqtSignal()
    settingsRequested = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self.problem = ""
        self.engine_label = QLabel("Looking for the detection engine…")
        self.engine_label.setWordWrap(True)
        self.engine_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = QPushButton("Install detection engine…")
        self.install_button.setVisible(False)
        self.install_button.clicked.connect(self.installRequested)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("sargassesSettingsButton")
        self.settings_button.setIcon(QgsApplication.getThemeIcon("/mActionOptions.svg"))
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.settings_button.setAutoRaise(True)
        self.settings_button.setToolTip("Sargasses settings (engine, results folder)")
        self.settings_button.clicked.connect(self.settingsRequested)
        row = QHBoxLayout()
        row.addWidget(self.engine_label, 1)
        row.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.install_button)

    def show_engine(self, info: dict) -> None:
        """The engine that answered: its version, its Python, and how many runs it has kept warm."""
        self.problem = ""
        self.install_button.setVisible(False)
        runs = int(info.get("runs", 0))
        warm = f" · {runs} run{'s' if runs != 1 else ''}, kept warm" if runs else " · ready"
        self.engine_label.setText(f"Engine: sargasses {info.get('version')} (Python {info.get('python')}){warm}")
        self.engine_label.setToolTip(str(info.get("executable", "")))

    def show_no_engine(self, message: str) -> None:
        """Not set up, and what to do (with the install button under it)."""
        self.problem = message
        last = message.splitlines()[-1] if message else ""
        self.engine_label.setText("<b>The detection engine is not set up.</b> " + html_wrapping_paths(last))
        self.engine_label.setToolTip(message)
        self.install_button.setVisible(True)
