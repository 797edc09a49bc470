#!/usr/bin/env python3
"""Regenerate cases.txt: malformed FlashInfer-Trace documents, each with the
JSON path its rejection must name. Base documents mirror the fixtures in
tests/unit/dl_fixtures.h (the toy definition, workload, nvrtc solution and
trace). Run: python3 tests/data/malformed/gen.py > tests/data/malformed/cases.txt

Line format (tab-separated): kind, expected path, description, document.
kind: definition | workload | workload_check | workload_constraints | solution |
solution_check | trace (*_check, *_constraints: parsed, then checked against the
toy definition; workload_constraints: structurally valid workloads that break
a constraint, reported by kf_workload_check_constraints)."""
import copy
import json

DEF = {
    "name": "toy_add_h4", "description": "toy", "op_type": "toy", "tags": ["t:1"],
    "axes": {"n": {"type": "var", "description": "rows"}, "h": {"type": "const", "value": 4},
             "len": {"type": "var"}, "total": {"type": "var"}},
    "constraints": ["n % 2 == 0", "x.shape[-1] == h", "total == cu[-1].item()"],
    "inputs": {"x": {"shape": ["n", "h"], "dtype": "float32"},
               "y": {"shape": ["n", "h"], "dtype": "bfloat16", "optional": True},
               "cu": {"shape": ["len"], "dtype": "int32"},
               "alpha": {"shape": None, "dtype": "float32"},
               "z0": {"shape": [], "dtype": "float8_e4m3fn"}},
    "outputs": {"out": {"shape": ["n", "h"], "dtype": "float32"}},
    "reference": "import torch\n\ndef run(x, y, cu, alpha, z0):\n    return x",
}
WL = {"uuid": "u-1", "axes": {"n": 6, "len": 3, "total": 9},
      "inputs": {"x": {"type": "random"},
                 "cu": {"type": "safetensors", "path": "./blob/toy/a.safetensors", "tensor_key": "cu"},
                 "alpha": {"type": "scalar", "value": 0.5}, "z0": {"type": "random"}}}
LINE = {"definition": "toy_add_h4", "solution": None, "workload": WL, "evaluation": None}
SRC = ('#include <cuda_bf16.h>\nextern "C" __global__ void __launch_bounds__(128) '
       'toy_kernel(const float* x, const void* y, float alpha, float* out, long long n) {}\n'
       'extern "C" {\n__global__ void toy_tail(float* out, void* tmp) {}\n}\n')
SOL = {
    "name": "toy_sol", "definition": "toy_add_h4", "author": "me",
    "spec": {"language": "cuda", "binding": "nvrtc", "target_hardware": ["cuda"],
             "entry_point": "k.cu::toy_kernel", "destination_passing_style": True,
             "launch": [{"kernel": "toy_kernel", "grid": ["cdiv(n * h, 128)", 1], "block": [128],
                         "shared_mem_bytes": 0,
                         "args": ["x", "y", "alpha", "out", "n", 3, 0.5, "n * h"]},
                        {"kernel": "toy_tail", "grid": ["num_sms"], "block": [32, 4],
                         "cluster": [1], "args": ["out", "tmp"]}],
             "workspace": [{"name": "tmp", "bytes": "n * 4", "zero": True}]},
    "sources": [{"path": "k.cu", "content": SRC}, {"path": "inc/util.cuh", "content": "// util"}],
}
TRACE = {
    "definition": "toy_add_h4", "workload": WL, "solution": "toy_sol",
    "evaluation": {"status": "PASSED", "log": "",
                   "environment": {"hardware": "NVIDIA_H100", "libs": {"cuda": "13.0"}},
                   "timestamp": "2026-11-22T04:00:00Z",
                   "correctness": {"max_relative_error": 0.001, "max_absolute_error": "NaN",
                                   "extra": None},
                   "performance": {"latency_ms": 0.5, "reference_latency_ms": 1.0,
                                   "speedup_factor": 2.0},
                   "stats": {"n": 3}},
}

