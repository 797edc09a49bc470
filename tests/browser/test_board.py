#!/usr/bin/env python3
"""test_board.py: the web board in headless Chromium (make test-browser).

Stack: a real redis-server and kf-server (auth on, three teams) over the
synthesized contest dataset (var/dataset, or KF_VAR/dataset). Seeding goes
through the public API and the queue protocol: the teams POST /solutions
(variants of the bundled examples), then tests/browser/seed_worker (the real
lib/queue.h and the worker's trace builder; modelled latencies, no GPU)
evaluates them as an NVIDIA_H100 and then an NVIDIA_H200 worker. One
submission is left pending.

Checks, in the browser: rankings (order, labels, filter by GPU model,
hidden unranked solutions), header (queue, workers, GPU models, UTC), the
history chart, links from the board to solution pages and from there to
every trace's JSON, the solution page (per-workload chart bars, statuses,
evaluation log of failures, source visible to its team only), a team's
pending and failed submissions with their reasons, and the error banner
when kf-server is stopped (and its disappearance when it is back).
Screenshots go to KF_SCREENSHOT_DIR (default BUILD/browser); README shows
the copies in docs/img/.
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import kfserver as K  # noqa: E402
from cdp import Browser, find_chromium  # noqa: E402

ROOT = K.ROOT
BUILD = os.environ.get("KF_BUILD", "build")
VAR = os.environ.get("KF_VAR", os.path.join(ROOT, "var"))
DATASET = os.environ.get("KF_BROWSER_DATASET", os.path.join(VAR, "dataset"))
SHOTS = os.environ.get("KF_SCREENSHOT_DIR", os.path.join(ROOT, BUILD, "browser"))
SEED = os.path.join(ROOT, BUILD, "tests", "seed_worker")

GDN = "gdn_decode_qk4_v8_d128_k_last"
PREFILL = "gdn_prefill_qk4_v8_d128_k_last"
DSA = "dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64"
TOPK = "dsa_topk_indexer_fp8_h64_d128_topk2048_ps64"
MOE = "moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048"

TOKENS = {"alpha": "tok-alpha-0123456789", "beta": "tok-beta-0123456789",
          "admin": "tok-admin-0123456789"}

# solution name -> (team, definition, author, behaviour for seed_worker)
PLAN = [
    ("gdn_decode_tiled", "beta", GDN, "bob", {"speedup": 1.31}),
    ("dsa_sparse_split", "alpha", DSA, "alice", {"speedup": 1.72}),
    ("moe_fp8_wgmma", "beta", MOE, "bob", {"speedup": 1.49}),
    ("dsa_topk_radix", "beta", TOPK, "bob", {"speedup": 1.18}),
    ("gdn_decode_naive", "beta", GDN, "bob",
     {"speedup": 0.9, "fail": "INCORRECT_NUMERICAL", "fail_every": 4}),
    ("moe_swizzle", "alpha", MOE, "alice", {"speedup": 1.2, "fail": "COMPILE_ERROR"}),
    ("gdn_prefill_chunked", "alpha", PREFILL, "alice",
     {"speedup": 1.1, "task_error": "evaluator lost: the GPU fell off the bus (Xid 79)"}),
    # second wave: an improvement that shows in the history
    ("gdn_decode_warp", "alpha", GDN, "alice", {"speedup": 1.86}),
    ("dsa_sparse_fused", "beta", DSA, "bob", {"speedup": 2.07}),
]
PENDING = ("dsa_topk_bitonic", "alpha", TOPK, "alice")


def variant(defn, name, author):
    base = json.load(open(os.path.join(ROOT, "kernels", "examples", defn, "solution.json")))
    s = copy.deepcopy(base)
    s["name"] = name
    s["author"] = author
    s["description"] = "%s by %s (seeded for the board test)" % (name, author)
    s["sources"][0]["content"] = "// %s\n" % name + s["sources"][0]["content"]
    return s


def submit(srv, team, sol, rerun=False):
    r = srv.http("POST", "/solutions" + ("?rerun=1" if rerun else ""), sol,
                 {"Authorization": "Bearer " + TOKENS[team]})
    if r.status not in (200, 202):
        raise RuntimeError("submit %s: %d %s" % (sol["name"], r.status, r.data[:300]))
    return r.json()


def seed_worker(redis, plan_path, hw, wid):
    out = subprocess.run([SEED, redis.url, DATASET, plan_path, hw, wid], capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError("seed_worker failed: " + out.stdout[-2000:] + out.stderr[-2000:])


def main():
    R = K.Results()
    if not find_chromium():
        print("not ok - chromium is missing (make deps installs it)")
        R.failed += 1
        R.finish()
    if not os.path.exists(os.path.join(DATASET, ".complete")) and \
            not os.path.isdir(os.path.join(DATASET, "definitions")):
        print("not ok - dataset %s missing (make dataset)" % DATASET)
        R.failed += 1
        R.finish()
    tmp = tempfile.mkdtemp(prefix="kf-browser-")
    tokfile = os.path.join(tmp, "tokens")
    with open(tokfile, "w") as f:
        f.write("%s alice alpha submit\n" % TOKENS["alpha"])
        f.write("%s bob beta submit\n" % TOKENS["beta"])
        f.write("%s root admins admin\n" % TOKENS["admin"])
    redis = K.Redis(tmp, aof=False)
    redis.start()
    srv = K.Server(tmp, redis, DATASET, "--auth", "on", "--tokens-file", tokfile,
                   "--results-cache-ms", "0")
    srv.start()
    browser = None
    try:
        # ---- seed ---------------------------------------------------------------
        plan = {}
        names = {}
        wave1, wave2 = PLAN[:7], PLAN[7:]
        for wave in (wave1, wave2):
            for name, team, defn, author, beh in wave:
                a = submit(srv, team, variant(defn, name, author))
                names[name] = a["solution"]
                plan[name] = beh
            with open(os.path.join(tmp, "plan.json"), "w") as f:
                json.dump(plan, f)
            seed_worker(redis, os.path.join(tmp, "plan.json"), "NVIDIA_H100", "seed-h100-0")
            srv.http("GET", "/results")          # the board (and its history) as it was
            time.sleep(1.1)
        # the same solutions on an H200 (a rerun of each ranked one)
        for name, team, defn, author, beh in PLAN:
            if "fail" not in beh and "task_error" not in beh:
                submit(srv, team, variant(defn, name, author), rerun=True)
        seed_worker(redis, os.path.join(tmp, "plan.json"), "NVIDIA_H200", "seed-h200-0")
        pend = submit(srv, PENDING[1], variant(PENDING[2], PENDING[0], PENDING[3]))
        names[PENDING[0]] = pend["solution"]
        R.check("POST /solutions answers pending like the task", pend.get("status") == "pending",
                str(pend))

        base = "http://127.0.0.1:%d/" % srv.port
        browser = Browser()
        b = browser

        # ---- the board, anonymous ------------------------------------------------
        b.goto(base)
        b.wait("document.querySelectorAll('table.ranking tr[data-solution]').length > 0")
        b.wait("document.getElementById('workers').textContent === '2'")
        rows = b.eval("""Array.from(document.querySelectorAll(
            '.def[data-def="%s"] table.ranking[data-hardware="NVIDIA_H100"] tr[data-solution]'))
            .map(r => r.getAttribute('data-solution'))""" % GDN)
        R.check("gdn_decode H100 ranking: warp (1.86x) above tiled (1.31x)",
                rows == [names["gdn_decode_warp"], names["gdn_decode_tiled"]], str(rows))
        R.check("a solution that failed workloads is not ranked",
                names["gdn_decode_naive"] not in rows)
        label = b.eval("""document.querySelector('.def[data-def="%s"] h3').textContent""" % GDN)
        R.check("each board says which reference the speedup is against",
                "speedup vs native reference" in label, label)
        score = b.eval("""document.querySelector('.def[data-def="%s"] table.ranking tr[data-solution] td.score')
            .textContent""" % DSA)
        R.check("dsa_sparse ranks fused first, about 2.07x", re.match(r"^2\.\d\d×$", score or ""),
                score)
        gpus = b.eval("document.getElementById('gpus').textContent")
        R.check("header lists the GPU models of connected workers",
                "NVIDIA_H100" in gpus and "NVIDIA_H200" in gpus, gpus)
        R.check("header shows the queue length (one pending task)",
                b.eval("document.getElementById('queue').textContent") == "1")
        upd = b.wait("(t => t.endsWith('UTC') && t)(document.getElementById('updated').textContent)")
        R.check("times are labelled UTC", upd.endswith("UTC"), upd)
        hist = b.eval("""document.querySelectorAll('.def[data-def="%s"] svg.history path').length""" % GDN)
        R.check("history chart of the best score per GPU model", hist >= 1, str(hist))
        pts = json.loads(srv.http("GET", "/board/history?definition=" + GDN).data)
        h100 = [x for x in pts["boards"] if x["hardware"] == "NVIDIA_H100"]
        R.check("history records the improvement tiled -> warp",
                h100 and [p["solution"] for p in h100[0]["points"]][-2:] ==
                [names["gdn_decode_tiled"], names["gdn_decode_warp"]], json.dumps(pts)[:400])
        R.check("anonymous visitors see no submissions, with a hint",
                "team token" in b.eval("document.getElementById('submissions').textContent"))
        b.screenshot(os.path.join(SHOTS, "board.png"), max_height=1250)

        # ---- filter by GPU model ---------------------------------------------------
        b.eval("""(s => { s.value = 'NVIDIA_H200'; s.dispatchEvent(new Event('change')); })
            (document.getElementById('gpu-filter'))""")
        hws = b.eval("""Array.from(new Set(Array.from(document.querySelectorAll('table.ranking'))
            .map(t => t.getAttribute('data-hardware'))))""")
        R.check("the GPU filter leaves only H200 tables", hws == ["NVIDIA_H200"], str(hws))
        b.eval("""(s => { s.value = ''; s.dispatchEvent(new Event('change')); })
            (document.getElementById('gpu-filter'))""")

        # ---- links: board -> solution page -> traces -----------------------------
        hrefs = b.eval("Array.from(document.querySelectorAll('a.sol')).map(a => a.getAttribute('href'))")
        R.check("every ranked row links to its solution page",
                hrefs and all(h.startswith("#/solution/") for h in hrefs), str(hrefs)[:200])
        b.eval("""document.querySelector('.def[data-def="%s"] a.sol').click()""" % GDN)
        b.wait("document.querySelector('#solution[data-solution]') !== null")
        b.wait("document.querySelectorAll('section.result').length === 2")
        sol = b.eval("document.getElementById('solution').getAttribute('data-solution')")
        R.check("the link opens the solution page of the top entry", sol == names["gdn_decode_warp"],
                sol)
        nwl = len(json.loads(srv.http("GET", "/definitions/" + GDN + "/workloads").data))
        bars = b.eval("""document.querySelectorAll(
            'section.result[data-hardware="NVIDIA_H100"] svg.speedup_factor rect.bar').length""")
        R.check("speedup chart: one bar per workload (%d)" % nwl, bars == nwl, str(bars))
        lat = b.eval("""document.querySelectorAll(
            'section.result[data-hardware="NVIDIA_H100"] svg.latency_ms rect.bar').length""")
        R.check("latency chart: one bar per workload", lat == nwl, str(lat))
        st = b.eval("""Array.from(document.querySelectorAll(
            'section.result[data-hardware="NVIDIA_H100"] table.workloads .pill')).map(p => p.textContent)""")
        R.check("status per workload, all PASSED", len(st) == nwl and set(st) == {"PASSED"}, str(st)[:200])
        src = b.eval("document.getElementById('sources').textContent")
        R.check("anonymous: source hidden (team and admins only)", "team and to admins" in src, src)
        links = b.eval("Array.from(document.querySelectorAll('a.trace')).map(a => a.getAttribute('href'))")
        R.check("a trace link per workload and GPU", len(links) == 2 * nwl, str(len(links)))
        oks = b.eval("""Promise.all(%s.map(u => fetch(u).then(r => r.ok ? r.json() : null)))
            .then(a => a.filter(t => t && t.evaluation && t.solution === '%s').length)"""
                     % (json.dumps(links), names["gdn_decode_warp"]))
        R.check("every trace link answers the trace JSON", oks == len(links), str(oks))
        b.screenshot(os.path.join(SHOTS, "solution.png"), max_height=1500)
        b.eval("document.getElementById('back').click()")
        b.wait("document.getElementById('board') !== null")

        # unranked solution of another team: hidden from anonymous visitors
        r = srv.http("GET", "/board/solutions/" + names["gdn_decode_naive"])
        R.check("an unranked solution is not public", r.status == 404, str(r.status))

        # ---- a team's view ------------------------------------------------------
        b.eval("""(i => { i.value = '%s'; i.dispatchEvent(new Event('change')); })
            (document.getElementById('token'))""" % TOKENS["alpha"])
        b.wait("document.querySelectorAll('#submissions tr[data-task]').length > 0")
        subs = b.eval("""Array.from(document.querySelectorAll('#submissions tr[data-task]'))
            .map(r => [r.querySelector('a.sol').textContent, r.getAttribute('data-status'),
                       r.lastChild.textContent])""")
        by = {s[0]: s for s in subs}
        R.check("team alpha sees only its own submissions",
                set(by) == {names[n] for n, t, *_ in PLAN + [PENDING] if t == "alpha"},
                str(sorted(by)))
        R.check("pending submission shown", by.get(names[PENDING[0]], [0, 0])[1] == "pending")
        R.check("failed task shown with its reason",
                by.get(names["gdn_prefill_chunked"], [0, "", ""])[1] == "failed" and
                "fell off the bus" in by[names["gdn_prefill_chunked"]][2], str(by)[:300])
        R.check("completed task with failing workloads shows why",
                "COMPILE_ERROR" in by.get(names["moe_swizzle"], ["", "", ""])[2], str(by)[:300])
        b.screenshot(os.path.join(SHOTS, "submissions.png"), full=False)
        b.eval("location.hash = '#/solution/%s'" % names["moe_swizzle"])
        b.wait("document.querySelector('#solution[data-solution]') !== null && "
               "document.querySelectorAll('.evallog pre').length > 0")
        log = b.eval("document.querySelector('.evallog pre').textContent")
        R.check("the evaluation log of failures is on the solution page", "nvrtc" in log, log)
        src = b.eval("document.querySelector('#sources pre.source').textContent")
        R.check("its team sees the source", src.startswith("// moe_swizzle"), src[:80])

        # ---- the error banner ----------------------------------------------------
        b.eval("location.hash = '#/'")
        b.wait("document.getElementById('board') !== null")
        R.check("no banner while the server answers",
                b.eval("document.getElementById('banner').className") == "")
        port = srv.port
        srv.stop()
        txt = b.wait("""(e => e.className === 'show' && e.textContent)
            (document.getElementById('banner'))""", timeout=20)
        R.check("error banner when the server cannot be reached",
                "Cannot reach the kernelfarm server" in txt and "UTC" in txt, txt)
        R.check("the last data stays on the page",
                b.eval("document.querySelectorAll('table.ranking tr[data-solution]').length") > 0)
        b.screenshot(os.path.join(SHOTS, "banner.png"), full=False)
        srv.port = port
        srv.start()
        b.wait("document.getElementById('banner').className === ''", timeout=20)
        R.check("the banner goes away when the server is back", True)
    except Exception:
        import traceback
        R.failed += 1
        print("not ok - browser test raised:\n" + traceback.format_exc())
        print(open(srv.log).read()[-3000:] if os.path.exists(srv.log) else "")
    finally:
        if browser:
            browser.close()
        srv.stop()
        redis.stop()
    R.finish()


if __name__ == "__main__":
    main()
