"""kfserver.py: helpers for the kf-server integration tests and benchmark.

Starts a real redis-server on a unix socket in a temp dir and a real
bin/kf-server on a free port; builds a tiny dataset from the project's own
definitions (dataset/definitions) with random-input workloads; a minimal
RESP client; a stand-in consumer that follows docs/queue.md (it is not the
GPU worker); a small HTTP client; a pass/fail counter.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KF_BUILD", "build")
BIN = os.path.join(ROOT, "build-asan/bin" if BUILD.startswith("build-asan") else "bin")
GDN = "gdn_decode_qk4_v8_d128_k_last"
EMPTY_DEF = "gdn_prefill_qk4_v8_d128_k_last"   # loaded without workloads


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("not ok - %s %s" % (name, detail))
        sys.stdout.flush()
        return cond

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Exception:
            self.failed += 1
            print("not ok - %s raised:\n%s" % (name, traceback.format_exc()))

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


# ---- dataset -----------------------------------------------------------------

def build_dataset(dst, nworkloads=3):
    """A tiny FlashInfer-Trace dataset: gdn_decode with random-input
    workloads, gdn_prefill with none. Returns the workload uuids."""
    src = os.path.join(ROOT, "dataset", "definitions", "gdn")
    os.makedirs(os.path.join(dst, "definitions", "gdn"), exist_ok=True)
    os.makedirs(os.path.join(dst, "workloads", "gdn"), exist_ok=True)
    for name in (GDN, EMPTY_DEF):
        shutil.copy(os.path.join(src, name + ".json"), os.path.join(dst, "definitions", "gdn"))
    d = json.load(open(os.path.join(src, GDN + ".json")))
    uuids = []
    with open(os.path.join(dst, "workloads", "gdn", GDN + ".jsonl"), "w") as f:
        for i, bs in enumerate([1, 4, 16, 64, 2, 8][:nworkloads]):
            uuid = "00000000-0000-4000-8000-%012d" % (i + 1)
            inputs = {}
            for name, spec in d["inputs"].items():
                inputs[name] = ({"type": "scalar", "value": 0.08838834764831845}
                                if spec["shape"] is None else {"type": "random"})
            w = {"uuid": uuid, "axes": {"batch_size": bs}, "inputs": inputs}
            f.write(json.dumps({"definition": GDN, "workload": w, "solution": None,
                                "evaluation": None}) + "\n")
            uuids.append(uuid)
    return uuids


def example_solution():
    p = os.path.join(ROOT, "kernels", "examples", GDN, "solution.json")
    return json.load(open(p))


def fib_name(sol):
    """flashinfer-bench Solution.with_unique_name() plus kernelfarm's launch plan and
    compile options."""
    h = hashlib.sha1()
    spec = sol["spec"]
    parts = [sol["definition"], spec["language"], spec["entry_point"], spec.get("binding") or ""]
    parts += spec.get("dependencies", [])
    for s in sol["sources"]:
        parts += [s["path"], s["content"]]
    for k in ("launch", "workspace", "compile_options"):
        if k in spec:
            parts.append(json.dumps(spec[k], sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False))
    for p in parts:
        h.update(p.encode())
    return "%s_%s" % (sol["name"], h.hexdigest()[:8])


# ---- processes -----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Redis:
    def __init__(self, tmp, aof=True):
        self.dir = os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.aof = aof
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", "0", "--unixsocket", self.sock, "--dir", self.dir,
                "--save", "", "--appendonly", "yes" if self.aof else "no",
                "--appendfsync", "always", "--loglevel", "warning"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(self.sock):
                try:
                    RESP(self.sock).cmd("PING")
                    return
                except (OSError, RuntimeError):
                    pass   # not listening yet, or LOADING the AOF
            time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def stop(self, kill=False):
        if self.proc:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait()
            self.proc = None
        if os.path.exists(self.sock):
            os.unlink(self.sock)

    @property
    def url(self):
        return "unix://" + self.sock


class Server:
    def __init__(self, tmp, redis, dataset, *extra, env=None, name="server"):
        self.tmp = tmp
        self.redis = redis
        self.dataset = dataset
        self.extra = list(extra)
        self.env = env or {}
        self.name = name
        self.proc = None
        self.port = None
        self.log = os.path.join(tmp, name + ".log")

    def start(self):
        pf = os.path.join(self.tmp, self.name + ".port")
        if os.path.exists(pf):
            os.unlink(pf)
        env = dict(os.environ)
        env.update({"KF_LOG_LEVEL": "warn"})
        env.update(self.env)
        args = [os.path.join(BIN, "kf-server"), "--port", str(self.port or 0), "--port-file", pf,
                "--redis-url", self.redis.url, "--dataset", self.dataset] + self.extra
        self.proc = subprocess.Popen(args, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
                                     env=env)
        for _ in range(1000):
            if os.path.exists(pf) and open(pf).read().strip():
                self.port = int(open(pf).read())
                return
            if self.proc.poll() is not None:
                raise RuntimeError("kf-server exited: " + open(self.log).read()[-2000:])
            time.sleep(0.01)
        raise RuntimeError("kf-server did not start")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def http(self, method, path, body=None, headers=None, timeout=60, raw=None):
        return request("127.0.0.1", self.port, method, path, body, headers, timeout, raw)


class Response:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.data = data

    def json(self):
        return json.loads(self.data)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(host, port, method, path, body=None, headers=None, timeout=60, raw=None):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    h = dict(headers or {})
    data = raw
    if body is not None and raw is None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = Response(r.status, r.getheaders(), r.read())
    c.close()
    return out


def raw_request(port, head, body, chunk=65536):
    """Send head then body with a socket, tolerating the server closing
    early (413 before the body is read); returns (status, response bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(head)
        for i in range(0, len(body), chunk):
            s.sendall(body[i:i + chunk])
    except OSError:
        pass
    data = b""
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


# ---- RESP and the stand-in consumer ---------------------------------------------

class RESP:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def close(self):
        self.f.close()
        self.s.close()

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            d = self.f.read(n + 2)[:-2]
            return d.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad RESP reply %r" % line)


def pairs(flat):
    return dict(zip(flat[0::2], flat[1::2])) if flat else {}


class Consumer:
    """Follows docs/queue.md: claim (a lapsed lease first: take over or
    dead-letter after 3 attempts; then the priority list; then the team
    served longest ago; each time only tasks of the lanes it serves, None:
    every lane), progress, traces, complete, heartbeat. kf-worker
    runs each step as one Lua script (lib/queue_lua.c); this test double runs
    the same commands one by one, which is equivalent for a single-threaded
    test."""

    def __init__(self, sock, name, lease_ms=300000, lanes=None):
        self.r = RESP(sock)
        self.name = name
        self.lease_ms = lease_ms
        self.lanes = lanes

    def _serves(self, lane):
        return self.lanes is None or not lane or lane in self.lanes

    def _pick(self, q):
        """The first task of list q this consumer may run, removed from q."""
        for tid in self.r.cmd("LRANGE", q, 0, -1) or []:
            st, lane = self.r.cmd("HMGET", "kf:task:" + tid, "status", "lane")
            if st != "pending":
                self.r.cmd("LREM", q, 1, tid)
            elif self._serves(lane):
                self.r.cmd("LREM", q, 1, tid)
                return tid
        return None

    def close(self):
        self.r.close()

    def event(self, tid, status):
        self.r.cmd("XADD", "kf:events", "MAXLEN", "~", "10000", "*", "task_id", tid, "status",
                   status)

    def heartbeat(self, device=0):
        now = "%.3f" % time.time()
        self.r.cmd("HSET", "kf:worker:" + self.name, "id", self.name, "host", "test",
                   "device", device, "hardware", "NVIDIA_H100", "state", "idle", "task", "",
                   "pid", os.getpid(), "started_at", now, "last_seen", now,
                   "lanes", ",".join(self.lanes or ["nvrtc", "tvm-ffi", "python"]))
        self.r.cmd("EXPIRE", "kf:worker:" + self.name, 30)
        self.r.cmd("SADD", "kf:workers:set", self.name)

    def _now_ms(self):
        t = self.r.cmd("TIME")
        return int(t[0]) * 1000 + int(t[1]) // 1000

    def _pop(self):
        tid = self._pick("kf:queue:prio")
        if tid:
            return tid
        for team in self.r.cmd("ZRANGE", "kf:queue:fair", 0, -1) or []:
            q = "kf:queue:team:" + team
            tid = self._pick(q)
            if tid:
                tick = self.r.cmd("INCR", "kf:queue:tick")
                self.r.cmd("HSET", "kf:queue:served", team, tick)
                if self.r.cmd("LLEN", q) == 0:
                    self.r.cmd("ZREM", "kf:queue:fair", team)
                else:
                    self.r.cmd("ZADD", "kf:queue:fair", tick, team)
                return tid
            if self.r.cmd("LLEN", q) == 0:
                self.r.cmd("ZREM", "kf:queue:fair", team)
        return None

    def claim(self, block_ms=100):
        tid = None
        # a lapsed task of a lane this consumer does not serve waits for one that does
        ex = [x for x in self.r.cmd("ZRANGEBYSCORE", "kf:queue:running", "-inf",
                                    self._now_ms()) or []
              if self._serves(self.r.cmd("HGET", "kf:task:" + x, "lane"))
              or int(self.r.cmd("HGET", "kf:task:" + x, "attempts") or 0) >= 3]
        if ex:
            tid = ex[0]
            att = int(self.r.cmd("HGET", "kf:task:" + tid, "attempts") or 0)
            if att >= 3:
                reason = "dead-lettered after %d attempts" % att
                self.r.cmd("XADD", "kf:tasks:dead", "*", "task_id", tid, "attempts", att,
                           "reason", reason)
                self.finish(tid, "failed", reason)
                return {"dead": True, "id": tid}
        else:
            tid = self._pop()
            if not tid and block_ms > 0:
                if self.r.cmd("BLPOP", "kf:queue:wake", "%.3f" % (block_ms / 1000.0)):
                    tid = self._pop()
        if not tid:
            return None
        t = pairs(self.r.cmd("HGETALL", "kf:task:" + tid))
        deliveries = self.r.cmd("HINCRBY", "kf:task:" + tid, "attempts", 1)
        token = os.urandom(16).hex()
        self.r.cmd("HSET", "kf:task:" + tid, "status", "running", "started_at",
                   "%.3f" % time.time(), "worker", self.name, "token", token, "progress_done", 0)
        self.r.cmd("ZADD", "kf:queue:running", self._now_ms() + self.lease_ms, tid)
        self.r.cmd("DEL", "kf:traces:" + tid)
        self.r.cmd("SREM", "kf:state:pending", tid)
        self.r.cmd("SADD", "kf:state:running", tid)
        self.event(tid, "running")
        t.update({"id": tid, "token": token, "deliveries": deliveries,
                  "workloads": json.loads(t["workloads"])})
        t["solution_doc"] = json.loads(self.r.cmd("GET", "kf:solution:" + t["solution_key"]))
        return t

    def finish(self, tid, status, error=None):
        self.r.cmd("HSET", "kf:task:" + tid, "status", status, "finished_at", "%.3f" % time.time())
        if error:
            self.r.cmd("HSET", "kf:task:" + tid, "error", error)
        self.r.cmd("HDEL", "kf:task:" + tid, "token")
        self.r.cmd("ZREM", "kf:queue:running", tid)
        self.r.cmd("SREM", "kf:state:pending", tid)
        self.r.cmd("SREM", "kf:state:running", tid)
        self.r.cmd("SADD", "kf:state:" + status, tid)
        self.event(tid, status)

    def complete(self, t, speedup=2.0, status="PASSED"):
        """Add one trace per workload and complete, with a leaderboard entry."""
        traces = []
        for i, w in enumerate(t["workloads"]):
            ev = {"status": status, "log": "", "environment": {"hardware": "NVIDIA_H100",
                                                               "libs": {}},
                  "timestamp": "2026-11-22T00:00:00Z",
                  "correctness": {"max_relative_error": 0.0, "max_absolute_error": 0.0},
                  "performance": {"latency_ms": 0.01, "reference_latency_ms": 0.01 * speedup,
                                  "speedup_factor": speedup}}
            if status != "PASSED":
                ev["performance"] = None
                ev["correctness"] = None
            tr = {"definition": t["definition"], "workload": {"uuid": w},
                  "solution": t["solution"], "evaluation": ev}
            traces.append(tr)
            self.r.cmd("RPUSH", "kf:traces:" + t["id"], json.dumps(tr))
            self.r.cmd("HSET", "kf:task:" + t["id"], "progress_done", i + 1)
        passed = sum(1 for x in traces if x["evaluation"]["status"] == "PASSED")
        entry = {"definition": t["definition"], "solution": t["solution"],
                 "author": t.get("author", ""), "hardware": "NVIDIA_H100", "team": t.get("team", ""),
                 "task_id": t["id"], "workloads_total": len(traces), "workloads_passed": passed,
                 "mean_speedup": speedup if passed else None,
                 "mean_latency_ms": 0.01 if passed else None, "last_evaluated": time.time(),
                 "workload_uuids": t["workloads"]}
        self.r.cmd("HSET", "kf:board:" + t["definition"], t["solution"] + "|NVIDIA_H100",
                   json.dumps(entry))
        self.r.cmd("SADD", "kf:board:defs", t["definition"])
        self.r.cmd("HINCRBY", "kf:stats", "eval_b0", 1)
        self.finish(t["id"], "completed")
        return traces
