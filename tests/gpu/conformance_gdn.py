#!/usr/bin/env python3
"""conformance_gdn.py: GDN decode/prefill conformance and timing (GPU hosts only).

For every workload axis set of gdn_decode_qk4_v8_d128_k_last and
gdn_prefill_qk4_v8_d128_k_last (read from the derived workload TSVs), draws
inputs the way kernelfarm's synthesizer does (q, k L2-normalised per head,
cu_seqlens a random partition of total_seq_len into num_seqs non-empty
sequences, everything else N(0, 1), the optional state present on most
workloads and absent on some), runs the OFFICIAL PyTorch reference read from
the definition file given on the command line, kernelfarm's reference kernel
and the example solution (through tests/gpu/kfnv.py, the independent nvrtc-lane
launcher), and reports per workload and output: max abs error, max relative
error against the largest reference magnitude, norm-wise relative error and
the matched ratio under the contest tolerance (atol = rtol = 1e-2).

Pass: reference kernels: new_state max-abs / max|ref| <= 1e-3 and every
element within the contest tolerance; examples: every element within the
contest tolerance. Outputs are poisoned with NaN before each run, so an
unwritten element fails. A few extra cases cover an empty sequence, an absent
state and the default scale (scale = 0).

Then times reference and example kernels per distinct axis set (CUDA events,
L2 flushed by a 256 MiB write before every run, the GPU kept busy while the
host enqueues, median of --iters runs) against speed of light (compulsory
bytes / HBM bandwidth) and the wall time of one official PyTorch reference
call.

Usage:
  conformance_gdn.py --defs DIR_WITH_DEFINITION_JSONS --workloads DIR_WITH_TSVS
                     [--out results.json] [--iters 50] [--budget-s 200]
                     [--only decode|prefill] [--kernels reference,example]
                     [--kernel-dir DIR]... [--max-timed N] [--ref-cache DIR]
Prints a table and, last, `N passed, N failed`; exits 1 on any failure.
"""

import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfnv  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DECODE = "gdn_decode_qk4_v8_d128_k_last"
PREFILL = "gdn_prefill_qk4_v8_d128_k_last"
HV, HQ, D = 8, 4, 128
ATOL = RTOL = 1e-2
STATE_REL_TOL = 1e-3

bandwidth = kfnv.bandwidth
read_tsv = kfnv.read_tsv


def l2norm(x):
    return (x.float() / x.float().norm(dim=-1, keepdim=True).clamp_min(1e-6)).to(torch.bfloat16)


def partition(total, n, gen):
    if n == 1:
        return [0, total]
    cuts = torch.randperm(total - 1, generator=gen)[: n - 1] + 1
    return [0] + sorted(int(c) for c in cuts) + [total]


def make_decode(B, with_state, scale, gen):
    dev = "cuda"
    r = lambda *s: torch.randn(*s, generator=gen).to(dev)  # noqa: E731
    return {
        "q": l2norm(r(B, 1, HQ, D)).to(dev), "k": l2norm(r(B, 1, HQ, D)).to(dev),
        "v": r(B, 1, HV, D).to(torch.bfloat16),
        "state": r(B, HV, D, D) if with_state else None,
        "A_log": r(HV), "a": r(B, 1, HV).to(torch.bfloat16), "dt_bias": r(HV),
        "b": r(B, 1, HV).to(torch.bfloat16), "scale": scale,
    }


def make_prefill(T, N, with_state, scale, gen, cu=None):
    dev = "cuda"
    r = lambda *s: torch.randn(*s, generator=gen).to(dev)  # noqa: E731
    if cu is None:
        cu = partition(T, N, gen)
    return {
        "q": l2norm(r(T, HQ, D)), "k": l2norm(r(T, HQ, D)),
        "v": r(T, HV, D).to(torch.bfloat16),
        "state": r(N, HV, D, D) if with_state else None,
        "A_log": r(HV), "a": r(T, HV).to(torch.bfloat16), "dt_bias": r(HV),
        "b": r(T, HV).to(torch.bfloat16),
        "cu_seqlens": torch.tensor(cu, dtype=torch.int64, device=dev), "scale": scale,
    }


def sol_bytes(defname, inp):
    n = 0
    for name, t in inp.items():
        if isinstance(t, torch.Tensor):
            n += t.numel() * t.element_size()
    # outputs: output (bf16, like v) and new_state (fp32)
    n += inp["v"].numel() * 2
    lead = inp["q"].shape[0] if defname == DECODE else inp["cu_seqlens"].numel() - 1
    n += lead * HV * D * D * 4
    return n


def poisoned_outputs(definition, inp):
    extra = {"num_seqs": inp["cu_seqlens"].numel() - 1} if definition["name"] == PREFILL else None
    return kfnv.poisoned_outputs(definition, inp, extra)


