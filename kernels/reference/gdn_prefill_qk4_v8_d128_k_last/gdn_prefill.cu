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
 * whole sequence: 4 lanes own one row (32 floats each), a warp owns 8 rows, a
 * block of 128 threads 32 rows. Dot products are 2-step shuffle reductions
 * inside the 4-lane group. The step chain must never wait on device memory:
 * the block stages the inputs of 16 tokens at a time in shared memory (k, q
 * and its 16 values of v as fp32, g and beta computed once per token), double
 * buffered, the next 16 tokens' loads in flight in registers while the
 * current 16 are processed. All arithmetic in fp32.
 *
 * Each lane's 32-product dot products run in 4 independent accumulator
 * chains (shorter step latency). Grid z is a rank: perm[rank] (written by
 * gdn_prefill_order, a first one-block launch into the workspace perm,
 * num_seqs * 4 bytes) is the sequence, longest first, so the longest
 * sequences start first.
 * Launch: grid (head_size / 32, num_v_heads, num_seqs), block 128, static
 * shared memory 36 KiB.
 * Thread-safety: a kernel; each thread writes disjoint outputs.
 */
#include <cuda_bf16.h>

#define GDN_K 128
#define GDN_HV 8
#define GDN_HQ 4

static __device__ __forceinline__ float gdn_group4_sum(float x)
{
    x += __shfl_xor_sync(0xffffffffu, x, 2);
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x;
}

static __device__ __forceinline__ float gdn_softplus(float x)
{
    /* torch.nn.functional.softplus(beta=1, threshold=20) */
    return x > 20.f ? x : log1pf(expf(x));
}

#define TCH 16 /* tokens per shared-memory stage */

struct gdn_stage_regs {
    uint4 k[2], q[2], v;
    float a, b;
};

/* Issue the global loads of tokens [c0, c0 + TCH) (zeros past t1). */
static __device__ __forceinline__ void gdn_fetch(gdn_stage_regs &r, const __nv_bfloat16 *q,
                                                 const __nv_bfloat16 *k,
                                                 const __nv_bfloat16 *v,
                                                 const __nv_bfloat16 *a,
                                                 const __nv_bfloat16 *b, long long c0,
                                                 long long t1, int h, int row0, int tid)
{
    const int hk = h / (GDN_HV / GDN_HQ);
#pragma unroll
    for (int u = 0; u < 2; u++) {
        const int idx = tid + 128 * u;
        const int i = idx >> 4, c8 = (idx & 15) * 8;
        r.k[u] = make_uint4(0, 0, 0, 0);
        r.q[u] = make_uint4(0, 0, 0, 0);
        if (c0 + i < t1) {
            const size_t off = ((size_t)(c0 + i) * GDN_HQ + hk) * GDN_K + c8;
            r.k[u] = __ldg(reinterpret_cast<const uint4 *>(k + off));
            r.q[u] = __ldg(reinterpret_cast<const uint4 *>(q + off));
        }
    }
    r.v = make_uint4(0, 0, 0, 0);
    if (tid < 4 * TCH && c0 + (tid >> 2) < t1)
        r.v = __ldg(reinterpret_cast<const uint4 *>(
            v + ((size_t)(c0 + (tid >> 2)) * GDN_HV + h) * GDN_K + row0 + (tid & 3) * 8));
    r.a = 0.f;
    r.b = 0.f;
    if (tid < TCH && c0 + tid < t1) {
        r.a = __bfloat162float(a[(size_t)(c0 + tid) * GDN_HV + h]);
        r.b = __bfloat162float(b[(size_t)(c0 + tid) * GDN_HV + h]);
    }
}

static __device__ __forceinline__ void gdn_unpack8(uint4 u, float *dst)
{
    const __nv_bfloat162 *p = reinterpret_cast<const __nv_bfloat162 *>(&u);
    const float2 f0 = __bfloat1622float2(p[0]), f1 = __bfloat1622float2(p[1]);
    const float2 f2 = __bfloat1622float2(p[2]), f3 = __bfloat1622float2(p[3]);
    reinterpret_cast<float4 *>(dst)[0] = make_float4(f0.x, f0.y, f1.x, f1.y);
    reinterpret_cast<float4 *>(dst)[1] = make_float4(f2.x, f2.y, f3.x, f3.y);
}

