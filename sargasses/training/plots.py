"""Figures for people: the validation panel logged to TensorBoard, and training curves for the docs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # training runs headless; never open a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap


def validation_figure(
    rgb: np.ndarray, target: np.ndarray, probability: np.ndarray, mask: np.ndarray, threshold: float, title: str = ""
):
    """Four panels: colour composite, target (grey = not scorable), probability, mask at `threshold`."""
    figure, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    shown_target = np.where(target == 255, 0.5, target.astype(float))
    panels = (
        (rgb, "colour composite", None),
        (shown_target, "target (grey: not scored)", "gray"),
        (probability, "probability", "magma"),
        (mask, f"mask (p >= {threshold:.2f})", ListedColormap(["black", "gold"])),
    )
    for axis, (image, name, cmap) in zip(axes, panels, strict=False):
        axis.imshow(image, cmap=cmap, vmin=None if cmap is None else 0, vmax=None if cmap is None else 1)
        axis.set_title(name)
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_curves(history: dict[str, list[tuple[int, float]]], path, title: str = "") -> None:
    """One panel per metric, x = epoch; `history` maps a metric name to (epoch, value) pairs."""
    names = list(history)
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=False):
        epochs, values = zip(*history[name], strict=False) if history[name] else ((), ())
        axis.plot(epochs, values, marker="o", markersize=3)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
