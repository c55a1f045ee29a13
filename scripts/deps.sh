#!/usr/bin/env bash
# Installs the Debian packages FitsFlow builds and tests with, only those missing, then the npm
# packages (scripts/deps-node.sh). Quiet and quick when everything is already there; needs root
# (or sudo) otherwise. A new Debian 12 machine with only the base system, make and git passes
# `make test` after this.
#
#   scripts/deps.sh          install what is missing
#   scripts/deps.sh --list   print the packages and the two maps below, install nothing
#
# The maps say which package gives each Python module a test imports and each command a test runs.
# tests/e2e/test_deps_declared.py reads them (with --list): a test that imports a module or runs a
# command missing here fails it, and so does one whose module or command, on this machine, comes
# from a file no package below (or what it depends on) installs.
set -euo pipefail
cd "$(dirname "$0")/.."

# To build FitsFlow (and `make fuzz`: clang, libclang-rt-14-dev).
BUILD_PKGS=(
  make git build-essential cmake pkg-config
  libcfitsio-dev libdeflate-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev
  libyaml-dev libspng-dev zlib1g-dev libopenjp2-7-dev libturbojpeg0-dev liberfa-dev
  libsqlite3-dev libarchive-dev libexpat1-dev libavformat-dev libavcodec-dev libavutil-dev libcmocka-dev wcslib-dev
  clang libclang-rt-14-dev
)

# Python modules the tests import, as module:package (top-level module names; /usr/bin/python3).
PY_MODULES=(
  astropy:python3-astropy numpy:python3-numpy pandas:python3-pandas asdf:python3-asdf
  sunpy:python3-sunpy PIL:python3-pil botocore:python3-botocore yaml:python3-yaml erfa:python3-erfa
  scipy:python3-scipy
)

# Commands the tests run, as command:package.
COMMANDS=(
  python3:python3 bash:bash ldd:libc-bin mount:mount umount:mount dpkg-query:dpkg
  ffmpeg:ffmpeg ffprobe:ffmpeg chromium:chromium node:nodejs wrk:wrk curl:curl
  fpack:libcfitsio-bin funpack:libcfitsio-bin
)

# Packages the tests need that no map entry names: what a module above loads only through a
# Recommends (apt here installs without them).
EXTRA_PKGS=(
  python3-matplotlib # sunpy.visualization.colormaps imports it; python3-sunpy only recommends it
)

# Node.js: Debian's (18 on Debian 12), which the pinned npm packages support (package.json). A
# machine whose image brings its own Node.js (e.g. NodeSource's, also named nodejs, with npm
# inside it) keeps it: Debian's npm package would conflict with it.
NODE_PKGS=(nodejs)
command -v npm >/dev/null || NODE_PKGS+=(npm)

PKGS=("${BUILD_PKGS[@]}" "${EXTRA_PKGS[@]}" "${NODE_PKGS[@]}")
for e in "${PY_MODULES[@]}" "${COMMANDS[@]}"; do
  PKGS+=("${e#*:}")
done
mapfile -t PKGS < <(printf '%s\n' "${PKGS[@]}" | sort -u)

if [ "${1:-}" = "--list" ]; then
  for p in "${PKGS[@]}"; do echo "package $p"; done
  for e in "${PY_MODULES[@]}"; do echo "module ${e%%:*} ${e#*:}"; done
  for e in "${COMMANDS[@]}"; do echo "command ${e%%:*} ${e#*:}"; done
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exec bash scripts/deps-node.sh
fi

echo "make deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "make deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
exec bash scripts/deps-node.sh
