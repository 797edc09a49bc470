#!/usr/bin/env bash
# tests/gpu/run.sh: the GPU suite (`make test-gpu`). Needs an NVIDIA GPU and
# fails loudly without one.
#   1. kf run end to end on every bundled definition with its example
#      solution (kernels/examples/<def>/solution.json): every workload PASSED,
#      traces valid FlashInfer-Trace with CUPTI timing;
#   2. the bad solutions of tests/gpu/solutions/ get their statuses: wrong
#      numbers -> INCORRECT_NUMERICAL, out-of-bounds writes -> RUNTIME_ERROR
#      (guard bytes; an illegal address, after which the next workload is
#      still evaluated), a mutated input -> RUNTIME_ERROR, a syntax error ->
#      COMPILE_ERROR with the NVRTC log, outputs written on the first call
#      only -> caught;
#   3. every other GPU test, tests/gpu/test_*.sh (e.g. the whole stack, the
#      exploit suite of tests/gpu/exploits/: docs/exploits.md).
# Environment: KF (default bin/kf), KF_GPU_DATASET (default var/dataset,
# synthesized if missing), KF_GPU_WORKLOADS (workloads per definition,
# default 3; 0 = all), KF_GPU_RUN_ARGS (extra kf run flags), KF_GPU_OUT
# (traces and logs; default a temp dir), KF_GPU_OTHER=0 (skip part 3).
# Last line: "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
KF=${KF:-bin/kf}
DATASET=${KF_GPU_DATASET:-var/dataset}
NWL=${KF_GPU_WORKLOADS:-3}
RUN_ARGS=${KF_GPU_RUN_ARGS:-}
OUTDIR=${KF_GPU_OUT:-$(mktemp -d /tmp/kf-gpu.XXXXXX)}
mkdir -p "$OUTDIR"
CACHE="$OUTDIR/cache"
pass=0
fail=0

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "=================================================================" >&2
    echo "FATAL: no NVIDIA GPU on this machine: the GPU suite cannot run." >&2
    echo "       (make test runs the CPU tests; run make test-gpu on a GPU host)" >&2
    echo "=================================================================" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
nvidia-smi -L
if [ ! -x "$KF" ]; then
    echo "FATAL: $KF not built (make bin/kf, or KF=path)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -d "$DATASET/definitions" ]; then
    "$KF" synth --out "$DATASET" --seed 1 >/dev/null || { echo "FATAL: kf synth failed"; echo "0 passed, 1 failed"; exit 1; }
fi

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# uuids of the first N workloads of a definition (all if N = 0), comma-separated
uuids() {
    python3 - "$DATASET" "$1" "$2" <<'PY'
import glob, json, sys
root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = glob.glob(f"{root}/workloads/*/{name}.jsonl")
out = []
for line in open(files[0]) if files else []:
    line = line.strip()
    if line:
        d = json.loads(line)
        out.append((d.get("workload") or d)["uuid"])
print(",".join(out if n == 0 else out[:n]))
PY
}

# check TRACES STATUS [LOG_SUBSTRING]: every trace has STATUS (and the log has the substring)
check() {
    python3 - "$@" <<'PY'
import json, sys
path, want = sys.argv[1], sys.argv[2]
needle = sys.argv[3] if len(sys.argv) > 3 else None
traces = [json.loads(l) for l in open(path) if l.strip()]
if not traces:
    sys.exit("no traces")
for t in traces:
    ev = t["evaluation"]
    st = ev["status"]
    if st != want:
        sys.exit(f"{t['workload']['uuid']}: {st}, expected {want}\n{ev.get('log', '')[:2000]}")
    if needle and needle not in ev.get("log", ""):
        sys.exit(f"{t['workload']['uuid']}: log lacks {needle!r}:\n{ev.get('log', '')[:2000]}")
    if ("correctness" in ev) != (st in ("PASSED", "INCORRECT_NUMERICAL")):
        sys.exit("correctness nullability violated")
    if ("performance" in ev) != (st == "PASSED"):
        sys.exit("performance nullability violated")
    if not ev["environment"]["hardware"].startswith("NVIDIA"):
        sys.exit("hardware: " + ev["environment"]["hardware"])
    if st == "PASSED" and not ev.get("kernelfarm", {}).get("config", {}).get("check_only"):
        p = ev["performance"]
        if not (p["latency_ms"] > 0 and p["reference_latency_ms"] > 0 and p["speedup_factor"] > 0):
            sys.exit(f"bad performance {p}")
print(f"{len(traces)} trace(s) {want}")
PY
}

