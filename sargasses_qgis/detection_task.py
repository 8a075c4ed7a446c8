"""A detection as a QgsTask: runs in QGIS's task manager (progress in the task bar, Cancel), never on the UI thread."""

from __future__ import annotations

from qgis.core import QgsRasterBlockFeedback

from .detection_run import DetectionJob, DetectionOutcome, execute
from .engine_client import EngineManager, RequestCancelled
from .engine_task import EngineTask
from .raster_input import InputError


class DetectionTask(EngineTask):
    """`outcome` is set on success; otherwise `error` (for people) and `error_kind` say what happened ("input":
    the layer could not be prepared, besides EngineTask's kinds)."""

    def __init__(self, job: DetectionJob, manager: EngineManager) -> None:
        super().__init__(f"Sargasses: detecting rafts on {job.layer_name}", manager)
        self.job = job
        self.feedback = QgsRasterBlockFeedback()  # also what a raster export takes
        self.outcome: DetectionOutcome | None = None
        self.stop_reason = ""  # set by whoever cancels for a reason other than the user (a removed layer)

    def cancel(self) -> None:
        self.feedback.cancel()  # stops a GeoTIFF export at once
        super().cancel()

    def work(self) -> None:
        self.outcome = execute(self.job, self.manager, self._progress, self.isCanceled, self.feedback)

    def cancelled_text(self) -> str:
        return self.stop_reason or "the run was cancelled"

    def classify(self, exc: Exception) -> tuple[str, str]:
        if isinstance(exc, RequestCancelled):
            return self.stop_reason or str(exc), "cancelled"
        if isinstance(exc, InputError):
            return str(exc), "cancelled" if self.isCanceled() else "input"
        return super().classify(exc)
