#!/usr/bin/env python3
"""kf_pyrunner.py: the Python lane's runner (docs/runner.md, docs/lanes.md).

The judge starts it as `python3 kf_pyrunner.py` with its commands on fd 3
and its replies on fd 4, the same protocol bin/kf-runner speaks. It loads a
solution written in Python (language "python", "triton", "tilelang", or
"cuda"/"cpp" with binding "torch", built with torch.utils.cpp_extension),
wraps the judge's arena buffers as torch tensors without copies, and makes
the calls. Device, arena and timing come from kernelfarm's own C runner
code (bin/libkfrunner.so, worker/pyrunner_api.c) through ctypes, so every
lane is timed by the same CUPTI timer and L2 flush.

Arguments follow flashinfer-bench: the inputs in definition order (tensors,
scalars as Python numbers, None for an absent optional input), then, with
destination_passing_style (the default), the outputs. Without it the
function returns the outputs (a tensor or a tuple); the runner copies them
into the judge's buffers after the call (after the timed calls: outside
their window).

The same runner, started as a trusted process and given the definition's
own reference as its "solution" (entry "reference.py::run", returning its
outputs), is how the judge times the PyTorch reference.
"""
import ctypes
import hashlib
import importlib.util
import json
import os
import struct
import sys
import traceback

CMD_FD, REPLY_FD = 3, 4
MAX_FRAME = 16 << 20
ERRN = 512

torch = None   # imported by open (after the runner's own set-up)


# ---- frames (worker/wire.h) ---------------------------------------------------

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(CMD_FD, n - len(buf))
        if not chunk:
            return None if not buf else b"\0truncated"
        buf += chunk
    return buf


def read_frame():
    hdr = read_exact(4)
    if hdr is None:
        return None
    n = struct.unpack(">I", hdr)[0]
    if n == 0 or n > MAX_FRAME:
        raise ValueError(f"frame length {n} outside 1..{MAX_FRAME}")
    body = read_exact(n)
    if body is None or len(body) != n:
        raise ValueError("truncated frame")
    msg = json.loads(body)
    if not isinstance(msg, dict):
        raise ValueError("a frame must hold a JSON object")
    return msg


def write_frame(obj):
    data = json.dumps(obj, allow_nan=False).encode()
    data = struct.pack(">I", len(data)) + data
    while data:
        n = os.write(REPLY_FD, data)
        data = data[n:]


def reply_error(stage, message, sticky=False):
    # the head (where it failed) and the tail (a build log's last lines: the
    # compiler's error) of a long message
    message = str(message)
    if len(message) > 6000:
        message = message[:1500] + "\n[... cut ...]\n" + message[-4500:]
    write_frame({"type": "error", "stage": stage, "message": message, "sticky": bool(sticky)})


# ---- kernelfarm's C runner code --------------------------------------------------

def load_lib(named=None):
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [named or "", os.environ.get("KF_RUNNER_LIB", ""),
             os.path.join(here, "..", "..", "bin", "libkfrunner.so"),
             os.path.join(here, "libkfrunner.so")]
    for c in cands:
        if c and os.path.exists(c):
            lib = ctypes.CDLL(c)
            break
    else:
        raise OSError("libkfrunner.so not found (make builds bin/libkfrunner.so; or set KF_RUNNER_LIB)")
    E = ctypes.c_char_p
    lib.kfr_open.argtypes = [ctypes.c_int, E, ctypes.c_int, E, ctypes.c_size_t]
    lib.kfr_stream.restype = ctypes.c_ulonglong
    lib.kfr_timer_kind.restype = ctypes.c_char_p
    lib.kfr_arch.restype = ctypes.c_char_p
    lib.kfr_arena_open.argtypes = [E, ctypes.POINTER(ctypes.c_ulonglong), E, ctypes.c_size_t]
    lib.kfr_arena_close.argtypes = [ctypes.c_ulonglong]
    lib.kfr_sync.argtypes = [E, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    lib.kfr_sandbox_enter.argtypes = [E, E, ctypes.c_int, ctypes.c_ulonglong, E, ctypes.c_size_t,
                                      E, ctypes.c_size_t]
    lib.kfr_measure.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int),
                                ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int),
                                E, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    return lib


