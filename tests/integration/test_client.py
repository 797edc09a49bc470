#!/usr/bin/env python3
"""test_client.py: `kf submit`, `kf status`, `kf results` against a real
kf-server + redis-server; a stand-in consumer (docs/queue.md) finishes the
tasks."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()


def kf(s, *args, env=None, timeout=120):
    e = dict(os.environ, KF_URL="http://127.0.0.1:%d" % s.port)
    e.pop("KF_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([os.path.join(K.BIN, "kf")] + list(args), capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def run(tmp, s, redis):
    solf = os.path.join(K.ROOT, "kernels", "examples", K.GDN, "solution.json")
    sol = K.example_solution()
    rc, out, err = kf(s, "submit", solf)
    R.check("kf submit queues: the task pending", rc == 0 and out.startswith("task ") and
            "pending" in out and K.fib_name(sol) in out, out + err)
    tid = out.split()[1].rstrip(":")
    rc, out, err = kf(s, "submit", solf, "--json")
    R.check("kf submit --json (existing task)", rc == 0 and json.loads(out)["task_id"] == tid
            and json.loads(out)["existing"] is True, out + err)
    rc, out, err = kf(s, "status", tid)
    R.check("kf status table", rc == 0 and "pending" in out and tid in out, out + err)
    rc, out, err = kf(s, "status", tid, "--json")
    R.check("kf status --json", rc == 0 and json.loads(out)["status"] == "pending")

    # --wait: a consumer finishes the task meanwhile
    def finish():
        c = K.Consumer(redis.sock, "client-test")
        done = 0
        for _ in range(400):     # the first task and the rerun
            t = c.claim(block_ms=50)
            if t:
                c.complete(t, speedup=1.5)
                done += 1
                if done == 2:
                    break
        c.close()
    th = threading.Thread(target=finish)
    th.start()
    rc, out, err = kf(s, "submit", solf, "--rerun", "--wait")
    th.join(30)
    R.check("kf submit --wait prints the per-workload table and exits 0 when all PASSED",
            rc == 0 and "completed" in out and out.count("PASSED") == 3 and "1.50x" in out,
            out + err)
    lines = [ln for ln in err.splitlines() if " task " in ln and "workloads (" in ln]
    R.check("--wait without a terminal: one line per change, ending completed",
            len(lines) >= 1 and "completed 3/3" in lines[-1] and
            len(set(ln.split(" ", 1)[1].split(" (")[0] for ln in lines)) == len(lines), err)
    rc, out, err = kf(s, "results")
    R.check("kf results table", rc == 0 and K.GDN in out and K.fib_name(sol) in out
            and "NVIDIA_H100" in out, out + err)
    rc, out, err = kf(s, "results", "--definition", K.GDN, "--json")
    j = json.loads(out) if rc == 0 else {}
    R.check("kf results --definition --json", rc == 0
            and [d["definition"] for d in j["definitions"]] == [K.GDN])
    rc, out, err = kf(s, "results", "--definition", "nope")
    R.check("kf results unknown definition: error, exit 1", rc == 1 and "404" in err, err)
    rc, out, err = kf(s, "status", "0" * 32)
    R.check("kf status unknown task: exit 1 with the server's message", rc == 1
            and "unknown task" in err, err)
    bad = os.path.join(tmp, "bad.json")
    b = dict(sol, definition="nope")
    open(bad, "w").write(json.dumps(b))
    rc, out, err = kf(s, "submit", bad)
    R.check("kf submit invalid solution: 400 with path, exit 1", rc == 1 and "400" in err
            and "definition" in err, err)
    rc, out, err = kf(s, "submit", os.path.join(tmp, "missing.json"))
    R.check("kf submit missing file: exit 1", rc == 1 and "cannot open" in err)
    rc, out, err = kf(s, "submit")
    R.check("kf submit without FILE: usage, exit 2", rc == 2 and "usage" in err)
    rc, out, err = kf(s, "results", env={"KF_URL": "http://127.0.0.1:1"})
    R.check("kf results without a server: clear error, exit 1", rc == 1 and "cannot connect" in err)

    # a contest starter-kit directory is packed, then submitted
    kit = os.path.join(K.ROOT, "tests", "data", "starter", "cuda")
    rc, packed, err = kf(s, "pack", kit)
    R.check("kf pack starter-kit directory", rc == 0 and json.loads(packed)["spec"]["entry_point"]
            == "kernel.cu::kernel", err)
    rc, out, err = kf(s, "submit", kit, "--json")
    R.check("kf submit starter-kit directory", rc == 0 and json.loads(out).get("task_id")
            and json.loads(out).get("solution") == K.fib_name(json.loads(packed)), out + err)
    broken = os.path.join(tmp, "kit")
    os.makedirs(os.path.join(broken, "solution", "cuda"))
    open(os.path.join(broken, "config.toml"), "w").write(
        "[solution]\nname = \"n\"\ndefinition = \"%s\"\nauthor = \"a\"\n[build]\n"
        "language = \"cuda\"\nentry_point = kernel\n" % K.GDN)
    rc, out, err = kf(s, "submit", broken)
    R.check("kf submit broken starter kit: config.toml line and key, exit 1", rc == 1
            and "config.toml:7" in err and "entry_point" in err, err)


def run_more(tmp, s, redis):
    """--timeout, the no-worker note, a kernel directory, --url, HTTPS."""
    kdir = os.path.join(K.ROOT, "kernels", "examples", K.GDN)
    packed = json.load(open(os.path.join(kdir, "solution.json")))
    t0 = time.time()
    rc, out, err = kf(s, "submit", kdir, "--rerun", "--wait", "--timeout", "2")
    el = time.time() - t0
    R.check("kf submit KERNEL_DIR packs it (same name as kf pack's solution.json)",
            K.fib_name(packed) in err, err)
    R.check("--timeout 2 is honoured to the second (exit 3)", rc == 3 and 1.9 <= el < 3.0,
            "rc=%d %.2fs %s" % (rc, el, err))
    R.check("--wait says that no worker is connected", "no worker is connected" in err, err)
    R.check("--wait prints the pending state as a line at once", " pending 0/3 workloads (0 s)" in err, err)
    rc, out, err = kf(s, "results", "--url", "http://127.0.0.1:%d" % s.port,
                      env={"KF_URL": "http://127.0.0.1:1"})
    R.check("--url wins over KF_URL", rc == 0 and K.GDN in out, out + err)
    rc, out, err = kf(s, "results", "--url", "ftp://x")
    R.check("--url must be http or https (exit 2)", rc == 2 and "http://" in err, err)
    rc, out, err = kf(s, "status", "--timeout", "abc", "x")
    R.check("--timeout wants seconds (exit 2)", rc == 2 and "seconds" in err, err)
    # kf validate --url: definitions from the server
    only = dict(K.example_solution(), definition="gdn_decode_server_only")
    po = os.path.join(tmp, "server_only.json")
    json.dump(only, open(po, "w"))
    rc, out, err = kf(s, "validate", "--no-compile", po)
    R.check("kf validate: a definition found nowhere is an error", rc == 1 and "not found" in err,
            out + err)
    rc, out, err = kf(s, "validate", "--no-compile", "--url", "http://127.0.0.1:%d" % s.port, po)
    R.check("kf validate --url checks the solution against the server's definition",
            rc == 0 and "ok solution" in out, out + err)
    bad = dict(only)
    bad["spec"] = dict(only["spec"], launch=[dict(only["spec"]["launch"][0], kernel="nope")])
    json.dump(bad, open(po, "w"))
    rc, out, err = kf(s, "validate", "--no-compile", "--url", "http://127.0.0.1:%d" % s.port, po)
    R.check("kf validate --url: errors found against the server's definition",
            rc == 1 and "spec.launch[0].kernel" in err, out + err)
    # HTTPS: a TLS proxy with a self-signed certificate in front of kf-server
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    g = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True)
    if g.returncode != 0:
        R.check("openssl makes a test certificate", False, g.stderr.decode())
        return
    import http.server
    import ssl
    import urllib.request
    upstream = "http://127.0.0.1:%d" % s.port

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with urllib.request.urlopen(upstream + self.path) as r:
                data = r.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Proxy)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    url = "https://127.0.0.1:%d" % httpd.server_address[1]
    try:
        rc, out, err = kf(s, "results", "--url", url, env={"KF_CA_BUNDLE": cert})
        R.check("kf results over HTTPS (libcurl)", rc == 0 and K.GDN in out, out + err)
        rc, out, err = kf(s, "results", "--url", url)
        R.check("HTTPS with an untrusted certificate: refused with curl's reason",
                rc == 1 and "certificate" in err.lower(), err)
    finally:
        httpd.shutdown()


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-client-")
    redis = K.Redis(tmp, aof=False)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    K.build_dataset(ds)
    # a definition only this server has (kf validate --url)
    d = json.load(open(os.path.join(ds, "definitions", "gdn", K.GDN + ".json")))
    d["name"] = "gdn_decode_server_only"
    json.dump(d, open(os.path.join(ds, "definitions", "gdn", "gdn_decode_server_only.json"), "w"))
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("client", run, tmp, s, redis)
        R.run("client more", run_more, tmp, s, redis)
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
