"""The dock's Monitoring section in the real desktop at 1366x768 (the plugin zip in a fresh profile, QGIS under
Xvfb): a folder `sargasses monitor` made from a synthetic series, loaded; the sector plot, the passes and "New since
the previous pass" on, screenshot in docs/monitoring.md."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import QGIS_DESKTOP, XVFB, drive_zip_in_a_fresh_profile

SHOT = "qgis_monitoring_section.png"
DAYS = 6


def monitoring_folder(engine_python: str, tmp_path: Path) -> Path:
    """A series written and monitored by the real engine (`sargasses synth --series`, `sargasses monitor`)."""
    series, folder = tmp_path / "series", tmp_path / "monitoring"
    engine = [engine_python, "-m", "sargasses"]
    subprocess.run([*engine, "synth", str(series), "--series", str(DAYS), "--seed", "80", "--size", "512"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([*engine, "monitor", str(series / "scene_????.tif"), "-o", str(folder), "--sectors",
                    str(series / "sectors.gpkg"), "--grid-crs", "EPSG:32620", "--cell", "1000", "--workers", "1"],
                   check=True, capture_output=True)  # fmt: skip
    return folder


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS_DESKTOP and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_the_monitoring_section_in_the_real_desktop(engine_python, tmp_path: Path) -> None:
    folder = monitoring_folder(engine_python, tmp_path)
    db = sqlite3.connect(folder / "catalogue.gpkg")
    try:
        days = [d for (d,) in db.execute("SELECT DISTINCT date FROM scenes WHERE status = 'done' ORDER BY date")]
        newest = db.execute("SELECT COUNT(*) FROM rafts WHERE substr(datetime, 1, 10) = ?", (days[-1],)).fetchone()
        total = db.execute("SELECT COUNT(*) FROM rafts").fetchone()[0]
    finally:
        db.close()
    report, shots = drive_zip_in_a_fresh_profile(
        tmp_path, "monitor_drive.py", engine_python, [str(folder)], screen="1366x768x24", timeout=300
    )
    assert report.get("error") is None, report
    assert report["loaded"] and report["section_visible"] and report["plot_width"] > 0
    assert f"{len(days)} pass(es); newest {days[-1]}, previous {days[-2]}" in report["passes"]
    assert report["rafts_all"] == total and report["rafts_new"] == newest[0] < total
    assert report["shots"].get(SHOT) and (shots / SHOT).stat().st_size > 20_000
    keep = os.environ.get("SARGASSES_SCREENSHOT_DIR")
    if keep:
        shutil.copy2(shots / SHOT, Path(keep) / SHOT)