RUN_CB = ctypes.CFUNCTYPE(ctypes.c_int)


class Cai:
    """A device buffer as __cuda_array_interface__: torch wraps it without a copy."""

    def __init__(self, ptr, nbytes):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1",
                                         "data": (ptr, False), "version": 2, "strides": None}


def write_solution_folder(srcs, root):
    """Write the solution's sources under root ({path, content} each; a path
    may not leave root). A file that already holds the content is left
    alone, so its mtime stays and a cached build of it stays valid."""
    root = os.path.normpath(root)
    for s in srcs:
        p = os.path.normpath(os.path.join(root, s["path"]))
        if not p.startswith(root + os.sep):
            raise ValueError(f"source path {s['path']!r} leaves the solution folder")
        data = s["content"].encode()
        try:
            with open(p, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = f"{p}.kf-tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)   # a build reading it beside us sees old or new, never half


def torch_dtype(name):
    m = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
         "float8_e4m3fn": getattr(torch, "float8_e4m3fn", None),
         "float8_e5m2": getattr(torch, "float8_e5m2", None),
         "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
         "uint8": torch.uint8, "bool": torch.bool}
    dt = m.get(name)
    if dt is None:
        raise ValueError(f"dtype {name} has no torch equivalent here")
    return dt


# ---- the runner ---------------------------------------------------------------------

