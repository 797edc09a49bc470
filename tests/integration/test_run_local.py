#!/usr/bin/env python3
"""test_run_local.py: deploy/run-local.sh (what `make run` starts) brings up
its own redis-server (unix socket, AOF, under KF_VAR) and kf-server, answers
/health, says clearly when no GPU is visible, and stops everything on SIGINT
/ SIGTERM (no redis-server or kf-server left behind)."""
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


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:   # a zombie is not alive
        return open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [(int(l.split(None, 1)[0]), l.split(None, 1)[1]) for l in out.splitlines() if l.strip()]


def run_once(tmp, ds, sig, group=False):
    var = os.path.join(tmp, "var-%d-%d" % (sig, group))
    port = K.free_port()
    env = dict(os.environ, KF_VAR=var, FIB_DATASET_PATH=ds, KF_PORT=str(port))
    env.pop("KF_REDIS_URL", None)
    log = open(os.path.join(tmp, "run-local-%d-%d.log" % (sig, group)), "w")
    p = subprocess.Popen([os.path.join(K.ROOT, "deploy", "run-local.sh")], stdout=log,
                         stderr=subprocess.STDOUT, env=env, cwd=K.ROOT, start_new_session=True)
    up = False
    for _ in range(300):
        try:
            if ("kernelfarm is up" in open(log.name).read() and
                    K.request("127.0.0.1", port, "GET", "/health", timeout=2).status == 200):
                up = True
                break
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.1)
    R.check("run-local.sh serves /health on KF_PORT", up, open(log.name).read()[-1500:])
    kids = children(p.pid)
    names = " ".join(a for _, a in kids)
    R.check("it started redis-server and kf-server", "redis-server" in names
            and "kf-server" in names, names)
    R.check("redis data and socket live under KF_VAR/redis",
            os.path.exists(os.path.join(var, "redis", "redis.sock")))
    text = open(log.name).read()
    ngpu = subprocess.run("nvidia-smi -L 2>/dev/null | grep -c '^GPU '", shell=True,
                          capture_output=True, text=True).stdout.strip()
    if ngpu in ("", "0"):
        R.check("no GPU: a clear line, no worker", "no NVIDIA GPU visible" in text
                and "kf-worker" not in names, text[-800:])
    else:
        R.check("one kf-worker per GPU", names.count("kf-worker") == int(ngpu), names)
    what = ("Ctrl-C (SIGINT to the process group)" if group
            else signal.Signals(sig).name)
    if group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    try:
        rc = p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    R.check("%s stops run-local.sh" % what, rc is not None, rc)
    time.sleep(0.2)
    left = [a for pid, a in kids if alive(pid)]
    R.check("nothing left running after %s" % what, not left, left)
    for pid, _ in kids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-run-local-")
    ds = os.path.join(tmp, "dataset")
    K.build_dataset(ds)
    try:
        R.run("SIGINT", run_once, tmp, ds, signal.SIGINT)
        R.run("SIGTERM", run_once, tmp, ds, signal.SIGTERM)
        R.run("Ctrl-C", run_once, tmp, ds, signal.SIGINT, True)
    finally:
        if R.failed:
            print("logs kept in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
