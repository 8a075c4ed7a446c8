"""More faults, beyond issue 21's list and tests/core/test_fault_sweep.py's: bad files and options for detect,
fine-tuning, evaluation, OLCI, search and monitor, and requests to the engine. Each, run as a user would (`python
-m sargasses ...` on real files, a real engine process), fails with its status, one `sargasses: error:` line (no
traceback, no raw library line), and leaves no new file and no temporary folder. The case names say what each one is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_engine_fuzz import EngineProcess, request
from test_fault_sweep import error_line, sargasses


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small scene and the broken files the cases give (all in one folder, which no case may change)."""
    from sargasses.model_file import default_model_path
    from sargasses.synth import make_scene, write_scene
    from sargasses.synth.olci_product import write_products

    folder = tmp_path_factory.mktemp("more")
    f: dict[str, Path] = {"dir": folder}
    f["scene"] = Path(write_scene(make_scene(5, 128, "clean"), folder)["image"])
    f["model"] = Path(shutil.copy(default_model_path(), folder / "model.sargasses"))
    f["cut"] = folder / "cut.tif"
    f["cut"].write_bytes(f["scene"].read_bytes()[:3000])
    f["empty_tif"] = folder / "empty.tif"
    f["empty_tif"].write_bytes(b"")
    f["text_tif"] = folder / "text.tif"
    f["text_tif"].write_text("not an image\n")
    f["folder"] = folder / "a_folder"
    f["folder"].mkdir()
    f["text_gpkg"] = folder / "text.gpkg"
    f["text_gpkg"].write_text("not a GeoPackage\n")
    f["empty_gpkg"] = folder / "empty.gpkg"
    f["empty_gpkg"].write_bytes(b"")
    f["bad_item"] = folder / "item.json"
    f["bad_item"].write_text("{}")
    f["garbage_item"] = folder / "garbage.json"
    f["garbage_item"].write_text("{not json")
    olci = write_products(folder / "olci", seed=3, zip_too=True)
    f["olci"] = olci["l2_zip"]
    f["garbage_zip"] = folder / "S3A_OL_2_WFR____garbage.SEN3.zip"
    f["garbage_zip"].write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return f


def detect(*args: str) -> list[str]:
    return ["detect", "{scene}", "-o", "{dir}/r.gpkg", *args]


def finetune(*args: str) -> list[str]:
    return ["finetune", *args]


