/* gdn_prefill.cu: kernelfarm's reference for gdn_prefill_qk4_v8_d128_k_last
 * (Gated Delta Net over variable-length sequences packed by cu_seqlens, GVA 4
 * q/k heads -> 8 v heads, head size 128, state in k-last layout [N, H, V, K]).
 *
 * The per-token recurrence, exactly as the definition states it, for every
 * token t of sequence n (value head h, k head h / 2):
 *   g    = exp(-exp(A_log[h]) * softplus(a[t,h] + dt_bias[h])),  beta = sigmoid(b[t,h])
 *   S    = g * S
 *   old_v[v] = sum_k k_t[k] S[v,k];  new_v[v] = beta v_t[v] + (1 - beta) old_v[v]
 *   S[v,k]  += k_t[k] (new_v[v] - old_v[v])     (= - k old_v + k new_v)
 *   out[t,h,v] = scale * sum_k q_t[k] S[v,k]    (scale == 0 -> 1/sqrt(128))
 * The state of sequence n starts from state[n] (zeros when state is NULL) and
 * ends in new_state[n]; an empty sequence leaves new_state[n] zero, as the
 * definition's reference does.
 *
 * Rows v of the state never interact, so the state lives in registers for the
 * whole sequence: 8 lanes own one row (16 floats each), a warp owns 4 rows, a
 * block of 128 threads 16 rows. Dot products are 3-step shuffle reductions
 * inside the 8-lane group; the next token's inputs are loaded while the
 * current one is computed. All arithmetic in fp32.
 *
 * Launch: grid (head_size / 16, num_v_heads, num_seqs), block 128.
 * Thread-safety: a kernel; each thread writes disjoint outputs.
 */
#include <cuda_bf16.h>

#define GDN_K 128
#define GDN_HV 8
#define GDN_HQ 4

static __device__ __forceinline__ float gdn_group8_sum(float x)
{
    x += __shfl_xor_sync(0xffffffffu, x, 4);
    x += __shfl_xor_sync(0xffffffffu, x, 2);
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x;
}

static __device__ __forceinline__ float gdn_softplus(float x)
{
    /* torch.nn.functional.softplus(beta=1, threshold=20) */
    return x > 20.f ? x : log1pf(expf(x));
}

struct gdn_tok {
    uint2 q[4], k[4]; /* 4 x 4 bf16 each */
    float v, a, b;
};

static __device__ __forceinline__ void gdn_load_tok(gdn_tok &r, const __nv_bfloat16 *q,
                                                    const __nv_bfloat16 *k,
                                                    const __nv_bfloat16 *v,
                                                    const __nv_bfloat16 *a,
                                                    const __nv_bfloat16 *b, long long t, int h,
                                                    int row, int j)
{
    const int hk = h / (GDN_HV / GDN_HQ);
    const uint2 *qp = reinterpret_cast<const uint2 *>(q + (t * GDN_HQ + hk) * GDN_K);
    const uint2 *kp = reinterpret_cast<const uint2 *>(k + (t * GDN_HQ + hk) * GDN_K);
#pragma unroll
    for (int m = 0; m < 4; m++) {
        r.q[m] = __ldg(qp + j + 8 * m);
        r.k[m] = __ldg(kp + j + 8 * m);
    }
    r.v = __bfloat162float(v[(t * GDN_HV + h) * GDN_K + row]);
    r.a = __bfloat162float(a[t * GDN_HV + h]);
    r.b = __bfloat162float(b[t * GDN_HV + h]);
}

static __device__ __forceinline__ void gdn_unpack4(uint2 u, float *f)
{
    __nv_bfloat162 lo = *reinterpret_cast<__nv_bfloat162 *>(&u.x);
    __nv_bfloat162 hi = *reinterpret_cast<__nv_bfloat162 *>(&u.y);
    float2 l = __bfloat1622float2(lo), h = __bfloat1622float2(hi);
    f[0] = l.x; f[1] = l.y; f[2] = h.x; f[3] = h.y;
}

extern "C" __global__ void __launch_bounds__(128)
gdn_prefill_ref(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                const __nv_bfloat16 *__restrict__ v, const float *__restrict__ state,
                const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ a,
                const float *__restrict__ dt_bias, const __nv_bfloat16 *__restrict__ b,
                const long long *__restrict__ cu_seqlens, float scale,
                __nv_bfloat16 *__restrict__ output, float *__restrict__ new_state,
                long long num_seqs)
{
    const int lane = threadIdx.x & 31;
    const int j = lane & 7;
    const int row = blockIdx.x * 16 + (threadIdx.x >> 5) * 4 + (lane >> 3);
    const int h = blockIdx.y;
    const long long n = blockIdx.z;
    if (n >= num_seqs)
        return;
    if (scale == 0.f)
        scale = rsqrtf((float)GDN_K);
    const long long t0 = cu_seqlens[n], t1 = cu_seqlens[n + 1];
    const float neg_ea = -expf(A_log[h]);
    const float dtb = dt_bias[h];

    /* lane j owns k columns 4 * (j + 8 m) + e, m, e in [0, 4) */
    const size_t soff = (((size_t)n * GDN_HV + h) * GDN_K + row) * GDN_K;
    float s[16];
#pragma unroll
    for (int m = 0; m < 4; m++) {
        float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
        if (state && t1 > t0)
            t = *reinterpret_cast<const float4 *>(state + soff + 4 * (j + 8 * m));
        s[4 * m] = t.x; s[4 * m + 1] = t.y; s[4 * m + 2] = t.z; s[4 * m + 3] = t.w;
    }

    gdn_tok nxt;
    if (t1 > t0)
        gdn_load_tok(nxt, q, k, v, a, b, t0, h, row, j);
    for (long long t = t0; t < t1; t++) {
        const gdn_tok cur = nxt;
        if (t + 1 < t1)
            gdn_load_tok(nxt, q, k, v, a, b, t + 1, h, row, j);
        const float g = expf(neg_ea * gdn_softplus(cur.a + dtb));
        const float beta = 1.f / (1.f + expf(-cur.b));
        float kf[16], qf[16];
#pragma unroll
        for (int m = 0; m < 4; m++) {
            gdn_unpack4(cur.k[m], kf + 4 * m);
            gdn_unpack4(cur.q[m], qf + 4 * m);
        }
        float p0 = 0.f, p1 = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i += 2) {
            s[i] *= g;
            s[i + 1] *= g;
            p0 += kf[i] * s[i];
            p1 += kf[i + 1] * s[i + 1];
        }
        const float old_v = gdn_group8_sum(p0 + p1);
        const float new_v = beta * cur.v + (1.f - beta) * old_v;
        float o0 = 0.f, o1 = 0.f;
#pragma unroll
        for (int i = 0; i < 16; i += 2) {
            s[i] = s[i] - kf[i] * old_v + kf[i] * new_v;
            s[i + 1] = s[i + 1] - kf[i + 1] * old_v + kf[i + 1] * new_v;
            o0 += qf[i] * s[i];
            o1 += qf[i + 1] * s[i + 1];
        }
        const float o = gdn_group8_sum(o0 + o1);
        if (j == 0)
            output[(t * GDN_HV + h) * GDN_K + row] = __float2bfloat16(scale * o);
    }
#pragma unroll
    for (int m = 0; m < 4; m++)
        *reinterpret_cast<float4 *>(new_state + soff + 4 * (j + 8 * m)) =
            make_float4(s[4 * m], s[4 * m + 1], s[4 * m + 2], s[4 * m + 3]);
}
