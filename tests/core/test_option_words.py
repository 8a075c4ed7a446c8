"""A message in the words of the place it is shown (sargasses/option_words.py): the CLI's options in the CLI, the
plugin's parameters and fields through the engine when Processing or the dock asks (issue 21)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from detect_helpers import water, write_scene
from test_engine_fuzz import EngineProcess, request

from sargasses.option_words import OPTION_NAME, OPTIONS, PLACES, in_words_of

ROOT = Path(__file__).resolve().parents[2]
# What the engine runs (detect, finetune, info): the messages it may send. The other commands (synth, monitor,
# search, evaluate, export) are the CLI's only.
ENGINE_SIDE = [
    "detection",
    "reading",
    "outputs",
    "training/finetune.py",
    "model_file.py",
    "model_archive.py",
    "atomic.py",
]


def option_names_in_messages() -> dict[str, str]:
    """Every `--option` named in a string of the engine's side, outside argparse's definitions: {option: file}."""
    found: dict[str, str] = {}
    for entry in ENGINE_SIDE:
        place = ROOT / "sargasses" / entry
        for path in [place] if place.is_file() else sorted(set(place.rglob("*.py")) - set(place.rglob("cli.py"))):
            tree = ast.parse(path.read_text())
            skipped = {
                id(inner)
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("add_argument", "ArgumentParser")
                for inner in ast.walk(node)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
                    if node.value.lstrip().startswith(("sargasses ", "Run `")):  # usage lines
                        continue
                    for name in OPTION_NAME.findall(node.value):
                        found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_option_the_engine_may_name_has_words_in_each_place() -> None:
    names = option_names_in_messages()
    assert "--pixel-units" in names and "--extent" in names  # the scan sees messages
    missing = {name: where for name, where in names.items() if name not in OPTIONS}
    assert not missing, f"add these to sargasses/option_words.py OPTIONS: {missing}"
    assert all(set(words) == set(PLACES) for words in OPTIONS.values())


@pytest.mark.parametrize("place", PLACES)
def test_no_option_is_left_in_the_plugins_words(place) -> None:
    messages = [
        "x.tif has no coordinate reference system (CRS), so ...; assign the right one, or pass --pixel-units to "
        "measure areas in pixels",
        "--extent (0, 0, 1, 1) does not overlap the raster; give the extent in the raster's CRS",
        "r.gpkg already exists; add --overwrite to replace it, or choose another name",
        "--threshold nan is not a finite number",
        "x.tif lacks band(s) B05; its bands are B02, B03. Give a raster with B02, B05, or choose the bands to use "
        "with --bands.",
    ]
    for message in messages:
        said = in_words_of(message, place)
        assert "--" not in said and said, said
    assert in_words_of(messages[0], place).endswith("assign the right one")
    assert in_words_of(messages[1], None) == messages[1]  # the CLI keeps its words


@pytest.fixture(scope="module")
def no_crs_scene(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("words")
    return write_scene(folder / "no_crs.tif", water(64, 64), crs=None)


def test_the_cli_names_its_option(no_crs_scene, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sargasses", "detect", str(no_crs_scene), "-o", str(tmp_path / "r.gpkg")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "or pass --pixel-units to measure areas in pixels" in done.stderr, done.stderr


@pytest.mark.parametrize(("asker", "option"), [(None, True), ("processing", False), ("dock", False)])
def test_the_engine_speaks_the_askers_words(no_crs_scene, tmp_path, asker, option) -> None:
    engine = EngineProcess(tmp_path)
    try:
        assert engine.next_event(60)["event"] == "ready"
        options = {"input": str(no_crs_scene), "output": str(tmp_path / "r.gpkg"), "method": "afai"}
        fields = {"asker": asker} if asker else {}
        event = engine.reply(request(id=1, cmd="detect", options=options, **fields))
        assert event["event"] == "error" and "has no coordinate reference system" in event["message"], event
        assert ("--pixel-units" in event["message"]) == option, event
        far = {**options, "input": str(no_crs_scene.with_name("far.tif")), "extent": [1e7, 1e7, 1e7 + 1, 1e7 + 1]}
        write_scene(Path(far["input"]), water(64, 64))
        event = engine.reply(request(id=2, cmd="detect", options=far, **fields))
        assert event["event"] == "error" and "does not overlap" in event["message"], event
        assert ("--extent" in event["message"]) == option and ("the Area parameter" in event["message"]) == (
            asker == "processing"
        ), event
        refused = engine.reply(request(id=3, cmd="detect", options=options, asker="nobody"))
        assert refused["event"] == "error" and "'asker' must be one of processing, dock" in refused["message"]
    finally:
        engine.close()
    assert not (tmp_path / "r.gpkg").exists()