# 1. example solutions, end to end
for dir in kernels/examples/*/; do
    def=$(basename "$dir")
    sol="$dir/solution.json"
    [ -f "$sol" ] || { [ -f "$dir/spec.json" ] && sol="$dir"; }
    [ -e "$sol" ] || continue
    wl=$(uuids "$def" "$NWL")
    if [ -z "$wl" ]; then bad "$def: no workloads in $DATASET"; continue; fi
    log="$OUTDIR/example-$def.log"
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "$KF" run --dataset "$DATASET" --workloads "$wl" --cache "$CACHE" --out "$OUTDIR/example-$def.jsonl" \
        $RUN_ARGS "$sol" >"$log" 2>&1
    rc=$?
    end=$(date +%s%N)
    cat "$log" | grep -v "^kf run: warning" | tail -n 12
    if [ $rc -eq 0 ] && check "$OUTDIR/example-$def.jsonl" PASSED; then
        ok "example $def ($(( (end - start) / 1000000 )) ms wall)"
    else
        bad "example $def (kf run exit $rc; log $log)"
    fi
done

# 2. bad solutions (GDN decode, two workloads each)
GDN=gdn_decode_qk4_v8_d128_k_last
wl=$(uuids $GDN 2)
expect() {   # name status [log substring]
    local name=$1 st=$2 sub=${3:-}
    local out="$OUTDIR/bad-$name.jsonl"
    # shellcheck disable=SC2086
    "$KF" run --dataset "$DATASET" --workloads "$wl" --cache "$CACHE" --out "$out" --quiet \
        --iterations 5 --warmup 1 --trials 2 "tests/gpu/solutions/$name.json" >"$OUTDIR/bad-$name.log" 2>&1
    local rc=$?
    if [ $rc -eq 1 ] && check "$out" "$st" "$sub"; then
        ok "bad solution $name -> $st"
    else
        bad "bad solution $name -> expected $st (kf run exit $rc)"
        tail -n 20 "$OUTDIR/bad-$name.log"
    fi
}
expect wrong_numerical INCORRECT_NUMERICAL "mismatched"
expect oob_guard RUNTIME_ERROR "write outside output 'output'"
expect oob_fault RUNTIME_ERROR "ILLEGAL_ADDRESS"
expect mutate_input RUNTIME_ERROR "input 'q'"
expect syntax_error COMPILE_ERROR "error"
expect first_call_only INCORRECT_NUMERICAL ""
# an endless kernel: TIMEOUT per workload, a new evaluator for the next one
t0=$(date +%s)
KF_RUN_SETUP_GRACE_S=5 "$KF" run --dataset "$DATASET" --workloads "$wl" --cache "$CACHE" --out "$OUTDIR/bad-endless.jsonl" \
    --quiet --timeout 3 tests/gpu/solutions/endless.json >"$OUTDIR/bad-endless.log" 2>&1
rc=$?
t1=$(date +%s)
if [ $rc -eq 1 ] && check "$OUTDIR/bad-endless.jsonl" TIMEOUT "deadline" && [ $((t1 - t0)) -le 20 ]; then
    ok "bad solution endless -> TIMEOUT x2 in $((t1 - t0)) s (deadline 3 s + 5 s setup each)"
else
    bad "bad solution endless -> expected TIMEOUT within 20 s (exit $rc, $((t1 - t0)) s)"
    tail -n 20 "$OUTDIR/bad-endless.log"
fi
# the first-call-only solution is caught by fresh buffers too, without timing
out="$OUTDIR/bad-first_call_only-check.jsonl"
# (one workload: the module, and its first-call flag, lives across workloads)
"$KF" run --dataset "$DATASET" --workloads "${wl%%,*}" --cache "$CACHE" --out "$out" --quiet --check-only \
    --trials 2 tests/gpu/solutions/first_call_only.json >/dev/null 2>&1
if check "$out" INCORRECT_NUMERICAL "trial 1"; then ok "first_call_only caught by trial 1 (check only)"; else bad "first_call_only in check-only mode"; fi

# 3. the other GPU tests
for t in tests/gpu/test_*.sh; do
    [ "${KF_GPU_OTHER:-1}" = 0 ] && break
    [ -x "$t" ] && [ -f "$t" ] || continue
    echo "--- $t"
    last=$("$t" 2>&1 | tee "$OUTDIR/$(basename "$t").log" | tail -n 1)
    rc=${PIPESTATUS[0]}
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        pass=$((pass + BASH_REMATCH[1]))
        fail=$((fail + BASH_REMATCH[2]))
        [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] && fail=$((fail + 1))
    else
        bad "$t (no summary line; exit $rc)"
    fi
done

echo "logs and traces: $OUTDIR"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
