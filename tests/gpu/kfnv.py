"""kfnv: run an nvrtc-lane solution's launch plan on torch tensors (GPU hosts only).

A small, independent second implementation of kernelfarm's nvrtc lane, for the
conformance tests in tests/gpu/: it compiles a kernel directory (spec.json plus
.cu/.cuh/.h files, or a packed solution.json) with NVRTC through ctypes and
executes its `spec.launch` plan with the CUDA driver API on the current torch
stream. The evaluator in worker/ is the production path; this module exists so
reference kernels can be checked against the official PyTorch references in
the same Python process.

Conventions (the same as the evaluator's):
  * every *.cu source is compiled as its own translation unit; *.cuh/*.h
    sources are headers visible to all of them;
  * NVRTC options: -std=c++17 --gpu-architecture=sm_XY[a] and the CUDA include
    directories;
  * arguments: inputs/outputs/workspaces -> device pointers (None for an absent
    optional input), scalar inputs (shape null) by value in their dtype, axis
    names and integer expressions -> int64, JSON integers -> int64, JSON reals
    -> float32;
  * expressions: integers, axis names, + - * / % (floor division), cdiv, min,
    max, and device facts num_sms.

Usage:
    from kfnv import Plan
    plan = Plan.load("kernels/reference/gdn_decode_qk4_v8_d128_k_last")
    outs = plan.run(definition_dict, {"q": q, ..., "scale": 0.088})
"""

import ctypes
import json
import os
import re

import torch

CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")

_DT_TORCH = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
    "bool": torch.bool,
}
_DT_CTYPE = {
    "float32": ctypes.c_float, "float64": ctypes.c_double, "int64": ctypes.c_int64,
    "int32": ctypes.c_int32, "int16": ctypes.c_int16, "int8": ctypes.c_int8,
    "bool": ctypes.c_bool,
}


def torch_dtype(name):
    return _DT_TORCH[name]


def _load_lib(names):
    last = None
    for n in names:
        try:
            return ctypes.CDLL(n)
        except OSError as e:  # try the next candidate
            last = e
    raise OSError(f"cannot load any of {names}: {last}")


_nvrtc = None
_cuda = None


def _libs():
    global _nvrtc, _cuda
    if _nvrtc is None:
        _nvrtc = _load_lib([os.path.join(CUDA_HOME, "lib64", "libnvrtc.so"), "libnvrtc.so.13",
                            "libnvrtc.so.12", "libnvrtc.so"])
        _cuda = _load_lib(["libcuda.so.1", "libcuda.so"])
    return _nvrtc, _cuda


def _check_cu(rc, what):
    if rc != 0:
        _, cu = _libs()
        s = ctypes.c_char_p()
        cu.cuGetErrorString(rc, ctypes.byref(s))
        raise RuntimeError(f"{what} failed: CUDA error {rc} ({s.value.decode() if s.value else '?'})")


def arch_flag(device=None):
    major, minor = torch.cuda.get_device_capability(device)
    suffix = "a" if (major, minor) in ((9, 0), (10, 0), (10, 3), (12, 0)) else ""
    return f"sm_{major}{minor}{suffix}"


def nvrtc_compile(name, src, headers, arch):
    """Compile one translation unit; returns cubin bytes or raises with the log."""
    nvrtc, _ = _libs()
    prog = ctypes.c_void_p()
    hnames = list(headers.keys())
    hsrc = (ctypes.c_char_p * len(hnames))(*[headers[h].encode() for h in hnames])
    hinc = (ctypes.c_char_p * len(hnames))(*[h.encode() for h in hnames])
    rc = nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), name.encode(), len(hnames),
                                  hsrc if hnames else None, hinc if hnames else None)
    if rc != 0:
        raise RuntimeError(f"nvrtcCreateProgram: {rc}")
    opts = ["-std=c++17", f"--gpu-architecture={arch}", f"--include-path={CUDA_HOME}/include"]
    if os.path.isdir(os.path.join(CUDA_HOME, "include", "cccl")):
        opts.append(f"--include-path={CUDA_HOME}/include/cccl")
    copts = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    rc = nvrtc.nvrtcCompileProgram(prog, len(opts), copts)
    logsz = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(logsz))
    log = ctypes.create_string_buffer(logsz.value)
    nvrtc.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
        raise RuntimeError(f"NVRTC compile of {name} failed:\n{log.value.decode(errors='replace')}")
    sz = ctypes.c_size_t()
    nvrtc.nvrtcGetCUBINSize(prog, ctypes.byref(sz))
    cubin = ctypes.create_string_buffer(sz.value)
    nvrtc.nvrtcGetCUBIN(prog, cubin)
    nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
    return cubin.raw


