"""Fail on Qt5-only constructs in the plugin, so that it keeps running on QGIS 3.22 (Qt5) to QGIS 4 (Qt6).

Plain python3, standard library only (no qgis import): `python3 scripts/check_qt6.py [PATH ...]`; with no path it
checks sargasses_qgis/, tests/qgis/ and scripts/qgis_startup.py (all the code that runs inside QGIS). Prints one
`file:line:col: message` per finding and exits 1 when there is any.

What it flags (the Qt5/Qt6-neutral subset is what remains):
- importing PyQt5/PyQt4/sip/PyQt6 directly, or qgis.PyQt.Qt: use qgis.PyQt.QtCore/QtGui/QtWidgets (QGIS maps them to
  the Qt it was built with);
- unscoped enum members on Qt and QGIS classes (`Qt.AlignLeft`, `QSizePolicy.Expanding`, `Qgis.Warning`): PyQt6
  only knows the scoped form (`Qt.AlignmentFlag.AlignLeft`), which PyQt5 5.11+ and QGIS 3.22 accept too;
- QVariant's type constants (`QVariant.String`): deprecated from QGIS 3.38, which takes `QMetaType.Type.QString`;
  a fallback for QGIS 3.22, behind a version test, carries `# qt6: ok`;
- `exec_` and `print_` (gone in PyQt6: use `exec`);
- classes and modules removed in Qt6 (QRegExp, QDesktopWidget, QString, qApp, QtWebKit, ...), `.desktop()`,
  `QLayout.setMargin`, `signal[str]` overload indexing, compiled resources (resources_rc).

An enum *type* reached through its class without a member (`getattr(Qgis.DataType, name)`) reads like an unscoped
member; such a line carries the comment `# qt6: ok` to say it was checked.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("sargasses_qgis", "tests/qgis", "scripts/qgis_startup.py")
PRAGMA = "# qt6: ok"

QT_CLASS = re.compile(r"^(Qt|Qgis|Q[A-Z]\w*|Qgs[A-Z]\w*)$")
CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")  # QGIS_VERSION, TEMPORARY_OUTPUT: class constants, not enum members
# Classes whose attributes are reached unscoped on purpose: QgsMapLayerType is itself a scoped enum (enum class).
UNSCOPED_OK = {"QgsMapLayerType"}
FORBIDDEN_MODULES = ("PyQt4", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip")
REMOVED_MODULES = ("QtWebKit", "QtWebKitWidgets", "QtMultimedia", "QtScript", "QtXmlPatterns")
REMOVED_NAMES = {
    "QRegExp": "QRegExp is removed in Qt6: use QRegularExpression",
    "QRegExpValidator": "QRegExpValidator is removed in Qt6: use QRegularExpressionValidator",
    "QDesktopWidget": "QDesktopWidget is removed in Qt6: use QScreen (QGuiApplication.screens())",
    "QString": "QString does not exist in PyQt: use str",
    "QStringList": "QStringList does not exist in PyQt: use list",
    "QMatrix": "QMatrix is removed in Qt6: use QTransform",
    "QTextCodec": "QTextCodec is removed in Qt6",
    "QSound": "QSound is removed in Qt6",
    "qApp": "qApp is removed in PyQt6: use QApplication.instance()",
    "resources_rc": "compiled resources are not supported in Qt6: load files by path",
}
OVERLOADED_SIGNALS = {
    "activated",
    "buttonClicked",
    "buttonPressed",
    "buttonReleased",
    "buttonToggled",
    "currentIndexChanged",
    "highlighted",
    "mapped",
    "triggered",
    "valueChanged",
}
RENAMED_METHODS = {
    "exec_": "exec_() is removed in PyQt6: use exec()",
    "print_": "print_() is removed in PyQt6: use print()",
    "setMargin": "QLayout.setMargin() is removed in Qt6: use setContentsMargins()",
}


def _pragma_lines(source: str) -> set[int]:
    return {number for number, line in enumerate(source.splitlines(), start=1) if PRAGMA in line}


def _module_problem(module: str) -> str | None:
    top = module.split(".")[0]
    if top in FORBIDDEN_MODULES:
        return f"import of {module}: import from qgis.PyQt instead (it is PyQt5 or PyQt6, whichever QGIS runs on)"
    if module == "qgis.PyQt.Qt":
        return "qgis.PyQt.Qt does not exist on Qt6: import Qt from qgis.PyQt.QtCore"
    if module.startswith("qgis.PyQt.") and module.split(".")[2] in REMOVED_MODULES:
        return f"{module} is removed in Qt6"
    return None


def check_source(source: str, filename: str = "<string>") -> list[tuple[int, int, str]]:
    """(line, column, message) for every Qt5-only construct in source."""
    tree = ast.parse(source, filename=filename)
    ok_lines = _pragma_lines(source)
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    found = []
    for node in ast.walk(tree):
        for line, col, message in _node_problems(node, parents.get(id(node))):
            if line not in ok_lines:
                found.append((line, col, message))
    return sorted(set(found))


def _node_problems(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[int, int, str]]:
    where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
    if isinstance(node, ast.Import):
        for alias in node.names:
            problem = _module_problem(alias.name)
            if problem:
                yield (*where, problem)
            elif alias.name.split(".")[-1] in REMOVED_NAMES:
                yield (*where, REMOVED_NAMES[alias.name.split(".")[-1]])
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        problem = _module_problem(module) if node.level == 0 else None
        if problem:
            yield (*where, problem)
        for alias in node.names:
            if alias.name in REMOVED_NAMES:
                yield (*where, REMOVED_NAMES[alias.name])
            elif module == "qgis.PyQt" and alias.name in REMOVED_MODULES:
                yield (*where, f"qgis.PyQt.{alias.name} is removed in Qt6")
    elif isinstance(node, ast.Name) and node.id in REMOVED_NAMES:
        yield (*where, REMOVED_NAMES[node.id])
    elif isinstance(node, ast.FunctionDef) and node.name in ("exec_", "print_"):
        yield (*where, f"def {node.name}: PyQt6 calls exec()/print(); name the method without the underscore")
    elif isinstance(node, ast.Attribute):
        yield from _attribute_problems(node, parent)
    elif (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in OVERLOADED_SIGNALS
        and isinstance(node.slice, ast.Name)
    ):
        # combo.activated[str], spin.valueChanged[int]: overload indexing of signals is gone in PyQt6
        yield (*where, f"{node.value.attr}[{node.slice.id}]: signal overload indexing is removed in PyQt6")


def _attribute_problems(node: ast.Attribute, parent: ast.AST | None) -> Iterator[tuple[int, int, str]]:
    where = (node.lineno, node.col_offset)
    if node.attr in RENAMED_METHODS:
        yield (*where, RENAMED_METHODS[node.attr])
        return
    if node.attr == "desktop" and isinstance(parent, ast.Call) and parent.func is node and not parent.args:
        yield (*where, "QApplication.desktop() is removed in Qt6: use QGuiApplication.screens()/primaryScreen()")
        return
    if node.attr in REMOVED_NAMES:
        yield (*where, REMOVED_NAMES[node.attr])
        return
    value = node.value
    if isinstance(value, ast.Name) and value.id == "QVariant" and node.attr[:1].isupper():
        yield (
            *where,
            f"QVariant.{node.attr}: QVariant's types are deprecated from QGIS 3.38 and gone in Qt6: use "
            f"QMetaType.Type (behind a version test where QGIS 3.22 must get QVariant.{node.attr})",
        )
        return
    if not (isinstance(value, ast.Name) and QT_CLASS.match(value.id)) or value.id in UNSCOPED_OK:
        return
    if not node.attr[:1].isupper() or CONSTANT.match(node.attr):
        return
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return  # Cls.Enum.Member: scoped (or a nested class's attribute)
    if isinstance(parent, ast.Call) and parent.func is node:
        return  # Cls.Nested(...): a nested class or an enum type called as a constructor
    yield (
        *where,
        f"{value.id}.{node.attr}: unscoped enum member, removed in PyQt6: scope it with its enum type "
        f"({value.id}.<EnumType>.{node.attr}); if {node.attr} is itself a type, mark the line '{PRAGMA}'",
    )


def python_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        elif path.suffix == ".py":
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help=f"files or folders (default: {' '.join(DEFAULT_PATHS)})")
    args = parser.parse_args(argv)
    paths = args.paths or [ROOT / p for p in DEFAULT_PATHS]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"check_qt6: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = python_files(paths)
    count = 0
    for path in files:
        try:
            problems = check_source(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError as error:
            problems = [(error.lineno or 0, error.offset or 0, f"syntax error: {error.msg}")]
        for line, col, message in problems:
            resolved = path.resolve()
            shown = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else path
            print(f"{shown}:{line}:{col + 1}: {message}")
        count += len(problems)
    if count:
        print(f"check_qt6: {count} Qt5-only construct(s) in {len(files)} files", file=sys.stderr)
        return 1
    print(f"check_qt6: {len(files)} files in the Qt5/Qt6-neutral subset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
