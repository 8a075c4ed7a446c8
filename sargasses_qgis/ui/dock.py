"""The Sargasses dock: sections (engine, image, model, bands, area, options, run/results, your coast) assembled,
and a run started from them.

Each section owns its widgets, settings and signals (ui/*_section.py, finetune_box.py); the dock wires them to
the engine: it asks the engine for the card and device in a thread, builds the run's DetectRequest, starts a
DetectionTask and adds its results (results.py). Nothing here blocks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import QObject, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QScrollArea, QVBoxLayout, QWidget

from .. import labelling, settings
from ..band_matching import missing_bands
from ..detect_request import DetectRequest
from ..detection_run import DetectionJob
from ..detection_task import DetectionTask
from ..engine_client import EngineManager, EngineNotFound
from ..log import log_error, log_info, log_warning
from ..model_defaults import DEFAULT_BANDS, DEFAULT_GSD_M
from ..paths import new_run_folder
from ..raster_input import InputError, bands_missing_message, plan_input
from ..results import add_result_layers, summary_text
from . import messages
from .area_section import AreaSection
from .bands_section import BandsSection
from .engine_section import EngineSection
from .export_dialog import export_with_dialog
from .find_scenes_section import FindScenesSection
from .finetune_box import FinetuneBox
from .image_section import ImageSection
from .model_section import ModelSection
from .monitor_section import MonitorSection
from .options_section import OptionsSection
from .run_section import RunSection
from .text import capitalized, error_html, fitting, without_folders


class _Relay(QObject):
    """Carries answers from helper threads to the UI thread (queued signals)."""

    info = pyqtSignal(int, dict)
    failed = pyqtSignal(int, str, str)


class SargassesDock(QgsDockWidget):
    runFinished = pyqtSignal(object)

    def __init__(self, iface, manager: EngineManager, plugin=None, parent=None) -> None:
        super().__init__("Sargasses", parent)
        self.iface = iface
        self.manager = manager
        self.plugin = plugin
        self.setObjectName("SargassesDock")
        self.task: DetectionTask | None = None
        self.engine_info: dict[str, Any] = {}
        self.last_layer: QgsVectorLayer | None = None
        self.last_task: DetectionTask | None = None
        self._info_generation = 0
        self._answered_generation = 0
        self._no_engine_message = None  # the message bar item offering the installer
        self._keep_visible: QWidget | None = None  # shown again after the next card is read
        self._relay = _Relay()
        self._relay.info.connect(self._on_info)
        self._relay.failed.connect(self._on_info_failed)
        self._build()
        self._restore()
        self._connect()
        self._refresh_bands()
        self.refresh_engine()

    # ------------------------------------------------------------------ assembling
    def _build(self) -> None:
        self.engine_box = EngineSection()
        self.image_box = ImageSection(self.iface)
        self.model_box = ModelSection()
        self.bands_box = BandsSection()
        self.area_box = AreaSection(self.iface)
        self.options_box = OptionsSection()
        self.run_box = RunSection()
        self.monitor_box = MonitorSection()
        self.finetune_box = FinetuneBox(self.iface, self.manager, self.model_box.model_path, self.options_box.device)
        self.scenes_box = FindScenesSection(self.iface, self.manager)
        self.scenes_box.connect_runs(self.request, self.options_box.extra_rasters, self.start_job, self.runFinished)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        for section in (self.engine_box, self.image_box, self.model_box, self.bands_box, self.area_box):
            layout.addWidget(section)
        layout.addWidget(self.options_box)
        layout.addWidget(self.finetune_box)
        layout.addWidget(self.scenes_box)
        layout.addWidget(self.monitor_box)
        layout.addStretch(1)
        for combo in body.findChildren(QComboBox):  # long layer names must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # labels wrap instead
        self.scroll.setWidget(body)
        container = QWidget()
        outer = QVBoxLayout(container)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.run_box)  # Run, progress and results below the scrolling sections
        self.setWidget(container)
        self.setMinimumWidth(340)

    def _restore(self) -> None:
        last = settings.last_run_settings()
        self.model_box.restore(last)
        self.options_box.restore(last)

    def _connect(self) -> None:
        self.engine_box.installRequested.connect(self._install)
        self.engine_box.settingsRequested.connect(self._open_settings)
        self.image_box.layerChanged.connect(lambda _layer: self._refresh_bands(force=True))
        self.model_box.changed.connect(self._model_changed)
        self.options_box.deviceChanged.connect(self._request_info)
        self.run_box.runRequested.connect(self.run)
        self.run_box.cancelRequested.connect(self.cancel)
        self.run_box.exportRequested.connect(self.export_last)
        self.finetune_box.modelCreated.connect(self.model_box.add_model)
        self.finetune_box.needsFullEngine.connect(self._offer_full_engine)
        self.finetune_box.finetuneFinished.connect(lambda _task: self._keep_in_view(self.finetune_box.status_label))
        QgsProject.instance().layersWillBeRemoved.connect(self._layers_removed)

    def shutdown(self) -> None:
        """The plugin unloads: stop a run and let go of the project."""
        with contextlib.suppress(TypeError):
            QgsProject.instance().layersWillBeRemoved.disconnect(self._layers_removed)
        if self.task is not None:
            self.task.cancel()
        self.image_box.shutdown()
        self.finetune_box.shutdown()
        self.scenes_box.shutdown()

    # ------------------------------------------------------------------ the request
    def request(self) -> DetectRequest:
        """The run the sections describe now (the area is added when a run starts)."""
        return DetectRequest(
            method=self.model_box.method(),
            device=self.options_box.device(),
            model=self.model_box.model_path(),
            threshold=self.options_box.user_threshold(),
            min_area=self.options_box.user_min_area(),
            sensor=self.image_box.sensor(),
        )

    def model_bands(self) -> tuple[list[str], float]:
        """The bands and resolution the run needs: the card's, else the default model's (docs/reading.md)."""
        card = ((self.engine_info.get("model") or {}).get("card") or {}) if self.model_box.method() == "model" else {}
        return list(card.get("band_names") or DEFAULT_BANDS), float(card.get("gsd_m") or DEFAULT_GSD_M)

    def _refresh_bands(self, force: bool = False) -> None:
        bands, gsd = self.model_bands()
        self.bands_box.refresh(self.image_box.layer(), bands, gsd, force)

    # ------------------------------------------------------------------ running
    def _runnable_layer(self) -> QgsRasterLayer | None:
        """The layer to run on, or None after saying why the run cannot start."""
        layer = self.image_box.layer()
        if layer is None or not layer.isValid():
            self._report("No raster layer: add an image to the project (Layer > Add Raster Layer) and choose it.")
            return None
        problem = self.model_box.missing_model() if self.model_box.method() == "model" else ""
        if problem:
            self._report(problem)
            return None
        mapping, _ = self.bands_box.mapping()
        missing = missing_bands(mapping)
        if missing:
            self._report(bands_missing_message(layer.name(), missing, self.bands_box.sources, self.model_bands()[0]))
            return None
        return layer

    def _job(self, layer: QgsRasterLayer) -> DetectionJob:
        """The run's job: its input plan, the engine's options and its own folder; InputError when it cannot be."""
        mapping, automatic = self.bands_box.mapping()
        area, clip = self.area_box.area(layer)
        canvas_res = self.iface.mapCanvas().mapUnitsPerPixel() if self.iface is not None else None
        plan = plan_input(layer, mapping, automatic, self.model_bands()[1], area, canvas_res)
        request = self.request()
        request.extent = area
        stamp = dt.datetime.now()
        work_dir = new_run_folder(settings.results_dir(), layer.name(), stamp, "layer")
        probabilities, coverage = self.options_box.extra_rasters(work_dir)
        return DetectionJob(
            layer_name=layer.name(),
            plan=plan,
            options=request.detect_options(),
            work_dir=work_dir,
            output=work_dir / "rafts.gpkg",
            probabilities=probabilities,
            coverage=coverage,
            clip=clip,
            clip_crs=layer.crs() if clip is not None else None,
            run_name=f"Sargassum · {layer.name()} · {stamp:%H:%M:%S}",
        )

    def run(self) -> DetectionTask | None:
        """Start a run in the background; errors the user can act on go to the message bar."""
        if self.task is not None:
            return None
        layer = self._runnable_layer()
        if layer is None:
            return None
        try:
            job = self._job(layer)
        except InputError as exc:
            self._report(capitalized(str(exc)))
            return None
        self._save_settings()
        return self.start_job(job, layer.id())

    def start_job(self, job: DetectionJob, layer_id: str = "") -> DetectionTask | None:
        """Run a prepared job (the dock's own, or a STAC item's from Find scenes); its results come as a run's."""
        if self.task is not None:
            return None
        task = DetectionTask(job, self.manager)
        task.layer_id = layer_id
        task.progressChanged.connect(lambda value: self.run_box.progress.setValue(int(value)))
        task.message.connect(self.run_box.status_label.setText)
        task.on_finished = self._finished
        self.task = task
        self.run_box.running(job.plan.description)
        log_info(f"run {job.run_name}: input {job.plan.description}, options {job.options}")
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel(self) -> None:
        if self.task is not None and self.task.cancel_if_running():
            self.run_box.status_label.setText("Cancelling…")

    def _layers_removed(self, layer_ids: list[str]) -> None:
        task = self.task
        if task is not None and getattr(task, "layer_id", None) in layer_ids:
            task.stop_reason = (
                f"The layer {task.job.layer_name!r} was removed from the project during the run, so the run was "
                "stopped. Add the layer again and run."
            )
            task.cancel()

    def _finished(self, task: DetectionTask) -> None:
        self.task = None
        self.last_task = task
        self.run_box.stopped()
        if task.outcome is not None:
            self._add_results(task)
        elif task.error_kind == "cancelled":
            status = self.run_box
            status.progress.setValue(0)
            status.status_label.setText(capitalized(task.error) if task.error else "Cancelled.")
            level = Qgis.MessageLevel.Warning if task.stop_reason else Qgis.MessageLevel.Info
            self._message(status.status_label.text(), level, 0 if task.stop_reason else 5)
            if task.stop_reason:
                log_warning(task.stop_reason)
        else:
            self._report(capitalized(task.error), kind=task.error_kind)
        self.runFinished.emit(task)

    def _add_results(self, task: DetectionTask) -> None:
        """The run's layers in the project, its summary in the dock and the message bar."""
        try:
            group, rafts, _ = add_result_layers(task.outcome, task.job.run_name)
        except Exception as exc:
            log_error(f"adding the result layers failed: {exc}")
            self._report(f"The run finished but its layers could not be added: {exc}")
            return
        self.last_layer = rafts
        self.run_box.shore_toggle.show_layer(rafts)
        raster = QgsProject.instance().mapLayer(getattr(task, "layer_id", ""))
        labelling.remember_detection(rafts, task.outcome.summary, task.job, raster)
        device = (self.engine_info.get("device") or {}).get("name", "")
        text = summary_text(task.outcome, device if task.outcome.summary.get("device") in (None, "") else "")
        self.run_box.progress.setValue(100)
        self.run_box.status_label.setText(f"{text}. Layer group “{group.name()}”.")
        log_info(f"run {task.job.run_name}: {text}; summary {task.outcome.summary}")
        if task.outcome.warnings:  # the rafts are there, but the input gave reasons to doubt them
            for warning in task.outcome.warnings:
                log_warning(warning)
            label = self.run_box.status_label
            label.setText(f"{label.text()} Warning: {' '.join(task.outcome.warnings)}")
            first = task.outcome.warnings[0]
            head = f"{text}. Warning: "
            short = head + fitting(without_folders(first), max(60, messages.FITS - len(head)))
            messages.push(self.iface, head + first, Qgis.MessageLevel.Warning, 0, short)
        else:
            self._message(f"{text}.", Qgis.MessageLevel.Success, 8)
        self.run_box.enable_exports()
        self._count_run()

    def _count_run(self) -> None:
        """After a run: the engine's run count changed; the card did not."""
        if self.manager.current() is not None and self.engine_info:
            self.engine_info["runs"] = int(self.engine_info.get("runs", 0)) + 1
            self.engine_box.show_engine(self.engine_info)

    # ------------------------------------------------------------------ engine and model card
    def _model_changed(self) -> None:
        self.options_box.forget_threshold()  # another model or index: its own threshold
        self._request_info()

    def refresh_engine(self) -> None:
        """Look for the engine again (after settings or an install) and ask it for the card and device."""
        self.engine_box.problem = ""
        self._request_info()

    @property
    def engine_problem(self) -> str:
        return self.engine_box.problem

    def _request_info(self) -> None:
        """Ask the engine, in a thread, what model card and device a run would use; the answer comes as a signal."""
        self._info_generation += 1
        generation = self._info_generation
        if self.model_box.model_choice() == "file" and not self.model_box.model_path():
            self.model_box.show_text("<i>Choose a model file.</i>")
            return
        request = self.request()
        if request.method == "model" and request.model_file() is None:
            request.method = "afai"  # no bundled model: still ask for the device
        options = request.info_options()
        self.model_box.show_text("<i>Reading the model card…</i>")
        self.options_box.show_device({})

        def work() -> None:
            try:
                client = self.manager.client()
                self._relay.info.emit(generation, client.call("info", timeout=180.0, asker="dock", **options))
            except EngineNotFound as exc:
                self._relay.failed.emit(generation, "no_engine", str(exc))
            except Exception as exc:
                self._relay.failed.emit(generation, "engine", str(exc))

        threading.Thread(target=work, name="sargasses-info", daemon=True).start()

    @property
    def info_pending(self) -> bool:
        """The engine has not answered the last question about the model and device yet."""
        return self._answered_generation != self._info_generation

    def _on_info(self, generation: int, info: dict) -> None:
        if generation != self._info_generation:
            return  # an answer to an older question
        self._answered_generation = generation
        self.engine_info = info
        messages.pop(self.iface, self._no_engine_message)  # an engine answers: the offer to install is stale
        self._no_engine_message = None
        self.engine_box.show_engine(info)
        self.options_box.show_device(info.get("device") or {})
        self.model_box.show_card(info)
        self.options_box.show_default_threshold(info.get("threshold"))
        self._refresh_bands()
        self._relayout()

    def _on_info_failed(self, generation: int, kind: str, message: str) -> None:
        if generation != self._info_generation:
            return
        self._answered_generation = generation
        self.engine_info = {}
        if kind == "no_engine":
            self.engine_box.show_no_engine(message)
            self.model_box.show_text("<i>The model card is shown once the engine is set up.</i>")
        else:
            self.model_box.show_text(error_html(message))
        self._refresh_bands()
        self._relayout()

    def _relayout(self) -> None:
        """A card or status of another height: the sections get their new heights now, not at the next resize
        (the card was cut mid-line until a dialog closed), and what the user was reading stays in view."""
        position = self.scroll.verticalScrollBar().value()
        self.model_box.card_label.updateGeometry()
        self.scroll.widget().layout().activate()
        keep, self._keep_visible = self._keep_visible, None

        def restore() -> None:
            self.scroll.verticalScrollBar().setValue(position)
            if keep is not None:  # a fine-tune's result: its new model's card moved it
                self.scroll.ensureWidgetVisible(keep)

        QTimer.singleShot(100, restore)  # once Qt has laid the taller card out (a posted layout request)

    def _keep_in_view(self, widget: QWidget) -> None:
        """Show `widget` now, and again once the sections changed height (a new model chosen, its card read)."""
        self._keep_visible = widget
        QTimer.singleShot(0, lambda: self.scroll.ensureWidgetVisible(widget))

    # ------------------------------------------------------------------ messages and export
    def _report(self, message: str, kind: str = "") -> None:
        """An error the user can act on: in the dock, the message bar and the log."""
        log_warning(message)
        if kind == "no_engine":
            # Once each: the engine line says it is not set up and what to do, the message bar offers the
            # installer, the status line says which candidates were tried (the log has it all).
            self.engine_box.show_no_engine(message)
            tried = [line for line in message.splitlines()[1:-1] if line.strip()]
            self.run_box.show_error("Not run: " + ("; ".join(tried) + "." if tried else "no detection engine."))
            messages.pop(self.iface, self._no_engine_message)
            self._no_engine_message = messages.push_with_button(
                self.iface,
                message.splitlines()[0],
                "Install detection engine…",
                self._install,
                Qgis.MessageLevel.Critical,
            )
            return
        self.run_box.show_error(message)
        if kind == "crashed":
            self._request_info()  # shows that a new engine starts
        critical = kind in ("crashed", "internal")
        self._message(message, Qgis.MessageLevel.Critical if critical else Qgis.MessageLevel.Warning, 0)

    def _message(self, text: str, level, duration: int) -> None:
        messages.push(self.iface, text, level, duration)

    def export_last(self, kind: str):
        layer = self.last_layer
        try:
            valid = layer is not None and layer.isValid() and QgsProject.instance().mapLayer(layer.id()) is not None
        except RuntimeError:  # the layer was deleted
            valid = False
        if not valid:
            self._report("The last result layer is no longer in the project; run again, or export from its layer.")
            return None
        return export_with_dialog(self.iface, layer, kind)

    def _install(self) -> None:
        if self.plugin is not None:
            self.plugin.show_installer()

    def _offer_full_engine(self) -> None:
        if self.plugin is not None:
            self.plugin.show_installer(full=True)

    def _open_settings(self) -> None:
        if self.plugin is not None:
            self.plugin.show_settings()

    def _save_settings(self) -> None:
        values = {"model_choice": self.model_box.model_choice(), "model_path": self.model_box.model_file.filePath()}
        settings.save_run_settings({**values, **self.options_box.values()})
