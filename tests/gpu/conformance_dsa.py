#!/usr/bin/env python3
"""conformance_dsa.py: DSA sparse attention / top-k indexer conformance and timing
(GPU hosts only).

For every workload axis set of dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64
and dsa_topk_indexer_fp8_h64_d128_topk2048_ps64 (read from the derived workload
TSVs), draws realistic inputs the way kernelfarm's synthesizer should:

  * attention: q_nope, q_pe, ckv_cache, kpe_cache N(0, 1) bf16; per token a
    valid count (all 2048 on a third of the workloads, else drawn in 1..2048,
    and on some workloads one token with none), that many unique token ids
    < num_pages*64, then -1 padding at the tail; sm_scale = 1/sqrt(192);
  * indexer: q N(0, 1) clamped to [-2, 2] cast to fp8 e4m3; keys N(0, 1)
    quantised per token to fp8 with scale amax/448 and packed per page
    (64*128 fp8 bytes, then 64 fp32 scales) into the [num_pages, 64, 1, 132]
    int8 cache; weights N(0, 1); seq_lens mostly filling max_num_pages pages,
    some shorter, some 0; block_table rows of unique page ids < num_pages;

runs the OFFICIAL PyTorch reference read from the definition file in --defs,
kernelfarm's reference kernel and the example solution (tests/gpu/kfnv.py, the
independent nvrtc-lane launcher), and reports per workload:

  * attention: output max abs error, matched ratio at the contest tolerance
    (atol = rtol = 1e-2); lse max relative error |x-y|/max(|y|, 1) over finite
    entries, and -inf exactly where the reference has -inf;
  * indexer: per row the number of valid entries (min(2048, seq_len)), no
    duplicates, every id a token of that row's sequence, and the selected
    scores (recomputed here in fp32 from the definition's formula) equal to
    the reference's selection when both are sorted (contest tolerance; ties make
    the id sets themselves ambiguous); plus the exact id-set agreement.

Outputs are poisoned before each run (NaN / 0x7fffffff); a second run must be
bit-identical. Pass: matched ratio 1.0 everywhere, lse rel error <= 1e-3.

Then times the kernels on the largest workload (made full: every index valid,
every sequence at max_num_pages*64 tokens) and a spread of others (CUDA events
around the launch plan, the GPU kept busy while the host enqueues, median of
--iters runs) against speed of light (compulsory bytes / HBM bandwidth) and one
official PyTorch call. Two L2 flushes: 'write' (a 256 MiB write, the contract's
method: it leaves L2 full of dirty lines, so the timed kernel's misses also
write those back) and 'read' (a 256 MiB read). Empty plans of one and two
launches give the floor of the method.

Usage:
  conformance_dsa.py --defs DIR --workloads DIR [--only attention|indexer]
                     [--kernels reference,example] [--out results.json]
                     [--iters 50] [--budget-s 240] [--max-cases N] [--no-timing]
                     [--kernel-dir DIR]... [--max-timed N]
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
ATTN = "dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64"
INDEXER = "dsa_topk_indexer_fp8_h64_d128_topk2048_ps64"
H, DC, DP, TOPK, PS = 16, 512, 64, 2048, 64
NH, HD = 64, 128
ATOL = RTOL = 1e-2
LSE_REL_TOL = 1e-3

bandwidth = kfnv.bandwidth
read_tsv = kfnv.read_tsv


def randint(gen, lo, hi):
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=gen))


# ---------------------------------------------------------------- attention

def make_attention(T, P, gen, pattern):
    """pattern: 'full' (every index valid), 'mixed' (random valid counts), or
    'mixed-empty' (mixed, token 0 without any valid index)."""
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(int(torch.randint(1 << 30, (1,), generator=gen)))
    inp = {
        "q_nope": torch.randn(T, H, DC, generator=g, device=dev).to(torch.bfloat16),
        "q_pe": torch.randn(T, H, DP, generator=g, device=dev).to(torch.bfloat16),
        "ckv_cache": torch.randn(P, PS, DC, generator=g, device=dev).to(torch.bfloat16),
        "kpe_cache": torch.randn(P, PS, DP, generator=g, device=dev).to(torch.bfloat16),
        "sm_scale": 1.0 / math.sqrt(128 + 64),
    }
    idx = torch.full((T, TOPK), -1, dtype=torch.int32)
    valid = []
    for t in range(T):
        if pattern == "full":
            v = TOPK
        elif pattern == "mixed-empty" and t == 0:
            v = 0
        else:
            v = TOPK if randint(gen, 0, 2) == 0 else randint(gen, 1, TOPK)
        v = min(v, P * PS)
        if v:
            idx[t, :v] = torch.randperm(P * PS, generator=gen)[:v].to(torch.int32)
        valid.append(v)
    inp["sparse_indices"] = idx.to(dev)
    inp["_valid"] = valid
    return inp


def attention_bytes(inp):
    T = inp["q_nope"].shape[0]
    n = sum(inp["_valid"]) * (DC + DP) * 2               # gathered ckv + kpe rows
    n += T * H * (DC + DP) * 2 + T * TOPK * 4            # q, indices
    n += T * H * DC * 2 + T * H * 4                      # output, lse
    return n


def check_attention(definition, out, ref):
    o = {}
    mabs, _, matched = kfnv.errors(out["output"], ref[0], ATOL, RTOL)
    o["out_max_abs"], o["out_matched"] = mabs, matched
    o["out_finite"] = bool(torch.isfinite(out["output"].float()).all())
    x, y = out["lse"].float(), ref[1].float()
    fin = torch.isfinite(y)
    inf_ok = bool(torch.equal(torch.isfinite(x), fin)) and bool((x[~fin] == y[~fin]).all())
    if fin.any():
        d = (x[fin] - y[fin]).abs()
        o["lse_max_abs"] = float(d.max())
        o["lse_max_rel"] = float((d / y[fin].abs().clamp_min(1.0)).max())
    else:
        o["lse_max_abs"] = o["lse_max_rel"] = 0.0
    _, _, lm = kfnv.errors(out["lse"], ref[1], ATOL, RTOL)
    o["lse_matched"] = lm
    o["lse_inf_ok"] = inf_ok
    o["pass"] = (o["out_matched"] == 1.0 and o["out_finite"] and lm == 1.0 and inf_ok
                 and o["lse_max_rel"] <= LSE_REL_TOL)
    if not o["pass"]:
        diff = (out["output"].float() - ref[0].float()).abs()
        diff = torch.nan_to_num(diff, nan=1e9)
        k = int(diff.argmax())
        t, h, c = k // (H * DC), (k // DC) % H, k % DC
        o["worst"] = (f"output[{t},{h},{c}]={float(out['output'].flatten()[k]):.4g} "
                      f"ref={float(ref[0].flatten()[k]):.4g}; lse[{t}]="
                      f"{out['lse'][t].tolist()[:4]} ref={ref[1][t].tolist()[:4]}")
    return o


def same_attention(a, b):
    return (torch.equal(a["output"].view(torch.int16), b["output"].view(torch.int16))
            and torch.equal(a["lse"].view(torch.int32), b["lse"].view(torch.int32)))


# ---------------------------------------------------------------- indexer

def make_indexer(B, M, P, gen, pattern):
    """pattern: 'full' (every seq_len = M*64), 'mixed' (mostly the last page
    partly filled, some shorter), 'mixed-zero' (mixed with seq_lens[0] = 0)."""
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(int(torch.randint(1 << 30, (1,), generator=gen)))
    q = torch.randn(B, NH, HD, generator=g, device=dev).clamp(-2, 2).to(torch.float8_e4m3fn)
    keys = torch.randn(P, PS, HD, generator=g, device=dev)
    scale = (keys.abs().amax(dim=-1) / 448.0).clamp_min(1e-8)              # [P, 64]
    k8 = (keys / scale[..., None]).to(torch.float8_e4m3fn)
    packed = torch.cat([k8.view(torch.uint8).reshape(P, PS * HD),
                        scale.contiguous().view(torch.uint8).reshape(P, PS * 4)], dim=1)
    cache = packed.view(torch.int8).reshape(P, PS, 1, HD + 4).contiguous()
    del keys, k8, packed
    seq = []
    for b in range(B):
        if pattern == "full":
            n = M * PS
        elif pattern == "mixed-zero" and b == 0:
            n = 0
        elif randint(gen, 0, 3) == 0:
            n = randint(gen, 1, M * PS)
        else:
            n = randint(gen, (M - 1) * PS + 1, M * PS)
        seq.append(n)
    bt = torch.randperm(P, generator=gen)[:B * M].reshape(B, M).to(torch.int32)
    inp = {
        "q_index_fp8": q,
        "k_index_cache_fp8": cache,
        "weights": torch.randn(B, NH, generator=g, device=dev),
        "seq_lens": torch.tensor(seq, dtype=torch.int32, device=dev),
        "block_table": bt.to(dev),
    }
    return inp


def indexer_bytes(inp):
    B, M = inp["block_table"].shape
    pages = sum(-(-int(n) // PS) for n in inp["seq_lens"].tolist())
    n = pages * PS * (HD + 4)                       # the sequences' key pages
    n += B * NH * HD + B * NH * 4 + B * 4 + B * M * 4   # q, weights, seq_lens, block_table
    n += B * TOPK * 4                               # output
    return n


def token_scores(inp):
    """Per row: (global ids [n], fp32 scores [n]) recomputed from the
    definition's formula: sum_h w[h] * relu(q[h] . (fp8 k * scale))."""
    cache = inp["k_index_cache_fp8"].view(torch.uint8)
    P = cache.shape[0]
    flat = cache.reshape(P, PS * (HD + 4))
    k = flat[:, :PS * HD].contiguous().view(torch.float8_e4m3fn).float().reshape(P, PS, HD)
    s = flat[:, PS * HD:].contiguous().view(torch.float32).reshape(P, PS, 1)
    kd = k * s
    out = []
    q = inp["q_index_fp8"].float()
    for b in range(q.shape[0]):
        n = int(inp["seq_lens"][b])
        if n <= 0:
            out.append((torch.empty(0, dtype=torch.long, device="cuda"),
                        torch.empty(0, device="cuda")))
            continue
        pages = inp["block_table"][b, :-(-n // PS)].long()
        kb = kd[pages].reshape(-1, HD)[:n]
        sc = (torch.relu(q[b] @ kb.T) * inp["weights"][b][:, None]).sum(0)
        ids = (pages[:, None] * PS + torch.arange(PS, device="cuda")[None, :]).reshape(-1)[:n]
        out.append((ids, sc))
    return out


def check_indexer(definition, out, ref, scores, ntok):
    """ntok: num_pages * 64, the number of token ids in the cache."""
    o = {"rows": len(scores), "rows_ok": 0, "set_agreement": 1.0, "score_max_abs": 0.0}
    got, exp = out["topk_indices"], ref[0]
    agree_num = agree_den = 0
    bad = []
    for b, (ids, sc) in enumerate(scores):
        n = ids.numel()
        k = min(TOPK, n)
        row, rrow = got[b], exp[b]
        sel = row[row != -1].long()
        rsel = rrow[rrow != -1].long()
        ok = sel.numel() == k and rsel.numel() == k and bool((row[:k] != -1).all()) \
            and bool((row[k:] == -1).all())
        if ok and k:
            ok = bool(((sel >= 0) & (sel < ntok)).all()) and bool(((rsel >= 0) & (rsel < ntok)).all())
        if ok and k:
            lut = torch.full((ntok,), float("nan"), device="cuda")
            lut[ids] = sc
            ok = sel.unique().numel() == k and bool(torch.isfinite(lut[sel]).all())
            if ok:
                a = lut[sel].sort(descending=True).values
                r = lut[rsel].sort(descending=True).values
                d = (a - r).abs()
                o["score_max_abs"] = max(o["score_max_abs"], float(d.max()))
                ok = bool(((d <= ATOL) | (d <= RTOL * r.abs())).all())
                inter = torch.isin(sel, rsel).sum()
                agree_num += int(inter)
                agree_den += k
        if ok:
            o["rows_ok"] += 1
        elif len(bad) < 3:
            bad.append(f"row {b}: n={n} valid={sel.numel()} expected={k}")
    o["set_agreement"] = agree_num / agree_den if agree_den else 1.0
    o["matched"] = o["rows_ok"] / max(1, o["rows"])
    o["pass"] = o["rows_ok"] == o["rows"]
    if bad:
        o["worst"] = "; ".join(bad)
    return o


def same_indexer(a, b):
    # order within a row is free and ties may go either way between runs only if
    # the kernel is nondeterministic; compare the sorted rows
    return torch.equal(a["topk_indices"].sort(dim=1).values, b["topk_indices"].sort(dim=1).values)


# ---------------------------------------------------------------- common

def timed_inputs_probe(is_attn, key, gen):
    """Small valid inputs for binding an empty plan's outputs."""
    if is_attn:
        return make_attention(1, 1, gen, "full")
    return make_indexer(1, 1, 1, gen, "full")


def poisoned_outputs(definition, inp):
    return kfnv.poisoned_outputs(definition, inp)


def kernel_inputs(inp):
    return {k: v for k, v in inp.items() if not k.startswith("_")}


l2_flush = kfnv.l2_flush


EMPTY_SRC = 'extern "C" __global__ void kf_empty(long long x) { (void)x; }\n'


def empty_plan(nlaunch):
    """A plan of nlaunch empty kernels: the timing method's floor."""
    sol = {"name": "empty", "definition": "-", "author": "-", "spec": {
        "language": "cuda", "binding": "nvrtc", "target_hardware": ["cuda"],
        "entry_point": "e.cu::kf_empty", "destination_passing_style": True,
        "launch": [{"kernel": "kf_empty", "grid": [1], "block": [32], "args": [0]}] * nlaunch,
        "workspace": []}, "sources": [{"path": "e.cu", "content": EMPTY_SRC}]}
    p = kfnv.Plan(sol)
    p.compile()
    return p


def time_plan(plan, definition, inp, iters, flush_mode="write"):
    inp = kernel_inputs(inp)
    return kfnv.time_plan(plan, definition, inp, poisoned_outputs(definition, inp), iters,
                          flush_mode)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--defs", required=True)
    ap.add_argument("--workloads", required=True)
    ap.add_argument("--only", default=None, help="attention or indexer")
    ap.add_argument("--kernels", default="reference,example")
    ap.add_argument("--out", default=None)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=240.0)
    ap.add_argument("--max-cases", type=int, default=0, help="check only the first N workloads")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--kernel-dir", action="append", default=[],
                    help="extra kernel directory (or solution.json) checked and timed like the "
                         "example; repeatable; used for the definition it names")
    ap.add_argument("--max-timed", type=int, default=0,
                    help="time only the N largest axis sets (0: the largest two and a spread)")
    a = ap.parse_args()

    start = time.time()
    dev_name = torch.cuda.get_device_name()
    gpu, bw = bandwidth(dev_name)
    print(f"device: {dev_name} (speed of light at {bw / 1e12:.2f} TB/s)", flush=True)
    gen = torch.Generator().manual_seed(20261122)
    results, timings = [], []
    passed = failed = skipped = 0
    kinds = [k for k in a.kernels.split(",") if k]

    for defname in (ATTN, INDEXER):
        if a.only and a.only not in defname:
            continue
        is_attn = defname == ATTN
        definition, ref_run = kfnv.load_official_reference(os.path.join(a.defs, defname + ".json"))
        plans = {}
        for kind in kinds:
            sub = "reference" if kind == "reference" else "examples"
            plans[kind] = kfnv.Plan.load(os.path.join(ROOT, "kernels", sub, defname))
            plans[kind].compile()
        for vpath in a.kernel_dir:
            vp = kfnv.Plan.load(vpath)
            if vp.solution["definition"] == defname:
                vp.compile()
                plans["v:" + os.path.basename(os.path.normpath(vpath))] = vp
        if not plans:
            continue
        first_steps = {}
        for kind, plan in plans.items():
            if len(plan.spec["launch"]) > 1:
                sol = json.loads(json.dumps(plan.solution))
                sol["spec"]["launch"] = sol["spec"]["launch"][:1]
                first_steps[kind] = kfnv.Plan(sol)
                first_steps[kind].compile()
        rows = read_tsv(os.path.join(a.workloads, defname + ".uuid_axes.tsv"))
        cases = []
        for i, row in enumerate(rows):
            pattern = "full" if i % 3 == 0 else ("mixed-empty" if i % 7 == 3 else "mixed")
            if is_attn:
                T, P = int(row["num_tokens"]), int(row["num_pages"])
                cases.append((f"w{i} T={T} P={P} {pattern}",
                              lambda T=T, P=P, p=pattern: make_attention(T, P, gen, p),
                              (T, P)))
            else:
                B, M, P = int(row["batch_size"]), int(row["max_num_pages"]), int(row["num_pages"])
                pattern = pattern.replace("empty", "zero")
                cases.append((f"w{i} B={B} M={M} P={P} {pattern}",
                              lambda B=B, M=M, P=P, p=pattern: make_indexer(B, M, P, gen, p),
                              (B, M, P)))
        if a.max_cases:
            cases = cases[:a.max_cases]
        timed = {}
        for label, mk, key in cases:
            if time.time() - start > a.budget_s:
                skipped += 1
                print(f"SKIP {defname[:14]} {label} (time budget spent)", flush=True)
                continue
            inp = mk()
            kin = kernel_inputs(inp)
            t0 = time.time()
            ref = ref_run(*[kin[n] for n in definition["inputs"]])
            torch.cuda.synchronize()
            ref_wall = time.time() - t0
            scores = None if is_attn else token_scores(inp)
            for kind, plan in plans.items():
                outs = poisoned_outputs(definition, kin)
                plan.run(definition, kin, outs)
                torch.cuda.synchronize()
                res = check_attention(definition, outs, ref) if is_attn else \
                    check_indexer(definition, outs, ref, scores,
                                  kin["k_index_cache_fp8"].shape[0] * PS)
                outs2 = poisoned_outputs(definition, kin)
                plan.run(definition, kin, outs2)
                torch.cuda.synchronize()
                det = same_attention(outs, outs2) if is_attn else same_indexer(outs, outs2)
                res["deterministic"] = det
                ok = res["pass"] and det
                passed += ok
                failed += not ok
                results.append({"definition": defname, "case": label, "kernel": kind,
                                "torch_ref_wall_s": ref_wall, **res})
                if is_attn:
                    detail = (f"out max_abs={res['out_max_abs']:.2e} matched={res['out_matched']:.6f} | "
                              f"lse max_abs={res['lse_max_abs']:.2e} rel={res['lse_max_rel']:.2e} "
                              f"inf_ok={res['lse_inf_ok']}")
                else:
                    detail = (f"rows_ok={res['rows_ok']}/{res['rows']} set_agree={res['set_agreement']:.6f} "
                              f"sel_score_max_abs={res['score_max_abs']:.2e}")
                print(f"{'PASS' if ok else 'FAIL'} {defname[:14]} {label:32s} {kind:9s} {detail} "
                      f"det={det}" + (f" WORST {res['worst']}" if "worst" in res else ""), flush=True)
            if key not in timed:
                timed[key] = (label, ref_wall)
            del inp, kin, ref
        # timing: the largest axis set made full, then a spread of others
        keys = sorted(timed, key=lambda k: -(k[0] * (k[1] if not is_attn else 1)))
        if len(keys) > 6:
            keys = keys[:2] + keys[2::max(1, (len(keys) - 2) // 4)][:4]
        if a.max_timed > 0:
            keys = keys[:a.max_timed]
        if a.no_timing:
            keys = []
        elif keys:
            floor = {}
            for nl in (1, 2):
                ep = empty_plan(nl)
                for mode in ("write", "read"):
                    floor[f"{nl}x_{mode}"] = time_plan(ep, definition, timed_inputs_probe(
                        is_attn, keys[-1], gen), a.iters, mode)
            timings.append({"definition": defname, "empty_plan_us": floor, "gpu": dev_name})
            print(f"FLOOR {defname[:14]} empty plans: " +
                  " ".join(f"{k}={v:.2f}us" for k, v in floor.items()), flush=True)
        for key in keys:
            if time.time() - start > a.budget_s + 60:
                print(f"SKIP timing {key} (time budget spent)", flush=True)
                break
            label, ref_wall = timed[key]
            if is_attn:
                inp = make_attention(key[0], key[1], gen, "full")
            else:
                inp = make_indexer(key[0], key[1], key[2], gen, "full")
            kin = kernel_inputs(inp)
            torch.cuda.synchronize()
            t0 = time.time()
            ref_run(*[kin[n] for n in definition["inputs"]])
            torch.cuda.synchronize()
            ref_wall = time.time() - t0
            nbytes = attention_bytes(inp) if is_attn else indexer_bytes(inp)
            sol_us = nbytes / bw * 1e6
            row = {"definition": defname, "axes": list(key), "bytes": nbytes, "sol_us": sol_us,
                   "torch_ref_us": ref_wall * 1e6, "gpu": dev_name}
            line = (f"TIME {defname[:14]} axes={key} full bytes={nbytes / 1e6:7.2f}MB "
                    f"sol={sol_us:7.2f}us")
            for kind, plan in plans.items():
                for mode in ("write", "read"):
                    sfx = "" if mode == "write" else "_readflush"
                    us = time_plan(plan, definition, inp, a.iters, mode)
                    row[kind + sfx + "_us"] = us
                    line += f" {kind}[{mode}]={us:7.2f}us ({sol_us / us * 100:5.1f}%)"
                    first = first_steps.get(kind)
                    if first is not None:   # the first launch alone: where the time goes
                        us1 = time_plan(first, definition, inp, a.iters, mode)
                        row[kind + sfx + "_first_launch_us"] = us1
                        line += f" [1st {us1:6.2f}]"
            line += f" torch={ref_wall * 1e6:10.0f}us"
            timings.append(row)
            print(line, flush=True)
            del inp, kin

    if a.out:
        with open(a.out, "w") as f:
            json.dump({"gpu": dev_name, "results": results, "timings": timings}, f, indent=1)
    if skipped:
        print(f"WARNING: {skipped} cases skipped for the time budget", flush=True)
    print(f"{passed} passed, {failed + skipped} failed")
    return 1 if failed or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
