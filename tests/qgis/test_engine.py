"""The engine side as the plugin sees it: protocol, finder order, options page, and the installer from the zip."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, score, wait_for
from qgis.core import QgsApplication

from sargasses_qgis import settings
from sargasses_qgis.engine_client import EngineClient, EngineError
from sargasses_qgis.engine_finder import find_engine, forget_checks
from sargasses_qgis.paths import ENGINE_MARKER


@pytest.fixture
def clean_finder(monkeypatch, tmp_path: Path):
    """No engine path in the settings, no SARGASSES_PYTHON, no installed engine (the profile points to tmp)."""
    monkeypatch.delenv("SARGASSES_PYTHON", raising=False)
    monkeypatch.setattr("sargasses_qgis.engine_finder.installed_engine_dir", lambda: tmp_path / "installed")
    settings.set_engine_python("")
    forget_checks()
    yield tmp_path
    settings.set_engine_python("")
    forget_checks()


def test_engine_protocol(engine_python, scene, tmp_path: Path) -> None:
    client = EngineClient(engine_python)
    ready = client.start()
    try:
        assert ready["protocol"] == 1 and ready["pid"] == client.pid
        info = client.call("info", method="afai", device="cpu")
        assert info["device"]["type"] == "cpu" and info["device"]["name"].startswith("CPU")
        with pytest.raises(EngineError, match="unknown command"):
            client.call("fly")
        with pytest.raises(EngineError, match="does not know the option"):
            client.call("detect", options={"input": str(scene.tif), "output": "x.gpkg", "colour": "red"})
        request = client.request(
            "detect", options={"input": str(scene.tif), "output": str(tmp_path / "r.gpkg"), "method": "afai"}
        )
        events = []
        while not events or events[-1]["event"] not in ("result", "error", "cancelled"):
            event = request.next_event(timeout=60)
            assert event is not None
            events.append(event)
        assert events[-1]["event"] == "result", events[-1]
        fractions = [e["fraction"] for e in events if e["event"] == "progress"]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        summary = events[-1]["summary"]
        assert summary["rafts"] > 0 and summary["engine_run"] == 1 and summary["engine_pid"] == client.pid
        assert score(tmp_path / "r.gpkg", scene)["features"] == summary["rafts"]
    finally:
        client.shutdown()
    assert client.process.returncode == 0  # a clean exit on `shutdown`


def test_engine_finder_order(engine_python, clean_finder: Path, monkeypatch) -> None:
    # Nothing set: says so, naming every place it looked.
    lookup = find_engine()
    assert lookup.engine is None and "not set up" in lookup.explain()
    assert "SARGASSES_PYTHON" in lookup.explain() and "Install detection engine" in lookup.explain()
    # An environment the plugin installed: a venv whose marker says it is complete.
    venv = clean_finder / "installed"
    (venv / "bin").mkdir(parents=True)
    wrapper = venv / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{engine_python}" "$@"\n')
    wrapper.chmod(0o755)
    assert find_engine().engine is None  # no marker yet: an unfinished install is not used
    (venv / ENGINE_MARKER).write_text("{}")
    forget_checks()
    assert find_engine().engine.source == "the engine the plugin installed"
    # SARGASSES_PYTHON comes before it...
    monkeypatch.setenv("SARGASSES_PYTHON", engine_python)
    assert find_engine().engine.python == engine_python
    # ... and the plugin's settings before both; a Python without sargasses is reported, not used.
    settings.set_engine_python(sys.executable)
    lookup = find_engine()
    assert lookup.engine.python == engine_python
    assert lookup.tried[0].source == "the plugin's settings"
    assert "no usable sargasses package" in lookup.tried[0].problem
    settings.set_engine_python(engine_python)
    assert find_engine().engine.source == "the plugin's settings"


def test_options_page_saves_and_checks_the_engine(plugin, engine_python, clean_finder: Path) -> None:
    from sargasses_qgis.ui.options_page import SargassesOptionsPage

    previous_results = settings.results_dir()
    page = SargassesOptionsPage(plugin)
    page.python.setFilePath(engine_python)
    page.results.setFilePath(str(clean_finder / "runs"))
    page.check()  # saves, then looks for the engine in a thread
    assert settings.engine_python() == engine_python
    assert settings.results_dir() == clean_finder / "runs"
    assert wait_for(lambda: page.status.text().startswith("Detection engine: "), 60), page.status.text()
    assert "the plugin's settings" in page.status.text()
    settings.set_results_dir(str(previous_results))


def _built_zip(tmp_path: Path) -> Path:
    out = tmp_path / "sargasses_qgis.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "-o", str(out)], check=True)
    return out


def test_plugin_zip_contents(tmp_path: Path) -> None:
    with zipfile.ZipFile(_built_zip(tmp_path)) as archive:
        names = archive.namelist()
    assert all(n.startswith("sargasses_qgis/") for n in names)
    for required in (
        "__init__.py",
        "metadata.txt",
        "icon.png",
        "LICENSE",
        "resources/rafts.qml",
        "resources/probabilities.qml",
        "processing/detect_algorithm.py",
        "ui/dock.py",
    ):
        assert f"sargasses_qgis/{required}" in names
    wheels = [n for n in names if n.startswith("sargasses_qgis/core/") and n.endswith(".whl")]
    assert len(wheels) == 1
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".part"))]
    if (ROOT / "resources" / "default_model.sargasses").exists():
        assert "sargasses_qgis/resources/default_model.sargasses" in names


@pytest.mark.slow
@pytest.mark.timeout(900)  # under a minute here: the CPU engine is 20 packages, 161 MB to download
def test_installer_creates_a_working_engine_from_the_zip(scene, tmp_path: Path) -> None:
    """The zip's bundled core package, installed by the plugin into a fresh venv as the CPU engine (no torch),
    detects rafts with the bundled model."""
    with zipfile.ZipFile(_built_zip(tmp_path)) as archive:
        archive.extractall(tmp_path / "plugin")
    wheel = next((tmp_path / "plugin" / "sargasses_qgis" / "core").glob("*.whl"))
    target = tmp_path / "engine"
    try:
        _install_and_detect(wheel, target, scene, tmp_path)
    finally:
        shutil.rmtree(target, ignore_errors=True)  # 600 MB: not left in pytest's temporary folders


def _install_and_detect(wheel: Path, target: Path, scene, tmp_path: Path) -> None:
    from sargasses_qgis.engine_installer import CPU_ENGINE, EngineInstallTask, folder_mb

    task = EngineInstallTask(target=target, source=wheel)
    lines: list[str] = []
    state: dict[str, str] = {}
    task.line.connect(lines.append)
    # The task manager deletes a task once it ends: keep what it said from its own signals.
    task.taskCompleted.connect(lambda: state.update(end="completed", python=task.python))
    task.taskTerminated.connect(lambda: state.update(end="terminated", error=task.error))
    started = time.monotonic()
    QgsApplication.taskManager().addTask(task)
    assert wait_for(lambda: "end" in state, 1500), "the install did not finish"
    assert state["end"] == "completed", f"{state.get('error')}\n" + "\n".join(lines[-30:])
    print(f"engine installed in {time.monotonic() - started:.0f} s")
    python = target / "bin" / "python"
    assert state["python"] == str(python)
    assert json.loads((target / ENGINE_MARKER).read_text())["version"]
    assert any(line.startswith("Successfully installed") for line in lines)
    # Not QGIS's Python, and no system site-packages (torch there would be someone else's).
    assert "include-system-site-packages = false" in (target / "pyvenv.cfg").read_text()
    # The CPU engine: no torch, and its size as the installer announces it
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    assert json.loads((target / ENGINE_MARKER).read_text())["engine"] == "cpu"
    size_mb = folder_mb(target)  # as du -sm counts it
    print(f"CPU engine: {size_mb:.0f} MB on disk")
    assert size_mb <= 600 and abs(size_mb - CPU_ENGINE.disk_mb) < 0.05 * CPU_ENGINE.disk_mb, size_mb
    # Its own environment, whichever Python it was made from (on a plain Debian that is QGIS's own python3).
    prefix = subprocess.run([str(python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert Path(prefix.stdout.strip()).resolve() == target.resolve(), prefix
    client = EngineClient(str(python))
    client.start()
    try:
        output = tmp_path / "rafts.gpkg"
        request = client.request(
            "detect", options={"input": str(scene.tif), "output": str(output), "method": scene.method}
        )
        event = None
        while event is None or event["event"] == "progress":
            event = request.next_event(timeout=300)
            assert event is not None
        assert event["event"] == "result", event
        assert score(output, scene)["object_recall"] > 0.75
    finally:
        client.shutdown()


def test_installer_dialog_shows_pip_and_cancels_cleanly(scene, tmp_path: Path) -> None:
    """Cancel during pip: the task ends as cancelled (not failed), the half-made environment is removed, the
    dialog says so."""
    from qgis.PyQt.QtWidgets import QDialogButtonBox

    from sargasses_qgis.engine_installer import CPU_ENGINE, EngineInstallTask
    from sargasses_qgis.ui.installer_dialog import InstallerDialog

    with zipfile.ZipFile(_built_zip(tmp_path)) as archive:
        archive.extractall(tmp_path / "plugin")
    wheel = next((tmp_path / "plugin" / "sargasses_qgis" / "core").glob("*.whl"))
    target = tmp_path / "engine"
    dialog = InstallerDialog(task_factory=lambda engine: EngineInstallTask(target=target, source=wheel, engine=engine))
    dialog.show()
    ended: list[str] = []
    task = dialog.start(CPU_ENGINE)
    task.taskTerminated.connect(lambda: ended.append("terminated"))
    task.taskCompleted.connect(lambda: ended.append("completed"))
    log = dialog.log
    # built beside its place (engine.new): the target takes its name only once the new engine answers
    assert wait_for(lambda: "pip install" in log.toPlainText() and task.staging.exists(), 120), log.toPlainText()
    assert not target.exists()
    assert "[engine]" in log.toPlainText() and f"{CPU_ENGINE.download_mb} MB to download" in log.toPlainText()
    assert wait_for(lambda: dialog.progress.value() > 4, 60), log.toPlainText()  # past venv creation: pip's packages
    assert dialog.status.text().startswith(("Getting ", "Downloading ", "Installing ")), dialog.status.text()
    cancelled_at = time.monotonic()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert wait_for(lambda: bool(ended), 60)
    # completed, not terminated: QGIS says "Task failed" for a terminated task, and a cancel is no failure
    assert ended == ["completed"] and time.monotonic() - cancelled_at < 30
    assert task.cancelled and task.error == "cancelled"
    assert wait_for(lambda: dialog.status.text() == "Cancelled: nothing was installed.", 10), dialog.status.text()
    assert "Cancelled: nothing was installed" in log.toPlainText()
    assert "Failed" not in log.toPlainText() and "Not installed" not in log.toPlainText()
    assert not target.exists()  # nothing half-made is left, not even in the background's removal
    assert wait_for(lambda: not list(tmp_path.glob("engine.*")), 60), list(tmp_path.glob("engine.*"))
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Close).isEnabled()
    dialog.close()
