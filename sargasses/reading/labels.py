"""Label masks for training: found beside their scenes, read or rasterized onto the scene's own grid.

A label mask is uint8 on the scene grid: 1 Sargassum, 0 not, 255 not scorable (nodata, unsure, unlabelled).
Three kinds of label files are accepted:
- a raster mask (GeoTIFF/VRT, any grid: it is resampled onto the scene grid by nearest neighbour);
- polygons (shapefile, GeoPackage, GeoJSON) rasterized onto the scene grid: inside = 1, outside = 0,
  or the value of a `class_column` (0 / 1 / 255) when the file has one, e.g. to mark unsure areas 255;
- the original Meteo-France project's `.npz` masks (key `arr_0`) that go with its 3-channel OTCI PNG images.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from sargasses.errors import SargassesError

IGNORE = 255
SCENE_EXTENSIONS = (".tif", ".tiff", ".vrt", ".png", ".jp2")
RASTER_LABEL_EXTENSIONS = (".tif", ".tiff", ".vrt", ".png")
VECTOR_LABEL_EXTENSIONS = (".gpkg", ".shp", ".geojson")
NPZ_EXTENSION = ".npz"
LABEL_SUFFIXES = ("_label", "_labels", "_mask")
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


@dataclass(frozen=True)
class LabelledScene:
    """One training scene and its label file; `group` keeps together what must not straddle a split."""

    image: Path
    label: Path | None
    group: str
    label_key: str | None = None  # the scene's name in a labels file that holds many scenes (label_store)

    @property
    def name(self) -> str:
        return self.image.stem


# --------------------------------------------------------------------------- reading labels
def _grid(scene) -> tuple[int, int]:
    return scene.height, scene.width


def read_raster_label(path: Path, scene) -> np.ndarray:
    """A 0/1/255 raster mask on the scene's grid (resampled by nearest neighbour when its grid differs)."""
    height, width = _grid(scene)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            same_grid = (src.height, src.width) == (height, width) and (
                scene.crs is None
                or src.crs is None
                or (src.crs == scene.crs and src.transform.almost_equals(scene.transform))
            )
            if same_grid:
                data = src.read(1)
                if src.nodata is not None and not np.isnan(src.nodata):
                    data = np.where(data == src.nodata, IGNORE, data)
            else:
                if src.crs is None or scene.crs is None:
                    raise SargassesError(
                        f"label {path} is {src.width}x{src.height} pixels, the scene {width}x{height}, and one of "
                        "them has no georeference to align them; give a label on the scene's own grid"
                    )
                data = np.full((height, width), IGNORE, dtype=np.uint8)
                reproject(
                    rasterio.band(src, 1),
                    data,
                    dst_transform=scene.transform,
                    dst_crs=scene.crs,
                    dst_nodata=IGNORE,
                    resampling=Resampling.nearest,
                )
    return check_label_values(np.asarray(data), path)


def check_label_values(label: np.ndarray, path: Path | str) -> np.ndarray:
    """Labels are 0, 1 or 255; anything else is a mistake worth naming (e.g. a 0/255 mask)."""
    values = np.unique(label)
    odd = [int(v) for v in values if v not in (0, 1, IGNORE)]
    if odd:
        raise SargassesError(
            f"label {path} holds values {odd[:5]}; labels must be 0 (no Sargassum), 1 (Sargassum) or "
            "255 (not scorable). Reclassify the mask (e.g. gdal_calc.py 'A>0') before training"
        )
    return label.astype(np.uint8)


def rasterize_vector_label(
    path: Path, scene, all_touched: bool = False, class_column: str | None = "class"
) -> np.ndarray:
    """Polygons burnt onto the scene grid: 1 inside (or their `class_column` value), 0 elsewhere.

    `all_touched=False` marks the pixels whose centre lies inside a polygon, as GDAL does by default;
    True marks every pixel a polygon touches (for thin filaments drawn as narrow polygons).
    """
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise SargassesError(
            f"cannot read label polygons {path} ({exc}); give a shapefile, GeoPackage or GeoJSON"
        ) from exc
    height, width = _grid(scene)
    label = np.zeros((height, width), dtype=np.uint8)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        return label  # a scene with no Sargassum is a valid (negative) example
    if class_column and class_column in frame.columns:
        values = frame[class_column].astype(int).to_numpy()
        check_label_values(np.unique(values), f"{path} column {class_column!r}")
    else:
        values = np.ones(len(frame), dtype=int)
    # background first, then Sargassum, then not-scorable areas on top: the most cautious value wins
    order = np.argsort([{0: 0, 1: 1, IGNORE: 2}[int(v)] for v in values], kind="stable")
    return burn_polygons(frame.iloc[order], values[order], scene, label, all_touched, str(path))


