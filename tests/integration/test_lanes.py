#!/usr/bin/env python3
"""test_lanes.py: lanes in a farm, through the real redis-server, kf-server
and bin/kf-worker (docs/queue.md, Lanes). The real worker is told to serve
the nvrtc lane only (KF_LANES; without a GPU it fails the tasks it takes,
with the stub libcuda as in test_server_worker.py): its heartbeat carries
the lane list (GET /health), it takes an nvrtc task submitted after a
Triton one and leaves the Triton task pending, which then says why
(`waiting_for` in GET /tasks/{id}, POST /tasks/batch and
/board/submissions; `kf submit --wait` prints it once, `kf status` shows
it). A stand-in consumer serving the python lane (kfserver.Consumer) then
clears the note and takes the task. Also: a bad --lanes list and a lane
the host lacks stop kf-worker with a clear reason.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()
STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"
NOTE = "no connected worker serves lane python"


def triton_solution(tag):
    return {"name": "tri_" + tag, "definition": K.GDN, "author": "lanes",
            "spec": {"language": "triton", "target_hardware": ["cuda"],
                     "entry_point": "kernel.py::run"},
            "sources": [{"path": "kernel.py",
                         "content": "import triton\n# %s\ndef run(*args):\n    pass\n" % tag}]}


def kf(s, *args, timeout=60):
    e = dict(os.environ, KF_URL="http://127.0.0.1:%d" % s.port)
    e.pop("KF_TOKEN", None)
    p = subprocess.run([os.path.join(K.BIN, "kf")] + list(args), capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def worker_env(tmp, **extra):
    env = dict(os.environ, KF_LOG_LEVEL="info", KF_SEED_SECRET="lanes-test-secret")
    libdir = os.path.join(tmp, "lib")
    if not os.path.isdir(libdir):
        os.makedirs(libdir)
        if os.path.exists(STUB):
            # libcuda.so.1 from the toolkit's stub: every driver call fails cleanly
            os.symlink(STUB, os.path.join(libdir, "libcuda.so.1"))
    env["LD_LIBRARY_PATH"] = libdir + ":" + env.get("LD_LIBRARY_PATH", "")
    env.update(extra)
    return env


def worker_args(tmp, redis, ds, wid):
    return [os.path.join(K.BIN, "kf-worker"), "--redis-url", redis.url, "--dataset", ds,
            "--cache", os.path.join(tmp, "cache"), "--worker-id", wid,
            "--kernels", os.path.join(K.ROOT, "kernels"), "--heartbeat", "0.5",
            "--probe-timeout", "20", "--no-require-gpu", "--no-startup-self-test"]


def task(s, tid):
    r = s.http("GET", "/tasks/" + tid)
    return r.json() if r.status == 200 else {"status": "http %d" % r.status}


def run(tmp, s, redis, ds, uuids):
    # a lane list that names no lane, and a lane the host lacks: refused at start
    p = subprocess.run(worker_args(tmp, redis, ds, "bad-gpu0") + ["--lanes", "nvrtc,cuda"],
                       capture_output=True, text=True, env=worker_env(tmp), timeout=60)
    R.check("--lanes with an unknown lane: exit 2 naming it", p.returncode == 2
            and "'cuda' is not a lane" in p.stderr, p.stderr[-800:])
    p = subprocess.run(worker_args(tmp, redis, ds, "bad-gpu0"), capture_output=True, text=True,
                       env=worker_env(tmp, KF_LANES="python", KF_PYTHON="/bin/false"), timeout=60)
    out = p.stdout + p.stderr
    R.check("KF_LANES=python on a host whose python3 lacks torch: exit 1 saying why",
            p.returncode == 1 and "this host cannot serve lane python" in out
            and "/bin/false cannot import torch and triton" in out, out[-1500:])

    # the real worker, nvrtc only
    wlog = os.path.join(tmp, "worker.log")
    worker = subprocess.Popen(worker_args(tmp, redis, ds, "nv-gpu0"), stdout=open(wlog, "w"),
                              stderr=subprocess.STDOUT, env=worker_env(tmp, KF_LANES="nvrtc"))
    try:
        h = None
        for _ in range(600):
            h = s.http("GET", "/health").json()
            if h.get("healthy_workers") == 1 or worker.poll() is not None:
                break
            time.sleep(0.1)
        w = (h or {}).get("workers") or [{}]
        R.check("GET /health shows the worker's lanes", w[0].get("id") == "nv-gpu0"
                and w[0].get("lanes") == ["nvrtc"], "%s\n%s" % (h, open(wlog).read()[-1500:]))
        R.check("the worker logs its lanes", "lanes: nvrtc (the lanes setting)"
                in open(wlog).read(), open(wlog).read()[-1500:])

        # a Triton task, then an nvrtc one (same team: FIFO would give Triton first)
        r = s.http("POST", "/solutions?workloads=" + uuids[0], body=triton_solution("a"))
        R.check("POST /solutions (triton) accepted", r.status == 202, r.data)
        tri = r.json()["task_id"]
        r = s.http("POST", "/solutions?rerun=1&workloads=" + uuids[0], body=K.example_solution())
        nv = r.json()["task_id"]
        t = None
        for _ in range(1200):
            t = task(s, nv)
            if t["status"] in ("completed", "failed") or worker.poll() is not None:
                break
            time.sleep(0.05)
        R.check("the nvrtc worker takes the nvrtc task queued behind the Triton one",
                t["status"] in ("completed", "failed") and t.get("worker") == "nv-gpu0"
                and t.get("lane") == "nvrtc", t)
        time.sleep(1.5)   # the worker has claimed again meanwhile (idle wake-ups)
        t = task(s, tri)
        R.check("the Triton task stays pending, with its lane and the note",
                t["status"] == "pending" and t.get("lane") == "python"
                and t.get("waiting_for") == NOTE and t.get("worker") in (None, ""), t)
        r = s.http("POST", "/tasks/batch", body={"task_ids": [tri, nv], "timeout": 0})
        b = r.json() if r.status == 200 else []
        R.check("POST /tasks/batch: the note on the waiting task only", len(b) == 2
                and b[0].get("waiting_for") == NOTE and b[1].get("waiting_for") is None, b)
        subs = s.http("GET", "/board/submissions").json().get("submissions", [])
        mine = [x for x in subs if x.get("task_id") == tri]
        R.check("/board/submissions (the web board's list) shows the note",
                len(mine) == 1 and mine[0].get("waiting_for") == NOTE
                and mine[0].get("lane") == "python", subs)
        rc, out, err = kf(s, "status", tri)
        R.check("kf status shows why it waits", rc == 0 and "waiting     " + NOTE in out,
                out + err)
        # kf submit --wait: the note once, not the no-worker one (a worker is connected)
        src = os.path.join(tmp, "tri_b.json")
        with open(src, "w") as f:
            json.dump(triton_solution("b"), f)
        rc, out, err = kf(s, "submit", src, "--workloads", uuids[0], "--wait", "--timeout", "3")
        R.check("kf submit --wait prints the note once and keeps waiting (exit 3)",
                rc == 3 and err.count("waits: " + NOTE) == 1
                and "no worker is connected" not in err, err)
        tri_b = next((ln.split()[2] for ln in err.splitlines() if " waits: " in ln), "")

        # a python consumer joins: the note goes, and it takes the Triton tasks
        c = K.Consumer(redis.sock, "py-gpu0", lanes=["python"])
        try:
            c.heartbeat()
            t = task(s, tri)
            R.check("a worker of the lane connected: no note", t["status"] == "pending"
                    and t.get("waiting_for") is None, t)
            got = []
            for _ in range(2):
                x = c.claim(block_ms=0)
                if x:
                    got.append(x["id"])
                    c.complete(x)
            R.check("the python consumer takes both Triton tasks, oldest first",
                    len(got) == 2 and got[0] == tri and got[1].startswith(tri_b), (got, tri_b))
            R.check("the task completes", task(s, tri)["status"] == "completed")
        finally:
            c.close()
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if R.failed:
            print("--- worker.log\n" + open(wlog).read()[-3000:])


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-lanes-")
    redis = K.Redis(tmp, aof=False)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("lanes", run, tmp, s, redis, ds, uuids)
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
