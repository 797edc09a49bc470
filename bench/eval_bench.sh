#!/usr/bin/env bash
# bench/eval_bench.sh: evaluation benchmark of `kf run` on a GPU host (prints
# numbers; not a test). Run from anywhere on the GPU host; tests/gpu/full.sh
# runs it as its phase D. Needs an NVIDIA GPU and fails loudly without one.
#
#   (a) evaluation wall time per definition (the example solution over every
#       workload of its definition, deploy/eval-contest.json, cold cache) and
#       the overhead per workload = (wall - GPU time in solution and
#       reference runs) / workloads, the GPU time read from the traces:
#         solution  = n * mean_ms                      (the timed runs, exact)
#                   + trials * (1 + warmup_runs) * latency_ms
#                     (one correctness call + the warm-up calls per trial;
#                      warmup_runs is the last trial's count, assumed for all)
#         reference = trials * reference_latency_ms    (its correctness call)
#                   + trials * (warmup + iterations) * reference_latency_ms
#                     when reference_latency_cached is false (it was timed)
#       Everything else is overhead: process and CUDA start, NVRTC compiles,
#       dataset and safetensors loads, input generation, host compares, guard
#       checks, the L2 flushes before every timed run (shown apart, estimated
#       at l2_flush_bytes / 3.0 TB/s each), clock polling, trace writing.
#       Non-PASSED workloads count as all overhead. Then the judge's own
#       breakdown of each workload's wall time (evaluation.kernelfarm.wall_ms:
#       bind, runner start, inputs, reference, launch, checked call, compare,
#       timed calls, trace), mean ms per workload.
#   (b) every reference kernel (kernels/reference/<def>, evaluated as a
#       solution on one workload, see BENCH_WL_INDEX): kernelfarm's latency (CUPTI, contest
#       config) against Nsight Compute's gpu__time_duration.sum summed over
#       the kernels of one call (ncu --clock-control none, default cache
#       control = caches flushed before each kernel, like kernelfarm's L2
#       flush; kf run in-process, CUDA-event timer, check-only, one trial).
#       The first kernel is also shown timed under the other L2 flushes
#       (KF_L2_FLUSH=read, write; the default is discard), not judged.
#       kernelfarm's window runs from the first kernel's start to the last
#       one's end, so launch gaps between the kernels of a multi-kernel call
#       (and memsets) count there and not in ncu's sum.
#   (c) the spread of BENCH_REPEATS (5) repeated evaluations (separate kf run
#       processes, one shared cache) of each example on one workload:
#       min/max/mean/stdev of the reported latency_ms.
#
# Environment: KF (default .gpuhost/bin/kf when packed, else bin/kf),
# BENCH_DATASET (var/dataset; synthesized if missing), BENCH_WORK (scratch;
# default a temp dir), BENCH_FROM (a dir with walls.tsv and
# traces_<def>.jsonl from full.sh's phase B: part (a) reuses them instead of
# evaluating again), BENCH_PARTS ("a b c"), BENCH_REPEATS (5),
# BENCH_WL_INDEX (workload index for (b) and (c); default the middle one of
# each definition, for (b) with BENCH_FROM the one of the largest reference
# latency), NCU (path of ncu; default PATH, then /usr/local/cuda/bin,
# then /opt/nvidia/nsight-compute/*/).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
if [ -z "${KF:-}" ] && [ -f .gpuhost/env.sh ]; then
    # shellcheck disable=SC1091
    . .gpuhost/env.sh
    KF=$ROOT/.gpuhost/bin/kf
fi
KF=${KF:-$ROOT/bin/kf}
DATASET=${BENCH_DATASET:-var/dataset}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/kf-bench.XXXXXX)}
FROM=${BENCH_FROM:-}
PARTS=${BENCH_PARTS:-a b c}
REPEATS=${BENCH_REPEATS:-5}
CONFIG=deploy/eval-contest.json
mkdir -p "$WORK"

fatal() {
    echo "=================================================================" >&2
    echo "FATAL: $*" >&2
    echo "=================================================================" >&2
    exit 1
}

if ! command -v nvidia-smi >/dev/null 2>&1; then
    fatal "no NVIDIA GPU: nvidia-smi not found (eval_bench.sh runs on a GPU host)"
