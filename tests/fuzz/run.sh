#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS [TARGET...]: run each libFuzzer target in
# BUILD/fuzz/ for SECONDS seconds over its corpus (seeds in tests/fuzz/corpus/
# <target>/, read-only; new inputs go to BUILD/fuzz-corpus/<target>/), then
# print the executions per target and in total. A crash, leak or sanitizer
# report fails the target; its input is kept in BUILD/fuzz-crashes/.
# Ends with "N passed, N failed".
set -u
build=${1:-build-fuzz}
secs=${2:-60}
shift 2 || true
cd "$(dirname "$0")/../.." || exit 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
total=0; pass=0; fail=0
mkdir -p "$build/fuzz-crashes"
for t in "${targets[@]}"; do
    bin="$build/fuzz/$t"
    seeds="tests/fuzz/corpus/${t#fuzz_}"
    work="$build/fuzz-corpus/${t#fuzz_}"
    mkdir -p "$work" "$seeds"
    log="$build/fuzz-$t.log"
    "$bin" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
        -timeout=10 -artifact_prefix="$build/fuzz-crashes/$t-" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    n=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
    n=${n:-0}
    total=$((total + n))
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        printf 'ok - %-16s %12d executions in %s s\n' "$t" "$n" "$secs"
    else
        fail=$((fail + 1))
        printf 'not ok - %-16s rc=%d after %d executions (log %s)\n' "$t" "$rc" "$n" "$log"
        grep -E 'ERROR|SUMMARY|artifact' "$log" | head -n 5
    fi
done
echo "total executions: $total"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
