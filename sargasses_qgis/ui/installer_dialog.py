"""The "Install detection engine" question and dialog: what will be installed and its size first, then pip's log,
real progress, Cancel."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QFontDatabase, QGuiApplication
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
)

from ..engine_installer import (
    CPU_ENGINE,
    CPU_FULL_ENGINE,
    GPU_ENGINE,
    TORCH_CPU_INDEX_VAR,
    EngineChoice,
    EngineInstallTask,
    nvidia_gpu,
    torch_cpu_index,
)
from ..paths import ENGINE_MARKER, installed_engine_dir
from .text import capitalized


def _size(mb: int) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


def engine_line(engine: EngineChoice) -> str:
    """One engine for people: what it holds, its download and its size on disk."""
    if not engine.disk_mb:
        return f"<b>{capitalized(engine.title)}</b>: {engine.holds}. Its size was not measured."
    return (
        f"<b>{engine.title}</b>: {engine.holds}. About {_size(engine.download_mb)} to download, "
        f"{_size(engine.disk_mb)} on disk."
    )


def offered_engines(gpu_name: str, full: bool) -> list[EngineChoice]:
    """What the question offers: the CPU engine (and the GPU engine beside an NVIDIA GPU); for fine-tuning (`full`)
    the engine with PyTorch, its CPU build where no GPU is seen and the user set where to get it."""
    if not full:
        return [CPU_ENGINE, GPU_ENGINE] if gpu_name else [CPU_ENGINE]
    if gpu_name or not torch_cpu_index():
        return [GPU_ENGINE]
    return [CPU_FULL_ENGINE]


def _question_lines(gpu_name: str, full: bool, engines: list[EngineChoice]) -> list[str]:
    folder = installed_engine_dir()
    lines = [f"The detection engine is a Python environment kept apart from QGIS's own, in<br><code>{folder}</code>"]
    if full:
        lines.append("Fine-tuning needs PyTorch, which the engine installed now does not have.")
    for engine in engines:
        where = " It detects on the CPU." if engine is CPU_ENGINE else ""
        gpu = f"An NVIDIA GPU is present ({gpu_name}). " if engine is GPU_ENGINE and gpu_name else ""
        lines.append(gpu + engine_line(engine) + where)
    if full and not gpu_name and engines == [GPU_ENGINE]:
        lines.append(
            "No NVIDIA GPU was seen: this build of PyTorch also runs on the CPU but carries CUDA libraries it will "
            f"not use. Set {TORCH_CPU_INDEX_VAR} to PyTorch's CPU package index for the smaller CPU build."
        )
    if (folder / ENGINE_MARKER).is_file():
        lines.append("The engine installed there now is kept and used until the new one is installed and works.")
    else:
        lines.append("Nothing you have now is removed: an engine set in the settings or SARGASSES_PYTHON stays.")
    lines.append("QGIS stays usable while it installs; Cancel stops it and removes what was half made.")
    return lines


def install_question(parent=None, gpu_name: str = "", full: bool = False) -> tuple[QMessageBox, dict]:
    """The question asked before anything is installed: (the box, {button: engine}); the first engine is the
    default."""
    engines = offered_engines(gpu_name, full)
    box = QMessageBox(parent)
    box.setObjectName("SargassesInstallQuestion")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Sargasses: install the detection engine?")
    box.setText("<br><br>".join(_question_lines(gpu_name, full, engines)))
    buttons = {}
    for engine in engines:
        size = f" ({_size(engine.disk_mb)})" if engine.disk_mb else ""
        buttons[box.addButton(f"Install the {engine.title}{size}", QMessageBox.ButtonRole.AcceptRole)] = engine
    box.setDefaultButton(next(iter(buttons)))
    box.addButton(QMessageBox.StandardButton.Cancel)
    return box, buttons


def ask_engine(parent=None, gpu_name: str | None = None, full: bool = False) -> EngineChoice | None:
    """Ask which engine to install (sizes first); None when the user says no."""
    box, buttons = install_question(parent, nvidia_gpu() if gpu_name is None else gpu_name, full)
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
        self.status.setWordWrap(True)  # a pip line is long: it wraps, the dialog keeps its width
        for label in (self.intro, self.status):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
        screen = QGuiApplication.primaryScreen()
        if screen is not None:  # never wider than the screen: Cancel and Close stay on it
            self.setMaximumWidth(screen.availableGeometry().width())
            self.resize(min(720, screen.availableGeometry().width()), 460)

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
            self.status.setText(self.task.outcome_text())
            self.progress.setValue(0)
            self._finish()
            return
        self.progress.setValue(100)
        self.status.setText(self.task.outcome_text() if self.task else "Installed.")
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
