#!/usr/bin/env bash
# `make bench`: generates the two full-size inputs once (bench/out/, git-ignored: an AIA-like int16
# RICE_1 file and an HMI-like float32 GZIP_2 magnetogram), then times `fitsflow process` on each
# against the Python stack and funpack and prints the tables (also written to
# bench/out/results.txt and results_hmi.txt). Missed targets print FAIL; the exit status is
# non-zero only when the benchmark could not run. Then runs bench/session/run.sh (BENCH_SESSION=0
# skips it), bench/prep/run.sh (BENCH_PREP=0 skips it), bench/prep_process.sh (BENCH_PREP_PROCESS=0)
# and bench/serve/run.sh (BENCH_SERVE=0).
# Environment: BUILD (build dir, default build), BENCH_RUNS (3),
# BENCH_STAGE (both | foundation | all), BENCH_SCRATCH (where outputs go, default bench/out/run,
# or /dev/shm/fitsflow-bench when the disk holding bench/out has less than 3 GiB free: the runs
# keep about 1 GiB of outputs at once).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3   # Debian's python3, which has astropy/numpy/pandas/Pillow/asdf/sunpy
BIN="${BUILD:-build}/fitsflow"
OUT=bench/out
INPUT="$OUT/aia.lev1_euv_12s.2011-02-15T000001Z.171.image_lev1.fits"
HMI="$OUT/hmi.M_45s.2014.03.01_00_01_30_TAI.magnetogram.fits"

[ -x "$BIN" ] || { echo "bench: $BIN is missing; run 'make build' first" >&2; exit 1; }
command -v funpack >/dev/null || echo "bench: funpack not found (Debian libcfitsio-bin); its row is skipped" >&2
mkdir -p "$OUT"

# Regenerate when the input is missing or the generator changed since it was made.
if [ ! -s "$INPUT" ] || [ bench/gen_aia.py -nt "$INPUT" ]; then
    echo "bench: generating $INPUT" >&2
    "$PY" bench/gen_aia.py "$INPUT"
fi

if [ ! -s "$HMI" ] || [ bench/gen_hmi.py -nt "$HMI" ]; then
    echo "bench: generating $HMI" >&2
    "$PY" bench/gen_hmi.py "$HMI"
fi

SCRATCH="${BENCH_SCRATCH:-}"
if [ -z "$SCRATCH" ]; then
    SCRATCH="$OUT/run"
    free_kib=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
    if [ "${free_kib:-0}" -lt $((3 * 1024 * 1024)) ] && [ -d /dev/shm ]; then
        SCRATCH=/dev/shm/fitsflow-bench
        echo "bench: less than 3 GiB free under $OUT: outputs go to $SCRATCH (RAM)" >&2
    fi
fi

# Issue 17's targets: all outputs >= 35x the Python stack on the AIA file, >= 30x on the HMI file;
# `--outputs npy` within 0.6x of funpack.
"$PY" bench/compare.py --fitsflow "$BIN" --input "$INPUT" \
    --runs "${BENCH_RUNS:-3}" --stage "${BENCH_STAGE:-both}" --target-all 35 \
    --scratch "$SCRATCH" --results "$OUT/results.txt"
[ "$SCRATCH" != /dev/shm/fitsflow-bench ] || rm -rf "$SCRATCH"
"$PY" bench/compare.py --fitsflow "$BIN" --input "$HMI" \
    --runs "${BENCH_RUNS:-3}" --stage "${BENCH_STAGE:-both}" --target-all 30 \
    --scratch "$SCRATCH" --results "$OUT/results_hmi.txt"
[ "$SCRATCH" != /dev/shm/fitsflow-bench ] || rm -rf "$SCRATCH"

# A whole session through `fitsflow serve` (bench/session/run.sh). BENCH_SESSION=0 skips it.
if [ "${BENCH_SESSION:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/session/run.sh || echo "bench: bench/session could not run" >&2
fi

# Level 1.5 against sunpy (bench/README.md, "Level 1.5"). BENCH_PREP=0 skips it.
if [ "${BENCH_PREP:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/prep/run.sh || echo "bench: bench/prep could not run" >&2
fi

# The whole process with level 1.5 against the Python stack doing the same outputs (bench/README.md,
# "The whole process with level 1.5"). BENCH_PREP_PROCESS=0 skips it.
if [ "${BENCH_PREP_PROCESS:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/prep_process.sh || echo "bench: bench/prep_process.sh could not run" >&2
fi

# The serve benchmark (bench/serve/README.md): fitsflow serve against nginx and dd. BENCH_SERVE=0 skips it.
if [ "${BENCH_SERVE:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/serve/run.sh
fi