class Runner:
    def __init__(self):
        self.lib = None
        self.fn = None
        self.dps = True
        self.arena = 0
        self.arena_bytes = 0
        self.args = None
        self.outs = None
        self.out_specs = None
        self.last = None
        self.stream = None
        self.cb_error = None
        self.lost = False

    # -- open
    def open(self, m):
        global torch
        err = ctypes.create_string_buffer(ERRN)
        try:
            self.lib = load_lib(m.get("runner_lib"))   # the judge's libkfrunner.so
        except OSError as e:
            return reply_error("device", e)
        rc = self.lib.kfr_open(int(m.get("device", 0)), (m.get("cache_dir") or "").encode() or None,
                               1 if os.environ.get("KF_TIMER") == "events" else 0, err, ERRN)
        if rc:
            return reply_error("device", err.value.decode(errors="replace"))
        try:
            import torch as _torch
            torch = _torch
            torch.cuda.set_device(int(m.get("device", 0)))
            self.stream = torch.cuda.ExternalStream(self.lib.kfr_stream())
        except Exception as e:   # the host lacks torch: not the solution's fault
            return reply_error("device", f"torch is not usable here: {e}")
        try:
            import triton
            triton_version = triton.__version__
        except Exception:
            triton_version = None
        layers = self.enter_sandbox(m)
        if layers is None:
            return None
        sol = m.get("solution") or {}
        spec = sol.get("spec") or {}
        self.dps = spec.get("destination_passing_style", True) is not False
        try:
            self.fn = self.load_solution(sol, spec, m)
        except Exception:
            return reply_error("load", traceback.format_exc(limit=8))
        write_frame({"type": "ready", "pid": os.getpid(), "lane": "python",
                     "timer": self.lib.kfr_timer_kind().decode(), "arch": self.lib.kfr_arch().decode(),
                     "torch": torch.__version__, "triton": triton_version,
                     "sandbox": layers})

    def enter_sandbox(self, m):
        """After torch and triton are imported, before the solution is: the
        interpreter's trees readable, the compile caches writable, processes
        allowed (ptxas, nvcc). The judge's runner of the PyTorch reference
        is sandboxed the same way. Returns the layers, or None after replying
        with the error."""
        read = sorted({os.path.realpath(p) for p in sys.path + [sys.prefix, sys.base_prefix,
                                                                 sys.exec_prefix]
                       if p and os.path.exists(p)})
        write = [os.environ[k] for k in ("TRITON_CACHE_DIR", "TORCH_EXTENSIONS_DIR")
                 if os.environ.get(k)]
        for d in write:
            os.makedirs(d, exist_ok=True)
        layers = ctypes.create_string_buffer(8192)
        err = ctypes.create_string_buffer(ERRN)
        rc = self.lib.kfr_sandbox_enter(json.dumps(read).encode(), json.dumps(write).encode(), 1,
                                        64 << 30, layers, 8192, err, ERRN)
        try:
            lay = json.loads(layers.value.decode() or "{}")
        except ValueError:
            lay = {}
        if rc:
            write_frame({"type": "error", "stage": "sandbox",
                         "message": err.value.decode(errors="replace"), "sticky": False,
                         "sandbox": lay})
            sys.exit(82)
        return lay

    def load_solution(self, sol, spec, m):
        entry = spec.get("entry_point", "")
        if "::" not in entry:
            raise ValueError(f"entry_point {entry!r} is not FILE::FUNCTION")
        path, name = entry.split("::", 1)
        srcs = sol.get("sources") or []
        digest = hashlib.sha256(json.dumps(srcs, sort_keys=True).encode()).hexdigest()[:16]
        lang, binding = spec.get("language"), spec.get("binding")
        torch_binding = lang in ("cuda", "cpp") and binding == "torch"
        ext_dir = os.environ.get("TORCH_EXTENSIONS_DIR")
        if torch_binding and ext_dir:
            # a stable folder in the (per-solution) extension cache, so that
            # ninja's next build there finds the same paths and mtimes: no work
            build = os.path.join(ext_dir, "kf_" + digest)
            root = os.path.join(build, "src")
        else:
            root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kf-solution-" + digest)
            build = os.path.join(root, "build")
        write_solution_folder(srcs, root)
        if torch_binding:
            # As flashinfer-bench's TorchBuilder: the C/C++/CUDA sources only (the
            # rest is reachable through the solution folder on the include path),
            # CUDA (nvcc, libc10_cuda/libtorch_cuda) for language "cuda" only.
            from torch.utils import cpp_extension
            files = [os.path.join(root, s["path"]) for s in srcs
                     if s["path"].endswith((".cu", ".cpp", ".cc", ".cxx", ".c"))]
            os.makedirs(build, exist_ok=True)
            mod = cpp_extension.load(name="kf_" + digest, sources=files, build_directory=build,
                                     extra_include_paths=[root], with_cuda=(lang == "cuda"),
                                     verbose=False)
        else:
            sys.path.insert(0, root)
            spec_ = importlib.util.spec_from_file_location("kf_solution_" + digest,
                                                           os.path.join(root, path))
            mod = importlib.util.module_from_spec(spec_)
            spec_.loader.exec_module(mod)
        fn = getattr(mod, name, None)
        if not callable(fn):
            raise ValueError(f"{path} defines no function {name}")
        return fn

    # -- arena
    def arena_cmd(self, m):
        err = ctypes.create_string_buffer(ERRN)
        base = ctypes.c_ulonglong(0)
        if self.arena:
            self.args = self.outs = self.last = None
            self.lib.kfr_arena_close(self.arena)
            self.arena = 0
        if self.lib.kfr_arena_open(str(m.get("handle", "")).encode(), ctypes.byref(base), err, ERRN):
            return reply_error("arena", err.value.decode(errors="replace"))
        self.arena, self.arena_bytes = base.value, int(m["bytes"])
        write_frame({"type": "ok"})

    def tensor(self, d):
        off, nb = int(d["offset"]), int(d["nbytes"])
        if off < 0 or nb < 0 or off + nb > self.arena_bytes:
            raise ValueError(f"tensor {d.get('name')} outside the arena")
        shape = [int(x) for x in d.get("shape", [])]
        dt = torch_dtype(d["dtype"])
        raw = torch.as_tensor(Cai(self.arena + off, nb), device="cuda")
        return raw.view(dt).view(shape) if nb else torch.empty(shape, dtype=dt, device="cuda")

    def bind(self, m):
        args, outs, specs = [], [], []
        for d in m.get("inputs", []):
            if d.get("absent"):
                args.append(None)
            elif "scalar" in d:
                v = d["scalar"]
                args.append(float(v) if str(d.get("dtype", "")).startswith(("float", "bfloat"))
                            else int(v))
            else:
                args.append(self.tensor(d))
        for d in m.get("outputs", []):
            outs.append(self.tensor(d))
            specs.append((d["name"], tuple(int(x) for x in d.get("shape", [])), d["dtype"]))
        self.args, self.outs, self.out_specs, self.last = args, outs, specs, None
        write_frame({"type": "ok"})

    # -- calls
    def call(self):
        with torch.cuda.stream(self.stream):
            if self.dps:
                self.fn(*self.args, *self.outs)
            else:
                self.last = self.fn(*self.args)

    def copy_back(self):
        """destination_passing_style false: the returned tensors into the judge's buffers."""
        if self.dps:
            return None
        r = self.last
        if not isinstance(r, (tuple, list)):
            r = (r,)
        if len(r) != len(self.outs):
            return ("shape", f"the function returned {len(r)} value(s); the definition has "
                             f"{len(self.outs)} output(s)")
        with torch.cuda.stream(self.stream):
            for (name, shape, dtype), out, got in zip(self.out_specs, self.outs, r):
                if not isinstance(got, torch.Tensor):
                    return ("dtype", f"output {name}: returned {type(got).__name__}, not a tensor")
                if tuple(got.shape) != shape:
                    return ("shape", f"output {name}: shape {tuple(got.shape)}, expected {shape}")
                if got.dtype != out.dtype:
                    return ("dtype", f"output {name}: dtype {got.dtype}, expected {dtype}")
                out.copy_(got)
        return None

    def sync(self, stage):
        err = ctypes.create_string_buffer(ERRN)
        sticky = ctypes.c_int(0)
        if self.lib.kfr_sync(err, ERRN, ctypes.byref(sticky)):
            self.lost = bool(sticky.value)
            reply_error(stage, err.value.decode(errors="replace"), sticky.value)
            return False
        return True

    def run(self, m):
        if self.args is None:
            raise ValueError("run before bind")
        try:
            self.call()
            bad = self.copy_back()
        except Exception:
            return reply_error("run", traceback.format_exc(limit=8))
        if bad:
            return reply_error(*bad)
        if self.sync("run"):
            write_frame({"type": "ok"})

    def time(self, m):
        warm, iters = int(m.get("warmup", 0)), int(m.get("iterations", 1))
        if self.args is None or not (0 <= warm <= 100000 and 1 <= iters <= 100000):
            raise ValueError("time before bind, or bad counts")
        self.cb_error = None

        def one():
            try:
                self.call()
                return 0
            except Exception:
                self.cb_error = traceback.format_exc(limit=8)
                return 1
        cb = RUN_CB(one)
        smp = (ctypes.c_double * iters)()
        clk = (ctypes.c_int * 4)()
        km = (ctypes.c_double * 16)()
        nk = ctypes.c_int(0)
        err = ctypes.create_string_buffer(ERRN)
        sticky = ctypes.c_int(0)
        rc = self.lib.kfr_measure(ctypes.cast(cb, ctypes.c_void_p), warm, iters, smp, clk, km,
                                  ctypes.byref(nk), err, ERRN, ctypes.byref(sticky))
        if rc:
            self.lost = bool(sticky.value)
            return reply_error("time", self.cb_error or err.value.decode(errors="replace"),
                               sticky.value)
        try:
            bad = self.copy_back()
        except Exception:
            return reply_error("time", traceback.format_exc(limit=8))
        if bad:
            return reply_error(*bad)
        if not self.sync("time"):
            return
        write_frame({"type": "timed", "samples_ms": [smp[i] for i in range(iters)],
                     "timer": self.lib.kfr_timer_kind().decode(),
                     "clock": {"sm_mhz_before": clk[0], "sm_mhz_after": clk[1],
                               "sm_mhz_max": clk[2], "warmup_runs": clk[3]},
                     "kernel_ms": [km[i] for i in range(nk.value)]})


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    r = Runner()
    handlers = {"open": r.open, "arena": r.arena_cmd, "bind": r.bind, "run": r.run, "time": r.time}
    while True:
        try:
            m = read_frame()
        except (ValueError, OSError) as e:
            print(f"kf_pyrunner: protocol error: {e}", file=sys.stderr)
            return 80
        if m is None or m.get("type") == "bye":
            return 0
        h = handlers.get(m.get("type"))
        if h is None:
            print(f"kf_pyrunner: unknown command {m.get('type')!r}", file=sys.stderr)
            return 80
        try:
            h(m)
        except (KeyError, ValueError, TypeError) as e:
            print(f"kf_pyrunner: protocol error in {m.get('type')}: {e}", file=sys.stderr)
            return 80


if __name__ == "__main__":
    sys.exit(main())
