"""The dock's "Find scenes": a STAC catalogue searched over the map view or a polygon layer between two dates,
the items listed with date, cloud, area and water shares and a thumbnail, then detected remotely or added as
/vsicurl/ layers. After the area and dates: Search, select, Detect (docs/stac.md, "In QGIS").

The search runs in the engine (a SearchTask: never on the UI thread); a detection is a normal run of the dock
(its model, threshold and device), whose input is the item's href, read window by window by the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
    QgsVectorLayer,
)
from qgis.gui import QgsAuthConfigSelect, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate, QSize, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from ..credentials import CredentialError, bearer_token
from ..log import log_info, log_warning
from ..scene_search import SearchTask, item_job, lonlat_box, lonlat_polygons
from ..thumbnails import SIDE, ThumbnailLoader
from . import messages
from .text import capitalized

CATALOGUES = ["earth-search", "planetary-computer"]  # sargasses/search/catalogues.py's short names
COLUMNS = ["Date (UTC)", "Cloud", "Area", "Water"]
_SETTINGS = "sargasses/find_scenes/"


class FindScenesSection(QGroupBox):
    def __init__(self, iface, manager) -> None:
        super().__init__("Find scenes")
        self.iface = iface
        self.manager = manager
        self.task: SearchTask | None = None
        self.thumbnails = ThumbnailLoader(self)
        self._queue: list[dict[str, Any]] = []  # items still to detect, one run after another
        self._runs: tuple[Callable, Callable, Callable] | None = None
        self._build()
        self._restore()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        self.catalogue_combo = QComboBox()
        self.catalogue_combo.setEditable(True)
        self.catalogue_combo.addItems(CATALOGUES)
        self.catalogue_combo.setToolTip("A short name of a known catalogue, or any STAC API's URL")
        self.collection_edit = QLineEdit()
        self.collection_edit.setPlaceholderText("the catalogue's Sentinel-2 L2A")
        self.auth_select = QgsAuthConfigSelect(self)
        self.auth_select.setToolTip("A catalogue that needs a token: its authentication configuration (kept by QGIS)")
        self.area_combo = QComboBox()
        self.area_combo.addItem("Map view", "canvas")
        self.area_combo.addItem("A polygon layer", "polygons")
        self.polygon_combo = QgsMapLayerComboBox()
        self.polygon_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.polygon_combo.setEnabled(False)
        self.polygon_combo.setToolTip("Its selected polygons, or all of them when none is selected")
        self.area_combo.currentIndexChanged.connect(
            lambda: self.polygon_combo.setEnabled(self.area_combo.currentData() == "polygons")
        )
        today = QDate.currentDate()
        self.start_date, self.end_date = QDateEdit(today.addDays(-7)), QDateEdit(today)
        for edit in (self.start_date, self.end_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.cloud_spin = QSpinBox()
        self.cloud_spin.setRange(0, 100)
        self.cloud_spin.setSuffix(" %")
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("sargassesSearchButton")
        self.search_button.clicked.connect(self.search)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # the dock is 340 px wide
        form.addRow("Catalogue", self.catalogue_combo)
        form.addRow("Collection", self.collection_edit)
        form.addRow("Authentication", self.auth_select)
        form.addRow("Area", self.area_combo)
        form.addRow("Polygons", self.polygon_combo)
        form.addRow("From", self.start_date)
        form.addRow("To", self.end_date)
        form.addRow("Max. cloud", self.cloud_spin)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.search_button)
        layout.addWidget(self._build_list())

    def _build_list(self) -> QGroupBox:
        """The list, its buttons and status, as one block under Search."""
        self.items_tree = QTreeWidget()
        self.items_tree.setHeaderLabels(COLUMNS)
        self.items_tree.setRootIsDecorated(False)
        self.items_tree.setWordWrap(True)
        self.items_tree.setIconSize(QSize(SIDE, SIDE))
        self.items_tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.items_tree.setMinimumHeight(3 * SIDE)
        self.items_tree.itemSelectionChanged.connect(self._selection_changed)
        self.detect_button = QPushButton("Detect on the selected items")
        self.detect_button.setObjectName("sargassesDetectItemsButton")
        self.detect_button.clicked.connect(self.detect_selected)
        self.add_button = QPushButton("Add as layer")
        self.add_button.setToolTip("The items' true-colour images as layers read over the network (/vsicurl/)")
        self.add_button.clicked.connect(self.add_selected_layers)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self._selection_changed()
        box = QGroupBox()
        box.setFlat(True)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.items_tree)
        inner.addWidget(self.detect_button)
        inner.addWidget(self.add_button)
        inner.addWidget(self.status_label)
        return box

    def connect_runs(self, request: Callable, extra_rasters: Callable, start_job: Callable, finished) -> None:
        """The dock's run: its current DetectRequest, its extra rasters, how it starts a job, its runFinished."""
        self._runs = (request, extra_rasters, start_job)
        finished.connect(self._run_finished)

    # ------------------------------------------------------------------ settings
    def _restore(self) -> None:
        s = QgsSettings()
        self.catalogue_combo.setCurrentText(str(s.value(_SETTINGS + "catalogue", CATALOGUES[0])))
        self.collection_edit.setText(str(s.value(_SETTINGS + "collection", "")))
        self.auth_select.setConfigId(str(s.value(_SETTINGS + "auth_config", "")))  # the id only, never the secret
        self.cloud_spin.setValue(int(s.value(_SETTINGS + "max_cloud", 30, type=int)))

    def _save(self) -> None:
        s = QgsSettings()
        s.setValue(_SETTINGS + "catalogue", self.catalogue_combo.currentText().strip())
        s.setValue(_SETTINGS + "collection", self.collection_edit.text().strip())
        s.setValue(_SETTINGS + "auth_config", self.auth_select.configId())
        s.setValue(_SETTINGS + "max_cloud", self.cloud_spin.value())

    # ------------------------------------------------------------------ search
    def search_fields(self) -> dict[str, Any]:
        """The engine's search request (no token) for what the section shows; ValueError saying what is missing."""
        catalogue = self.catalogue_combo.currentText().strip()
        if not catalogue:
            raise ValueError("give a catalogue: earth-search, planetary-computer or a STAC API's URL")
        start, end = self.start_date.date(), self.end_date.date()
        if start > end:
            raise ValueError("the first date is after the last one; swap them")
        fields: dict[str, Any] = {"stac": catalogue, "bbox": self._bbox(), "max_cloud": float(self.cloud_spin.value())}
        if self.area_combo.currentData() == "polygons":
            fields["area"] = lonlat_polygons(self.polygon_combo.currentLayer())
        fields["dates"] = f"{start.toString('yyyy-MM-dd')}T00:00:00Z/{end.toString('yyyy-MM-dd')}T23:59:59Z"
        if self.collection_edit.text().strip():
            fields["collection"] = self.collection_edit.text().strip()
        return fields

    def _bbox(self) -> list[float]:
        if self.area_combo.currentData() == "canvas":
            canvas = self.iface.mapCanvas()
            return lonlat_box(canvas.extent(), canvas.mapSettings().destinationCrs())
        layer = self.polygon_combo.currentLayer()
        if not isinstance(layer, QgsVectorLayer):
            raise ValueError("choose the polygon layer that is the area to search")
        extent = layer.boundingBoxOfSelected() if layer.selectedFeatureCount() else layer.extent()
        if extent.isEmpty():
            raise ValueError(f"the layer {layer.name()!r} has no polygon to search over")
        return lonlat_box(extent, layer.crs())

    def search(self) -> SearchTask | None:
        if self.task is not None:
            return None
        try:
            fields = self.search_fields()
            token = bearer_token(self.auth_select.configId())
        except (ValueError, CredentialError) as exc:
            self._say(capitalized(str(exc)), Qgis.MessageLevel.Warning)
            return None
        self._save()
        task = SearchTask(fields, self.manager, token)
        task.on_finished = self._search_finished
        self.task = task
        self.search_button.setEnabled(False)
        self.status_label.setText("Searching…")
        log_info(
            f"search { ({k: v for k, v in fields.items() if k != 'area'}) }"
            + (" over the layer's polygons" if "area" in fields else "")
        )
        QgsApplication.taskManager().addTask(task)
        return task

    def _search_finished(self, task: SearchTask) -> None:
        self.task = None
        self.search_button.setEnabled(True)
        if task.items is None:
            self._say(capitalized(task.error or "the search failed"), Qgis.MessageLevel.Warning)
            return
        self.show_items(task.items)

    def show_items(self, items: list[dict[str, Any]]) -> None:
        self.items_tree.clear()
        for item in items:
            row = QTreeWidgetItem([str(item["datetime"])[:16].replace("T", " "), *_shares(item)])
            row.setData(0, Qt.ItemDataRole.UserRole, item)
            row.setToolTip(0, f"{item['id']} ({item.get('platform') or '?'}, {item.get('level') or '?'})")
            self.items_tree.addTopLevelItem(row)
            if item.get("thumbnail"):
                self.thumbnails.load(str(item["thumbnail"]), lambda pixmap, row=row: _set_icon(row, pixmap))
        for column in range(1, len(COLUMNS)):
            self.items_tree.resizeColumnToContents(column)
        # the date wraps under its time beside the thumbnail, so the list fits the dock's width
        self.items_tree.setColumnWidth(0, SIDE + self.items_tree.fontMetrics().horizontalAdvance("2024-06-22") + 24)
        self.status_label.setText(
            f"{len(items)} item(s), oldest first: select and press Detect." if items else "No item: widen the dates."
        )

    # ------------------------------------------------------------------ the selected items
    def selected_items(self) -> list[dict[str, Any]]:
        rows = sorted(self.items_tree.selectedItems(), key=self.items_tree.indexOfTopLevelItem)
        return [row.data(0, Qt.ItemDataRole.UserRole) for row in rows]

    def _selection_changed(self) -> None:
        chosen = bool(self.items_tree.selectedItems())
        self.detect_button.setEnabled(chosen and not self._queue)
        self.add_button.setEnabled(chosen)

    def detect_selected(self) -> None:
        """Detect each selected item, one run after another, as the dock runs them (its model and options)."""
        if self._runs is None or self._queue:
            return
        self._queue = self.selected_items()
        self._selection_changed()
        self._next_run()

    def _next_run(self) -> None:
        if not self._queue or self._runs is None:
            return
        request, extra_rasters, start_job = self._runs
        item = self._queue[0]
        try:
            job = item_job(item, request(), extra_rasters, bearer_token(self.auth_select.configId()))
        except CredentialError as exc:
            self._queue = []
            self._selection_changed()
            self._say(capitalized(str(exc)), Qgis.MessageLevel.Warning)
            return
        if start_job(job) is None:
            self._queue = []
            self._selection_changed()
            self._say("A run is in progress: wait for it to finish, then detect.", Qgis.MessageLevel.Info)
            return
        left = len(self._queue) - 1
        self.status_label.setText(f"Detecting {item['id']}" + (f" ({left} more after it)…" if left else "…"))

    def _run_finished(self, task) -> None:
        if not self._queue or task.job.layer_name != str(self._queue[0]["id"]):
            return  # a run of the dock's own image
        self._queue.pop(0)
        if task.outcome is None:
            self._queue = []  # the dock reported why; the next items would likely fail alike
        self._selection_changed()
        if self._queue:
            self._next_run()
        else:
            self.status_label.setText("Done: the rafts are in the layers panel." if task.outcome else "")

    def add_selected_layers(self) -> list[QgsRasterLayer]:
        """Each selected item's true-colour COG as a /vsicurl/ layer: GDAL reads only the tiles shown."""
        added, missing = [], []
        for item in self.selected_items():
            if not item.get("visual"):
                missing.append(str(item["id"]))
                continue
            layer = QgsRasterLayer(f"/vsicurl/{item['visual']}", f"{item['id']} (true colour)", "gdal")
            if not layer.isValid():
                missing.append(str(item["id"]))
                continue
            QgsProject.instance().addMapLayer(layer)
            added.append(layer)
        if missing:
            self._say(
                f"No true-colour image could be opened for {', '.join(missing)}: the item has no visual asset, or "
                "its server cannot be reached.",
                Qgis.MessageLevel.Warning,
            )
        return added

    def _say(self, text: str, level) -> None:
        self.status_label.setText(text)
        log_warning(text) if level == Qgis.MessageLevel.Warning else log_info(text)
        messages.push(self.iface, text, level, 0 if level == Qgis.MessageLevel.Warning else 5)

    def shutdown(self) -> None:
        self._queue = []
        if self.task is not None:
            self.task.cancel_if_running()


def _shares(item: dict[str, Any]) -> list[str]:
    """Cloud, area and water columns: the tile's cloud, how much of the area it covers, the tile's water."""

    def pct(value: Any, scale: float = 1.0) -> str:
        return "?" if value is None else f"{float(value) * scale:.0f} %"

    return [pct(item.get("cloud_pct")), pct(item.get("aoi_share"), 100.0), pct(item.get("water_pct"))]


def _set_icon(row: QTreeWidgetItem, pixmap) -> None:
    with contextlib.suppress(RuntimeError):  # the list was cleared by a newer search before the image came
        row.setIcon(0, QIcon(pixmap))
