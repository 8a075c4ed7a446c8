"""End to end in the real desktop: the zip that `make plugin` builds, a fresh profile, QGIS under Xvfb."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import HERE, ROOT, score

QGIS = shutil.which("qgis")
XVFB = shutil.which("Xvfb")


def _free_display() -> int:
    for number in range(91, 140):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number")


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_plugin_zip_in_the_real_desktop(scene, engine_python, tmp_path: Path) -> None:
    built = tmp_path / "sargasses_qgis.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "-o", str(built)], check=True)
    profiles = tmp_path / "profiles"
    plugins = profiles / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(built) as archive:  # what "Install from ZIP" does
        archive.extractall(plugins)
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\nsargasses_qgis=true\n\n[qgis]\nshowTips=false\ncheckVersion=false\n")
    result, shot = tmp_path / "result.json", tmp_path / "qgis_plugin.png"
    display = _free_display()
    xvfb = subprocess.Popen([XVFB, f":{display}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        env = {
            **{k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"},
            "DISPLAY": f":{display}",
            "SARGASSES_PYTHON": engine_python,
            "SARGASSES_E2E_SCENE": str(scene.tif),
            "SARGASSES_E2E_METHOD": scene.method,
            "SARGASSES_E2E_RESULT": str(result),
            "SARGASSES_E2E_SCREENSHOT": str(shot),
        }
        done = subprocess.run(
            [
                QGIS,
                "--noversioncheck",
                "--nologo",
                "--profiles-path",
                str(profiles),
                "--code",
                str(HERE / "desktop_drive.py"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report.get("error") is None, report
    assert report["plugin_loaded"] and report["toolbar_action"] and report["scene_valid"]
    assert report["device"].startswith("→ CPU")
    assert report["group_found"] and report["crs"] == "EPSG:32620"
    scores = score(report["output"], scene)
    assert scores["features"] == report["features"] > 0
    assert scores["precision"] > 0.9 and scores["object_recall"] > 0.75, scores
    assert report["screenshot"] and shot.stat().st_size > 50_000
    keep = os.environ.get("SARGASSES_SCREENSHOT_DIR")
    if keep:
        shutil.copy2(shot, Path(keep) / shot.name)
