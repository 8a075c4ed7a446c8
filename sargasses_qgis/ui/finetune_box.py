"""The dock's "Your coast" section: mark detections, open the labels layer, fine-tune the model on the labels.

Widgets and wiring only: the labels file is labelling.py's, the fine-tune a FinetuneTask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QSpinBox

from .. import labelling
from ..engine_client import EngineManager
from ..finetune_task import NEEDS_TORCH, FinetuneJob, FinetuneTask, new_model_path, report_text
from ..log import log_info, log_warning
from . import messages
from .text import html, html_wrapping_paths

DEFAULT_EPOCHS = 8


class FinetuneBox(QgsCollapsibleGroupBox):
    """`model_path()` and `device()` say what the dock would run; `modelCreated(path)` fires with each new model."""

    modelCreated = pyqtSignal(str)
    finetuneFinished = pyqtSignal(object)
    needsFullEngine = pyqtSignal()  # the engine has no PyTorch: the dock offers the full engine's installer

    def __init__(
        self,
        iface,
        manager: EngineManager,
        model_path: Callable[[], str | None],
        device: Callable[[], str],
    ) -> None:
        super().__init__("Your coast: labels and fine-tune")
        self.setObjectName("sargassesFinetuneBox")
        self.setSaveCollapsedState(False)
        self.iface = iface
        self.manager = manager
        self._torch_message = None  # the message bar's offer of the full engine, taken off once stale
        self._model_path = model_path
        self._device = device
        self.task: FinetuneTask | None = None
        self.last_task: FinetuneTask | None = None
        self._build()
        self.refresh()
        QgsProject.instance().homePathChanged.connect(self.refresh)  # a saved or opened project: its own labels

    def _build(self) -> None:
        grid = QGridLayout(self)
        self.labels_label = QLabel("")
        self.labels_label.setWordWrap(True)
        self.labels_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.labels_label, 0, 0, 1, 2)
        mark_label = QLabel("Mark the selected rafts as:")
        self.false_positive_button = QPushButton("False positive")
        self.false_positive_button.setToolTip("Mark the selected rafts of the active result layer as false positives")
        self.sargassum_button = QPushButton("Sargassum")
        self.sargassum_button.setToolTip("Confirm the selected rafts of the active result layer as Sargassum")
        self.open_button = QPushButton("Draw missed rafts…")
        self.open_button.setToolTip(
            "Open the “Sargassum labels” layer for editing: draw the rafts the run missed (kind Sargassum), or areas "
            "that are not Sargassum"
        )
        grid.addWidget(mark_label, 1, 0, 1, 2)
        grid.addWidget(self.false_positive_button, 2, 0)
        grid.addWidget(self.sargassum_button, 2, 1)
        grid.addWidget(self.open_button, 3, 0, 1, 2)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 200)
        self.epochs.setValue(DEFAULT_EPOCHS)
        self.epochs.setSuffix(" epochs")
        self.epochs.setToolTip("Passes over your labelled crops; more learns more and takes longer")
        self.finetune_button = QPushButton("Fine-tune")
        self.finetune_button.setObjectName("sargassesFinetuneButton")
        self.finetune_button.setIcon(QgsApplication.getThemeIcon("/mActionStart.svg"))
        self.finetune_button.setToolTip(
            "Teach the current model your labels: a new model file is written and offered in the model list; "
            "the current one stays"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        grid.addWidget(self.epochs, 4, 0)
        grid.addWidget(self.finetune_button, 4, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        grid.addWidget(self.progress, 5, 0)
        grid.addWidget(self.cancel_button, 5, 1)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.status_label, 6, 0, 1, 2)

        self.false_positive_button.clicked.connect(lambda: self.mark_active("false_positive"))
        self.sargassum_button.clicked.connect(lambda: self.mark_active("sargassum"))
        self.open_button.clicked.connect(self.open_labels)
        self.finetune_button.clicked.connect(self.finetune)
        self.cancel_button.clicked.connect(self.cancel)

    # ------------------------------------------------------------------ labels
    def labels_path(self) -> Path:
        return labelling.labels_path(QgsProject.instance())

    def refresh(self) -> None:
        path = self.labels_path()
        counts = labelling.count_labels(path)
        self.labels_label.setText(f"Labels: {counts.text()}<br><small>{html_wrapping_paths(str(path))}</small>")
        self.labels_label.setToolTip(str(path))

    def mark_active(self, kind: str) -> int:
        layer = self.iface.activeLayer() if self.iface is not None else None
        try:
            count = labelling.mark_selected(layer, kind)
        except labelling.LabellingError as exc:
            self._say(str(exc), Qgis.MessageLevel.Warning)
            return 0
        self.refresh()
        self._say(
            f"{count} raft{'s' if count != 1 else ''} marked as {labelling.KINDS[kind].lower()}.",
            Qgis.MessageLevel.Success,
        )
        return count

    def open_labels(self):
        try:
            labels, _ = labelling.open_label_layers()
        except labelling.LabellingError as exc:
            self._say(str(exc), Qgis.MessageLevel.Warning)
            return None
        if self.iface is not None:
            self.iface.setActiveLayer(labels)
            labels.startEditing()
            self.iface.actionAddFeature().trigger()  # the user draws at once
        return labels

    # ------------------------------------------------------------------ fine-tune
    def finetune(self) -> FinetuneTask | None:
        if self.task is not None:
            return None
        for layer in QgsProject.instance().mapLayers().values():  # unsaved edits of the labels are not seen
            if layer.customProperty(labelling.STORE_PROPERTY) and layer.isEditable() and layer.isModified():
                layer.commitChanges(False)
        path = self.labels_path()
        counts = labelling.count_labels(path)
        if counts.without_scene:
            self._say(
                f"{counts.without_scene} label(s) have no scene: they were drawn where no image of the project "
                "was. Press “Draw missed rafts…”, then fill in their scene (the image file) or delete them.",
                Qgis.MessageLevel.Warning,
            )
            return None
        if not counts.total():
            self._say(
                "No labels yet: run a detection, then mark its rafts (false positive or Sargassum) or draw the "
                "ones it missed, then fine-tune.",
                Qgis.MessageLevel.Warning,
            )
            return None
        messages.pop(self.iface, self._torch_message)  # a new try: an earlier "needs PyTorch" is stale
        self._torch_message = None
        parent = self._model_path()
        job = FinetuneJob(path, parent, new_model_path(path, parent), self._device(), self.epochs.value())
        task = FinetuneTask(job, self.manager)
        task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        task.message.connect(self.status_label.setText)
        task.on_finished = self._finished
        self.task = task
        self.finetune_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status_label.setText(f"Fine-tuning on {counts.text()}…")
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel(self) -> None:
        if self.task is not None and self.task.cancel_if_running():
            self.status_label.setText("Cancelling…")

    def shutdown(self) -> None:
        with contextlib.suppress(TypeError):
            QgsProject.instance().homePathChanged.disconnect(self.refresh)
        if self.task is not None:
            self.task.cancel()

    def _finished(self, task: FinetuneTask) -> None:
        self.task, self.last_task = None, task
        self.finetune_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if task.report is not None:
            text, worse = report_text(task.report)
            self.progress.setValue(100)
            self.status_label.setText(html(text))
            log_info(f"fine-tune: {task.report}")
            self._say(
                text.splitlines()[0] + (" — it got worse somewhere, see the dock." if worse else "."),
                Qgis.MessageLevel.Warning if worse else Qgis.MessageLevel.Success,
                status=False,
            )
            self.modelCreated.emit(str(task.report.get("output") or task.job.output))
        else:
            self.progress.setValue(0)
            message = task.error[:1].upper() + task.error[1:]
            self.status_label.setText(f"<span style='color:#b00020'>{html(message)}</span>")
            log_warning(message)
            if task.error_kind == NEEDS_TORCH:
                self._offer_installer(message)
            elif task.error_kind != "cancelled":
                self._say(message, Qgis.MessageLevel.Critical)
        self.finetuneFinished.emit(task)

    # ------------------------------------------------------------------ messages
    def _say(self, text: str, level, status: bool = True) -> None:
        if status:
            self.status_label.setText(html(text))
        messages.push(self.iface, text, level, 8)

    def _offer_installer(self, text: str) -> None:
        """Fine-tuning needs PyTorch: offer the full engine (the installer asks which build first)."""
        messages.pop(self.iface, self._torch_message)
        self._torch_message = messages.push_with_button(
            self.iface, text, "Install the full engine with PyTorch…", self.needsFullEngine, Qgis.MessageLevel.Warning
        )
