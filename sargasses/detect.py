"""The whole detection: raster in, raft polygons (and optionally probabilities, a quicklook) out, plus a summary.

    scene.py (read, scale) -> inference.py (tiles, batches, blending) -> masking.py (nodata, land, cloud)
    -> vectorize.py (polygons, measures) -> vector_output.py (gpkg / shp / geojson), quicklook.py

`run_detection(options, progress, cancel)` is what the CLI (`sargasses detect`) and the QGIS plugin's engine call.
Every output is checked before any work (format, folder writable, not there yet unless `overwrite`, not one of the
run's inputs even with `overwrite`); the outputs are one set (sargasses/output_set.py): written in a staging folder
and renamed into place together, the summary last, only when all are complete. An error, a cancel, Ctrl-C or
SIGTERM leaves nothing new, and the earlier files as they were.

A loaded model and its prepared scorer stay in a process-level cache keyed by the model file's path, size and
modification time and by the device, so the plugin's warm engine does not reload them for the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.metrics import MIN_RAFT_PIXELS
from sargasses.summary import RunSummary

METHODS = ("model", "afai", "fai")
BACKENDS = ("auto", "torch", "onnx")
# GDAL's block cache; its default (5% of RAM) would make memory grow with the scene. 64 MB holds most of the blocks
# two tile rows share on a 5490-px Sentinel-2 tile (96 MB read 0.6 s faster there but grew the peak RSS by 20 %
# from 4 to 30 Mpx with two tiles in flight: docs/performance.md). Overridable for benchmarks.
GDAL_CACHE_MB = int(os.environ.get("SARGASSES_GDAL_CACHE_MB", "64"))
BLOCK = 256  # block size of the probability GeoTIFF
# Bands the index baselines read when the raster lacks the default ten: the index bands, and masking's blue/SWIR.
BASELINE_BANDS = {"afai": ["B02", "B03", "B04", "B06", "B8A", "B11"], "fai": ["B02", "B03", "B04", "B8A", "B11"]}

Progress = Callable[[float, str], None]


# Without --min-area, rafts of fewer pixels are dropped: the smallest raft the scores count; one- and two-pixel
# specks along real coasts were most of the false alarms left there.
DEFAULT_MIN_PIXELS = MIN_RAFT_PIXELS


@dataclass
class DetectOptions:
    input: str
    output: str
    model: str | None = None
    method: str = "model"
    threshold: float | None = None
    min_area: float | None = None  # m2; None: rafts under DEFAULT_MIN_PIXELS pixels are dropped
    probabilities: str | None = None  # GeoTIFF path
    device: str = "auto"
    bands: list[str] | None = None
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax in the raster's CRS
    land: str | None = None  # vector or raster land mask
    overwrite: bool = False
    quicklook: str | None = None  # PNG path
    simplify: float | None = None  # tolerance in metres
    tile_size: int | None = None
    batch_size: int | None = None
    backend: str = "auto"  # auto | torch | onnx (ONNX Runtime, CPU only)
    background: bool = True  # afai/fai: subtract the median background
    pixel_units: bool = False  # a raster without a CRS: measure in pixels instead of refusing it


def summary_path(output: str | os.PathLike) -> Path:
    """`rafts.shp` -> `rafts.summary.json`, beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.summary.json")


# --------------------------------------------------------------------------- model cache
_CACHE_LOCK = threading.RLock()
_CARDS: dict[tuple, Any] = {}  # (path, size, mtime_ns) -> ModelCard
_MODELS: dict[tuple, Any] = {}  # (path, size, mtime_ns) -> LoadedModel
_SCORERS: dict[tuple, Any] = {}  # (model key, device, backend) -> Scorer
_CACHE_MODELS = 2  # models kept loaded at once


def _model_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _evict(keep: tuple) -> None:
    """Forget all but the most recent models (and their scorers), so a long-lived engine does not grow."""
    recent = list(dict.fromkeys([*_CARDS, keep]))[-_CACHE_MODELS:]
    for table in (_CARDS, _MODELS):
        for key in [k for k in table if k not in recent]:
            table.pop(key)
    for key in [k for k in _SCORERS if k[0] not in recent]:
        _SCORERS.pop(key)


def model_card(path: Path) -> tuple[tuple, Any]:
    """The card of a model file (read without torch when possible), cached by path, size and mtime."""
    from sargasses.model_file import read_card

    if not path.exists():
        raise SargassesError(f"model file {path} does not exist; give --model a sargasses model file (.pt)")
    key = _model_key(path)
    with _CACHE_LOCK:
        if key not in _CARDS:
            _evict(key)
            _CARDS[key] = read_card(path)
        return key, _CARDS[key]


def cached_model(path: Path) -> tuple[tuple, Any]:
    """A loaded model file (torch), from the cache when the same file (path, size, mtime) was loaded before."""
    from sargasses.model_file import load_model_file

    key = _model_key(path)
    with _CACHE_LOCK:
        if key not in _MODELS:
            _evict(key)
            _MODELS[key] = load_model_file(path)
            _CARDS[key] = _MODELS[key].card
        return key, _MODELS[key]


