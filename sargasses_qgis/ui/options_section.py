"""The dock's detection options: threshold (the model's own until the user types one), minimum area, device,
and the extra rasters to add."""

from __future__ import annotations

from pathlib import Path

from qgis.gui import QgsDoubleSpinBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel

from ..detect_request import THRESHOLD_DECIMALS, THRESHOLD_RANGE

DEVICE_CHOICES = [("Auto", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple GPU (MPS)", "mps")]


class OptionsSection(QGroupBox):
    """`deviceChanged` fires when another device is chosen (the engine says what it would use)."""

    deviceChanged = pyqtSignal()

    def __init__(self) -> None:
        super().__init__("Detection")
        self._default_threshold: float | None = None  # the model's (or index's) own, once the engine has said
        self._custom_threshold = False
        self.threshold = QgsDoubleSpinBox()
        self.threshold.setRange(*THRESHOLD_RANGE)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(THRESHOLD_DECIMALS)
        self.threshold.setShowClearButton(True)
        self.threshold.setToolTip(
            "Probability above which a pixel is Sargassum (for AFAI / FAI: the index height). It shows the "
            "model card's threshold, picked on validation, until you change it; the clear button puts it back."
        )
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
        self.probabilities_check = _check_box(
            "Add the probability raster", "Also add the per-pixel probability, with a colour ramp"
        )
        self.coverage_check = _check_box(
            "Add the fractional cover raster",
            "Also add the share of each pixel the rafts cover (0-1), and their covered area in km²: at 300 m (OLCI) "
            "a raft rarely fills a pixel, so the polygons' area overstates it",
        )
        self._lay_out()
        self.threshold.valueChanged.connect(self._threshold_edited)
        self.device_combo.currentIndexChanged.connect(lambda _i: self.deviceChanged.emit())

    def _lay_out(self) -> None:
        form = QFormLayout(self)
        form.addRow("Threshold", self.threshold)
        form.addRow("Minimum area", self.min_area)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)  # what Auto will use, under the choice: the dock stays narrow
        form.addRow(self.probabilities_check)
        form.addRow(self.coverage_check)

    def restore(self, last: dict) -> None:
        if last["threshold"] > 0:  # the user's own threshold of the last run; 0: the model's
            self.threshold.setValue(last["threshold"])
            self._custom_threshold = True
        self.min_area.setValue(last["min_area"])
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(last["device"])))
        self.probabilities_check.setChecked(last["probabilities"])
        self.coverage_check.setChecked(last["coverage"])

    def values(self) -> dict:
        """What is saved for the next session (settings.save_run_settings)."""
        return {
            "threshold": float(self.threshold.value()) if self._custom_threshold else 0.0,
            "min_area": float(self.min_area.value()),
            "device": self.device(),
            "probabilities": self.probabilities_check.isChecked(),
            "coverage": self.coverage_check.isChecked(),
        }

    def extra_rasters(self, folder: Path) -> tuple[Path | None, Path | None]:
        """Where a run writes the probability and cover rasters the user asked for (None: not asked)."""
        probabilities = folder / "probabilities.tif" if self.probabilities_check.isChecked() else None
        return probabilities, folder / "coverage.tif" if self.coverage_check.isChecked() else None

    def device(self) -> str:
        return str(self.device_combo.currentData())

    def user_threshold(self) -> float | None:
        """The threshold the user typed; None: the model's own."""
        return float(self.threshold.value()) if self._custom_threshold else None

    def user_min_area(self) -> float | None:
        """None at 0, which shows "3 pixels (default)": the engine's own minimum."""
        return float(self.min_area.value()) if self.min_area.value() > 0 else None

    def forget_threshold(self) -> None:
        """Another model or index: its own threshold, once the engine says it."""
        self._custom_threshold = False

    def _threshold_edited(self, value: float) -> None:
        default = self._default_threshold
        self._custom_threshold = default is None or abs(value - default) > 5e-4

    def show_default_threshold(self, threshold: float | None) -> None:
        """The model's (or index's) own threshold in the field, unless the user has typed another."""
        self._default_threshold = threshold
        if threshold is None:
            return
        self.threshold.setClearValue(threshold)
        if not self._custom_threshold:
            self.threshold.blockSignals(True)
            self.threshold.setValue(threshold)
            self.threshold.blockSignals(False)

    def show_device(self, device: dict) -> None:
        self.device_label.setText(f"→ {device.get('name', device.get('type', '?'))}" if device else "")


def _check_box(text: str, tip: str) -> QCheckBox:
    box = QCheckBox(text)
    box.setToolTip(tip)
    return box
