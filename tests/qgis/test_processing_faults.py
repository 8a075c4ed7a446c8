"""`sargasses:detect` on faults a careful user or a hostile file brings (issue 21), as Processing runs it: in QGIS
(processing.run, in-process) and as `qgis_process` (its exit status, and Ctrl-C).

Each run fails with one line that names the problem, in Processing's words (never a command-line option), leaves
nothing under the output's name, and a file the user had there before is as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import HERE, QGIS_PROCESS, engine_python_or_fail
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer
from tmpfs_disks import make_read_only

EARLIER = b"the user's earlier file, not a GeoPackage"
METHOD_MODEL, METHOD_AFAI = 0, 1
QGIS_HEADER = "Unable to execute algorithm\n"


@pytest.fixture(scope="module")
def faulty(scene, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The faulty files (tests/qgis/make_faulty_files.py), written from the session's scene by the core's Python."""
    folder = tmp_path_factory.mktemp("faulty")
    done = subprocess.run(
        [engine_python_or_fail(), str(HERE / "make_faulty_files.py"), str(folder), str(scene.tif)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def far_extent(scene) -> str:
    """An area 1000 km east of the scene, in its CRS."""
    extent = QgsRasterLayer(str(scene.tif), "s").extent()
    x, y = extent.xMaximum() + 1e6, extent.yMinimum()
    return f"{x},{x + 5000},{y},{y + 5000} [EPSG:32620]"


# id -> (the parameters besides OUTPUT, from the scene and the faulty files; a piece of the one line it fails with)
CASES = {
    "model gives NaN": (lambda s, f: {"MODEL": f["nan_model"]}, "NaN (not-a-number) probabilities"),
    "model is a zip bomb": (lambda s, f: {"MODEL": f["bomb_model"]}, "card.json"),
    "model is text": (lambda s, f: {"MODEL": f["text_model"]}, "text.sargasses"),
    "two bands say B04": (lambda s, f: {"INPUT": f["duplicate_bands"]}, "both say they are B04"),
    "no CRS": (lambda s, f: {"INPUT": f["no_crs"]}, "has no coordinate reference system"),
    "bands missing": (lambda s, f: {"INPUT": f["four_bands"]}, "B06"),
    "input missing": (lambda s, f: {"INPUT": str(Path(s.tif).with_name("gone.tif"))}, "gone.tif"),
    "area outside the image": (lambda s, f: {"EXTENT": far_extent(s), "METHOD": METHOD_AFAI}, "the Area parameter"),
    "threshold 1.5": (lambda s, f: {"THRESHOLD": 1.5, "METHOD": METHOD_AFAI}, "not a probability"),
}


def run_failing(parameters: dict, feedback: QgsProcessingFeedback | None = None) -> str:
    """processing.run that must fail: its one line (after the header processing.run puts above a parameter that
    checkParameterValues refused)."""
    import processing

    with pytest.raises(QgsProcessingException) as failed:
        processing.run("sargasses:detect", parameters, feedback=feedback)
    message = str(failed.value).strip().removeprefix(QGIS_HEADER)
    assert message and "\n" not in message and "Traceback" not in message, message
    assert "--" not in message, message  # Processing's words, not the command line's (sargasses/option_words.py)
    return message


def assert_untouched(folder: Path, before: dict[str, bytes]) -> None:
    """The folder holds the files it held, byte for byte, and nothing else (no temporary name, no set-aside file)."""
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("case", list(CASES))
def test_a_fault_fails_the_run_in_one_line_and_keeps_the_users_file(plugin, scene, faulty, case, tmp_path) -> None:
    make, expected = CASES[case]
    out = tmp_path / "rafts.gpkg"
    out.write_bytes(EARLIER)
    parameters = {"INPUT": str(scene.tif), "METHOD": METHOD_MODEL, **make(scene, faulty), "OUTPUT": str(out)}
    message = run_failing(parameters)
    assert expected in message, message
    assert_untouched(tmp_path, {"rafts.gpkg": EARLIER})


def test_the_input_as_the_probability_raster_is_refused(plugin, scene, tmp_path) -> None:
    """Output = input: the scene given as the probability raster stays the scene."""
    source = Path(shutil.copy(scene.tif, tmp_path / "scene.tif"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    parameters = {"INPUT": str(source), "METHOD": METHOD_AFAI, "OUTPUT": str(tmp_path / "r.gpkg")}
    message = run_failing({**parameters, "PROBABILITIES": str(source)})
    assert "is the input raster" in message, message
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("earlier", [True, False])
def test_a_read_only_folder_fails_the_run_and_keeps_the_users_file(plugin, scene, small_disks, earlier) -> None:
    """With a file of the output's name there (set aside while the new one is written: that rename was a traceback)
    and without."""
    disk = small_disks("4m")
    before = {"rafts.gpkg": EARLIER} if earlier else {}
    for name, data in before.items():
        (disk / name).write_bytes(data)
    make_read_only(disk)
    message = run_failing({"INPUT": str(scene.tif), "METHOD": METHOD_AFAI, "OUTPUT": str(disk / "rafts.gpkg")})
    assert str(disk / "rafts.gpkg") in message and "Read-only file system" in message, message
    assert_untouched(disk, before)


def test_a_cancel_during_the_run_fails_it_and_keeps_the_users_file(plugin, big_scene, tmp_path) -> None:
    """Cancel once the engine is a tenth of the way through (a 2048 px scene: seconds of work left)."""

    class CancelOnProgress(QgsProcessingFeedback):
        def setProgress(self, progress: float) -> None:
            super().setProgress(progress)
            if progress > 10:
                self.cancel()

    out = tmp_path / "rafts.gpkg"
    out.write_bytes(EARLIER)
    message = run_failing({"INPUT": str(big_scene.tif), "METHOD": METHOD_AFAI, "OUTPUT": str(out)}, CancelOnProgress())
    assert message.startswith("Cancelled"), message
    assert_untouched(tmp_path, {"rafts.gpkg": EARLIER})


def qgis_process(*parameters: str) -> list[str]:
    """The command line of `qgis_process run sargasses:detect` with these KEY=VALUE parameters."""
    return [QGIS_PROCESS, "run", "sargasses:detect", "--", *parameters]


@pytest.mark.skipif(not os.path.exists(QGIS_PROCESS), reason="qgis_process.bin is not installed")
@pytest.mark.parametrize("case", ["model gives NaN", "no CRS"])
def test_qgis_process_exits_non_zero_on_a_fault(scene, faulty, qgis_process_env, case, tmp_path) -> None:
    make, expected = CASES[case]
    out = tmp_path / "rafts.gpkg"
    out.write_bytes(EARLIER)
    parameters = {"INPUT": str(scene.tif), "METHOD": METHOD_MODEL, **make(scene, faulty), "OUTPUT": str(out)}
    command = qgis_process(*(f"{key}={value}" for key, value in parameters.items()))
    done = subprocess.run(command, env=qgis_process_env, capture_output=True, text=True, timeout=300)
    both = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in both, both
    # QGIS 3.22 prints an algorithm's error three times on stderr (its log, "ERROR:", the end): the same one line
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("ERROR:\t")]
    assert expected in line and "--" not in line, both
    assert {text.removeprefix("ERROR:\t") for text in both.splitlines() if expected in text} == {line[7:]}, both
    assert_untouched(tmp_path, {"rafts.gpkg": EARLIER})


def engines_under(pid: int) -> list[int]:
    """The detection engines among the descendants of process `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        todo += children.get(child, [])
        try:
            if b"engine" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                found.append(child)
        except OSError:
            continue
    return found


@pytest.mark.skipif(not os.path.exists(QGIS_PROCESS), reason="qgis_process.bin is not installed")
def test_ctrl_c_stops_qgis_process_and_keeps_the_users_file(big_scene, qgis_process_env, tmp_path) -> None:
    """SIGINT while the engine runs (qgis_process turns it into a cancel): it stops with a status that says it
    failed, the user's file is as it was, nothing else is left beside it, and the engine does not outlive it."""
    out = tmp_path / "rafts.gpkg"
    out.write_bytes(EARLIER)
    command = qgis_process(f"INPUT={big_scene.tif}", f"METHOD={METHOD_MODEL}", f"OUTPUT={out}")
    process = subprocess.Popen(
        command, env=qgis_process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    for line in process.stdout:  # the engine's first tile line: the model has most of the tiles to go
        seen.append(line)
        if re.search(r"tile \d+/", line):  # qgis_process may fold "tile 1/25" into its progress dots
            break
    engines = engines_under(process.pid)
    assert engines, "".join(seen)
    process.send_signal(signal.SIGINT)
    output = "".join(seen) + process.communicate(timeout=120)[0]
    assert process.returncode == 1 and "Traceback" not in output, output
    assert "ERROR:\tCancelled: " in output, output  # qgis_process's own handler cancels the run
    assert_untouched(tmp_path, {"rafts.gpkg": EARLIER})
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in engines) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in engines if Path(f"/proc/{pid}").exists()], "the engine outlived qgis_process"
