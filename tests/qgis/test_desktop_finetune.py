"""The labelling and fine-tune loop in the real desktop: the plugin zip, a fresh profile, QGIS under Xvfb, scenes
with planted rafts and green algae; screenshots of the labelling and of the fine-tune's progress."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import QGIS_DESKTOP, ROOT, XVFB, drive_zip_in_a_fresh_profile

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
    report, shots = drive_zip_in_a_fresh_profile(tmp_path, "finetune_drive.py", engine_python, scenes, timeout=600)
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