def _expr_value(src, env):
    """Evaluate a launch-plan integer expression (the lane's grammar) in env."""
    if isinstance(src, bool):
        raise ValueError("boolean in expression")
    if isinstance(src, int):
        return src
    text = str(src)
    if not re.fullmatch(r"[A-Za-z0-9_+\-*/%(), \t]*", text):
        raise ValueError(f"bad expression {text!r}")
    text = re.sub(r"(?<!/)/(?!/)", "//", text)
    scope = {"cdiv": lambda a, b: -(-a // b), "min": min, "max": max, "__builtins__": {}}
    scope.update(env)
    return int(eval(text, scope))  # noqa: S307 - grammar checked above, no builtins


class _Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


class _LaunchAttrValue(ctypes.Union):
    _fields_ = [("pad", ctypes.c_char * 64), ("clusterDim", _Dim3)]


class _LaunchAttr(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int), ("pad", ctypes.c_char * 4), ("value", _LaunchAttrValue)]


class _LaunchConfig(ctypes.Structure):
    _fields_ = [("gridDimX", ctypes.c_uint), ("gridDimY", ctypes.c_uint),
                ("gridDimZ", ctypes.c_uint), ("blockDimX", ctypes.c_uint),
                ("blockDimY", ctypes.c_uint), ("blockDimZ", ctypes.c_uint),
                ("sharedMemBytes", ctypes.c_uint), ("hStream", ctypes.c_void_p),
                ("attrs", ctypes.POINTER(_LaunchAttr)), ("numAttrs", ctypes.c_uint)]


CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4


class Plan:
    """A compiled nvrtc-lane solution, ready to launch on torch tensors."""

    def __init__(self, solution):
        self.solution = solution
        self.spec = solution["spec"]
        self.functions = {}
        self._modules = []
        self._compiled_for = None

    @classmethod
    def load(cls, path):
        """A packed solution.json, or a kernel directory (spec.json + sources)."""
        if os.path.isdir(path):
            with open(os.path.join(path, "spec.json")) as f:
                sol = json.load(f)
            sol["sources"] = []
            for fn in sorted(os.listdir(path)):
                if fn.endswith((".cu", ".cuh", ".h")):
                    with open(os.path.join(path, fn)) as f:
                        sol["sources"].append({"path": fn, "content": f.read()})
        else:
            with open(path) as f:
                sol = json.load(f)
        return cls(sol)

    def compile(self):
        arch = arch_flag()
        if self._compiled_for == arch:
            return
        _, cu = _libs()
        torch.zeros(1, device="cuda")  # make torch's primary context current
        headers = {s["path"]: s["content"] for s in self.solution["sources"]
                   if not s["path"].endswith(".cu")}
        wanted = {step["kernel"] for step in self.spec["launch"]}
        for s in self.solution["sources"]:
            if not s["path"].endswith(".cu"):
                continue
            cubin = nvrtc_compile(s["path"], s["content"], headers, arch)
            mod = ctypes.c_void_p()
            _check_cu(cu.cuModuleLoadData(ctypes.byref(mod), cubin), f"cuModuleLoadData({s['path']})")
            self._modules.append(mod)
            for k in wanted:
                fn = ctypes.c_void_p()
                if cu.cuModuleGetFunction(ctypes.byref(fn), mod, k.encode()) == 0:
                    self.functions[k] = fn
        missing = wanted - set(self.functions)
        if missing:
            raise RuntimeError(f"kernels not found in sources: {sorted(missing)}")
        self._compiled_for = arch

    @staticmethod
    def bind_axes(definition, tensors):
        """Axis values: const axes, then var axes read off the given tensors' shapes."""
        axes = {}
        for name, ax in definition["axes"].items():
            if ax["type"] == "const":
                axes[name] = ax["value"]
        for group in ("inputs", "outputs"):
            for tname, spec in definition[group].items():
                t = tensors.get(tname)
                if spec.get("shape") is None or not isinstance(t, torch.Tensor):
                    continue
                for dim, aname in zip(t.shape, spec["shape"]):
                    if aname in axes and axes[aname] != dim:
                        raise ValueError(f"{tname}: axis {aname} is {dim}, expected {axes[aname]}")
                    axes[aname] = int(dim)
        return axes

    def run(self, definition, inputs, outputs=None, stream=None):
        """Launch the plan. inputs: name -> tensor / python scalar / None.
        outputs: name -> preallocated tensor, or None to allocate. Returns outputs."""
        self.compile()
        _, cu = _libs()
        axes = self.bind_axes(definition, {**inputs, **(outputs or {})})
        if outputs is None:
            outputs = {}
        for name, spec in definition["outputs"].items():
            if name not in outputs:
                shape = [axes[a] for a in spec["shape"]]
                outputs[name] = torch.empty(shape, dtype=torch_dtype(spec["dtype"]), device="cuda")
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        env = dict(axes)
        env["num_sms"] = props.multi_processor_count
        workspaces = {}
        for ws in self.spec.get("workspace", []):
            nbytes = max(1, _expr_value(ws["bytes"], env))
            alloc = torch.zeros if ws.get("zero") else torch.empty
            workspaces[ws["name"]] = alloc(nbytes, dtype=torch.uint8, device="cuda")
        st = stream if stream is not None else torch.cuda.current_stream()
        for step in self.spec["launch"]:
            keep = []
            for a in step["args"]:
                keep.append(self._marshal(a, definition, inputs, outputs, workspaces, env))
            params = (ctypes.c_void_p * len(keep))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
                                                     for v in keep])
            grid = [_expr_value(g, env) for g in step["grid"]] + [1, 1]
            block = [_expr_value(b, env) for b in step["block"]] + [1, 1]
            smem = _expr_value(step.get("shared_mem_bytes", 0), env)
            fn = self.functions[step["kernel"]]
            if smem > 48 * 1024:
                _check_cu(cu.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                smem), "cuFuncSetAttribute")
            if min(grid[:3]) <= 0:
                continue  # empty launch: nothing to do for this workload
            cluster = step.get("cluster")
            if cluster:
                c = [_expr_value(x, env) for x in cluster] + [1, 1]
                attr = _LaunchAttr(id=CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
                attr.value.clusterDim = _Dim3(c[0], c[1], c[2])
                cfg = _LaunchConfig(grid[0], grid[1], grid[2], block[0], block[1], block[2], smem,
                                    ctypes.c_void_p(st.cuda_stream), ctypes.pointer(attr), 1)
                rc = cu.cuLaunchKernelEx(ctypes.byref(cfg), fn, params, None)
            else:
                rc = cu.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                       smem, ctypes.c_void_p(st.cuda_stream), params, None)
            _check_cu(rc, f"launch {step['kernel']}")
        return outputs

    @staticmethod
    def _marshal(a, definition, inputs, outputs, workspaces, env):
        if isinstance(a, bool):
            raise ValueError("boolean argument literal")
        if isinstance(a, int):
            return ctypes.c_int64(a)
        if isinstance(a, float):
            return ctypes.c_float(a)
        if a in definition["inputs"]:
            spec = definition["inputs"][a]
            v = inputs.get(a)
            if spec.get("shape") is None:
                if isinstance(v, torch.Tensor):
                    v = v.item()
                return _DT_CTYPE[spec["dtype"]](v)
            return ctypes.c_void_p(v.data_ptr() if isinstance(v, torch.Tensor) else 0)
        if a in definition["outputs"]:
            return ctypes.c_void_p(outputs[a].data_ptr())
        if a in workspaces:
            return ctypes.c_void_p(workspaces[a].data_ptr())
        return ctypes.c_int64(_expr_value(a, env))


