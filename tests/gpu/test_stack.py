#!/usr/bin/env python3
"""test_stack.py (run through test_stack.sh): redis-server + kf-server +
kf-worker on one GPU host; solutions are submitted over HTTP (Python's own
client) and the traces read back.

  1. the example GDN decode solution passes on every workload it is given
  2. an endless kernel gets TIMEOUT within its deadline + 2 s (measured in
     the worker's log from the task's start to the verdict), and the next
     task still passes
  3. an out-of-bounds write gets RUNTIME_ERROR on each workload, the worker
     goes on and the next task passes
  4. /health counts the worker; SIGTERM stops it cleanly
  5. the contest lanes, on a second worker with longer timeouts (a first
     workload includes the build): every solution of tests/gpu/lanes/ (plain
     PyTorch in both calling styles, Triton, CUDA with the torch binding)
     PASSES in the python lane, the tvm-ffi starter-kit directory
     tests/gpu/solutions/gdn_decode_tvmffi in the tvm-ffi lane. A lane the
     host cannot serve (no torch/triton, no apache-tvm-ffi) is a failure.

Needs a GPU: without one the worker refuses to start and the test fails.
Last line: "N passed, N failed".
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEF = "gdn_decode_qk4_v8_d128_k_last"
EXAMPLE = os.path.join(ROOT, "kernels", "examples", DEF, "solution.json")
WL_TIMEOUT = 8.0
STARTUP = 6.0

passed = failed = 0
procs = []


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}", flush=True)
    else:
        failed += 1
        print(f"not ok - {name} {detail}", flush=True)
    return ok


def find_prog(name):
    for d in (os.environ.get("KF_BIN_DIR"), os.path.join(ROOT, ".gpuhost", "bin"),
              os.path.join(ROOT, "bin")):
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return shutil.which(name)


def http(method, url, body=None):
    # Python's own client: the host's curl would load the packed Debian
    # libcurl that .gpuhost/env.sh puts first on LD_LIBRARY_PATH (for kf).
    req = urllib.request.Request(url, data=body.encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def inject(sol, name, code):
    """A copy of the example whose kernel starts with `code`."""
    s = json.loads(json.dumps(sol))
    s["name"] = name
    src = s["sources"][0]["content"]
    k = src.find('extern "C" __global__')
    b = src.find("{", src.find(")", src.find(sol["spec"]["launch"][0]["kernel"] + "(", k)))
    if k < 0 or b < 0:
        raise RuntimeError("cannot find the kernel body in the example solution")
    s["sources"][0]["content"] = src[:b + 1] + "\n" + code + "\n" + src[b + 1:]
    return s


def log_time(line):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    return datetime.datetime.fromisoformat(m.group(1)).timestamp() if m else None


def main():
    out = os.environ.get("OUT")
    logdir = os.path.join(out, "stack") if out else tempfile.mkdtemp(prefix="kf-stack-logs-")
    os.makedirs(logdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="kf-stack-")
    try:
        run(tmp, logdir)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"logs: {logdir}")


def find_tvm_ffi_root():
    """apache-tvm-ffi's package folder, as kf-worker looks for it:
    KF_TVM_FFI_ROOT, var/tvm-ffi-root (make deps), else python3's tvm_ffi."""
    if os.environ.get("KF_TVM_FFI_ROOT"):
        return os.environ["KF_TVM_FFI_ROOT"]
    f = os.path.join(ROOT, "var", "tvm-ffi-root")
    if os.path.exists(f):
        return open(f).read().strip()
    r = subprocess.run([os.environ.get("KF_PYTHON") or "python3", "-c",
                        "import os, tvm_ffi; print(os.path.dirname(tvm_ffi.__file__))"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def run(tmp, logdir):
    progs = {n: find_prog(n) for n in ("redis-server", "kf-server", "kf-worker", "kf")}
    if not check("programs found", all(progs.values()), str(progs)):
        return

    # dataset: the suite's (KF_GPU_DATASET, when it has GDN decode), else the
    # GDN decode workloads synthesized here
    ds = os.environ.get("KF_GPU_DATASET", "")
    if not (ds and os.path.exists(os.path.join(ds, "definitions"))
            and any(DEF + ".jsonl" in fs for _, _, fs in os.walk(os.path.join(ds, "workloads")))):
        ds = os.path.join(tmp, "ds")
        r = subprocess.run([progs["kf"], "synth", "--out", ds, "--seed", "1", "--from",
                            os.path.join(ROOT, "dataset"), "--only", DEF],
                           capture_output=True, text=True, timeout=300)
        if not check("kf synth", r.returncode == 0, r.stderr[-1000:]):
            return
    ds = os.path.abspath(ds)
    print(f"# dataset {ds}")
    # compiled kernels shared with the rest of the GPU suite when it runs us
    cache = os.path.join(os.environ["KF_GPU_OUT"], "cache") if os.environ.get("KF_GPU_OUT") \
        else os.path.join(tmp, "cache")
    uuids = []
    for dirpath, _, files in os.walk(os.path.join(ds, "workloads")):
        for f in files:
            if f == DEF + ".jsonl":
                for line in open(os.path.join(dirpath, f)):
                    uuids.append(json.loads(line)["workload"]["uuid"])
    if not check("workloads found", len(uuids) >= 8, str(len(uuids))):
        return

    sock = os.path.join(tmp, "redis.sock")
    procs.append(subprocess.Popen(
        [progs["redis-server"], "--port", "0", "--unixsocket", sock, "--save", "",
         "--appendonly", "no", "--dir", tmp],
        stdout=open(os.path.join(logdir, "redis.log"), "w"), stderr=subprocess.STDOUT))
    for _ in range(500):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    portfile = os.path.join(tmp, "port")
    server_log = os.path.join(logdir, "kf-server.log")
    procs.append(subprocess.Popen(
        [progs["kf-server"], "--port", "0", "--port-file", portfile, "--redis-url",
         "unix://" + sock, "--dataset", ds, "--auth", "off"],
        stdout=open(server_log, "w"), stderr=subprocess.STDOUT))
    for _ in range(300):
        if os.path.exists(portfile) and open(portfile).read().strip():
            break
        time.sleep(0.05)
    base = "http://127.0.0.1:%s" % open(portfile).read().strip()
    tvm_ffi_root = find_tvm_ffi_root()
    env = dict(os.environ)
    if tvm_ffi_root:
        env["KF_TVM_FFI_ROOT"] = tvm_ffi_root

    worker_lanes = {}

    def start_worker(tag, wl_timeout, startup):
        """A kf-worker on the test's queue; None when GET /health never counts it."""
        log = os.path.join(logdir, f"kf-worker-{tag}.log")
        w = subprocess.Popen(
            [progs["kf-worker"], "--device", "0", "--redis-url", "unix://" + sock, "--dataset", ds,
             "--cache", cache, "--kernels", os.path.join(ROOT, "kernels"),
             "--seed-secret", "stack-test-secret", "--worker-id", "gpu-stack-" + tag,
             "--workload-timeout", str(wl_timeout), "--startup-timeout", str(startup),
             "--heartbeat", "1"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        procs.append(w)
        healthy = False
        for _ in range(240):
            if w.poll() is not None:
                break
            code, body = http("GET", base + "/health")
            me = [x for x in (json.loads(body).get("workers") or []) if
                  x.get("id") == "gpu-stack-" + tag and x.get("healthy")] if code == 200 else []
            if me:
                healthy = me[0]
                break
            time.sleep(0.5)
        if not check(f"worker {tag} up (GET /health counts it)", healthy, open(log).read()[-1500:]):
            return None
        print(f"# worker {tag}: lanes {healthy.get('lanes')}")
        worker_lanes[tag] = healthy.get("lanes") or []
        return w

    def stop_worker(tag, w):
        w.send_signal(signal.SIGTERM)
        try:
            rc = w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        check(f"SIGTERM: worker {tag} exits 0", rc == 0, f"rc={rc}")

    worker = start_worker("a", WL_TIMEOUT, STARTUP)
    if worker is None:
        return
    worker_log = os.path.join(logdir, "kf-worker-a.log")

    example = json.load(open(EXAMPLE))

    def submit(sol, wls):
        code, body = http("POST", base + "/solutions?rerun=1&workloads=" + ",".join(wls),
                          json.dumps(sol))
        if code != 202:
            raise RuntimeError(f"POST /solutions: {code} {body[:500]}")
        return json.loads(body)["task_id"]

    def wait(tid, limit=240):
        t0 = time.time()
        while time.time() - t0 < limit:
            code, body = http("GET", f"{base}/tasks/{tid}?timeout=30")
            if code == 200:
                t = json.loads(body)
                if t["status"] in ("completed", "failed"):
                    return t
        return {"status": "timeout-in-test", "traces": []}

    def statuses(t):
        return [tr["evaluation"]["status"] for tr in (t.get("traces") or [])]

    def good(tag, wls):
        t = wait(submit(example, wls))
        st = statuses(t)
        ok = t["status"] == "completed" and st == ["PASSED"] * len(wls)
        check(f"{tag}: example solution PASSED on {len(wls)} workloads", ok,
              f"status={t['status']} statuses={st} error={t.get('error')}")
        if ok:
            hw = t["traces"][0]["evaluation"]["environment"]["hardware"]
            check(f"{tag}: environment.hardware names the GPU", hw.startswith("NVIDIA_"), hw)

    good("first task", uuids[0:3])

    # an endless kernel
    spin = inject(example, "stack_spin", "    while (clock64() >= 0) { }")
    tid = submit(spin, uuids[3:4])
    t = wait(tid)
    st = statuses(t)
    check("endless kernel: TIMEOUT", st == ["TIMEOUT"],
          f"status={t['status']} statuses={st} error={t.get('error')}")
    start = verdict = None
    for line in open(worker_log):
        if f"task={tid} start" in line:
            start = log_time(line)
        if f"task={tid} workload=" in line and "status=TIMEOUT" in line:
            verdict = log_time(line)
    limit = STARTUP + WL_TIMEOUT + 2.0
    took = (verdict - start) if start and verdict else None
    check(f"endless kernel: verdict within deadline + 2 s ({limit:.0f} s)",
          took is not None and took <= limit, f"took={took}")
    print(f"# endless kernel: TIMEOUT after {took} s (deadline {STARTUP + WL_TIMEOUT} s)")
    good("after the endless kernel", uuids[4:6])

    # an out-of-bounds write
    oob = inject(example, "stack_oob",
                 "    if (threadIdx.x == 0 && blockIdx.x == 0)\n"
                 "        new_state[(size_t)1 << 40] = 1.0f;")
    t = wait(submit(oob, uuids[6:8]))
    st = statuses(t)
    check("out-of-bounds write: RUNTIME_ERROR on each workload",
          t["status"] == "completed" and st == ["RUNTIME_ERROR"] * 2,
          f"status={t['status']} statuses={st} error={t.get('error')}")
    if st:
        print("# oob log: " + t["traces"][0]["evaluation"].get("log", "")[:300].replace("\n", " | "))
    check("worker still running", worker.poll() is None)
    good("after the out-of-bounds write", uuids[8:10] if len(uuids) >= 10 else uuids[0:2])

    stop_worker("a", worker)

    # the contest lanes through the same stack: every solution folder of
    # tests/gpu/lanes/ (python lane: plain PyTorch both calling styles,
    # Triton, CUDA with the torch binding) and the tvm-ffi starter-kit
    # directory (tvm-ffi lane). A lane the host cannot serve is a failure
    # here, never a skip: make test-gpu is where the lanes are proven.
    def lane_task(tag, sol, lane, wls):
        t0 = time.monotonic()
        t = wait(submit(sol, wls))
        st = statuses(t)
        lanes = [tr["evaluation"].get("kernelfarm", {}).get("lane") for tr in t.get("traces") or []]
        ok = check(f"{tag}: PASSED on {len(wls)} workloads in the {lane} lane",
                   t["status"] == "completed" and st == ["PASSED"] * len(wls) and
                   lanes == [lane] * len(wls), f"status={t['status']} statuses={st} lanes={lanes} "
                   f"log={(t.get('traces') or [{}])[0].get('evaluation', {}).get('log', '')[:800]}")
        if ok:
            lat = [round(tr["evaluation"]["performance"]["latency_ms"] * 1000, 1)
                   for tr in t["traces"]]
            print(f"# {tag}: {time.monotonic() - t0:.1f} s from submit to traces, latency us {lat}")

    # A second worker for them, with the default start-up allowance: the
    # first workload of a solution includes its build (cpp_extension, Triton,
    # nvcc), which worker a's short timeouts (set for the endless kernel) would
    # cut off.
    worker = start_worker("b", 60, 240)
    if worker is None:
        return
    check("worker b serves the python lane (python3 with torch and triton)",
          "python" in worker_lanes["b"], str(worker_lanes["b"]))
    lanes_root = os.path.join(ROOT, "tests", "gpu", "lanes")
    for i, name in enumerate(sorted(os.listdir(lanes_root))):
        r = subprocess.run([progs["kf"], "pack", os.path.join(lanes_root, name)],
                           capture_output=True, text=True, timeout=60)
        if not check(f"kf pack of the lane folder {name}", r.returncode == 0, r.stderr[-500:]):
            continue
        sol = json.loads(r.stdout)
        k = (2 * i) % max(len(uuids) - 1, 1)
        lane_task(f"{name} ({sol['spec']['language']}"
                  f"{', binding ' + sol['spec']['binding'] if sol['spec'].get('binding') else ''})",
                  sol, "python", uuids[k:k + 2])
    if check("worker b serves the tvm-ffi lane (apache-tvm-ffi: KF_TVM_FFI_ROOT, "
             "var/tvm-ffi-root from make deps, or python3's tvm_ffi)",
             bool(tvm_ffi_root) and "tvm-ffi" in worker_lanes["b"],
             f"root={tvm_ffi_root!r} lanes={worker_lanes['b']}"):
        r = subprocess.run([progs["kf"], "pack",
                            os.path.join(ROOT, "tests", "gpu", "solutions", "gdn_decode_tvmffi")],
                           capture_output=True, text=True, timeout=60)
        if check("kf pack of the tvm-ffi starter-kit directory", r.returncode == 0, r.stderr[-500:]):
            lane_task("tvm-ffi solution (cuda)", json.loads(r.stdout), "tvm-ffi", uuids[2:4])

    stop_worker("b", worker)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the test is a failure, never a skip
        check("test ran to the end", False, repr(e))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
