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
 * (32 chunks of 64, one block each; the rows are gathered into shared memory
 * as 16-byte cp.async copies (sm_80+), all issued before one wait, the q
 * widening overlapping them), then a combine kernel per (token, head).
 *
 * Launch plan (spec.json): dsa_attn_ref_partial grid (num_tokens, 32) block 256,
 * dynamic smem 111872 B; then dsa_attn_ref_combine grid (num_tokens, 16) block 256.
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
#define KW 292              /* 32-bit words per shared K row: 288 + 4 pad (16-byte rows, conflict-free) */
#define LN2F 0.69314718055994531f
#define NEG_INF __int_as_float(0xff800000)

static __device__ __forceinline__ float bf_lo(unsigned w) { return __uint_as_float(w << 16); }
static __device__ __forceinline__ float bf_hi(unsigned w) { return __uint_as_float(w & 0xffff0000u); }

/* shared memory: K rows [CH][KW] words (74752 B), then q fp32 [H][DQK]
 * (36864 B; reused for the logits / p as [CH][H] once q is consumed), then
 * the chunk's indices [CH] (256 B): 111872 B, two blocks per SM. */
extern "C" __global__ void __launch_bounds__(256, 2)
dsa_attn_ref_partial(const __nv_bfloat16 *__restrict__ q_nope, const __nv_bfloat16 *__restrict__ q_pe,
                     const __nv_bfloat16 *__restrict__ ckv_cache, const __nv_bfloat16 *__restrict__ kpe_cache,
                     const int *__restrict__ sparse_indices, float sm_scale, long long num_pages,
                     float *__restrict__ part_ml, float *__restrict__ part_o)
{
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned *ks = reinterpret_cast<unsigned *>(smem);
    float *qs = reinterpret_cast<float *>(ks + CH * KW);
    float *pt = qs;                                           /* [CH][H], after q is consumed */
    int *vidx = reinterpret_cast<int *>(qs + H * DQK);

    const long long t = blockIdx.x;
    const int s = blockIdx.y;
    const int tid = threadIdx.x;
    const long long total = num_pages * 64;

    if (tid < CH) {
        int idx = sparse_indices[t * TOPK + s * CH + tid];
        vidx[tid] = (idx >= 0 && (long long)idx < total) ? idx : -1;
    }
    __syncthreads();   /* vidx */

    /* K rows: 72 x 16 B per row (64 from ckv, 8 from kpe); invalid rows are
     * zero-filled (cp.async with source size 0 reads nothing). All 18 copies
     * of a thread are issued before any wait, so the gathers overlap. */
#pragma unroll
    for (int u = 0; u < (CH * 72) / 256; ++u) {
        const int i = tid + 256 * u;
        const int r = i / 72, c = i % 72;
        const int idx = vidx[r];
        const uint4 *src = reinterpret_cast<const uint4 *>(ckv_cache);   /* any valid address */
        if (idx >= 0)
            src = c < 64 ? reinterpret_cast<const uint4 *>(ckv_cache) + (long long)idx * 64 + c
                         : reinterpret_cast<const uint4 *>(kpe_cache) + (long long)idx * 8 + (c - 64);
        const unsigned dst = (unsigned)__cvta_generic_to_shared(ks + r * KW + c * 4);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(dst), "l"(src), "r"(idx >= 0 ? 16 : 0) : "memory");
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");

    /* q -> fp32: 16 x 288 bf16 pairs, while the gathers are in flight */
#pragma unroll
    for (int u = 0; u < (H * (DQK / 2)) / 256; ++u) {
        const int i = tid + 256 * u;
        int h = i / (DQK / 2), w = i % (DQK / 2);
        unsigned v = w < DC / 2 ? reinterpret_cast<const unsigned *>(q_nope + (t * H + h) * DC)[w]
                                : reinterpret_cast<const unsigned *>(q_pe + (t * H + h) * DP)[w - DC / 2];
        reinterpret_cast<float2 *>(qs)[i] = make_float2(bf_lo(v), bf_hi(v));
    }
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    __syncthreads();

    /* logits: thread -> row r, heads hg*4..hg*4+3; 8 dims per step */
    const int r = tid & (CH - 1), hg = tid >> 6;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    {
        const uint4 *krow = reinterpret_cast<const uint4 *>(ks + r * KW);
        const float4 *q4 = reinterpret_cast<const float4 *>(qs) + hg * 4 * (DQK / 4);
#pragma unroll 4
        for (int c8 = 0; c8 < DQK / 8; ++c8) {
            uint4 kw = krow[c8];
            float k[8] = {bf_lo(kw.x), bf_hi(kw.x), bf_lo(kw.y), bf_hi(kw.y),
                          bf_lo(kw.z), bf_hi(kw.z), bf_lo(kw.w), bf_hi(kw.w)};
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float4 qa = q4[j * (DQK / 4) + 2 * c8], qb = q4[j * (DQK / 4) + 2 * c8 + 1];
                acc[j] = fmaf(qa.x, k[0], acc[j]);
                acc[j] = fmaf(qa.y, k[1], acc[j]);
                acc[j] = fmaf(qa.z, k[2], acc[j]);
                acc[j] = fmaf(qa.w, k[3], acc[j]);
                acc[j] = fmaf(qb.x, k[4], acc[j]);
                acc[j] = fmaf(qb.y, k[5], acc[j]);
                acc[j] = fmaf(qb.z, k[6], acc[j]);
                acc[j] = fmaf(qb.w, k[7], acc[j]);
            }
        }
    }
    const bool valid = vidx[r] >= 0;
    __syncthreads();   /* q is consumed: its space now holds the logits */
    reinterpret_cast<float4 *>(pt + r * H)[hg] =
        valid ? make_float4(acc[0] * sm_scale, acc[1] * sm_scale, acc[2] * sm_scale, acc[3] * sm_scale)
              : make_float4(NEG_INF, NEG_INF, NEG_INF, NEG_INF);
    __syncthreads();

    /* chunk softmax: warp w -> heads 2w, 2w+1; lane -> rows lane, lane+32 */
    {
        const int w = tid >> 5, lane = tid & 31;
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
            const int h = 2 * w + hh;
            float a = pt[lane * H + h], b = pt[(lane + 32) * H + h];
            float m = fmaxf(a, b);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
            float pa = 0.f, pb = 0.f;
            if (m != NEG_INF) { pa = expf(a - m); pb = expf(b - m); }
            float l = pa + pb;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
            pt[lane * H + h] = pa;
            pt[(lane + 32) * H + h] = pb;
            if (lane == 0) {
                float *ml = part_ml + ((t * NSPLIT + s) * H + h) * 2;
                ml[0] = m;
                ml[1] = l;
            }
        }
    }
    __syncthreads();

    /* unnormalised p . ckv: thread -> columns 4cq..4cq+3, heads 8hh..8hh+7 */
    {
        const int cq = tid & 127, hh = tid >> 7;
        float o[8][4];
#pragma unroll
        for (int h = 0; h < 8; ++h) o[h][0] = o[h][1] = o[h][2] = o[h][3] = 0.f;
#pragma unroll 2
        for (int rr = 0; rr < CH; ++rr) {
            if (vidx[rr] < 0) continue;   /* block-uniform */
            uint2 kw = *reinterpret_cast<const uint2 *>(ks + rr * KW + 2 * cq);
            const float v0 = bf_lo(kw.x), v1 = bf_hi(kw.x), v2 = bf_lo(kw.y), v3 = bf_hi(kw.y);
            const float4 pa = reinterpret_cast<const float4 *>(pt + rr * H + 8 * hh)[0];
            const float4 pb = reinterpret_cast<const float4 *>(pt + rr * H + 8 * hh)[1];
            const float p[8] = {pa.x, pa.y, pa.z, pa.w, pb.x, pb.y, pb.z, pb.w};
#pragma unroll
            for (int h = 0; h < 8; ++h) {
                o[h][0] = fmaf(p[h], v0, o[h][0]);
                o[h][1] = fmaf(p[h], v1, o[h][1]);
                o[h][2] = fmaf(p[h], v2, o[h][2]);
                o[h][3] = fmaf(p[h], v3, o[h][3]);
            }
        }
        float4 *dst = reinterpret_cast<float4 *>(part_o + ((t * NSPLIT + s) * H + 8 * hh) * DC) + cq;
#pragma unroll
        for (int h = 0; h < 8; ++h) dst[h * (DC / 4)] = make_float4(o[h][0], o[h][1], o[h][2], o[h][3]);
    }
}

