#!/usr/bin/env bash
# bench/fib_parity/run.sh: kernelfarm and flashinfer-bench (FIB) side by side
# on one GPU (issue 10, deliver 6). Prints numbers; not a test.
#
#   prep  a dataset in $PARITY_WORK/ds: the synthesized one (var/dataset, or
#         BENCH_DATASET) with the GDN decode workloads cut to the first
#         PARITY_PER_BATCH of each batch size, and a solutions/ folder holding
#         the contest-lane solutions both run: tests/gpu/lanes/* (PyTorch DPS
#         and returning, Triton, CUDA with the torch binding) and
#         tests/gpu/solutions/gdn_decode_tvmffi (tvm-ffi CUDA, by kf pack);
#         then FIB itself loads it (TraceSet.from_path) and names what it read.
#         Runs without a GPU: the check that FIB accepts what we hand it.
#   fib   FIB 0.1.2: `flashinfer-bench run --local DS --use-isolated-runner`
#         with its defaults (warmup 10, iterations 50, 3 trials, rtol = atol =
#         0.01); its traces land in DS/traces/.
#   kf    kf run of the same solutions on the same workloads with the same
#         settings and the contest's reference (the definition's PyTorch code:
#         speedup_factor is against it, performance.extra keeps the native one);
#         one traces file per solution, $PARITY_WORK/kf_<name>.jsonl.
#   compare  compare.py: per workload and solution both statuses, latencies
#         and speedups, kernelfarm/FIB; per solution the medians; per lane
#         kernelfarm's statuses, mean speedups and build/evaluation wall time.
# PARITY_STAGES (default "prep fib kf compare") picks stages; the work folder
# carries their results between runs (FIB and kernelfarm in two device calls
# on the same warm GPU).
#
# Needs for fib/kf: a GPU, python3 with torch and triton, FIB's wheels
# installed (bench/fib_parity/fetch_wheels.sh here, then on the host
#  python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl,
#  PYTHONPATH=/tmp/site), KF_TVM_FFI_ROOT for the tvm-ffi solution, ninja for
# the torch binding (cpp_extension builds with it).
# Environment: KF (bin/kf), BENCH_DATASET (var/dataset), PARITY_PER_BATCH (1),
# PARITY_WORK (default .job/parity), PARITY_STAGES, PARITY_FIB_RUNNER
# (isolated, the default: --use-isolated-runner, a fresh process per solution
# and workload; persistent: FIB's default runner, the same timing code and
# builds kept in one process: minutes faster), PARITY_FIB_TIMEOUT (s, 0 =
# none; FIB writes its traces only at the end), FIB_ARGS (extra flags of
# FIB's run), PARITY_ONLY (kf stage: only the solution files whose name,
# less .json, matches this shell pattern), PYTHON (python3).
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
KF=${KF:-bin/kf}
PY=${PYTHON:-python3}
SRC=${BENCH_DATASET:-var/dataset}
PER=${PARITY_PER_BATCH:-1}
W=${PARITY_WORK:-.job/parity}
STAGES=${PARITY_STAGES:-prep fib kf compare}
DEF=gdn_decode_qk4_v8_d128_k_last
mkdir -p "$W"
W=$(cd "$W" && pwd)
DS=$W/ds
sols=$DS/solutions/kernelfarm/gdn/$DEF
die() { echo "fib_parity: FATAL: $*" >&2; exit 1; }
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
need_gpu() { nvidia-smi -L >/dev/null 2>&1 || die "no NVIDIA GPU (stage $1)"; }

if has prep; then
    [ -d "$SRC/definitions" ] || "$KF" synth --out "$SRC" --seed 1 >/dev/null || die "kf synth"
    rm -rf "$DS"
    mkdir -p "$DS" "$sols"
    cp -r "$SRC/definitions" "$SRC/workloads" "$DS/"
    ln -s "$(cd "$SRC" && pwd)/blob" "$DS/blob"
    # the other definitions out (FIB runs every definition it finds a solution
    # for; none here) and GDN decode cut to PER workloads per batch size
    "$PY" - "$DS" "$DEF" "$PER" <<'PY' || die "cutting the workloads"
