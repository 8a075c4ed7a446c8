"""Shared fixtures of the QGIS tests: a QGIS profile of their own, the plugin, the engine, synthetic scenes.

Run with QGIS's Python (see the Makefile): `SARGASSES_PYTHON` names the core environment's Python, which is both
the detection engine and the tool that writes and scores synthetic scenes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # sargasses_qgis, as QGIS finds it in its plugins folder
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS's `processing` package
sys.path.append(str(HERE.parent / "core"))  # tmpfs_disks (standard library only), after this folder's modules

from tmpfs_disks import mounted_disks  # noqa: E402

ENGINE_PYTHON = os.environ.get("SARGASSES_PYTHON", "")


def engine_python_or_fail() -> str:
    if not ENGINE_PYTHON or not Path(ENGINE_PYTHON).exists():
        pytest.fail("SARGASSES_PYTHON must name the core environment's python (make test sets it)")
    return ENGINE_PYTHON


@dataclass
class Scene:
    tif: Path
    label: Path
    planted: dict
    method: str  # what finds its rafts: the bundled model when there is one, else the AFAI baseline


def make_scene(folder: Path, seed: int = 7, size: int = 512, kind: str = "clean") -> Scene:
    python = engine_python_or_fail()
    command = [python, "-m", "sargasses", "synth", str(folder), "--count", "1", "--seed", str(seed)]
    subprocess.run(
        [*command, "--size", str(size), "--kind", kind, "--overwrite"],
        check=True,
        capture_output=True,
    )
    stem = folder / f"scene_{seed:04d}"
    has_model = (ROOT / "resources" / "default_model.sargasses").is_file()
    return Scene(
        stem.with_suffix(".tif"),
        folder / f"{stem.name}_label.tif",
        json.loads(stem.with_suffix(".json").read_text()),
        "model" if has_model else "afai",
    )


def scene_with_infinite_values(scene, tmp_path: Path) -> Path:
    """A copy of the scene with a band of infinite values across its top rows: the engine warns, and still runs."""
    from osgeo import gdal

    copy = tmp_path / "with_inf.tif"
    gdal.Translate(str(copy), str(scene.tif))
    dataset = gdal.Open(str(copy), gdal.GA_Update)
    band = dataset.GetRasterBand(1)
    rows = band.ReadAsArray(0, 0, dataset.RasterXSize, 8)
    rows[:] = float("inf")
    band.WriteArray(rows, 0, 0)
    dataset = None
    return copy


def score(vector: Path | str, scene: Scene) -> dict:
    """Pixel and object scores of `vector` against the scene's labels, computed by the core environment."""
    done = subprocess.run(
        [engine_python_or_fail(), str(HERE / "score_rafts.py"), str(vector), str(scene.label)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_for(condition, timeout: float = 120.0, step_ms: int = 20) -> bool:
    """Process Qt events until `condition()` holds (tasks report back through the event loop)."""
    from qgis.PyQt.QtCore import QCoreApplication, QEventLoop, QThread

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, step_ms)
        if condition():
            return True
        QThread.msleep(5)
    return condition()


QGIS_DESKTOP = shutil.which("qgis")
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/lib/qgis/qgis_process.bin"
XVFB = shutil.which("Xvfb")


def free_display() -> int:
    """An X display number no one uses, for an Xvfb of a desktop test."""
    for number in range(91, 140):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number")


def desktop_profile(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh QGIS profiles folder with the plugin enabled and no tips: (profiles folder, its plugins folder)."""
    profiles = tmp_path / "profiles"
    plugins = profiles / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\nsargasses_qgis=true\n\n[qgis]\nshowTips=false\ncheckVersion=false\n")
    return profiles, plugins


def run_desktop(
    profiles: Path, drive: Path, env: dict[str, str], screen: str = "1600x1000x24", timeout: float = 300
) -> subprocess.CompletedProcess:
    """The real QGIS desktop on its own Xvfb, with `profiles`, running `drive` once it is up (`--code`)."""
    display = free_display()
    xvfb = subprocess.Popen([XVFB, f":{display}", "-screen", "0", screen, "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        full_env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        full_env.update(env, DISPLAY=f":{display}")
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), full_env.get("PYTHONPATH")]))  # drive_steps
        command = [QGIS_DESKTOP, "--noversioncheck", "--nologo", "--profiles-path", str(profiles), "--code", str(drive)]
        return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=timeout)
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def profile_with_the_zip(tmp_path: Path) -> Path:
    """A fresh profiles folder with the zip `make plugin` builds unpacked in it, as "Install from ZIP" does."""
    built = tmp_path / "sargasses_qgis.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "-o", str(built)], check=True)
    profiles, plugins = desktop_profile(tmp_path)
    with zipfile.ZipFile(built) as archive:
        archive.extractall(plugins)
    return profiles


def drive_zip_in_a_fresh_profile(
    tmp_path: Path, drive: str, engine_python: str, scenes: list, screen: str = "1600x1000x24", timeout: float = 300
) -> tuple[dict, Path]:
    """`make plugin`'s zip unpacked in a fresh profile, the real desktop running `drive` on `scenes`: (what the
    drive reported, its screenshots folder); fails with QGIS's output when the drive wrote no report."""
    profiles = profile_with_the_zip(tmp_path)
    result, shots = tmp_path / "result.json", tmp_path / "shots"
    shots.mkdir()
    env = {
        "SARGASSES_PYTHON": engine_python,
        "SARGASSES_E2E_SCENES": json.dumps(scenes),
        "SARGASSES_E2E_RESULT": str(result),
        "SARGASSES_E2E_SHOTS": str(shots),
    }
    done = run_desktop(profiles, HERE / drive, env, screen=screen, timeout=timeout)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(result.read_text()), shots


def cancel_the_next_question(seen: list[str]) -> None:
    """Once a question box is up, note its text in `seen` and press its Cancel (a modal box blocks the test)."""
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication, QMessageBox

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        next(b for b in box.buttons() if b.text().replace("&", "") == "Cancel").click()

    QTimer.singleShot(20, answer)


@pytest.fixture(scope="session", autouse=True)
def python_owned_layers_go_before_qgis(qgis_app):
    """Layers that Python still owns at the session's end are deleted while QGIS and GDAL are alive.

    pytest-qgis calls exitQgis() at its last teardown; a layer a test or the plugin still referenced was then
    destroyed by Python's own finalisation, after GDAL had gone, and its OGR dataset's close crashed the process
    (SIGSEGV in GDALDataset::GetMetadata from ~QgsVectorLayer under Py_FinalizeEx) after every test had passed.
    """
    yield
    import gc

    from qgis.core import QgsMapLayer
    from qgis.PyQt import sip

    gc.collect()
    left = [o for o in gc.get_objects() if isinstance(o, QgsMapLayer) and not sip.isdeleted(o) and sip.ispyowned(o)]
    for layer in left:
        sip.delete(layer)


@pytest.fixture(scope="session")
def engine_python() -> str:
    return engine_python_or_fail()


@pytest.fixture(scope="session")
def engine_device(engine_python: str) -> dict:
    """What `--device auto` takes in the engine's environment ({"type", "name"}): the CPU on a machine without a
    GPU, the GPU on one with it. Tests of the device label accept either, so they pass on a GPU machine too."""
    code = (
        "import json; from sargasses.detection.devices import choose_device; d = choose_device('auto'); "
        "print(json.dumps({'type': d.kind, 'name': d.name}))"
    )
    done = subprocess.run([engine_python, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_device_label(label: str, device: dict) -> None:
    """The dock's device line: "→ CPU (N threads)" on the CPU, "→ " and the GPU's name on a GPU."""
    if device["type"] == "cpu":
        assert label.startswith("→ CPU ("), label
    else:
        assert label.startswith("→ ") and device["name"] in label, (label, device)


def device_word(device: dict) -> str:
    """The word a summary names the device with: CPU, or GPU ("CUDA GPU NVIDIA ...", "Apple GPU (MPS)")."""
    return "CPU" if device["type"] == "cpu" else "GPU"


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return make_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="session")
def layer_tree_view(qgis_iface):
    """QGIS's real view of the project's layer tree, as the interface's layerTreeView(): pytest-qgis's stand-in
    interface has none (it answers a MagicMock), and Processing's post-processing adds its result layers through it
    from QGIS 3.44."""
    from qgis.core import QgsLayerTreeModel, QgsProject
    from qgis.gui import QgsLayerTreeView

    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    view = QgsLayerTreeView()
    view.setModel(model)
    qgis_iface.layerTreeView = lambda: view
    yield view
    del qgis_iface.layerTreeView
    # The view goes at once, before its model: unset, the model left its header view a pending layout that ran at
    # pytest-qgis's last processEvents and crashed QGIS (SIGFPE/SIGSEGV) once a session had removed a layer.
    from qgis.PyQt import sip

    sip.delete(view)
    del model


@pytest.fixture(scope="session")
def plugin(qgis_iface, layer_tree_view, qgis_processing, engine_python, tmp_path_factory: pytest.TempPathFactory):
    """The plugin as QGIS starts it (classFactory, initGui), with SARGASSES_PYTHON as its engine.

    pytest-qgis gives the tests their own settings folder (.qgis-settings here); the plugin's keys start empty.
    """
    from qgis.core import QgsSettings

    from sargasses_qgis import classFactory, settings

    QgsSettings().remove("sargasses")
    settings.set_results_dir(str(tmp_path_factory.mktemp("runs")))  # runs' files go with pytest's temporary ones

    instance = classFactory(qgis_iface)
    instance.initGui()
    yield instance
    instance.unload()


@pytest.fixture(scope="session")
def big_scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """A 2048 x 2048 scene: a run takes seconds, long enough to cancel it or to watch the UI during it."""
    return make_scene(tmp_path_factory.mktemp("big_scene"), seed=11, size=2048)


@pytest.fixture
def dock(plugin, qgis_new_project, qgis_iface):
    """The plugin's dock on an empty project, opened as a user does: with the toolbar action."""
    qgis_iface.messageBar().clear_messages()
    plugin.run_action.setChecked(False)
    plugin.run_action.trigger()
    assert plugin.dock is not None and plugin.run_action.isChecked()
    yield plugin.dock
    if plugin.dock.task is not None:
        plugin.dock.task.cancel()
        wait_for(lambda: plugin.dock.task is None, 30)
    # The dock lives across tests: a test's extra rasters (kept even when it failed) must not join the next run.
    plugin.dock.options_box.probabilities_check.setChecked(False)
    plugin.dock.options_box.coverage_check.setChecked(False)


def add_raster(path: Path, iface, name: str = "scene"):
    from qgis.core import QgsProject, QgsRasterLayer

    layer = QgsRasterLayer(str(path), name)
    assert layer.isValid(), layer.error().summary()
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    return layer


def choose_layer(dock, layer, method: str) -> None:
    """Pick the layer and the method in the dock, and wait for the engine's answer about the model."""
    dock.image_box.layer_combo.setLayer(layer)
    dock.model_box.model_combo.setCurrentIndex(
        dock.model_box.model_combo.findData("default" if method == "model" else method)
    )
    dock.refresh_engine()
    assert wait_for(lambda: not dock.info_pending, 120), "the engine did not answer"


def run_and_wait(dock, timeout: float = 300.0):
    """Start a run from the dock and wait until it reports back; the finished task."""
    finished = []
    dock.runFinished.connect(finished.append)
    try:
        task = dock.run()
        assert task is not None, dock.run_box.status_label.text()
        assert wait_for(lambda: bool(finished), timeout), "the run did not finish"
    finally:
        dock.runFinished.disconnect(finished.append)
    return finished[0]


@pytest.fixture(scope="session")
def otci(engine_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A model trained the original way (configs/original_otci_halfunet.yaml, tiny, on synthetic OTCI data) and an
    OTCI scene as users have it: {"model", "tif", "png" (with .pgw and .prj), "label", "rafts"}. About a minute."""
    return run_core_script("make_otci_model.py", tmp_path_factory.mktemp("otci"), timeout=900)


def run_core_script(script: str, folder: Path, timeout: float = 300) -> dict:
    """One of the scripts beside this file that the core environment runs (make_*.py FOLDER): its JSON line."""
    done = subprocess.run(
        [engine_python_or_fail(), str(HERE / script), str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def qgis_process_env(engine_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `qgis_process` as a user runs it: a QGIS profile of its own, with the plugin installed
    (build_plugin.py --dev) and enabled, SARGASSES_PYTHON as its engine."""
    config = tmp_path_factory.mktemp("qgis_process")
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--dev", str(plugins)], check=True)
    env = {
        **os.environ,
        "QGIS_CUSTOM_CONFIG_PATH": str(config),
        "QT_QPA_PLATFORM": "offscreen",
        "SARGASSES_PYTHON": engine_python,
    }
    subprocess.run([QGIS_PROCESS, "plugins", "enable", "sargasses_qgis"], env=env, check=True, capture_output=True)
    return env


@pytest.fixture
def small_disks(tmp_path: Path):
    """`small_disks("40k")`: a new tmpfs of that size under the test's folder (tests/core/tmpfs_disks.py)."""
    yield from mounted_disks(tmp_path)
