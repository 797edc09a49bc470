#!/usr/bin/env python3
"""test_worker.py: the real bin/kf-worker binary on a machine without a GPU.

The CUDA driver's stub library stands in for libcuda.so.1 (every call fails
with CUDA_ERROR_STUB_LIBRARY), a real redis-server runs on a unix socket, and
tasks are written to Redis exactly as docs/queue.md describes. Checks: --help
and flag errors; without a GPU the worker refuses to start with a clear line;
with --no-require-gpu it claims tasks, runs the real engine in an evaluator
child, fails a task the engine cannot evaluate with the engine's reason and a
task naming an unknown workload with that reason, keeps running after both,
never logs the seed secret, and stops cleanly on SIGTERM (heartbeat removed).
Last line: "N passed, N failed".
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_build = os.environ.get("KF_BUILD", "build")
BIN = os.path.join(ROOT, os.environ.get("KF_BIN", "bin" if _build == "build" else _build + "/bin"),
                   "kf-worker")
STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"
SECRET = "SEEDSECRET-93f1c2"

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name} {detail}")


DEF = {
    "name": "vadd", "op_type": "fake", "description": "copy",
    "axes": {"n": {"type": "var"}},
    "inputs": {"x": {"shape": ["n"], "dtype": "float32"}},
    "outputs": {"y": {"shape": ["n"], "dtype": "float32"}},
    "reference": "def run(x):\n    return x\n",
}
SOL = {
    "name": "vadd_copy_0123abcd", "definition": "vadd", "author": "itest",
    "spec": {"language": "cuda", "binding": "nvrtc", "target_hardware": ["cuda"],
             "entry_point": "k.cu::copy", "destination_passing_style": True,
             "launch": [{"kernel": "copy", "grid": ["cdiv(n, 128)"], "block": [128],
                         "args": ["x", "y", "n"]}]},
    "sources": [{"path": "k.cu", "content":
                 'extern "C" __global__ void copy(const float *x, float *y, long long n) '
                 "{ long long i = blockIdx.x * 128 + threadIdx.x; if (i < n) y[i] = x[i]; }"}],
}


def main():
    if not os.access(BIN, os.X_OK):
        check("bin/kf-worker is built", False, BIN)
        return
    if not os.path.exists(STUB):
        check("CUDA driver stub present", False, STUB)
        return
    tmp = tempfile.mkdtemp(prefix="kf-itest-worker-")
    procs = []
    try:
        run(tmp, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp, procs):
    libdir = os.path.join(tmp, "lib")
    os.makedirs(libdir)
    os.symlink(STUB, os.path.join(libdir, "libcuda.so.1"))
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    for k in list(env):
        if k.startswith("KF_") or k == "FIB_DATASET_PATH":
            del env[k]

    # --help and flag errors
    r = subprocess.run([BIN, "--help"], env=env, capture_output=True, text=True, timeout=30)
    flags = ["--device", "--redis-url", "--dataset", "--cache", "--kernels", "--seed-secret",
             "--workload-timeout", "--startup-timeout", "--task-timeout", "--worker-id",
             "--eval-config", "--heartbeat"]
    missing = [f for f in flags if f not in r.stdout]
    check("--help exits 0 and lists every setting", r.returncode == 0 and not missing,
          f"rc={r.returncode} missing={missing}")
    r = subprocess.run([BIN, "--device", "99"], env=env, capture_output=True, text=True, timeout=30)
    check("--device 99 is refused (exit 2, names the flag)",
          r.returncode == 2 and "device" in r.stderr, f"rc={r.returncode} {r.stderr!r}")
    r = subprocess.run([BIN, "--no-such-flag"], env=env, capture_output=True, text=True, timeout=30)
    check("unknown flag is refused", r.returncode == 2 and "--no-such-flag" in r.stderr,
          f"rc={r.returncode} {r.stderr!r}")

    # dataset
    ds = os.path.join(tmp, "ds")
    os.makedirs(os.path.join(ds, "definitions", "fake"))
    os.makedirs(os.path.join(ds, "workloads", "fake"))
    with open(os.path.join(ds, "definitions", "fake", "vadd.json"), "w") as f:
        json.dump(DEF, f)
    with open(os.path.join(ds, "workloads", "fake", "vadd.jsonl"), "w") as f:
        for u in ("w-1", "w-2"):
            f.write(json.dumps({"definition": "vadd", "workload": {
                "uuid": u, "axes": {"n": 16}, "inputs": {"x": {"type": "random"}}},
                "solution": None, "evaluation": None}) + "\n")

    sock = os.path.join(tmp, "redis.sock")

    def rcli(*args):
        out = subprocess.run(["redis-cli", "-s", sock, *args], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip()

    base = [BIN, "--redis-url", "unix://" + sock, "--dataset", ds, "--cache",
            os.path.join(tmp, "cache"), "--kernels", os.path.join(ROOT, "kernels"),
            "--seed-secret", SECRET, "--worker-id", "itest-w", "--heartbeat", "0.5",
            "--probe-timeout", "30"]

    # no reference kernels: refuse to start (every task would fail)
    r = subprocess.run([BIN, "--dataset", ds, "--cache", os.path.join(tmp, "cache"),
                        "--kernels", os.path.join(tmp, "nowhere")],
                       env=env, capture_output=True, text=True, timeout=60)
    check("a --kernels without reference/ is refused at start",
          r.returncode == 1 and "no reference kernels" in r.stderr,
          f"rc={r.returncode} {r.stderr[-300:]!r}")

    # no GPU: refuse to start, clearly
    r = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    check("without a GPU the worker exits 1 with a 'no GPU' line",
          r.returncode == 1 and "no GPU" in r.stderr, f"rc={r.returncode} {r.stderr[-500:]!r}")

    # --self-test without a GPU: the self-test runs the real engine on the
    # reference of each definition (here "vadd": no reference kernel in
    # kernels/reference), fails, says why and exits 1; no Redis needed
    r = subprocess.run(base + ["--self-test", "--no-require-gpu"], env=env, capture_output=True,
                       text=True, timeout=120)
    check("--self-test without a GPU exits 1 and prints the first failure",
          r.returncode == 1 and "self-test FAILED: 0 of 1 definitions passed" in r.stdout
          and "first failure: vadd:" in r.stdout, f"rc={r.returncode} {r.stdout!r} {r.stderr[-300:]!r}")

    # --no-require-gpu: serve
    log_path = os.path.join(tmp, "worker.log")
    logf = open(log_path, "w")
    worker = subprocess.Popen(base + ["--no-require-gpu"], env=env, stdout=logf,
                              stderr=subprocess.STDOUT)
    procs.append(worker)
    # redis, started after the worker: the worker waits for it
    time.sleep(1.0)
    check("worker waits for Redis instead of exiting", worker.poll() is None,
          open(log_path).read()[-800:])
    redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                              "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(redis)
    up = False
    for _ in range(300):
        if rcli("EXISTS", "kf:worker:itest-w") == "1":
            up = True
            break
        if worker.poll() is not None:
            break
        time.sleep(0.1)
    check("worker starts and sends a heartbeat", up, open(log_path).read()[-800:])
    if not up:
        return

    def submit(tid, workloads):
        rcli("SET", "kf:solution:" + SOL["name"], json.dumps(SOL))
        rcli("HSET", "kf:task:" + tid, "id", tid, "status", "pending", "definition", "vadd",
             "solution", SOL["name"], "solution_key", SOL["name"], "workloads",
             json.dumps(workloads), "config", "", "team", "", "created_at", "%.3f" % time.time(),
             "attempts", "0", "progress_done", "0", "progress_total", str(len(workloads)))
        rcli("SADD", "kf:state:pending", tid)
        # enqueue as docs/queue.md says (team "": kf:queue:team:)
        rcli("RPUSH", "kf:queue:team:", tid)
        rcli("ZADD", "kf:queue:fair", "NX", "0", "")
        rcli("RPUSH", "kf:queue:wake", "1")

    def wait_done(tid, limit=90):
        for _ in range(limit * 10):
            st = rcli("HGET", "kf:task:" + tid, "status")
            if st in ("completed", "failed"):
                return st
            time.sleep(0.1)
        return rcli("HGET", "kf:task:" + tid, "status")

    submit("itest-eng", ["w-1", "w-2"])
    st = wait_done("itest-eng")
    err = rcli("HGET", "kf:task:itest-eng", "error")
    check("a task the engine cannot evaluate fails with the engine's reason",
          st == "failed" and "evaluation engine failed" in err, f"status={st} error={err!r}")
    check("worker survives it", worker.poll() is None)

    submit("itest-unknown", ["w-1", "nope-uuid"])
    st = wait_done("itest-unknown")
    err = rcli("HGET", "kf:task:itest-unknown", "error")
    check("a task with an unknown workload fails naming it",
          st == "failed" and "nope-uuid" in err, f"status={st} error={err!r}")
    check("worker is still running", worker.poll() is None)

    worker.send_signal(signal.SIGTERM)
    try:
        rc = worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
    check("SIGTERM: clean exit 0", rc == 0, f"rc={rc}")
    check("heartbeat removed at shutdown", rcli("EXISTS", "kf:worker:itest-w") == "0")
    logf.close()
    log = open(log_path).read()
    if os.environ.get("KF_TEST_VERBOSE"):
        print(log)
    check("per-task log lines", "task=itest-eng start" in log and
          "task=itest-unknown status=failed" in log, log[-800:])
    check("the seed secret never appears in the log", SECRET not in log)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the test itself is a failure, never a skip
        check("test ran to the end", False, repr(e))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
