#!/usr/bin/env bash
# One harness for a while, for `make -C fuzz run` (which starts several at once, one per core):
# its libFuzzer summary goes to OUT/run-NAME.log, and the exit status is the harness's.
# Usage: run_one.sh OUT NAME SECONDS MAX_LEN [SEED]
set -uo pipefail
out=$1 h=$2 seconds=$3 max_len=$4 seed=${5:-}
cd "$(dirname "$0")"
mkdir -p "$out/corpus/$h" "$out/artifacts/$h" "corpus/$h"
dict=()
[ -f "$h.dict" ] && dict=(-dict="$h.dict")
seed_arg=()
[ -n "$seed" ] && seed_arg=(-seed="$seed")
{
    echo "== $h for $seconds s"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        "$out/$h" -max_total_time="$seconds" "${seed_arg[@]}" -timeout=20 -rss_limit_mb=3072 \
        -print_final_stats=1 -max_len="$max_len" -artifact_prefix="$out/artifacts/$h/" "${dict[@]}" \
        "$out/corpus/$h" "corpus/$h" 2>&1 |
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|INFO: Seed|artifact_prefix|Test unit written)'
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || echo "$h: CRASH (reproducer in $out/artifacts/$h/)"
    exit "$rc"
} > "$out/run-$h.log" 2>&1
