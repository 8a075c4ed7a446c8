"""Strokes: windrows, filaments, mats, slicks, foam streaks and wakes, rendered as sub-pixel coverage.

A stroke is a centreline with a width and a covered fraction at each sample; it is tiled by small area elements
summed into the pixels that hold them, so a windrow narrower than a pixel covers the right share of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Spatial scale, in pixels of 20 m.
STEP_ALONG = 0.25  # step along a stroke
STEP_ACROSS = 0.25  # step across a stroke


def _wander(rng: np.random.Generator, s: np.ndarray, spacing: float) -> np.ndarray:
    """Smooth random profile along a stroke, mean 0, std about 1."""
    knots = rng.standard_normal(int(s[-1] // spacing) + 3) if len(s) else np.zeros(3)
    return np.interp(s / spacing, np.arange(len(knots)), knots).astype(np.float64)


@dataclass
class Stroke:
    """Centreline samples with the width (px) and covered fraction at each."""

    y: np.ndarray
    x: np.ndarray
    theta: np.ndarray
    width: np.ndarray
    density: np.ndarray


def windrow(rng, y0, x0, heading, length, width0, density0, wiggle=0.25, gaps=0.4) -> Stroke:
    """A curved windrow: heading meanders, width tapers at the ends and swells, density breaks into pieces."""
    n = max(2, int(length / STEP_ALONG))
    s = np.arange(n) * STEP_ALONG
    theta = heading + wiggle * sum(
        rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * s / rng.uniform(40, 400) + rng.uniform(0, 2 * np.pi))
        for _ in range(3)
    )
    y = y0 + np.cumsum(np.sin(theta)) * STEP_ALONG
    x = x0 + np.cumsum(np.cos(theta)) * STEP_ALONG
    y -= (y[-1] - y[0]) / 2  # centre the stroke on (y0, x0)
    x -= (x[-1] - x[0]) / 2
    ramp = max(length * 0.15, 0.5)
    taper = np.clip(np.minimum(s, length - s) / ramp, 0.05, 1.0) ** 0.5
    width = width0 * taper * np.clip(1 + 0.35 * _wander(rng, s, rng.uniform(8, 40)), 0.3, 2.0)
    density = density0 * np.clip(1 + gaps * _wander(rng, s, rng.uniform(5, 30)), 0.0, 1.0)
    return Stroke(y, x, theta, width, density)


def _stroke_samples(rng, strokes: list[Stroke]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area elements (y, x, area in px^2) that tile each stroke: coverage = sum of areas per pixel."""
    y = np.concatenate([s.y for s in strokes])
    x = np.concatenate([s.x for s in strokes])
    th = np.concatenate([s.theta for s in strokes])
    w = np.concatenate([s.width for s in strokes])
    d = np.concatenate([s.density for s in strokes])
    keep = (w > 0) & (d > 0)
    y, x, th, w, d = y[keep], x[keep], th[keep], w[keep], d[keep]
    m = np.maximum(1, np.ceil(w / STEP_ACROSS)).astype(np.int64)
    idx = np.repeat(np.arange(len(m)), m)
    j = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    u = (-0.5 + (j + rng.random(len(j))) / m[idx]) * w[idx]  # across, stratified
    t = (rng.random(len(j)) - 0.5) * STEP_ALONG  # along, jittered
    sin, cos = np.sin(th[idx]), np.cos(th[idx])
    ys = y[idx] + t * sin + u * cos
    xs = x[idx] + t * cos - u * sin
    area = STEP_ALONG * (w / m * d)[idx]
    return ys, xs, area


@dataclass
class Patch:
    r0: int
    c0: int
    values: np.ndarray  # float32

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r0 + self.values.shape[0]), slice(self.c0, self.c0 + self.values.shape[1])

    def bbox(self) -> list[int]:
        rows, cols = np.nonzero(self.values > 0)
        if not len(rows):
            return [self.r0, self.c0, self.r0, self.c0]
        return [
            self.r0 + int(rows.min()),
            self.c0 + int(cols.min()),
            self.r0 + int(rows.max()) + 1,
            self.c0 + int(cols.max()) + 1,
        ]


def _splat(ys, xs, area, shape) -> Patch | None:
    """Sum area elements into the pixels that hold them (pixel (r, c) spans [r, r+1) x [c, c+1))."""
    r = np.floor(ys).astype(np.int64)
    c = np.floor(xs).astype(np.int64)
    inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    if not inside.any():
        return None
    r, c, area = r[inside], c[inside], area[inside]
    r0, c0 = int(r.min()), int(c.min())
    h, w = int(r.max()) - r0 + 1, int(c.max()) - c0 + 1
    values = np.bincount((r - r0) * w + (c - c0), weights=area, minlength=h * w).reshape(h, w)
    return Patch(r0, c0, values.astype(np.float32))


def render(rng, strokes: list[Stroke], shape) -> Patch | None:
    if not strokes:
        return None
    return _splat(*_stroke_samples(rng, strokes), shape)
