"""End to end in the real desktop: the zip that `make plugin` builds, a fresh profile, QGIS under Xvfb."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import HERE, QGIS_DESKTOP, XVFB, assert_device_label, profile_with_the_zip, run_desktop, score


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS_DESKTOP and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_plugin_zip_in_the_real_desktop(scene, engine_python, engine_device, tmp_path: Path) -> None:
    profiles = profile_with_the_zip(tmp_path)
    result, shot = tmp_path / "result.json", tmp_path / "qgis_plugin.png"
    env = {
        "SARGASSES_PYTHON": engine_python,
        "SARGASSES_E2E_SCENE": str(scene.tif),
        "SARGASSES_E2E_METHOD": scene.method,
        "SARGASSES_E2E_RESULT": str(result),
        "SARGASSES_E2E_SCREENSHOT": str(shot),
    }
    done = run_desktop(profiles, HERE / "desktop_drive.py", env)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report.get("error") is None, report
    assert report["plugin_loaded"] and report["toolbar_action"] and report["scene_valid"]
    assert_device_label(report["device"], engine_device)
    assert report["group_found"] and report["crs"] == "EPSG:32620"
    scores = score(report["output"], scene)
    assert scores["features"] == report["features"] > 0
    assert scores["precision"] > 0.9 and scores["object_recall"] > 0.75, scores
    assert report["screenshot"] and shot.stat().st_size > 50_000
    assert report["dock_width"] <= 360  # the dock as it opens
    # The Processing algorithm from its dialog: the same rafts, reported in the dock's words.
    assert int(report["processing_results"]["RAFT_COUNT"]) == report["features"], report["processing_log"][-2000:]
    assert " rafts, " in report["processing_log"] and " km², on " in report["processing_log"]
    assert report["processing_screenshot"] and report["options_open"] and report["options_screenshot"]
    shots = [shot, tmp_path / "qgis_processing.png", tmp_path / "qgis_options.png"]
    assert all(path.stat().st_size > 20_000 for path in shots)
    keep = os.environ.get("SARGASSES_SCREENSHOT_DIR")
    if keep:
        for path in shots:
            shutil.copy2(path, Path(keep) / path.name)
