"""GDN decode in plain PyTorch, returning its outputs (destination_passing_style
false): a test solution of kernelfarm's Python lane. The arithmetic is the
DPS test solution's (tests/gpu/lanes/gdn_decode_torch/kernel.py), repeated
here because each solution carries its own sources."""
import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def gdn_decode(q, k, v, state, A_log, a, dt_bias, b, scale):
    B, _, HQ, K = q.shape
    HV = v.shape[2]
    rep = HV // HQ
    if not scale:
        scale = 1.0 / math.sqrt(K)
    g = torch.exp(-torch.exp(A_log.float()) * F.softplus(a[:, 0].float() + dt_bias.float()))
    beta = torch.sigmoid(b[:, 0].float())
    qh = q[:, 0].float().repeat_interleave(rep, dim=1)
    kh = k[:, 0].float().repeat_interleave(rep, dim=1)
    vh = v[:, 0].float()
    S = state.float() if state is not None else torch.zeros(B, HV, vh.shape[-1], K,
                                                            device=q.device)
    S = g[..., None, None] * S
    u = torch.einsum("bhvk,bhk->bhv", S, kh)
    nv = beta[..., None] * vh + (1 - beta[..., None]) * u
    S = S + torch.einsum("bhv,bhk->bhvk", nv - u, kh)
    o = scale * torch.einsum("bhvk,bhk->bhv", S, qh)
    return o[:, None].to(torch.bfloat16), S
