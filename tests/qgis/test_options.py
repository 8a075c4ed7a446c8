"""Settings > Options > Sargasses: the page opens, in QGIS's own Options dialog, without a Python error."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HERE, ROOT, free_display
from qgis.gui import QgsOptionsWidgetFactory

QGIS = shutil.which("qgis")
XVFB = shutil.which("Xvfb")


def test_factory_overrides_return_what_qgis_expects(plugin) -> None:
    """Each method the factory overrides returns the type QGIS's API declares (sip refuses any other at run time)."""
    from sargasses_qgis.ui.options_page import SargassesOptionsFactory

    factory = plugin.options_factory
    assert isinstance(factory, SargassesOptionsFactory)
    checked = 0
    for name, _ in inspect.getmembers(SargassesOptionsFactory, inspect.isfunction):
        base = getattr(QgsOptionsWidgetFactory, name, None)
        declared = re.search(r"->\s*(\w+)", (getattr(base, "__doc__", "") or "").splitlines()[0]) if base else None
        if name.startswith("_") or declared is None:
            continue
        result = getattr(factory, name)()
        expected = {"str": str, "List": list, "QIcon": object}.get(declared.group(1), object)
        assert isinstance(result, expected), f"{name}() returns {type(result).__name__}, QGIS wants {declared[1]}"
        checked += 1
    assert checked >= 1  # createWidget at least
    assert factory.title() == "Sargasses" and not factory.icon().isNull()
    page = factory.createWidget()
    assert page.objectName() == "sargassesOptions"  # what the plugin's settings action opens
    page.deleteLater()


@pytest.mark.desktop
@pytest.mark.skipif(not (QGIS and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_options_dialogs_open_without_python_error(engine_python, tmp_path: Path) -> None:
    """QGIS's Settings > Options and the plugin's settings, in the real desktop (QGIS calls the factory in C++)."""
    profiles = tmp_path / "profiles"
    plugins = profiles / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--dev", str(plugins)], check=True)
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\nsargasses_qgis=true\n\n[qgis]\nshowTips=false\ncheckVersion=false\n")
    result = tmp_path / "options.json"
    display = free_display()
    xvfb = subprocess.Popen([XVFB, f":{display}", "-screen", "0", "1280x1000x24", "-nolisten", "tcp"])
    try:
        time.sleep(1.0)
        env = {
            **{k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"},
            "DISPLAY": f":{display}",
            "SARGASSES_PYTHON": engine_python,
            "SARGASSES_OPTIONS_RESULT": str(result),
        }
        command = [QGIS, "--noversioncheck", "--nologo", "--profiles-path", str(profiles)]
        done = subprocess.run(
            [*command, "--code", str(HERE / "options_drive.py")], env=env, capture_output=True, text=True, timeout=180
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report["plugin_loaded"]
    assert report["errors"] == [], report["errors"]
    assert report["log"] == [], report["log"]
    assert [d["open"] and d["sargasses_page"] for d in report["dialogs"]] == [True, True], report["dialogs"]
    assert report["dialogs"][1]["sargasses_page_visible"]  # the plugin's settings open on its own page
