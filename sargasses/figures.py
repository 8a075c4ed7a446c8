"""Pictures of scenes for people: true colour, a red-edge false colour that makes floating vegetation glow, masks.

Made for the synthetic-scene figure (docs/dataset.md, `sargasses synth --figure`); any figure of a scene can reuse
`composite` so that scenes are stretched the same way everywhere. Uses matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sargasses.reading.sensors import DEFAULT_BANDS

TRUE_COLOUR = ("B04", "B03", "B02")
# Red edge and NIR in red and green, red in blue: Sargassum and vegetation turn yellow-orange, water stays dark
# blue, clouds white, organic slicks (high SWIR, no red edge) dull.
RED_EDGE_FALSE_COLOUR = ("B8A", "B06", "B04")
LABEL_COLOURS = {0: (0.05, 0.10, 0.25), 1: (1.0, 0.85, 0.0), 255: (0.55, 0.55, 0.55)}


def composite(
    reflectance: np.ndarray,
    bands: Sequence[str],
    band_names: Sequence[str] = DEFAULT_BANDS,
    low: float | Sequence[float] | None = None,
    high: float | Sequence[float] | None = None,
    gamma: float = 0.6,
    sea: bool = True,
    joint: bool = False,
) -> np.ndarray:
    """(H, W, 3) float image in 0-1 from three bands; nodata (NaN) shown black.

    low/high default to percentiles of each channel; with `sea`, over dark-NIR (sea) pixels only, so that the
    faint contrast of floating matter shows and land and clouds saturate, as ocean-colour displays do.
    `joint` stretches the three channels alike (natural colours for true colour). A gamma below 1 lifts dark water.
    """
    names = list(band_names)
    rgb = np.stack([reflectance[names.index(b)] for b in bands], axis=-1).astype(np.float32)
    valid = ~np.isnan(rgb).any(axis=-1)
    pick = valid
    if sea and "B8A" in names:
        nir = reflectance[names.index("B8A")]
        with np.errstate(invalid="ignore"):
            sea_pixels = valid & (nir < 0.04)
        if sea_pixels.sum() > 0.05 * valid.sum():
            pick = sea_pixels
    sample = rgb[pick][:: max(1, int(pick.sum()) // 200_000)]
    if sample.size == 0:
        sample = np.zeros((1, 3), np.float32)
    lo = np.percentile(sample, 0.5, axis=0) if low is None else np.broadcast_to(np.asarray(low, np.float32), (3,))
    if high is None:
        top = np.percentile(sample, 99.9, axis=0)
        hi = top + (top - lo) * (2.0 if pick is not valid else 0.0)  # room above the sea for floating matter
    else:
        hi = np.broadcast_to(np.asarray(high, np.float32), (3,))
    if joint:
        lo, hi = np.full(3, np.min(lo), np.float32), np.full(3, np.max(hi), np.float32)
    out = np.clip((rgb - lo) / np.maximum(hi - lo, 1e-6), 0, 1) ** gamma
    out[~valid] = 0
    return out


def label_image(label: np.ndarray) -> np.ndarray:
    """(H, W, 3) colours for a label mask: Sargassum yellow, water dark blue, not scorable grey."""
    out = np.zeros((*label.shape, 3), np.float32)
    for value, colour in LABEL_COLOURS.items():
        out[label == value] = colour
    return out


def zoom_on_positives(label: np.ndarray, size: int | None = None) -> tuple[int, int, int]:
    """(row, col, size) of the square that holds the most Sargassum pixels: where a figure should zoom."""
    h, w = label.shape
    size = size or max(32, min(256, min(h, w) // 4))
    counts = (label == 1).astype(np.float64)
    if not counts.any():
        return ((h - size) // 2, (w - size) // 2, size)
    step = max(1, size // 4)
    integral = np.pad(counts.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, where = -1.0, (0, 0)
    for r in range(0, h - size + 1, step):
        for c in range(0, w - size + 1, step):
            n = integral[r + size, c + size] - integral[r, c + size] - integral[r + size, c] + integral[r, c]
            if n > best:
                best, where = n, (r, c)
    return (*where, size)


def save_scene_figure(
    path: str | os.PathLike,
    reflectance: np.ndarray,
    label: np.ndarray | None = None,
    band_names: Sequence[str] = DEFAULT_BANDS,
    title: str = "",
    zoom: tuple[int, int, int] | None = None,
    dpi: int = 80,
) -> Path:
    """True colour, red-edge false colour and the label mask side by side; a second row zoomed in on `zoom`.

    zoom: (row, col, size) of a square to show at full resolution, where thin windrows are visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rows = 2 if zoom else 1
    cols = 3 if label is not None else 2
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 4.6 * rows + 0.7), squeeze=False, layout="constrained")
    # stretch once on the whole scene so the zoom shows the same colours
    rgb = composite(reflectance, TRUE_COLOUR, band_names, joint=True)
    false = composite(reflectance, RED_EDGE_FALSE_COLOUR, band_names)
    panels = [(rgb, "true colour (B04 B03 B02)"), (false, "red-edge false colour (B8A B06 B04)")]
    if label is not None:
        panels.append((label_image(label), "label mask"))
    for i, (img, name) in enumerate(panels):
        ax = axes[0][i]
        ax.imshow(img, interpolation="antialiased")
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
        if zoom:
            r, c, s = zoom
            ax.add_patch(Rectangle((c, r), s, s, fill=False, edgecolor="red", linewidth=1.2))
            sub = axes[1][i]
            sub.imshow(img[r : r + s, c : c + s], interpolation="nearest")
            sub.set_title(f"zoom on the red square ({s} x {s} px)", fontsize=10)
            sub.set_axis_off()
    if label is not None:
        handles = [
            Patch(color=LABEL_COLOURS[1], label="1 Sargassum"),
            Patch(color=LABEL_COLOURS[0], label="0 not Sargassum"),
            Patch(color=LABEL_COLOURS[255], label="255 not scorable"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
