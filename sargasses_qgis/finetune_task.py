"""A fine-tune as a QgsTask: the engine learns from the user's labels in the background, with progress per epoch
and Cancel; QGIS stays responsive. The engine's `finetune` request is described in docs/engine_protocol.md."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine_client import EngineManager, follow_request
from .engine_task import EngineTask
from .log import log_info

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


class FinetuneTask(EngineTask):
    """`report` is the engine's fine-tune report on success; otherwise `error` (for people) and `error_kind`
    ("needs_torch": a light engine, besides EngineTask's kinds)."""

    def __init__(self, job: FinetuneJob, manager: EngineManager) -> None:
        super().__init__(f"Sargasses: fine-tuning on {job.labels.name}", manager)
        self.job = job
        self.report: dict[str, Any] | None = None

    def work(self) -> None:
        self._progress(0.0, "Starting the engine" if self.manager.current() is None else "Sending the labels")
        client = self.manager.client()
        log_info(f"fine-tune: {self.job.options()}")
        request = client.request("finetune", options=self.job.options(), asker="dock")
        event = follow_request(self.manager, client, request, self._progress, self.isCanceled, "the fine-tune")
        self.report = dict(event.get("summary") or {})

    def cancelled_text(self) -> str:
        return "the fine-tune was cancelled; no model was written"

    def classify(self, exc: Exception) -> tuple[str, str]:
        message, kind = super().classify(exc)
        if kind == "engine" and "fine-tuning needs PyTorch" in message:
            return message, NEEDS_TORCH
        return message, kind


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