fi
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
[ -n "$GPU" ] || fatal "no NVIDIA GPU: nvidia-smi lists none"
[ -x "$KF" ] || fatal "$KF not built (make bin/kf, or KF=path; on a GPU host tests/gpu/prepare.sh)"
if [ ! -d "$DATASET/definitions" ]; then
    "$KF" synth --out "$DATASET" --seed 1 >/dev/null || fatal "kf synth failed"
fi
echo "eval_bench: GPU: $GPU; kf: $KF; dataset: $DATASET; scratch: $WORK"
echo "eval_bench: $(date -u +%FT%TZ), config $CONFIG"

DEFS=()
for d in kernels/examples/*/; do
    [ -f "$d/solution.json" ] && DEFS+=("$(basename "$d")")
done

# uuid of the workload BENCH_WL_INDEX (default: the middle one) of definition $1
pick() {
    python3 - "$DATASET" "$1" "${BENCH_WL_INDEX:-}" <<'PY'
import glob, json, sys
root, name, idx = sys.argv[1], sys.argv[2], sys.argv[3]
files = glob.glob(f"{root}/workloads/*/{name}.jsonl")
ws = [json.loads(l) for l in open(files[0]) if l.strip()] if files else []
if not ws:
    sys.exit(f"no workloads of {name} in {root}")
w = ws[int(idx) if idx else len(ws) // 2]
print((w.get("workload") or w)["uuid"])
PY
}

# uuid for part (b) of definition $1: with BENCH_FROM traces, the workload of
# the largest reference_latency_ms (so that the 3% target at >= 10 us is
# judged); else pick()'s
pick_b() {
    local f="$FROM/traces_$1.jsonl" u=""
    if [ -z "${BENCH_WL_INDEX:-}" ] && [ -n "$FROM" ] && [ -s "$f" ]; then
        u=$(python3 - "$f" <<'PY'
import json, sys
best = (-1.0, "")
for l in open(sys.argv[1]):
    if l.strip():
        t = json.loads(l)
        p = t["evaluation"].get("performance") or {}
        best = max(best, (p.get("reference_latency_ms") or 0.0, t["workload"]["uuid"]))
print(best[1] if best[0] > 0 else "")
PY
)
    fi
    if [ -n "$u" ]; then echo "$u"; else pick "$1"; fi
}

secs() { awk -v ns="$1" 'BEGIN {printf "%.3f", ns / 1e9}'; }

