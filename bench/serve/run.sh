#!/usr/bin/env bash
# Serve benchmark: `fitsflow serve` against nginx (static GETs of a 1 MiB output), an absolute
# target (presign requests/s) and dd (a 100 MiB upload against writing the same bytes), measured in
# the same run, sides alternating. Prints the table and writes bench/out/serve.txt.
#   bash bench/serve/run.sh                 (BUILD=build: a release build of build/fitsflow)
# Environment: BUILD, SERVE_ROUNDS (3), SERVE_UPLOAD_RUNS (5), SERVE_DURATION (10 s per wrk run),
# SERVE_ONLY (static,presign,upload), FITSFLOW_FSYNC (1: both sides flush to disk; default neither).
# Needs wrk, nginx (nginx-light) and curl: installed with apt-get when missing (root only).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="${BUILD:-build}/fitsflow"
[ -x "$BIN" ] || { echo "bench/serve: $BIN is missing; run 'make build' first" >&2; exit 1; }
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench/serve: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bench/serve: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
export PATH="$PATH:/usr/sbin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ff-benchserve.XXXXXX")
cleanup() {
    # The driver stops its servers itself; this catches them if the driver was killed.
    if [ -f "$tmp/pids" ]; then
        while read -r pid; do kill -TERM -- "-$pid" 2>/dev/null || true; done <"$tmp/pids"
        sleep 0.5
        while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done <"$tmp/pids"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

/usr/bin/python3 bench/serve/drive.py --fitsflow "$BIN" --tmp "$tmp" --results bench/out/serve.txt \
    --rounds "${SERVE_ROUNDS:-3}" --upload-runs "${SERVE_UPLOAD_RUNS:-5}" \
    --duration "${SERVE_DURATION:-10}" --only "${SERVE_ONLY:-static,presign,upload}"
