#!/usr/bin/env python3
"""compare.py DS WORK: flashinfer-bench's traces (DS/traces/**.jsonl) against
kernelfarm's (WORK/kf_*.jsonl), per solution and workload: both statuses and
the latency ratio kernelfarm / FIB. Prints a table, then per solution the
number of status disagreements and the median |ratio - 1| over workloads
whose FIB latency is 50 us or more (issue 10's goal: at most 3%)."""
import glob
import json
import statistics
import sys

ds, work = sys.argv[1], sys.argv[2]


def load(paths):
    out = {}
    for p in paths:
        for line in open(p):
            if not line.strip():
                continue
            t = json.loads(line)
            ev = t.get("evaluation") or {}
            if not t.get("solution") or not ev:
                continue
            perf = ev.get("performance") or {}
            out[(t["solution"], t["workload"]["uuid"])] = (ev.get("status"),
                                                           perf.get("latency_ms"))
    return out


fib = load(glob.glob(f"{ds}/traces/**/*.jsonl", recursive=True))
kf = load(glob.glob(f"{work}/kf_*.jsonl"))
print(f"{'solution':<34} {'workload':<10} {'FIB':<20} {'kernelfarm':<20} {'FIB ms':>10} "
      f"{'kf ms':>10} {'kf/FIB':>7}")
by_sol = {}
for (sol, wl), (st_k, lat_k) in sorted(kf.items()):
    st_f, lat_f = fib.get((sol, wl), ("(none)", None))
    ratio = lat_k / lat_f if lat_k and lat_f else None
    print(f"{sol[:34]:<34} {wl[:8]:<10} {st_f:<20} {st_k:<20} "
          f"{lat_f if lat_f is not None else float('nan'):>10.4f} "
          f"{lat_k if lat_k is not None else float('nan'):>10.4f} "
          f"{ratio if ratio else float('nan'):>7.3f}")
    s = by_sol.setdefault(sol, {"n": 0, "disagree": 0, "dev": []})
    s["n"] += 1
    s["disagree"] += st_f != st_k
    if ratio and lat_f >= 0.05:
        s["dev"].append(abs(ratio - 1))
print()
for sol, s in sorted(by_sol.items()):
    med = f"{statistics.median(s['dev']) * 100:.2f}%" if s["dev"] else "n/a (all under 50 us)"
    print(f"{sol}: {s['n']} workloads, {s['disagree']} status disagreements, "
          f"median |kf/FIB - 1| over >= 50 us: {med}")