import glob, json, os, sys
ds, d, per = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = glob.glob(f"{ds}/workloads/*/{d}.jsonl")[0]
keep, seen = [], {}
for line in open(f):
    if not line.strip():
        continue
    b = json.loads(line)["workload"]["axes"].get("batch_size")
    if seen.get(b, 0) < per:
        seen[b] = seen.get(b, 0) + 1
        keep.append(line.rstrip("\n"))
open(f, "w").write("\n".join(keep) + "\n")
print(f"prep: {len(keep)} workloads of {d}, batch sizes {sorted(seen)}")
PY
    for d in tests/gpu/lanes/*/; do
        "$KF" pack "$d" -o "$sols/$(basename "$d").json" || die "kf pack of $d"
    done
    "$KF" pack tests/gpu/solutions/gdn_decode_tvmffi -o "$sols/gdn_decode_tvmffi.json" \
        || die "kf pack of the tvm-ffi directory"
    # FIB reads what we wrote: definitions, workloads, solutions
    "$PY" - "$DS" "$DEF" <<'PY' || die "flashinfer_bench cannot load $DS (see above)"
import sys
from flashinfer_bench.data import TraceSet
ts = TraceSet.from_path(sys.argv[1])
d = sys.argv[2]
sols = ts.solutions.get(d, [])
print(f"prep: FIB loads {len(ts.definitions)} definitions, {len(ts.workloads.get(d, []))} "
      f"workloads of {d}, solutions "
      + ", ".join(f"{s.name} ({s.spec.language.value}"
                  f"{'/' + s.spec.binding.value if getattr(s.spec, 'binding', None) else ''})"
                  for s in sols))
assert len(sols) >= 5, "expected 5 solutions"
PY
fi
[ -d "$sols" ] || die "no prepared dataset in $DS: run the prep stage"
names=()
for f in "$sols"/*.json; do
    names+=("$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$f")")
done

if has fib; then
    need_gpu fib
    "$PY" -c "import flashinfer_bench" 2>/dev/null || die "flashinfer_bench not importable (see the header)"
    rm -rf "$DS/traces"
    runner=()
    [ "${PARITY_FIB_RUNNER:-isolated}" = persistent ] || runner=(--use-isolated-runner)
    echo "== FIB (${PARITY_FIB_RUNNER:-isolated} runner): ${names[*]}"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    timeout -k 5 "${PARITY_FIB_TIMEOUT:-0}" \
        "$PY" -c "from flashinfer_bench.cli.main import cli; cli()" run --local "$DS" \
        --definitions "$DEF" --solutions "${names[@]}" "${runner[@]}" \
        --log-level INFO ${FIB_ARGS:-} >"$W/fib.log" 2>&1
    rc=$?
    echo "FIB exit $rc in $(( $(date +%s) - t0 )) s (log $W/fib.log)"
    [ $rc -eq 0 ] || tail -n 30 "$W/fib.log"
fi

if has kf; then
    need_gpu kf
    "$PY" - "$W/config.json" <<'PY'
import json, sys
json.dump({"default": {"warmup": 10, "iterations": 50, "trials": 3, "rtol": 0.01, "atol": 0.01,
                       "required_matched_ratio": 1.0, "reference": "pytorch"}},
          open(sys.argv[1], "w"))
PY
    wl=$("$PY" -c "
import glob, json
f = glob.glob('$DS/workloads/*/$DEF.jsonl')[0]
print(','.join(json.loads(l)['workload']['uuid'] for l in open(f) if l.strip()))")
    for f in "$sols"/*.json; do
        n=$(basename "$f" .json)
        # shellcheck disable=SC2254
        case "$n" in ${PARITY_ONLY:-*}) ;; *) continue ;; esac
        t0=$(date +%s%N)
        "$KF" run --dataset "$DS" --config "$W/config.json" --workloads "$wl" --cache "$W/cache" \
            --out "$W/kf_$n.jsonl" "$f" >"$W/kf_$n.log" 2>&1
        rc=$?
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "$n $ms" >>"$W/kf_wall.txt"
        echo "kernelfarm $n: exit $rc in $ms ms"
        [ $rc -eq 0 ] || tail -n 15 "$W/kf_$n.log"
    done
fi

if has compare; then
    "$PY" bench/fib_parity/compare.py "$DS" "$W"
fi
