"""A fine-tune as a QgsTask: the engine learns from the user's labels in the background, with progress per epoch
and Cancel; QGIS stays responsive. The engine's `finetune` request is described in docs/engine_protocol.md."""

from __future__ import annotations

import datetime as dt
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .engine_client import EngineError, EngineManager, EngineNotFound, EngineStopped, RequestCancelled, follow_request
from .log import log_error, log_info

MODELS_FOLDER = "sargasses_models"  # beside the labels file: the models learned from them
MODEL_SUFFIX = ".sargasses"  # the model file format the engine writes (docs/detect.md)
NEEDS_TORCH = "needs_torch"  # the engine's error `needs` when it has no PyTorch (a light engine)


@dataclass
class FinetuneJob:
    labels: Path  # the labels GeoPackage
    model: str | None  # the parent model file; None: the engine's bundled default
    output: Path  # the new model file (never an existing one)
    device: str = "auto"
    epochs: int | None = None  # None: the engine's default

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"labels": str(self.labels), "output": str(self.output), "device": self.device}
        if self.model:
            options["model"] = self.model
        if self.epochs:
            options["epochs"] = int(self.epochs)
        return options


def new_model_path(labels: Path, parent: str | None) -> Path:
    """`<labels folder>/sargasses_models/<parent>-coast-<time>.sargasses`: a new name every run, none replaced."""
    stem = re.sub(r"[^0-9A-Za-z_-]+", "_", Path(parent).stem if parent else "default_model")[:40]
    folder = labels.parent / MODELS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = folder / f"{stem}-coast-{stamp}{MODEL_SUFFIX}", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-coast-{stamp}_{n}{MODEL_SUFFIX}"
    return candidate


class FinetuneTask(QgsTask):
    """`report` is the engine's fine-tune report on success; otherwise `error` (for people) and `error_kind`."""

    message = pyqtSignal(str)  # what the engine is doing (epoch, loss), for the dock

    def __init__(self, job: FinetuneJob, manager: EngineManager) -> None:
        super().__init__(f"Sargasses: fine-tuning on {job.labels.name}", QgsTask.Flag.CanCancel)
        self.job = job
        self.manager = manager
        self.report: dict[str, Any] | None = None
        self.error = ""
        self.error_kind = ""  # "cancelled", "no_engine", "needs_torch", "crashed", "engine", "internal"
        self.on_finished: Callable[[FinetuneTask], None] | None = None

    def run(self) -> bool:
        try:
            self._progress(0.0, "Starting the engine" if self.manager.current() is None else "Sending the labels")
            client = self.manager.client()
            log_info(f"fine-tune: {self.job.options()}")
            request = client.request("finetune", options=self.job.options())
            event = follow_request(self.manager, client, request, self._progress, self.isCanceled, "the fine-tune")
            self.report = dict(event.get("summary") or {})
            return True
        except RequestCancelled as exc:
            self.error, self.error_kind = str(exc), "cancelled"
        except EngineNotFound as exc:
            self.error, self.error_kind = str(exc), "no_engine"
        except EngineStopped as exc:
            self.error, self.error_kind = str(exc), "crashed"
        except EngineError as exc:
            self.error = str(exc)
            self.error_kind = NEEDS_TORCH if "fine-tuning needs PyTorch" in self.error else "engine"
        except Exception as exc:  # a bug of ours: the user gets a message, the log the traceback
            log_error(traceback.format_exc())
            self.error, self.error_kind = (
                f"unexpected error in the plugin: {exc} (details in the Sargasses log)",
                "internal",
            )
        if self.isCanceled():
            self.error, self.error_kind = "the fine-tune was cancelled; no model was written", "cancelled"
        return False

    def _progress(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * fraction)
        if message:
            self.message.emit(message)

    def finished(self, result: bool) -> None:  # UI thread
        if self.on_finished is not None:
            self.on_finished(self)


def report_text(report: dict[str, Any]) -> tuple[str, bool]:
    """The fine-tune's outcome in a few lines for the dock, and whether it got worse somewhere (a warning)."""
    lines = [f"New model: {Path(str(report.get('output', ''))).name}"]
    trained = report.get("trained_on") or {}
    if trained:
        lines.append(
            f"Learned from {trained.get('scenes', 0)} scene(s): {trained.get('sargassum', 0)} Sargassum, "
            f"{trained.get('false_positive', 0)} false positive(s), {trained.get('not_sargassum', 0)} not Sargassum, "
            f"{report.get('epochs', '?')} epochs in {float(report.get('seconds', 0.0)):.0f} s on {report.get('device', '?')}"
        )
    for key, what in (("held_back", "your held-back scenes"), ("check_scene", "the synthetic check scene")):
        scores = report.get(key) or {}
        before, after = scores.get("before"), scores.get("after")
        if before and after:
            lines.append(
                f"On {what}: F1 {before['f1']:.3f} → {after['f1']:.3f}, rafts found {before['object_recall']:.2f} → "
                f"{after['object_recall']:.2f}, false-positive pixels {before['false_positive_pixels']} → "
                f"{after['false_positive_pixels']}"
            )
        elif key == "held_back":
            lines.append(str(scores.get("note") or "No held-back scene: label more scenes to measure the change."))
    warnings = [str(w) for w in report.get("warnings") or []]
    lines += [f"⚠ {w}" for w in warnings]
    return "\n".join(lines), bool(warnings)
