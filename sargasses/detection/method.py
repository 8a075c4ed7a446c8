"""Stage "method": how the scene is scored (the model's scorer checked against the scene, or an index's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sargasses.detection.input_checks import check_model_fits
from sargasses.detection.model_cache import cached_scorer
from sargasses.detection.options import DetectOptions


@dataclass
class Method:
    """How the scene is scored: the scorer, its threshold and tiles, and the model behind it (None: an index)."""

    scorer: Any
    threshold: float
    tile_size: int
    overlap: int
    device_kind: str
    card: Any = None
    model_path: Path | None = None

    @property
    def name(self) -> str:
        """The model's name, or the index's (afai, fai): what outputs are tagged with."""
        return self.card.name if self.card is not None else self.scorer.method


def choose_method(options: DetectOptions, scene: Any, card: Any, model_path: Path | None) -> Method:
    """The model's scorer (checked against the scene), or the AFAI / FAI index's."""
    if card is not None and model_path is not None:
        check_model_fits(card, scene, options)
        scorer = cached_scorer(model_path, options.device, options.backend)
        threshold = card.threshold if options.threshold is None else float(options.threshold)
        kind = getattr(getattr(scorer, "device", None), "kind", "cpu")
        return Method(scorer, threshold, options.tile_size or card.tile_size, card.tile_overlap, kind, card, model_path)
    from sargasses.detection import baseline
    from sargasses.detection.scorers import BaselineScorer

    scorer = BaselineScorer(options.method, scene.band_names, background=options.background)
    threshold = baseline.default_threshold(options.method, scene.band_names)
    threshold = threshold if options.threshold is None else options.threshold
    return Method(scorer, threshold, options.tile_size or 512, 64, "cpu")


def default_batch(device_kind: str, tile: int) -> int:
    """Tiles per batch: on CPU one 512 x 512 tile (ONNX Runtime gains under 10 % from batches of 2-4 there but
    needs 400 MB more per tile: docs/performance.md); on a GPU eight."""
    pixels = max(1, (512 * 512) // (tile * tile))
    return (8 if device_kind in ("cuda", "mps") else 1) * pixels
