#!/usr/bin/env bash
# Builds the Lambda deployment zip for the provided.al2023 runtime: the fitsflow binary (stripped),
# every shared library it loads (from ldd) and the dynamic loader itself, started by a `bootstrap`
# script that execs the bundled loader with --library-path. The zip therefore runs on Amazon Linux
# 2023 whatever glibc it was built against, and needs nothing from the host but /bin/sh.
#
#   deploy/aws/package.sh [BINARY] [OUT.zip]
#     BINARY   default build/fitsflow (configure and build first: make, or cmake --build build)
#     OUT.zip  default deploy/aws/build/fitsflow-lambda.zip (template.yaml's CodeUri unpacks it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/fitsflow}
out=${2:-$here/build/fitsflow-lambda.zip}

[ -x "$bin" ] || { echo "package.sh: no executable at $bin; build first (cmake --build build)" >&2; exit 1; }
command -v ldd >/dev/null || { echo "package.sh: ldd not found" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"

strip --strip-unneeded -o "$stage/fitsflow" "$bin" 2>/dev/null || cp "$bin" "$stage/fitsflow"
chmod 755 "$stage/fitsflow"

loader=""
while read -r line; do
  case "$line" in
    *"=> not found"*) echo "package.sh: ldd: $line" >&2; exit 1 ;;
    *"=> /"*) lib=$(echo "$line" | awk '{print $3}'); cp -L "$lib" "$stage/lib/" ;;
    /*) loader=$(echo "$line" | awk '{print $1}'); cp -L "$loader" "$stage/lib/" ;;
  esac
done < <(ldd "$bin")
[ -n "$loader" ] || { echo "package.sh: ldd named no dynamic loader for $bin" >&2; exit 1; }

# FFmpeg is loaded at run time (the daily movie, in the Clean function): bundle the libraries the
# binary names (core/avload.c) and everything they need.
for soname in $(strings "$bin" | grep -E '^lib(avformat|avcodec|avutil)\.so\.[0-9]+$' | sort -u); do
  path=$(ldconfig -p | awk -v n="$soname" '$1 == n && !found {print $NF; found = 1}')
  [ -n "$path" ] || { echo "package.sh: $soname not found (apt-get install libavformat-dev)" >&2; exit 1; }
  cp -L "$path" "$stage/lib/$soname"
  while read -r line; do
    case "$line" in
      *"=> not found"*) echo "package.sh: ldd $soname: $line" >&2; exit 1 ;;
      *"=> /"*) lib=$(echo "$line" | awk '{print $3}'); [ -e "$stage/lib/$(basename "$lib")" ] || cp -L "$lib" "$stage/lib/" ;;
    esac
  done < <(ldd "$path")
done
loader_name=$(basename "$loader")
chmod 755 "$stage/lib/$loader_name"

cat > "$stage/bootstrap" <<BOOT
#!/bin/sh
# Lambda custom runtime entry point: run fitsflow with the libraries bundled beside it.
here="\${LAMBDA_TASK_ROOT:-\$(cd "\$(dirname "\$0")" && pwd)}"
exec "\$here/lib/$loader_name" --library-path "\$here/lib" "\$here/fitsflow" lambda "\$@"
BOOT
chmod 755 "$stage/bootstrap"

mkdir -p "$(dirname "$out")"
rm -f "$out"
# Python's zipfile keeps the executable bits Lambda needs and is on every build machine.
/usr/bin/env python3 - "$stage" "$out" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for dirpath, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, stage)
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                z.writestr(info, f.read())
PY
unpacked=$(du -sb "$stage" | cut -f1)
if [ "$unpacked" -ge 250000000 ]; then
  echo "package.sh: warning: $unpacked bytes unpacked, over Lambda's 250 MB limit" >&2
fi
echo "package.sh: $out ($(du -h "$out" | cut -f1) zipped, $((unpacked / 1000000)) MB unpacked, $(ls "$stage/lib" | wc -l) libraries, loader $loader_name)" >&2
