"""What a task that talks to the engine shares: progress and messages for the dock, and errors sorted by kind.

`DetectionTask` and `FinetuneTask` each give `work()` (on the task's thread) and what a cancel means; this base
runs it, turns every exception into `error` (for people) and `error_kind` (for the dock's reaction), and calls
`on_finished` on the UI thread.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .engine_client import EngineError, EngineNotFound, EngineStopped, RequestCancelled
from .log import log_error


class EngineTask(QgsTask):
    """`error` and `error_kind` ("cancelled", "no_engine", "crashed", "engine", "internal", or a subclass's own)
    say what went wrong when `work` did not finish."""

    message = pyqtSignal(str)  # what the engine is doing, for the dock (queued to the UI thread)

    def __init__(self, description: str, manager: Any) -> None:
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.manager = manager
        self.error = ""
        self.error_kind = ""
        self.on_finished: Callable[[Any], None] | None = None
        self._last_message = ""

    def cancel_if_running(self) -> bool:
        """Cancel unless the task is over already; whether a cancel was sent."""
        if self.status() in (QgsTask.TaskStatus.Complete, QgsTask.TaskStatus.Terminated):
            return False
        self.cancel()
        return True

    def work(self) -> None:
        """The task's job, on its own thread; raises to fail."""
        raise NotImplementedError

    def cancelled_text(self) -> str:
        return "cancelled"

    def classify(self, exc: Exception) -> tuple[str, str]:
        """(message, kind) for an exception; subclasses add their own kinds first."""
        if isinstance(exc, RequestCancelled):
            return str(exc), "cancelled"
        if isinstance(exc, EngineNotFound):
            return str(exc), "no_engine"
        if isinstance(exc, EngineStopped):
            return str(exc), "crashed"
        if isinstance(exc, EngineError):
            return str(exc), "engine"
        log_error(traceback.format_exc())  # a bug of ours: the user gets a message, the log the traceback
        return f"unexpected error in the plugin: {exc} (details in the Sargasses log)", "internal"

    def run(self) -> bool:
        try:
            self.work()
            return True
        except Exception as exc:
            self.error, self.error_kind = self.classify(exc)
        if self.isCanceled():
            self.error, self.error_kind = self.cancelled_text(), "cancelled"
        return False

    def _progress(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * fraction)
        if message and message != self._last_message:
            self._last_message = message
            self.message.emit(message)

    def finished(self, result: bool) -> None:  # UI thread
        if self.on_finished is not None:
            self.on_finished(self)