def load_official_reference(definition_path):
    """The definition's own PyTorch `run` function, executed from its file
    (never copied into the project). Returns (definition dict, run)."""
    with open(definition_path) as f:
        d = json.load(f)
    scope = {}
    exec(compile(d["reference"], definition_path, "exec"), scope)  # noqa: S102
    return d, scope["run"]


def errors(out, ref, atol, rtol):
    """(max_abs, max_rel, matched_ratio) with the contract's element test."""
    x = out.float()
    y = ref.float()
    finite = torch.isfinite(y)
    same_inf = (x == y) & ~finite
    diff = (x - y).abs()
    diff = torch.where(same_inf, torch.zeros_like(diff), diff)
    rel = diff / y.abs().clamp_min(1e-12)
    fail = (diff > atol) & (diff > rtol * y.abs())
    fail = fail | (torch.isnan(x) != torch.isnan(y))
    n = max(1, y.numel())
    return (float(diff[finite].max()) if finite.any() else 0.0,
            float(rel[finite].max()) if finite.any() else 0.0,
            1.0 - float(fail.sum()) / n)


# ---------------------------------------------------------------- shared by the conformance scripts

HBM_BW = {"H100": 3.35e12, "H200": 4.8e12, "B200": 8.0e12}


def bandwidth(device_name):
    """(GPU key, HBM bytes/s) for the speed of light; an unknown GPU is taken as an H100."""
    for key, bw in HBM_BW.items():
        if key in device_name:
            return key, bw
    return "H100 (assumed)", 3.35e12


