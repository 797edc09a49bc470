#!/usr/bin/env bash
# tests/run.sh BUILD [unit|integration|browser]: run the CPU test suites and sum
# their "N passed, N failed" lines. Every test program prints such a line
# last; a program that exits non-zero without one counts as one failure.
# Lines "NOT RUN: ..." (tests whose data is absent here, e.g. the contest's
# shared files) are shown, never hidden. Ends with the total
# "N passed, N failed"; exits 1 if anything failed.
set -u
build=${1:-build}
only=${2:-all}
cd "$(dirname "$0")/.." || exit 2
total_pass=0
total_fail=0
failed_progs=()

run_one() {   # name, command...
    local name=$1; shift
    local log out p f
    log=$(mktemp)
    echo "== $name"
    "$@" >"$log" 2>&1
    local rc=$?
    out=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$out" ]; then
        p=${out%% passed*}; f=${out#*, }; f=${f%% failed*}
    else
        p=0; f=1
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        failed_progs+=("$name")
        cat "$log"
    else
        grep -E '^(not ok|FAIL|NOT RUN)' "$log" || true
        echo "   $p passed"
    fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    rm -f "$log"
}

if [ "$only" = all ] || [ "$only" = unit ]; then
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "unit/$(basename "$t")" env CK_DEFAULT_TIMEOUT=60 "$t"
    done
fi
if [ "$only" = all ] || [ "$only" = integration ]; then
    for t in tests/integration/test_*; do
        [ -x "$t" ] || continue
        run_one "integration/$(basename "$t")" env KF_BUILD="$build" "$t"
    done
fi
if [ "$only" = browser ]; then
    for t in tests/browser/test_*; do
        [ -x "$t" ] || continue
        run_one "browser/$(basename "$t")" env KF_BUILD="$build" "$t"
    done
fi

if [ ${#failed_progs[@]} -gt 0 ]; then
    echo "failing: ${failed_progs[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
