"""Random and geometric fields on the scene grid: fractal noise, cheap smoothing, sub-pixel shifts, ramps.

Every component draws its textures from these, so they are built to stay cheap on a full tile (5490 px).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _upsample2(a: np.ndarray) -> np.ndarray:
    """Bilinear x2 upsampling (cell-centred, edges repeated) with plain slicing: far faster than ndimage.zoom."""
    h, w = a.shape
    rows = np.empty((2 * h, w), np.float32)
    up = np.concatenate([a[:1], a[:-1]])
    down = np.concatenate([a[1:], a[-1:]])
    rows[0::2] = 0.75 * a + 0.25 * up
    rows[1::2] = 0.75 * a + 0.25 * down
    del up, down
    out = np.empty((2 * h, 2 * w), np.float32)
    left = np.concatenate([rows[:, :1], rows[:, :-1]], axis=1)
    out[:, 0::2] = 0.75 * rows + 0.25 * left
    del left
    right = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    out[:, 1::2] = 0.75 * rows + 0.25 * right
    return out


def fractal(rng: np.random.Generator, shape: tuple[int, int], largest: float, smallest: float, rough=0.6):
    """Zero-mean, unit-std fractal noise with features from `smallest` to `largest` pixels (float32).

    Built coarse to fine: upsample x2 and add finer noise down to cells of `smallest` pixels, then upsample to
    1-pixel cells. Each level keeps one cell of margin around the scene only, so the cost is a few passes over
    the scene whatever the scales.
    """
    h, w = shape
    smallest = 2 ** max(0, round(math.log2(max(1.0, smallest))))
    largest = max(float(largest), 2.0 * smallest)
    levels = max(1, round(math.log2(largest / smallest)) + 1)
    cell = smallest * 2 ** (levels - 1)
    grid = rng.standard_normal((math.ceil(h / cell) + 2, math.ceil(w / cell) + 2), dtype=np.float32)
    origin_y = origin_x = -cell  # scene pixel at grid[0, 0]'s corner: one cell of margin
    amp = 1.0
    while cell > 1:
        grid = _upsample2(grid)
        cell //= 2
        # keep one cell of margin on each side of the scene, drop the rest
        r0, c0 = max(0, -origin_y // cell - 1), max(0, -origin_x // cell - 1)
        grid = grid[r0 : r0 + math.ceil(h / cell) + 3, c0 : c0 + math.ceil(w / cell) + 3]
        origin_y, origin_x = origin_y + r0 * cell, origin_x + c0 * cell
        if cell >= smallest:
            amp *= rough
            grid = grid + amp * rng.standard_normal(grid.shape, dtype=np.float32)
    out = np.ascontiguousarray(grid[-origin_y : -origin_y + h, -origin_x : -origin_x + w])
    del grid
    sample = out[:: max(1, h // 256), :: max(1, w // 256)]
    out -= np.float32(sample.mean())
    out *= np.float32(1.0 / max(float(sample.std()), 1e-6))
    return out


def smooth_down(a: np.ndarray, sigma: float, factor: int) -> np.ndarray:
    """Gaussian blur of a field at scales much larger than a pixel, computed on a decimated grid (cheap on tiles)."""
    factor = 2 ** max(0, round(math.log2(max(1, factor))))
    if factor <= 1:
        return ndimage.gaussian_filter(a, sigma).astype(np.float32)
    h, w = a.shape
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.pad(a, ((0, ph - h), (0, pw - w)), mode="edge")
    small = padded.reshape(ph // factor, factor, pw // factor, factor).mean(axis=(1, 3), dtype=np.float32)
    del padded
    small = ndimage.gaussian_filter(small, sigma / factor)
    while small.shape[0] < ph:
        small = _upsample2(small)
    return np.ascontiguousarray(small[:h, :w])


def shift(a: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Move a field by (dy, dx) pixels, bilinear, edges repeated: out[r, c] = a[r - dy, c - dx]."""
    if abs(dy) < 1e-3 and abs(dx) < 1e-3:
        return a
    h, w = a.shape
    iy, ix = math.floor(dy), math.floor(dx)
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    p = max(abs(iy), abs(ix)) + 2
    padded = np.pad(a, p, mode="edge")

    def view(sy: int, sx: int) -> np.ndarray:
        return padded[p - sy : p - sy + h, p - sx : p - sx + w]

    out = view(iy, ix) * ((1 - fy) * (1 - fx))
    out += view(iy + 1, ix) * (fy * (1 - fx))
    out += view(iy, ix + 1) * ((1 - fy) * fx)
    out += view(iy + 1, ix + 1) * (fy * fx)
    return out


def quantile(a: np.ndarray, q: float) -> float:
    sample = a[:: max(1, a.shape[0] // 512), :: max(1, a.shape[1] // 512)]
    return float(np.quantile(sample, q))


def ramp(shape: tuple[int, int], angle: float, scale: float) -> np.ndarray:
    """A linear ramp across the scene, 0 at its centre, in units of `scale` pixels."""
    h, w = shape
    ys = ((np.arange(h, dtype=np.float32) - h / 2) * np.float32(math.sin(angle) / scale))[:, None]
    xs = ((np.arange(w, dtype=np.float32) - w / 2) * np.float32(math.cos(angle) / scale))[None, :]
    return ys + xs