def read_tsv(path):
    """Rows (dicts keyed by the header) of a derived workload TSV; '#' lines are comments."""
    rows = []
    with open(path) as f:
        header = None
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            if header is None:
                header = cells
                continue
            rows.append(dict(zip(header, cells)))
    return rows


def poisoned_outputs(definition, inputs, extra_axes=None):
    """The definition's outputs for these inputs, filled with NaN (floats) or
    0x7fffffff (integers), so an element a kernel does not write fails.
    Input keys starting with '_' (a script's side data) are ignored;
    extra_axes overrides or adds axis values."""
    axes = Plan.bind_axes(definition, {k: v for k, v in inputs.items() if not k.startswith("_")})
    axes.update(extra_axes or {})
    outs = {}
    for name, spec in definition["outputs"].items():
        shape = [axes[a] for a in spec["shape"]]
        dt = torch_dtype(spec["dtype"])
        fill = float("nan") if dt.is_floating_point else 0x7FFFFFFF
        outs[name] = torch.full(shape, fill, dtype=dt, device="cuda")
    return outs


_FLUSH = {}


def l2_flush(mode="write"):
    """'write' (the contract's: a 256 MiB write, which leaves L2 full of dirty
    lines that the timed kernel's misses must write back) or 'read' (a 256 MiB
    read: L2 left holding clean lines)."""
    if "buf" not in _FLUSH:
        _FLUSH["buf"] = torch.ones(64 << 20, dtype=torch.float32, device="cuda")
        _FLUSH["acc"] = torch.zeros(1, dtype=torch.float32, device="cuda")
    if mode == "write":
        _FLUSH["buf"].zero_()
    else:
        torch.sum(_FLUSH["buf"], dim=0, keepdim=True, out=_FLUSH["acc"])


def time_plan(plan, definition, inputs, outputs, iters, flush_mode="write"):
    """Median latency (us) of one run of the plan: CUDA events around the
    launches, L2 flushed before each run, the GPU kept busy while the host
    enqueues (so host overhead is not timed), after 3 warm-up runs."""
    for _ in range(3):
        plan.run(definition, inputs, outputs)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        l2_flush(flush_mode)
        torch.cuda._sleep(1_000_000)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        plan.run(definition, inputs, outputs)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) * 1e3)
    times.sort()
    return times[len(times) // 2]
