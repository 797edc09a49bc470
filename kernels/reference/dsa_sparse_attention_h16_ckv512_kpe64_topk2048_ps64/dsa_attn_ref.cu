/* dsa_attn_ref.cu: kernelfarm's reference for
 * dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64 (nvrtc lane).
 *
 * For each token t and head h, over the valid entries i of sparse_indices[t]
 * (an entry is valid when 0 <= idx < num_pages*64; the contract pads with -1):
 *   logit_i = sm_scale * (q_nope[t,h] . ckv[idx_i] + q_pe[t,h] . kpe[idx_i])
 *   output[t,h] = softmax(logit) . ckv[idx]          (bf16 out)
 *   lse[t,h]    = log2(sum_i exp(logit_i))           (fp32, -inf if no valid i)
 * Token index idx = page * 64 + offset addresses the flattened page cache.
 *
 * Faithful by construction: every product and sum in fp32 on CUDA cores, the
 * softmax in the natural-log domain, divided by ln 2 at the end like the
 * definition. Not naive: flash-decoding split over the 2048 indices
 * (32 chunks of 64, one block each, 16-byte loads into shared memory), then a
 * combine kernel per (token, head).
 *
 * Launch plan (spec.json): dsa_attn_ref_partial grid (num_tokens, 32) block 256,
 * dynamic smem 115200 B; then dsa_attn_ref_combine grid (num_tokens, 16) block 256.
 * Workspaces: part_ml [num_tokens][32][16][2] f32, part_o [num_tokens][32][16][512] f32.
 * Stateless; every launch writes all it later reads.
 */
#include <cuda_bf16.h>

#define H 16
#define DC 512
#define DP 64
#define DQK 576
#define TOPK 2048
#define CH 64               /* indices per block */
#define NSPLIT (TOPK / CH)  /* 32 */
#define KW 289              /* 32-bit words per shared K row: 288 + 1 pad (odd: conflict-free) */
#define LN2F 0.69314718055994531f
#define NEG_INF __int_as_float(0xff800000)

static __device__ __forceinline__ float2 bf2_to_f2(unsigned w)
{
    __nv_bfloat162 v = *reinterpret_cast<__nv_bfloat162 *>(&w);
    return __bfloat1622float2(v);
}

extern "C" __global__ void __launch_bounds__(256)
dsa_attn_ref_partial(const __nv_bfloat16 *__restrict__ q_nope, const __nv_bfloat16 *__restrict__ q_pe,
                     const __nv_bfloat16 *__restrict__ ckv_cache, const __nv_bfloat16 *__restrict__ kpe_cache,
                     const int *__restrict__ sparse_indices, float sm_scale, long long num_pages,
                     float *__restrict__ part_ml, float *__restrict__ part_o)
{
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned *ks = reinterpret_cast<unsigned *>(smem);       /* [CH][KW] bf16 pairs */
    float *qs = reinterpret_cast<float *>(ks + CH * KW);      /* [H][DQK] */
    float *ps = qs + H * DQK;                                 /* [H][CH] logits, then p */
    int *vidx = reinterpret_cast<int *>(ps + H * CH);         /* [CH] */

    const long long t = blockIdx.x;
    const int s = blockIdx.y;
    const int tid = threadIdx.x;
    const long long total = num_pages * 64;

    if (tid < CH) {
        int idx = sparse_indices[t * TOPK + s * CH + tid];
        vidx[tid] = (idx >= 0 && (long long)idx < total) ? idx : -1;
    }
    for (int i = tid; i < H * DQK; i += 256) {
        int h = i / DQK, d = i % DQK;
        qs[i] = d < DC ? __bfloat162float(q_nope[(t * H + h) * DC + d])
                       : __bfloat162float(q_pe[(t * H + h) * DP + (d - DC)]);
    }
    __syncthreads();

    /* K rows: 72 x 16 B per row (64 from ckv, 8 from kpe); invalid rows are zero. */
#pragma unroll 6
    for (int i = tid; i < CH * 72; i += 256) {
        int r = i / 72, c = i % 72;
        int idx = vidx[r];
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (idx >= 0)
            v = c < 64 ? reinterpret_cast<const uint4 *>(ckv_cache)[(long long)idx * 64 + c]
                       : reinterpret_cast<const uint4 *>(kpe_cache)[(long long)idx * 8 + (c - 64)];
        unsigned *dst = ks + r * KW + c * 4;
        dst[0] = v.x; dst[1] = v.y; dst[2] = v.z; dst[3] = v.w;
    }
    __syncthreads();

    /* logits: thread -> row r, heads hg*4..hg*4+3 */
    {
        const int r = tid & (CH - 1), hg = tid >> 6;
        const unsigned *krow = ks + r * KW;
        const float2 *q2 = reinterpret_cast<const float2 *>(qs);
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int d2 = 0; d2 < DQK / 2; ++d2) {
            float2 k = bf2_to_f2(krow[d2]);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float2 q = q2[(hg * 4 + j) * (DQK / 2) + d2];
                acc[j] = fmaf(q.x, k.x, acc[j]);
                acc[j] = fmaf(q.y, k.y, acc[j]);
            }
        }
        const bool valid = vidx[r] >= 0;
