#!/usr/bin/env bash
# Installs the Debian packages FitsFlow builds and tests with, only those missing.
# Quiet and quick when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libcfitsio-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev
  libyaml-dev libspng-dev zlib1g-dev libopenjp2-7-dev libturbojpeg0-dev
  libsqlite3-dev libarchive-dev libavformat-dev libavcodec-dev libavutil-dev libcmocka-dev wcslib-dev
  python3-astropy python3-numpy python3-pandas python3-asdf python3-sunpy python3-pil python3-scipy
  python3-botocore python3-yaml libcfitsio-bin ffmpeg curl chromium
  clang libclang-rt-14-dev
)

# Node.js comes with the machine image on some hosts; install Debian's only when there is none.
command -v npm >/dev/null || PKGS+=(nodejs npm)

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
