/* dsa_attn.cu: example solution for
 * dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64 (nvrtc lane, sm_80+).
 *
 * Flash-decoding over the 2048 sparse indices of a token: 32 chunks of 64,
 * one 256-thread block per (token, chunk), two blocks per SM.
 *   1. cp.async gathers the chunk's 64 rows (1024 B ckv + 128 B kpe each,
 *      zero-filled for -1 / out-of-range entries) and the token's 16x576 query
 *      into padded shared memory (row stride 1168 B: ldmatrix is conflict-free).
 *   2. S[16 heads x 64 rows] = Q . K^T with bf16 mma.sync m16n8k16 (fp32
 *      accumulation), one 8-row n-tile per warp.
 *   3. Chunk softmax in the exp2 domain (logits * sm_scale * log2 e), P rounded
 *      to bf16 into shared memory; row sums in fp32 (for the lse) and of the
 *      rounded P (to normalise the chunk output consistently).
 *   4. O[16 x 512] = P . ckv with mma.sync (ldmatrix.trans for ckv), 64
 *      columns per warp; O / l stored as bf16, (max, l) as fp32.
 * dsa_attn_combine then merges the 32 chunks per (token, head, 4 groups of 8) with weights
 * l_i * 2^(m_i - M) and writes output and lse = M + log2(L); a token with no
 * valid index gets zero output and lse -inf.
 * Stateless: every launch writes all it later reads (chunks with no valid
 * index write l = 0 and are skipped by the combine).
 */
#include <cuda_bf16.h>

#define H 16
#define DC 512
#define DP 64
#define DQK 576
#define TOPK 2048
#define CH 64
#define NS (TOPK / CH)   /* 32 */
#define RSTR 584         /* bf16 per shared row: 1168 B = 73 x 16 B */
#define PSTR 72          /* bf16 per P row: 144 B = 9 x 16 B */
#define LOG2E 1.4426950408889634f
#define NEG_INF __int_as_float(0xff800000)

#define SMEM_Q 0
#define SMEM_K (SMEM_Q + H * RSTR * 2)          /* 18688 */
#define SMEM_P (SMEM_K + CH * RSTR * 2)         /* 93440 */
#define SMEM_RM (SMEM_P + H * PSTR * 2)         /* 95744 */
#define SMEM_RS (SMEM_RM + 8 * H * 4)           /* 96256 */
#define SMEM_RR (SMEM_RS + 8 * H * 4)           /* 96768 */
#define SMEM_IDX (SMEM_RR + 8 * H * 4)          /* 97280 */
#define SMEM_TOTAL (SMEM_IDX + CH * 4)          /* 97536 */

