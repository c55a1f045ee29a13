#!/usr/bin/env bash
# `make run`: process the real SDO sample files that Debian's python3-sunpy ships into
# ./fitsflow-out and say where the outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=/usr/lib/python3/dist-packages/sunpy/data/test
files=("$SAMPLES/aia_171_level1.fits" "$SAMPLES/resampled_hmi.fits")
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "make run: sample file $f is missing (make deps installs python3-sunpy)" >&2; exit 1; }
done
./build/fitsflow process -o fitsflow-out "${files[@]}"
echo "Open fitsflow-out/manifest.json for the list of outputs, with sizes and sha256."
