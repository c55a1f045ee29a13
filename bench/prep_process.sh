#!/usr/bin/env bash
# bench/prep_process.sh: the whole `fitsflow process` with level 1.5 on (every output, prep/ and
# session/ included) against the Python stack doing the same outputs (python_baseline.py --stage
# prep: astropy/pandas/Pillow/asdf plus sunpy's register, exposure normalisation, the level-1.5
# FITS, the ML array and the session stacks), on the same 4096x4096 full-disk inputs as
# bench/run.sh, measured in the same run (issue 16: at least 30x). When this build's
# `fitsflow process` writes no level-1.5 outputs the table says so and the ratio is N/A.
# Environment: BUILD (build dir, default build), BENCH_RUNS (3), BENCH_SCRATCH (as bench/run.sh),
# BENCH_PREP_INPUTS (aia, hmi or "aia hmi", the default).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
BIN="${BUILD:-build}/fitsflow"
OUT=bench/out
AIA="$OUT/aia.lev1_euv_12s.2011-02-15T000001Z.171.image_lev1.fits"
HMI="$OUT/hmi.M_45s.2014.03.01_00_01_30_TAI.magnetogram.fits"

[ -x "$BIN" ] || { echo "bench/prep_process: $BIN is missing; run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT/prep_process"
if [ ! -s "$AIA" ] || [ bench/gen_aia.py -nt "$AIA" ]; then
    echo "bench/prep_process: generating $AIA" >&2
    "$PY" bench/gen_aia.py "$AIA"
fi
if [ ! -s "$HMI" ] || [ bench/gen_hmi.py -nt "$HMI" ]; then
    echo "bench/prep_process: generating $HMI" >&2
    "$PY" bench/gen_hmi.py "$HMI"
fi

SCRATCH="${BENCH_SCRATCH:-}"
if [ -z "$SCRATCH" ]; then
    SCRATCH="$OUT/run"
    free_kib=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
    if [ "${free_kib:-0}" -lt $((3 * 1024 * 1024)) ] && [ -d /dev/shm ]; then
        SCRATCH=/dev/shm/fitsflow-bench
        echo "bench/prep_process: less than 3 GiB free under $OUT: outputs go to $SCRATCH (RAM)" >&2
    fi
fi

for which in ${BENCH_PREP_INPUTS:-aia hmi}; do
    case "$which" in
        aia) input="$AIA" ;;
        hmi) input="$HMI" ;;
        *) echo "bench/prep_process: BENCH_PREP_INPUTS: unknown input '$which' (aia, hmi)" >&2; exit 2 ;;
    esac
    "$PY" bench/compare.py --fitsflow "$BIN" --input "$input" --stage prep \
        --runs "${BENCH_RUNS:-3}" --target-prep 30 \
        --scratch "$SCRATCH" --results "$OUT/prep_process/results_$which.txt"
    [ "$SCRATCH" != /dev/shm/fitsflow-bench ] || rm -rf "$SCRATCH"
done
