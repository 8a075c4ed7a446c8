"""The packages' shape, read statically (ast): no import circle in sargasses/ or sargasses_qgis/, no core module
importing one on a higher floor, no function over 80 lines.

Imports inside functions count too: a circle through a function-level import is still a circle a reader follows.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 80


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The package's modules `path` imports, at module level or inside a function: `import a.b`; for
    `from a import b`, the module a.b when b is one, else a; relative imports (`from ..a import b`) made absolute."""
    here, found = _module_name(path, root), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                package = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != here}


def _import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports. A package's __init__ runs with any of its modules:
    only its own imports make its edges, not the ones its modules make on it."""
    root = package.parent
    files = sorted(package.rglob("*.py"))
    modules = {_module_name(f, root) for f in files}
    graph = {_module_name(f, root): _imports(f, modules, root) for f in files}
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# The core package's floors, lowest first (docs/architecture.md): a module imports its own floor and those below,
# never one above (a scene reader does not reach into training). A module not listed takes its package's floor.
FLOORS = (
    # 0: what every part shares
    ("sargasses.errors", "sargasses.signals", "sargasses.atomic", "sargasses.checked_values", "sargasses.raft_size",
     "sargasses.model_archive", "sargasses.command_ending", "sargasses.option_words"),
    ("sargasses.reading",),  # 1: scenes, sensors, labels, masks
    ("sargasses.outputs", "sargasses.synth", "sargasses.figures", "sargasses.search"),  # 2: written files, test worlds
    ("sargasses.detection", "sargasses.model_file"),  # 3: one scene's detection, the model file it reads
    ("sargasses.evaluation", "sargasses.training"),  # 4: scoring, training and fine-tuning models
    ("sargasses.engine", "sargasses.monitor"),  # 5: what runs detection for others: the plugin's engine, monitoring
    ("sargasses", "sargasses.cli", "sargasses.__main__"),  # 6: the command line
)  # fmt: skip


def _floor(module: str, floors: tuple[tuple[str, ...], ...]) -> int | None:
    """The floor of the longest listed name that is the module or a package above it."""
    best = None
    for level, names in enumerate(floors):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (level, name)
    return None if best is None else best[0]


def _reaching_up(graph: dict[str, set[str]], floors: tuple[tuple[str, ...], ...]) -> list[str]:
    """Each import of a module on a higher floor than the importer's (or of a module on no floor at all)."""
    wrong = []
    for module, deps in sorted(graph.items()):
        here = _floor(module, floors)
        for dep in sorted(deps):
            there = _floor(dep, floors)
            if here is None or there is None or there > here:
                wrong.append(f"{module} (floor {here}) imports {dep} (floor {there})")
    return wrong


def test_no_import_circle_in_the_core_package() -> None:
    assert _cycles(_import_graph(ROOT / "sargasses")) == []


def test_no_import_circle_in_the_plugin() -> None:
    assert _cycles(_import_graph(ROOT / "sargasses_qgis")) == []


def test_no_module_imports_one_on_a_higher_floor() -> None:
    assert _reaching_up(_import_graph(ROOT / "sargasses"), FLOORS) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_checks_see_function_level_and_relative_imports(tmp_path: Path) -> None:
    """A circle closed by an import inside a function, or by a relative import, is found; so is a lower floor
    importing a higher one."""
    package = tmp_path / "pkg"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "reader.py").write_text("def read():\n    from pkg.high import runner\n")
    (package / "high.py").write_text("from .low.reader import read\n")
    (package / "runner.py").write_text("from . import high\n")
    graph = _import_graph(package)
    assert graph["pkg.low.reader"] == {"pkg.high"} and graph["pkg.high"] == {"pkg.low.reader"}
    assert graph["pkg.runner"] == {"pkg.high"}
    assert _cycles(graph) == [["pkg.high", "pkg.low.reader"]]
    floors = (("pkg.low",), ("pkg.high", "pkg.runner"), ("pkg",))
    assert _reaching_up(graph, floors) == ["pkg.low.reader (floor 0) imports pkg.high (floor 1)"]


def _long_functions(folder: Path) -> list[str]:
    long = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}::{node.name} ({lines} lines)")
    return long


def test_no_long_function_in_the_core_package() -> None:
    assert _long_functions(ROOT / "sargasses") == []


def test_no_long_function_in_the_plugin() -> None:
    assert _long_functions(ROOT / "sargasses_qgis") == []
