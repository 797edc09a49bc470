#!/usr/bin/env python3
"""test_server_fuzz.py: kf-server never crashes and always answers API
errors as JSON: 600 requests with mutated solutions, request bodies, paths,
methods and query strings (fixed seed, so every run sends the same ones),
plus malformed HTTP on raw sockets. Checks: no 5xx except 503, every 4xx
with a body is {"error": {code, message, path}}, the server is healthy
afterwards and exits 0 on SIGTERM (under ASan: no leak report)."""
import json
import os
import random
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()


def mutator(rnd):
    def mutate(o):
        if isinstance(o, dict):
            o = dict(o)
            for k in list(o):
                x = rnd.random()
                if x < 0.1:
                    del o[k]
                elif x < 0.2:
                    o[k] = rnd.choice([None, 1, -1, 1.5, "", "x" * 300, [], {}, True])
                elif x < 0.5:
                    o[k] = mutate(o[k])
            return o
        if isinstance(o, list):
            o = [mutate(x) for x in o]
            if rnd.random() < 0.2:
                o.append(rnd.choice([None, 1, "q", {}, []]))
            if o and rnd.random() < 0.2:
                o.pop()
            return o
        if isinstance(o, str) and rnd.random() < 0.3:
            return rnd.choice(["", "num_sms", "batch_size *", "cdiv(", "q", "1/0", "9" * 30,
                               "\u00e9\u0000", "a::b", "../../etc/passwd"])
        if isinstance(o, int) and not isinstance(o, bool) and rnd.random() < 0.3:
            return rnd.choice([0, -1, 2 ** 63 - 1, 2 ** 70, 1e308])
        return o
    return mutate


def run(s, uuids):
    rnd = random.Random(20261122)
    mutate = mutator(rnd)
    sol = K.example_solution()
    bad = []
    for i in range(600):
        kind = rnd.random()
        if kind < 0.4:
            path = rnd.choice(["/solutions", "/solutions?rerun=1",
                               "/solutions?workloads=" + rnd.choice(uuids + ["x", ",,", ""])])
            r = s.http("POST", path, body=mutate(sol))
        elif kind < 0.65:
            body = {"solution": mutate(sol), "workload_uuids": mutate(uuids),
                    "task_id": rnd.choice([None, "t%d" % rnd.randint(0, 5), 3])}
            r = s.http("POST", "/evaluate", body=mutate(body))
        elif kind < 0.75:
            if rnd.random() < 0.5:
                r = s.http("POST", "/tasks/batch", body=mutate(
                    {"task_ids": ["a", "b"], "timeout": rnd.choice([0, -5, 0.01, "x", 1e9])}))
            else:
                r = s.http("POST", "/tasks/batch",
                           raw=bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200))))
        elif kind < 0.92:
            segs = ["tasks", "definitions", "workloads", "solutions", "results", "x" * 200, "%00",
                    "..", "batch", "traces", K.GDN, uuids[0], "%2e%2e"]
            path = "/" + "/".join(rnd.choice(segs) for _ in range(rnd.randint(0, 4)))
            q = rnd.choice(["", "?timeout=0", "?timeout=0.01", "?definition=" + K.GDN,
                            "?hardware=&definition=", "?a=b&a=c&" * 20, "?timeout=1e400"])
            r = s.http(rnd.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]), path + q)
        else:
            raw = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 400)))
            c = socket.create_connection(("127.0.0.1", s.port), timeout=0.5)
            try:
                c.sendall(rnd.choice([
                    b"GET / HTTP/1.1\r\n" + raw + b"\r\n\r\n", raw,
                    b"POST /solutions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                    b"POST /evaluate HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]))
                c.recv(1000)
            except OSError:
                pass
            c.close()
            continue
        ok = r.status < 500 or r.status == 503
        if ok and r.status >= 400 and r.data:
            try:
                e = json.loads(r.data)["error"]
                ok = {"code", "message", "path"} <= set(e)
            except (ValueError, KeyError, TypeError):
                ok = False
        if not ok:
            bad.append((r.status, r.data[:200]))
        if s.proc.poll() is not None:
            break
    R.check("kf-server alive after 600 fuzzed requests", s.proc.poll() is None)
    R.check("no 5xx (other than 503) and every error is JSON", not bad, bad[:5])
    R.check("healthy afterwards", s.http("GET", "/health").status == 200)


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-fuzz-")
    redis = K.Redis(tmp, aof=False)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("fuzz", run, s, uuids)
        R.check("exits 0 on SIGTERM", s.stop() == 0)
    finally:
        if s.proc:
            s.stop()
        redis.stop()
        if R.failed:
            print("logs kept in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
