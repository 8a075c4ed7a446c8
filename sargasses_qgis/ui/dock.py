"""The Sargasses dock: choose an image, a model, bands and an area, run, and get the rafts back as a layer.

Widgets and their wiring only. What the engine reads is planned by raster_input.py, the run is a DetectionTask,
results are added by results.py. Nothing here blocks: the engine is asked for its card and device in a thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsDoubleSpinBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QObject, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import labelling, settings
from ..band_matching import BandSource, auto_mapping, missing_bands, sen3_folder
from ..detection_run import DetectionJob
from ..detection_task import DetectionTask
from ..engine_client import EngineManager, EngineNotFound
from ..log import log_error, log_info, log_warning
from ..model_defaults import DEFAULT_BANDS, DEFAULT_GSD_M
from ..paths import bundled_model
from ..raster_input import InputError, bands_missing_message, layer_band_sources, plan_input, product_band_sources
from ..results import RESULT_PROPERTY, add_result_layers, summary_text
from .export_dialog import export_with_dialog
from .finetune_box import FinetuneBox

MODEL_CHOICES = [
    ("Bundled default model", "default"),
    ("Model file…", "file"),
    ("AFAI index (no model, baseline)", "afai"),
    ("FAI index (no model, baseline)", "fai"),
]
AREA_CHOICES = [
    ("Whole layer", "layer"),
    ("Current map extent", "canvas"),
    ("Selected polygons of a layer", "polygons"),
]
DEVICE_CHOICES = [("Auto", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple GPU (MPS)", "mps")]
MISSING = "— missing —"
FINETUNED = "finetuned:"  # model list data of a fine-tuned model: the prefix, then its path


_SCORE_NAMES = (("f1", "F1"), ("precision", "precision"), ("recall", "recall"), ("object_recall", "rafts found"))


def _scores_text(metrics: dict) -> str:
    """A card's scores in one line a person reads: the test figures when the card has them, else its flat numbers."""
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else None
    if test:
        parts = [f"{label} {test[key]:.3f}" for key, label in _SCORE_NAMES if isinstance(test.get(key), float)]
        return "on its test scenes: " + ", ".join(parts) if parts else "none given"
    parts = [f"{key} {value:.3g}" for key, value in metrics.items() if isinstance(value, (int, float))]
    return ", ".join(parts[:4]) or "none given"


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
        self.engine_problem = ""
        self.last_layer: QgsVectorLayer | None = None
        self.last_task: DetectionTask | None = None
        self._info_generation = 0
        self._answered_generation = 0
        self._bands_key: tuple = ()
        self._sources: list[BandSource] = []
        self._auto: dict[str, BandSource | None] = {}
        self._relay = _Relay()
        self._relay.info.connect(self._on_info)
        self._relay.failed.connect(self._on_info_failed)
        self._build()
        self._restore()
        self._connect()
        self._refresh_bands()
        self.refresh_engine()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)

        # The engine: what runs the model, or why nothing can yet.
        self.engine_label = QLabel("Looking for the detection engine…")
        self.engine_label.setWordWrap(True)
        self.engine_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = QPushButton("Install detection engine…")
        self.install_button.setVisible(False)
        self.install_button.clicked.connect(self._install)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("sargassesSettingsButton")
        self.settings_button.setIcon(QgsApplication.getThemeIcon("/mActionOptions.svg"))
        self.settings_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.settings_button.setAutoRaise(True)
        self.settings_button.setToolTip("Sargasses settings (engine, results folder)")
        self.settings_button.clicked.connect(self._open_settings)
        engine_row = QHBoxLayout()
        engine_row.addWidget(self.engine_label, 1)
        engine_row.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(engine_row)
        layout.addWidget(self.install_button)

        image = QGroupBox("Image")
        form = QFormLayout(image)
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setToolTip("The image to search: any raster layer of the project")
        form.addRow("Raster layer", self.layer_combo)
        layout.addWidget(image)

        model = QGroupBox("Model")
        form = QFormLayout(model)
        self.model_combo = QComboBox()
        for label, value in MODEL_CHOICES:
            self.model_combo.addItem(label, value)
        for path in reversed(settings.finetuned_models()):  # inserted at the top each: newest first
            self._add_model_item(path)
        self.model_file = QgsFileWidget()
        self.model_file.setFilter("sargasses model (*.sargasses);;old sargasses model, full engine only (*.pt)")
        self.model_file.setVisible(False)
        self.card_label = QLabel("")
        self.card_label.setWordWrap(True)
        self.card_label.setTextFormat(Qt.TextFormat.RichText)
        self.card_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        form.addRow("Model", self.model_combo)
        form.addRow("", self.model_file)
        form.addRow(self.card_label)
        layout.addWidget(model)

        self.bands_box = QgsCollapsibleGroupBox("Bands")
        self.bands_box.setSaveCollapsedState(False)
        bands_layout = QVBoxLayout(self.bands_box)
        self.bands_note = QLabel("")
        self.bands_note.setWordWrap(True)
        self.band_table = QTableWidget(0, 2)
        self.band_table.setHorizontalHeaderLabels(["Model band", "Source in the image"])
        self.band_table.verticalHeader().setVisible(False)
        self.band_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.band_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.band_table.setMinimumHeight(120)
        bands_layout.addWidget(self.bands_note)
        bands_layout.addWidget(self.band_table)
        layout.addWidget(self.bands_box)

        area = QGroupBox("Area")
        form = QFormLayout(area)
        self.area_combo = QComboBox()
        for label, value in AREA_CHOICES:
            self.area_combo.addItem(label, value)
        self.polygon_combo = QgsMapLayerComboBox()
        self.polygon_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.polygon_combo.setAllowEmptyLayer(True)  # no layer until "Selected polygons" is chosen
        self.polygon_combo.setLayer(None)
        self.polygon_combo.setEnabled(False)
        self.polygon_combo.setToolTip("Only the selected polygons of this layer are searched")
        form.addRow("Search", self.area_combo)
        form.addRow("Polygons", self.polygon_combo)
        layout.addWidget(area)

        options = QGroupBox("Detection")
        form = QFormLayout(options)
        self.threshold = QgsDoubleSpinBox()
        self.threshold.setRange(0.001, 0.999)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(3)
        self.threshold.setShowClearButton(True)
        self.threshold.setToolTip(
            "Probability above which a pixel is Sargassum (for AFAI / FAI: the index height). It shows the "
            "model card's threshold, picked on validation, until you change it; the clear button puts it back."
        )
        self._default_threshold: float | None = None  # the model's (or index's) own, once the engine has said
        self._custom_threshold = False
        self.min_area = QgsDoubleSpinBox()
        self.min_area.setRange(0.0, 1e9)
        self.min_area.setDecimals(0)
        self.min_area.setSingleStep(100.0)
        self.min_area.setSuffix(" m²")
        self.min_area.setClearValue(0.0)
        self.min_area.setSpecialValueText("3 pixels (default)")
        self.min_area.setToolTip(
            "Smaller rafts are dropped. The default, 3 pixels (1200 m² at 20 m), is the smallest raft the model's "
            "scores count; type 1 m² to keep every detection."
        )
        self.device_combo = QComboBox()
        for label, value in DEVICE_CHOICES:
            self.device_combo.addItem(label, value)
        self.device_label = QLabel("")
        self.device_label.setWordWrap(True)  # a GPU's name can be long
        self.probabilities_check = QCheckBox("Add the probability raster")
        self.probabilities_check.setToolTip("Also add the per-pixel probability, with a colour ramp")
        self.coverage_check = QCheckBox("Add the fractional cover raster")
        self.coverage_check.setToolTip(
            "Also add the share of each pixel the rafts cover (0-1), and their covered area in km²: at 300 m (OLCI) "
            "a raft rarely fills a pixel, so the polygons' area overstates it"
        )
        form.addRow("Threshold", self.threshold)
        form.addRow("Minimum area", self.min_area)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)  # what Auto will use, under the choice: the dock stays narrow
        form.addRow(self.probabilities_check)
        form.addRow(self.coverage_check)
        layout.addWidget(options)

        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("sargassesRunButton")
        self.run_button.setIcon(QgsApplication.getThemeIcon("/mActionStart.svg"))
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        # Run, progress and results stay in a footer below the scrolling options: visible on any screen height.
        footer_widget = QWidget()
        footer = QVBoxLayout(footer_widget)
        footer.setContentsMargins(9, 0, 9, 6)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        footer.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        footer.addWidget(self.progress)
        footer.addWidget(self.status_label)

        results = QGroupBox("Results")
        results_layout = QHBoxLayout(results)
        self.export_shp_button = QPushButton("Export SHP…")
        self.export_shp_button.setToolTip("Export the last result to a shapefile")
        self.export_gpkg_button = QPushButton("Export GPKG…")
        self.export_gpkg_button.setToolTip("Export the last result to a GeoPackage")
        for button in (self.export_shp_button, self.export_gpkg_button):  # text only: both fit in a narrow dock
            button.setEnabled(False)
            results_layout.addWidget(button)
        footer.addWidget(results)
        self.finetune_box = FinetuneBox(
            self.iface, self.manager, self.model_path, lambda: str(self.device_combo.currentData()), self.plugin
        )
        self.finetune_box.modelCreated.connect(self.add_model)
        layout.addWidget(self.finetune_box)
        layout.addStretch(1)

        for combo in body.findChildren(QComboBox):  # long layer names must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # labels wrap to the dock's width
        scroll.setWidget(body)
        container = QWidget()
        outer = QVBoxLayout(container)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(scroll, 1)
        outer.addWidget(footer_widget)
        self.setWidget(container)
        self.setMinimumWidth(340)

    def _restore(self) -> None:
        last = settings.last_run_settings()
        index = self.model_combo.findData(last["model_choice"])
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_file.setFilePath(last["model_path"])
        self.model_file.setVisible(self.model_choice() == "file")
        if last["threshold"] > 0:  # the user's own threshold of the last run; 0: the model's
            self.threshold.setValue(last["threshold"])
            self._custom_threshold = True
        self.min_area.setValue(last["min_area"])
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(last["device"])))
        self.probabilities_check.setChecked(last["probabilities"])
        self.coverage_check.setChecked(last["coverage"])
        active = self.iface.activeLayer() if self.iface is not None else None
        if isinstance(active, QgsRasterLayer):
            self.layer_combo.setLayer(active)
        elif self.layer_combo.count() > 1:
            self.layer_combo.setCurrentIndex(1)  # the first raster layer rather than none

    def _connect(self) -> None:
        self.layer_combo.layerChanged.connect(lambda _layer: self._refresh_bands(force=True))
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.model_file.fileChanged.connect(lambda _path: self._request_info())
        self.threshold.valueChanged.connect(self._threshold_edited)
        self.device_combo.currentIndexChanged.connect(lambda _i: self._request_info())
        self.area_combo.currentIndexChanged.connect(self._area_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_shp_button.clicked.connect(lambda: self.export_last("shp"))
        self.export_gpkg_button.clicked.connect(lambda: self.export_last("gpkg"))
        QgsProject.instance().layersWillBeRemoved.connect(self._layers_removed)

    def _area_changed(self) -> None:
        polygons = self.area_combo.currentData() == "polygons"
        self.polygon_combo.setEnabled(polygons)
        current = self.polygon_combo.currentLayer()
        if polygons and (current is None or _is_result(current)):
            self.polygon_combo.setLayer(self._likely_area_layer())

    def _likely_area_layer(self) -> QgsVectorLayer | None:
        """The polygon layer the user most likely means: the active one, else one with a selection; never one of
        this plugin's result layers (rafts are what a run finds, not where it looks)."""
        candidates = [
            self.polygon_combo.layer(i)
            for i in range(self.polygon_combo.count())
            if isinstance(self.polygon_combo.layer(i), QgsVectorLayer) and not _is_result(self.polygon_combo.layer(i))
        ]
        active = self.iface.activeLayer() if self.iface is not None else None
        for layer in candidates:
            if layer is active:
                return layer
        selected = [layer for layer in candidates if layer.selectedFeatureCount()]
        return (selected or candidates or [None])[0]

    def shutdown(self) -> None:
        """The plugin unloads: stop a run and let go of the project."""
        with contextlib.suppress(TypeError):
            QgsProject.instance().layersWillBeRemoved.disconnect(self._layers_removed)
        if self.task is not None:
            self.task.cancel()
        self.finetune_box.shutdown()

    # ------------------------------------------------------------------ engine and model card
    def model_choice(self) -> str:
        return str(self.model_combo.currentData())

    def method(self) -> str:
        choice = self.model_choice()
        return choice if choice in ("afai", "fai") else "model"

    def _add_model_item(self, path: str) -> int:
        """A fine-tuned model in the list, after the bundled one; its index."""
        index = self.model_combo.findData(f"{FINETUNED}{path}")
        if index < 0:
            index = 1
            self.model_combo.insertItem(index, f"Fine-tuned: {Path(path).stem}", f"{FINETUNED}{path}")
            self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def add_model(self, path: str) -> None:
        """A model just fine-tuned: remembered, listed and chosen (the one it came from stays in the list)."""
        settings.add_finetuned_model(path)
        self.model_combo.setCurrentIndex(self._add_model_item(path))

    def model_path(self) -> str | None:
        """The model file to give the engine; None: the engine's default (or no model for the indexes)."""
        if self.model_choice().startswith(FINETUNED):
            return self.model_choice()[len(FINETUNED) :]
        if self.model_choice() == "file":
            return self.model_file.filePath().strip() or None
        if self.model_choice() == "default" and bundled_model() is not None:
            return str(bundled_model())
        return None

    def _model_changed(self) -> None:
        self.model_file.setVisible(self.model_choice() == "file")
        self._custom_threshold = False  # another model or index: its own threshold
        self._request_info()

    def _threshold_edited(self, value: float) -> None:
        default = self._default_threshold
        self._custom_threshold = default is None or abs(value - default) > 5e-4

    def _show_default_threshold(self, threshold: float | None) -> None:
        """The model's (or index's) own threshold in the field, unless the user has typed another."""
        self._default_threshold = threshold
        if threshold is None:
            return
        self.threshold.setClearValue(threshold)
        if not self._custom_threshold:
            self.threshold.blockSignals(True)
            self.threshold.setValue(threshold)
            self.threshold.blockSignals(False)

    def refresh_engine(self) -> None:
        """Look for the engine again (after settings or an install) and ask it for the card and device."""
        self.engine_problem = ""
        self._request_info()

    def _request_info(self) -> None:
        """Ask the engine, in a thread, what model card and device a run would use; the answer comes as a signal."""
        self._info_generation += 1
        generation = self._info_generation
        request = {"method": self.method(), "device": str(self.device_combo.currentData())}
        if self.model_path():
            request["model"] = self.model_path()
        if self.model_choice() == "file" and not self.model_path():
            self.card_label.setText("<i>Choose a model file.</i>")
            return
        if self.model_choice() == "default" and bundled_model() is None:
            request["method"] = "afai"  # still ask for the device
            self._no_bundled_model = True
        else:
            self._no_bundled_model = False
        self.card_label.setText("<i>Reading the model card…</i>")
        self.device_label.setText("")

        def work() -> None:
            try:
                client = self.manager.client()
                self._relay.info.emit(generation, client.call("info", timeout=180.0, **request))
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
        self.engine_problem = ""
        self.install_button.setVisible(False)
        device = info.get("device") or {}
        self._show_engine(info)
        self.engine_label.setToolTip(str(info.get("executable", "")))
        self.device_label.setText(f"→ {device.get('name', device.get('type', '?'))}")
        self.card_label.setText(self._card_html(info))
        trained_on = str(((info.get("model") or {}).get("card") or {}).get("trained_on") or "")
        self.card_label.setToolTip(f"Trained on: {trained_on}" if trained_on and self.method() == "model" else "")
        self._show_default_threshold(info.get("threshold"))
        self._refresh_bands()

    def _on_info_failed(self, generation: int, kind: str, message: str) -> None:
        if generation != self._info_generation:
            return
        self._answered_generation = generation
        self.engine_info = {}
        if kind == "no_engine":
            self._show_no_engine(message)
            self.card_label.setText("<i>The model card is shown once the engine is set up.</i>")
        else:
            self.card_label.setText(f"<span style='color:#b00020'>{_html(message)}</span>")
        self._refresh_bands()

    def _show_no_engine(self, message: str) -> None:
        """The engine line: not set up, and what to do (with the install button under it)."""
        self.engine_problem = message
        self.engine_label.setText("<b>The detection engine is not set up.</b> " + _html(message.splitlines()[-1]))
        self.engine_label.setToolTip(message)
        self.install_button.setVisible(True)

    def _card_html(self, info: dict) -> str:
        if self.method() == "model" and getattr(self, "_no_bundled_model", False):
            return (
                "<span style='color:#b00020'>This copy of the plugin has no bundled model. "
                "Choose a model file, or an index (AFAI, FAI).</span>"
            )
        if self.method() != "model":
            name = self.method().upper()
            return (
                f"<b>{name}</b> spectral index with a fixed threshold: no model, no training; "
                "a baseline to compare the model with."
            )
        if info.get("model_error"):
            return f"<span style='color:#b00020'>{_html(info['model_error'])}</span>"
        card = (info.get("model") or {}).get("card") or {}
        rows = [
            ("Model", f"{card.get('name', '?')} {card.get('version', '')}"),
            ("Sensor", ", ".join([str(card.get("sensor", "?")), *(card.get("accepted_sensors") or [])])),
            ("Threshold", f"{card.get('threshold', '?')} (picked on validation scenes)"),
            ("Bands", ", ".join(card.get("band_names") or [])),
            ("Resolution", f"{card.get('gsd_m', '?')} m"),
            ("Trained on", _in_short(str(card.get("trained_on") or "not said"))),
            ("Scores", _scores_text(card.get("metrics") or {})),
        ]
        cells = "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{_html(v)}</td></tr>" for k, v in rows)
        return f"<table>{cells}</table>"

    def model_bands(self) -> tuple[list[str], float]:
        """The bands and resolution the run needs: the card's, else the default model's (docs/reading.md)."""
        card = ((self.engine_info.get("model") or {}).get("card") or {}) if self.method() == "model" else {}
        return list(card.get("band_names") or DEFAULT_BANDS), float(card.get("gsd_m") or DEFAULT_GSD_M)

    # ------------------------------------------------------------------ bands
    def _refresh_bands(self, force: bool = False) -> None:
        """Match the model's bands to the layer's (or to its Sentinel-2 product's files), editable in the table.

        Kept as the user edited it unless the layer or the bands the model needs change.
        """
        layer = self.layer_combo.currentLayer()
        bands, gsd = self.model_bands()
        key = (layer.id() if layer is not None else "", tuple(bands), gsd)
        if key == self._bands_key and not force:
            return
        self._bands_key = key
        self.band_table.setRowCount(0)
        self._sources, self._auto = [], {}
        if not isinstance(layer, QgsRasterLayer):
            self.bands_note.setText("Choose a raster layer.")
            return
        product = product_band_sources(layer, gsd)
        self._sources = product or layer_band_sources(layer)
        self._auto = auto_mapping(bands, self._sources)
        self.band_table.setRowCount(len(bands))
        for row, band in enumerate(bands):
            name = QLabel(f"  {band}  ")
            self.band_table.setCellWidget(row, 0, name)
            combo = QComboBox()
            combo.addItem(MISSING, -1)
            for index, source in enumerate(self._sources):
                combo.addItem(source.label, index)
            chosen = self._auto.get(band)
            if chosen is not None:
                combo.setCurrentIndex(combo.findData(self._sources.index(chosen)))
            combo.currentIndexChanged.connect(lambda _i: self._update_bands_note())
            self.band_table.setCellWidget(row, 1, combo)
        self._update_bands_note(product=bool(product))

    def _update_bands_note(self, product: bool | None = None) -> None:
        mapping, automatic = self.mapping()
        missing = missing_bands(mapping)
        if missing:
            text = f"<span style='color:#b00020'>Missing: {', '.join(missing)}. Choose a source for each band.</span>"
            self.bands_box.setCollapsed(False)
        else:
            files = {s.path for s in mapping.values() if s is not None}
            mission = "Sentinel-3" if any(sen3_folder(f) for f in files) else "Sentinel-2"
            where = f" from {len(files)} files of the same {mission} product" if len(files) > 1 else ""
            text = f"All {len(mapping)} bands found{where}" + ("." if automatic else ", as you chose.")
            self.bands_box.setCollapsed(automatic)
        self.bands_note.setText(text)

    def mapping(self) -> tuple[dict[str, BandSource | None], bool]:
        """(model band -> chosen source, whether it is the automatic match)."""
        bands, _ = self.model_bands()
        mapping: dict[str, BandSource | None] = {}
        for row, band in enumerate(bands[: self.band_table.rowCount()]):
            combo = self.band_table.cellWidget(row, 1)
            index = combo.currentData() if combo is not None else -1
            mapping[band] = self._sources[index] if index is not None and index >= 0 else None
        return mapping, mapping == self._auto

    def set_band_source(self, band: str, label: str) -> None:
        """Choose the source of `band` by its label (for scripts and tests, like a user would in the table)."""
        bands, _ = self.model_bands()
        combo = self.band_table.cellWidget(bands.index(band), 1)
        combo.setCurrentIndex(combo.findText(label))

    # ------------------------------------------------------------------ running
    def _area(self, layer: QgsRasterLayer) -> tuple[QgsRectangle | None, QgsGeometry | None]:
        """The area to search in the layer's CRS, and the polygons to keep rafts in (None: all)."""
        choice = self.area_combo.currentData()
        project = QgsProject.instance()
        if choice == "layer":
            return None, None
        if choice == "canvas":
            canvas = self.iface.mapCanvas()
            to_layer = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), project)
            extent = to_layer.transformBoundingBox(canvas.extent()).intersect(layer.extent())
            if extent.isEmpty():
                raise InputError(
                    "the map view does not show any part of the layer; pan to it or search the whole layer"
                )
            return extent, None
        polygons = self.polygon_combo.currentLayer()
        if not isinstance(polygons, QgsVectorLayer):
            raise InputError("choose the polygon layer whose selected polygons bound the search")
        selected = [f.geometry() for f in polygons.selectedFeatures() if f.hasGeometry()]
        if not selected:
            raise InputError(
                f"no polygon of {polygons.name()!r} is selected; select the areas to search, or search the whole layer"
            )
        area = QgsGeometry.unaryUnion(selected)
        area.transform(QgsCoordinateTransform(polygons.crs(), layer.crs(), project))
        extent = area.boundingBox().intersect(layer.extent())
        if extent.isEmpty():
            raise InputError(f"the selected polygons of {polygons.name()!r} do not overlap the layer")
        return extent, area

    def run(self) -> DetectionTask | None:
        """Start a run in the background; errors the user can act on go to the message bar."""
        if self.task is not None:
            return None
        layer = self.layer_combo.currentLayer()
        if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
            self._report("No raster layer: add an image to the project (Layer > Add Raster Layer) and choose it.")
            return None
        if self.method() == "model" and self.model_choice() == "file" and not self.model_path():
            self._report("No model file: choose one, or use the bundled default model.")
            return None
        if self.model_choice() == "default" and bundled_model() is None:
            self._report("This copy of the plugin has no bundled model: choose a model file, or an index (AFAI, FAI).")
            return None
        mapping, automatic = self.mapping()
        missing = missing_bands(mapping)
        bands, gsd = self.model_bands()
        if missing:
            self._report(bands_missing_message(layer.name(), missing, self._sources, bands))
            return None
        try:
            area, clip = self._area(layer)
            canvas_res = self.iface.mapCanvas().mapUnitsPerPixel() if self.iface is not None else None
            plan = plan_input(layer, mapping, automatic, gsd, area, canvas_res)
        except InputError as exc:
            self._report(str(exc)[0].upper() + str(exc)[1:])
            return None
        self._save_settings()
        stamp = dt.datetime.now()
        slug = re.sub(r"[^0-9A-Za-z_-]+", "_", layer.name()).strip("_")[:40] or "layer"
        work_dir = _new_folder(settings.results_dir(), f"{stamp:%Y%m%d_%H%M%S}_{slug}")
        options: dict[str, Any] = {
            "method": self.method(),
            "device": str(self.device_combo.currentData()),
        }
        if self.min_area.value() > 0:  # 0 shows "3 pixels (default)": the engine's own minimum
            options["min_area"] = float(self.min_area.value())
        if self.method() == "model" and self.model_path():
            options["model"] = self.model_path()
        if self._custom_threshold:
            options["threshold"] = float(self.threshold.value())
        if area is not None:
            options["extent"] = [area.xMinimum(), area.yMinimum(), area.xMaximum(), area.yMaximum()]
        job = DetectionJob(
            layer_name=layer.name(),
            plan=plan,
            options=options,
            work_dir=work_dir,
            output=work_dir / "rafts.gpkg",
            probabilities=work_dir / "probabilities.tif" if self.probabilities_check.isChecked() else None,
            coverage=work_dir / "coverage.tif" if self.coverage_check.isChecked() else None,
            clip=clip,
            clip_crs=layer.crs() if clip is not None else None,
            run_name=f"Sargassum · {layer.name()} · {stamp:%H:%M:%S}",
        )
        task = DetectionTask(job, self.manager)
        task.layer_id = layer.id()
        task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        task.message.connect(self.status_label.setText)
        task.on_finished = self._finished
        self.task = task
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status_label.setText(f"Starting: {plan.description}")
        log_info(f"run {job.run_name}: input {plan.description}, options {options}")
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel(self) -> None:
        if self.task is not None and self.task.cancel_if_running():
            self.status_label.setText("Cancelling…")

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
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if task.outcome is not None:
            try:
                group, rafts, _ = add_result_layers(task.outcome, task.job.run_name)
            except Exception as exc:
                log_error(f"adding the result layers failed: {exc}")
                self._report(f"The run finished but its layers could not be added: {exc}")
            else:
                self.last_layer = rafts
                raster = QgsProject.instance().mapLayer(getattr(task, "layer_id", ""))
                labelling.remember_detection(rafts, task.outcome.summary, task.job, raster)
                device = (self.engine_info.get("device") or {}).get("name", "")
                text = summary_text(task.outcome, device if task.outcome.summary.get("device") in (None, "") else "")
                self.progress.setValue(100)
                self.status_label.setText(f"{text}. Layer group “{group.name()}”.")
                log_info(f"run {task.job.run_name}: {text}; summary {task.outcome.summary}")
                if task.outcome.warnings:  # the rafts are there, but the input gave reasons to doubt them
                    for warning in task.outcome.warnings:
                        log_warning(warning)
                    self.status_label.setText(f"{self.status_label.text()} Warning: {' '.join(task.outcome.warnings)}")
                    self._message(f"{text}. Warning: {task.outcome.warnings[0]}", Qgis.MessageLevel.Warning, 0)
                else:
                    self._message(f"{text}.", Qgis.MessageLevel.Success, 8)
                for button in (self.export_shp_button, self.export_gpkg_button):
                    button.setEnabled(True)
                self._request_info_quietly()
        elif task.error_kind == "cancelled":
            self.progress.setValue(0)
            self.status_label.setText(task.error[0].upper() + task.error[1:] if task.error else "Cancelled.")
            level = Qgis.MessageLevel.Warning if task.stop_reason else Qgis.MessageLevel.Info
            self._message(self.status_label.text(), level, 0 if task.stop_reason else 5)
            if task.stop_reason:
                log_warning(task.stop_reason)
        else:
            self.progress.setValue(0)
            self._report(task.error[0].upper() + task.error[1:], kind=task.error_kind)
        self.runFinished.emit(task)

    def _request_info_quietly(self) -> None:
        """After a run: the engine's run count changed; the card did not."""
        client = self.manager.current()
        if client is not None and self.engine_info:
            self.engine_info["runs"] = int(self.engine_info.get("runs", 0)) + 1
            self._show_engine(self.engine_info)

    def _show_engine(self, info: dict) -> None:
        runs = int(info.get("runs", 0))
        warm = f" · {runs} run{'s' if runs != 1 else ''}, kept warm" if runs else " · ready"
        self.engine_label.setText(f"Engine: sargasses {info.get('version')} (Python {info.get('python')}){warm}")

    # ------------------------------------------------------------------ messages and export
    def _report(self, message: str, kind: str = "") -> None:
        """An error the user can act on: in the dock, the message bar and the log."""
        self.progress.setValue(0)  # not the 100 % of an earlier run beside this error
        log_warning(message)
        if kind == "no_engine":
            # Once each: the engine line says it is not set up and what to do, the message bar offers the
            # installer, the status line says which candidates were tried (the log has it all).
            self._show_no_engine(message)
            tried = [line for line in message.splitlines()[1:-1] if line.strip()]
            detail = "Not run: " + ("; ".join(tried) + "." if tried else "no detection engine.")
            self.status_label.setText(f"<span style='color:#b00020'>{_html(detail)}</span>")
            self._message_with_button(message.splitlines()[0])
            return
        self.status_label.setText(f"<span style='color:#b00020'>{_html(message)}</span>")
        if kind == "crashed":
            self._request_info()  # shows that a new engine starts
        self._message(
            message, Qgis.MessageLevel.Critical if kind in ("crashed", "internal") else Qgis.MessageLevel.Warning, 0
        )

    def _message(self, text: str, level, duration: int) -> None:
        if self.iface is not None:
            self.iface.messageBar().pushMessage("Sargasses", text, level, duration)

    def _message_with_button(self, text: str) -> None:
        if self.iface is None:
            return
        bar = self.iface.messageBar()
        widget = bar.createMessage("Sargasses", text)
        button = QPushButton("Install detection engine…", widget)
        button.clicked.connect(self._install)
        widget.layout().addWidget(button)
        bar.pushWidget(widget, Qgis.MessageLevel.Critical, 0)

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

    def _open_settings(self) -> None:
        if self.plugin is not None:
            self.plugin.show_settings()

    def _save_settings(self) -> None:
        settings.save_run_settings(
            {
                "model_choice": self.model_choice(),
                "model_path": self.model_file.filePath(),
                "threshold": float(self.threshold.value()) if self._custom_threshold else 0.0,
                "min_area": float(self.min_area.value()),
                "device": str(self.device_combo.currentData()),
                "probabilities": self.probabilities_check.isChecked(),
                "coverage": self.coverage_check.isChecked(),
            }
        )


def _is_result(layer) -> bool:
    """A layer this plugin added (rafts of a run)."""
    return bool(layer.customProperty(RESULT_PROPERTY))


def _new_folder(parent: Path, name: str) -> Path:
    """A run folder no other run uses (two runs may start within the same second)."""
    candidate, n = parent / name, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{name}_{n}"
    candidate.mkdir(parents=True)
    return candidate


def _in_short(text: str) -> str:
    """What a model was trained on, for people: its first sentence, without the details in brackets (seed ranges,
    counts, file names); the whole text is the card's tooltip."""
    plain = re.sub(r"\s*\([^()]*\)", "", text).split(". ")[0].strip()
    return plain.rstrip(".") + "." if plain else text


def _html(text: str) -> str:
    """Escaped, with line breaks allowed after path separators, so long paths wrap in a narrow dock."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    return escaped.replace("/", "/\u200b")
