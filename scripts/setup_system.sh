#!/usr/bin/env bash
# Installs what sargasses needs from the system: QGIS (with its Python bindings) and Xvfb for the desktop tests,
# nginx for the STAC tests (it serves COGs with range requests on loopback, run as a user process).
# Skips everything already present, so a second `make test` starts testing within seconds.
set -euo pipefail

PACKAGES=(qgis python3-qgis qgis-providers xvfb python3-venv nginx-light)

have_everything() {
    command -v qgis >/dev/null 2>&1 &&
        command -v Xvfb >/dev/null 2>&1 &&
        [ -x /usr/bin/qgis_process.bin ] &&
        [ -x /usr/sbin/nginx ] &&
        /usr/bin/python3 -c "import qgis.core, venv" >/dev/null 2>&1
}

if have_everything; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "sargasses: QGIS 3.22+ with its Python bindings, Xvfb or nginx are missing, and this system has no apt-get." >&2
    echo "Install them with your package manager (${PACKAGES[*]} on Debian/Ubuntu), then run make again." >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "sargasses: QGIS, Xvfb or nginx are missing and installing them needs root. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
    echo "then run make again." >&2
    exit 1
fi

echo "Installing QGIS, Xvfb and nginx from Debian (about 2 minutes)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
have_everything || { echo "sargasses: QGIS was installed but 'import qgis.core' still fails in /usr/bin/python3." >&2; exit 1; }
