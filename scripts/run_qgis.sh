#!/usr/bin/env bash
# `make qgis`: QGIS with the plugin from this working tree (linked, so edits show on the next start),
# its own profile in .qgis-profile/ (your own QGIS settings are left alone), and a synthetic scene loaded.
# The engine is the core environment (.venv) unless SARGASSES_PYTHON says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILES="$ROOT/.qgis-profile"
PLUGINS="$PROFILES/profiles/default/python/plugins"
INI="$PROFILES/profiles/default/QGIS/QGIS3.ini"
SCENE_DIR="$PROFILES/demo"
export SARGASSES_PYTHON="${SARGASSES_PYTHON:-$ROOT/.venv/bin/python}"

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    echo "make qgis: no display (DISPLAY is not set). Run it on a desktop, or under Xvfb: Xvfb :5 & DISPLAY=:5 make qgis" >&2
    exit 1
fi
command -v qgis >/dev/null || { echo "make qgis: QGIS is not installed (make system-deps installs it)" >&2; exit 1; }
[[ -x "$SARGASSES_PYTHON" ]] || { echo "make qgis: no engine Python at $SARGASSES_PYTHON (make setup creates .venv)" >&2; exit 1; }

mkdir -p "$PLUGINS" "$(dirname "$INI")"
/usr/bin/python3 scripts/build_plugin.py --dev "$PLUGINS"
if ! grep -q '^sargasses_qgis=true' "$INI" 2>/dev/null; then
    printf '[PythonPlugins]\nsargasses_qgis=true\n' >> "$INI"
fi
if [[ ! -f "$SCENE_DIR/scene_0007.tif" ]]; then
    "$SARGASSES_PYTHON" -m sargasses synth "$SCENE_DIR" --count 1 --seed 7 --size 1024 --kind mixed
fi
export SARGASSES_DEMO_SCENE="$SCENE_DIR/scene_0007.tif"
exec qgis --noversioncheck --nologo --profiles-path "$PROFILES" --code "$ROOT/scripts/qgis_startup.py"
