#!/usr/bin/env python3
"""Generate the GPU suite's bad solutions (tests/gpu/solutions/*.json) from the
GDN decode reference kernel: each is the reference plus one defect, so the
expected status depends only on the defect. Run from the repository root:
    python3 tests/gpu/make_bad.py
The outputs are committed; rerun after the reference kernel changes."""
import json
import os
import re

DEF = "gdn_decode_qk4_v8_d128_k_last"
SRC_DIR = os.path.join("kernels", "reference", DEF)
OUT_DIR = os.path.join("tests", "gpu", "solutions")

with open(os.path.join(SRC_DIR, "spec.json")) as f:
    BASE = json.load(f)
CU = [fn for fn in sorted(os.listdir(SRC_DIR)) if fn.endswith(".cu")]
assert len(CU) == 1, CU
with open(os.path.join(SRC_DIR, CU[0])) as f:
    SOURCE = f.read()
KERNEL = BASE["spec"]["launch"][0]["kernel"]
NOUT = "batch_size * 8 * 128"          # elements of `output` (bf16)

EXTRA = r'''
extern "C" __global__ void kf_bad_perturb(__nv_bfloat16 *out, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = __float2bfloat16(__bfloat162float(out[i]) + 1.0f);
}
extern "C" __global__ void kf_bad_oob(unsigned char *p, long long nbytes)
{
    if (threadIdx.x == 0 && blockIdx.x == 0)
        p[nbytes + 64] = 0x11;   /* inside the evaluator's guard bytes */
}
extern "C" __global__ void kf_bad_fault(unsigned char *p)
{
    if (threadIdx.x == 0 && blockIdx.x == 0)
        p[1ll << 42] = 0x11;     /* far outside any allocation */
}
extern "C" __global__ void kf_bad_mutate(__nv_bfloat16 *q)
{
    if (threadIdx.x == 0 && blockIdx.x == 0)
        q[0] = __float2bfloat16(42.0f);
}
__device__ int kf_done;
extern "C" __global__ void kf_bad_mark() { kf_done = 1; }
__device__ volatile int kf_stop;
extern "C" __global__ void kf_bad_spin()
{
    while (!kf_stop)             /* never set: spins until killed */
        __nanosleep(1000);
}
'''


def solution(name, desc, source, extra_steps):
    sol = json.loads(json.dumps(BASE))
    sol["name"] = "bad_" + name
    sol["author"] = "kernelfarm-tests"
    sol["description"] = desc
    sol["spec"]["launch"] = sol["spec"]["launch"] + extra_steps
    sol["sources"] = [{"path": CU[0], "content": source}]
    return sol


def first_call_only(src):
    """Insert `if (kf_done) return;` at the top of the main kernel's body."""
    m = re.search(r"\b" + re.escape(KERNEL) + r"\s*\(", src)
    brace = src.index("{", m.end())
    return "__device__ int kf_done;\n" + src[:brace + 1] + "\n    if (kf_done) return;" + src[brace + 1:] \
        + EXTRA.replace("__device__ int kf_done;\n", "")


def step(kernel, args, grid=None):
    return {"kernel": kernel, "grid": grid or [1], "block": [256], "args": args}


CASES = {
    "wrong_numerical": ("adds 1.0 to every output element: INCORRECT_NUMERICAL",
                        SOURCE + EXTRA,
                        [step("kf_bad_perturb", ["output", NOUT], ["cdiv(%s, 256)" % NOUT])]),
    "oob_guard": ("writes 64 bytes past the end of `output`: RUNTIME_ERROR (guard bytes)",
                  SOURCE + EXTRA, [step("kf_bad_oob", ["output", NOUT + " * 2"])]),
    "oob_fault": ("writes 4 TiB past `output`: RUNTIME_ERROR (illegal address), context reset",
                  SOURCE + EXTRA, [step("kf_bad_fault", ["output"])]),
    "mutate_input": ("overwrites q[0]: RUNTIME_ERROR (input modified)",
                     SOURCE + EXTRA, [step("kf_bad_mutate", ["q"])]),
    "endless": ("spins forever: TIMEOUT", SOURCE + EXTRA, [step("kf_bad_spin", [])]),
    "syntax_error": ("a C++ syntax error: COMPILE_ERROR with the NVRTC log",
                     SOURCE + "\nint kf_syntax_error = ;\n", []),
    "first_call_only": ("computes its outputs on the first call it sees only: INCORRECT_NUMERICAL",
                        first_call_only(SOURCE), [step("kf_bad_mark", [])]),
}

os.makedirs(OUT_DIR, exist_ok=True)
for name, (desc, src, steps) in CASES.items():
    path = os.path.join(OUT_DIR, name + ".json")
    with open(path, "w") as f:
        json.dump(solution(name, desc, src, steps), f, indent=1)
        f.write("\n")
    print("wrote", path)