def compare(out, ref):
    mabs, _, matched = kfnv.errors(out, ref, ATOL, RTOL)
    x, y = out.float(), ref.float()
    big = float(y.abs().max()) if y.numel() else 0.0
    finite = bool(torch.isfinite(x).all())
    norm_rel = float((x - y).norm() / y.norm().clamp_min(1e-30)) if y.numel() else 0.0
    return {"max_abs": mabs, "rel_to_max": mabs / big if big > 0 else mabs,
            "norm_rel": norm_rel, "matched": matched, "finite": finite}


def check_case(label, definition, ref_run, plans, inp, results, cache_dir=None):
    cache = None
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        cache = os.path.join(cache_dir, definition["name"] + "." + label.replace(" ", "_")
                             .replace("=", "") + ".pt")
    sig = float(inp["v"].float().sum()) + float(inp["k"].float().sum())
    saved = torch.load(cache, map_location="cuda") if cache and os.path.exists(cache) else None
    if saved is not None and saved["sig"] == sig:
        ref_out, ref_state, ref_wall = saved["output"], saved["new_state"], saved["wall_s"]
    else:
        t = time.time()
        args = [inp[n] for n in definition["inputs"]]
        ref_out, ref_state = ref_run(*args)
        torch.cuda.synchronize()
        ref_wall = time.time() - t
        if cache:
            torch.save({"output": ref_out, "new_state": ref_state, "wall_s": ref_wall, "sig": sig},
                       cache)
    ok_all = True
    for kind, plan in plans.items():
        outs = poisoned_outputs(definition, inp)
        plan.run(definition, inp, outs)
        torch.cuda.synchronize()
        o = compare(outs["output"], ref_out)
        s = compare(outs["new_state"], ref_state)
        # a second run must reproduce the first bit for bit (a moving result is a race)
        outs2 = poisoned_outputs(definition, inp)
        plan.run(definition, inp, outs2)
        torch.cuda.synchronize()
        same = bool(torch.equal(outs["output"].view(torch.int16), outs2["output"].view(torch.int16))
                    and torch.equal(outs["new_state"].view(torch.int32),
                                    outs2["new_state"].view(torch.int32)))
        ok = (o["finite"] and s["finite"] and o["matched"] == 1.0 and s["matched"] == 1.0
              and same)
        if kind == "reference":
            ok = ok and s["rel_to_max"] <= STATE_REL_TOL
        ok_all &= ok
        results.append({"definition": definition["name"], "case": label, "kernel": kind,
                        "output": o, "new_state": s, "deterministic": same, "pass": ok,
                        "torch_ref_wall_s": ref_wall})
        print(f"{'PASS' if ok else 'FAIL'} {definition['name'][:11]} {label:34s} {kind:9s} "
              f"out max_abs={o['max_abs']:.2e} matched={o['matched']:.6f} | "
              f"state max_abs={s['max_abs']:.2e} rel={s['rel_to_max']:.2e} "
              f"norm_rel={s['norm_rel']:.2e} matched={s['matched']:.6f} det={same}", flush=True)
    return ok_all, ref_wall