cases = []


def case(kind, path, what, base, fn=None):
    doc = copy.deepcopy(base)
    if fn is not None:
        r = fn(doc)
        if r is not None:
            doc = r
    cases.append((kind, path, what, doc))


def s(d, keys, value):
    """set d[k0][k1]...= value (keys: list of keys/indices)"""
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def rm(d, keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


D = "definition"
case(D, "$", "root is an array", DEF, lambda d: [d])
case(D, "name", "name missing", DEF, lambda d: rm(d, ["name"]))
case(D, "name", "name empty", DEF, lambda d: s(d, ["name"], ""))
case(D, "name", "name not a string", DEF, lambda d: s(d, ["name"], 5))
case(D, "op_type", "op_type missing", DEF, lambda d: rm(d, ["op_type"]))
case(D, "op_type", "op_type null", DEF, lambda d: s(d, ["op_type"], None))
case(D, "axes", "axes missing", DEF, lambda d: rm(d, ["axes"]))
case(D, "axes", "axes is a list", DEF, lambda d: s(d, ["axes"], ["n"]))
case(D, "axes.n.type", "unknown axis type", DEF, lambda d: s(d, ["axes", "n", "type"], "dynamic"))
case(D, "axes.n.type", "axis type missing", DEF, lambda d: rm(d, ["axes", "n", "type"]))
case(D, "axes.h.value", "const axis without value", DEF, lambda d: rm(d, ["axes", "h", "value"]))
case(D, "axes.h.value", "const axis negative", DEF, lambda d: s(d, ["axes", "h", "value"], -4))
case(D, "axes.h.value", "const axis not an integer", DEF, lambda d: s(d, ["axes", "h", "value"], 4.5))
case(D, "axes.n.description", "axis description not a string", DEF,
     lambda d: s(d, ["axes", "n", "description"], 1))
case(D, "axes.len", "axis not an object", DEF, lambda d: s(d, ["axes", "len"], "var"))
case(D, "inputs", "inputs missing", DEF, lambda d: rm(d, ["inputs"]))
case(D, "inputs.x", "tensor spec not an object", DEF, lambda d: s(d, ["inputs", "x"], ["n"]))
case(D, "inputs.x.shape", "shape missing (null means scalar)", DEF, lambda d: rm(d, ["inputs", "x", "shape"]))
case(D, "inputs.x.shape", "shape is a string", DEF, lambda d: s(d, ["inputs", "x", "shape"], "n,h"))
case(D, "inputs.x.shape[1]", "shape names an unknown axis", DEF,
     lambda d: s(d, ["inputs", "x", "shape"], ["n", "w"]))
case(D, "inputs.x.shape[0]", "shape element not a string", DEF,
     lambda d: s(d, ["inputs", "x", "shape"], [4, "h"]))
case(D, "inputs.x.shape", "more than 8 dimensions", DEF,
     lambda d: s(d, ["inputs", "x", "shape"], ["n"] * 9))
case(D, "inputs.x.dtype", "unknown dtype", DEF, lambda d: s(d, ["inputs", "x", "dtype"], "float64"))
case(D, "inputs.x.dtype", "dtype missing", DEF, lambda d: rm(d, ["inputs", "x", "dtype"]))
case(D, "outputs.out.dtype", "dtype spelled without fn", DEF,
     lambda d: s(d, ["outputs", "out", "dtype"], "float8_e4m3"))
case(D, "inputs.y.optional", "optional not a bool", DEF, lambda d: s(d, ["inputs", "y", "optional"], "yes"))
case(D, "outputs.out.optional", "optional output", DEF, lambda d: s(d, ["outputs", "out", "optional"], True))
case(D, "outputs.x", "output named like an input", DEF,
     lambda d: s(d, ["outputs", "x"], {"shape": ["n"], "dtype": "float32"}))
case(D, "outputs", "outputs missing", DEF, lambda d: rm(d, ["outputs"]))
case(D, "constraints", "constraints not a list", DEF, lambda d: s(d, ["constraints"], "n > 0"))
case(D, "constraints[1]", "constraint syntax error", DEF, lambda d: s(d, ["constraints", 1], "x.shape[-1] == "))
case(D, "constraints[0]", "constraint names an unknown axis", DEF, lambda d: s(d, ["constraints", 0], "m % 2 == 0"))
case(D, "constraints[1]", "constraint shape index out of range", DEF,
     lambda d: s(d, ["constraints", 1], "x.shape[5] == h"))
case(D, "constraints[0]", "empty constraint", DEF, lambda d: s(d, ["constraints", 0], ""))
case(D, "constraints[2]", "element of a scalar", DEF, lambda d: s(d, ["constraints", 2], "alpha[0] == 1"))
case(D, "constraints[3]", "constraint over const axes that does not hold", DEF,
     lambda d: d["constraints"].append("h % 3 == 0"))
case(D, "constraints[3]", "division by zero in a const constraint", DEF,
     lambda d: d["constraints"].append("h / (h - 4) == 1"))
case(D, "tags[0]", "empty tag", DEF, lambda d: s(d, ["tags"], ["", "b"]))
case(D, "tags[1]", "tag not a string", DEF, lambda d: s(d, ["tags"], ["a", 2]))
case(D, "reference", "reference missing", DEF, lambda d: rm(d, ["reference"]))
case(D, "reference", "reference without run()", DEF, lambda d: s(d, ["reference"], "def main(x):\n    return x"))
case(D, "description", "description not a string", DEF, lambda d: s(d, ["description"], ["toy"]))

W = "workload"
case(W, "$", "root is a string", WL, lambda d: "u-1")
case(W, "uuid", "uuid missing", WL, lambda d: rm(d, ["uuid"]))
case(W, "uuid", "uuid empty", WL, lambda d: s(d, ["uuid"], ""))
case(W, "axes", "axes missing", WL, lambda d: rm(d, ["axes"]))
case(W, "axes.n", "axis value negative", WL, lambda d: s(d, ["axes", "n"], -6))
case(W, "axes.n", "axis value a string", WL, lambda d: s(d, ["axes", "n"], "6"))
case(W, "axes.n", "axis value a bool", WL, lambda d: s(d, ["axes", "n"], True))
case(W, "inputs", "inputs a list", WL, lambda d: s(d, ["inputs"], []))
case(W, "inputs.x.type", "unknown input type", WL, lambda d: s(d, ["inputs", "x", "type"], "zeros"))
case(W, "inputs.x.type", "input type missing", WL, lambda d: s(d, ["inputs", "x"], {}))
case(W, "inputs.x", "input spec not an object", WL, lambda d: s(d, ["inputs", "x"], "random"))
case(W, "inputs.alpha.value", "scalar without value", WL, lambda d: rm(d, ["inputs", "alpha", "value"]))
case(W, "inputs.alpha.value", "scalar value a string", WL, lambda d: s(d, ["inputs", "alpha", "value"], "0.5"))
case(W, "inputs.cu.tensor_key", "safetensors without tensor_key", WL, lambda d: rm(d, ["inputs", "cu", "tensor_key"]))
case(W, "inputs.cu.path", "safetensors path escapes with ..", WL,
     lambda d: s(d, ["inputs", "cu", "path"], "blob/../../etc/x.safetensors"))
case(W, "inputs.cu.path", "safetensors absolute path", WL, lambda d: s(d, ["inputs", "cu", "path"], "/etc/x.safetensors"))
case(W, "solution", "dataset line with a solution", LINE, lambda d: s(d, ["solution"], "toy_sol"))
case(W, "evaluation", "dataset line with an evaluation", LINE, lambda d: s(d, ["evaluation"], {}))
case(W, "definition", "dataset line without definition", LINE, lambda d: rm(d, ["definition"]))
case(W, "workload.axes.n", "dataset line with a bad axis", LINE, lambda d: s(d, ["workload", "axes", "n"], -1))
case(W, "workload", "dataset line workload not an object", LINE, lambda d: s(d, ["workload"], "u-1"))

WC = "workload_check"
case(WC, "axes.zz", "axis not in the definition", WL, lambda d: s(d, ["axes", "zz"], 1))
case(WC, "axes.h", "const axis set by the workload", WL, lambda d: s(d, ["axes", "h"], 4))
case(WC, "axes.total", "var axis missing", WL, lambda d: rm(d, ["axes", "total"]))
case(WC, "inputs.x", "required input missing", WL, lambda d: rm(d, ["inputs", "x"]))
case(WC, "inputs.q", "input not in the definition", WL, lambda d: s(d, ["inputs", "q"], {"type": "random"}))
case(WC, "inputs.x", "scalar value for a tensor", WL, lambda d: s(d, ["inputs", "x"], {"type": "scalar", "value": 1}))
case(WC, "inputs.alpha", "random for a scalar input", WL, lambda d: s(d, ["inputs", "alpha"], {"type": "random"}))
case("workload_constraints", "constraints[0]", "constraint n % 2 == 0 violated", WL, lambda d: s(d, ["axes", "n"], 7))
case("workload_constraints", "constraints[0]", "constraint violated, large odd n", WL, lambda d: s(d, ["axes", "n"], 1000001))

S = "solution"
SP = ["spec"]
L0 = ["spec", "launch", 0]
case(S, "$", "root is a string", SOL, lambda d: "toy_sol")
case(S, "name", "name missing", SOL, lambda d: rm(d, ["name"]))
case(S, "author", "author missing", SOL, lambda d: rm(d, ["author"]))
case(S, "definition", "definition empty", SOL, lambda d: s(d, ["definition"], ""))
case(S, "spec", "spec missing", SOL, lambda d: rm(d, ["spec"]))
case(S, "spec.language", "unknown language", SOL, lambda d: s(d, SP + ["language"], "rust"))
case(S, "spec.binding", "unknown binding", SOL, lambda d: s(d, SP + ["binding"], "pybind"))
case(S, "spec.binding", "nvrtc binding for python", SOL, lambda d: s(d, SP + ["language"], "python"))
case(S, "spec.target_hardware", "target_hardware empty", SOL, lambda d: s(d, SP + ["target_hardware"], []))
case(S, "spec.target_hardware", "target_hardware missing", SOL, lambda d: rm(d, SP + ["target_hardware"]))
case(S, "spec.entry_point", "entry_point without ::", SOL, lambda d: s(d, SP + ["entry_point"], "k.cu"))
case(S, "spec.entry_point", "entry_point with two ::", SOL, lambda d: s(d, SP + ["entry_point"], "k.cu::a::b"))
case(S, "spec.entry_point", "entry_point file not in sources", SOL, lambda d: s(d, SP + ["entry_point"], "main.cu::toy_kernel"))
case(S, "spec.destination_passing_style", "dps not a bool", SOL, lambda d: s(d, SP + ["destination_passing_style"], 1))
case(S, "spec.dependencies[0]", "dependency not a string", SOL, lambda d: s(d, SP + ["dependencies"], [3]))
case(S, "sources", "sources empty", SOL, lambda d: s(d, ["sources"], []))
case(S, "sources", "sources missing", SOL, lambda d: rm(d, ["sources"]))
case(S, "sources[0].path", "absolute source path", SOL, lambda d: s(d, ["sources", 0, "path"], "/k.cu"))
case(S, "sources[1].path", "source path with ..", SOL, lambda d: s(d, ["sources", 1, "path"], "inc/../../x.cuh"))
case(S, "sources[1].path", "duplicate source path", SOL, lambda d: s(d, ["sources", 1, "path"], "k.cu"))
case(S, "sources[0].content", "source without content", SOL, lambda d: rm(d, ["sources", 0, "content"]))
case(S, "sources[1]", "source not an object", SOL, lambda d: s(d, ["sources", 1], "util.cuh"))
case(S, "spec.launch", "launch plan outside the nvrtc lane", SOL, lambda d: s(d, SP + ["binding"], "tvm-ffi"))
case(S, "spec.launch", "nvrtc lane without a launch plan", SOL, lambda d: rm(d, SP + ["launch"]))
case(S, "spec.launch", "empty launch plan", SOL, lambda d: s(d, SP + ["launch"], []))
case(S, "spec.launch[0].gird", "unknown launch field", SOL, lambda d: s(d, L0 + ["gird"], [1]))
case(S, "spec.launch[0].grid", "grid empty", SOL, lambda d: s(d, L0 + ["grid"], []))
case(S, "spec.launch[0].grid", "grid of 4 dimensions", SOL, lambda d: s(d, L0 + ["grid"], [1, 1, 1, 1]))
case(S, "spec.launch[0].grid[1]", "grid expression syntax", SOL, lambda d: s(d, L0 + ["grid", 1], "n +"))
case(S, "spec.launch[0].grid[0]", "grid dimension a bool", SOL, lambda d: s(d, L0 + ["grid", 0], True))
case(S, "spec.launch[0].block", "block missing", SOL, lambda d: rm(d, L0 + ["block"]))
case(S, "spec.launch[1].cluster[0]", "cluster expression syntax", SOL, lambda d: s(d, ["spec", "launch", 1, "cluster", 0], "2 2"))
case(S, "spec.launch[0].shared_mem_bytes", "shared memory syntax", SOL, lambda d: s(d, L0 + ["shared_mem_bytes"], "48 * 1024)"))
case(S, "spec.launch[0].kernel", "kernel not an identifier", SOL, lambda d: s(d, L0 + ["kernel"], "toy-kernel"))
case(S, "spec.launch[0].kernel", "kernel missing", SOL, lambda d: rm(d, L0 + ["kernel"]))
case(S, "spec.launch[0].args", "args not a list", SOL, lambda d: s(d, L0 + ["args"], "x,out"))
case(S, "spec.launch[0].args[2]", "argument a bool", SOL, lambda d: s(d, L0 + ["args", 2], False))
case(S, "spec.launch[0].args[7]", "argument expression syntax", SOL, lambda d: s(d, L0 + ["args", 7], "n *"))
case(S, "spec.workspace[0].bytes", "workspace without bytes", SOL, lambda d: rm(d, ["spec", "workspace", 0, "bytes"]))
case(S, "spec.workspace[1].name", "duplicate workspace", SOL,
     lambda d: d["spec"]["workspace"].append({"name": "tmp", "bytes": 4}))
case(S, "spec.workspace[0].size", "unknown workspace field", SOL, lambda d: s(d, ["spec", "workspace", 0, "size"], 4))
case(S, "spec.workspace[0].zero", "zero not a bool", SOL, lambda d: s(d, ["spec", "workspace", 0, "zero"], 1))

SC = "solution_check"
case(SC, "definition", "solution for another definition", SOL, lambda d: s(d, ["definition"], "other"))
case(SC, "spec.launch[0].kernel", "kernel not defined extern C __global__", SOL, lambda d: s(d, L0 + ["kernel"], "toy_missing"))
case(SC, "spec.launch[0].grid[0]", "grid names an unknown axis", SOL, lambda d: s(d, L0 + ["grid", 0], "cdiv(rows, 128)"))
case(SC, "spec.launch[1].grid[0]", "grid uses a tensor", SOL, lambda d: s(d, ["spec", "launch", 1, "grid", 0], "x"))
case(SC, "spec.launch[0].block[0]", "block uses tensor data", SOL, lambda d: s(d, L0 + ["block", 0], "cu[0]"))
case(SC, "spec.launch[0].args[4]", "argument names nothing", SOL, lambda d: s(d, L0 + ["args", 4], "rows"))
case(SC, "spec.launch[0].args[7]", "argument expression over a shape", SOL, lambda d: s(d, L0 + ["args", 7], "x.shape[0] * 2"))
case(SC, "spec.workspace[0].bytes", "workspace size names nothing", SOL, lambda d: s(d, ["spec", "workspace", 0, "bytes"], "rows * 4"))
case(SC, "spec.workspace[0].name", "workspace named like an input", SOL,
     lambda d: (s(d, ["spec", "workspace", 0, "name"], "cu"), s(d, ["spec", "launch", 1, "args", 1], "cu")) and None)
case(SC, "spec.destination_passing_style", "nvrtc lane returning outputs", SOL, lambda d: s(d, SP + ["destination_passing_style"], False))
case(SC, "spec.launch", "an output never passed", SOL,
     lambda d: (s(d, L0 + ["args", 3], "x"), s(d, ["spec", "launch", 1, "args", 0], "x")) and None)

T = "trace"
E = ["evaluation"]
case(T, "$", "root is an array", TRACE, lambda d: [d])
case(T, "definition", "definition missing", TRACE, lambda d: rm(d, ["definition"]))
case(T, "workload", "workload missing", TRACE, lambda d: rm(d, ["workload"]))
case(T, "workload.uuid", "workload without uuid", TRACE, lambda d: rm(d, ["workload", "uuid"]))
case(T, "solution", "solution a number", TRACE, lambda d: s(d, ["solution"], 7))
case(T, "evaluation", "evaluation without a solution", TRACE, lambda d: s(d, ["solution"], None))
case(T, "evaluation", "evaluation a string", TRACE, lambda d: s(d, E, "PASSED"))
case(T, "evaluation.status", "unknown status", TRACE, lambda d: s(d, E + ["status"], "OK"))
case(T, "evaluation.status", "status missing", TRACE, lambda d: rm(d, E + ["status"]))
case(T, "evaluation.environment", "environment missing", TRACE, lambda d: rm(d, E + ["environment"]))
case(T, "evaluation.environment.hardware", "hardware empty", TRACE, lambda d: s(d, E + ["environment", "hardware"], ""))
case(T, "evaluation.environment.libs.cuda", "library version a number", TRACE, lambda d: s(d, E + ["environment", "libs", "cuda"], 13))
case(T, "evaluation.timestamp", "timestamp missing", TRACE, lambda d: rm(d, E + ["timestamp"]))
case(T, "evaluation.log", "log a number", TRACE, lambda d: s(d, E + ["log"], 0))
case(T, "evaluation.performance", "PASSED without performance", TRACE, lambda d: s(d, E + ["performance"], None))
case(T, "evaluation.correctness", "PASSED without correctness", TRACE, lambda d: rm(d, E + ["correctness"]))
case(T, "evaluation.correctness", "RUNTIME_ERROR with correctness", TRACE,
     lambda d: (s(d, E + ["status"], "RUNTIME_ERROR"), s(d, E + ["performance"], None)) and None)
case(T, "evaluation.performance", "INCORRECT_NUMERICAL with performance", TRACE, lambda d: s(d, E + ["status"], "INCORRECT_NUMERICAL"))
case(T, "evaluation.performance.latency_ms", "negative latency", TRACE, lambda d: s(d, E + ["performance", "latency_ms"], -1.0))
case(T, "evaluation.performance.speedup_factor", "speedup a string", TRACE, lambda d: s(d, E + ["performance", "speedup_factor"], "2x"))
case(T, "evaluation.correctness.max_relative_error", "negative error", TRACE, lambda d: s(d, E + ["correctness", "max_relative_error"], -0.5))

print("# Malformed FlashInfer-Trace documents: kind<TAB>expected JSON path<TAB>what<TAB>document.")
print("# Generated by gen.py in this directory; edit that and regenerate.")
for kind, path, what, doc in cases:
    print(f"{kind}\t{path}\t{what}\t{json.dumps(doc, separators=(',', ':'))}")
