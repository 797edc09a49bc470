#!/usr/bin/env python3
"""test_pyrunner: the Python lane's runner (worker/python/kf_pyrunner.py)
speaking the runner protocol (docs/runner.md) without a GPU: its frames, its
protocol errors, and a clean error reply (never a crash) when the device
cannot be opened. The calls themselves need a GPU and torch
(tests/gpu/test_lanes.sh).

Ends with "N passed, N failed"; exits 1 on any failure.
"""
import fcntl
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "worker", "python", "kf_pyrunner.py")
_build = os.environ.get("KF_BUILD", "build")
BIN = os.path.join(ROOT, "bin") if _build in ("", "build") else os.path.join(ROOT, _build, "bin")
passed = failed = 0


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name} {detail}")


def asan_env():
    """An ASan build's libkfrunner.so loads into python only after the ASan
    runtime (make asan): preload it there, leaks not checked."""
    lib = os.path.join(BIN, "libkfrunner.so")
    try:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    for line in out.splitlines():
        if "libasan" in line and "=>" in line:
            return {"LD_PRELOAD": line.split("=>")[1].split()[0],
                    "ASAN_OPTIONS": "detect_leaks=0"}
    return {}


ASAN = asan_env()


def start(env=None):
    """The runner with its commands on fd 3 and its replies on fd 4."""
    def high(fd):   # above the runner's fixed 3 and 4
        h = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return h
    cr, cw = (high(x) for x in os.pipe())
    rr, rw = (high(x) for x in os.pipe())

    e = dict(os.environ)
    e.update(ASAN)
    e.update(env or {})
    # the shell puts the pipes on the runner's fixed descriptors
    p = subprocess.Popen(["bash", "-c", f'exec "$0" "$1" 3<&{cr} 4>&{rw} {cr}<&- {rw}>&-',
                          sys.executable, RUNNER], pass_fds=(cr, rw),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e)
    os.close(cr)
    os.close(rw)
    return p, cw, rr


def send(fd, obj=None, raw=None):
    data = raw if raw is not None else json.dumps(obj).encode()
    os.write(fd, struct.pack(">I", len(data)) + data)


def recv(fd):
    hdr = b""
    while len(hdr) < 4:
        c = os.read(fd, 4 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        c = os.read(fd, n - len(body))
        if not c:
            return None
        body += c
    return json.loads(body)


def finish(p, cw, rr):
    try:
        os.close(cw)
    except OSError:
        pass
    out = p.communicate(timeout=60)[0].decode(errors="replace")
    os.close(rr)
    return p.returncode, out


# --help
r = subprocess.run([sys.executable, RUNNER, "--help"], capture_output=True, text=True, timeout=60)
check(r.returncode == 0 and "fd 3" in r.stdout and "fd 4" in r.stdout,
      "--help describes the runner", r.stdout[:300])

# bye: exit 0
p, cw, rr = start()
send(cw, {"type": "bye"})
rc, out = finish(p, cw, rr)
check(rc == 0, "bye: exit 0", f"rc={rc} {out[-300:]}")

# end of the command stream between commands: exit 0
p, cw, rr = start()
rc, out = finish(p, cw, rr)
check(rc == 0, "EOF between commands: exit 0", f"rc={rc}")

# an unknown command, a zero-length frame, a frame that is not JSON: exit 80
for name, kw in (("unknown command", {"obj": {"type": "verdict", "status": "PASSED"}}),
                 ("zero-length frame", {"raw": b""}),
                 ("not JSON", {"raw": b"{nope"}),
                 ("a JSON array, not an object", {"raw": b"[1,2]"})):
    p, cw, rr = start()
    send(cw, **kw)
    rc, out = finish(p, cw, rr)
    check(rc == 80 and ("protocol error" in out or "unknown command" in out),
          f"{name}: protocol error, exit 80",
          f"rc={rc} {out[-300:]}")

# run before bind (no open): a protocol error, exit 80, no reply
p, cw, rr = start()
send(cw, {"type": "run"})
rc, out = finish(p, cw, rr)
check(rc == 80, "run before open and bind: exit 80", f"rc={rc} {out[-300:]}")

# open on a machine without a usable GPU: one error reply naming the stage
p, cw, rr = start({"KF_RUNNER_LIB": os.path.join(BIN, "libkfrunner.so")})
send(cw, {"type": "open", "lane": "python", "device": 0, "solution": {}, "definition": {},
          "artifacts": []})
rep = recv(rr)
rc, out = finish(p, cw, rr)
check(isinstance(rep, dict) and rep.get("type") == "error" and rep.get("stage") == "device"
      and rep.get("message"), "open without a GPU: an error reply of stage 'device'",
      f"{rep} rc={rc} {out[-300:]}")
check(rc == 0, "and the runner then ends cleanly at EOF", f"rc={rc}")

# open with no runner library at all: the same kind of reply, saying what is missing
p, cw, rr = start({"KF_RUNNER_LIB": "/nonexistent/libkfrunner.so"})
send(cw, {"type": "open", "lane": "python", "device": 0, "solution": {}, "definition": {},
          "artifacts": []})
rep = recv(rr)
finish(p, cw, rr)
check(isinstance(rep, dict) and rep.get("type") == "error" and rep.get("stage") == "device",
      "open without libkfrunner.so or a GPU: an error reply, not a crash", str(rep))

# the solution folder: sources written once; a file that already holds its
# content keeps its mtime (a torch-binding build cached beside it stays valid:
# ninja finds nothing to do); a changed one is rewritten; no path leaves it
sys.path.insert(0, os.path.dirname(RUNNER))
import kf_pyrunner  # noqa: E402  (its module level imports nothing beyond the stdlib)
import tempfile  # noqa: E402
import time  # noqa: E402
with tempfile.TemporaryDirectory() as td:
    root = os.path.join(td, "kf_x", "src")
    srcs = [{"path": "kernel.cu", "content": "// k\n"}, {"path": "inc/a.h", "content": "// a\n"}]
    kf_pyrunner.write_solution_folder(srcs, root)
    k, a = os.path.join(root, "kernel.cu"), os.path.join(root, "inc", "a.h")
    check(open(k).read() == "// k\n" and open(a).read() == "// a\n",
          "solution folder: sources written, subfolders made")
    os.utime(k, (1000, 1000))
    os.utime(a, (1000, 1000))
    kf_pyrunner.write_solution_folder(srcs, root)
    check(os.stat(k).st_mtime == 1000 and os.stat(a).st_mtime == 1000,
          "solution folder: unchanged sources keep their mtime (cached build reused)",
          f"{os.stat(k).st_mtime} {os.stat(a).st_mtime}")
    kf_pyrunner.write_solution_folder([{"path": "kernel.cu", "content": "// k2\n"}], root)
    check(open(k).read() == "// k2\n" and os.stat(k).st_mtime > time.time() - 3600,
          "solution folder: a changed source is rewritten")
    try:
        kf_pyrunner.write_solution_folder([{"path": "../evil.cu", "content": ""}], root)
        escaped = True
    except ValueError:
        escaped = False
    check(not escaped and not os.path.exists(os.path.join(td, "kf_x", "evil.cu")),
          "solution folder: a path leaving it is refused")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
