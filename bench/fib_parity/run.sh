#!/usr/bin/env bash
# bench/fib_parity/run.sh: kernelfarm and flashinfer-bench (FIB) side by side
# on one GPU (issue 10, deliver 6). Prints numbers; not a test.
#
#   1. a dataset: the synthesized one (var/dataset, or BENCH_DATASET) copied
#      with a solutions/ folder holding the contest-lane solutions that both
#      run: tests/gpu/lanes/* (PyTorch DPS and returning, Triton) and
#      tests/gpu/solutions/gdn_decode_tvmffi (tvm-ffi CUDA, packed by kf pack);
#   2. FIB 0.1.2 (`flashinfer-bench run --local DS --use-isolated-runner`)
#      over those solutions and PARITY_WORKLOADS workloads of GDN decode; its
#      traces land in DS/traces/;
#   3. kf run of the same solutions on the same workloads, with FIB's
#      defaults (warmup 10, iterations 50, 3 trials, rtol = atol = 0.01) and
#      the native reference (latencies are compared, not speedups);
#   4. compare.py: per workload and solution, both statuses and
#      kernelfarm/FIB latency; the median |ratio - 1| over kernels of 50 us
#      or more (the goal: at most 3%).
#
# Needs a GPU, python3 with torch and triton, FIB's wheels installed
# (bench/fib_parity/fetch_wheels.sh here, then on the host
#  python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
#  and PYTHONPATH=/tmp/site), KF_TVM_FFI_ROOT for the tvm-ffi solution.
# Environment: KF (bin/kf), BENCH_DATASET (var/dataset), PARITY_WORKLOADS
# (12), PARITY_WORK (scratch; default a temp dir).
# Status: written in the session that built the lanes, after its device time
# ran out: not yet run.
set -u
cd "$(dirname "$0")/../.."
KF=${KF:-bin/kf}
SRC=${BENCH_DATASET:-var/dataset}
N=${PARITY_WORKLOADS:-12}
W=${PARITY_WORK:-$(mktemp -d /tmp/kf-parity.XXXXXX)}
DEF=gdn_decode_qk4_v8_d128_k_last
if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "fib_parity: FATAL: no NVIDIA GPU" >&2
    exit 1
fi
python3 -c "import flashinfer_bench" 2>/dev/null || { echo "fib_parity: FATAL: flashinfer_bench not importable (see the header)" >&2; exit 1; }
[ -d "$SRC/definitions" ] || "$KF" synth --out "$SRC" --seed 1 >/dev/null || exit 1
DS=$W/ds
rm -rf "$DS"
mkdir -p "$DS"
cp -r "$SRC/definitions" "$SRC/workloads" "$DS/"
ln -s "$(cd "$SRC" && pwd)/blob" "$DS/blob"
# the first N workloads only, in both runs
python3 - "$DS" "$DEF" "$N" <<'PY'
import glob, sys
ds, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = glob.glob(f"{ds}/workloads/*/{d}.jsonl")[0]
lines = open(f).read().splitlines()[:n]
open(f, "w").write("\n".join(lines) + "\n")
PY
sols=$DS/solutions/kernelfarm/gdn/$DEF
mkdir -p "$sols"
names=()
for d in tests/gpu/lanes/*/; do
    n=$(basename "$d")
    python3 - "$d" "$sols/$n.json" <<'PY'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
sol = json.load(open(os.path.join(d, "spec.json")))
sol["sources"] = [{"path": f, "content": open(os.path.join(d, f)).read()}
                  for f in sorted(os.listdir(d)) if f != "spec.json"]
json.dump(sol, open(out, "w"), indent=1)
PY
    names+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$sols/$n.json")")
done
if [ -n "${KF_TVM_FFI_ROOT:-}" ] && "$KF" pack tests/gpu/solutions/gdn_decode_tvmffi -o "$sols/tvmffi.json" 2>/dev/null; then
    names+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$sols/tvmffi.json")")
fi
echo "== FIB: ${names[*]}"
t0=$(date +%s)
python3 -c "from flashinfer_bench.cli.main import cli; cli()" run --local "$DS" \
    --definitions "$DEF" --solutions "${names[@]}" --use-isolated-runner --log-level WARNING \
    >"$W/fib.log" 2>&1
echo "FIB exit $? in $(( $(date +%s) - t0 )) s (log $W/fib.log)"
python3 - "$DS" "$W/config.json" <<'PY'
import json, sys
json.dump({"default": {"warmup": 10, "iterations": 50, "trials": 3, "rtol": 0.01, "atol": 0.01,
                       "required_matched_ratio": 1.0, "reference": "native"}},
          open(sys.argv[2], "w"))
PY
wl=$(python3 -c "
import glob, json
f = glob.glob('$DS/workloads/*/$DEF.jsonl')[0]
print(','.join(json.loads(l)['workload']['uuid'] for l in open(f) if l.strip()))")
for f in "$sols"/*.json; do
    n=$(basename "$f" .json)
    t0=$(date +%s)
    "$KF" run --dataset "$DS" --config "$W/config.json" --workloads "$wl" --cache "$W/cache" \
        --out "$W/kf_$n.jsonl" --quiet "$f" >"$W/kf_$n.log" 2>&1
    echo "kernelfarm $n: exit $? in $(( $(date +%s) - t0 )) s"
done
python3 bench/fib_parity/compare.py "$DS" "$W"