def cached_scorer(path: Path, device: str, backend: str) -> Any:
    """The scorer for a model on a device: ONNX Runtime on CPU when `auto` (faster there), torch otherwise.

    The ONNX graph is kept in the user's cache folder under the model file's SHA-256, written only after the
    file was loaded in full (weights-only) once: later CPU runs start from it without importing torch at all.
    """
    from sargasses import inference
    from sargasses.model_file import file_digest

    choice = inference.choose_device(device)
    if backend == "onnx" and choice.kind != "cpu":
        raise SargassesError("--backend onnx runs on the CPU only; use --device cpu or --backend torch")
    if backend == "auto":
        backend = "onnx" if choice.kind == "cpu" else "torch"
    key, card = model_card(path)
    scorer_key = (key, choice.torch_device, backend)
    with _CACHE_LOCK:
        if scorer_key in _SCORERS:
            return _SCORERS[scorer_key]
        if backend == "onnx":
            digest = file_digest(path)
            graph: Any = inference.onnx_cache_path(digest)
            if not graph.is_file():
                _, loaded = cached_model(path)
                graph = inference.onnx_bytes(loaded)
                inference.store_onnx(digest, graph)
            try:
                scorer = inference.OnnxScorer(card.band_names, graph)
            except Exception as exc:  # a damaged cache entry: rebuild it from the model file
                if isinstance(graph, bytes):
                    raise SargassesError(
                        f"ONNX Runtime cannot run model {card.name} ({exc}); use --backend torch"
                    ) from None
                _, loaded = cached_model(path)
                graph = inference.onnx_bytes(loaded)
                inference.store_onnx(digest, graph)
                scorer = inference.OnnxScorer(card.band_names, graph)
        else:
            _, loaded = cached_model(path)
            scorer = inference.TorchScorer(loaded, choice)
        scorer.device = choice
        _SCORERS[scorer_key] = scorer
        return scorer


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CARDS.clear()
        _MODELS.clear()
        _SCORERS.clear()


# --------------------------------------------------------------------------- checks
# Reflectance outside [LOW, HIGH] cannot be real: L2A's offset gives at most -0.1 on the darkest water, glint stays
# under 1.5. A share of sampled values out of range above WARN_SHARE is reported, above REFUSE_SHARE refused.
REFLECTANCE_RANGE = (-0.2, 2.0)
WARN_SHARE, REFUSE_SHARE = 0.01, 0.5
SAMPLE_STEP = 4  # the range check looks at every 4th row and column of each tile


def _check_finite(options: DetectOptions) -> None:
    """NaN or inf in a number option would silently give no rafts (every comparison with NaN is false)."""
    numbers = [("--threshold", options.threshold), ("--min-area", options.min_area), ("--simplify", options.simplify)]
    numbers += [("--extent", v) for v in options.extent or ()]
    for flag, value in numbers:
        if value is None:
            continue
        try:
            finite = math.isfinite(float(value))
        except (TypeError, ValueError):
            raise SargassesError(f"{flag} {value!r} is not a number; give a number") from None
        if not finite:
            raise SargassesError(f"{flag} {value} is not a finite number; give a plain number such as 0.5")


def _check_options(options: DetectOptions) -> None:
    _check_finite(options)
    if options.method not in METHODS:
        raise SargassesError(f"unknown method {options.method!r}; use one of {', '.join(METHODS)}")
    if options.backend not in BACKENDS:
        raise SargassesError(f"unknown backend {options.backend!r}; use one of {', '.join(BACKENDS)}")
    if options.method == "model" and options.threshold is not None and not 0.0 < options.threshold < 1.0:
        raise SargassesError(f"--threshold {options.threshold} must lie between 0 and 1 (a probability)")
    if options.min_area is not None and options.min_area < 0:
        raise SargassesError("--min-area must be 0 or more (square metres)")
    if options.simplify is not None and options.simplify < 0:
        raise SargassesError("--simplify must be 0 or more (metres)")
    if options.tile_size is not None and options.tile_size < 32:
        raise SargassesError("--tile-size must be at least 32 pixels")
    if options.batch_size is not None and options.batch_size < 1:
        raise SargassesError("--batch-size must be at least 1")
    if options.extent is not None and (
        len(options.extent) != 4
        or not options.extent[0] < options.extent[2]
        or not options.extent[1] < options.extent[3]
    ):
        raise SargassesError("--extent must be XMIN YMIN XMAX YMAX in the raster's CRS, with XMIN < XMAX, YMIN < YMAX")


