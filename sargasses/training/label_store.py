"""The labels GeoPackage that the QGIS plugin writes as users correct detections: read, written, rasterized.

One file per project or folder (docs/training.md, "Fine-tuning on your own coast"), in EPSG:4326, two layers:
- `labels`: polygons with `scene` (the raster's path), `kind` (sargassum | false_positive | not_sargassum),
  `date`, `author`, `created`, `detection` (the detection a polygon was copied from; empty when drawn);
- `looked_at`: the areas a user reviewed, with `scene`, `run`, `date`, `author`, `created`.
On a scene's grid they become a training label: looked-at areas 0, false positives and not-Sargassum areas 0,
Sargassum 1 (drawn last: a raft drawn inside a not-Sargassum area is a raft), a rim of RIM_PX pixels around the
Sargassum and everything else 255 (not scored).

The file is the user's data: it is written whole under a temporary name and renamed (sargasses.atomic), and a
fine-tune only ever reads it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.errors import SargassesError
from sargasses.reading.labels import IGNORE, LabelledScene, burn_polygons, read_label

LABELS_LAYER, LOOKED_AT_LAYER = "labels", "looked_at"
KINDS = ("sargassum", "false_positive", "not_sargassum")
NEGATIVE_KINDS = ("false_positive", "not_sargassum")
STORE_CRS = "EPSG:4326"
# Pixels this close to a Sargassum polygon are left unscored: a raft's rim is mixed water and weed, and a polygon
# copied from a detection follows the detection's edge, not the raft's. Trained as "not Sargassum", rims and the
# faint ends of windrows would teach the model to shrink and miss rafts.
RIM_PX = 2
LABEL_FIELDS = ("scene", "kind", "date", "author", "created", "detection")
LOOKED_AT_FIELDS = ("scene", "run", "date", "author", "created")


@dataclass
class StoreScene:
    """One scene of a labels file: what was marked on it."""

    image: Path
    date: str
    counts: dict[str, int] = field(default_factory=dict)  # kind -> polygons, and "looked_at"


def is_label_store(path: str | Path) -> bool:
    """A GeoPackage with the two layers of a labels file."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg" or not path.is_file():
        return False
    import pyogrio

    try:
        names = {str(row[0]) for row in pyogrio.list_layers(path)}
    except Exception:
        return False
    return {LABELS_LAYER, LOOKED_AT_LAYER} <= names


def read_store(path: str | Path) -> tuple[Any, Any]:
    """(labels, looked_at) GeoDataFrames in EPSG:4326; a file that is not a labels file is refused by name."""
    import geopandas as gpd

    path = Path(path)
    if not path.is_file():
        raise SargassesError(f"labels file {path} does not exist; mark detections in QGIS first, or check the path")
    if not is_label_store(path):
        raise SargassesError(
            f"{path} is not a Sargasses labels file (it needs layers '{LABELS_LAYER}' and '{LOOKED_AT_LAYER}')"
        )
    frames = []
    for layer, names in ((LABELS_LAYER, LABEL_FIELDS), (LOOKED_AT_LAYER, LOOKED_AT_FIELDS)):
        frame = gpd.read_file(path, layer=layer)
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise SargassesError(f"layer '{layer}' of {path} lacks the field(s) {', '.join(missing)}")
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        if frame.crs is None:
            frame = frame.set_crs(STORE_CRS)
        frames.append(frame)
    labels, looked = frames
    odd = sorted(set(labels["kind"].astype(str)) - set(KINDS))
    if odd:
        raise SargassesError(f"labels in {path} have unknown kind(s) {', '.join(odd)}; use {', '.join(KINDS)}")
    for layer, frame in ((LABELS_LAYER, labels), (LOOKED_AT_LAYER, looked)):
        unnamed = int((frame["scene"].isna() | (frame["scene"].astype(str).str.strip() == "")).sum())
        if unnamed:  # a polygon drawn where no image was: nothing to learn it from
            raise SargassesError(
                f"{unnamed} feature(s) of layer '{layer}' of {path} have no scene: open the file in QGIS and fill "
                "in their scene (the image file) or delete them"
            )
    return labels, looked


