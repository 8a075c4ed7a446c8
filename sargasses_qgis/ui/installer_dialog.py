"""The "Install detection engine" dialog: what is done, pip's log, progress, Cancel."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
)

from ..engine_installer import EngineInstallTask
from ..paths import installed_engine_dir


class InstallerDialog(QDialog):
    def __init__(self, parent=None, on_installed: Callable[[], None] | None = None, task_factory=EngineInstallTask):
        super().__init__(parent)
        self.setWindowTitle("Sargasses: install the detection engine")
        self.setObjectName("SargassesInstallerDialog")
        self.resize(720, 460)
        self.on_installed = on_installed
        self.task_factory = task_factory
        self.task: EngineInstallTask | None = None
        intro = QLabel(
            "The detection engine is a Python environment with PyTorch and the sargasses package, kept apart from "
            f"QGIS's own Python. It is created in<br><code>{installed_engine_dir()}</code><br>"
            "It needs about 6 GB of disk and a few minutes; QGIS stays usable meanwhile."
        )
        intro.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setMaximumBlockCount(5000)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(False)
        self.buttons.rejected.connect(self._cancel_or_close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        for widget in (intro, self.progress, self.log, self.buttons):
            layout.addWidget(widget)

    def start(self, confirm: bool = True) -> EngineInstallTask | None:
        if confirm and installed_engine_dir().exists():
            answer = QMessageBox.question(
                self,
                "Reinstall the detection engine?",
                f"An engine is already installed in {installed_engine_dir()}. Replace it?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                self.reject()
                return None
        self.task = self.task_factory()
        self.task.line.connect(self.log.appendPlainText)
        self.task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        self.task.taskCompleted.connect(self._completed)
        self.task.taskTerminated.connect(self._terminated)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _cancel_or_close(self) -> None:
        if self.task is not None and self.buttons.button(QDialogButtonBox.StandardButton.Cancel).isEnabled():
            self.log.appendPlainText("Cancelling…")
            self.task.cancel()
        else:
            self.reject()

    def _completed(self) -> None:
        self.progress.setValue(100)
        self._finish()
        if self.on_installed is not None:
            self.on_installed()

    def _terminated(self) -> None:
        self.log.appendPlainText(f"Not installed: {self.task.error if self.task else 'cancelled'}")
        self._finish()

    def _finish(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(True)
