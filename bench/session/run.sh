#!/usr/bin/env bash
# bench/session: a whole 12-file session through `fitsflow serve` on loopback against the Python
# stack doing the same files one after another (bench/session/session.py; bench/README.md,
# "Sessions"). Generates the two full-size inputs when missing. Environment: BUILD (build),
# SESSION_RUNS (3), SESSION_AT_ONCE (8 sessions for the throughput figure), SESSION_SCRATCH
# (where the server's data folder and the Python outputs go; default /dev/shm/fitsflow-bench-session,
# RAM: the eight sessions at once write about 3 GB).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=/usr/bin/python3
BIN="${BUILD:-build}/fitsflow"
OUT=bench/out
AIA="$OUT/aia.lev1_euv_12s.2011-02-15T000001Z.171.image_lev1.fits"
HMI="$OUT/hmi.M_45s.2014.03.01_00_01_30_TAI.magnetogram.fits"
[ -x "$BIN" ] || { echo "bench/session: $BIN is missing; run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"
if [ ! -s "$AIA" ] || [ bench/gen_aia.py -nt "$AIA" ]; then "$PY" bench/gen_aia.py "$AIA"; fi
if [ ! -s "$HMI" ] || [ bench/gen_hmi.py -nt "$HMI" ]; then "$PY" bench/gen_hmi.py "$HMI"; fi
SCRATCH="${SESSION_SCRATCH:-/dev/shm/fitsflow-bench-session}"
trap 'rm -rf "$SCRATCH"' EXIT
"$PY" bench/session/session.py --fitsflow "$BIN" --aia "$AIA" --hmi "$HMI" \
    --runs "${SESSION_RUNS:-3}" --sessions "${SESSION_AT_ONCE:-8}" --scratch "$SCRATCH" \
    --results "$OUT/session.txt"
