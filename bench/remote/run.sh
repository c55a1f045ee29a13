#!/bin/sh
# Remote-step benchmark: a session of 10 files against the fixture server with 200 ms added to
# every response. Compares the original's way (every request one after another, a new connection
# each, no listing cache) with FitsFlow's (the three services of a file at once, connections and
# the day's JSOC listing reused, files processed side by side as `process -j` does).
#   bench/remote/run.sh [BUILD_DIR]       (default: build; needs tests/ff_remote_tool built)
# Environment: FILES (10), LATENCY_MS (200), INSTRUMENT (HMI: small JPEGs, so the figures are
# about the network; AIA adds a 4096x4096 JPEG 2000 decode per file).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
tool=$build/tests/ff_remote_tool
files=${FILES:-10}
latency=${LATENCY_MS:-200}
instrument=${INSTRUMENT:-HMI}
[ -x "$tool" ] || { echo "build $tool first (cmake --build $build --target ff_remote_tool)" >&2; exit 2; }

tmp=$(mktemp -d)
/usr/bin/python3 "$root/tests/e2e/fixture_server.py" --port-file "$tmp/port" --latency-ms "$latency" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
i=0
while [ ! -s "$tmp/port" ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "fixture server did not start" >&2; exit 1; }
    sleep 0.1
done
url=http://127.0.0.1:$(cat "$tmp/port")
export FITSFLOW_HELIOVIEWER_URL=$url FITSFLOW_JSOC_URL=$url FITSFLOW_SDO_URL=$url FITSFLOW_OFFLINE=0
if [ "$instrument" = AIA ]; then
    meta="--instrument AIA --measurement 193 --wavelength 193"
else
    meta="--instrument HMI --measurement continuum --wavelength 6173"
fi

run() { # key, label, extra args
    key=$1; label=$2; shift 2
    # shellcheck disable=SC2086
    out=$("$tool" session --time 2013-06-24T17:31:30.840 $meta --files "$files" "$@")
    wall=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["wall"])')
    okc=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
    printf '%-58s %7s s  ok %s\n' "$label" "$wall" "$okc"
    echo "$wall" >"$tmp/$key"
}

echo "remote steps of $files $instrument files, ${latency} ms added to every response"
run seq "sequential (original: one request at a time, new connections)" --sequential --no-reuse --jobs 1
run j1 "concurrent services, 1 file at a time" --jobs 1
run j2 "concurrent services, 2 files at a time (-j 2)" --jobs 2
run j4 "concurrent services, 4 files at a time (-j 4)" --jobs 4
/usr/bin/python3 - "$tmp" <<'PY'
import sys
t = {k: float(open(sys.argv[1] + "/" + k).read()) for k in ("seq", "j1", "j2", "j4")}
print("speed-up against sequential: -j 1 %.1fx, -j 2 %.1fx, -j 4 %.1fx"
      % (t["seq"] / t["j1"], t["seq"] / t["j2"], t["seq"] / t["j4"]))
PY
