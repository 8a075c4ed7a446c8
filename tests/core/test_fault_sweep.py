"""Faults a careful user or a hostile file brings, run as a user would (`python -m sargasses ...`, real files, small
tmpfs disks, a real engine process): each exits with a status that says it failed, in one line and never a
traceback, and leaves nothing of its own behind (issue 21). docs/detect.md, "What happens on a fault", lists them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from finetune_helpers import mark_like_a_user, write_lookalike_scene
from hostile_files import write_bomb, write_external_data, write_lying_weights
from test_engine_fuzz import EngineProcess, request

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (621, 622)  # two dates: one trained on, one held back
QUICK = ("--epochs", "1", "--crops-per-epoch", "16", "--device", "cpu")


def sargasses(*args: str, cwd: Path, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`python -m sargasses ARGS` with this tree's code, as a user runs it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "sargasses", *args]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, **kwargs)


def error_line(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """The one `sargasses: error:` line of a failed command: no traceback, no raw library line, no raw warning."""
    assert result.returncode == status, result.stderr
    for raw in ("Traceback", "_tiffWriteProc", "UserWarning", "RuntimeWarning"):
        assert raw not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("sargasses: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _relabelled(store: Path, out: Path, change) -> Path:
    """A copy of a labels file with `change(frame)` applied to both its layers (written as a user's tool would)."""
    import geopandas as gpd

    for i, layer in enumerate(("labels", "looked_at")):
        frame = change(gpd.read_file(store, layer=layer))
        frame.to_file(out, layer=layer, driver="GPKG", mode="w" if i == 0 else "a")
    return out


class Evil:
    """Pickled into a checkpoint: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real files for every case: a scene, a labels file and its broken variants, hostile model files and
    checkpoints, an OLCI zip and one that lacks a file."""
    import rasterio
    import torch

    from sargasses.detection.options import DetectOptions
    from sargasses.detection.run import run_detection
    from sargasses.model_file import default_model_path
    from sargasses.synth import make_scene, write_scene
    from sargasses.synth.olci_product import write_products

    folder = tmp_path_factory.mktemp("sweep")
    w: dict[str, Path] = {"dir": folder}
    w["scene"] = Path(write_scene(make_scene(11, 256, "mixed"), folder)["image"])
    store = w["store"] = folder / "sargasses_labels.gpkg"
    for seed in SEEDS:
        scene = write_lookalike_scene(folder, seed)
        detections = folder / f"run_{seed}.gpkg"
        run_detection(DetectOptions(input=scene["image"], output=str(detections)))
        mark_like_a_user(store, Path(scene["image"]), detections, np.load(scene["lookalikes"]), scene["date"])
    with rasterio.open(folder / f"scene_{SEEDS[0]:04d}.tif") as src:
        utm = src.crs
    w["far"] = _relabelled(store, folder / "far.gpkg", lambda f: f.set_geometry(f.geometry.translate(50, 0)))
    w["utm"] = _relabelled(store, folder / "utm.gpkg", lambda f: f.to_crs(utm).set_crs(None, allow_override=True))
    w["gone"] = _relabelled(store, folder / "gone.gpkg", lambda f: f.assign(scene=f["scene"] + ".moved"))
    blank = folder / "blank"  # a scene whose label scores no pixel
    blank.mkdir()
    shutil.copy(w["scene"], blank / "scene_0011.tif")
    with rasterio.open(w["scene"]) as src:
        profile = {**src.profile, "count": 1, "dtype": "uint8", "nodata": None}
    with rasterio.open(blank / "scene_0011_label.tif", "w", **profile) as dst:
        dst.write(np.full((1, profile["height"], profile["width"]), 255, np.uint8))
    w["blank"] = blank
    w["card_bomb"] = write_bomb(folder / "card_bomb.sargasses", "card.json", 64 << 20)
    w["weights_bomb"] = write_bomb(folder / "weights_bomb.sargasses", "weights.npz", 600 << 20)
    w["lying_weights"] = write_lying_weights(folder / "lying_weights.sargasses")
    w["external"] = write_external_data(folder / "external.sargasses")
    w["text_model"] = folder / "text.sargasses"
    w["text_model"].write_text("not a model\n")
    w["empty_model"] = folder / "empty.sargasses"
    w["empty_model"].write_bytes(b"")
    w["existing_model"] = Path(shutil.copy(default_model_path(), folder / "existing.sargasses"))
    w["marker"] = folder / "PWNED"
    torch.save({"state_dict": Evil(w["marker"])}, folder / "evil.ckpt")
    w["evil_ckpt"] = folder / "evil.ckpt"
    w["garbage_ckpt"] = folder / "garbage.ckpt"
    w["garbage_ckpt"].write_bytes(os.urandom(4096))
    olci = write_products(folder / "olci", seed=5, zip_too=True)
    w["olci_zip"] = olci["l2_zip"]
    w["olci_no_geo"] = folder / "olci" / olci["l2_zip"].name.replace("OL_2", "OL_2X")
    with zipfile.ZipFile(olci["l2_zip"]) as src, zipfile.ZipFile(w["olci_no_geo"], "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("geo_coordinates.nc"):
                dst.writestr(info, src.read(info))
    w["not_zip"] = folder / "S3A_OL_2_WFR____broken.SEN3.zip"
    w["not_zip"].write_bytes(b"PK\x03\x04 cut short")
    w["empty_sen3"] = folder / "S3A_OL_2_WFR____empty.SEN3"
    w["empty_sen3"].mkdir()
    return w


NEW = "{dir}/new.sargasses"


def detect_with(model: str, backend: str = "auto") -> list[str]:
    """`sargasses detect` of the sweep's scene with `model`."""
    return ["detect", "{scene}", "-o", "{dir}/r.gpkg", "--model", model, "--backend", backend]


# id -> (command line, a piece of the one error line). Every case exits 1 and leaves no new file.
CASES = {
    # fine-tuning
    "finetune: labels file missing": (["finetune", "{dir}/none.gpkg", "-o", NEW], "does not exist"),
    "finetune: labels file is a raster": (["finetune", "{scene}", "-o", NEW], "is not a Sargasses labels file"),
    "finetune: output exists": (["finetune", "{store}", "-o", "{existing_model}"], "never replaces a file"),
    "finetune: output not .sargasses": (["finetune", "{store}", "-o", "{dir}/new.onnx"], "model files end in"),
    "finetune: output folder missing": (["finetune", "{store}", "-o", "{dir}/no/new.sargasses"], "does not exist"),
    "finetune: parent model missing": (["finetune", "{store}", "-o", NEW, "--model", "{dir}/x.sargasses"], "not exist"),
    "finetune: parent model is text": (["finetune", "{store}", "-o", NEW, "--model", "{text_model}"], "model file"),
    "finetune: parent model is a zip bomb": (
        ["finetune", "{store}", "-o", NEW, "--model", "{card_bomb}"],
        "more than a model holds",
    ),
    "finetune: learning rate inf": (["finetune", "{store}", "-o", NEW, "--learning-rate", "inf"], "learning rate inf"),
    "finetune: epochs -3": (["finetune", "{store}", "-o", NEW, "--epochs", "-3"], "epochs -3: give at least 1"),
    "finetune: hold-out nan": (["finetune", "{store}", "-o", NEW, "--hold-out", "nan"], "hold-out nan"),
    "finetune: crop size 50": (["finetune", "{store}", "-o", NEW, "--crop-size", "50", *QUICK], "multiple of 16"),
    "finetune: labels 50 degrees away": (["finetune", "{far}", "-o", NEW, *QUICK], "falls on that scene"),
    "finetune: labels in metres, no CRS": (["finetune", "{utm}", "-o", NEW, *QUICK], "falls on that scene"),
    "finetune: every scene moved away": (["finetune", "{gone}", "-o", NEW, *QUICK], "names no scene that exists"),
    # labels and scores
    "evaluate: labels 50 degrees away": (["evaluate", "{far}", "--model", "none"], "falls on that scene"),
    "evaluate: a label that scores nothing": (["evaluate", "{blank}"], "nothing to score"),
    "evaluate --against: nothing to score": (
        ["evaluate", "{blank}", "--against", "{existing_model}"],
        "nothing to score",
    ),
    # hostile model files, in detection
    "detect: card.json zip bomb": (detect_with("{card_bomb}"), "1 MiB"),
    "detect: weights.npz zip bomb": (detect_with("{weights_bomb}", "torch"), "512 MiB at most"),
    "detect: weight array header lies": (detect_with("{lying_weights}", "torch"), "says it holds more than its bytes"),
    "detect: ONNX external data (onnx)": (detect_with("{external}", "onnx"), "external data"),
    "detect: ONNX external data (torch)": (detect_with("{external}", "torch"), "external data"),
    "detect: model file is text": (detect_with("{text_model}"), "model"),
    "detect: model file is empty": (detect_with("{empty_model}"), "model"),
    # checkpoints
    "fit: checkpoint holding code": (
        ["fit", "--config", f"{ROOT}/configs/tiny.yaml", "--ckpt_path", "{evil_ckpt}"],
        "holds code or objects that are not weights",
    ),
    "fit: checkpoint of random bytes": (
        ["fit", "--config", f"{ROOT}/configs/tiny.yaml", "--ckpt_path", "{garbage_ckpt}"],
        "cannot load",
    ),
    # OLCI
    "detect: OLCI zip cut short": (["detect", "{not_zip}", "-o", "{dir}/r.gpkg", "--method", "afai"], "SEN3"),
    "detect: OLCI zip without geo_coordinates.nc": (
        ["detect", "{olci_no_geo}", "-o", "{dir}/r.gpkg", "--method", "afai"],
        "has no geo_coordinates.nc",
    ),
    "detect: empty .SEN3 folder": (["detect", "{empty_sen3}", "-o", "{dir}/r.gpkg", "--method", "afai"], "SEN3"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_fault_is_one_line_and_leaves_nothing(world, tmp_path, case):
    args, expected = CASES[case]
    before = {p.name for p in world["dir"].iterdir()}
    env = {"TMPDIR": str(tmp_path)}  # the run's temporary files: none may stay
    result = sargasses(*(a.format(**world) for a in args), cwd=world["dir"], env=env)
    assert expected in error_line(result)
    assert {p.name for p in world["dir"].iterdir()} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("sargasses-")]
    assert not world["marker"].exists()  # the checkpoint's code never ran


# --------------------------------------------------------------------------- the engine
@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    process = EngineProcess(tmp_path_factory.mktemp("engine"))
    assert process.next_event(60)["event"] == "ready"
    yield process
    process.close()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("detect with ONNX external data", "external data"),
        ("detect with a card.json bomb", "more than a model holds"),
        ("finetune at learning rate -1", "learning rate -1"),
        ("finetune on labels 50 degrees away", "falls on that scene"),
    ],
)
def test_the_engine_answers_a_fault_in_one_line(world, engine, case, expected):
    rid = abs(hash(case)) % 10_000  # a request of its own: an id is free again only once its reply is sent
    out = str(world["dir"] / "engine_out.gpkg")
    if case.startswith("detect"):
        model = world["external" if "external" in case else "card_bomb"]
        line = request(id=rid, cmd="detect", options={"input": str(world["scene"]), "output": out, "model": str(model)})
    else:
        labels = world["far" if "away" in case else "store"]
        options = {"labels": str(labels), "output": str(world["dir"] / "engine.sargasses"), "epochs": 1}
        options |= {"crops_per_epoch": 16, "device": "cpu", "rehearsal": 0}
        options |= {"learning_rate": -1.0} if "rate" in case else {}
        line = request(id=rid, cmd="finetune", options=options)
    event = engine.reply(line)
    assert event["event"] == "error" and expected in event["message"], event
    assert "internal error" not in event["message"] and "traceback" not in event
    assert not Path(out).exists() and not (world["dir"] / "engine.sargasses").exists()


# --------------------------------------------------------------------------- full disks
def test_full_disk_at_the_quicklook(world, small_disks):
    disk = small_disks("70k")
    result = sargasses("detect", str(world["scene"]), "-o", "r.gpkg", "--quicklook", f"{disk}/q.png", cwd=disk.parent)
    assert f"could not write {disk}/q.png: No space left on device" in error_line(result)
    assert not list(disk.iterdir()) and not (disk.parent / "r.gpkg").exists()


def test_full_disk_under_two_rasters_prints_no_libtiff_line(world, small_disks):
    """The probability and cover rasters together: the first closed once unmuted libtiff for the other."""
    disk = small_disks("70k")
    args = ("--probabilities", f"{disk}/p.tif", "--coverage", f"{disk}/c.tif")
    result = sargasses("detect", str(world["scene"]), "-o", "r.gpkg", *args, cwd=disk.parent)
    assert "No space left on device" in error_line(result)
    assert not list(disk.iterdir())


def test_an_old_raster_filling_the_disk_is_the_file_blamed(world, small_disks, tmp_path):
    """The polygons go to another disk: the error names the probability raster's disk, not the polygons."""
    disk = small_disks("400k")
    first = sargasses("detect", str(world["scene"]), "-o", "r.gpkg", "--probabilities", f"{disk}/p.tif", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (disk / "filler").write_bytes(os.urandom(shutil.disk_usage(disk).free))
    again = ("-o", "r.gpkg", "--probabilities", f"{disk}/p.tif", "--overwrite")
    line = error_line(sargasses("detect", str(world["scene"]), *again, cwd=tmp_path))
    assert f"could not write {disk}/p.tif: No space left on device" in line
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "p.tif"]  # the old raster kept, no lock, no staging


def test_full_disk_at_the_finetune_output(world, small_disks):
    disk = small_disks("300k")
    result = sargasses("finetune", str(world["store"]), "-o", f"{disk}/new.sargasses", *QUICK, cwd=world["dir"])
    assert f"could not write {disk}/new.sargasses: No space left on device" in error_line(result)
    assert not list(disk.iterdir())


def test_a_full_temporary_folder_is_blamed_not_the_olci_zip(world, small_disks, tmp_path):
    disk = small_disks("70k")
    result = sargasses(
        "detect", str(world["olci_zip"]), "-o", "r.gpkg", "--method", "afai", cwd=tmp_path, env={"TMPDIR": str(disk)}
    )
    line = error_line(result)
    assert f"into {disk}: No space left on device" in line and "TMPDIR" in line and "Download" not in line
    assert not list(disk.iterdir())  # no empty sargasses-sen3-* folder


# --------------------------------------------------------------------------- output streams and warnings
def test_closed_stdout_is_no_error(world, tmp_path):
    """`sargasses detect ... -q >&-`: the outputs are written; nothing to print them to is no failure."""
    closed = subprocess.run(
        [sys.executable, "-m", "sargasses", "detect", str(world["scene"]), "-o", "s.gpkg", "-q"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
        timeout=600,
    )
    assert closed.returncode == 0, closed.stderr
    assert closed.stderr == "" and (tmp_path / "s.gpkg").is_file()


def test_a_warning_is_one_line_once(world, tmp_path):
    """A labels file naming a scene that is gone: the fine-tune goes on, saying so once, without source lines."""
    import geopandas as gpd

    store = tmp_path / "labels.gpkg"
    extra = world["dir"] / "scene_0011.tif"

    def one_more(frame):
        row = frame.iloc[:1].assign(scene=str(extra) + ".gone")
        return gpd.GeoDataFrame(pd_concat([frame, row]), crs=frame.crs)

    _relabelled(world["store"], store, one_more)
    result = sargasses("finetune", str(store), "-o", str(tmp_path / "new.sargasses"), *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "no longer exist" in line]
    assert len(warnings) == 1 and warnings[0].startswith("sargasses: warning: 1 scene(s)"), result.stderr
    assert "UserWarning" not in result.stderr and "Traceback" not in result.stderr


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- signals in a fine-tune
@pytest.mark.parametrize(
    ("sig", "status", "when"),
    [(signal.SIGTERM, 143, "epoch 1/"), (signal.SIGINT, 130, "epoch 1/"), (signal.SIGINT, 130, "Scoring")],
)
def test_a_signal_stops_a_finetune_in_one_line_and_writes_nothing(world, tmp_path, sig, status, when):
    """As detect does: exit 128 + the signal, one line, no model and no temporary file (Lightning alone exits 0
    on SIGTERM and 1 on Ctrl-C)."""
    output = tmp_path / "new.sargasses"
    epochs = "200" if when.startswith("epoch") else "1"
    command = [sys.executable, "-m", "sargasses", "finetune", str(world["store"]), "-o", str(output)]
    command += ["--epochs", epochs, "--crops-per-epoch", "32", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if when in line:
            process.send_signal(sig)
            break
    rest = process.communicate(timeout=300)[1]
    assert process.returncode == status, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == "sargasses: interrupted; no model was written", rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    # torch's compile cache and a library's session id file (.ses), written by any run: not sargasses' files
    left = [p.name for p in tmp_path.iterdir() if not p.name.startswith("torchinductor") and p.name != ".ses"]
    assert left == []  # no model, no rehearsal scenes, no temporary name


def test_evaluate_says_when_no_raft_is_labelled(world, tmp_path):
    """A scene with water labelled and no raft: "rafts found 1.000 (0 rafts)" read as a perfect score."""
    import rasterio

    folder = tmp_path / "water"
    folder.mkdir()
    shutil.copy(world["scene"], folder / "scene_0011.tif")
    with rasterio.open(world["scene"]) as src:
        profile = {**src.profile, "count": 1, "dtype": "uint8", "nodata": None}
    with rasterio.open(folder / "scene_0011_label.tif", "w", **profile) as dst:
        dst.write(np.zeros((1, profile["height"], profile["width"]), np.uint8))
    result = sargasses("evaluate", str(folder), "--json", str(tmp_path / "r.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no raft labelled" in result.stdout and "(0 rafts)" not in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["methods"]["model"]["rafts"] == 0
