#!/usr/bin/env python3
"""server_bench.py: load benchmark of kf-server on loopback (prints numbers;
not a test). Starts redis-server (unix socket, temp dir) and bin/kf-server
with a tiny dataset, seeds one completed and one pending task, then runs wrk
against cached GET /results, GET /tasks/{id} and POST /solutions (the
idempotent path: validation + Redis) at 64 and 256 connections, and
measures kf-server's memory with N suspended long-polls.

  bench/server_bench.py [--duration 10] [--longpolls 10000] [--wrk-threads 1]
                        [--conns 64,256] [--routes results,health,task,solutions]
                        [--bin path/to/kf-server]

--bin runs another kf-server build (e.g. the one before a change), so that
before/after numbers come from the same machine back to back.

Needs wrk (Debian package) and a built bin/kf-server. On a 2-core box the
load generator competes with the server for the CPU: --wrk-threads 1 leaves
one core to the server.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import kfserver as K  # noqa: E402


def wrk(url, conns, duration, threads, script=None):
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for p in ("50", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % p, out)
        v = float(m.group(1))
        lat[p] = v / 1000.0 if m.group(2) == "us" else v * 1000.0 if m.group(2) == "s" else v
    codes = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    nerr = sum(int(x) for x in errs.groups()) if errs else 0
    return rps, lat["50"], lat["99"], (int(codes.group(1)) if codes else 0) + nerr


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def longpoll_memory(s, tid, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = min(n, hard - 200)
    before = rss_kib(s.proc.pid)
    socks = []
    req = ("GET /tasks/%s?timeout=3600 HTTP/1.1\r\nHost: x\r\n\r\n" % tid).encode()
    t0 = time.monotonic()
    for i in range(n):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(req)
        socks.append(c)
    waiting = 0
    for _ in range(600):
        m = s.http("GET", "/metrics").data.decode()
        waiting = int(re.search(r"kf_longpoll_waiting (\d+)", m).group(1))
        if waiting >= n:
            break
        time.sleep(0.1)
    setup = time.monotonic() - t0
    after = rss_kib(s.proc.pid)
    # the server still answers other requests while they wait
    t1 = time.monotonic()
    r = s.http("GET", "/results")
    probe_ms = (time.monotonic() - t1) * 1000
    for c in socks:
        c.close()
    return n, waiting, before, after, setup, r.status, probe_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--longpolls", type=int, default=10000)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--conns", default="64,256")
    ap.add_argument("--routes", default="results,health,task,solutions")
    ap.add_argument("--bin", default=None, help="kf-server binary (default: bin/kf-server)")
    a = ap.parse_args()
    if a.bin:
        K.BIN = os.path.dirname(os.path.abspath(a.bin))
    if not shutil.which("wrk"):
        sys.exit("server_bench: wrk is not installed (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="kf-bench-")
    redis = K.Redis(tmp, aof=True)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    K.build_dataset(ds)
    extra = ["--rate-limit", "0", "--log-level", "warn"]
    help_text = subprocess.run([os.path.join(K.BIN, "kf-server"), "--help"],
                               capture_output=True, text=True).stdout
    if "max-connections-per-client" in help_text:
        extra += ["--max-connections-per-client", "0"]   # the long-polls come from one client
    s = K.Server(tmp, redis, ds, *extra)
    try:
        s.start()
        sol = K.example_solution()
        done = s.http("POST", "/solutions", body=sol).json()["task_id"]
        c = K.Consumer(redis.sock, "bench-worker")
        c.complete(c.claim())
        c.close()
        pend = s.http("POST", "/solutions", body=dict(sol, name="pending")).json()["task_id"]
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = '
                    '"application/json"\n' % json.dumps(json.dumps(sol)))
        base = "http://127.0.0.1:%d" % s.port
        cases = {"results": ("GET /results", base + "/results", None),
                 "health": ("GET /health", base + "/health", None),
                 "task": ("GET /tasks/{id}", base + "/tasks/" + done, None),
                 "solutions": ("POST /solutions", base + "/solutions", lua)}
        cases = [cases[r] for r in a.routes.split(",")]
        print("kf-server benchmark: %d cores, wrk -t%d, %d s per run, body %d bytes"
              % (os.cpu_count(), a.wrk_threads, a.duration, len(json.dumps(sol))))
        print("%-18s %6s %12s %10s %10s %8s" % ("route", "conns", "req/s", "p50 ms", "p99 ms",
                                               "errors"))
        for name, url, script in cases:
            for conns in [int(x) for x in a.conns.split(",")]:
                rps, p50, p99, bad = wrk(url, conns, a.duration, a.wrk_threads, script)
                print("%-18s %6d %12.0f %10.3f %10.3f %8d" % (name, conns, rps, p50, p99, bad))
                sys.stdout.flush()
        if a.longpolls > 0:
            n, waiting, before, after, setup, st, probe = longpoll_memory(s, pend, a.longpolls)
            print("long-polls: %d opened, %d suspended; kf-server RSS %.1f MiB -> %.1f MiB "
                  "(+%.1f KiB per long-poll); setup %.1f s; GET /results meanwhile: %d in %.1f ms"
                  % (n, waiting, before / 1024.0, after / 1024.0,
                     (after - before) / max(waiting, 1), setup, st, probe))
    finally:
        if s.proc:
            s.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