extern "C" __global__ void __launch_bounds__(128)
gdn_prefill_ref4(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                const __nv_bfloat16 *__restrict__ v, const float *__restrict__ state,
                const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ a,
                const float *__restrict__ dt_bias, const __nv_bfloat16 *__restrict__ b,
                const long long *__restrict__ cu_seqlens, float scale,
                __nv_bfloat16 *__restrict__ output, float *__restrict__ new_state,
                long long num_seqs, const int *__restrict__ perm)
{
    __shared__ __align__(16) float sK[2][TCH * GDN_K];
    __shared__ __align__(16) float sQ[2][TCH * GDN_K];
    __shared__ __align__(16) float sV[2][TCH * 32];
    __shared__ float sG[2][TCH], sB[2][TCH];

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int j = lane & 3;
    const int rib = (tid >> 5) * 8 + (lane >> 2); /* row in block */
    const int row0 = blockIdx.x * 32;
    const int row = row0 + rib;
    const int h = blockIdx.y;
    if ((long long)blockIdx.z >= num_seqs)
        return;
    const long long n = perm[blockIdx.z]; /* longest sequences first */
    if (scale == 0.f)
        scale = rsqrtf((float)GDN_K);
    const long long t0 = cu_seqlens[n], t1 = cu_seqlens[n + 1];
    const float neg_ea = -expf(A_log[h]);
    const float dtb = dt_bias[h];

    /* lane j owns k columns 4 * (j + 4 m) + e, m in [0, 8), e in [0, 4) */
    const size_t soff = (((size_t)n * GDN_HV + h) * GDN_K + row) * GDN_K;
    float s[32];
#pragma unroll
    for (int m = 0; m < 8; m++) {
        float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
        if (state && t1 > t0)
            t = *reinterpret_cast<const float4 *>(state + soff + 4 * (j + 4 * m));
        s[4 * m] = t.x; s[4 * m + 1] = t.y; s[4 * m + 2] = t.z; s[4 * m + 3] = t.w;
    }

    const long long nst = t1 > t0 ? (t1 - t0 + TCH - 1) / TCH : 0;
    gdn_stage_regs pre;
    auto stage = [&](int buf) {
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int idx = tid + 128 * u;
            const int i = idx >> 4, c8 = (idx & 15) * 8;
            gdn_unpack8(pre.k[u], &sK[buf][i * GDN_K + c8]);
            gdn_unpack8(pre.q[u], &sQ[buf][i * GDN_K + c8]);
        }
        if (tid < 4 * TCH)
            gdn_unpack8(pre.v, &sV[buf][(tid >> 2) * 32 + (tid & 3) * 8]);
        if (tid < TCH) {
            sG[buf][tid] = expf(neg_ea * gdn_softplus(pre.a + dtb));
            sB[buf][tid] = 1.f / (1.f + expf(-pre.b));
        }
    };
    if (nst > 0) {
        gdn_fetch(pre, q, k, v, a, b, t0, t1, h, row0, tid);
        stage(0);
    }
    __syncthreads();

    for (long long c = 0; c < nst; c++) {
        const int cur = (int)(c & 1);
        const long long tc = t0 + c * TCH;
        const int L = (int)min((long long)TCH, t1 - tc);
        if (c + 1 < nst)
            gdn_fetch(pre, q, k, v, a, b, tc + TCH, t1, h, row0, tid);
        const float *cK = sK[cur], *cQ = sQ[cur];
#pragma unroll 2
        for (int i = 0; i < L; i++) {
            float kf[32], qf[32];
#pragma unroll
            for (int m = 0; m < 8; m++) {
                *reinterpret_cast<float4 *>(kf + 4 * m) =
                    *reinterpret_cast<const float4 *>(cK + i * GDN_K + 4 * (j + 4 * m));
                *reinterpret_cast<float4 *>(qf + 4 * m) =
                    *reinterpret_cast<const float4 *>(cQ + i * GDN_K + 4 * (j + 4 * m));
            }
            const float g = sG[cur][i], beta = sB[cur][i], vv = sV[cur][i * 32 + rib];
            float p0 = 0.f, p1 = 0.f, p2 = 0.f, p3 = 0.f;   /* 4 chains: a shorter step latency */
#pragma unroll
            for (int e = 0; e < 32; e += 4) {
                s[e] *= g;
                s[e + 1] *= g;
                s[e + 2] *= g;
                s[e + 3] *= g;
                p0 += kf[e] * s[e];
                p1 += kf[e + 1] * s[e + 1];
                p2 += kf[e + 2] * s[e + 2];
                p3 += kf[e + 3] * s[e + 3];
            }
            const float old_v = gdn_group4_sum((p0 + p1) + (p2 + p3));
            const float new_v = beta * vv + (1.f - beta) * old_v;
            const float d = new_v - old_v;
            float o0 = 0.f, o1 = 0.f, o2 = 0.f, o3 = 0.f;
#pragma unroll
            for (int e = 0; e < 32; e += 4) {
                s[e] += kf[e] * d;
                s[e + 1] += kf[e + 1] * d;
                s[e + 2] += kf[e + 2] * d;
                s[e + 3] += kf[e + 3] * d;
                o0 += qf[e] * s[e];
                o1 += qf[e + 1] * s[e + 1];
                o2 += qf[e + 2] * s[e + 2];
                o3 += qf[e + 3] * s[e + 3];
            }
            const float o = gdn_group4_sum((o0 + o1) + (o2 + o3));
            if (j == 0)
                output[((size_t)(tc + i) * GDN_HV + h) * GDN_K + row] = __float2bfloat16(scale * o);
        }
        if (c + 1 < nst)
            stage(cur ^ 1);
        __syncthreads();
    }
#pragma unroll
    for (int m = 0; m < 8; m++)
        *reinterpret_cast<float4 *>(new_state + soff + 4 * (j + 4 * m)) =
            make_float4(s[4 * m], s[4 * m + 1], s[4 * m + 2], s[4 * m + 3]);
}

/* Longest sequences first: perm[r] = the sequence of rank r by length,
 * longest first (ties by index), so the main kernel's slowest blocks, whose
 * grid z is perm's rank, are dispatched in the first wave instead of the last.
 * One block; O(num_seqs^2) compares (num_seqs is small). */
extern "C" __global__ void __launch_bounds__(256)
gdn_prefill_order(const long long *__restrict__ cu_seqlens, int *__restrict__ perm,
                  long long num_seqs)
{
    for (long long i = threadIdx.x; i < num_seqs; i += blockDim.x) {
        const long long li = cu_seqlens[i + 1] - cu_seqlens[i];
        long long r = 0;
        for (long long m = 0; m < num_seqs; m++) {
            const long long lm = cu_seqlens[m + 1] - cu_seqlens[m];
            r += (lm > li) || (lm == li && m < i);
        }
        perm[r] = (int)i;
    }
}
