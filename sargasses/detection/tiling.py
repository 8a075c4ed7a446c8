"""The tile grid and the blend weights: how a scene of any size is cut into tiles and put back without seams.

Tile sides are multiples of 32 that may differ by 32 from one row or column to the next (`tile_spans`): as few
tiles as the card's size allows, the last ending at the scene's edge, and few pixels computed twice. Weights ramp
down across the overlaps (every weight > 0, so scene borders covered by one tile need no special case)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sargasses.errors import SargassesError

TILE_MULTIPLE = 32  # mfai's U-Nets pool 4-5 times: tiles whose sides are multiples of 32 need no padding


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_spans(length: int, tile_size: int, overlap: int) -> tuple[tuple[int, int], ...]:
    """(start, size) of the tiles along one axis: as few tiles as `tile_size` and `overlap` allow, each as small as
    it can be, the last ending at the edge; a side shorter than a tile gets one tile (rounded up to a multiple of 32).

    Sides are multiples of 32 but need not all be equal: a 5490-px side takes 13 tiles of 480 or 512 px (6272 px
    computed) rather than 13 of 512 (6656 px), 11 % fewer pixels computed twice in the overlaps. Larger tiles come
    first, and the slack left once every seam has `overlap` pixels is spread over the seams.
    """
    if length <= tile_size:
        return ((0, min(tile_size, _round_up(length, TILE_MULTIPLE))),)
    count = max(2, math.ceil((length - overlap) / (tile_size - overlap)))
    needed = length + (count - 1) * overlap  # pixels of tile side that give every seam `overlap` pixels
    base = min(tile_size, needed // count // TILE_MULTIPLE * TILE_MULTIPLE)
    larger = min(count, _round_up(max(0, needed - count * base), TILE_MULTIPLE) // TILE_MULTIPLE)
    sizes = [base + TILE_MULTIPLE] * larger + [base] * (count - larger)
    slack = sum(sizes) - needed
    spans, start = [], 0
    for i, size in enumerate(sizes):
        spans.append((start, size))
        start += size - overlap - (slack * (i + 1) // (count - 1) - slack * i // (count - 1))
    return tuple(spans)


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    overlap: int
    rows: tuple[tuple[int, int], ...]  # (start, height) of each row of tiles
    cols: tuple[tuple[int, int], ...]  # (start, width) of each column of tiles

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def tile_h(self) -> int:
        """The tallest tile (the blending buffer's height)."""
        return max(size for _, size in self.rows)

    @property
    def tile_w(self) -> int:
        return max(size for _, size in self.cols)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """The distinct (height, width) of the tiles (at most four)."""
        return sorted({(h, w) for _, h in self.rows for _, w in self.cols}, reverse=True)

    def tiles(self) -> Iterator[tuple[int, int, int, int, int]]:
        """(tile-row index, row, col, height, width) in reading order: rows top to bottom, every other row right to
        left.

        A row of tiles shares its lower blocks of the file with the next row; starting that next row where the
        last one ended finds them still in GDAL's block cache, which then need not hold a whole row of blocks.
        """
        for i, (row, height) in enumerate(self.rows):
            for col, width in self.cols if i % 2 == 0 else self.cols[::-1]:
                yield i, row, col, height, width


def tile_grid(height: int, width: int, tile_size: int, overlap: int) -> TileGrid:
    """The tiles covering a height x width scene (spans from tile_spans; `tile_size` rounded down to a multiple
    of 32); a side smaller than a tile gets one tile."""
    if height < 1 or width < 1:
        raise SargassesError("the area to process is empty; check --extent and the input raster")
    tile_size = max(TILE_MULTIPLE, tile_size // TILE_MULTIPLE * TILE_MULTIPLE)
    overlap = min(overlap, tile_size // 4)
    return TileGrid(
        height, width, overlap, tile_spans(height, tile_size, overlap), tile_spans(width, tile_size, overlap)
    )


def tile_overlap_for(tile_size: int) -> int:
    """Overlap between inference tiles: 64 px (1.3 km at 20 m) covers the network's useful context, at most a quarter
    of the tile."""
    return min(64, tile_size // 4)


def mirror_pad(data: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, h, w) -> (C, height, width), the scene mirrored into the part of a tile that overhangs it (a side shorter
    than a tile is rounded up to 32 px): zeros there would be read by a model as a dark shore and give false rafts."""
    _, h, w = data.shape
    if (h, w) == (height, width):
        return data
    return np.pad(data, ((0, 0), (0, height - h), (0, width - w)), mode="symmetric")


def blend_ramp(n: int, overlap: int) -> np.ndarray:
    """(n,) float32: 1 inside, ramping linearly down to 1/(overlap+1) at both ends."""
    i = np.arange(n, dtype=np.float32)
    return np.minimum(1.0, np.minimum(i + 1, n - i) / (max(overlap, 0) + 1)).astype(np.float32)


def blend_weights(tile_h: int, tile_w: int, overlap: int) -> np.ndarray:
    """(tile_h, tile_w) float32 weights: 1 inside, ramping linearly down to 1/(overlap+1) at the tile's edges.

    Neighbouring tiles' ramps cross in the overlap, so the blended result moves smoothly from one tile's
    prediction to the next: no seam, and the unreliable border pixels of a tile count least.
    """
    return np.outer(blend_ramp(tile_h, overlap), blend_ramp(tile_w, overlap))


def weight_sums(spans: Sequence[tuple[int, int]], length: int, overlap: int) -> np.ndarray:
    """(length,) float32: the tiles' ramps along one axis, summed.

    Weights are outer products of ramps and the grid is a product of rows and columns, so the sum of every
    tile's weights at a pixel is weight_sums(rows)[y] * weight_sums(cols)[x], and no buffer as wide as the scene
    holds it. Tiles that are not run (no water) change nothing: every pixel they cover is masked.
    """
    total = np.zeros(length, np.float32)
    for start, size in spans:
        total[start : start + size] += blend_ramp(size, overlap)
    return total
