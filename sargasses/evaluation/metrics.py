"""Scores shared by training, the index baselines, the tests and the benchmarks.

One definition for all, so that the model and the baselines are compared on the same pixels:
- pixel precision / recall / F1 over the *scorable* pixels (label 0 or 1; 255 is "not scorable");
- object recall: the share of labelled rafts (connected groups of 3+ positive pixels, 8-connected)
  that at least one detected pixel touches;
- a threshold sweep that finds the F1-best threshold of any score (probability, AFAI, FAI) exactly,
  from histograms, so it can be accumulated scene by scene without holding all pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from sargasses.raft_size import MIN_RAFT_PIXELS

IGNORE_LABEL = 255
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def scorable_mask(label: np.ndarray) -> np.ndarray:
    """Pixels that count: labelled 0 or 1 (255 marks nodata, unsure or unlabelled pixels)."""
    return np.asarray(label) != IGNORE_LABEL


@dataclass
class PixelCounts:
    """True / false positives and false negatives over scorable pixels; add them up across scenes."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: PixelCounts) -> PixelCounts:
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def pixel_counts(detected: np.ndarray, label: np.ndarray) -> PixelCounts:
    """Compare a boolean detection mask with a 0/1/255 label mask of the same shape."""
    detected = np.asarray(detected, dtype=bool)
    label = np.asarray(label)
    if detected.shape != label.shape:
        raise ValueError(f"detection {detected.shape} and label {label.shape} differ in shape")
    positive = label == 1
    negative = label == 0
    return PixelCounts(
        tp=int(np.count_nonzero(detected & positive)),
        fp=int(np.count_nonzero(detected & negative)),
        fn=int(np.count_nonzero(~detected & positive)),
    )


@dataclass
class ObjectCounts:
    """Labelled rafts found / labelled rafts, added up across scenes."""

    found: int = 0
    total: int = 0

    def __add__(self, other: ObjectCounts) -> ObjectCounts:
        return ObjectCounts(self.found + other.found, self.total + other.total)

    @property
    def recall(self) -> float:
        """1.0 when there is no raft to find: nothing was missed."""
        return self.found / self.total if self.total else 1.0


def object_counts(detected: np.ndarray, label: np.ndarray, min_pixels: int = MIN_RAFT_PIXELS) -> ObjectCounts:
    """Rafts of `min_pixels`+ labelled pixels (8-connected), and how many of them a detected pixel touches."""
    detected = np.asarray(detected, dtype=bool)
    rafts, count = ndimage.label(np.asarray(label) == 1, structure=_EIGHT_CONNECTED)
    if count == 0:
        return ObjectCounts()
    sizes = np.bincount(rafts.ravel(), minlength=count + 1)
    hit = np.bincount(rafts[detected].ravel(), minlength=count + 1) > 0
    big = sizes >= min_pixels
    big[0] = False  # background
    return ObjectCounts(found=int(np.count_nonzero(big & hit)), total=int(np.count_nonzero(big)))


def label_from_cover(label: np.ndarray, coverage: np.ndarray, cover: float) -> np.ndarray:
    """`label` with the Sargassum pixels of less than `cover` sub-pixel cover left unscored (255).

    Why: synthetic labels name Sargassum from 4 % cover (sargasses.synth.labels), far below what a model finds;
    a test of a model's rafts judges the rafts it is meant to find, and benchmarks/detection_limit.py the fainter.
    """
    label = np.asarray(label)
    faint = (label == 1) & (np.asarray(coverage) < cover)
    return np.where(faint, IGNORE_LABEL, label).astype(np.uint8)


@dataclass
class SceneScores:
    """Everything the benchmarks report for one method, added up over a set of scenes."""

    pixels: PixelCounts
    objects: ObjectCounts

    def __add__(self, other: SceneScores) -> SceneScores:
        return SceneScores(self.pixels + other.pixels, self.objects + other.objects)

    def as_dict(self) -> dict[str, float]:
        return {**self.pixels.as_dict(), "object_recall": self.objects.recall, "rafts": self.objects.total}


def score_detection(detected: np.ndarray, label: np.ndarray) -> SceneScores:
    """Pixel and object scores of one detection mask against one label mask."""
    return SceneScores(pixel_counts(detected, label), object_counts(detected, label))


class ThresholdSweep:
    """F1, precision and recall at every candidate threshold, accumulated over scenes.

    A pixel is detected when its score is >= the threshold. Scores are binned on the candidate thresholds,
    so the counts at each candidate are exact, and memory does not grow with the number of pixels.
    """

    def __init__(self, thresholds: np.ndarray):
        self.thresholds = np.unique(np.asarray(thresholds, dtype=np.float64))
        # bin i holds scores in [t_i, t_{i+1}); bin 0 also holds everything below t_0 (never detected)
        self._positive = np.zeros(len(self.thresholds) + 1, dtype=np.int64)
        self._negative = np.zeros(len(self.thresholds) + 1, dtype=np.int64)
        self._unscored_positives = 0  # positives with no defined score: never detected

    def update(self, scores: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add one scene; `valid` (bool) drops pixels where the score is not defined (e.g. masked land)."""
        scores = np.asarray(scores, dtype=np.float64)
        label = np.asarray(label)
        keep = np.isfinite(scores)
        if valid is not None:
            keep &= valid
        bins = np.searchsorted(self.thresholds, scores, side="right")  # 0 = below every threshold
        self._positive += np.bincount(bins[keep & (label == 1)], minlength=len(self._positive))
        self._negative += np.bincount(bins[keep & (label == 0)], minlength=len(self._negative))
        self._unscored_positives += int(np.count_nonzero(~keep & (label == 1)))

    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tp, fp, fn) per threshold."""
        tp = np.cumsum(self._positive[::-1])[::-1][1:]
        fp = np.cumsum(self._negative[::-1])[::-1][1:]
        fn = self._positive.sum() + self._unscored_positives - tp
        return tp, fp, fn

    def f1(self) -> np.ndarray:
        tp, fp, fn = self.counts()
        denominator = 2 * tp + fp + fn
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)

    def best(self) -> tuple[float, PixelCounts]:
        """The threshold with the highest F1 (the highest such threshold on ties), and its counts."""
        f1 = self.f1()
        best = int(len(f1) - 1 - np.argmax(f1[::-1]))
        tp, fp, fn = self.counts()
        return float(self.thresholds[best]), PixelCounts(int(tp[best]), int(fp[best]), int(fn[best]))

    def at(self, threshold: float) -> PixelCounts:
        """Counts at the highest candidate threshold that is <= `threshold`."""
        index = max(int(np.searchsorted(self.thresholds, threshold, side="right")) - 1, 0)
        tp, fp, fn = self.counts()
        return PixelCounts(int(tp[index]), int(fp[index]), int(fn[index]))


def rafts_found_text(scores: dict[str, Any], digits: int = 3) -> str:
    """The "rafts found" cell of a table: "0.950 (20 rafts)", or "no raft labelled" (a recall of 1.000 over no raft
    would read as a perfect score)."""
    if not scores["rafts"]:
        return "no raft labelled"
    return f"{scores['object_recall']:.{digits}f} ({scores['rafts']} rafts)"
