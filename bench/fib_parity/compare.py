#!/usr/bin/env python3
"""compare.py DS WORK: flashinfer-bench's traces (DS/traces/**.jsonl) beside
kernelfarm's (WORK/kf_*.jsonl, written by run.sh's kf stage).

Prints
  1. per solution and workload: both statuses, both latencies and their
     ratio kernelfarm/FIB, both reference latencies (FIB times the
     definition's PyTorch reference; kernelfarm too, with "reference":
     "pytorch") and the speedup ratio;
  2. per solution: status disagreements and the median |kf/FIB - 1| of the
     latency over workloads whose FIB latency is 50 us or more (issue 10's
     goal: at most 3%), of all latencies, and of the reference latency;
  3. per kernelfarm lane and solution: statuses, the mean speedup against the
     PyTorch reference (the contest's score) and against kernelfarm's native
     one, the judge-side build, the first workload's runner start (the
     Python lane builds there) and the whole kf run's wall time
     (WORK/kf_wall.txt).
"""
import glob
import json
import os
import statistics
import sys


def load(paths):
    out = {}
    for p in paths:
        for line in open(p):
            if not line.strip():
                continue
            t = json.loads(line)
            ev = t.get("evaluation") or {}
            if t.get("solution") and ev:
                out[(t["solution"], t["workload"]["uuid"])] = t
    return out


def perf(t, key):
    v = ((t or {}).get("evaluation") or {}).get("performance") or {}
    return v.get(key)


def status(t):
    return ((t or {}).get("evaluation") or {}).get("status") or "(none)"


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, spec=".4f"):
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def med_dev(xs):
    xs = [abs(x - 1) for x in xs if x]
    return f"{statistics.median(xs) * 100:.2f}% (n={len(xs)})" if xs else "n/a"


def main():
    ds, work = sys.argv[1], sys.argv[2]
    fib = load(glob.glob(f"{ds}/traces/**/*.jsonl", recursive=True))
    kf = load(glob.glob(f"{work}/kf_*.jsonl"))
    if not kf:
        sys.exit(f"compare: no kernelfarm traces in {work}/kf_*.jsonl")
    batch = {}
    for (sol, wl), t in kf.items():
        batch[wl] = (t["workload"].get("axes") or {}).get("batch_size", "?")

    print("## per workload (latencies in ms; ratios kernelfarm / FIB)")
    print(f"{'solution':<30} {'batch':>5} {'FIB status':<20} {'kf status':<20} {'FIB lat':>9} "
          f"{'kf lat':>9} {'lat':>6} {'FIB ref':>9} {'kf ref':>9} {'ref':>6} {'FIB spd':>8} "
          f"{'kf spd':>8} {'spd':>6}")
    by_sol = {}
    for (sol, wl), tk in sorted(kf.items(), key=lambda kv: (kv[0][0], batch[kv[0][1]])):
        tf = fib.get((sol, wl))
        lf, lk = perf(tf, "latency_ms"), perf(tk, "latency_ms")
        rf, rk = perf(tf, "reference_latency_ms"), perf(tk, "reference_latency_ms")
        sf, sk = perf(tf, "speedup_factor"), perf(tk, "speedup_factor")
        print(f"{sol[:30]:<30} {batch[wl]:>5} {status(tf):<20} {status(tk):<20} {fmt(lf):>9} "
              f"{fmt(lk):>9} {fmt(ratio(lk, lf), '.3f'):>6} {fmt(rf, '.3f'):>9} "
              f"{fmt(rk, '.3f'):>9} {fmt(ratio(rk, rf), '.3f'):>6} {fmt(sf, '.2f'):>8} "
              f"{fmt(sk, '.2f'):>8} {fmt(ratio(sk, sf), '.3f'):>6}")
        s = by_sol.setdefault(sol, {"n": 0, "disagree": 0, "big": [], "all": [], "ref": [],
                                    "spd": []})
        s["n"] += 1
        s["disagree"] += status(tf) != status(tk)
        if lf and lk:
            s["all"].append(lk / lf)
            if lf >= 0.05:
                s["big"].append(lk / lf)
        if rf and rk:
            s["ref"].append(rk / rf)
        if sf and sk:
            s["spd"].append(sk / sf)
    print()
    print("## per solution: median |kernelfarm/FIB - 1|")
    for sol, s in sorted(by_sol.items()):
        print(f"{sol}: {s['n']} workloads, {s['disagree']} status disagreements; latency "
              f">= 50 us: {med_dev(s['big'])}; latency, all: {med_dev(s['all'])}; PyTorch "
              f"reference: {med_dev(s['ref'])}; speedup: {med_dev(s['spd'])}")
    big = [x for s in by_sol.values() for x in s["big"]]
    print(f"ALL solutions, latency >= 50 us: {med_dev(big)}; reference latency: "
          f"{med_dev([x for s in by_sol.values() for x in s['ref']])}")

    walls = {}
    wf = os.path.join(work, "kf_wall.txt")
    if os.path.exists(wf):
        for line in open(wf):
            p = line.split()
            if len(p) == 2:
                walls[p[0]] = int(p[1])
    print()
    print("## kernelfarm per lane (mean speedups over the workloads that PASSED)")
    print(f"{'lane':<8} {'solution':<30} {'statuses':<24} {'vs PyTorch':>10} {'vs native':>10} "
          f"{'build s':>8} {'1st start s':>11} {'kf run s':>8}")
    for f in sorted(glob.glob(f"{work}/kf_*.jsonl")):
        ts = [json.loads(x) for x in open(f) if x.strip()]
        if not ts:
            continue
        kfx = [t["evaluation"].get("kernelfarm") or {} for t in ts]
        lane = kfx[0].get("lane", "?")
        sts = {}
        for t in ts:
            sts[status(t)] = sts.get(status(t), 0) + 1
        ok = [t for t in ts if status(t) == "PASSED"]
        sp = [perf(t, "speedup_factor") for t in ok if perf(t, "speedup_factor")]
        nat = [(perf(t, "extra") or {}).get("native_speedup_factor") for t in ok]
        nat = [x for x in nat if x]
        ref_kind = {(perf(t, "extra") or {}).get("reference") for t in ok}
        build = max((k.get("build_ms") or 0) for k in kfx) / 1000
        start = ((kfx[0].get("wall_ms") or {}).get("runner_start") or 0) / 1000
        name = os.path.basename(f)[3:-6]
        print(f"{lane:<8} {ts[0]['solution'][:30]:<30} "
              f"{' '.join(f'{k}:{v}' for k, v in sorted(sts.items())):<24} "
              f"{fmt(statistics.mean(sp) if sp else None, '.2f'):>10} "
              f"{fmt(statistics.mean(nat) if nat else None, '.2f'):>10} {build:>8.2f} "
              f"{start:>11.2f} {fmt(walls[name] / 1000 if name in walls else None, '.1f'):>8}"
              + ("" if ref_kind <= {"pytorch"} else f"  (reference: {sorted(map(str, ref_kind))})"))


if __name__ == "__main__":
    main()
