"""The run summary's typed shape (sargasses.outputs.summary), its documentation, and the keys the QGIS plugin reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from detect_helpers import SUMMARY_NESTED

from sargasses.outputs.summary import EngineSummary, RunSummary, summary_keys

ROOT = Path(__file__).resolve().parents[2]


def plugin_constant(name: str) -> tuple[str, ...]:
    """A tuple of strings assigned to `name` at the top of sargasses_qgis/results.py (read, never imported)."""
    tree = ast.parse((ROOT / "sargasses_qgis" / "results.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"sargasses_qgis/results.py has no {name}")


def test_the_plugin_reads_only_documented_keys() -> None:
    keys = plugin_constant("SUMMARY_KEYS")
    assert keys and set(keys) <= summary_keys(EngineSummary), set(keys) - summary_keys(EngineSummary)
    assert not set(plugin_constant("CLIPPED_KEYS")) & summary_keys(EngineSummary)  # the plugin's own
    source = (ROOT / "sargasses_qgis" / "results.py").read_text(encoding="utf-8")
    read = set(re.findall(r"summary(?:\.get\(|\[)\"(\w+)\"", source))
    assert read <= set(keys) | set(plugin_constant("CLIPPED_KEYS")), read


def test_every_field_is_documented() -> None:
    doc = (ROOT / "docs" / "engine_protocol.md").read_text(encoding="utf-8")
    section = doc.split("## The run summary", 1)[1].split("\n## ", 1)[0]
    for key in summary_keys(EngineSummary):
        assert f"`{key}`" in section, key
    for key, shape in SUMMARY_NESTED.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{key}` |"))
        for field in summary_keys(shape):
            assert f"`{field}`" in row, (key, field)


def test_engine_summary_extends_run_summary() -> None:
    assert summary_keys(RunSummary) < summary_keys(EngineSummary)
    assert {"rafts", "total_area_km2", "threshold", "threshold_source", "min_raft_pixels", "units", "warnings"} <= set(
        RunSummary.__required_keys__
    )
