#!/usr/bin/env bash
# `make bench`: generates the full-size AIA-like input once (bench/out/, git-ignored), then times
# `fitsflow process` against the Python stack and funpack and prints the table (also written to
# bench/out/results.txt). Missed targets print FAIL; the exit status is non-zero only when the
# benchmark could not run. Then runs bench/prep/run.sh (BENCH_PREP=0 skips it) and
# bench/serve/run.sh (BENCH_SERVE=0 skips it).
# Environment: BUILD (build dir, default build), BENCH_RUNS (3),
# BENCH_STAGE (both | foundation | all), BENCH_SCRATCH (where outputs go, default bench/out/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3   # Debian's python3, which has astropy/numpy/pandas/Pillow/asdf/sunpy
BIN="${BUILD:-build}/fitsflow"
OUT=bench/out
INPUT="$OUT/aia.lev1_euv_12s.2011-02-15T000001Z.171.image_lev1.fits"

[ -x "$BIN" ] || { echo "bench: $BIN is missing; run 'make build' first" >&2; exit 1; }
command -v funpack >/dev/null || echo "bench: funpack not found (Debian libcfitsio-bin); its row is skipped" >&2
mkdir -p "$OUT"

# Regenerate when the input is missing or the generator changed since it was made.
if [ ! -s "$INPUT" ] || [ bench/gen_aia.py -nt "$INPUT" ]; then
    echo "bench: generating $INPUT" >&2
    "$PY" bench/gen_aia.py "$INPUT"
fi

"$PY" bench/compare.py --fitsflow "$BIN" --input "$INPUT" \
    --runs "${BENCH_RUNS:-3}" --stage "${BENCH_STAGE:-both}" \
    --scratch "${BENCH_SCRATCH:-$OUT/run}" --results "$OUT/results.txt"

# Level 1.5 against sunpy (bench/README.md, "Level 1.5"). BENCH_PREP=0 skips it.
if [ "${BENCH_PREP:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/prep/run.sh || echo "bench: bench/prep could not run" >&2
fi

# The serve benchmark (bench/serve/README.md): fitsflow serve against nginx and dd. BENCH_SERVE=0 skips it.
if [ "${BENCH_SERVE:-1}" != 0 ]; then
    BUILD="${BUILD:-build}" bash bench/serve/run.sh
fi
