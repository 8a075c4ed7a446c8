"""A detection as a QgsTask: runs in QGIS's task manager (progress in the task bar, Cancel), never on the UI thread."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from qgis.core import QgsRasterBlockFeedback, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .detection_run import DetectionCancelled, DetectionJob, DetectionOutcome, execute
from .engine_client import EngineError, EngineManager, EngineNotFound, EngineStopped
from .log import log_error
from .raster_input import InputError


class DetectionTask(QgsTask):
    """`outcome` is set on success; otherwise `error` (for people) and `error_kind` say what happened."""

    message = pyqtSignal(str)  # what the run is doing, for the dock (queued to the UI thread)

    def __init__(self, job: DetectionJob, manager: EngineManager) -> None:
        super().__init__(f"Sargasses: detecting rafts on {job.layer_name}", QgsTask.Flag.CanCancel)
        self.job = job
        self.manager = manager
        self.feedback = QgsRasterBlockFeedback()  # also what a raster export takes
        self.outcome: DetectionOutcome | None = None
        self.error = ""
        self.error_kind = ""  # "cancelled", "no_engine", "crashed", "input", "engine", "internal"
        self.stop_reason = ""  # set by whoever cancels for a reason other than the user (a removed layer)
        self.on_finished: Callable[[DetectionTask], None] | None = None
        self._last_message = ""

    def cancel(self) -> None:
        self.feedback.cancel()  # stops a GeoTIFF export at once
        super().cancel()

    def run(self) -> bool:
        try:
            self.outcome = execute(self.job, self.manager, self._progress, self.isCanceled, self.feedback)
            return True
        except DetectionCancelled as exc:
            self.error, self.error_kind = self.stop_reason or str(exc), "cancelled"
        except EngineNotFound as exc:
            self.error, self.error_kind = str(exc), "no_engine"
        except EngineStopped as exc:
            self.error, self.error_kind = str(exc), "crashed"
        except InputError as exc:
            self.error, self.error_kind = str(exc), "cancelled" if self.isCanceled() else "input"
        except EngineError as exc:
            self.error, self.error_kind = str(exc), "engine"
        except Exception as exc:  # a bug of ours: the user gets a message, the log the traceback
            log_error(traceback.format_exc())
            self.error, self.error_kind = (
                f"unexpected error in the plugin: {exc} (details in the Sargasses log)",
                "internal",
            )
        if self.isCanceled():
            self.error_kind = "cancelled"
            self.error = self.stop_reason or "the run was cancelled"
        return False

    def _progress(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * fraction)
        if message != self._last_message:
            self._last_message = message
            self.message.emit(message)

    def finished(self, result: bool) -> None:  # UI thread
        if self.on_finished is not None:
            self.on_finished(self)