# ---------------------------------------------------------------- (a)
part_a() {
    echo
    echo "== (a) evaluation wall time per definition, overhead per workload"
    local src="$FROM" def t0 t1 r
    if [ -z "$src" ] || [ ! -f "$src/walls.tsv" ]; then
        src="$WORK/a"
        mkdir -p "$src"
        : >"$src/walls.tsv"
        for def in "${DEFS[@]}"; do
            t0=$(date +%s%N)
            "$KF" run --dataset "$DATASET" --config "$CONFIG" --kernels kernels --cache "$src/cache" \
                --out "$src/traces_$def.jsonl" --quiet "kernels/examples/$def/solution.json" \
                >"$src/run_$def.log" 2>&1
            r=$?
            t1=$(date +%s%N)
            printf "%s\t%d\t%s\n" "$def" "$r" "$(secs $((t1 - t0)))" >>"$src/walls.tsv"
            echo "  ... $def: exit $r, $(secs $((t1 - t0))) s"
        done
    else
        echo "(from $src: full.sh phase B, cold cache)"
    fi
    python3 - "$src" <<'PY'
import json, os, sys
src = sys.argv[1]
FLUSH_BPS = 3.0e12
print(f"{'definition':<52} {'wl':>4} {'pass':>4} {'wall_s':>8} {'sol_gpu_s':>9} {'ref_gpu_s':>9} "
      f"{'flush_s':>8} {'ovh_ms/wl':>9} {'ovh-flush':>9}")
tot = [0, 0, 0.0, 0.0, 0.0, 0.0]
for line in open(f"{src}/walls.tsv"):
    if not line.strip():
        continue
    name, rc, wall = line.rstrip("\n").split("\t")
    wall = float(wall)
    p = f"{src}/traces_{name}.jsonl"
    ts = [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
    sol = ref = flush = 0.0
    npass = 0
    for t in ts:
        ev = t["evaluation"]
        if ev["status"] != "PASSED" or "performance" not in ev:
            continue
        npass += 1
        pf = ev["performance"]
        x = pf.get("extra", {})
        cfg = ev.get("kernelfarm", {}).get("config", {})
        trials, iters, warm = cfg.get("trials", 1), cfg.get("iterations", 0), cfg.get("warmup", 0)
        lat, rlat = pf["latency_ms"], pf["reference_latency_ms"]
        sol += x.get("n", trials * iters) * x.get("mean_ms", lat) + trials * (1 + x.get("warmup_runs", warm)) * lat
        ref += trials * rlat
        nflush = trials * iters
        if not x.get("reference_latency_cached", True):
            ref += trials * (warm + iters) * rlat
            nflush += trials * iters
        flush += nflush * x.get("l2_flush_bytes", 0) / FLUSH_BPS * 1e3
    sol /= 1e3; ref /= 1e3; flush /= 1e3
    n = len(ts)
    ovh = (wall - sol - ref) / n * 1e3 if n else float("nan")
    ovh2 = (wall - sol - ref - flush) / n * 1e3 if n else float("nan")
    flag = "" if rc == "0" else f"  (kf run exit {rc})"
    print(f"{name[:52]:<52} {n:>4} {npass:>4} {wall:>8.2f} {sol:>9.3f} {ref:>9.3f} {flush:>8.3f} {ovh:>9.1f} {ovh2:>9.1f}{flag}")
    for i, v in enumerate((n, npass, wall, sol, ref, flush)):
        tot[i] += v
n = tot[0]
if n:
    print(f"{'all':<52} {n:>4} {tot[1]:>4} {tot[2]:>8.2f} {tot[3]:>9.3f} {tot[4]:>9.3f} {tot[5]:>8.3f} "
          f"{(tot[2] - tot[3] - tot[4]) / n * 1e3:>9.1f} {(tot[2] - tot[3] - tot[4] - tot[5]) / n * 1e3:>9.1f}")
print("ovh_ms/wl = (wall - sol_gpu - ref_gpu) / workloads; ovh-flush also leaves out the estimated L2 flushes")
# Where each workload's wall time goes, as the judge measured it
# (evaluation.kernelfarm.wall_ms): mean ms per workload and phase.
phases = ["bind", "runner_start", "inputs", "reference", "launch", "checked_call", "compare",
          "timed_calls", "trace"]
short = ["bind", "runner", "inputs", "ref", "launch", "checked", "compare", "timed", "trace"]
print()
print(f"{'definition (judge phases, ms per workload)':<44} " + " ".join(f"{h:>8}" for h in short) + f" {'sum':>8}")
for line in open(f"{src}/walls.tsv"):
    if not line.strip():
        continue
    name = line.split("\t")[0]
    p = f"{src}/traces_{name}.jsonl"
    ts = [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
    rows = [t["evaluation"].get("kernelfarm", {}).get("wall_ms") for t in ts]
    rows = [r for r in rows if isinstance(r, dict)]
    if not rows:
        print(f"{name[:44]:<44} (no wall_ms in the traces)")
        continue
    m = [sum(r.get(k, 0) for r in rows) / len(rows) for k in phases]
    print(f"{name[:44]:<44} " + " ".join(f"{v:>8.1f}" for v in m) + f" {sum(m):>8.1f}")
PY
}

# ---------------------------------------------------------------- (b)
find_ncu() {
    if [ -n "${NCU:-}" ]; then echo "$NCU"; return; fi
    command -v ncu 2>/dev/null && return
    [ -x /usr/local/cuda/bin/ncu ] && { echo /usr/local/cuda/bin/ncu; return; }
    local c
    for c in /opt/nvidia/nsight-compute/*/ncu; do [ -x "$c" ] && { echo "$c"; return; }; done
    return 1
}

# LD_LIBRARY_PATH without .gpuhost/lib: for the host's own tools (ncu), which
# must not load the packed Debian libraries; kf itself keeps the full path
host_ldpath() {
    printf "%s" "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | grep -v '/\.gpuhost/lib$' | paste -sd: -
}

# ncu_run NCU DEF UUID [NCU_OPTIONS...]: one call of reference DEF under Nsight Compute.
# A fresh cache: cached reference outputs would skip the reference run.
ncu_run() {
    local ncu=$1 def=$2 wl=$3 dir="$WORK/b"
    shift 3
    rm -rf "$dir/cache-ncu-$def"
    # ncu itself without .gpuhost/lib; kf, started through env, with it
    local ldp_host ldp_kf=${LD_LIBRARY_PATH:-}
    ldp_host=$(host_ldpath)
    KF_RUN_INPROCESS=1 KF_TIMER=events LD_LIBRARY_PATH="$ldp_host" \
        "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --log-file "$dir/ncu_$def.csv" "$@" \
        env LD_LIBRARY_PATH="$ldp_kf" "$KF" run --dataset "$DATASET" --config "$CONFIG" \
        --kernels kernels --cache "$dir/cache-ncu-$def" --workloads "$wl" --check-only --trials 1 \
        --quiet "kernels/reference/$def" >"$dir/ncu_$def.log" 2>&1 ||
        echo "  ... ncu run of $def exited non-zero (see $dir/ncu_$def.log)"
}

# calib_b NCU: bench/timer_offset's calibration kernels (empty, spin, cold
# read) timed by kernelfarm's timer and by ncu: their difference is the two
# tools' timestamp methods, not the kernels. Writes $WORK/b/calib.tsv
# (kernel kf_us ncu_us offset_us) and prints it.
calib_b() {
    local ncu=$1 dir="$WORK/b" cal
    cal=$(command -v timer_offset 2>/dev/null || true)
    [ -n "$cal" ] || { [ -x "$ROOT/build/bench/timer_offset" ] && cal=$ROOT/build/bench/timer_offset; }
    if [ -z "$cal" ]; then
        echo "  (no timer_offset program: make bench, or tests/gpu/prepare.sh packs it; no calibration)"
        return 0
    fi
    "$cal" >"$dir/calib_kf.txt" 2>"$dir/calib_kf.log" || { echo "  timer_offset failed: $(tail -n 2 "$dir/calib_kf.log")"; return 1; }
    local ldp_host ldp_kf=${LD_LIBRARY_PATH:-}
    ldp_host=$(host_ldpath)
    KF_TIMER=events LD_LIBRARY_PATH="$ldp_host" "$ncu" --clock-control none --metrics gpu__time_duration.sum \
        --kernel-name regex:kf_cal_ --csv --log-file "$dir/calib_ncu.csv" \
        env LD_LIBRARY_PATH="$ldp_kf" "$cal" --warmup 2 --iters 9 >"$dir/calib_ncu.log" 2>&1 ||
        echo "  ... ncu run of timer_offset exited non-zero (see $dir/calib_ncu.log)"
    python3 - "$dir" <<'PY'
import csv, statistics, sys
d = sys.argv[1]
unit = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "ns": 1e-3, "us": 1.0, "ms": 1e3}
kf = {}
for l in open(f"{d}/calib_kf.txt"):
    if l.strip() and not l.startswith("#"):
        k, g, b, us = l.split("\t")
        kf[k] = float(us)
rows = list(csv.reader(l for l in open(f"{d}/calib_ncu.csv") if l.startswith('"')))
nc = {}
if rows:
    h = rows[0]
    ki, mi, ui, vi = (h.index("Kernel Name"), h.index("Metric Name"), h.index("Metric Unit"), h.index("Metric Value"))
    for r in rows[1:]:
        if r[mi] == "gpu__time_duration.sum":
            nc.setdefault(r[ki].split("(")[0].strip(), []).append(float(r[vi].replace(",", "")) * unit.get(r[ui], float("nan")))
print(f"  {'calibration kernel':<16} {'kf_us':>9} {'ncu_us':>9} {'ncu-kf_us':>9}")
with open(f"{d}/calib.tsv", "w") as f:
    for k, v in kf.items():
        n = statistics.median(nc[k]) if k in nc else float("nan")
        print(f"  {k:<16} {v:>9.2f} {n:>9.2f} {n - v:>9.2f}")
        f.write(f"{k}\t{v}\t{n}\t{n - v}\n")
PY
}

part_b() {
    echo
    echo "== (b) reference kernels: kernelfarm latency vs Nsight Compute gpu__time_duration.sum (one call)"
    local ncu def wl kre dir="$WORK/b"
    mkdir -p "$dir"
    cat >"$dir/row_b.py" <<'PY'
import csv, json, os, sys
d, pick, mode = sys.argv[1], sys.argv[2], sys.argv[3]
unit = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3,
        "ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
bad = 0
if mode == "header":
    print(f"{'definition':<44} {'wl':<8} {'kf_ref_ms':>10} {'kf_sol_ms':>10} {'ncu_ms':>10} {'diff%':>7} {'calls':>5}  verdict  kernels")
    sys.exit(0)
if mode == "footer":
    print("kf_ref_ms: performance.reference_latency_ms; kf_sol_ms: the same kernels timed as the solution;")
    print("ncu_ms: sum of gpu__time_duration.sum over the spec's kernels / calls; diff% = kf_ref vs ncu (the call: not judged,")
    print("ncu flushes L2 before every kernel); per kernel: performance.extra.kernel_ms vs ncu, judged (3%) for kernels")
    print("of >= 10 us that start their call, against ncu less its fixed offset (ncu - kf on bench/timer_offset's")
    print("calibration kernels: empty, FMA spin, cold 64 MiB read; the median)")
    sys.exit(0)
# ncu's fixed offset: the median over the calibration kernels of ncu - kf (calib_b)
try:
    import statistics
    offs = [float(l.split("\t")[3]) for l in open(f"{d}/calib.tsv") if l.strip()]
    offs = [o for o in offs if o == o]
    off = statistics.median(offs) if offs else float("nan")
except (OSError, ValueError, IndexError):
    off = float("nan")
for line in open(pick):
    name, wl = line.split()
    spec = json.load(open(f"kernels/reference/{name}/spec.json"))
    spec = spec.get("spec", spec)
    names = [s.get("kernel") for s in spec["launch"] if s.get("kernel")]
    kf_ref = kf_sol = float("nan")
    kernel_ms = []
    try:
        t = json.loads(open(f"{d}/kf_{name}.jsonl").readline())
        p = t["evaluation"].get("performance") or {}
        kf_ref, kf_sol = p.get("reference_latency_ms", kf_ref), p.get("latency_ms", kf_sol)
        kernel_ms = (p.get("extra") or {}).get("kernel_ms") or []
        if t["evaluation"]["status"] != "PASSED":
            print(f"  ({name}: kf run status {t['evaluation']['status']})")
    except (OSError, ValueError, KeyError, IndexError):
        pass
    rows = []
    try:
        lines = [l for l in open(f"{d}/ncu_{name}.csv") if l.startswith('"')]
        rows = list(csv.reader(lines))
    except OSError:
        pass
    ncu = float("nan")
    calls = 0
    per = {}
    if rows:
        h = rows[0]
        ki, mi, ui, vi = (h.index("Kernel Name"), h.index("Metric Name"), h.index("Metric Unit"),
                          h.index("Metric Value"))
        tot = 0.0
        for r in rows[1:]:
            k = r[ki].split("(")[0].strip()
            if r[mi] != "gpu__time_duration.sum" or k not in names:
                continue
            v = float(r[vi].replace(",", "")) * unit.get(r[ui], float("nan"))
            tot += v
            per[k] = per.get(k, 0.0) + v
            calls += k == names[0]
        if calls:
            ncu = tot / calls
            per = {k: v / calls for k, v in per.items()}
    # The whole call: informational. Nsight Compute (--cache-control all)
    # flushes L2 before EVERY kernel, so in a plan of several kernels the
    # later ones run cold under ncu but find the previous kernel's output in
    # L2 in a real call (and in kernelfarm's timing).
    if ncu != ncu:
        verdict = "NO-NCU"
        bad += 1
    elif kf_ref != kf_ref:
        verdict = "NO-KF"
        bad += 1
    else:
        verdict = "call"
    diff = 100 * (kf_ref - ncu) / ncu if ncu == ncu and ncu > 0 else float("nan")
    ks = " ".join(f"{k}={v * 1e3:.1f}us" for k, v in per.items())
    print(f"{name[:44]:<44} {wl[:8]:<8} {kf_ref:>10.4f} {kf_sol:>10.4f} {ncu:>10.4f} {diff:>7.2f} {calls:>5}  {verdict:<7}  {ks}")
    # Each kernel: kernelfarm's CUPTI median (performance.extra.kernel_ms, in
    # launch order) against ncu's. Judged (3%) for kernels of 10 us or more
    # that start their call (cold in both tools); later kernels are shown.
    if ncu == ncu and len(kernel_ms) == len(names):
        kf_by = {}
        for pos, k in enumerate(names):
            kf_by[k] = kf_by.get(k, 0.0) + kernel_ms[pos]
        for k in dict.fromkeys(names):
            kv, nv = kf_by[k], per.get(k, float("nan"))
            kd = 100 * (kv - nv) / nv if nv == nv and nv > 0 else float("nan")
            if nv != nv:
                kverdict = "NO-NCU"
                bad += 1
            elif nv < 0.010:
                kverdict = "<10us"
            elif k != names[0]:
                kverdict = "warm-in-call (not judged)"
            elif off == off:
                # judged against ncu less its fixed timestamp offset, measured on
                # the calibration kernels (calib_b); the raw difference is shown too
                cd = 100 * (kv - (nv - off * 1e-3)) / (nv - off * 1e-3)
                ok = abs(cd) <= 3.0
                kverdict = (f"raw {'ok<=3%' if abs(kd) <= 3.0 else 'OFF>3%'}; less ncu's offset "
                            f"{off:.2f} us: {cd:+.2f}% {'ok<=3%' if ok else 'OFF>3%'}")
                bad += not ok
            else:
                ok = abs(kd) <= 3.0
                kverdict = ("ok<=3%" if ok else "OFF>3%") + " (raw: no calibration)"
                bad += not ok
            print(f"    kernel {k[:36]:<36} kf {kv * 1e3:>9.1f} us  ncu {nv * 1e3:>9.1f} us  {kd:>7.2f}%  {kverdict}")
        # the same first kernel under the other L2 flushes (KF_L2_FLUSH; shown, not judged)
        for mode in ("read", "write"):
            try:
                t = json.loads(open(f"{d}/kf_{name}.{mode}.jsonl").readline())
                km = ((t["evaluation"].get("performance") or {}).get("extra") or {}).get("kernel_ms") or []
            except (OSError, ValueError, KeyError):
                km = []
            nv = per.get(names[0], float("nan"))
            if km and nv == nv and nv > 0:
                print(f"    flush={mode:<7} {names[0][:29]:<29} kf {km[0] * 1e3:>9.1f} us  ncu {nv * 1e3:>9.1f} us  "
                      f"{100 * (km[0] - nv) / nv:>7.2f}%  (KF_L2_FLUSH={mode}, not judged)")
    elif ncu == ncu:
        print(f"    (no per-kernel times in the trace: {len(kernel_ms)} for {len(names)} launches)")
        bad += 1
sys.exit(1 if bad else 0)
PY
    if ! ncu=$(find_ncu); then
        echo "#################################################################"
        echo "### ncu NOT FOUND (PATH, /usr/local/cuda/bin, /opt/nvidia/nsight-compute): part (b) NOT MEASURED"
        echo "#################################################################"
        return 1
    fi
    echo "ncu: $ncu ($("$ncu" --version 2>/dev/null | tail -n 1))"
    echo "calibration (bench/timer_offset): the same kernels timed by both tools"
    calib_b "$ncu"
    local brc=0
    python3 "$dir/row_b.py" "$dir" - header
    for def in kernels/reference/*/; do
        def=$(basename "$def")
        [ -f "kernels/reference/$def/spec.json" ] || continue
        wl=$(pick_b "$def") || continue
        echo "$def $wl" >"$dir/picked_$def.txt"
        "$KF" run --dataset "$DATASET" --config "$CONFIG" --kernels kernels --cache "$dir/cache-kf" \
            --workloads "$wl" --out "$dir/kf_$def.jsonl" --quiet "kernels/reference/$def" \
            >"$dir/kf_$def.log" 2>&1 || echo "  ... kf run of reference $def failed (see $dir/kf_$def.log)"
        for mode in read write; do
            KF_L2_FLUSH=$mode "$KF" run --dataset "$DATASET" --config "$CONFIG" --kernels kernels \
                --cache "$dir/cache-kf-$mode" --workloads "$wl" --out "$dir/kf_$def.$mode.jsonl" --quiet \
                "kernels/reference/$def" >"$dir/kf_$def.$mode.log" 2>&1 ||
                echo "  ... kf run of reference $def with KF_L2_FLUSH=$mode failed (see $dir/kf_$def.$mode.log)"
        done
        # only the spec's kernels (not kf_* fills and checks); unfiltered again if that matched none
        kre=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); s = s.get("spec", s)
print("|".join(x["kernel"] for x in s["launch"] if x.get("kernel")))' "kernels/reference/$def/spec.json")
        ncu_run "$ncu" "$def" "$wl" --kernel-name "regex:$kre"
        grep -q gpu__time_duration "$dir/ncu_$def.csv" 2>/dev/null || ncu_run "$ncu" "$def" "$wl"
        grep -h "==ERROR==" "$dir/ncu_$def.csv" "$dir/ncu_$def.log" 2>/dev/null | head -n 3 | sed "s/^/NCU $def: /"
        python3 "$dir/row_b.py" "$dir" "$dir/picked_$def.txt" row || brc=1
    done
    python3 "$dir/row_b.py" "$dir" - footer
    return $brc
}

# ---------------------------------------------------------------- (c)
part_c() {
    echo
    echo "== (c) spread of $REPEATS repeated evaluations (example solution, one workload, separate processes)"
    local def wl i dir="$WORK/c"
    mkdir -p "$dir"
    cat >"$dir/row_c.py" <<'PY'
import json, statistics, sys
d, n, pick, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode == "header":
    print(f"{'definition':<52} {'wl':<8} {'n':>2} {'min_ms':>9} {'max_ms':>9} {'mean_ms':>9} {'stdev_ms':>9} {'cv%':>6} {'range%':>7}")
    sys.exit(0)
if mode == "footer":
    print("latency_ms per evaluation = mean over trials of the per-trial median (contest config); range% = (max-min)/mean")
    sys.exit(0)
for line in open(pick):
    name, wl = line.split()
    lats = []
    for i in range(1, n + 1):
        try:
            t = json.loads(open(f"{d}/rep_{name}_{i}.jsonl").readline())
            if t["evaluation"]["status"] == "PASSED":
                lats.append(t["evaluation"]["performance"]["latency_ms"])
        except (OSError, ValueError, KeyError):
            pass
    if not lats:
        print(f"{name[:52]:<52} {wl[:8]:<8} {0:>2}  (no PASSED evaluation)")
        continue
    mn, mx, mean = min(lats), max(lats), statistics.mean(lats)
    sd = statistics.stdev(lats) if len(lats) > 1 else 0.0
    print(f"{name[:52]:<52} {wl[:8]:<8} {len(lats):>2} {mn:>9.4f} {mx:>9.4f} {mean:>9.4f} {sd:>9.5f} "
          f"{100 * sd / mean:>6.2f} {100 * (mx - mn) / mean:>7.2f}")
PY
    python3 "$dir/row_c.py" "$dir" "$REPEATS" - header
    for def in "${DEFS[@]}"; do
        wl=$(pick "$def") || continue
        echo "$def $wl" >"$dir/picked_$def.txt"
        for i in $(seq 1 "$REPEATS"); do
            "$KF" run --dataset "$DATASET" --config "$CONFIG" --kernels kernels --cache "$dir/cache" \
                --workloads "$wl" --out "$dir/rep_${def}_$i.jsonl" --quiet \
                "kernels/examples/$def/solution.json" >"$dir/rep_${def}_$i.log" 2>&1 ||
                echo "  ... $def repeat $i: kf run failed (see $dir/rep_${def}_$i.log)"
        done
        python3 "$dir/row_c.py" "$dir" "$REPEATS" "$dir/picked_$def.txt" row
    done
    python3 "$dir/row_c.py" "$dir" "$REPEATS" - footer
}

rc=0
for p in $PARTS; do
    case $p in
        a) part_a || rc=1 ;;
        b) part_b || rc=1 ;;
        c) part_c || rc=1 ;;
        *) echo "unknown part $p (BENCH_PARTS takes a b c)"; rc=1 ;;
    esac
done
echo
echo "eval_bench: done $(date -u +%FT%TZ) on $GPU (scratch $WORK)"
exit $rc
