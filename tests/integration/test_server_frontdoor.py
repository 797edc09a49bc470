#!/usr/bin/env python3
"""test_server_frontdoor.py: issue 11 ("the front door holds") against a
real redis-server and bin/kf-server on loopback: every reproducer of the
hostile test gets a clear 4xx (or is harmless), checked here one by one:
slow validation, solution store collisions across teams, memory before
auth, drive-by admin calls, batch amplification, storage quotas and
archiving, launch plans and names accepted though wrong, leaks (task ids of
other teams), Redis restarts, per-client connections, secrets in logs,
worker health, a port in use, workload set order."""
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def err(r):
    try:
        return r.json()["error"]
    except Exception:
        return {}


def raw(port, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
    except OSError:
        pass
    s.close()
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/") else 0
    return status, out


# ---- 3: memory before auth ------------------------------------------------------

def test_memory_before_auth(s):
    """64 unauthenticated 8 MiB uploads to a route that does not exist: each is
    answered 404 on its headers; the server does not buffer the bodies."""
    before = rss_kib(s.proc.pid)
    socks = []
    head = (b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (8 << 20))
    statuses = []
    for i in range(64):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(head)
        socks.append(c)
    chunk = b"x" * 65536
    for c in socks:
        try:
            for _ in range(16):      # 1 MiB each, the server answers meanwhile
                c.sendall(chunk)
        except OSError:
            pass
    peak = rss_kib(s.proc.pid)
    for c in socks:
        try:
            d = c.recv(200)
            statuses.append(int(d.split(b" ", 2)[1]) if d.startswith(b"HTTP/") else 0)
        except OSError:
            statuses.append(0)
        c.close()
    R.check("64 unauthenticated uploads to an unknown route: 404 on the headers",
            statuses.count(404) == 64, statuses[:8])
    R.check("... and the bodies are not buffered (RSS +%d KiB)" % (peak - before),
            peak - before < 8 << 10, (before, peak))


def test_auth_before_body(s_auth):
    head = (b"POST /solutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (4 << 20))
    st, out = raw(s_auth.port, head)
    R.check("auth on: POST /solutions without a token -> 401 before the body is sent",
            st == 401, out[:200])


def test_body_budget(tmp, redis, ds):
    """--body-memory 1 MiB: two 700 KiB bodies at once; the second gets 503 +
    Retry-After on its headers; after the first ends, the budget is free again."""
    s = K.Server(tmp, redis, ds, "--rate-limit", "0", "--body-memory", "1048576",
                 name="budget")
    s.start()
    try:
        n = 700 << 10
        head = (b"POST /solutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % n)
        a = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        a.sendall(head + b" " * 1000)           # reserved, not finished
        time.sleep(0.2)
        st, out = raw(s.port, head)
        R.check("body budget: a second large body at once -> 503 + Retry-After",
                st == 503 and b"Retry-After" in out, out[:300])
        a.sendall(b" " * (n - 1000))
        d = a.recv(300)
        a.close()
        R.check("body budget: the first body is read in full (400: not a solution)",
                d.startswith(b"HTTP/1.1 400"), d[:100])
        b = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        b.sendall(head + b" " * n)
        d = b.recv(300)
        b.close()
        R.check("body budget: released when the request ends", d.startswith(b"HTTP/1.1 400"),
                d[:100])
    finally:
        s.stop()


def test_headers(s):
    st, out = raw(s.port, b"POST /solutions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                          b"\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    body = out.partition(b"\r\n\r\n")[2]
    R.check("duplicate Content-Length -> 400", st == 400
            and json.loads(body or b"{}").get("error", {}).get("path") == "Content-Length",
            out[:300])
    q = "&".join("p%d=1" % i for i in range(33))
    r = s.http("GET", "/results?" + q)
    R.check("33 query parameters -> 400 (none silently dropped)", r.status == 400
            and "query" in err(r).get("path", ""), r.data[:200])
    r = s.http("GET", "/results?" + "&".join("p%d=1" % i for i in range(32)))
    R.check("32 query parameters are fine", r.status == 200, r.status)


# ---- 4: drive-by admin ------------------------------------------------------------

def test_admin_origin(s):
    r = s.http("POST", "/shutdown", raw=b"x", headers={"Content-Type": "text/plain",
                                                     "Origin": "http://evil.example"})
    R.check("cross-origin text/plain POST /shutdown -> 403", r.status == 403, r.data[:200])
    r = s.http("POST", "/shutdown", raw=b"x", headers={"Content-Type": "text/plain"})
    R.check("text/plain POST /shutdown (no token) -> 415", r.status == 415, r.data[:200])
    r = s.http("POST", "/drain", raw=b"{}", headers={"Content-Type": "application/json",
                                                   "Sec-Fetch-Site": "cross-site"})
    R.check("POST /drain with Sec-Fetch-Site: cross-site -> 403", r.status == 403, r.data[:200])
    r = s.http("GET", "/health")
    R.check("... and the server still runs, accepting", r.status == 200
            and r.json()["accepting"], r.data[:200])


# ---- 1: slow validation -----------------------------------------------------------

def big_kernel_solution(step_count=1, size=1 << 20, bad_at=None):
    """A solution whose source is full of 'k(' (the old kernel-name check was
    quadratic in it) with step_count launch steps; the last one names a
    missing kernel when bad_at is set."""
    sol = K.example_solution()
    sol = json.loads(json.dumps(sol))
    src = sol["sources"][0]["content"]
    filler = "__global__ void gdn_decode_fast(int)\n" * (size // 37)
    sol["sources"][0]["content"] = filler + src
    step = sol["spec"]["launch"][0]
    steps = []
    for i in range(step_count):
        st = dict(step)
        if bad_at is not None and i == bad_at:
            st["kernel"] = "missing_kernel"
        steps.append(st)
    sol["spec"]["launch"] = steps
    sol["name"] = "slow_%d" % step_count
    return sol


def test_slow_validation(tmp, redis, ds):
    s = K.Server(tmp, redis, ds, "--rate-limit", "3", "--rate-window", "3600", name="slow")
    s.start()
    try:
        sol = big_kernel_solution(1, 1 << 20)
        t0 = time.monotonic()
        r = s.http("POST", "/solutions", body=sol)
        dt = time.monotonic() - t0
        R.check("1 MiB solution with one launch step: validated in %.2f s (was 17.9 s)" % dt,
                r.status == 202 and dt < 2.0, (r.status, r.data[:200]))
        bad = big_kernel_solution(64, 150 << 10, bad_at=63)
        codes, slowest, first = [], 0.0, None
        for i in range(3):
            t0 = time.monotonic()
            r = s.http("POST", "/solutions", body=bad)
            slowest = max(slowest, time.monotonic() - t0)
            codes.append(r.status)
            first = first or r
        R.check("failing at launch[63] costs little (%.2f s) and says where" % slowest,
                codes[0] == 400 and err(first).get("path") == "spec.launch[63].kernel"
                and slowest < 2.0, (codes, first.data[:200]))
        R.check("failed validations count against the rate limit (4th -> 429)",
                codes == [400, 400, 429], codes)
        t0 = time.monotonic()
        h = s.http("GET", "/health")
        R.check("/health answers at once meanwhile", h.status == 200
                and time.monotonic() - t0 < 1.0)
    finally:
        s.stop()


# ---- 2: teams and stored solutions ------------------------------------------------------

def write_tokens(tmp):
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("tok-alice-0123 alice team-a submit\n"
                "tok-bob-456789 bob team-b submit\n"
                "tok-admin-0000 admin - admin\n")
    return tokens


A = {"Authorization": "Bearer tok-alice-0123"}
B = {"Authorization": "Bearer tok-bob-456789"}
ADM = {"Authorization": "Bearer tok-admin-0000"}


def test_teams(tmp, redis, ds, uuids):
    s = K.Server(tmp, redis, ds, "--tokens-file", write_tokens(tmp), "--rate-limit", "0",
                 name="teams")
    s.start()
    try:
        rr = K.RESP(redis.sock)
        rr.cmd("FLUSHALL")
        rr.close()
        test_auth_before_body(s)
        sol = dict(K.example_solution(), name="shared", author="alice", description="A's")
        ra = s.http("POST", "/solutions", body=sol, headers=A)
        solb = dict(sol, author="mallory", description="B's")
        rb = s.http("POST", "/solutions", body=solb, headers=B)
        name = K.fib_name(sol)
        R.check("identical code from two teams: both accepted, same display name",
                ra.status == 202 and rb.status == 202 and ra.json()["solution"] == name
                and rb.json()["solution"] == name, (ra.data, rb.data))
        ga = s.http("GET", "/solutions/" + name, headers=A).json()
        gb = s.http("GET", "/solutions/" + name, headers=B).json()
        R.check("team A's stored document keeps A's description (B cannot replace it)",
                ga.get("description") == "A's" and gb.get("description") == "B's", (ga, gb))
        R.check("the author is the submitting token's team, not the body's claim",
                ga.get("author") == "team-a" and gb.get("author") == "team-b",
                (ga.get("author"), gb.get("author")))
        again = s.http("POST", "/solutions?rerun=1", body=dict(sol, description="A's later"),
                       headers=A)
        ga2 = s.http("GET", "/solutions/" + name, headers=A).json()
        R.check("a stored document is never replaced (SET NX), even by its own team",
                again.status == 202 and ga2.get("description") == "A's", ga2.get("description"))
        c = K.Consumer(redis.sock, "teams-worker")
        seen = {}
        for _ in range(3):
            t = c.claim()
            seen.setdefault(t["team"], set()).add(t["solution_doc"].get("description"))
        c.close()
        R.check("each team's pending task loads its own document",
                seen == {"team-a": {"A's"}, "team-b": {"B's"}}, seen)
        rr = K.RESP(redis.sock)
        keys = rr.cmd("KEYS", "kf:solution:*")
        rr.close()
        full = [k for k in keys if "shared_" in k]
        R.check("stored under <team>/<name>_<full sha1>, never the short name",
                len(full) == 2 and all(len(k.rsplit("_", 1)[1]) == 40 for k in full), keys)
        r = s.http("GET", "/solutions/" + full[0].split("/", 1)[1], headers=A)
        R.check("GET /solutions/{name with the full hash} works too", r.status == 200)
        r = s.http("GET", "/solutions/" + name, headers=ADM)
        R.check("admin reads any team's solution", r.status == 200)
        # 8: a task_id another team used does not answer 409
        body = {"solution": dict(sol, name="tid1"), "task_id": "my-task-1"}
        r1 = s.http("POST", "/evaluate", body=body, headers=A)
        r2 = s.http("POST", "/evaluate", body=dict(body, solution=dict(sol, name="tid2")),
                    headers=B)
        R.check("a task_id another team already used: 200, its own task (no 409 leak)",
                r1.status == 200 and r2.status == 200
                and r1.json()["task_id"] == r2.json()["task_id"] == "my-task-1",
                (r1.data, r2.data))
        ta = s.http("GET", "/tasks/my-task-1", headers=A).json()
        tb = s.http("GET", "/tasks/my-task-1", headers=B).json()
        R.check("... and each team reads its own task under that id",
                ta.get("solution", "").startswith("tid1_")
                and tb.get("solution", "").startswith("tid2_") and ta["task_id"] == "my-task-1",
                (ta, tb))
        r = s.http("POST", "/evaluate", body=dict(body, solution=dict(sol, name="tid3")),
                   headers=A)
        R.check("the same team reusing its task_id differently: still 409", r.status == 409,
                r.data[:200])
        r = s.http("POST", "/tasks/batch", body={"task_ids": ["my-task-1"], "timeout": 0},
                   headers=B)
        R.check("batch resolves a team's own task_id", r.status == 200
                and r.json()[0]["solution"].startswith("tid2_"), r.data[:200])
    finally:
        s.stop()


# ---- 5: amplification ---------------------------------------------------------------

def test_batch(s, redis):
    sol = dict(K.example_solution(), name="bigtraces")
    tid = s.http("POST", "/solutions", body=sol).json()["task_id"]
    c = K.Consumer(redis.sock, "batch-worker")
    t = c.claim()
    while t and t["id"] != tid:
        c.complete(t)
        t = c.claim()
    c.complete(t)
    c.close()
    rr = K.RESP(redis.sock)
    big = json.dumps({"definition": K.GDN, "workload": {"uuid": "x"}, "solution": "s",
                      "evaluation": {"status": "PASSED", "log": "x" * (100 << 10)}})
    rr.cmd("RPUSH", "kf:traces:" + tid, big)
    rr.close()
    before = rss_kib(s.proc.pid)
    body = {"task_ids": [tid] * 1000, "timeout": 0}
    results = []

    def one():
        results.append(s.http("POST", "/tasks/batch", body=body))
    ths = [threading.Thread(target=one) for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    after = rss_kib(s.proc.pid)
    R.check("batch of one large task id x1000: 413 (answer over --max-response)",
            all(r.status == 413 for r in results), [r.status for r in results])
    R.check("... 8 at once cost little memory (+%d KiB)" % (after - before),
            after - before < 64 << 10, (before, after))
    r = s.http("POST", "/tasks/batch", body={"task_ids": [tid] * 20, "timeout": 0})
    R.check("a batch of 20 copies still answers in order", r.status == 200
            and len(r.json()) == 20 and all(x["task_id"] == tid for x in r.json()), r.status)
    for to in (-1, 3601, "1"):
        r = s.http("POST", "/tasks/batch", body={"task_ids": [tid], "timeout": to})
        R.check("batch timeout %r -> 400 (as GET /tasks/{id})" % (to,), r.status == 400
                and err(r).get("path") == "timeout", r.data[:200])


# ---- 6: quotas and retention ----------------------------------------------------------

def test_quotas(tmp, redis, ds):
    arch = os.path.join(tmp, "archive")
    s = K.Server(tmp, redis, ds, "--rate-limit", "0", "--quota-tasks", "3", "--archive-dir",
                 arch, name="quota")
    s.start()
    try:
        rr = K.RESP(redis.sock)
        rr.cmd("FLUSHALL")
        c = K.Consumer(redis.sock, "quota-worker")
        ids = []
        for i in range(3):
            r = s.http("POST", "/solutions?rerun=1", body=dict(K.example_solution(), name="q"))
            ids.append(r.json()["task_id"])
            c.complete(c.claim())
        r = s.http("POST", "/solutions?rerun=1", body=dict(K.example_solution(), name="q"))
        R.check("4th task past --quota-tasks 3: accepted", r.status == 202, r.data[:200])
        lines = open(os.path.join(arch, "_default.jsonl")).read().splitlines() \
            if os.path.exists(os.path.join(arch, "_default.jsonl")) else []
        R.check("... the oldest finished task is archived to <archive-dir>/<team>.jsonl",
                len(lines) == 1 and json.loads(lines[0])["task"]["id"] == ids[0]
                and len(json.loads(lines[0])["traces"]) == 3, lines[:1])
        R.check("... and gone from Redis (404)", s.http("GET", "/tasks/" + ids[0]).status == 404)
        R.check("... the others are kept", s.http("GET", "/tasks/" + ids[1]).status == 200)
        c.close()
    finally:
        s.stop()
    s = K.Server(tmp, redis, ds, "--rate-limit", "0", "--quota-bytes", "40000", name="quota2")
    s.start()
    try:
        rr = K.RESP(redis.sock)
        rr.cmd("FLUSHALL")
        # bytes: the example is ~5 KB; distinct contents until 40000 bytes
        codes = []
        for i in range(12):
            sol = K.example_solution()
            sol["sources"][0]["content"] += "\n// %d\n" % i
            sol["name"] = "b%d" % i
            r = s.http("POST", "/solutions", body=sol)
            codes.append(r.status)
            if r.status != 202:
                break
        R.check("--quota-bytes: stored solutions past the quota -> 413 quota_exceeded",
                codes[-1] == 413 and err(r).get("code") == "quota_exceeded"
                and codes.count(202) >= 5, (codes, r.data[:300]))
        rr.close()
    finally:
        s.stop()


# ---- 7: accepted though wrong ----------------------------------------------------------

def test_wrong_plans(s, uuids):
    def with_step(**kw):
        sol = json.loads(json.dumps(K.example_solution()))
        sol["spec"]["launch"][0].update(kw)
        return sol
    cases = [("grid 1/0", with_step(grid=["1/0", 1, 1]), "spec.launch[0].grid[0]"),
             ("grid cdiv(x,0)", with_step(grid=["cdiv(batch_size, 0)", 1, 1]),
              "spec.launch[0].grid[0]"),
             ("negative grid", with_step(grid=[-1, 1, 1]), "spec.launch[0].grid[0]"),
             ("zero grid", with_step(grid=[0, 1, 1]), "spec.launch[0].grid[0]"),
             ("2^62 grid", with_step(grid=[1 << 62, 1, 1]), "spec.launch[0].grid[0]"),
             ("block 0", with_step(block=[0]), "spec.launch[0].block[0]"),
             ("block 100000", with_step(block=[100000]), "spec.launch[0].block[0]"),
             ("block 64x64", with_step(block=[64, 64]), "spec.launch[0].block"),
             ("negative shared memory", with_step(shared_mem_bytes=-1),
              "spec.launch[0].shared_mem_bytes")]
    ws = json.loads(json.dumps(K.example_solution()))
    ws["spec"]["workspace"] = [{"name": "tmp", "bytes": 1 << 62}]
    cases.append(("2^62-byte workspace", ws, "spec.workspace[0].bytes"))
    for what, sol, path in cases:
        r = s.http("POST", "/solutions", body=sol)
        R.check("launch plan with %s -> 400 at %s" % (what, path),
                r.status == 400 and err(r).get("path") == path, r.data[:300])
    for what, name in [("'/'", "a/b"), ("CR/LF", "a\r\nb"), ("10,000 characters", "n" * 10000)]:
        r = s.http("POST", "/solutions", body=dict(K.example_solution(), name=name))
        R.check("solution name with %s -> 400" % what, r.status == 400
                and err(r).get("path") == "name", r.data[:200])
    sol = dict(K.example_solution(), name="n.ok-1")
    r = s.http("POST", "/solutions", body=sol)
    g = s.http("GET", "/solutions/" + r.json().get("solution", "?"))
    R.check("a name of the grammar is served back by GET /solutions/{name}",
            r.status == 202 and g.status == 200, (r.data[:200], g.status))
    r = s.http("POST", "/solutions?workloads=,,,", body=sol)
    R.check("workloads=,,, -> 400 (not 'all')", r.status == 400
            and err(r).get("path") == "workloads", r.data[:200])
    r = s.http("POST", "/solutions?rerun=yes", body=sol)
    R.check("rerun=yes -> 400 (not silently ignored)", r.status == 400
            and err(r).get("path") == "rerun", r.data[:200])
    sol = dict(K.example_solution(), name="order")
    r1 = s.http("POST", "/solutions?workloads=%s,%s" % (uuids[0], uuids[1]), body=sol)
    r2 = s.http("POST", "/solutions?workloads=%s,%s" % (uuids[1], uuids[0]), body=sol)
    R.check("?workloads=a,b and b,a are one set: one task", r1.status == 202
            and r2.status == 200 and r2.json()["task_id"] == r1.json()["task_id"],
            (r1.data[:200], r2.data[:200]))


# ---- 8: leaks and hiccups -------------------------------------------------------------

def test_redis_restart(tmp, redis, ds):
    s = K.Server(tmp, redis, ds, "--rate-limit", "0", "--threads", "2",
                 "--health-cache-ms", "0", name="restart")
    s.start()
    try:
        sol = dict(K.example_solution(), name="restart")
        for _ in range(20):
            s.http("GET", "/health")
            s.http("POST", "/solutions", body=sol)
        redis.stop()
        redis.start()
        time.sleep(0.3)
        codes = []
        for _ in range(20):
            codes.append(s.http("GET", "/health").status)
            codes.append(s.http("POST", "/solutions", body=sol).status)
            codes.append(s.http("GET", "/results").status)
        R.check("after a Redis restart no request sees 503", 503 not in codes, codes)
    finally:
        s.stop()


def test_per_client_cap(tmp, redis, ds):
    s = K.Server(tmp, redis, ds, "--rate-limit", "0", "--max-connections", "64", name="cap")
    s.start()
    socks = []
    try:
        for i in range(64):
            c = socket.socket()
            c.settimeout(5)
            c.bind(("127.0.0.2", 0))
            try:
                c.connect(("127.0.0.1", s.port))
                c.sendall(b"POST /solutions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            except OSError:
                pass
            socks.append(c)
        time.sleep(0.3)
        r = s.http("GET", "/health", timeout=5)
        R.check("64 half-sent requests from one client leave room for others", r.status == 200)
    except OSError as e:
        R.check("64 half-sent requests from one client leave room for others", False, e)
    finally:
        for c in socks:
            c.close()
        s.stop()


def test_secrets_in_logs(tmp, redis, ds):
    import subprocess
    log = os.path.join(tmp, "secret.log")
    p = subprocess.Popen([os.path.join(K.BIN, "kf-server"), "--redis-url",
                          "redis://:hunter2-sekrit@127.0.0.1:1/0", "--port", "0", "--dataset", ds,
                          "--log-level", "info"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    p.wait(20)
    out = open(log).read()
    R.check("the Redis URL's password is masked in every log line",
            "redis-url" in out and "hunter2-sekrit" not in out and "***" in out, out[-600:])


def test_worker_health(s, redis):
    rr = K.RESP(redis.sock)
    old = "%.3f" % (time.time() - 120)
    now = "%.3f" % time.time()
    for wid, state, seen in (("w-fresh", "idle", now), ("w-stale", "idle", old),
                             ("w-starting", "starting", now)):
        rr.cmd("HSET", "kf:worker:" + wid, "id", wid, "host", "t", "device", 0, "hardware",
               "NVIDIA_H100", "state", state, "task", "", "pid", 1, "started_at", now,
               "last_seen", seen)
        rr.cmd("EXPIRE", "kf:worker:" + wid, 60)
        rr.cmd("SADD", "kf:workers:set", wid)
    rr.close()
    time.sleep(0.3)
    h = s.http("GET", "/health").json()
    by = {w["id"]: w["healthy"] for w in h["workers"]}
    R.check("/health: a worker whose heartbeats stopped, or still starting, is not healthy",
            by.get("w-fresh") is True and by.get("w-stale") is False
            and by.get("w-starting") is False and h["healthy_workers"] == 1
            and h["total_workers"] == 3, h)


def test_port_in_use(tmp, redis, ds, s):
    import subprocess
    p = subprocess.run([os.path.join(K.BIN, "kf-server"), "--redis-url", redis.url,
                        "--dataset", ds, "--port", str(s.port)],
                       capture_output=True, text=True, timeout=30)
    R.check("a second kf-server on a port in use refuses to start", p.returncode != 0
            and "cannot listen" in (p.stdout + p.stderr), (p.returncode, p.stderr[-300:]))


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-frontdoor-")
    redis = K.Redis(tmp)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("memory before auth", test_memory_before_auth, s)
        R.run("headers", test_headers, s)
        R.run("body budget", test_body_budget, tmp, redis, ds)
        R.run("slow validation", test_slow_validation, tmp, redis, ds)
        R.run("teams", test_teams, tmp, redis, ds, uuids)
        R.run("batch", test_batch, s, redis)
        R.run("wrong plans", test_wrong_plans, s, uuids)
        R.run("worker health", test_worker_health, s, redis)
        R.run("port in use", test_port_in_use, tmp, redis, ds, s)
        R.run("per-client cap", test_per_client_cap, tmp, redis, ds)
        R.run("secrets in logs", test_secrets_in_logs, tmp, redis, ds)
        R.run("redis restart", test_redis_restart, tmp, redis, ds)
        R.run("quotas", test_quotas, tmp, redis, ds)
        R.run("admin origin", test_admin_origin, s)
    finally:
        s.stop(signal.SIGKILL) if s.proc else None
        redis.stop()
        if R.failed:
            print("logs kept in", tmp)
            for f in os.listdir(tmp):
                if f.endswith(".log"):
                    print("--- %s\n%s" % (f, open(os.path.join(tmp, f)).read()[-3000:]))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