def write_store(path: str | Path, labels: Any, looked_at: Any) -> Path:
    """Write both layers to `path` at once: a temporary GeoPackage, then renamed over the old one."""
    import geopandas as gpd

    from sargasses.atomic import atomic_write

    def frame(data: Any, names: Sequence[str]) -> Any:
        data = gpd.GeoDataFrame(data).copy()
        if data.crs is None:
            data = data.set_crs(STORE_CRS)
        data = data.to_crs(STORE_CRS)
        for name in names:
            if name not in data.columns:
                data[name] = ""
        return data[[*names, "geometry"]]

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():  # GDAL's note that the temporary name does not end in .gpkg
            warnings.filterwarnings("ignore", message=".*(extension|non conformant).*")
            frame(labels, LABEL_FIELDS).to_file(tmp, layer=LABELS_LAYER, driver="GPKG")
            frame(looked_at, LOOKED_AT_FIELDS).to_file(tmp, layer=LOOKED_AT_LAYER, driver="GPKG", mode="a")

    return atomic_write(Path(path), write)


def empty_store_frames() -> tuple[Any, Any]:
    import geopandas as gpd

    return (
        gpd.GeoDataFrame({name: [] for name in LABEL_FIELDS}, geometry=[], crs=STORE_CRS),
        gpd.GeoDataFrame({name: [] for name in LOOKED_AT_FIELDS}, geometry=[], crs=STORE_CRS),
    )


def add_to_store(path: str | Path, labels: Any = None, looked_at: Any = None) -> Path:
    """Append polygons (GeoDataFrames in any CRS) to a labels file, creating it when missing; written atomically."""
    import pandas as pd

    path = Path(path)
    old_labels, old_looked = read_store(path) if path.exists() else empty_store_frames()
    parts = []
    for old, new in ((old_labels, labels), (old_looked, looked_at)):
        if new is not None and len(new):
            new = new.to_crs(STORE_CRS) if new.crs is not None else new.set_crs(STORE_CRS)
            old = pd.concat([old, new], ignore_index=True)
        parts.append(old)
    return write_store(path, *parts)


# --------------------------------------------------------------------------- scenes and their labels
def store_scenes(path: str | Path) -> list[StoreScene]:
    """The scenes a labels file names, with their counts; scenes whose file is gone are left out with a warning."""
    labels, looked = read_store(path)
    names = sorted(set(labels["scene"].astype(str)) | set(looked["scene"].astype(str)))
    scenes, gone = [], []
    for name in names:
        image = Path(name)
        if not image.is_file():
            gone.append(name)
            continue
        mine = labels[labels["scene"].astype(str) == name]
        counts = {kind: int((mine["kind"] == kind).sum()) for kind in KINDS}
        counts["looked_at"] = int((looked["scene"].astype(str) == name).sum())
        dates = [str(d) for d in [*mine["date"], *looked[looked["scene"].astype(str) == name]["date"]] if d]
        scenes.append(StoreScene(image, dates[0] if dates else "", counts))
    if gone:
        warnings.warn(
            f"{len(gone)} scene(s) of {path} no longer exist and are left out: {', '.join(gone[:3])}", stacklevel=2
        )
    if not scenes:
        raise SargassesError(f"{path} names no scene that exists on this machine; mark detections in QGIS first")
    return scenes


def labelled_scenes(path: str | Path) -> list[LabelledScene]:
    """The scenes of a labels file for the DataModule: grouped by date, labelled from the file itself."""
    path = Path(path)
    return [
        LabelledScene(image=s.image, label=path, group=s.date or s.image.stem, label_key=str(s.image))
        for s in store_scenes(path)
    ]


