"""GDN decode (k-last state) in Triton: a test solution of kernelfarm's Python
lane, written for kernelfarm. One program per (batch, value head) holds the
whole [V, K] fp32 state tile; see tests/gpu/lanes/gdn_decode_torch/kernel.py
for the recurrence."""
import math

import torch
import triton
import triton.language as tl


@triton.jit
def _gdn_decode_kernel(q, k, v, S, A_log, a, dt_bias, b, out, NS, scale,
                       HQ: tl.constexpr, HV: tl.constexpr, D: tl.constexpr, HAS_STATE: tl.constexpr):
    pid = tl.program_id(0)
    bi = pid // HV
    h = pid % HV
    hq = h // (HV // HQ)
    offs = tl.arange(0, D)
    qv = tl.load(q + (bi * HQ + hq) * D + offs).to(tl.float32)
    kv = tl.load(k + (bi * HQ + hq) * D + offs).to(tl.float32)
    vv = tl.load(v + (bi * HV + h) * D + offs).to(tl.float32)
    x = tl.load(a + bi * HV + h).to(tl.float32) + tl.load(dt_bias + h)
    sp = tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))
    g = tl.exp(-tl.exp(tl.load(A_log + h)) * sp)
    beta = 1.0 / (1.0 + tl.exp(-tl.load(b + bi * HV + h).to(tl.float32)))
    base = (bi * HV + h) * D * D
    tile = offs[:, None] * D + offs[None, :]
    if HAS_STATE:
        s = tl.load(S + base + tile) * g
    else:
        s = tl.zeros((D, D), dtype=tl.float32)
    u = tl.sum(s * kv[None, :], axis=1)
    nv = beta * vv + (1.0 - beta) * u
    s = s + (nv - u)[:, None] * kv[None, :]
    o = tl.sum(s * qv[None, :], axis=1) * scale
    tl.store(out + (bi * HV + h) * D + offs, o.to(tl.bfloat16))
    tl.store(NS + base + tile, s)


def gdn_decode(q, k, v, state, A_log, a, dt_bias, b, scale, output, new_state):
    B, _, HQ, D = q.shape
    HV = v.shape[2]
    if not scale:
        scale = 1.0 / math.sqrt(D)
    st = state if state is not None else new_state
    _gdn_decode_kernel[(B * HV,)](q, k, v, st, A_log, a, dt_bias, b, output, new_state, float(scale),
                                  HQ=HQ, HV=HV, D=D, HAS_STATE=state is not None, num_warps=8)