def time_plan(plan, definition, inp, iters):
    return kfnv.time_plan(plan, definition, inp, poisoned_outputs(definition, inp), iters)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--defs", required=True)
    ap.add_argument("--workloads", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=200.0)
    ap.add_argument("--only", default=None, help="decode or prefill")
    ap.add_argument("--kernels", default="reference,example",
                    help="which of kernels/reference, kernels/examples to check (comma list)")
    ap.add_argument("--ref-cache", default=None,
                    help="directory caching the official reference's outputs per case, so that "
                         "several processes (one per kernel, a crash stays contained) share them")
    ap.add_argument("--variant", "--kernel-dir", dest="variant", action="append", default=[],
                    help="extra kernel directory (or solution.json) checked and timed like the "
                         "example; repeatable; used for the definition it names")
    ap.add_argument("--max-timed", type=int, default=0,
                    help="time only the N largest axis sets, plus for prefill the longest "
                         "sequences (0: the largest three and a spread)")
    a = ap.parse_args()

    start = time.time()
    dev_name = torch.cuda.get_device_name()
    gpu, bw = bandwidth(dev_name)
    print(f"device: {dev_name} (speed of light at {bw / 1e12:.2f} TB/s)", flush=True)
    results, timings = [], []
    passed = failed = skipped = 0

    for defname in (DECODE, PREFILL):
        if a.only and a.only not in defname:
            continue
        definition, ref_run = kfnv.load_official_reference(os.path.join(a.defs, defname + ".json"))
        plans = {}
        wanted = [x for x in a.kernels.split(",") if x]
        if "reference" in wanted:
            plans["reference"] = kfnv.Plan.load(os.path.join(ROOT, "kernels/reference", defname))
        if "example" in wanted:
            plans["example"] = kfnv.Plan.load(os.path.join(ROOT, "kernels/examples", defname))
        for vpath in a.variant:
            vp = kfnv.Plan.load(vpath)
            if vp.solution["definition"] == defname:
                plans["v:" + os.path.basename(os.path.normpath(vpath))] = vp
        if not plans:
            continue
        for p in plans.values():
            p.compile()
        # one generator per definition: the inputs of a case never depend on what else ran
        gen = torch.Generator().manual_seed(20261122 + (1 if defname == PREFILL else 0))
        rows = read_tsv(os.path.join(a.workloads, defname + ".uuid_axes.tsv"))
        cases = []
        for i, row in enumerate(rows):
            with_state = i % 4 != 3
            scale = 0.0 if i % 5 == 4 else 1.0 / math.sqrt(D)
            if defname == DECODE:
                B = int(row["batch_size"])
                cases.append((f"w{i} B={B}", lambda B=B, s=with_state, c=scale:
                              make_decode(B, s, c, gen), ("B", B)))
            else:
                T, N = int(row["total_seq_len"]), int(row["num_seqs"])
                cases.append((f"w{i} T={T} N={N}", lambda T=T, N=N, s=with_state, c=scale:
                              make_prefill(T, N, s, c, gen), ("T,N", T, N)))
        if defname == PREFILL:
            cases.append(("extra empty-seq T=100 N=3", lambda: make_prefill(
                100, 3, True, 0.1, gen, cu=[0, 50, 50, 100]), None))
            cases.append(("extra no-state T=300 N=2 scale=0", lambda: make_prefill(
                300, 2, False, 0.0, gen), None))
        else:
            cases.append(("extra no-state B=64 scale=0", lambda: make_decode(64, False, 0.0, gen),
                          None))
        timed = {}
        for label, mk, key in cases:
            inp = mk()  # always drawn, so the generator stays in step across processes
            if time.time() - start > a.budget_s:
                skipped += 1
                print(f"SKIP {defname[:11]} {label} (time budget spent)", flush=True)
                continue
            try:
                ok, ref_wall = check_case(label, definition, ref_run, plans, inp, results,
                                          a.ref_cache)
            except Exception as e:  # a launch or compile error fails the case, loudly
                print(f"FAIL {defname[:11]} {label}: {type(e).__name__}: {e}", flush=True)
                ok, ref_wall = False, float("nan")
            passed += ok
            failed += not ok
            if key is not None and key not in timed:
                timed[key] = (label, inp, ref_wall)
        # timing per distinct axis set: the largest first, then a spread
        keys = sorted(timed, key=lambda k: -sol_bytes(defname, timed[k][1]))
        longest = max(keys, key=lambda k: k[1] / k[2]) if defname == PREFILL and keys else None
        if a.max_timed > 0:
            keys = keys[:a.max_timed]
        elif len(keys) > 9:
            keys = keys[:3] + keys[3::max(1, (len(keys) - 3) // 6)][:6]
        else:
            longest = None
        if longest is not None and longest not in keys:
            keys.append(longest)  # the longest sequences: the latency-bound case
        for key in keys:
            label, inp, ref_wall = timed[key]
            if inp.get("state") is None:  # time the full-traffic case
                inp = dict(inp)
                lead = inp["q"].shape[0] if defname == DECODE else inp["cu_seqlens"].numel() - 1
                inp["state"] = torch.randn(lead, HV, D, D, device="cuda")
            nbytes = sol_bytes(defname, inp)
            sol_us = nbytes / bw * 1e6
            row = {"definition": defname, "case": label, "bytes": nbytes, "sol_us": sol_us,
                   "torch_ref_us": ref_wall * 1e6, "gpu": dev_name}
            try:
                for kind, plan in plans.items():
                    row[kind + "_us"] = time_plan(plan, definition, inp, a.iters)
            except Exception as e:
                print(f"FAIL timing {defname[:11]} {label}: {type(e).__name__}: {e}", flush=True)
                failed += 1
                continue
            timings.append(row)
            print(f"TIME {defname[:11]} {label:24s} bytes={nbytes / 1e6:8.2f}MB sol={sol_us:8.2f}us "
                  f"torch={ref_wall * 1e6:12.0f}us", flush=True)
            for kind in plans:
                print(f"TIME {defname[:11]} {label:24s}   {kind:12s} {row[kind + '_us']:9.2f}us "
                      f"({sol_us / row[kind + '_us'] * 100:5.1f}% of sol)", flush=True)

    if a.out:
        with open(a.out, "w") as f:
            json.dump({"gpu": dev_name, "results": results, "timings": timings}, f, indent=1)
    if skipped:
        print(f"WARNING: {skipped} cases skipped for the time budget", flush=True)
    print(f"{passed} passed, {failed + skipped} failed")
    return 1 if failed or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