def _check_outputs(options: DetectOptions, model_path: Path | None = None) -> dict[str, Path]:
    """Every output path, checked before any work: format known, distinct, writable, absent unless overwrite, and
    none of them an input of the run (even with overwrite)."""
    from sargasses.vector_output import check_target, check_writable, output_files

    outputs = {"output": Path(options.output), "summary": summary_path(options.output)}
    if options.probabilities:
        outputs["probabilities"] = Path(options.probabilities)
        if outputs["probabilities"].suffix.lower() not in (".tif", ".tiff"):
            raise SargassesError(f"--probabilities {options.probabilities}: give a GeoTIFF name ending in .tif")
    if options.quicklook:
        outputs["quicklook"] = Path(options.quicklook)
        if outputs["quicklook"].suffix.lower() != ".png":
            raise SargassesError(f"--quicklook {options.quicklook}: give a PNG name ending in .png")
    output_files(outputs["output"])  # the format is known
    _check_not_inputs(options, outputs, model_path)
    check_writable(outputs["output"], options.overwrite)
    taken = {p.resolve() for p in output_files(outputs["output"])}
    for name, path in outputs.items():
        if name != "output":
            if path.resolve() in taken:
                raise SargassesError(f"{path} is asked for twice; give each output its own name")
            check_target(path, options.overwrite)
            taken.add(path.resolve())
    return outputs


def _raster_files(path: Path, depth: int = 0) -> list[Path]:
    """The files a raster reads: itself, and for a VRT its sources (nested VRTs too), as GDAL lists them."""
    import rasterio
    from rasterio.errors import RasterioError

    if depth > 8 or not path.is_file():
        return []
    try:
        with rasterio.open(path) as dataset:
            files = [Path(f) for f in dataset.files]
    except (RasterioError, OSError, ValueError):
        return []
    found = []
    for file in files:
        if file.suffix.lower() == ".vrt" and file.resolve() != path.resolve():
            found += _raster_files(file, depth + 1)
        found.append(file)
    return found


