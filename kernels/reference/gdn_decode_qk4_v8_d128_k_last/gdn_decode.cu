/* gdn_decode.cu: kernelfarm's reference for gdn_decode_qk4_v8_d128_k_last
 * (Gated Delta Net, one decode step, GVA 4 q/k heads -> 8 v heads, head
 * size 128, state in k-last layout [B, H, V, K]).
 *
 * Maths (per batch b, value head h, k head h / 2):
 *   g    = exp(-exp(A_log[h]) * softplus(a[b,h] + dt_bias[h]))
 *   beta = sigmoid(b[b,h])
 *   S    = g * state[b,h]                      (rows v, columns k)
 *   old_v[v] = sum_k k[k] * S[v,k]
 *   new_v[v] = beta * v[v] + (1 - beta) * old_v[v]
 *   S'[v,k]  = S[v,k] - k[k] * old_v[v] + k[k] * new_v[v]
 *   out[v]   = scale * sum_k q[k] * S'[v,k]    (scale == 0 -> 1/sqrt(128))
 * Every row v of the state is independent, so one warp owns one row: each
 * lane holds 4 consecutive k elements (one 16-byte load), and the two dot
 * products are warp reductions. All arithmetic in fp32.
 *
 * Launch: grid (head_size / 4, num_v_heads, batch_size), block 128 (4 warps,
 * one row each). state may be NULL (read as zeros).
 * Thread-safety: a kernel; each thread writes disjoint outputs.
 */
#include <cuda_bf16.h>

#define GDN_K 128
#define GDN_HV 8
#define GDN_HQ 4

static __device__ __forceinline__ float gdn_warp_sum(float x)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

static __device__ __forceinline__ float gdn_softplus(float x)
{
    /* torch.nn.functional.softplus(beta=1, threshold=20) */
    return x > 20.f ? x : log1pf(expf(x));
}

extern "C" __global__ void __launch_bounds__(128)
gdn_decode_ref(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
               const __nv_bfloat16 *__restrict__ v, const float *__restrict__ state,
               const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ a,
               const float *__restrict__ dt_bias, const __nv_bfloat16 *__restrict__ b,
               float scale, __nv_bfloat16 *__restrict__ output, float *__restrict__ new_state,
               long long batch_size)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * 4 + (threadIdx.x >> 5);
    const int h = blockIdx.y;
    const long long bi = blockIdx.z;
    if (bi >= batch_size)
        return;
    const int hk = h / (GDN_HV / GDN_HQ);
    if (scale == 0.f)
        scale = rsqrtf((float)GDN_K);

    const float x = __bfloat162float(a[bi * GDN_HV + h]) + dt_bias[h];
    const float g = expf(-expf(A_log[h]) * gdn_softplus(x));
    const float beta = 1.f / (1.f + expf(-__bfloat162float(b[bi * GDN_HV + h])));

    const __nv_bfloat16 *qh = q + (bi * GDN_HQ + hk) * GDN_K + lane * 4;
    const __nv_bfloat16 *kh = k + (bi * GDN_HQ + hk) * GDN_K + lane * 4;
    float qv[4], kv[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        qv[i] = __bfloat162float(qh[i]);
        kv[i] = __bfloat162float(kh[i]);
    }
    const float vv = __bfloat162float(v[(bi * GDN_HV + h) * GDN_K + row]);

    const size_t off = (((size_t)bi * GDN_HV + h) * GDN_K + row) * GDN_K + lane * 4;
    float s[4] = {0.f, 0.f, 0.f, 0.f};
    if (state) {
        float4 t = *reinterpret_cast<const float4 *>(state + off);
        s[0] = t.x; s[1] = t.y; s[2] = t.z; s[3] = t.w;
    }
    float part = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s[i] *= g;
        part += kv[i] * s[i];
    }
    const float old_v = gdn_warp_sum(part);
    const float new_v = beta * vv + (1.f - beta) * old_v;
    float o = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s[i] = s[i] - kv[i] * old_v + kv[i] * new_v;
        o += qv[i] * s[i];
    }
    o = gdn_warp_sum(o);
    *reinterpret_cast<float4 *>(new_state + off) = make_float4(s[0], s[1], s[2], s[3]);
    if (lane == 0)
        output[(bi * GDN_HV + h) * GDN_K + row] = __float2bfloat16(scale * o);
}