/* grid (num_tokens, 16), block 256: thread -> columns 2*tid, 2*tid+1 */
extern "C" __global__ void __launch_bounds__(256)
dsa_attn_ref_combine(const float *__restrict__ part_ml, const float *__restrict__ part_o,
                     __nv_bfloat16 *__restrict__ output, float *__restrict__ lse)
{
    __shared__ float fac[NSPLIT];
    __shared__ float sm, sl;
    const long long t = blockIdx.x;
    const int h = blockIdx.y, tid = threadIdx.x;
    const float *ml = part_ml + t * NSPLIT * H * 2;

    if (tid < 32) {   /* NSPLIT == 32: lane i takes chunk i */
        const float mi = ml[(tid * H + h) * 2], li = ml[(tid * H + h) * 2 + 1];
        float m = mi;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        const float f = (m == NEG_INF || mi == NEG_INF) ? 0.f : expf(mi - m);
        float l = li * f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
        fac[tid] = f;
        if (tid == 0) { sm = m; sl = l; }
    }
    __syncthreads();
    const float m = sm, l = sl;
    __nv_bfloat162 *out = reinterpret_cast<__nv_bfloat162 *>(output + (t * H + h) * DC);
    if (m == NEG_INF) {   /* no valid index for this token */
        out[tid] = __floats2bfloat162_rn(0.f, 0.f);
        if (tid == 0) lse[t * H + h] = NEG_INF;
        return;
    }
    /* every chunk wrote its partial (zeros when it had no valid index) */
    float ox = 0.f, oy = 0.f;
    const float2 *src = reinterpret_cast<const float2 *>(part_o + (t * NSPLIT * H + h) * DC) + tid;
#pragma unroll 8
    for (int i = 0; i < NSPLIT; ++i) {
        const float2 o = src[(long long)i * H * DC / 2];
        ox = fmaf(o.x, fac[i], ox);
        oy = fmaf(o.y, fac[i], oy);
    }
    out[tid] = __floats2bfloat162_rn(ox / l, oy / l);
    if (tid == 0) lse[t * H + h] = (m + logf(l)) / LN2F;
}
