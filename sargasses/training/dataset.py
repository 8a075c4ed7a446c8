"""Training crops: scenes and labels -> normalized (x, y) tensors for Lightning.

- `SceneStore` reads each scene once (or window by window for scenes too big to keep) and its label on the same grid;
  pixels where any band is nodata become label 255 (not scorable).
- `PositiveCrops` draws training crops: most with at least `min_positive_share` Sargassum pixels (positives are rare,
  about 0.25 % of a scene), the rest anywhere (`background_share`), so the model also meets clouds, glint, foam
  and land; each with a random flip and 90-degree rotation, and `atmosphere_share` of the surface-reflectance
  crops seen through a random atmosphere (top-of-atmosphere, as in L1C), so one model serves L1C and L2A.
- `GridCrops` tiles every scene without overlap for validation and test, so scores cover whole scenes;
  `PredictTiles` does the same without labels for `sargasses predict`.
Normalization comes from the sensor profile (`profile_normalization`) and is stored in the model card, so the
detection engine normalizes exactly as training did.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import BatchSampler, Dataset, Sampler

from sargasses.errors import SargassesError
from sargasses.reading.labels import IGNORE, LabelledScene
from sargasses.reading.sensors import SensorProfile
from sargasses.synth.atmosphere import random_atmosphere, to_top_of_atmosphere
from sargasses.training.label_store import marked_false_positives, read_item_label

# Typical open-ocean surface reflectance against wavelength (nm), from the water class of the MARIDA means
# (Kikaki et al. 2022): the centre of the data a Sargassum model sees. Bands are normalized as
# (reflectance - typical water) / REFLECTANCE_SCALE, so dark water sits near 0, algae a few units above it
# and clouds tens of units above: contrast where it matters, without statistics that depend on one data set.
_WATER_SPECTRUM_NM = (490, 560, 665, 705, 740, 783, 842, 865, 1610, 2190)
_WATER_SPECTRUM = (0.034, 0.024, 0.017, 0.014, 0.014, 0.015, 0.013, 0.014, 0.009, 0.007)
REFLECTANCE_SCALE = 0.02
# Rendered 8-bit channels (the original project's OTCI PNG images): 0-255 to about -1..1.
RENDERED_MEAN, RENDERED_STD = 127.5, 64.0


def profile_normalization(profile: SensorProfile, band_names: Sequence[str]) -> dict[str, list[float]]:
    """Per-band mean and std for `band_names` of `profile`, as the model card stores them."""
    mean, std = [], []
    for name in band_names:
        wavelength = profile.band(name).wavelength_nm
        if wavelength is None:  # an RGB rendering, not reflectance
            mean.append(RENDERED_MEAN)
            std.append(RENDERED_STD)
        else:
            mean.append(float(np.interp(wavelength, _WATER_SPECTRUM_NM, _WATER_SPECTRUM)))
            std.append(REFLECTANCE_SCALE)
    return {"mean": mean, "std": std}


def normalize(reflectance: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(C, h, w) reflectance -> normalized float32.

    Nodata (NaN) is fed as reflectance 0 before normalization, as the detection engine feeds it (model card
    contract), so the network sees nodata borders in training exactly as in use.
    """
    x = np.nan_to_num(reflectance, nan=0.0, posinf=0.0, neginf=0.0)
    return ((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32, copy=False)


@dataclass
class SceneReadOptions:
    """How scenes are read: the sensor profile name, the bands in model order, the grid's pixel size."""

    sensor: str | None
    bands: list[str]
    resolution: float | None
    all_touched: bool = False
    class_column: str | None = "class"


class SceneStore:
    """The scenes of one split: labels in memory, reflectance in memory (`preload`) or read per window.

    Scene files are opened lazily in each process, so the store can be handed to DataLoader workers.
    """

    def __init__(self, scenes: Sequence[LabelledScene], options: SceneReadOptions, preload: bool = True):
        from sargasses.reading.scene import open_scene

        self.scenes = list(scenes)
        self.options = options
        self.preload = preload
        self.labels: list[np.ndarray | None] = []
        self.marked: list[np.ndarray | None] = []  # false positives a user marked (labels-file scenes only)
        self.shapes: list[tuple[int, int]] = []
        self.grids: list[tuple] = []  # (crs, transform) for writing predictions
        self.top_of_atmosphere: list[bool] = []  # L1C scenes: the atmosphere is already in their pixels
        self._images: list[np.ndarray | None] = []
        self._open: dict[int, object] = {}
        self._pid = os.getpid()
        for item in self.scenes:
            with self._open_scene(open_scene, item) as scene:
                if scene.count != len(options.bands):
                    raise SargassesError(
                        f"{item.image} gives {scene.count} bands, the model wants {len(options.bands)}"
                    )
                reflectance = scene.read() if preload else None
                label = None
                if item.label is not None:
                    label = read_item_label(item, scene, options.all_touched, options.class_column)
                    if reflectance is not None:
                        label = np.where(np.isnan(reflectance).any(axis=0), IGNORE, label).astype(np.uint8)
                self.labels.append(label)
                self.marked.append(marked_false_positives(item, scene, options.all_touched))
                self._images.append(reflectance)
                self.shapes.append((scene.height, scene.width))
                self.grids.append((scene.crs, scene.transform))
                self.top_of_atmosphere.append(scene.top_of_atmosphere)

    def _open_scene(self, open_scene, item: LabelledScene):
        try:
            return open_scene(
                item.image, bands=self.options.bands, resolution=self.options.resolution, sensor=self.options.sensor
            )
        except SargassesError as exc:
            raise SargassesError(f"scene {item.image}: {exc}") from None

    def __len__(self) -> int:
        return len(self.scenes)

    def read(self, index: int, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Reflectance (C, h, w) and label (h, w) of a window; outside the scene: NaN and 255."""
        image = self._images[index]
        if image is not None:
            x = _padded_window(image, row, col, height, width, np.nan)
        else:
            from rasterio.windows import Window

            x = self._scene(index).read(Window(col, row, width, height))
        label = self.labels[index]
        y = None
        if label is not None:
            y = _padded_window(label[None], row, col, height, width, IGNORE)[0]
            y = np.where(np.isnan(x).any(axis=0), IGNORE, y).astype(np.uint8)
        return x, y

    def _scene(self, index: int):
        from sargasses.reading.scene import open_scene

        if self._pid != os.getpid():  # a DataLoader worker: never share GDAL handles across processes
            self._open, self._pid = {}, os.getpid()
        if index not in self._open:
            self._open[index] = self._open_scene(open_scene, self.scenes[index])
        return self._open[index]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_open"] = {}
        return state


def _padded_window(array: np.ndarray, row: int, col: int, height: int, width: int, fill) -> np.ndarray:
    """array[:, row:row+height, col:col+width], with `fill` where the window leaves the array."""
    _, rows, cols = array.shape
    out = np.full((array.shape[0], height, width), fill, dtype=array.dtype)
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + height, rows), min(col + width, cols)
    if r1 > r0 and c1 > c0:
        out[:, r0 - row : r1 - row, c0 - col : c1 - col] = array[:, r0:r1, c0:c1]
    return out


def _window_sums(mask: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of `mask` over every size x size window whose origin lies on the stride grid: (rows, cols, sums)."""
    height, width = mask.shape
    integral = np.zeros((height + 1, width + 1), dtype=np.int64)
    integral[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    rows = np.arange(0, max(height - size, 0) + 1, stride)
    cols = np.arange(0, max(width - size, 0) + 1, stride)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    r1, c1 = np.minimum(r + size, height), np.minimum(c + size, width)
    sums = integral[r1, c1] - integral[r, c1] - integral[r1, c] + integral[r, c]
    return r.ravel(), c.ravel(), sums.ravel()


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random flip and a random number of quarter turns, the same for image and label."""
    k = int(rng.integers(4))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
    if rng.random() < 0.5:
        x, y = x[:, :, ::-1], y[:, ::-1]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _crop_pools(
    store: SceneStore,
    crop_size: int,
    stride: int,
    min_positive_share: float,
    min_scorable_share: float,
    rehearsed: Sequence[bool],
) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """Crop origins (scene, row, col) on the stride grid, per group (rehearsed or not): (with enough Sargassum or
    marked false positives, anywhere), every crop at least `min_scorable_share` scorable."""
    area = crop_size * crop_size
    found: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for index, label in enumerate(store.labels):
        if label is None:
            raise SargassesError(f"training scene {store.scenes[index].image} has no label")
        named = label == 1 if store.marked[index] is None else (label == 1) | store.marked[index]
        rows, cols, pos = _window_sums(named, crop_size, stride)
        _, _, scorable = _window_sums(label != IGNORE, crop_size, stride)
        ok = scorable >= min_scorable_share * area
        keep = ok & (pos >= max(min_positive_share * area, 1))
        origins = np.stack([np.full(rows.shape, index), rows, cols], 1)
        found[bool(rehearsed[index])][0].append(origins[keep])
        found[bool(rehearsed[index])][1].append(origins[ok])
    empty = np.zeros((0, 3), int)
    return {g: tuple(np.concatenate(lists) if lists else empty for lists in pair) for g, pair in found.items()}


class PositiveCrops(Dataset):
    """`length` random training crops per epoch, `1 - background_share` of them with enough Sargassum (or of the
    false positives a user marked: a fine-tune's lesson).

    `rehearsed` marks scenes that are only rehearsed (a fine-tune's synthetic scenes beside the user's labels):
    `rehearsal_share` of the crops come from them and the rest from the other scenes, whatever the scenes' sizes,
    so that a few small labelled scenes are not drowned by the rehearsal (positive crops come from the other group
    when one has no Sargassum: a fine-tune on false positives only).
    """

    def __init__(
        self,
        store: SceneStore,
        crop_size: int,
        normalization: dict[str, list[float]],
        length: int,
        min_positive_share: float = 0.01,
        background_share: float = 0.3,
        min_scorable_share: float = 0.5,
        augment: bool = True,
        stride: int | None = None,
        atmosphere_share: float = 0.0,
        rehearsed: Sequence[bool] = (),
        rehearsal_share: float | None = None,
    ):
        self.store = store
        self.atmosphere_share = atmosphere_share
        self.crop_size = crop_size
        self.mean = np.asarray(normalization["mean"], dtype=np.float32)
        self.std = np.asarray(normalization["std"], dtype=np.float32)
        self.length = length
        self.background_share = background_share
        self.augment = augment
        self.rehearsal_share = rehearsal_share
        rehearsed = list(rehearsed) or [False] * len(store)
        self.pools = _crop_pools(
            store, crop_size, stride or max(crop_size // 16, 1), min_positive_share, min_scorable_share, rehearsed
        )
        if not any(len(positive) for positive, _ in self.pools.values()):
            total = sum(int((lab == 1).sum()) for lab in store.labels)
            raise SargassesError(
                f"no {crop_size}x{crop_size} training crop reaches {min_positive_share:.2%} Sargassum pixels "
                f"({total} labelled Sargassum pixels in {len(store)} training scenes): the label set is empty or "
                "too sparse; check the labels, or lower data.min_positive_share / data.crop_size"
            )

    def __len__(self) -> int:
        return self.length

    def origin(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(scene, row, col) of a crop: from the rehearsed scenes or the others (`rehearsal_share`; without it,
        by their crop counts), anywhere (`background_share`) or with enough Sargassum."""
        groups = [g for g in (False, True) if len(self.pools[g][1])]
        if self.rehearsal_share is None or len(groups) < 2:
            positive = np.concatenate([self.pools[g][0] for g in groups])
            anywhere = np.concatenate([self.pools[g][1] for g in groups])
        else:
            group = bool(rng.random() < self.rehearsal_share)
            positive, anywhere = self.pools[group]
            if not len(positive):
                positive = self.pools[not group][0]
        pool = anywhere if rng.random() < self.background_share or not len(positive) else positive
        scene, row, col = pool[int(rng.integers(len(pool)))]
        return int(scene), int(row), int(col)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # torch's RNG is seeded per worker and per epoch by Lightning; the index keeps DDP ranks apart
        rng = np.random.default_rng([int(torch.randint(0, 2**31 - 1, (1,))), index])
        scene, row, col = self.origin(rng)
        x, y = self.store.read(scene, row, col, self.crop_size, self.crop_size)
        if not self.store.top_of_atmosphere[scene] and rng.random() < self.atmosphere_share:
            x = to_top_of_atmosphere(x, self.store.options.bands, random_atmosphere(rng), out=x)
        x = normalize(x, self.mean, self.std)
        if self.augment:
            x, y = augment(x, y, rng)
        return torch.from_numpy(x), torch.from_numpy(y[None].astype(np.float32))


class GridCrops(Dataset):
    """Every scene cut into crop_size tiles without overlap (edge tiles padded as not scorable)."""

    def __init__(self, store: SceneStore, crop_size: int, normalization: dict[str, list[float]]):
        self.store = store
        self.crop_size = crop_size
        self.mean = np.asarray(normalization["mean"], dtype=np.float32)
        self.std = np.asarray(normalization["std"], dtype=np.float32)
        self.tiles = [
            (index, row, col)
            for index, (height, width) in enumerate(store.shapes)
            for row in range(0, height, crop_size)
            for col in range(0, width, crop_size)
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int):
        scene, row, col = self.tiles[index]
        x, y = self.store.read(scene, row, col, self.crop_size, self.crop_size)
        x = torch.from_numpy(normalize(x, self.mean, self.std))
        return x, torch.from_numpy(y[None].astype(np.float32))


class PredictTiles(Dataset):
    """Every scene on `sargasses detect`'s tile grid (sargasses.detection.tiling): the same tiles, overlaps, edge
    mirroring and blend weights, so that `sargasses predict` gives detect's probabilities. Items are x only, as
    mfai's `predict_step` expects; SameShapeBatches batches them."""

    def __init__(self, store: SceneStore, tile_size: int, normalization: dict[str, list[float]]):
        from sargasses.detection.tiling import tile_grid, tile_overlap_for

        self.store = store
        self.mean = np.asarray(normalization["mean"], dtype=np.float32)
        self.std = np.asarray(normalization["std"], dtype=np.float32)
        overlap = tile_overlap_for(tile_size)
        self.grids = [tile_grid(height, width, tile_size, overlap) for height, width in store.shapes]
        self.tiles = [
            (scene, row, col, h, w) for scene, grid in enumerate(self.grids) for _, row, col, h, w in grid.tiles()
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> torch.Tensor:
        from sargasses.detection.tiling import mirror_pad

        scene, row, col, h, w = self.tiles[index]
        height, width = self.store.shapes[scene]
        x, _ = self.store.read(scene, row, col, min(h, height - row), min(w, width - col))
        return torch.from_numpy(normalize(mirror_pad(x, h, w), self.mean, self.std))

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(height, width) of each tile, for SameShapeBatches."""
        return [(h, w) for _, _, _, h, w in self.tiles]


class SameShapeBatches(BatchSampler):
    """Batches of tiles of one shape (a grid's tiles differ by 32 px and cannot be stacked), in the order the
    sampler gives; a BatchSampler so that Lightning can put its own (e.g. distributed) sampler in."""

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool = False, shapes: Sequence = ()):
        super().__init__(sampler, batch_size, drop_last)
        self.shapes = list(shapes)

    def __iter__(self) -> Iterator[list[int]]:
        pending: dict[tuple[int, int], list[int]] = {}
        for index in self.sampler:
            batch = pending.setdefault(tuple(self.shapes[index]), [])
            batch.append(index)
            if len(batch) == self.batch_size:
                yield pending.pop(tuple(self.shapes[index]))
        if not self.drop_last:
            yield from (batch for batch in pending.values() if batch)

    def __len__(self) -> int:
        counts: dict[tuple[int, int], int] = {}
        for index in self.sampler:
            counts[tuple(self.shapes[index])] = counts.get(tuple(self.shapes[index]), 0) + 1
        rounding = (lambda n: n // self.batch_size) if self.drop_last else (lambda n: -(-n // self.batch_size))
        return sum(rounding(n) for n in counts.values())
