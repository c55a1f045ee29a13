#!/usr/bin/env bash
# bench/prep: level-1.5 registration of 4096x4096 files, FitsFlow against sunpy 4.1's rotate + crop
# (aiapy's register) in the same run (bench/prep/README.md). Inputs, generated once under
# bench/out/ (git-ignored): the main benchmark's AIA file (bench/gen_aia.py: int16, RICE, roll
# 0.019 deg, 0.5995"/px: no padding), and an AIA image rolled 1.5 deg at 0.6"/px from sunpy's
# real AIA header (float32: sunpy pads with NaN and takes its NaN path).
# Environment: BUILD (build dir, default build), BENCH_RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=/usr/bin/python3
TOOL="${BUILD:-build}/tests/ff_prep_tool"
OUT=bench/out
AIA="$OUT/aia.lev1_euv_12s.2011-02-15T000001Z.171.image_lev1.fits"
ROLL="$OUT/prep_aia4096_roll1.5.fits"

[ -x "$TOOL" ] || { echo "bench/prep: $TOOL is missing; run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT/prep"
if [ ! -s "$AIA" ] || [ bench/gen_aia.py -nt "$AIA" ]; then
    echo "bench/prep: generating $AIA" >&2
    "$PY" bench/gen_aia.py "$AIA"
fi
if [ ! -s "$ROLL" ] || [ tests/e2e/prepsun.py -nt "$ROLL" ]; then
    echo "bench/prep: generating $ROLL" >&2
    PYTHONPATH=tests/e2e "$PY" -c "
import sys, prepsun
h = prepsun.make_header('aia', 4096, crota=1.5)
h['CDELT1'] = h['CDELT2'] = 0.6
h['R_SUN'] = h['RSUN_OBS'] / 0.6
prepsun.write_fits(sys.argv[1], h, prepsun.make_data(h))" "$ROLL"
fi

"$PY" bench/prep/compare.py --tool "$TOOL" --input "$AIA" --input "$ROLL" \
    --runs "${BENCH_RUNS:-3}" --scratch "$OUT/prep" --results "$OUT/prep/results.txt"