#pragma unroll
        for (int j = 0; j < 4; ++j)
            ps[(hg * 4 + j) * CH + r] = valid ? acc[j] * sm_scale : NEG_INF;
    }
    __syncthreads();

    /* chunk softmax: warp w -> heads 2w, 2w+1; lane -> rows lane, lane+32 */
    {
        const int w = tid >> 5, lane = tid & 31;
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            const int h = 2 * w + hh;
            float a = ps[h * CH + lane], b = ps[h * CH + lane + 32];
            float m = fmaxf(a, b);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
            float pa = 0.f, pb = 0.f;
            if (m != NEG_INF) { pa = expf(a - m); pb = expf(b - m); }
            float l = pa + pb;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
            ps[h * CH + lane] = pa;
            ps[h * CH + lane + 32] = pb;
            if (lane == 0) {
                float *ml = part_ml + ((t * NSPLIT + s) * H + h) * 2;
                ml[0] = m;
                ml[1] = l;
            }
        }
    }
    __syncthreads();

    /* unnormalised p . ckv: thread -> columns 2*tid, 2*tid+1, all 16 heads */
    {
        float2 acc[H];
#pragma unroll
        for (int h = 0; h < H; ++h) acc[h] = make_float2(0.f, 0.f);
        for (int r = 0; r < CH; ++r) {
            if (vidx[r] < 0) continue;   /* block-uniform */
            float2 v = bf2_to_f2(ks[r * KW + tid]);
#pragma unroll
            for (int h = 0; h < H; ++h) {
                float p = ps[h * CH + r];
                acc[h].x = fmaf(p, v.x, acc[h].x);
                acc[h].y = fmaf(p, v.y, acc[h].y);
            }
        }
        float2 *o = reinterpret_cast<float2 *>(part_o + (t * NSPLIT + s) * H * DC);
#pragma unroll
        for (int h = 0; h < H; ++h) o[h * (DC / 2) + tid] = acc[h];
    }
}

extern "C" __global__ void __launch_bounds__(256)
dsa_attn_ref_combine(const float *__restrict__ part_ml, const float *__restrict__ part_o,
                     __nv_bfloat16 *__restrict__ output, float *__restrict__ lse)
{
    const long long t = blockIdx.x;
    const int h = blockIdx.y, tid = threadIdx.x;
    const float *ml = part_ml + t * NSPLIT * H * 2;

    float m = NEG_INF;
    for (int i = 0; i < NSPLIT; ++i) m = fmaxf(m, ml[(i * H + h) * 2]);
    __nv_bfloat162 *out = reinterpret_cast<__nv_bfloat162 *>(output + (t * H + h) * DC);
    if (m == NEG_INF) {   /* no valid index for this token */
        out[tid] = __floats2bfloat162_rn(0.f, 0.f);
        if (tid == 0) lse[t * H + h] = NEG_INF;
        return;
    }
    float l = 0.f, ox = 0.f, oy = 0.f;
    for (int i = 0; i < NSPLIT; ++i) {
        float mi = ml[(i * H + h) * 2], li = ml[(i * H + h) * 2 + 1];
        if (mi == NEG_INF) continue;
        float f = expf(mi - m);
        l = fmaf(li, f, l);
        float2 o = reinterpret_cast<const float2 *>(part_o + ((t * NSPLIT + i) * H + h) * DC)[tid];
        ox = fmaf(o.x, f, ox);
        oy = fmaf(o.y, f, oy);
    }
    out[tid] = __floats2bfloat162_rn(ox / l, oy / l);
    if (tid == 0) lse[t * H + h] = (m + logf(l)) / LN2F;
}
