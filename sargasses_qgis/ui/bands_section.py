"""The dock's bands: which band of the image (or of its product's other files) feeds each band the model takes,
matched automatically and editable in a table."""

from __future__ import annotations

from qgis.core import QgsRasterLayer
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtWidgets import QComboBox, QHeaderView, QLabel, QTableWidget, QVBoxLayout

from ..band_matching import BandSource, auto_mapping, missing_bands, sen3_folder
from ..raster_input import layer_band_sources, product_band_sources

MISSING = "— missing —"


class BandsSection(QgsCollapsibleGroupBox):
    """Collapsed while the automatic match is complete; open (with the missing bands named) when it is not."""

    def __init__(self) -> None:
        super().__init__("Bands")
        self.setSaveCollapsedState(False)
        self.sources: list[BandSource] = []
        self._auto: dict[str, BandSource | None] = {}
        self._bands: list[str] = []
        self._key: tuple = ()
        self.bands_note = QLabel("")
        self.bands_note.setWordWrap(True)
        self.band_table = QTableWidget(0, 2)
        self.band_table.setHorizontalHeaderLabels(["Model band", "Source in the image"])
        self.band_table.verticalHeader().setVisible(False)
        self.band_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.band_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.band_table.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.addWidget(self.bands_note)
        layout.addWidget(self.band_table)

    def refresh(self, layer, bands: list[str], gsd: float, force: bool = False) -> None:
        """Match `bands` to the layer's (or to its Sentinel-2 product's files).

        Kept as the user edited it unless the layer or the bands the model needs change.
        """
        key = (layer.id() if layer is not None else "", tuple(bands), gsd)
        if key == self._key and not force:
            return
        self._key, self._bands = key, list(bands)
        self.band_table.setRowCount(0)
        self.sources, self._auto = [], {}
        if not isinstance(layer, QgsRasterLayer):
            self.bands_note.setText("Choose a raster layer.")
            return
        product = product_band_sources(layer, gsd)
        self.sources = product or layer_band_sources(layer)
        self._auto = auto_mapping(bands, self.sources)
        self.band_table.setRowCount(len(bands))
        for row, band in enumerate(bands):
            self.band_table.setCellWidget(row, 0, QLabel(f"  {band}  "))
            self.band_table.setCellWidget(row, 1, self._source_combo(band))
        self._update_note()

    def _source_combo(self, band: str) -> QComboBox:
        combo = QComboBox()
        combo.addItem(MISSING, -1)
        for index, source in enumerate(self.sources):
            combo.addItem(source.label, index)
        chosen = self._auto.get(band)
        if chosen is not None:
            combo.setCurrentIndex(combo.findData(self.sources.index(chosen)))
        combo.currentIndexChanged.connect(lambda _i: self._update_note())
        return combo

    def _update_note(self) -> None:
        mapping, automatic = self.mapping()
        missing = missing_bands(mapping)
        if missing:
            text = f"<span style='color:#b00020'>Missing: {', '.join(missing)}. Choose a source for each band.</span>"
            self.setCollapsed(False)
        else:
            files = {s.path for s in mapping.values() if s is not None}
            mission = "Sentinel-3" if any(sen3_folder(f) for f in files) else "Sentinel-2"
            where = f" from {len(files)} files of the same {mission} product" if len(files) > 1 else ""
            text = f"All {len(mapping)} bands found{where}" + ("." if automatic else ", as you chose.")
            self.setCollapsed(automatic)
        self.bands_note.setText(text)

    def mapping(self) -> tuple[dict[str, BandSource | None], bool]:
        """(model band -> chosen source, whether it is the automatic match)."""
        mapping: dict[str, BandSource | None] = {}
        for row, band in enumerate(self._bands[: self.band_table.rowCount()]):
            combo = self.band_table.cellWidget(row, 1)
            index = combo.currentData() if combo is not None else -1
            mapping[band] = self.sources[index] if index is not None and index >= 0 else None
        return mapping, mapping == self._auto

    def set_band_source(self, band: str, label: str) -> None:
        """Choose the source of `band` by its label (for scripts and tests, like a user would in the table)."""
        combo = self.band_table.cellWidget(self._bands.index(band), 1)
        combo.setCurrentIndex(combo.findText(label))