static __device__ __forceinline__ unsigned smem_u32(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void cp_async16(unsigned dst, const void *src, int src_bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}

static __device__ __forceinline__ void ldsm_x4(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2,
                                               unsigned &r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

static __device__ __forceinline__ void ldsm_x4_t(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2,
                                                 unsigned &r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

static __device__ __forceinline__ void mma_bf16(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                                unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ unsigned pack_bf2(__nv_bfloat162 v)
{
    return *reinterpret_cast<unsigned *>(&v);
}

extern "C" __global__ void __launch_bounds__(256, 2)
dsa_attn_split(const __nv_bfloat16 *__restrict__ q_nope, const __nv_bfloat16 *__restrict__ q_pe,
               const __nv_bfloat16 *__restrict__ ckv_cache, const __nv_bfloat16 *__restrict__ kpe_cache,
               const int *__restrict__ sparse_indices, float sm_scale, long long num_pages,
               __nv_bfloat16 *__restrict__ part_o, float2 *__restrict__ part_ml)
{
    extern __shared__ __align__(128) unsigned char smem[];
    __nv_bfloat16 *qs = reinterpret_cast<__nv_bfloat16 *>(smem + SMEM_Q);
    __nv_bfloat16 *ks = reinterpret_cast<__nv_bfloat16 *>(smem + SMEM_K);
    __nv_bfloat16 *ps = reinterpret_cast<__nv_bfloat16 *>(smem + SMEM_P);
    float *redm = reinterpret_cast<float *>(smem + SMEM_RM);
    float *reds = reinterpret_cast<float *>(smem + SMEM_RS);
    float *redr = reinterpret_cast<float *>(smem + SMEM_RR);
    int *sidx = reinterpret_cast<int *>(smem + SMEM_IDX);

    const long long t = blockIdx.x;
    const int s = blockIdx.y;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, c = lane & 3;
    const long long total = num_pages * 64;

    int myvalid = 0;
    if (tid < CH) {
        int idx = sparse_indices[t * TOPK + s * CH + tid];
        myvalid = idx >= 0 && (long long)idx < total;
        sidx[tid] = myvalid ? idx : -1;
    }
    if (!__syncthreads_or(myvalid)) {   /* nothing valid in this chunk */
        if (tid < H) part_ml[(t * NS + s) * H + tid] = make_float2(NEG_INF, 0.f);
        return;
    }

    /* 1. gathers */
    for (int i = tid; i < H * 72; i += 256) {
        int h = i / 72, cc = i % 72;
        const __nv_bfloat16 *src = cc < 64 ? q_nope + (t * H + h) * DC + cc * 8
                                           : q_pe + (t * H + h) * DP + (cc - 64) * 8;
        cp_async16(smem_u32(qs + h * RSTR + cc * 8), src, 16);
    }
#pragma unroll 6
    for (int i = tid; i < CH * 72; i += 256) {
        int r = i / 72, cc = i % 72;
        int idx = sidx[r];
        const __nv_bfloat16 *src = ckv_cache;
        if (idx >= 0)
            src = cc < 64 ? ckv_cache + (long long)idx * DC + cc * 8
                          : kpe_cache + (long long)idx * DP + (cc - 64) * 8;
        cp_async16(smem_u32(ks + r * RSTR + cc * 8), src, idx >= 0 ? 16 : 0);
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
    __syncthreads();

    /* 2. S = Q K^T: warp -> kv rows warp*8 .. +7 */
    float sacc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    {
        const unsigned qa = smem_u32(qs + ((lane & 7) + ((lane >> 3) & 1) * 8) * RSTR + (lane >> 4) * 8);
        const unsigned kb = smem_u32(ks + (warp * 8 + (lane & 7)) * RSTR + (lane >> 3) * 8);
#pragma unroll 6
        for (int k2 = 0; k2 < DQK / 32; ++k2) {
            unsigned a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3;
            ldsm_x4(qa + k2 * 64, a0, a1, a2, a3);
            ldsm_x4(qa + k2 * 64 + 32, a4, a5, a6, a7);
            ldsm_x4(kb + k2 * 64, b0, b1, b2, b3);
            mma_bf16(sacc[0], a0, a1, a2, a3, b0, b1);
            mma_bf16(sacc[1], a4, a5, a6, a7, b2, b3);
        }
    }

    /* 3. chunk softmax (exp2 domain) */
    const int n0 = warp * 8 + 2 * c;
    const bool v0 = sidx[n0] >= 0, v1 = sidx[n0 + 1] >= 0;
    const float sc = sm_scale * LOG2E;
    float x0 = v0 ? (sacc[0][0] + sacc[1][0]) * sc : NEG_INF;   /* head g,   row n0   */
    float x1 = v1 ? (sacc[0][1] + sacc[1][1]) * sc : NEG_INF;   /* head g,   row n0+1 */
    float x2 = v0 ? (sacc[0][2] + sacc[1][2]) * sc : NEG_INF;   /* head g+8, row n0   */
    float x3 = v1 ? (sacc[0][3] + sacc[1][3]) * sc : NEG_INF;   /* head g+8, row n0+1 */
    float mA = fmaxf(x0, x1), mB = fmaxf(x2, x3);
    mA = fmaxf(mA, __shfl_xor_sync(0xffffffffu, mA, 1));
    mB = fmaxf(mB, __shfl_xor_sync(0xffffffffu, mB, 1));
    mA = fmaxf(mA, __shfl_xor_sync(0xffffffffu, mA, 2));
    mB = fmaxf(mB, __shfl_xor_sync(0xffffffffu, mB, 2));
    if (c == 0) {
        redm[warp * H + g] = mA;
        redm[warp * H + g + 8] = mB;
    }
    __syncthreads();
    float MA = redm[g], MB = redm[g + 8];
#pragma unroll
    for (int w = 1; w < 8; ++w) {
        MA = fmaxf(MA, redm[w * H + g]);
        MB = fmaxf(MB, redm[w * H + g + 8]);
    }
    /* the block has a valid row, so MA and MB are finite */
    /* fp32 row sums (l, for the lse) and sums of the bf16-rounded p that
     * the mma uses (lr, to normalise this chunk's output) */
    const float e0 = exp2f(x0 - MA), e1 = exp2f(x1 - MA), e2 = exp2f(x2 - MB), e3 = exp2f(x3 - MB);
    __nv_bfloat162 pA = __floats2bfloat162_rn(e0, e1);
    __nv_bfloat162 pB = __floats2bfloat162_rn(e2, e3);
    *reinterpret_cast<__nv_bfloat162 *>(ps + g * PSTR + n0) = pA;
    *reinterpret_cast<__nv_bfloat162 *>(ps + (g + 8) * PSTR + n0) = pB;
    float2 fA = __bfloat1622float2(pA), fB = __bfloat1622float2(pB);
    float lA = e0 + e1, lB = e2 + e3, rA = fA.x + fA.y, rB = fB.x + fB.y;
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
        lA += __shfl_xor_sync(0xffffffffu, lA, o);
        lB += __shfl_xor_sync(0xffffffffu, lB, o);
        rA += __shfl_xor_sync(0xffffffffu, rA, o);
        rB += __shfl_xor_sync(0xffffffffu, rB, o);
    }
    if (c == 0) {
        reds[warp * H + g] = lA;
        reds[warp * H + g + 8] = lB;
        redr[warp * H + g] = rA;
        redr[warp * H + g + 8] = rB;
    }
    __syncthreads();
    float LA = 0.f, LB = 0.f, RA = 0.f, RB = 0.f;
#pragma unroll
    for (int w = 0; w < 8; ++w) {
        LA += reds[w * H + g];
        LB += reds[w * H + g + 8];
        RA += redr[w * H + g];
        RB += redr[w * H + g + 8];
    }

    /* 4. O = P . ckv: warp -> columns warp*64 .. +63 */
    float oacc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) oacc[i][0] = oacc[i][1] = oacc[i][2] = oacc[i][3] = 0.f;
    {
        const unsigned pa = smem_u32(ps + ((lane & 7) + ((lane >> 3) & 1) * 8) * PSTR + (lane >> 4) * 8);
        const unsigned vb = smem_u32(ks + ((lane & 7) + ((lane >> 3) & 1) * 8) * RSTR + warp * 64 +
                                     (lane >> 4) * 8);
#pragma unroll
        for (int kk = 0; kk < CH / 16; ++kk) {
            unsigned a0, a1, a2, a3;
            ldsm_x4(pa + kk * 32, a0, a1, a2, a3);
#pragma unroll
            for (int np = 0; np < 4; ++np) {
                unsigned b0, b1, b2, b3;
                ldsm_x4_t(vb + (kk * 16 * RSTR + np * 16) * 2, b0, b1, b2, b3);
                mma_bf16(oacc[2 * np], a0, a1, a2, a3, b0, b1);
                mma_bf16(oacc[2 * np + 1], a0, a1, a2, a3, b2, b3);
            }
        }
    }
    const float iA = 1.f / RA, iB = 1.f / RB;
    __nv_bfloat16 *oA = part_o + ((t * NS + s) * H + g) * DC + warp * 64 + 2 * c;
    __nv_bfloat16 *oB = oA + 8 * DC;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
        *reinterpret_cast<unsigned *>(oA + nt * 8) =
            pack_bf2(__floats2bfloat162_rn(oacc[nt][0] * iA, oacc[nt][1] * iA));
        *reinterpret_cast<unsigned *>(oB + nt * 8) =
            pack_bf2(__floats2bfloat162_rn(oacc[nt][2] * iB, oacc[nt][3] * iB));
    }
    if (warp == 0 && c == 0) {
        part_ml[(t * NS + s) * H + g] = make_float2(MA, LA);
        part_ml[(t * NS + s) * H + g + 8] = make_float2(MB, LB);
    }
}

/* grid (num_tokens, 16), block 256: 4 groups of 64 threads, group q merges
 * chunks 8q..8q+7 for 8 columns per thread (8 independent 16-byte loads in
 * flight), then the groups are summed through shared memory. */
extern "C" __global__ void __launch_bounds__(256)
dsa_attn_combine(const __nv_bfloat16 *__restrict__ part_o, const float2 *__restrict__ part_ml,
                 __nv_bfloat16 *__restrict__ output, float *__restrict__ lse)
{
    const long long t = blockIdx.x;
    const int h = blockIdx.y, tid = threadIdx.x;
    const int grp = tid >> 6, col = tid & 63;
    __shared__ float wts[NS];
    __shared__ float sM, sL;
    __shared__ float4 part[3][64][2];

    if (tid < 32) {   /* NS == 32: one lane per chunk */
        float2 ml = part_ml[(t * NS + tid) * H + h];
        float m = ml.y > 0.f ? ml.x : NEG_INF;
        float M = m;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
        float wgt = (M == NEG_INF || ml.y <= 0.f) ? 0.f : ml.y * exp2f(m - M);
        float L = wgt;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
        wts[tid] = L > 0.f ? wgt / L : 0.f;
        if (tid == 0) {
            sM = M;
            sL = L;
        }
    }
    __syncthreads();
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const uint4 *src = reinterpret_cast<const uint4 *>(part_o + (t * NS * H + h) * DC) + col;
    uint4 v[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {   /* zero-weight chunks may hold stale bytes: never read */
        const int i = grp * 8 + k;
        v[k] = wts[i] != 0.f ? src[(long long)i * H * DC / 8] : make_uint4(0u, 0u, 0u, 0u);
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const float w = wts[grp * 8 + k];
        if (w == 0.f) continue;
        const __nv_bfloat162 *b = reinterpret_cast<const __nv_bfloat162 *>(&v[k]);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float2 f = __bfloat1622float2(b[j]);
            acc[2 * j] = fmaf(w, f.x, acc[2 * j]);
            acc[2 * j + 1] = fmaf(w, f.y, acc[2 * j + 1]);
        }
    }
    if (grp > 0) {
        part[grp - 1][col][0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
        part[grp - 1][col][1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    }
    __syncthreads();
    if (grp > 0) return;
#pragma unroll
    for (int q = 0; q < 3; ++q) {
        float4 a = part[q][col][0], b = part[q][col][1];
        acc[0] += a.x; acc[1] += a.y; acc[2] += a.z; acc[3] += a.w;
        acc[4] += b.x; acc[5] += b.y; acc[6] += b.z; acc[7] += b.w;
    }
    uint4 r;
    unsigned *rp = reinterpret_cast<unsigned *>(&r);
#pragma unroll
    for (int j = 0; j < 4; ++j) rp[j] = pack_bf2(__floats2bfloat162_rn(acc[2 * j], acc[2 * j + 1]));
    reinterpret_cast<uint4 *>(output + (t * H + h) * DC)[col] = r;
    if (tid == 0) lse[t * H + h] = sM == NEG_INF ? NEG_INF : sM + log2f(sL);
}