NEW = "{dir}/new.sargasses"
# id -> (command line, a piece of its one error line)
CASES = {
    # detect: the input
    "detect: input is a GeoTIFF cut short": (["detect", "{cut}", "-o", "{dir}/r.gpkg"], "cut.tif"),
    "detect: input is an empty file": (["detect", "{empty_tif}", "-o", "{dir}/r.gpkg"], "empty.tif"),
    "detect: input is a text file": (["detect", "{text_tif}", "-o", "{dir}/r.gpkg"], "text.tif"),
    "detect: input is a plain folder": (["detect", "{folder}", "-o", "{dir}/r.gpkg"], "a_folder"),
    "detect: input missing": (["detect", "{dir}/none.tif", "-o", "{dir}/r.gpkg"], "none.tif"),
    "detect: STAC item JSON without an asset": (["detect", "{bad_item}", "-o", "{dir}/r.gpkg"], "item.json"),
    "detect: STAC item file is not JSON": (["detect", "{garbage_item}", "-o", "{dir}/r.gpkg"], "garbage.json"),
    "detect: OLCI zip that holds nothing": (["detect", "{garbage_zip}", "-o", "{dir}/r.gpkg"], "garbage.SEN3.zip"),
    "detect: FAI on OLCI": (["detect", "{olci}", "-o", "{dir}/r.gpkg", "--method", "fai"], "1240 nm"),
    "detect: the default model on OLCI": (["detect", "{olci}", "-o", "{dir}/r.gpkg"], "OLCI"),
    # detect: the outputs
    "detect: output extension unknown": (["detect", "{scene}", "-o", "{dir}/r.txt"], "r.txt"),
    "detect: output under a file": (["detect", "{scene}", "-o", "{text_tif}/r.gpkg"], "text.tif"),
    "detect: output is a folder": (["detect", "{scene}", "-o", "{folder}"], "a_folder"),
    "detect: output is the input": (["detect", "{scene}", "-o", "{scene}"], "scene_0005.tif"),
    "detect: probabilities not a .tif": (detect("--probabilities", "{dir}/p.png"), "give a GeoTIFF name"),
    "detect: coverage not a .tif": (detect("--coverage", "{dir}/c.jpg"), "give a GeoTIFF name"),
    "detect: quicklook not a .png": (detect("--quicklook", "{dir}/q.jpg"), "give a PNG name"),
    "detect: probabilities are the input": (detect("--probabilities", "{scene}"), "is the input raster"),
    "detect: probabilities are the model file": (detect("--probabilities", "{model}"), "GeoTIFF"),
    "detect: output exists": (["detect", "{scene}", "-o", "{model}"], "model.sargasses"),
    # detect: options
    "detect: threshold 2": (detect("--threshold", "2"), "between 0 and 1"),
    "detect: threshold -1": (detect("--threshold", "-1"), "between 0 and 1"),
    "detect: min-area -5": (detect("--min-area", "-5"), "0 or more"),
    "detect: simplify -1": (detect("--simplify", "-1"), "0 or more"),
    "detect: extent reversed": (detect("--extent", "10", "10", "0", "0"), "XMIN < XMAX"),
    "detect: extent outside": (detect("--extent", "0", "0", "10", "10"), "does not overlap"),
    "detect: tile size 8": (detect("--tile-size", "8"), "at least 32"),
    "detect: batch size 0": (detect("--batch-size", "0"), "at least 1"),
    "detect: band B99": (detect("--bands", "B99,B03,B04,B05,B06,B07,B08,B8A,B11,B12"), "B99"),
    "detect: too few bands": (detect("--bands", "B02,B03"), "bands"),
    "detect: another sensor's profile": (detect("--sensor", "landsat9"), "Landsat 8/9 OLI"),
    "detect: land mask missing": (detect("--land", "{dir}/land.gpkg"), "land.gpkg"),
    "detect: land mask is text": (detect("--land", "{text_gpkg}"), "text.gpkg"),
    "detect: model is a folder": (detect("--model", "{folder}"), "is a folder"),
    "detect: model is an empty .gpkg": (detect("--model", "{empty_gpkg}"), "empty.gpkg"),
    # fine-tuning
    "finetune: labels file empty": (finetune("{empty_gpkg}", "-o", NEW), "empty.gpkg"),
    "finetune: labels file is text": (finetune("{text_gpkg}", "-o", NEW), "text.gpkg"),
    "finetune: labels file is a folder": (finetune("{folder}", "-o", NEW), "a_folder"),
    "finetune: learning rate 0": (finetune("{text_gpkg}", "-o", NEW, "--learning-rate", "0"), "learning rate"),
    "finetune: hold-out 2": (finetune("{text_gpkg}", "-o", NEW, "--hold-out", "2"), "hold-out"),
    "finetune: crop size 0": (finetune("{text_gpkg}", "-o", NEW, "--crop-size", "0"), "crop"),
    "finetune: output is the parent model": (finetune("{text_gpkg}", "-o", "{model}", "--model", "{model}"), "model"),
    # evaluation
    "evaluate: folder missing": (["evaluate", "{dir}/none"], "none"),
    "evaluate: folder without labels": (["evaluate", "{folder}"], "a_folder"),
    "evaluate: model is text": (["evaluate", "{dir}", "--model", "{text_gpkg}"], "text.gpkg"),
    "evaluate: --against missing": (["evaluate", "{dir}", "--against", "{dir}/none.sargasses"], "none.sargasses"),
    # search and monitor
    "search: bbox not four numbers": (
        ["search", "--stac", "earth-search", "--bbox=1,2,3", "--dates", "2025-01-01/2025-01-02"],
        "--bbox",
    ),
    "search: bbox west > east": (
        ["search", "--stac", "earth-search", "--bbox=3,2,1,4", "--dates", "2025-01-01/2025-01-02"],
        "west < east",
    ),
    "search: dates not dates": (["search", "--stac", "earth-search", "--bbox=1,2,3,4", "--dates", "soon"], "soon"),
    "search: nothing answers": (
        ["search", "--stac", "http://127.0.0.1:9/", "--bbox=1,2,3,4", "--dates", "2025-01-01/2025-01-02"],
        "127.0.0.1",
    ),
    "monitor: no scene": (["monitor", "-o", "{dir}/mon"], "no scene to monitor"),
    "monitor: cell -1": (["monitor", "{scene}", "-o", "{dir}/mon", "--cell", "-1"], "--cell"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_fault_is_one_line_and_leaves_nothing(files, tmp_path, case):
    args, expected = CASES[case]
    before = sorted(p.relative_to(files["dir"]) for p in files["dir"].rglob("*"))
    result = sargasses(*(a.format(**files) for a in args), cwd=files["dir"], env={"TMPDIR": str(tmp_path)})
    assert expected in error_line(result)
    assert sorted(p.relative_to(files["dir"]) for p in files["dir"].rglob("*")) == before
    # torch's compile cache and a library's session file (.ses) come with any run: not sargasses' files
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("sargasses")]


# --------------------------------------------------------------------------- the engine
ENGINE_CASES = {
    "detect: input missing": ("detect", {"input": "{dir}/none.tif", "output": "{dir}/e.gpkg"}, "none.tif"),
    "detect: output is a folder": ("detect", {"input": "{scene}", "output": "{folder}"}, "a_folder"),
    "detect: threshold 7": ("detect", {"input": "{scene}", "output": "{dir}/e.gpkg", "threshold": 7}, "between 0"),
    "detect: unknown option": ("detect", {"input": "{scene}", "output": "{dir}/e.gpkg", "colour": 1}, "colour"),
    "finetune: labels missing": ("finetune", {"labels": "{dir}/none.gpkg", "output": "{dir}/e.sargasses"}, "none.gpkg"),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    process = EngineProcess(tmp_path_factory.mktemp("engine"))
    assert process.next_event(60)["event"] == "ready"
    yield process
    process.close()


@pytest.mark.parametrize("case", list(ENGINE_CASES))
def test_the_engine_answers_a_fault_in_one_line(files, engine, case):
    cmd, options, expected = ENGINE_CASES[case]
    filled = {k: v.format(**files) if isinstance(v, str) else v for k, v in options.items()}
    event = engine.reply(request(id=list(ENGINE_CASES).index(case) + 500, cmd=cmd, options=filled))
    assert event["event"] == "error" and expected in event["message"], event
    assert "internal error" not in event["message"] and "\n" not in event["message"], event
    assert not (files["dir"] / "e.gpkg").exists() and not (files["dir"] / "e.sargasses").exists()


def test_the_engine_reports_a_broken_model_in_info(files, engine):
    """info on a model file that is text: the device still answers, the model's problem in one line."""
    event = engine.reply(request(id=600, cmd="info", model=str(files["text_gpkg"])))
    assert event["event"] == "result" and "text.gpkg" in event["result"]["model_error"], event
    assert event["result"]["device"]["type"]
