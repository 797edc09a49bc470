#!/usr/bin/env python3
"""test_server_worker.py: kf-server and the real bin/kf-worker together
through Redis, the whole flashinfer-bench client flow: list definitions and
workloads, POST /evaluate, long-poll the task to its end. On a machine with
a GPU the task completes with one trace per workload; without one the
worker (--no-require-gpu) fails it with the engine's reason. Either way the
task must reach a terminal state through the real protocol, the long-poll
must wake, the worker must show in /health and its heartbeat go at SIGTERM.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()
STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"


def has_gpu():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        return out.returncode == 0 and "GPU " in out.stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-server-worker-")
    redis = K.Redis(tmp, aof=False)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    gpu = has_gpu()
    env = dict(os.environ, KF_LOG_LEVEL="info", KF_SEED_SECRET="server-worker-test-secret")
    if not gpu:
        # libcuda.so.1 from the toolkit's stub: every driver call fails cleanly
        libdir = os.path.join(tmp, "lib")
        os.makedirs(libdir)
        if os.path.exists(STUB):
            os.symlink(STUB, os.path.join(libdir, "libcuda.so.1"))
        env["LD_LIBRARY_PATH"] = libdir + ":" + env.get("LD_LIBRARY_PATH", "")
    wlog = os.path.join(tmp, "worker.log")
    worker = None
    try:
        s.start()
        args = [os.path.join(K.BIN, "kf-worker"), "--redis-url", redis.url, "--dataset", ds,
                "--cache", os.path.join(tmp, "cache"), "--worker-id", "e2e-gpu0",
                "--kernels", os.path.join(K.ROOT, "kernels"), "--heartbeat", "0.5",
                "--probe-timeout", "30"]
        if not gpu:
            args.append("--no-require-gpu")
        worker = subprocess.Popen(args, stdout=open(wlog, "w"), stderr=subprocess.STDOUT, env=env)

        def healthy():
            h = s.http("GET", "/health").json()
            return h if h.get("healthy_workers") == 1 else None
        h = None
        for _ in range(600):
            h = healthy()
            if h or worker.poll() is not None:
                break
            time.sleep(0.1)
        R.check("the worker's heartbeat shows in /health", h is not None
                and h["workers"][0]["id"] == "e2e-gpu0" and h["workers"][0]["device"] == "cuda:0",
                open(wlog).read()[-1500:])

        # the flashinfer-bench flow, as its documentation describes it
        defs = s.http("GET", "/definitions").json()
        name = next(d["name"] for d in defs
                    if len(s.http("GET", "/definitions/%s/workloads" % d["name"]).json()) > 0)
        wl = s.http("GET", "/definitions/%s/workloads" % name).json()[0]["uuid"]
        sol = K.example_solution()
        r = s.http("POST", "/evaluate", body={"solution": sol, "workload_uuids": [wl]})
        R.check("POST /evaluate", r.status == 200, r.data)
        tid = r.json()["task_id"]
        t = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            r = s.http("GET", "/tasks/%s?timeout=10" % tid, timeout=60)
            t = r.json()
            if t["status"] in ("completed", "failed"):
                break
            if worker.poll() is not None:   # the worker died: nobody will finish it
                break
        R.check("the real worker takes the task to a terminal state",
                t is not None and t["status"] in ("completed", "failed"), t)
        if gpu:
            R.check("GPU: completed with one trace for the workload", t["status"] == "completed"
                    and len(t["traces"]) == 1 and t["traces"][0]["workload"]["uuid"] == wl, t)
        else:
            R.check("no GPU: failed with the engine's reason", t["status"] == "failed"
                    and t["error"] and t["worker"] == "e2e-gpu0" and t["attempts"] == 1, t)
        m = s.http("GET", "/metrics").data.decode()
        R.check("/metrics counts the finished task and the live worker",
                "kf_workers_live 1" in m
                and ('kf_tasks{state="completed"} 1' in m or 'kf_tasks{state="failed"} 1' in m))
        worker.send_signal(signal.SIGTERM)
        rc = worker.wait(60)
        worker = None
        R.check("worker stops on SIGTERM", rc == 0, rc)
        for _ in range(20):   # the /health view is rebuilt every 250 ms
            h = s.http("GET", "/health").json()
            if h["healthy_workers"] == 0:
                break
            time.sleep(0.1)
        R.check("its heartbeat is gone from /health", h["healthy_workers"] == 0, h)
    finally:
        if worker:
            worker.kill()
            worker.wait()
        if s.proc:
            s.stop()
        redis.stop()
        if R.failed:
            print("logs kept in", tmp)
            for f in ("worker.log", "server.log"):
                p = os.path.join(tmp, f)
                if os.path.exists(p):
                    print("--- %s\n%s" % (f, open(p).read()[-3000:]))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
