"""The dock's model: the bundled model, a fine-tuned one, a model file or an index, and the card the engine read."""

from __future__ import annotations

import re
from pathlib import Path

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QSizePolicy, QVBoxLayout

from .. import settings
from ..paths import bundled_model
from ..sensor_names import sensors_text
from .text import error_html, html_wrapping_paths

MODEL_CHOICES = [
    ("Bundled default model", "default"),
    ("Model file…", "file"),
    ("AFAI index (no model, baseline)", "afai"),
    ("FAI index (no model, baseline)", "fai"),
]
FINETUNED = "finetuned:"  # model list data of a fine-tuned model: the prefix, then its path
MODEL_FILTER = "sargasses model (*.sargasses);;old sargasses model, full engine only (*.pt)"
_SCORE_NAMES = (("f1", "F1"), ("precision", "precision"), ("recall", "recall"), ("object_recall", "rafts found"))


class ModelSection(QGroupBox):
    """`changed` fires when another model (or model file) is chosen: the dock asks the engine for its card."""

    changed = pyqtSignal()

    def __init__(self) -> None:
        super().__init__("Model")
        self.model_combo = QComboBox()
        for label, value in MODEL_CHOICES:
            self.model_combo.addItem(label, value)
        for path in reversed(settings.finetuned_models()):  # inserted at the top each: newest first
            self._add_model_item(path)
        self.model_file = QgsFileWidget()
        self.model_file.setFilter(MODEL_FILTER)
        self.model_file.setVisible(False)
        self.card_label = QLabel("")
        self.card_label.setWordWrap(True)
        self.card_label.setTextFormat(Qt.TextFormat.RichText)
        self.card_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("", self.model_file)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.card_label)  # under the form, its own full width: a form row cut its last lines
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.model_file.fileChanged.connect(lambda _path: self.changed.emit())

    def restore(self, last: dict) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(last["model_choice"])))
        self.model_combo.blockSignals(False)
        self.model_file.setFilePath(last["model_path"])
        self.model_file.setVisible(self.model_choice() == "file")

    def model_choice(self) -> str:
        return str(self.model_combo.currentData())

    def method(self) -> str:
        choice = self.model_choice()
        return choice if choice in ("afai", "fai") else "model"

    def model_path(self) -> str | None:
        """The model file to give the engine; None: the engine's default (or no model for the indexes)."""
        if self.model_choice().startswith(FINETUNED):
            return self.model_choice()[len(FINETUNED) :]
        if self.model_choice() == "file":
            return self.model_file.filePath().strip() or None
        if self.model_choice() == "default" and bundled_model() is not None:
            return str(bundled_model())
        return None

    def missing_model(self) -> str:
        """Why the chosen model cannot run ("" when it can): no file chosen, or no bundled model in this copy."""
        if self.model_choice() == "file" and not self.model_path():
            return "No model file: choose one, or use the bundled default model."
        if self.model_choice() == "default" and bundled_model() is None:
            return "This copy of the plugin has no bundled model: choose a model file, or an index (AFAI, FAI)."
        return ""

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

    def _model_changed(self) -> None:
        self.model_file.setVisible(self.model_choice() == "file")
        self.changed.emit()

    def show_text(self, text: str) -> None:
        self.card_label.setText(text)
        self.card_label.setToolTip("")
        self.card_label.updateGeometry()  # a longer card must get its height now, not at the next relayout

    def show_card(self, info: dict) -> None:
        """The engine's answer: the card of the model, or what an index is."""
        self.show_text(card_html(info, self.method(), self.model_choice() == "default" and bundled_model() is None))
        trained_on = str(((info.get("model") or {}).get("card") or {}).get("trained_on") or "")
        self.card_label.setToolTip(f"Trained on: {trained_on}" if trained_on and self.method() == "model" else "")


def card_html(info: dict, method: str, no_bundled_model: bool = False) -> str:
    """The card as a small table a person reads: names, not identifiers; the scores in words."""
    if method == "model" and no_bundled_model:
        return error_html("This copy of the plugin has no bundled model. Choose a model file, or an index (AFAI, FAI).")
    if method != "model":
        return (
            f"<b>{method.upper()}</b> spectral index with a fixed threshold: no model, no training; "
            "a baseline to compare the model with."
        )
    if info.get("model_error"):
        return error_html(info["model_error"])
    card = (info.get("model") or {}).get("card") or {}
    rows = [
        ("Model", f"{card.get('name', '?')} {card.get('version', '')}"),
        ("Sensor", sensors_text([str(card.get("sensor") or ""), *(card.get("accepted_sensors") or [])])),
        ("Threshold", f"{card.get('threshold', '?')} (picked on validation scenes)"),
        ("Bands", ", ".join(card.get("band_names") or [])),
        ("Resolution", f"{card.get('gsd_m', '?')} m"),
        ("Trained on", _in_short(str(card.get("trained_on") or "not said"))),
        ("Scores", _scores_text(card.get("metrics") or {})),
    ]
    cells = "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{html_wrapping_paths(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _scores_text(metrics: dict) -> str:
    """A card's scores in one line a person reads: the test figures when the card has them, else its flat numbers."""
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else None
    if test:
        parts = [f"{label} {test[key]:.3f}" for key, label in _SCORE_NAMES if isinstance(test.get(key), float)]
        return "on its test scenes: " + ", ".join(parts) if parts else "none given"
    parts = [f"{key} {value:.3g}" for key, value in metrics.items() if isinstance(value, (int, float))]
    return ", ".join(parts[:4]) or "none given"


def _in_short(text: str) -> str:
    """What a model was trained on, for people: its first sentence, without the details in brackets (seed ranges,
    counts, file names); the whole text is the card's tooltip."""
    plain = re.sub(r"\s*\([^()]*\)", "", text).split(". ")[0].strip()
    return plain.rstrip(".") + "." if plain else text