def read_item_label(
    item: LabelledScene, scene: Any, all_touched: bool = False, class_column: str | None = "class"
) -> np.ndarray:
    """The label of a labelled scene: from the labels store when the item names its scene there (label_key),
    from its own label file otherwise (reading.labels.read_label)."""
    if item.label_key is not None:
        return rasterize_store(item.label, item.label_key, scene, all_touched=all_touched)
    return read_label(item.label, scene, all_touched, class_column)


def marked_false_positives(item: LabelledScene, scene: Any, all_touched: bool = False) -> np.ndarray | None:
    """Where a user marked a detection as a false positive, on the scene's grid (None: not a labels-file scene).

    Why: these few pixels are what a fine-tune is for; training crops are drawn on them as on Sargassum
    (sargasses.training.dataset.PositiveCrops), or random crops would seldom meet them."""
    if item.label_key is None:
        return None
    labels, _ = read_store(item.label)
    marked = labels[(labels["scene"].astype(str) == item.label_key) & (labels["kind"] == "false_positive")]
    mask = np.zeros((scene.height, scene.width), dtype=np.uint8)
    if len(marked):
        burn_polygons(marked, np.ones(len(marked)), scene, mask, all_touched, str(item.label))
    return mask == 1


def rasterize_store(path: str | Path, scene_key: str, scene: Any, all_touched: bool = False) -> np.ndarray:
    """The label of one scene on its grid: 255 unscored, 0 looked at or marked not Sargassum, 1 Sargassum (its rim
    of RIM_PX pixels unscored, unless marked as not Sargassum)."""
    from scipy.ndimage import binary_dilation

    labels, looked = read_store(path)
    label = np.full((scene.height, scene.width), IGNORE, dtype=np.uint8)
    reviewed = looked[looked["scene"].astype(str) == scene_key]
    mine = labels[labels["scene"].astype(str) == scene_key]
    negatives = mine[mine["kind"].isin(NEGATIVE_KINDS)]
    rafts = mine[mine["kind"] == "sargassum"]
    if len(reviewed):
        burn_polygons(reviewed, np.zeros(len(reviewed)), scene, label, all_touched, str(path))
    marked_negative = np.zeros_like(label)
    if len(negatives):
        burn_polygons(negatives, np.ones(len(negatives)), scene, marked_negative, all_touched, str(path))
    label[marked_negative == 1] = 0
    sargassum = np.zeros_like(label)
    if len(rafts):
        burn_polygons(rafts, np.ones(len(rafts)), scene, sargassum, all_touched, str(path))
        rim = binary_dilation(sargassum == 1, iterations=RIM_PX) & (marked_negative == 0)
        label[rim] = IGNORE
        label[sargassum == 1] = 1  # burnt last: a raft drawn inside a not-Sargassum area is a raft
    if len(reviewed) + len(mine) and not (label != IGNORE).any() and not sargassum.any():
        raise SargassesError(_off_the_scene(path, scene_key, scene, [reviewed, mine]))
    return label


def _off_the_scene(path: str | Path, scene_key: str, scene: Any, frames: list[Any]) -> str:
    """Why the polygons of a scene fell on none of its pixels: where they are, where the scene is (in degrees).

    A fine-tune on them would learn nothing of the user's coast and still report it as learned (issue 21).
    """
    import pandas as pd
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    polygons = pd.concat([frame.geometry for frame in frames])
    x0, y0, x1, y1 = polygons.total_bounds
    where = f"they span x {x0:.6g}..{x1:.6g}, y {y0:.6g}..{y1:.6g} in {STORE_CRS}"
    try:
        w, s, e, n = transform_bounds(scene.crs, STORE_CRS, *array_bounds(scene.height, scene.width, scene.transform))
        where += f"; the scene covers lon {w:.2f}..{e:.2f}, lat {s:.2f}..{n:.2f}"
    except Exception:  # a CRS without a way to degrees: the polygons' place alone says enough
        pass
    return (
        f"none of the {len(polygons)} polygons of {Path(scene_key).name} in {path} falls on that scene ({where}): "
        "were they drawn on another scene, or written in metres in a file that declares no CRS? Fix the labels "
        "file, or remove that scene's labels"
    )