def _protected(
    options: DetectOptions, model_path: Path | None
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(files, folders) no output may be or be inside, each with what it is to the run."""
    source = Path(options.input).resolve()
    files: list[tuple[Path, str]] = [(source, "the input raster")]
    folders: list[tuple[Path, str]] = []
    safe = next((p for p in [source, *source.parents] if p.suffix.lower() == ".safe" and p.is_dir()), None)
    if safe is not None:
        folders.append((safe, f"inside the input product {safe.name}"))
    elif source.is_dir():
        folders.append((source, "inside the input folder"))
    else:
        files += [(f.resolve(), f"a file the input {source.name} reads") for f in _raster_files(source)]
    if model_path is not None:
        files.append((model_path.resolve(), "the model file"))
    if options.land:
        from sargasses.vector_output import output_files

        land = Path(options.land).resolve()
        parts = output_files(land) if land.suffix.lower() == ".shp" else [land]  # a shapefile is several files
        files += [(p, "the land mask") for p in parts]
        files += [(f.resolve(), "a file the land mask reads") for f in _raster_files(land)]
    return files, folders


def _check_not_inputs(options: DetectOptions, outputs: dict[str, Path], model_path: Path | None) -> None:
    """No output may replace a file the run reads, even with --overwrite: that would destroy the user's data."""
    from sargasses.vector_output import output_files

    files, folders = _protected(options, model_path)
    candidates = [*output_files(outputs["output"]), *[p for k, p in outputs.items() if k != "output"]]
    for output in candidates:
        resolved = output.resolve()
        for file, what in files:
            if resolved == file or (output.exists() and file.exists() and os.path.samefile(output, file)):
                raise SargassesError(
                    f"{output} is {what}; choose another output name (--overwrite never replaces an input)"
                )
        for folder, what in folders:
            if resolved == folder or folder in resolved.parents:
                raise SargassesError(
                    f"{output} is {what}; write the outputs elsewhere (--overwrite never replaces an input)"
                )


def _open(options: DetectOptions, bands: list[str] | None, resolution: float | None) -> Any:
    from sargasses.scene import open_scene

    return open_scene(options.input, bands=bands, resolution=resolution)


def _open_scene(options: DetectOptions, card: Any) -> Any:
    """The scene with the bands the model (or the baseline) needs."""
    if card is not None:
        bands = options.bands or list(card.band_names)
        scene = _open(options, bands, card.gsd_m)
        if len(scene.band_names) != len(card.band_names):
            scene.close()
            raise SargassesError(
                f"--bands gives {len(bands)} bands but model {card.name} takes {len(card.band_names)} "
                f"({', '.join(card.band_names)}); give that many bands, in that order"
            )
        return scene
    if options.bands:
        return _open(options, options.bands, None)
    try:
        return _open(options, None, None)
    except SargassesError as first:
        try:
            return _open(options, BASELINE_BANDS[options.method], None)
        except SargassesError:
            raise first from None


def _check_model_fits(card: Any, scene: Any, options: DetectOptions) -> None:
    """Model/sensor mismatch and a wrong pixel size are errors: the model would return nonsense."""
    from sargasses.vectorize import PixelMetric

    if scene.sensor and card.sensor and scene.sensor not in card.sensors and not options.bands:
        takes = " or ".join(card.sensors)
        raise SargassesError(
            f"model {card.name} was trained on {takes} data but {options.input} is {scene.sensor}; "
            f"give a {takes} product or a model trained for {scene.sensor} (or map bands with --bands)"
        )
    if scene.crs is not None:
        metric = PixelMetric(scene.transform, scene.crs)
        dx, dy, _ = metric.pixel_steps(np.array([scene.height // 2]), np.array([scene.width // 2]))
        size = float(math.sqrt(dx[0] * dy[0]))
        if not 0.5 <= size / card.gsd_m <= 2.0:
            raise SargassesError(
                f"model {card.name} takes {card.gsd_m:g} m pixels but {options.input} has about {size:.0f} m pixels; "
                f"resample the input to {card.gsd_m:g} m (e.g. gdalwarp -tr {card.gsd_m:g} {card.gsd_m:g})"
            )
    scaling = card.scaling if isinstance(card.scaling, str) else card.scaling.get("type", "")
    if scaling not in ("reflectance", "raw"):
        raise SargassesError(
            f"model {card.name} asks for input scaling {card.scaling!r}, which this sargasses does not know; "
            "upgrade sargasses"
        )


def _check_crs(scene: Any, options: DetectOptions) -> None:
    """Without a CRS, areas and positions cannot be measured: refuse rather than give pixel units as m2."""
    if scene.crs is None and not options.pixel_units:
        raise SargassesError(
            f"{options.input} has no coordinate reference system (CRS), so areas and positions cannot be measured; "
            f"assign the right one (e.g. gdal_edit.py -a_srs EPSG:32620 {options.input}), "
            "or pass --pixel-units to measure areas in pixels"
        )


class InputCheck:
    """What the tiles read say about the input: values reflectance cannot take, and infinite values.

    It looks at every SAMPLE_STEP-th row and column of each tile (tiles overlap: shares are approximate), on the
    reader's thread only."""

    def __init__(self) -> None:
        self.pixels = 0  # sampled pixels with a value in every band
        self.below = 0  # of them, pixels with a band below the range
        self.above = 0  # ... above it
        self.infinite = 0  # sampled pixels with an infinite value in a band

    def add(self, reflectance: np.ndarray) -> None:
        sample = reflectance[:, ::SAMPLE_STEP, ::SAMPLE_STEP]
        self.pixels += int(np.isfinite(sample).all(axis=0).sum())
        self.infinite += int(np.isinf(sample).any(axis=0).sum())
        with np.errstate(invalid="ignore"):
            self.below += int((sample < REFLECTANCE_RANGE[0]).any(axis=0).sum())
            self.above += int((sample > REFLECTANCE_RANGE[1]).any(axis=0).sum())

    def verdict(self, path: str) -> str | None:
        """None when the values look like reflectance; a warning when some pixels' do not; raises SargassesError
        when most pixels' do not."""
        out = min(self.pixels, self.below + self.above)
        if not self.pixels or out < WARN_SHARE * self.pixels:
            return None
        low, high = REFLECTANCE_RANGE
        share = out / self.pixels
        if self.above >= self.below:
            cause = (
                f"values above {high:g} look like digital numbers or percent: float data is taken as reflectance "
                "0-1, so divide by the scale (e.g. 10000 for Sentinel-2), or give the integer digital numbers"
            )
        else:
            cause = (
                f"values below {low:g} suggest a wrong offset (e.g. the L2A offset of -0.1 applied twice) or a "
                "wrong scale; give reflectance 0-1 or the original digital numbers"
            )
        message = (
            f"{share:.0%} of the pixels of {path} have values outside the range reflectance can take "
            f"({low:g} to {high:g}); {cause}"
        )
        if share > REFUSE_SHARE:
            raise SargassesError(message)
        return message + "; the rafts there are not to be trusted"


def _area_window(scene: Any, extent: tuple[float, float, float, float] | None) -> Any:
    """The pixel window to process: the whole scene, or the part of it inside `extent`."""
    from rasterio.windows import Window, from_bounds

    full = Window(0, 0, scene.width, scene.height)
    if extent is None:
        return full
    window = from_bounds(*extent, transform=scene.transform)
    col0, row0 = math.floor(window.col_off + 1e-6), math.floor(window.row_off + 1e-6)
    col1 = math.ceil(window.col_off + window.width - 1e-6)
    row1 = math.ceil(window.row_off + window.height - 1e-6)
    col0, row0, col1, row1 = max(col0, 0), max(row0, 0), min(col1, scene.width), min(row1, scene.height)
    if col1 <= col0 or row1 <= row0:
        b = scene.bounds
        raise SargassesError(
            f"--extent {extent} does not overlap the raster ({b[0]:.6g}, {b[1]:.6g}, {b[2]:.6g}, {b[3]:.6g} in its CRS); "
            "give the extent in the raster's CRS"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


# --------------------------------------------------------------------------- probability raster
def _mute_libtiff() -> Callable[[], None]:
    """Silence libtiff's own error printer while the probabilities are written; returns the undo.

    GDAL reports a failed block write (a full disk) through libtiff's default handler, which prints
    `_tiffWriteProc: No space left on device.` on stderr and raises nothing; ProbabilityWriter.close finds the
    failure itself and says it in one line, so the raw lines would only be noise. Best effort: rasterio's wheels
    ship libtiff beside GDAL; elsewhere nothing is changed.
    """
    import ctypes
    import glob

    import rasterio

    libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(rasterio.__file__)), "rasterio.libs", "libtiff*"))
    try:
        libtiff = ctypes.CDLL(libs[0]) if libs else None
        if libtiff is None:
            return lambda: None
        libtiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
        libtiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        previous = libtiff.TIFFSetErrorHandler(None)
    except (OSError, AttributeError):
        return lambda: None
    done = []

    def restore() -> None:
        if not done:
            done.append(True)
            libtiff.TIFFSetErrorHandler(previous)

    return restore


class ProbabilityWriter:
    """A tiled, compressed float32 GeoTIFF written strip by strip.

    A strip fills part of a row of blocks; GDAL holds those blocks in its block cache (capped, GDAL_CACHE_MB) until
    they are complete, so no buffer here grows with the scene's width.

    GDAL does not raise when a block cannot be written (a full disk only prints `_tiffWriteProc: No space left on
    device` and closes "successfully"), so `close` checks the file: flushed to the disk, every block present inside
    the file. Errors are one line naming `final`, the path the user asked for."""

    def __init__(
        self, path: Path, final: Path, width: int, height: int, crs: Any, transform: Any, tags: dict[str, str]
    ) -> None:
        import rasterio

        self.path, self.final = Path(path), Path(final)
        self._restore_libtiff = _mute_libtiff()
        try:
            self.dataset = rasterio.open(
                path,
                "w",
                driver="GTiff",
                width=width,
                height=height,
                count=1,
                dtype="float32",
                crs=crs,
                transform=transform,
                nodata=float("nan"),
                tiled=True,
                blockxsize=BLOCK,
                blockysize=BLOCK,
                compress="deflate",
                predictor=3,
                zlevel=1,
                bigtiff="IF_SAFER",
            )
            self.dataset.update_tags(**tags)
            self.dataset.set_band_description(1, tags.get("SCORE", "probability"))
        except Exception as exc:  # rasterio's errors carry GDAL's text
            self._restore_libtiff()
            raise self._error(exc) from None
        self.width, self.height = width, height
        self.row = 0

    def _error(self, exc: BaseException | str) -> SargassesError:
        """One line naming the user's path; a full disk is named so even when GDAL only said a block is missing."""
        from sargasses.atomic import write_error

        return write_error(self.final, exc)

    def add(self, rows: np.ndarray) -> None:
        from rasterio.windows import Window

        try:
            self.dataset.write(rows, 1, window=Window(0, self.row, self.width, rows.shape[0]))
        except Exception as exc:
            raise self._error(exc) from None
        self.row += rows.shape[0]

    def close(self) -> None:
        """Close, flush and check the file: an error here is a write that failed, however GDAL reported it."""
        from sargasses.atomic import fsync_file

        try:
            self.dataset.close()
            fsync_file(self.path)
            self._check_blocks()
        except Exception as exc:
            raise self._error(exc) from None
        finally:
            self._restore_libtiff()

    def discard(self) -> None:
        """Close after an error, whatever state the file is in (it is in the staging folder, removed with it)."""
        with contextlib.suppress(Exception):
            self.dataset.close()
        self._restore_libtiff()

    def _check_blocks(self) -> None:
        """Every block is in the file: a block GDAL failed to write has no offset, or one past the end."""
        import errno

        import rasterio

        size = self.path.stat().st_size
        with rasterio.open(self.path) as check:
            if (check.width, check.height) != (self.width, self.height):
                raise OSError(errno.EIO, f"the GeoTIFF header was not written whole ({size} bytes)")
            for y in range(-(-self.height // BLOCK)):
                for x in range(-(-self.width // BLOCK)):
                    offset = check.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=1)
                    length = check.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=1)
                    if not offset or not length or int(offset) + int(length) > size or int(length) == 0:
                        raise RuntimeError(f"block {x},{y} of the GeoTIFF was not written")


# --------------------------------------------------------------------------- the run
def _default_batch(device_kind: str, tile: int) -> int:
    """Tiles per batch: on CPU one 512 x 512 tile (ONNX Runtime gains under 10 % from batches of 2-4 there but
    needs 400 MB more per tile: docs/performance.md); on a GPU eight."""
    pixels = max(1, (512 * 512) // (tile * tile))
    return (8 if device_kind in ("cuda", "mps") else 1) * pixels


_HEAP_TUNED = False


def _steady_heap() -> None:
    """Stop glibc from raising its mmap threshold after each large free (its default, dynamic behaviour).

    Tiles and strips are arrays of a few MB allocated and freed by two threads; with the dynamic threshold they
    move from mmap to the heap, which fragments and keeps growing with the number of tiles (measured: 75 MB more
    peak RSS on a full Sentinel-2 tile). A fixed 1 MB threshold gives their memory back when they are freed.
    """
    global _HEAP_TUNED
    if _HEAP_TUNED or not sys.platform.startswith("linux"):
        return
    _HEAP_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def run_detection(
    options: DetectOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Detect rafts as `options` say; returns the summary (also written as JSON beside the output).

    The summary's fields: sargasses.summary.RunSummary, documented in docs/engine_protocol.md.
    """
    import rasterio

    from sargasses.output_set import OutputSet

    started = time.perf_counter()
    _steady_heap()
    report = progress or (lambda fraction, message: None)
    _check_options(options)
    if not Path(options.input).exists():
        raise SargassesError(f"{options.input} does not exist; check the path of the input image")
    model_path = None
    if options.method == "model":
        from sargasses.model_file import default_model_path

        model_path = Path(options.model) if options.model else default_model_path()
    outputs = _check_outputs(options, model_path)

    card = None
    scorer = None
    if model_path is not None:
        report(0.0, f"loading model {model_path.name}")
        _, card = model_card(model_path)
    with OutputSet(*_output_set(outputs), overwrite=options.overwrite, label=outputs["output"].name) as outset:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024), _open_scene(options, card) as scene:
            _check_crs(scene, options)
            if card is not None:
                _check_model_fits(card, scene, options)
                scorer = cached_scorer(model_path, options.device, options.backend)
                threshold = card.threshold if options.threshold is None else float(options.threshold)
                tile_size, overlap = options.tile_size or card.tile_size, card.tile_overlap
                device_kind = getattr(getattr(scorer, "device", None), "kind", "cpu")
            else:
                from sargasses import baseline
                from sargasses.inference import BaselineScorer

                scorer = BaselineScorer(options.method, scene.band_names, background=options.background)
                threshold = (
                    baseline.DEFAULT_THRESHOLDS[options.method] if options.threshold is None else options.threshold
                )
                tile_size, overlap = options.tile_size or 512, 64
                device_kind = "cpu"
            summary = _run(
                options,
                outputs,
                outset,
                scene,
                scorer,
                card,
                model_path,
                threshold,
                tile_size,
                overlap,
                device_kind,
                report,
                cancel,
            )
        summary["time_s"] = round(time.perf_counter() - started, 2)
        summary = cast(RunSummary, _json_safe(summary))
        _write_summary(outset.stage(outputs["summary"]), outputs["summary"], summary)
        if cancel is not None and cancel.is_set():
            raise DetectionCancelled("detection cancelled; nothing was written")
        targets, _ = _output_set(outputs)
        outset.commit(targets, remove=_stale_parts(outputs["output"]))
    report(1.0, f"{summary['rafts']} rafts found")
    return summary


def _output_set(outputs: dict[str, Path]) -> tuple[list[Path], list[Path]]:
    """(every file the run makes, in the order they are renamed into place: the summary last; the paths to lock)."""
    from sargasses.vector_output import output_files

    targets = list(output_files(outputs["output"]))
    targets += [outputs[k] for k in ("probabilities", "quicklook") if k in outputs]
    targets.append(outputs["summary"])
    return targets, [p for k, p in outputs.items()]


def _stale_parts(output: Path) -> list[Path]:
    """An old shapefile's index files, wrong for the new one: they go when the new set is renamed into place."""
    from sargasses.vector_output import STALE_SHAPEFILE_PARTS, vector_driver

    if vector_driver(output) != "ESRI Shapefile":
        return []
    return [output.with_suffix(s) for s in STALE_SHAPEFILE_PARTS if output.with_suffix(s).exists()]


def _run(
    options: DetectOptions,
    outputs: dict[str, Path],
    outset: Any,
    scene: Any,
    scorer: Any,
    card: Any,
    model_path: Path | None,
    threshold: float,
    tile_size: int,
    overlap: int,
    device_kind: str,
    report: Progress,
    cancel: threading.Event | None,
) -> RunSummary:
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    from sargasses.atomic import write_error
    from sargasses.inference import RunStats, run_tiles, tile_grid
    from sargasses.masking import UserLandMask
    from sargasses.quicklook import Quicklook
    from sargasses.vector_output import rafts_frame, write_layer
    from sargasses.vectorize import PixelMetric, RaftCollector

    window = _area_window(scene, options.extent)
    row_off, col_off = int(window.row_off), int(window.col_off)
    height, width = int(window.height), int(window.width)
    transform = window_transform(window, scene.transform)
    grid = tile_grid(height, width, tile_size, overlap)
    batch_size = options.batch_size or _default_batch(device_kind, grid.tile_h)

    checked = InputCheck()

    def read_tile(row: int, col: int, h: int, w: int) -> np.ndarray:
        """The tile; where it overhangs the scene (a side shorter than a tile is rounded up to 32 px) the scene
        is mirrored into it: zeros there would be read by the model as a dark shore and give false rafts."""
        from rasterio.errors import RasterioError

        inside_h = max(1, min(h, scene.height - row - row_off))
        inside_w = max(1, min(w, scene.width - col - col_off))
        try:
            data = scene.read(Window(col + col_off, row + row_off, inside_w, inside_h))
        except RasterioError as exc:  # a damaged block in the middle of the file
            raise SargassesError(
                f"reading {options.input} failed near row {row + row_off}, column {col + col_off} ({exc}); "
                "the file may be truncated or damaged: copy or download it again"
            ) from None
        checked.add(data)
        if (inside_h, inside_w) != (h, w):
            data = np.pad(data, ((0, 0), (0, h - inside_h), (0, w - inside_w)), mode="symmetric")
        return data

    land_mask = None
    read_land = None
    if options.land:
        land_mask = UserLandMask(options.land, scene.crs, scene.transform, scene.width, scene.height)

        def read_land(row: int, col: int, h: int, w: int) -> np.ndarray:
            return land_mask.read(row + row_off, col + col_off, h, w)

    quicklook = Quicklook(height, width, scene.band_names) if options.quicklook else None
    pixel_units = scene.crs is None  # only with options.pixel_units: _check_crs refuses it otherwise
    collector = RaftCollector(
        transform, scene.crs, width, options.min_area or 0.0, options.simplify, pixel_units=pixel_units,
        min_pixels=DEFAULT_MIN_PIXELS if options.min_area is None else 1,
    )  # fmt: skip
    metric = PixelMetric(transform, scene.crs, pixel_units=pixel_units)
    stats = RunStats()
    timing = {"polygons_s": 0.0, "write_s": 0.0}

    @contextlib.contextmanager
    def clock(stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            timing[stage] += time.perf_counter() - started

    counts = {"valid": 0, "water": 0, "land": 0, "cloud": 0, "nodata": 0, "detected": 0}
    areas = {"water_m2": 0.0, "valid_m2": 0.0}
    method_name = card.name if card is not None else options.method
    writer = None
    try:
        if "probabilities" in outputs:
            tags = {
                "SCORE": "probability" if card is not None else f"{options.method} index minus background",
                "METHOD": options.method,
                "MODEL": method_name,
                "THRESHOLD": f"{threshold:g}",
            }
            writer = ProbabilityWriter(
                outset.stage(outputs["probabilities"]),
                outputs["probabilities"],
                width,
                height,
                scene.crs,
                transform,
                tags,
            )

        def tiles_done(done: int, total: int) -> None:
            report(0.02 + 0.9 * done / total, f"tile {done}/{total}")

        report(0.02, f"detecting on {width}x{height} px, {grid.count} tiles, {scorer.description}")
        strips = run_tiles(
            grid,
            read_tile,
            scorer,
            batch_size=batch_size,
            read_land=read_land,
            on_tile=quicklook.add_tile if quicklook else None,
            progress=tiles_done,
            cancel=cancel,
            stats=stats,
        )
        for strip in strips:
            excluded = strip.excluded
            with np.errstate(invalid="ignore"):
                mask = (strip.score >= threshold) & ~excluded
            with clock("polygons_s"):
                collector.add(strip.row, mask, strip.score)
            if writer is not None:
                with clock("write_s"):
                    writer.add(strip.score)
            valid = ~strip.nodata
            water = valid & ~excluded
            n_valid, n_water = int(valid.sum()), int(water.sum())
            counts["valid"] += n_valid
            counts["water"] += n_water
            counts["land"] += int(strip.land.sum())
            counts["cloud"] += int(strip.cloud.sum())
            counts["nodata"] += int(strip.nodata.sum())
            counts["detected"] += int(mask.sum())
            if n_valid:
                _, _, pixel_area = metric.pixel_steps(np.array([strip.row + strip.height // 2]), np.array([width // 2]))
                areas["water_m2"] += n_water * float(pixel_area[0])
                areas["valid_m2"] += n_valid * float(pixel_area[0])
        if cancel is not None and cancel.is_set():
            raise DetectionCancelled("detection cancelled; nothing was written")
        if counts["valid"] == 0 and checked.infinite:
            raise SargassesError(
                f"{options.input} holds only infinite values (inf){' inside --extent' if options.extent else ''}, "
                "no reflectance; the file was likely made by a division by zero or an overflow: export it again"
            )
        if counts["valid"] == 0:
            raise SargassesError(
                f"{options.input} has no valid pixel{' inside --extent' if options.extent else ''} (all nodata); "
                "check the input (and its nodata value) or the extent"
            )
        warnings = [w for w in [checked.verdict(options.input)] if w]
        if checked.infinite:
            warnings.append(
                f"{options.input} holds infinite values (inf); they were taken as nodata: check how the file was made"
            )
        report(0.93, "polygons")
        with clock("polygons_s"):
            rafts = collector.finish()
        with clock("write_s"):
            if writer is not None:
                writer.close()
                writer = None
        attributes = {
            "acq_date": scene.acquisition_date,
            "sensor": scene.sensor,
            "product": scene.product_id,
            "model": method_name,
            "model_ver": card.version if card is not None else None,
        }
        report(0.96, f"writing {len(rafts)} rafts")
        with clock("write_s"):
            frame = rafts_frame(rafts, scene.crs, attributes)
            write_layer(frame, outset.stage(outputs["output"]), name=outputs["output"])
            if quicklook is not None:
                geometries = [r.geometry for r in rafts]
                try:
                    quicklook.save(outset.stage(outputs["quicklook"]), geometries, transform, name=outputs["quicklook"])
                except OSError as exc:
                    raise write_error(outputs["quicklook"], exc) from None
    finally:
        if writer is not None:
            writer.discard()
        if land_mask is not None:
            land_mask.close()

    total_m2 = sum(r.area_m2 for r in rafts)
    device = getattr(scorer, "device", None)
    if pixel_units:  # areas are pixel counts: no km2 figures, the summary says so
        warnings.append(f"{options.input} has no CRS: areas are in pixels (--pixel-units), lon/lat are empty")
        areas_out: dict[str, Any] = {
            "total_area_km2": None,
            "water_area_km2": None,
            "total_area_px": int(total_m2),
            "water_area_px": int(areas["water_m2"]),
        }
    else:
        areas_out = {
            "total_area_km2": round(total_m2 / 1e6, 6),
            "water_area_km2": round(areas["water_m2"] / 1e6, 4),
        }
    summary: RunSummary = {
        "input": str(options.input),
        "output": str(outputs["output"]),
        "summary": str(outputs["summary"]),
        "probabilities": str(outputs["probabilities"]) if "probabilities" in outputs else None,
        "quicklook": str(outputs["quicklook"]) if "quicklook" in outputs else None,
        "method": options.method,
        "model": None
        if card is None
        else {"name": card.name, "version": card.version, "path": str(model_path), "sensor": card.sensor},
        "scorer": scorer.description,
        "device": device.kind if device is not None else "cpu",
        "device_name": device.name if device is not None else _cpu_name(),
        "threshold": threshold,
        "threshold_source": "yours"
        if options.threshold is not None
        else ("the model's, picked on validation" if options.method == "model" else "the index's default"),
        "units": "pixels" if pixel_units else "metres",
        "min_area_m2": None if pixel_units or options.min_area is None else float(options.min_area),
        "min_raft_pixels": DEFAULT_MIN_PIXELS if options.min_area is None else 1,
        "rafts": len(rafts),
        **areas_out,
        "water_share_covered": round(total_m2 / areas["water_m2"], 8) if areas["water_m2"] else 0.0,
        "rafts_dropped_small": collector.dropped_small,
        "pixels": {"width": width, "height": height, **counts},
        "tiles": {
            "size": [grid.tile_h, grid.tile_w],
            "overlap": grid.overlap,
            "total": stats.tiles,
            "run": stats.tiles_run,
            "skipped_nodata": stats.tiles_skipped,
            "skipped_no_water": stats.tiles_no_water,
            "batch_size": batch_size,
        },
        "timing": {  # seconds per stage; reading runs in a background thread, beside the model
            "read_s": round(stats.read_s, 2),
            "model_s": round(stats.model_s, 2),
            "waiting_for_reads_s": round(stats.wait_s, 2),
            **{k: round(v, 2) for k, v in timing.items()},
        },
        "crs": scene.crs.to_string() if scene.crs is not None else None,
        "sensor": scene.sensor,
        "product_id": scene.product_id,
        "acquisition_date": scene.acquisition_date,
        "options": {k: v for k, v in asdict(options).items() if v is not None},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warnings": warnings,
    }
    return summary


def _cpu_name() -> str:
    from sargasses.inference import _cpu_threads

    return f"CPU ({_cpu_threads()} threads)"


def _json_safe(value: Any) -> Any:
    """NaN and inf as null: JSON has no such numbers, and the plugin and other tools must be able to read it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _write_summary(path: Path, final: Path, summary: RunSummary) -> None:
    """The summary, written to `path` (in the staging folder) and flushed; errors are named by its `final` path."""
    from sargasses.atomic import atomic_write_text, write_error

    try:
        atomic_write_text(path, json.dumps(summary, indent=2, default=str, allow_nan=False) + "\n")
    except OSError as exc:
        raise write_error(final, exc) from None
