"""The scenes a monitoring run is given: paths, glob patterns, text files listing them, or item hrefs.

Why a text file: a region's archive is thousands of scenes, more than a command line holds. Hrefs (http(s)://,
s3://, /vsi...) are kept as they are, so that a STAC search's item assets can be handed over as a list.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sargasses.errors import SargassesError

REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "/vsi")
LIST_SUFFIXES = (".txt", ".lst")
SCENE_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".safe", ".sen3", ".zip", ".nc")


@dataclass(frozen=True)
class SceneInput:
    """One scene of a run: `scene` names it in the catalogue (a path or href; a STAC item's id), `source` is what
    the detection reads, `datetime` the acquisition when known before reading (a STAC item's), `extent` the part
    read (in the scene's CRS; None: all of it)."""

    scene: str
    source: str
    datetime: str | None = None
    extent: tuple[float, float, float, float] | None = None


def file_inputs(items: list[str]) -> list[SceneInput]:
    """`scene_inputs(items)`, each named by its path or href (none without items: a search may give them all)."""
    return [SceneInput(scene, scene) for scene in scene_inputs(items)] if items else []


def scene_inputs(items: Iterable[str]) -> list[str]:
    """Every scene named by `items`, each once, in the order given (paths made absolute, hrefs kept)."""
    found: dict[str, None] = {}
    for item in items:
        for scene in _expand(str(item).strip()):
            found.setdefault(scene, None)
    if not found:
        raise SargassesError("no scene to monitor: give scene files, glob patterns (quoted) or a text file of paths")
    return list(found)


def _expand(item: str) -> list[str]:
    if not item or item.startswith("#"):
        return []
    if item.startswith(REMOTE_PREFIXES):
        return [item]
    path = Path(item).expanduser()
    if path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        base = path.parent
        lines = path.read_text(encoding="utf-8").splitlines()
        return [s for line in lines for s in _expand(_beside(line.strip(), base))]
    if any(ch in item for ch in "*?["):
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches:
            raise SargassesError(f"{item} matches no file: check the pattern (quote it so the shell leaves it)")
        return [str(Path(m).resolve()) for m in matches if _is_scene(Path(m))]
    if not path.exists():
        raise SargassesError(f"{item} does not exist: check the path, or quote a glob pattern")
    if path.is_dir() and path.suffix.lower() not in (".safe", ".sen3"):
        raise SargassesError(f"{item} is a folder: give its scenes with a pattern, e.g. '{path}/*.tif'")
    return [str(path.resolve())]


def _beside(line: str, base: Path) -> str:
    """A relative path in a list file is relative to the list file's folder."""
    if not line or line.startswith(("#", *REMOTE_PREFIXES)) or Path(line).expanduser().is_absolute():
        return line
    return str(base / line)


def _is_scene(path: Path) -> bool:
    """What a pattern matches that is a scene: not the label masks and sidecars synth writes beside scenes."""
    name = path.name.lower()
    return name.endswith(SCENE_SUFFIXES) and not name.endswith(("_label.tif", ".aux.xml"))
