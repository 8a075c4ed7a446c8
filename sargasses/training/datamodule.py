"""SargassesDataModule: scenes + label masks -> train / val / test / predict DataLoaders, all from the config.

Everything the config names is checked when the module is built, so a wrong path, a scene without label or an
empty label set fails at the start of `sargasses fit` with a message that names it, not after an hour of training.
Scenes are split by scene or by acquisition date, never by crop, so no raft is seen in two splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
from torch.utils.data import DataLoader, SequentialSampler

from sargasses.errors import SargassesError
from sargasses.reading.labels import LabelledScene, find_labelled_scenes, find_original_format, split_groups
from sargasses.reading.sensors import DEFAULT_BANDS, DEFAULT_RESOLUTION_M, get_profile, is_sentinel2
from sargasses.training.dataset import (
    GridCrops,
    PositiveCrops,
    PredictTiles,
    SameShapeBatches,
    SceneReadOptions,
    SceneStore,
    profile_normalization,
)

PathSpec = str | list[str] | None


class SargassesDataModule(pl.LightningDataModule):
    """The scenes of a training config, split and checked as the module is built.

    LightningCLI shows each argument's help from here (`sargasses fit --help`).

    Args:
        images: scenes to split into train / val / test by `split_by` (a folder, a glob, a file, or a list).
        labels: folder of the label files (default: beside each scene, named `<scene><label_suffix>.<ext>`).
        label_store: a labels GeoPackage written by the QGIS plugin (sargasses.training.label_store): its scenes
            are split like `images` (by `split_by`, into train / val / test), their labels rasterized from it.
        train_images, val_images, test_images: explicit splits instead of `images` (e.g. synthetic seeds).
        predict_images: scenes for `sargasses predict` (no label needed).
        label_format: "auto" (raster, polygons or .npz found per scene) or "original" (Meteo-France layout:
            `images` = folder of `<YYYYMMDD>*.png` OTCI images, `labels` = folder of `<YYYYMMDD>_*.npz` masks).
        sensor: sensor profile name (sargasses.reading.sensors), which gives band names and normalization.
        accepted_sensors: other profiles the model will take too, written in its card (e.g. sentinel2_l1c
            beside sentinel2_l2a when the training data has both levels or `atmosphere_share` > 0).
        bands: bands in model order (default: the sensor's model bands, DEFAULT_BANDS for Sentinel-2).
        resolution: pixel size in metres that scenes are stacked at (None: each raster's own grid).
        split_by: "scene" or "date" (scenes of one date stay in one split).
        val_share, test_share: shares of scene groups for validation and test when `images` is split.
        crop_size: side of training crops in pixels.
        eval_crop_size: side of the validation / test / predict tiles (whole scenes are covered).
        min_positive_share: share of Sargassum pixels a training crop must hold (0.01 = 1 %).
        background_share: share of training crops drawn anywhere, without the Sargassum minimum.
        crops_per_epoch: training crops per epoch (drawn afresh every epoch).
        augment: random flips and 90-degree rotations of training crops.
        atmosphere_share: share of surface-reflectance training crops seen through a random atmosphere
            (top-of-atmosphere, as in L1C; sargasses.synth.atmosphere); 0 keeps them as they are.
        rehearsal_share: with a `label_store`, the share of training crops taken from `train_images` (the
            scenes rehearsed beside the labels); None: by their crop counts, as any other scenes.
        all_touched: polygon labels mark every pixel they touch (default: pixels whose centre is inside).
        class_column: polygon attribute holding 0 / 1 / 255 per polygon, when present.
        preload: keep scenes in memory (fast; for small scenes) or read each crop from disk (whole tiles).
        batch_size: training batch size; eval_batch_size for validation / test / predict (default: same).
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        images: PathSpec = None,
        labels: str | None = None,
        label_store: str | None = None,
        train_images: PathSpec = None,
        val_images: PathSpec = None,
        test_images: PathSpec = None,
        predict_images: PathSpec = None,
        label_format: Literal["auto", "original"] = "auto",
        label_suffix: str = "_label",
        sensor: str = "sentinel2_l2a",
        accepted_sensors: list[str] | None = None,
        bands: list[str] | None = None,
        resolution: float | None = DEFAULT_RESOLUTION_M,
        split_by: Literal["scene", "date"] = "scene",
        val_share: float = 0.15,
        test_share: float = 0.15,
        split_seed: int = 0,
        crop_size: int = 256,
        eval_crop_size: int = 512,
        min_positive_share: float = 0.01,
        background_share: float = 0.3,
        crops_per_epoch: int = 2000,
        augment: bool = True,
        atmosphere_share: float = 0.0,
        rehearsal_share: float | None = None,
        all_touched: bool = False,
        class_column: str | None = "class",
        preload: bool = True,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.profile = get_profile(sensor)
        if bands is None:
            bands = list(DEFAULT_BANDS) if is_sentinel2(self.profile) else self.profile.band_names
        self.bands = [self.profile.canonical_band(b) for b in bands]
        self.accepted_sensors = [get_profile(name).name for name in accepted_sensors or []]
        self.resolution = resolution
        self.normalization = profile_normalization(self.profile, self.bands)
        self._check_sampling()
        self.splits = self._find_splits()
        self.predict_scenes = self._find_predict_scenes()
        self.stores: dict[str, SceneStore] = {}

    # ------------------------------------------------------------------ what the model must know
    @property
    def num_bands(self) -> int:
        return len(self.bands)

    @property
    def input_card(self) -> dict[str, Any]:
        """What the model card takes from the data: linked into the LightningModule by the CLI."""
        resolution = self.resolution or self.profile.band(self.bands[0]).resolution_m
        train = self.splits.get("train", [])
        return {
            "sensor": self.profile.name,
            "accepted_sensors": self.accepted_sensors,
            "band_names": list(self.bands),
            "gsd_m": float(resolution),
            "normalization": self.normalization,
            "scaling": "reflectance" if self.profile.bands[0].wavelength_nm is not None else "rendered 0-255",
            "tile_size": int(self.hparams.eval_crop_size),
            "trained_on": f"{len(train)} scenes ({', '.join(sorted({s.image.parent.name for s in train}))})",
        }

    # ------------------------------------------------------------------ checking the config, finding scenes
    def _check_sampling(self) -> None:
        """Crop sizes and shares the config gives, before any scene is looked for."""
        hp = self.hparams
        for name in ("crop_size", "eval_crop_size"):
            value = hp[name]
            if value < 16 or value % 16:
                raise SargassesError(f"data.{name}={value}: use a multiple of 16 (the networks pool four times)")
        if not 0 <= hp.min_positive_share < 1 or not 0 <= hp.background_share <= 1:
            raise SargassesError("data.min_positive_share must lie in [0, 1) and data.background_share in [0, 1]")
        if not 0 <= hp.atmosphere_share <= 1:
            raise SargassesError(f"data.atmosphere_share={hp.atmosphere_share}: give a share between 0 and 1")
        if hp.rehearsal_share is not None and not 0 <= hp.rehearsal_share <= 1:
            raise SargassesError(f"data.rehearsal_share={hp.rehearsal_share}: give a share between 0 and 1")

    def _find_predict_scenes(self) -> list[LabelledScene]:
        if self.hparams.predict_images is None:
            return []
        return find_labelled_scenes(self.hparams.predict_images, require_labels=False, what="predict_images")

    def _find(self, spec: PathSpec, what: str) -> list[LabelledScene]:
        hp = self.hparams
        if hp.label_format == "original":
            if hp.labels is None:
                raise SargassesError("data.label_format=original needs data.labels (the folder of .npz masks)")
            return find_original_format(spec, hp.labels)
        return find_labelled_scenes(spec, hp.labels, hp.label_suffix, what=what)

    def _find_splits(self) -> dict[str, list[LabelledScene]]:
        hp = self.hparams
        explicit = {"train": hp.train_images, "val": hp.val_images, "test": hp.test_images}
        if hp.images is not None and hp.label_store is not None:
            raise SargassesError("give data.images or data.label_store, not both")
        if hp.images is None and hp.label_store is None and all(v is None for v in explicit.values()):
            if hp.predict_images is not None:
                return {}
            raise SargassesError(
                "no data: set data.images (split automatically), data.label_store or data.train_images / val_images"
            )
        splits: dict[str, list[LabelledScene]] = {}
        scenes: list[LabelledScene] = []
        if hp.label_store is not None:
            from sargasses.training.label_store import labelled_scenes

            scenes = labelled_scenes(hp.label_store)
        elif hp.images is not None:
            scenes = self._find(hp.images, "data.images")
        if scenes:
            if hp.split_by == "scene":
                scenes = [LabelledScene(s.image, s.label, s.image.stem, s.label_key) for s in scenes]
            splits = split_groups(scenes, hp.val_share, hp.test_share, hp.split_seed)
        for split, spec in explicit.items():
            if spec is not None:
                found = self._find(spec, f"data.{split}_images")
                # beside a labels file they add to its splits (synthetic scenes rehearsed during a fine-tune)
                splits[split] = splits.get(split, []) + found if hp.label_store is not None else found
        self._check_no_leak(splits)
        return splits

    @staticmethod
    def _check_no_leak(splits: dict[str, list[LabelledScene]]) -> None:
        seen: dict[Path, str] = {}
        for split, scenes in splits.items():
            for scene in scenes:
                other = seen.setdefault(scene.image.absolute(), split)
                if other != split:
                    raise SargassesError(
                        f"scene {scene.image} is in both the {other} and the {split} sets; keep them apart"
                    )

    # ------------------------------------------------------------------ Lightning hooks
    def _store(self, split: str) -> SceneStore:
        if split not in self.stores:
            scenes = self.predict_scenes if split == "predict" else self.splits.get(split, [])
            if not scenes:
                raise SargassesError(f"no {split} scenes: set data.{split}_images (or data.images to split)")
            options = SceneReadOptions(
                self.profile.name, self.bands, self.resolution, self.hparams.all_touched, self.hparams.class_column
            )
            self.stores[split] = SceneStore(scenes, options, preload=self.hparams.preload)
        return self.stores[split]

    def setup(self, stage: str) -> None:
        needed = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"], "predict": ["predict"]}[stage]
        if stage == "fit" and self.hparams.label_store is not None and not self.splits.get("val"):
            needed = ["train"]  # a few labelled dates: every one is trained on, none scored during fit
        for split in needed:
            self._store(split)
        if stage == "fit":
            hp = self.hparams
            self.train_set = PositiveCrops(
                self.stores["train"],
                hp.crop_size,
                self.normalization,
                hp.crops_per_epoch,
                hp.min_positive_share,
                hp.background_share,
                augment=hp.augment,
                atmosphere_share=hp.atmosphere_share,
                rehearsed=[hp.label_store is not None and s.label_key is None for s in self.splits["train"]],
                rehearsal_share=hp.rehearsal_share if hp.label_store is not None else None,
            )

    def _loader(self, dataset, shuffle: bool, batch_size: int) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=False,
        )

    @property
    def _eval_batch(self) -> int:
        return self.hparams.eval_batch_size or self.hparams.batch_size

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, False, self.hparams.batch_size)  # crops are random already

    def val_dataloader(self) -> DataLoader | list:
        if self.hparams.label_store is not None and not self.splits.get("val"):
            return []
        return self._loader(
            GridCrops(self._store("val"), self.hparams.eval_crop_size, self.normalization), False, self._eval_batch
        )

    def test_dataloader(self) -> DataLoader:
        return self._loader(
            GridCrops(self._store("test"), self.hparams.eval_crop_size, self.normalization), False, self._eval_batch
        )

    def predict_dataloader(self) -> DataLoader:
        tiles = PredictTiles(self._store("predict"), self.hparams.eval_crop_size, self.normalization)
        self.predict_tiles = tiles
        workers = self.hparams.num_workers
        batches = SameShapeBatches(SequentialSampler(tiles), self._eval_batch, shapes=tiles.shapes)
        return DataLoader(tiles, batch_sampler=batches, num_workers=workers, persistent_workers=workers > 0)
