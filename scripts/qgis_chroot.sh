#!/usr/bin/env bash
# Runs a command inside a Debian chroot that has a newer QGIS (trixie: 3.40, sid: 3.44), building the chroot first
# when it is missing. Chroots live outside the repository (SARGASSES_CHROOTS, default /var/cache/sargasses/chroots)
# and are reused; /proc, /dev, /dev/pts and a /tmp of its own are mounted for the command and always unmounted
# again (trap), the /tmp removed.
#
#   scripts/qgis_chroot.sh build SUITE          build the chroot if it is missing (about 3 minutes)
#   scripts/qgis_chroot.sh run SUITE CMD...     run CMD (bash -c) in it, as root
#   scripts/qgis_chroot.sh test-qgis SUITE      run this tree's QGIS suite (tests/qgis) with the chroot's QGIS
#
# test-qgis mounts this tree at its own path, and the engine the tests talk to (SARGASSES_PYTHON, default .venv's
# python) is the host's: its venv and the Python it was made from are bind-mounted read-only at their own paths, so
# no torch or engine is installed in the chroot (the engine is a separate process; QGIS never imports it).
set -euo pipefail

ROOT=${SARGASSES_CHROOTS:-/var/cache/sargasses/chroots}
MIRROR=${SARGASSES_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# nginx-light: the HTTP server of the STAC tests (tests/qgis/stac_servers.py), as on the host (scripts/setup_system.sh)
PACKAGES=qgis,python3-qgis,qgis-providers,xvfb,python3-venv,python3-pip,git,make,ca-certificates,nginx-light
TEST_VENV=/opt/sargasses-qgis-venv # QGIS's Python with the test tools, as the host's .venv-qgis
REPO=$(cd "$(dirname "$0")/.." && pwd)
MOUNTED=()
SCRATCH= # this run's /tmp, removed with the mounts

die() { echo "qgis_chroot: $*" >&2; exit 1; }

unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" || echo "qgis_chroot: could not unmount ${MOUNTED[i]}" >&2
    done
    MOUNTED=()
    if [ -n "$SCRATCH" ]; then rm -rf "$SCRATCH"; fi
    SCRATCH=
}

bind() { # bind SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTED+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

mount_system() { # The kernel trees apt, QGIS and pytest need, and a /tmp of this run's own.
    local dir=$1
    mkdir -p "$dir/proc"
    mount -t proc proc "$dir/proc"
    MOUNTED+=("$dir/proc")
    bind /dev "$dir/dev"
    bind /dev/pts "$dir/dev/pts"
    # Not the host's /tmp: pytest sessions there (other checkouts, another chroot) prune each other's folders.
    SCRATCH=$(mktemp -d "$ROOT/tmp.XXXXXX")
    chmod 1777 "$SCRATCH"
    bind "$SCRATCH" "$dir/tmp"
}

copy_host_network_config() { # The host's apt settings for its mirror/proxy and its certificates (a proxy's CA).
    local dir=$1 conf
    for conf in /etc/apt/apt.conf.d/*; do
        if grep -q '^Acquire::' "$conf"; then cp "$conf" "$dir/etc/apt/apt.conf.d/"; fi
    done
    # A sid snapshot's Release file may be older than its Valid-Until.
    echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99sargasses-valid-until"
    cp -rL --remove-destination /etc/ssl/certs/. "$dir/etc/ssl/certs/"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$dir/etc/pip.conf"; fi
}

install_packages() { # install_packages DIR: PACKAGES into the chroot at DIR
    trap unmount_all EXIT
    mount_system "$1"
    chroot "$1" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES//,/ } >/dev/null"
    unmount_all
}

build() {
    local suite=$1 dir=$ROOT/$1
    if [ -f "$dir/.sargasses-ready" ]; then # a chroot built with an older package list gets the new packages
        [ "$(cat "$dir/.sargasses-ready")" = "$PACKAGES" ] && return 0
        echo "qgis_chroot: adding packages to $suite..."
        install_packages "$dir"
        echo "$PACKAGES" >"$dir/.sargasses-ready"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        command -v apt-get >/dev/null || die "debootstrap is missing: install it with your package manager"
        echo "Installing debootstrap from Debian..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
            || die "debootstrap could not be installed: apt-get install debootstrap"
    fi
    local partial=$dir.partial
    rm -rf "$partial"
    mkdir -p "$ROOT"
    echo "qgis_chroot: building $suite in $partial (about 3 minutes)..."
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$partial" "$MIRROR"
    copy_host_network_config "$partial"
    install_packages "$partial"
    chroot "$partial" /usr/bin/python3 -m venv --system-site-packages "$TEST_VENV"
    chroot "$partial" "$TEST_VENV/bin/python" -m pip install -q pytest pytest-qgis pytest-timeout
    chroot "$partial" qgis --version 2>/dev/null | head -1 || true
    echo "$PACKAGES" >"$partial/.sargasses-ready"
    mv "$partial" "$dir"
}

run() { # run SUITE CMD [MOUNT:ro|rw ...]: CMD in the chroot, with the given host paths mounted at their own paths
    local suite=$1 command=$2 dir=$ROOT/$1 mount
    shift 2
    build "$suite"
    trap unmount_all EXIT
    mount_system "$dir"
    for mount in "$@"; do bind "${mount%:*}" "$dir${mount%:*}" "${mount##*:}"; done
    chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 bash -c "$command"
}

test_qgis() {
    local suite=$1 engine=${SARGASSES_PYTHON:-$REPO/.venv/bin/python} prefixes
    [ -x "$engine" ] || die "no engine at $engine: run make setup (or set SARGASSES_PYTHON)"
    # Its venv, the Python it was made from, and the tree its (editable) sargasses comes from, as the plugin starts it.
    prefixes=$(cd / && env -u PYTHONPATH "$engine" -c 'import os, sys, sargasses
print(*{os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sargasses.__file__)))})')
    local mounts=("$REPO:rw") prefix
    for prefix in $prefixes; do
        if [ "$prefix" != "$REPO" ]; then mounts+=("$prefix:ro"); fi
    done
    build "$suite"
    echo "qgis_chroot: QGIS suite in $suite ($(chroot "$ROOT/$suite" dpkg-query -W -f '${Version}' qgis 2>/dev/null))"
    run "$suite" "cd '$REPO/tests/qgis' && PYTHONPATH='$REPO' QT_QPA_PLATFORM=offscreen SARGASSES_PYTHON='$engine' \
        $TEST_VENV/bin/python -m pytest ${PYTEST_ARGS:-}" "${mounts[@]}"
}

[ "$(id -u)" = 0 ] || die "chroots need root (debootstrap, mount, chroot)"
trap 'exit 130' INT TERM HUP # so that the EXIT trap unmounts on Ctrl-C or a CI timeout too
case ${1:-} in
build) build "${2:?suite}" ;;
run) run "${2:?suite}" "${*:3}" ;;
test-qgis) test_qgis "${2:?suite}" ;;
*) die "usage: $0 build SUITE | run SUITE CMD... | test-qgis SUITE" ;;
esac
