"""The "Install detection engine" question and dialog: what will be installed and its size first, then pip's log,
real progress, Cancel."""

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

from ..engine_installer import CPU_ENGINE, GPU_ENGINE, EngineChoice, EngineInstallTask, nvidia_gpu
from ..paths import installed_engine_dir


def _size(mb: int) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


def engine_line(engine: EngineChoice) -> str:
    """One engine for people: what it holds, its download and its size on disk."""
    return (
        f"<b>{engine.title}</b>: {engine.holds}. About {_size(engine.download_mb)} to download, "
        f"{_size(engine.disk_mb)} on disk."
    )


def install_question(parent=None, gpu_name: str = "") -> tuple[QMessageBox, dict]:
    """The question asked before anything is installed: (the box, {button: engine}). The GPU engine is offered
    only when an NVIDIA GPU is present (`gpu_name`); the CPU engine is the default."""
    folder = installed_engine_dir()
    lines = [
        f"The detection engine is a Python environment kept apart from QGIS's own, created in<br><code>{folder}</code>",
        engine_line(CPU_ENGINE) + " It detects on the CPU.",
    ]
    if gpu_name:
        lines.append(f"An NVIDIA GPU is present ({gpu_name}). " + engine_line(GPU_ENGINE))
    if folder.exists():
        lines.append("The engine installed there now is replaced.")
    lines.append("QGIS stays usable while it installs, and Cancel stops it and removes what was half made.")
    box = QMessageBox(parent)
    box.setObjectName("SargassesInstallQuestion")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Sargasses: install the detection engine?")
    box.setText("<br><br>".join(lines))
    buttons = {
        box.addButton(
            f"Install the CPU engine ({_size(CPU_ENGINE.disk_mb)})", QMessageBox.ButtonRole.AcceptRole
        ): CPU_ENGINE
    }
    box.setDefaultButton(next(iter(buttons)))
    if gpu_name:
        gpu = box.addButton(f"Install the GPU engine ({_size(GPU_ENGINE.disk_mb)})", QMessageBox.ButtonRole.AcceptRole)
        buttons[gpu] = GPU_ENGINE
    box.addButton(QMessageBox.StandardButton.Cancel)
    return box, buttons


def ask_engine(parent=None, gpu_name: str | None = None) -> EngineChoice | None:
    """Ask which engine to install (sizes first); None when the user says no."""
    box, buttons = install_question(parent, nvidia_gpu() if gpu_name is None else gpu_name)
    box.exec()
    return buttons.get(box.clickedButton())


class InstallerDialog(QDialog):
    def __init__(self, parent=None, on_installed: Callable[[], None] | None = None, task_factory=EngineInstallTask):
        super().__init__(parent)
        self.setWindowTitle("Sargasses: install the detection engine")
        self.setObjectName("SargassesInstallerDialog")
        self.resize(720, 460)
        self.on_installed = on_installed
        self.task_factory = task_factory  # called with engine=EngineChoice
        self.task: EngineInstallTask | None = None
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.status = QLabel("")
        self.status.setObjectName("SargassesInstallStatus")
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
        for widget in (self.intro, self.status, self.progress, self.log, self.buttons):
            layout.addWidget(widget)

    def start(self, engine: EngineChoice = CPU_ENGINE) -> EngineInstallTask:
        """Install `engine` (the user already said yes to it: ask_engine)."""
        self.intro.setText(f"Installing in <code>{installed_engine_dir()}</code>: {engine_line(engine)}")
        self.task = self.task_factory(engine=engine)
        self.task.line.connect(self.log.appendPlainText)
        self.task.status.connect(self.status.setText)
        self.task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        self.task.taskCompleted.connect(self._completed)
        self.task.taskTerminated.connect(self._terminated)
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _cancel_or_close(self) -> None:
        if self.task is not None and self.buttons.button(QDialogButtonBox.StandardButton.Cancel).isEnabled():
            self.log.appendPlainText("Cancelling…")
            self.status.setText("Cancelling…")
            self.task.cancel()
        else:
            self.reject()

    def _completed(self) -> None:
        if self.task is not None and self.task.cancelled:
            self.status.setText("Cancelled: nothing was installed.")
            self.progress.setValue(0)
            self._finish()
            return
        self.progress.setValue(100)
        self.status.setText("Installed: the detection engine is ready.")
        self._finish()
        if self.on_installed is not None:
            self.on_installed()

    def _terminated(self) -> None:
        error = self.task.error if self.task else "unknown error"
        self.log.appendPlainText(f"Not installed: {error}")
        self.status.setText(f"Not installed: {error}")
        self._finish()

    def _finish(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(True)
