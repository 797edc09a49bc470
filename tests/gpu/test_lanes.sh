#!/usr/bin/env bash
# tests/gpu/test_lanes.sh: the contest lanes end to end with kf run (part 3 of
# tests/gpu/run.sh): each solution folder of tests/gpu/lanes/ (spec.json plus
# its sources) is packed with `kf pack`, evaluated on three GDN
# decode workloads, and must PASS every one in the lane it names.
#   gdn_decode_torch       python, plain PyTorch, destination-passing style
#   gdn_decode_torch_ret   python, returning its outputs (dps false)
#   gdn_decode_triton      triton
#   gdn_decode_torchcuda   python, CUDA with the torch binding (cpp_extension);
#                          then run again: it must reuse its cached build
# Environment: KF (bin/kf), KF_GPU_DATASET (var/dataset), KF_GPU_OUT.
# Last line: "N passed, N failed". Needs a GPU, python3 with torch and triton;
# gdn_decode_torchcuda also nvcc ($CUDA_HOME) and ninja for cpp_extension.
set -u
cd "$(dirname "$0")/../.." || exit 1
KF=${KF:-bin/kf}
DATASET=${KF_GPU_DATASET:-var/dataset}
OUT=${KF_GPU_OUT:-$(mktemp -d /tmp/kf-lanes.XXXXXX)}/lanes
# the suite's cache when run.sh runs us (test_stack.sh reuses the builds:
# a cpp_extension build costs a minute)
CACHE=${KF_GPU_OUT:+$KF_GPU_OUT/cache}
CACHE=${CACHE:-$OUT/cache}
mkdir -p "$OUT"
pass=0
fail=0
if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "FATAL: no NVIDIA GPU: the lane tests cannot run" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
wl=$(python3 - "$DATASET" <<'PY'
import glob, json, sys
f = glob.glob(f"{sys.argv[1]}/workloads/*/gdn_decode_qk4_v8_d128_k_last.jsonl")[0]
print(",".join(json.loads(l)["workload"]["uuid"] for l in list(open(f))[:3]))
PY
)
for dir in tests/gpu/lanes/*/; do
    name=$(basename "$dir")
    if ! "$KF" pack "$dir" -o "$OUT/$name.json" 2>"$OUT/$name.pack.log"; then
        fail=$((fail + 1)); echo "FAIL lane $name (kf pack: $(tail -n 1 "$OUT/$name.pack.log"))"
        continue
    fi
    t0=$(date +%s%N)
    "$KF" run --dataset "$DATASET" --workloads "$wl" --cache "$CACHE" --out "$OUT/$name.jsonl" \
        "$OUT/$name.json" >"$OUT/$name.log" 2>&1
    rc=$?
    t1=$(date +%s%N)
    tail -n 5 "$OUT/$name.log"
    if [ $rc -eq 0 ] && python3 - "$OUT/$name.jsonl" <<'PY'
import json, sys
ts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(ts) == 3, f"{len(ts)} traces"
for t in ts:
    ev = t["evaluation"]
    assert ev["status"] == "PASSED", ev["status"] + ": " + ev.get("log", "")[:1500]
    assert ev["kernelfarm"]["lane"] == "python", ev["kernelfarm"]["lane"]
    assert ev["performance"]["latency_ms"] > 0
print("lane python, timer", ts[0]["evaluation"]["performance"]["extra"]["timer"],
      "latency_ms", [round(t["evaluation"]["performance"]["latency_ms"], 4) for t in ts])
PY
    then
        pass=$((pass + 1)); echo "ok   lane $name ($(( (t1 - t0) / 1000000 )) ms wall)"
    else
        fail=$((fail + 1)); echo "FAIL lane $name (kf run exit $rc; log $OUT/$name.log)"
        grep -A12 -- "^--- " "$OUT/$name.log" | head -40
    fi
done

# The torch binding's build is cached per solution: a second kf run of it
# (a new runner process) must load the same shared object, not rebuild it.
so_list() { find "$CACHE/python" -name 'kf_*.so' -printf '%p %T@\n' 2>/dev/null | sort; }
before=$(so_list)
if [ -f "$OUT/gdn_decode_torchcuda.json" ] && [ -n "$before" ]; then
    t0=$(date +%s%N)
    "$KF" run --dataset "$DATASET" --workloads "${wl%%,*}" --cache "$CACHE" \
        --out "$OUT/torchcuda-again.jsonl" "$OUT/gdn_decode_torchcuda.json" \
        >"$OUT/torchcuda-again.log" 2>&1
    rc=$?
    t1=$(date +%s%N)
    after=$(so_list)
    if [ $rc -eq 0 ] && [ "$before" = "$after" ]; then
        pass=$((pass + 1))
        echo "ok   torch binding: second kf run reuses the cached build ($(( (t1 - t0) / 1000000 )) ms wall)"
    else
        fail=$((fail + 1))
        echo "FAIL torch binding: second kf run rebuilt or failed (exit $rc; log $OUT/torchcuda-again.log)"
        printf 'before: %s\nafter:  %s\n' "$before" "$after"
    fi
else
    fail=$((fail + 1))
    echo "FAIL torch binding: no cached build under $CACHE/python after its kf run"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
