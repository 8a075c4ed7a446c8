"""Build dist/sargasses_qgis.zip, installable with QGIS's Plugins > Install from ZIP.

Runs with QGIS's Python (`make plugin` = /usr/bin/python3 scripts/build_plugin.py); standard library and pip only.
The zip holds one folder, sargasses_qgis/, with:
    the plugin's code, metadata.txt, icon.png, LICENSE,
    resources/ (styles, icons, the default model when trained),
    core/sargasses-VERSION-py3-none-any.whl (the core package the engine installer gives pip).
No caches or generated files, and no compiled code (plugins.qgis.org refuses binaries): the build fails when the zip
or its wheel would hold a native library, an executable or bytecode, or a wheel that is not pure Python. The model
file is data (weights and the exported graph), not a program; see docs/qgis_plugin.md, "What the zip holds". `--dev PROFILE_PLUGINS_DIR` instead links the working tree into a QGIS profile's
plugins folder (what `make qgis` and the tests use), so edits show on the next QGIS start.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "sargasses_qgis"
PLUGIN_SOURCE = ROOT / NAME
RESOURCE_FILES = (
    "icon.svg",
    "icon.png",
    "rafts.qml",
    "probabilities.qml",
    "labels.qml",
    "looked_at.qml",
    "default_model.sargasses",
)
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".part"}
COMPILED_SUFFIXES = {".so", ".pyd", ".dll", ".dylib", ".exe", ".bin", ".o", ".a", ".lib", ".pyc", ".pyo"}


def _plugin_files() -> list[tuple[Path, str]]:
    """(file on disk, path inside the plugin folder) for the plugin's code and metadata."""
    files = []
    for path in sorted(PLUGIN_SOURCE.rglob("*")):
        rel = path.relative_to(PLUGIN_SOURCE)
        if path.is_dir() or set(rel.parts) & SKIP_DIRS or path.suffix in SKIP_SUFFIXES:
            continue
        files.append((path, rel.as_posix()))
    files += [(ROOT / "metadata.txt", "metadata.txt"), (ROOT / "LICENSE", "LICENSE")]
    files.append((ROOT / "resources" / "icon.png", "icon.png"))
    for name in RESOURCE_FILES:
        if (ROOT / "resources" / name).is_file():
            files.append((ROOT / "resources" / name, f"resources/{name}"))
    missing = [str(src) for src, _ in files if not src.is_file()]
    if missing:
        sys.exit(f"build_plugin: missing {', '.join(missing)}")
    return files


def build_wheel(out_dir: Path) -> Path:
    """The core package as a wheel, built from a clean copy of the tree (no egg-info or build/ left behind)."""
    with tempfile.TemporaryDirectory(prefix="sargasses_wheel_") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "scripts/bundle_model.py"):  # the last: a build step
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(
            ROOT / "sargasses",
            src / "sargasses",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_bundled"),
        )
        # The default model travels inside the wheel, so that an engine installed from it finds it on its own.
        model = ROOT / "resources" / "default_model.sargasses"
        if model.is_file():
            (src / "sargasses" / "_bundled").mkdir()
            shutil.copy2(model, src / "sargasses" / "_bundled" / model.name)
        # An isolated build: pip fetches the setuptools pyproject.toml asks for, since QGIS's Python may have none
        # (venvs of Python 3.12+, Debian 13) or one too old for its SPDX licence (Debian 12's 66).
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(src)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"build_plugin: building the core wheel failed:\n{done.stdout}\n{done.stderr}")
        wheels = sorted(Path(tmp).glob("sargasses-*.whl"))
        if not wheels:
            sys.exit("build_plugin: pip built no sargasses wheel")
        target = out_dir / wheels[0].name
        shutil.copy2(wheels[0], target)
        return target


def compiled_members(names: list[str]) -> list[str]:
    """The names among an archive's that the official plugin repository would reject as compiled code."""
    found = []
    for name in names:
        suffixes = {suffix.lower() for suffix in Path(name).suffixes}
        pure_wheel = name.endswith("-none-any.whl")
        if suffixes & COMPILED_SUFFIXES or (name.endswith(".whl") and not pure_wheel):
            found.append(name)
    return found


def _check_no_compiled(archive_path: Path) -> None:
    with zipfile.ZipFile(archive_path) as archive:
        found = compiled_members(archive.namelist())
        for name in archive.namelist():
            if name.endswith(".whl"):
                with tempfile.TemporaryDirectory(prefix="sargasses_wheel_check_") as tmp:
                    inner = Path(archive.extract(name, tmp))
                    with zipfile.ZipFile(inner) as wheel:
                        found += [f"{name}!{member}" for member in compiled_members(wheel.namelist())]
    if found:
        sys.exit(f"build_plugin: compiled files have no place in the plugin zip: {', '.join(found)}")


def build_zip(output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sargasses_plugin_") as tmp:
        wheel = build_wheel(Path(tmp))
        tmp_zip = Path(tmp) / output.name
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for src, rel in _plugin_files():
                archive.write(src, f"{NAME}/{rel}")
            archive.write(wheel, f"{NAME}/core/{wheel.name}")
        _check_no_compiled(tmp_zip)
        shutil.move(tmp_zip, output)  # complete before it takes the final name
    return output


def link_dev(plugins_dir: Path) -> Path:
    """plugins_dir/sargasses_qgis: the working tree's files as links, laid out as in the zip (no wheel)."""
    target = plugins_dir / NAME
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for src, rel in _plugin_files():
        if "/" in rel and (PLUGIN_SOURCE / rel.split("/")[0]).is_dir():
            continue  # sub-packages are linked whole below
        link = target / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(src)
    for sub in sorted(p for p in PLUGIN_SOURCE.iterdir() if p.is_dir() and p.name not in SKIP_DIRS):
        (target / sub.name).symlink_to(sub, target_is_directory=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dist" / f"{NAME}.zip", help="the zip to write")
    parser.add_argument("--dev", type=Path, metavar="PLUGINS_DIR", help="link the working tree into PLUGINS_DIR")
    args = parser.parse_args(argv)
    if args.dev is not None:
        print(f"linked {link_dev(args.dev)}")
        return 0
    path = build_zip(args.output)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    print(f"built {path} ({path.stat().st_size / 1e6:.1f} MB, {len(names)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