def burn_polygons(frame, values: np.ndarray, scene, label: np.ndarray, all_touched: bool, what: str) -> np.ndarray:
    """Polygons (a GeoDataFrame, any CRS) burnt into `label` on the scene's grid, in order, each with its value."""
    from rasterio import features

    if scene.crs is None:
        raise SargassesError(f"the scene for {what} has no coordinate system, so polygons cannot be placed on it")
    if frame.crs is None:
        warnings.warn(f"{what} declares no CRS; taking it to be the scene's ({scene.crs})", stacklevel=2)
    elif frame.crs != scene.crs:
        frame = frame.to_crs(scene.crs)
    shapes = ((geometry, int(value)) for geometry, value in zip(frame.geometry, values, strict=True))
    features.rasterize(shapes, out=label, transform=scene.transform, all_touched=all_touched, dtype=np.uint8)
    return label


def read_npz_label(path: Path) -> np.ndarray:
    """The original project's mask: a `.npz` archive whose `arr_0` holds a uint8 0/1 image."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "arr_0" not in archive:
                raise SargassesError(
                    f"{path} has no 'arr_0' array (it has {', '.join(archive.files)}); "
                    "save the mask with numpy.savez(path, mask)"
                )
            mask = archive["arr_0"]
    except (OSError, ValueError) as exc:
        raise SargassesError(f"cannot read mask {path} ({exc}); give a numpy .npz archive") from exc
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise SargassesError(f"mask {path} has shape {mask.shape}; expected a 2-D (height, width) mask")
    return check_label_values(mask, path)


def fit_label_to_scene(mask: np.ndarray, height: int, width: int, path: Path) -> np.ndarray:
    """The original project padded smaller PNGs to the mask's size: keep the mask's part that lies on the image."""
    if mask.shape == (height, width):
        return mask
    if mask.shape[0] < height or mask.shape[1] < width:
        raise SargassesError(
            f"mask {path} is {mask.shape[1]}x{mask.shape[0]} pixels, smaller than its image ({width}x{height}); "
            "the image and the mask do not belong together"
        )
    return mask[:height, :width]


def read_label(path: Path, scene, all_touched: bool = False, class_column: str | None = "class") -> np.ndarray:
    """The label of `scene` from any supported label file, as uint8 0/1/255 on the scene grid (a labels file of
    many scenes, the QGIS plugin's, is read by sargasses.training.label_store.read_item_label)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VECTOR_LABEL_EXTENSIONS:
        return rasterize_vector_label(path, scene, all_touched=all_touched, class_column=class_column)
    if suffix == NPZ_EXTENSION:
        return fit_label_to_scene(read_npz_label(path), scene.height, scene.width, path)
    if suffix in RASTER_LABEL_EXTENSIONS:
        return read_raster_label(path, scene)
    raise SargassesError(
        f"label {path} has an unknown type; use a raster mask ({', '.join(RASTER_LABEL_EXTENSIONS)}), polygons "
        f"({', '.join(VECTOR_LABEL_EXTENSIONS)}) or an original-format mask (.npz)"
    )


# --------------------------------------------------------------------------- finding scenes and their labels
def expand_paths(spec: str | Path | Sequence[str | Path], what: str) -> list[Path]:
    """A folder (its scene files), a glob pattern, a file, or a list of these -> existing files, sorted."""
    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    found: list[Path] = []
    for item in specs:
        text = str(item)
        path = Path(text).expanduser()
        if any(ch in text for ch in "*?["):
            anchor = Path(path.anchor) if path.is_absolute() else Path(".")
            pattern = str(path.relative_to(anchor)) if path.is_absolute() else text
            matches = sorted(p for p in anchor.glob(pattern) if p.is_file())
            if not matches:
                raise SargassesError(f"{what}: no file matches {text!r}; check the path in the config")
            found += matches
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.suffix.lower() in SCENE_EXTENSIONS and not is_label_name(p))
            if not matches:
                raise SargassesError(
                    f"{what}: folder {path} holds no scene ({', '.join(SCENE_EXTENSIONS)}); check the path in the config"
                )
            found += matches
        elif path.is_file():
            found.append(path)
        else:
            raise SargassesError(f"{what}: {path} does not exist; check the path in the config")
    return found


def is_label_name(path: Path) -> bool:
    return any(path.stem.endswith(suffix) for suffix in LABEL_SUFFIXES)


def date_of(path: Path) -> str | None:
    """The acquisition date written in a file name (YYYYMMDD or YYYY-MM-DD), e.g. 20220401_S3_OTCI.png."""
    match = _DATE_IN_NAME.search(path.stem)
    return "".join(match.groups()) if match else None


