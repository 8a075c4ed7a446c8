"""Settings > Options > Sargasses: the page opens, in QGIS's own Options dialog, without a Python error."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HERE, QGIS_DESKTOP, ROOT, XVFB, desktop_profile, run_desktop
from qgis.gui import QgsOptionsWidgetFactory


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
@pytest.mark.skipif(not (QGIS_DESKTOP and XVFB), reason="QGIS desktop or Xvfb is not installed")
def test_options_dialogs_open_without_python_error(engine_python, tmp_path: Path) -> None:
    """QGIS's Settings > Options and the plugin's settings, in the real desktop (QGIS calls the factory in C++)."""
    profiles, plugins = desktop_profile(tmp_path)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--dev", str(plugins)], check=True)
    result = tmp_path / "options.json"
    env = {"SARGASSES_PYTHON": engine_python, "SARGASSES_OPTIONS_RESULT": str(result)}
    done = run_desktop(profiles, HERE / "options_drive.py", env, screen="1280x1000x24", timeout=180)
    assert result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report["plugin_loaded"]
    assert report["errors"] == [], report["errors"]
    assert report["log"] == [], report["log"]
    assert [d["open"] and d["sargasses_page"] for d in report["dialogs"]] == [True, True], report["dialogs"]
    assert report["dialogs"][1]["sargasses_page_visible"]  # the plugin's settings open on its own page


def test_a_long_profile_path_does_not_widen_the_page(plugin, monkeypatch) -> None:
    """The notes under the fields wrap (at path separators too): the browse buttons stay on a 1366 px screen."""
    from qgis.PyQt.QtWidgets import QApplication, QToolButton

    from sargasses_qgis.ui import options_page

    long = Path("/home/forecaster/.local/share/QGIS/QGIS3/profiles") / ("a-long-profile-name" * 8) / "sargasses"
    monkeypatch.setattr(options_page, "installed_engine_dir", lambda: long / "engine")
    monkeypatch.setattr(options_page, "default_results_dir", lambda: long / "runs")
    page = plugin.options_factory.createWidget()
    assert page.minimumSizeHint().width() < 700, page.minimumSizeHint()
    page.resize(700, 500)
    page.show()
    QApplication.processEvents()
    for button in page.findChildren(QToolButton):  # the file widgets' browse buttons
        right = button.mapTo(page, button.rect().topRight()).x()
        assert right <= page.width(), (right, page.width())
    page.deleteLater()
