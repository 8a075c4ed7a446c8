"""Every output of a run, checked before any work: format known, distinct, writable, absent unless `overwrite`,
and never a file the run reads (the input, a VRT's or a .SAFE's files, the land mask, the model file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from sargasses.errors import SargassesError


class OutputRequest(Protocol):
    """What the checks read of a run's options (detection.options.DetectOptions has these): the outputs asked
    for, and the inputs none of them may be."""

    input: str
    output: str
    probabilities: str | None
    coverage: str | None
    quicklook: str | None
    land: str | None
    overwrite: bool


def summary_path(output: str | os.PathLike) -> Path:
    """`rafts.shp` -> `rafts.summary.json`, beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.summary.json")


def check_outputs(options: OutputRequest, model_path: Path | None = None) -> dict[str, Path]:
    """Every output path, checked before any work: format known, distinct, writable, absent unless overwrite, and
    none of them an input of the run (even with overwrite)."""
    from sargasses.outputs.vector_output import check_target, check_writable, output_files

    outputs = {"output": Path(options.output), "summary": summary_path(options.output)}
    if options.probabilities:
        outputs["probabilities"] = Path(options.probabilities)
        if outputs["probabilities"].suffix.lower() not in (".tif", ".tiff"):
            raise SargassesError(f"--probabilities {options.probabilities}: give a GeoTIFF name ending in .tif")
    if options.coverage:
        outputs["coverage"] = Path(options.coverage)
        if outputs["coverage"].suffix.lower() not in (".tif", ".tiff"):
            raise SargassesError(f"--coverage {options.coverage}: give a GeoTIFF name ending in .tif")
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
    options: OutputRequest, model_path: Path | None
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(files, folders) no output may be or be inside, each with what it is to the run."""
    source = Path(options.input).resolve()
    files: list[tuple[Path, str]] = [(source, "the input raster")]
    folders: list[tuple[Path, str]] = []
    safe = next((p for p in [source, *source.parents] if p.suffix.lower() in (".safe", ".sen3") and p.is_dir()), None)
    if safe is not None:
        folders.append((safe, f"inside the input product {safe.name}"))
    elif source.is_dir():
        folders.append((source, "inside the input folder"))
    else:
        files += [(f.resolve(), f"a file the input {source.name} reads") for f in _raster_files(source)]
    if model_path is not None:
        files.append((model_path.resolve(), "the model file"))
    if options.land:
        from sargasses.outputs.vector_output import output_files

        land = Path(options.land).resolve()
        parts = output_files(land) if land.suffix.lower() == ".shp" else [land]  # a shapefile is several files
        files += [(p, "the land mask") for p in parts]
        files += [(f.resolve(), "a file the land mask reads") for f in _raster_files(land)]
    return files, folders


def _check_not_inputs(options: OutputRequest, outputs: dict[str, Path], model_path: Path | None) -> None:
    """No output may replace a file the run reads, even with --overwrite: that would destroy the user's data."""
    from sargasses.outputs.vector_output import output_files

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


def output_targets(outputs: dict[str, Path]) -> tuple[list[Path], list[Path]]:
    """(every file the run makes, in the order they are renamed into place: the summary last; the paths to lock)."""
    from sargasses.outputs.vector_output import output_files

    targets = list(output_files(outputs["output"]))
    targets += [outputs[k] for k in ("probabilities", "coverage", "quicklook") if k in outputs]
    targets.append(outputs["summary"])
    return targets, [p for k, p in outputs.items()]


def stale_parts(output: Path) -> list[Path]:
    """An old shapefile's index files, wrong for the new one: they go when the new set is renamed into place.
    Only when there is an old shapefile (so only with --overwrite): without one, such files are the user's own."""
    from sargasses.outputs.vector_output import STALE_SHAPEFILE_PARTS, vector_driver

    if vector_driver(output) != "ESRI Shapefile" or not output.exists():
        return []
    return [output.with_suffix(s) for s in STALE_SHAPEFILE_PARTS if output.with_suffix(s).exists()]
