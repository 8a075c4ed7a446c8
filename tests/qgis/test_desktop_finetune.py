"""The labelling and fine-tune loop in the real desktop: the plugin zip, a fresh profile, QGIS under Xvfb, scenes
with planted rafts and green algae; screenshots of the labelling and of the fine-tune's progress."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import HERE, QGIS_DESKTOP, ROOT, XVFB, desktop_profile, run_desktop

SEEDS = (601, 602, 603)


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS_DESKTOP and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_label_and_finetune_in_the_real_desktop(engine_python, tmp_path: Path) -> None:
    scenes = json.loads(
        subprocess.run(
            [
                engine_python,
                str(ROOT / "tests" / "core" / "finetune_helpers.py"),
                str(tmp_path / "coast"),
                *map(str, SEEDS),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
    )
    built = tmp_path / "sargasses_qgis.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "-o", str(built)], check=True)
    profiles, plugins = desktop_profile(tmp_path)
    with zipfile.ZipFile(built) as archive:
        archive.extractall(plugins)
    result, shots = tmp_path / "result.json", tmp_path / "shots"
    shots.mkdir()
    env = {
        "SARGASSES_PYTHON": engine_python,
        "SARGASSES_E2E_SCENES": json.dumps(scenes),
        "SARGASSES_E2E_RESULT": str(result),
        "SARGASSES_E2E_SHOTS": str(shots),
    }
    done = run_desktop(profiles, HERE / "finetune_drive.py", env, timeout=600)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report.get("error") is None, report
    assert report["marked"] >= 3 * 5, report["steps"]  # the algae the bundled model flagged, marked on each scene
    assert report["drawn_scene"] == scenes[-1]["image"], report["drawn_scene"]  # the scene under the drawing
    assert report["report"] is not None and report["report"]["trained_on"]["false_positive"] > 0
    assert any(p.startswith("epoch 4/4") for p in report["progress"]), report["progress"]
    assert report["model_path"] == report["report"]["output"] and report["model_choice"].startswith("Fine-tuned")
    for name in ("qgis_labelling.png", "qgis_finetune_progress.png", "qgis_finetune_done.png"):
        assert report["shots"].get(name) and (shots / name).stat().st_size > 50_000, name
    keep = os.environ.get("SARGASSES_SCREENSHOT_DIR")
    if keep:
        for name in ("qgis_labelling.png", "qgis_finetune_progress.png"):
            shutil.copy2(shots / name, Path(keep) / name)