def find_label(image: Path, labels_dir: Path | None, label_suffix: str = "_label") -> Path | None:
    """The label file of `image`: `<stem><suffix>.<ext>` (any label type), or `<stem>.<ext>` in a labels folder,
    or an original-format mask `<YYYYMMDD>_*.npz` whose date is the image's."""
    folder = labels_dir or image.parent
    stem = image.stem
    extensions = RASTER_LABEL_EXTENSIONS + VECTOR_LABEL_EXTENSIONS + (NPZ_EXTENSION,)
    suffixes = [label_suffix, *[s for s in LABEL_SUFFIXES if s != label_suffix]]
    candidates = [folder / f"{stem}{suffix}{ext}" for suffix in suffixes for ext in extensions]
    if labels_dir is not None and labels_dir.resolve() != image.parent.resolve():
        candidates += [folder / f"{stem}{ext}" for ext in extensions]
    else:
        candidates += [folder / f"{stem}{ext}" for ext in (*VECTOR_LABEL_EXTENSIONS, NPZ_EXTENSION)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    date = date_of(image)
    if date is not None:
        masks = sorted(folder.glob(f"{date}_*{NPZ_EXTENSION}"))
        if masks:
            return masks[0]
    return None


def find_labelled_scenes(
    images: str | Path | Sequence[str | Path],
    labels_dir: str | Path | None = None,
    label_suffix: str = "_label",
    require_labels: bool = True,
    what: str = "scenes",
) -> list[LabelledScene]:
    """Pair every scene with its label file; a scene without one is an error when labels are required."""
    folder = Path(labels_dir).expanduser() if labels_dir else None
    if folder is not None and not folder.is_dir():
        raise SargassesError(f"labels folder {folder} does not exist; check data.labels in the config")
    scenes: list[LabelledScene] = []
    missing: list[str] = []
    for image in expand_paths(images, what):
        label = find_label(image, folder, label_suffix)
        if label is None and require_labels:
            missing.append(image.name)
            continue
        scenes.append(LabelledScene(image=image, label=label, group=date_of(image) or image.stem))
    if missing:
        where = folder or "beside the scenes"
        raise SargassesError(
            f"{what}: no label file for {len(missing)} scene(s) ({', '.join(missing[:5])}) in {where}; "
            f"name each label <scene>{label_suffix}.tif/.gpkg/.shp/.geojson (or give data.labels)"
        )
    if not scenes:
        raise SargassesError(f"{what}: the label set is empty; check data paths in the config")
    return scenes


def find_original_format(otci_dir: str | Path, masks_dir: str | Path) -> list[LabelledScene]:
    """The original project's layout: masks `<YYYYMMDD>_<annotator>.npz`, images `<YYYYMMDD>*.png` (OTCI).

    As there, every mask is one sample and finds its image by date; dates are the split groups.
    """
    otci, masks = Path(otci_dir).expanduser(), Path(masks_dir).expanduser()
    for folder, what in ((otci, "OTCI images folder"), (masks, "masks folder")):
        if not folder.is_dir():
            raise SargassesError(f"{what} {folder} does not exist; check data.images / data.labels in the config")
    scenes = []
    for mask in sorted(masks.glob(f"*{NPZ_EXTENSION}")):
        date = date_of(mask)
        images = sorted(otci.glob(f"{date}*.png")) if date else []
        if images:
            scenes.append(LabelledScene(image=images[0], label=mask, group=date))
    if not scenes:
        raise SargassesError(
            f"the label set is empty: no mask <YYYYMMDD>_*.npz in {masks} has an OTCI image <YYYYMMDD>*.png in {otci}"
        )
    return scenes


def split_groups(
    scenes: Iterable[LabelledScene], val_share: float, test_share: float, seed: int = 0
) -> dict[str, list[LabelledScene]]:
    """Train / val / test by group (scene or date), never by crop: a hash of the group name decides, so a scene
    keeps its split when others are added. Each split gets at least one group when there are three or more."""
    scenes = list(scenes)
    groups = sorted({s.group for s in scenes})

    def rank(group: str) -> float:
        digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    ordered = sorted(groups, key=rank)
    n = len(ordered)
    n_test = round(n * test_share)
    n_val = round(n * val_share)
    if n >= 3:
        n_test = max(n_test, 1 if test_share > 0 else 0)
        n_val = max(n_val, 1 if val_share > 0 else 0)
    n_train = max(n - n_val - n_test, 0)
    assignment = {g: "train" for g in ordered[:n_train]}
    assignment.update({g: "val" for g in ordered[n_train : n_train + n_val]})
    assignment.update({g: "test" for g in ordered[n_train + n_val :]})
    splits: dict[str, list[LabelledScene]] = {"train": [], "val": [], "test": []}
    for scene in scenes:
        splits[assignment[scene.group]].append(scene)
    return splits
