/* moe_ref.cu: kernelfarm's trusted reference for
 * moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048 (nvrtc lane).
 *
 * Five launches on one stream:
 *   moe_route      one warp per token: sigmoid scores, DeepSeek no-aux group
 *                  selection (top-2 sum per group of 32, top-4 of 8 groups),
 *                  top-8 experts by biased score, weights from the unbiased
 *                  sigmoid normalised and scaled.
 *   moe_lists      one block: per local expert, the ordered list of
 *                  (token, weight) pairs; pairs are laid out expert-major.
 *   moe_ref_gemm1  persistent grouped GEMM over (expert, 128-pair tile,
 *                  64-column tile): hidden x W13^T with the up rows [c, c+64)
 *                  and the gate rows [I+c, I+c+64) of W13 in one tile, then
 *                  silu(gate) * up into an fp32 intermediate.
 *   moe_ref_gemm2  persistent grouped GEMM intermediate x W2^T, weighted by
 *                  the routing weight, accumulated into an fp32 [T, H]
 *                  workspace (zeroed by the plan) with atomics.
 *   moe_finalize   fp32 -> bf16.
 * The GEMMs the plan launches are moe_ref_gemm1_rg / moe_ref_gemm2_rg (sm_90a
 * wgmma fed by cp.async rings; the mma.sync bodies above off sm_90a); the
 * register-staged moe_ref_gemm{1,2}_wg are kept for comparison.
 *
 * Numerics (why this is faithful): e4m3 values are exact in fp16 and bf16,
 * so the tensor-core products are exact; each 128-wide K block is summed in
 * fp32 by the tensor cores and only then multiplied by its two block scales
 * and added into separate fp32 accumulators (the same value as dequantising
 * first, up to fp32 rounding). The fp32 intermediate of GEMM2 is split into
 * bf16 hi + lo (about 16 significant bits of the residual), so GEMM2 also
 * keeps fp32-level accuracy. Only the final sum over a token's experts is
 * order-dependent (fp32 atomics), which moves results by fp32 rounding only.
 *
 * Every weight tile of an active expert is read from memory once per
 * 128-pair tile of that expert (tiles of one expert run side by side, so the
 * re-reads hit L2). Thread-safety: stateless kernels; one call per stream.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#define MOE_NEG_INF (-__int_as_float(0x7f800000))
#define MOE_E_GLOBAL 256
#define MOE_E_LOCAL 32
#define MOE_TOPK 8
#define MOE_H 7168
#define MOE_I 2048
#define MOE_HB 56 /* hidden blocks of 128 */
#define MOE_IB 16 /* intermediate blocks of 128 */

/* ---- routing ------------------------------------------------------------ */

extern "C" __global__ void __launch_bounds__(256)
moe_route(const float *__restrict__ logits, const __nv_bfloat16 *__restrict__ bias,
          float routed_scaling_factor, int *__restrict__ topk_idx, float *__restrict__ topk_w,
          long long T)
{
    const int lane = threadIdx.x & 31;
    const long long t = (long long)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (t >= T)
        return;
    const float4 *row = reinterpret_cast<const float4 *>(logits + t * MOE_E_GLOBAL + lane * 8);
    float4 x0 = row[0], x1 = row[1];
    float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
    float s[8], sb[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        s[i] = 1.0f / (1.0f + expf(-x[i]));
        sb[i] = s[i] + __bfloat162float(bias[lane * 8 + i]);
    }
    /* top-2 (as a multiset) of the group's 32 biased scores: 8 per lane, 4 lanes a group */
    float t1 = MOE_NEG_INF, t2 = MOE_NEG_INF;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        if (sb[i] > t1) {
            t2 = t1;
            t1 = sb[i];
        } else if (sb[i] > t2) {
            t2 = sb[i];
        }
    }
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
        float o1 = __shfl_xor_sync(0xffffffffu, t1, off);
        float o2 = __shfl_xor_sync(0xffffffffu, t2, off);
        float n2 = (t1 >= o1) ? fmaxf(t2, o1) : fmaxf(t1, o2);
        t1 = fmaxf(t1, o1);
        t2 = n2;
    }
    const float gs = t1 + t2;
    const int g = lane >> 2;
    int rank = 0;
#pragma unroll
    for (int h = 0; h < 8; ++h) {
        float gh = __shfl_sync(0xffffffffu, gs, h * 4);
        rank += (gh > gs || (gh == gs && h < g)) ? 1 : 0;
    }
    const bool gsel = rank < 4;

    unsigned taken = 0;
    int sel_e[MOE_TOPK];
    float sel_s[MOE_TOPK];
    float ssum = 0.0f;
#pragma unroll
    for (int k = 0; k < MOE_TOPK; ++k) {
        float bv = MOE_NEG_INF;
        int bi = -1;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            if (gsel && !((taken >> i) & 1u) && sb[i] > bv) {
                bv = sb[i];
                bi = i;
            }
        }
        float v = bv;
        int ix = bi >= 0 ? lane * 8 + bi : 0x7fffffff;
#pragma unroll
        for (int off = 16; off >= 1; off >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, v, off);
            int oi = __shfl_xor_sync(0xffffffffu, ix, off);
            if (ov > v || (ov == v && oi < ix)) {
                v = ov;
                ix = oi;
            }
        }
        float mine = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i)
            if (i == (ix & 7))
                mine = s[i];
        if ((ix >> 3) == lane)
            taken |= 1u << (ix & 7);
        sel_e[k] = ix;
        sel_s[k] = __shfl_sync(0xffffffffu, mine, ix >> 3);
        ssum += sel_s[k];
    }
    const float denom = ssum + 1e-20f;
#pragma unroll
    for (int k = 0; k < MOE_TOPK; ++k) {
        if (lane == k) {
            topk_idx[t * MOE_TOPK + k] = sel_e[k];
            topk_w[t * MOE_TOPK + k] = (sel_s[k] / denom) * routed_scaling_factor;
        }
    }
}

/* ---- per-expert pair lists ------------------------------------------------
 * meta[0..31] pair counts per local expert, meta[32..64] exclusive offsets.
 * Pairs of one expert are in token order. */

static __device__ __forceinline__ unsigned moe_local_mask(const int *topk_idx, long long t,
                                                          int off)
{
    unsigned m = 0;
#pragma unroll
    for (int k = 0; k < MOE_TOPK; ++k) {
        int le = topk_idx[t * MOE_TOPK + k] - off;
        if (le >= 0 && le < MOE_E_LOCAL)
            m |= 1u << le;
    }
    return m;
}

extern "C" __global__ void __launch_bounds__(1024)
moe_lists(const int *__restrict__ topk_idx, const float *__restrict__ topk_w, int *__restrict__ meta,
          int *__restrict__ pair_token, float *__restrict__ pair_w, int local_expert_offset,
          long long T)
{
    __shared__ int s_cnt[32], s_off[33], s_base[32];
    __shared__ int s_wt[32][33];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    if (tid < 32) {
        s_cnt[tid] = 0;
        s_base[tid] = 0;
    }
    __syncthreads();
    for (long long t = tid; t < T; t += 1024) {
        unsigned m = moe_local_mask(topk_idx, t, local_expert_offset);
        while (m) {
            int e = __ffs(m) - 1;
            m &= m - 1;
            atomicAdd(&s_cnt[e], 1);
        }
    }
    __syncthreads();
    if (tid == 0) {
        int o = 0;
        for (int e = 0; e < 32; ++e) {
            s_off[e] = o;
            o += s_cnt[e];
        }
        s_off[32] = o;
    }
    __syncthreads();
    if (tid < 32)
        meta[tid] = s_cnt[tid];
    if (tid < 33)
        meta[32 + tid] = s_off[tid];
    for (long long c0 = 0; c0 < T; c0 += 1024) {
        const long long t = c0 + tid;
        const unsigned m = t < T ? moe_local_mask(topk_idx, t, local_expert_offset) : 0u;
        for (int e = 0; e < 32; ++e) {
            unsigned bal = __ballot_sync(0xffffffffu, (m >> e) & 1u);
            if (lane == 0)
                s_wt[e][warp] = __popc(bal);
        }
        __syncthreads();
        {
            const int e = warp; /* warp e scans expert e over the 32 warps */
            int v = s_wt[e][lane], inc = v;
#pragma unroll
            for (int d = 1; d < 32; d <<= 1) {
                int u = __shfl_up_sync(0xffffffffu, inc, d);
                if (lane >= d)
                    inc += u;
            }
            s_wt[e][lane] = s_base[e] + inc - v;
            __syncwarp();
            if (lane == 31)
                s_base[e] += inc;
        }
        __syncthreads();
        for (int e = 0; e < 32; ++e) {
            unsigned bal = __ballot_sync(0xffffffffu, (m >> e) & 1u);
            if ((m >> e) & 1u) {
                int pos = s_off[e] + s_wt[e][warp] + __popc(bal & ((1u << lane) - 1u));
                float w = 0.0f;
                for (int k = 0; k < MOE_TOPK; ++k)
                    if (topk_idx[t * MOE_TOPK + k] == e + local_expert_offset)
                        w = topk_w[t * MOE_TOPK + k];
                pair_token[pos] = (int)t;
                pair_w[pos] = w;
            }
        }
        __syncthreads();
    }
}

/* ---- tensor-core helpers -------------------------------------------------- */

static __device__ __forceinline__ void ldsm_x4(unsigned int (&r)[4], const void *p)
{
    unsigned int a = (unsigned int)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

static __device__ __forceinline__ void mma_f16(float (&d)[4], const unsigned int (&a)[4], unsigned int b0,
                                               unsigned int b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ void mma_bf16(float (&d)[4], const unsigned int (&a)[4], unsigned int b0,
                                                unsigned int b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* two e4m3 (low byte first) -> f16x2, exact */
static __device__ __forceinline__ unsigned int e4m3x2_to_h2(unsigned int v)
{
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(v & 0xffffu), __NV_E4M3);
    return (unsigned int)h.x | ((unsigned int)h.y << 16);
}

/* two e4m3 -> bf16x2, exact (through f16 and f32, all exact for e4m3 values) */
static __device__ __forceinline__ unsigned int e4m3x2_to_bf2(unsigned int v)
{
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(v & 0xffffu), __NV_E4M3);
    __half2 hh = *reinterpret_cast<__half2 *>(&h);
    float2 f = __half22float2(hh);
    __nv_bfloat162 b = __floats2bfloat162_rn(f.x, f.y);
    return *reinterpret_cast<unsigned int *>(&b);
}

/* 16 e4m3 bytes -> 16 halves / bf16 (8 words) */
static __device__ __forceinline__ void cvt16_h(const uint4 &in, unsigned int (&o)[8])
{
    const unsigned int w[4] = {in.x, in.y, in.z, in.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        o[2 * i] = e4m3x2_to_h2(w[i]);
        o[2 * i + 1] = e4m3x2_to_h2(w[i] >> 16);
    }
}

static __device__ __forceinline__ void cvt16_bf(const uint4 &in, unsigned int (&o)[8])
{
    const unsigned int w[4] = {in.x, in.y, in.z, in.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        o[2 * i] = e4m3x2_to_bf2(w[i]);
        o[2 * i + 1] = e4m3x2_to_bf2(w[i] >> 16);
    }
}

/* Tile schedule shared by both GEMMs: tiles of expert e are numbered
 * consecutively, pair-tile major, column-tile minor, so a wave of blocks
 * covers whole experts (weights re-read through L2, not HBM). */
struct moe_sched {
    int tstart[33];
    int cnt[32];
    int off[32];
};

static __device__ __forceinline__ void moe_sched_init(moe_sched &s, const int *meta, int bm, int nt)
{
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        int c = meta[lane];
        s.cnt[lane] = c;
        s.off[lane] = meta[32 + lane];
        int v = ((c + bm - 1) / bm) * nt, inc = v;
        for (int d = 1; d < 32; d <<= 1) {
            int u = __shfl_up_sync(0xffffffffu, inc, d);
            if (lane >= d)
                inc += u;
        }
        s.tstart[lane + 1] = inc;
        if (lane == 0)
            s.tstart[0] = 0;
    }
    __syncthreads();
}

static __device__ __forceinline__ int moe_sched_expert(const moe_sched &s, int tile)
{
    int e = 0;
#pragma unroll 1
    for (int i = 1; i < 32; ++i)
        if (s.tstart[i] <= tile)
            e = i;
    return e;
}

/* ---- GEMM1 + SwiGLU ---------------------------------------------------------
 * Tile: 128 pairs x 64 intermediate columns (128 W13 rows: 64 up, 64 gate),
 * K step 32, two smem buffers, global loads staged in registers (fp8 -> f16
 * conversion on the way to shared memory). 8 warps: 4 along pairs (32 rows
 * each) x 2 along columns (32 up + the matching 32 gate columns each). */

#define G1_BM 128
#define G1_BC 64
#define G1_BK 32
#define G1_LD 40 /* halves per smem row: 80 B, ldmatrix conflict-free */
#define G1_NT (MOE_I / G1_BC)
#define G1_KT (MOE_H / G1_BK)

static __device__ __forceinline__ void
moe_ref_gemm1_body(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
              const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
              const int *__restrict__ meta, const int *__restrict__ pair_token,
              float *__restrict__ inter, long long T)
{
    __shared__ __align__(16) __half sA[2][G1_BM * G1_LD];
    __shared__ __align__(16) __half sB[2][2 * G1_BC * G1_LD];
    __shared__ moe_sched sch;
    __shared__ int s_tok[G1_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp & 3, wn = warp >> 2;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, G1_BM, G1_NT);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / G1_NT) * G1_BM;
        const int c0 = (local % G1_NT) * G1_BC;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads(); /* previous tile is done with s_tok */
        if (tid < G1_BM)
            s_tok[tid] = (m0 + tid < cnt) ? pair_token[poff + m0 + tid] : -1;
        __syncthreads();

        /* loader: thread -> (row tid/2, 16 bytes at (tid&1)*16) for A and B */
        const int lrow = tid >> 1, lcol = (tid & 1) * 16;
        const int atok = s_tok[lrow];
        const unsigned char *aptr = hs + (size_t)(atok >= 0 ? atok : 0) * MOE_H + lcol;
        const int wrow = lrow < G1_BC ? c0 + lrow : MOE_I + c0 + (lrow - G1_BC);
        const unsigned char *bptr = w13 + ((size_t)e * (2 * MOE_I) + wrow) * MOE_H + lcol;
        uint4 ra, rb;
        const uint4 zero4 = make_uint4(0, 0, 0, 0);

        float acc[2][8][4], blk[2][8][4];
#pragma unroll
        for (int a = 0; a < 2; ++a)
#pragma unroll
            for (int b = 0; b < 8; ++b)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    acc[a][b][r] = 0.0f;
                    blk[a][b][r] = 0.0f;
                }

        auto gload = [&](int kt) {
            ra = atok >= 0 ? *reinterpret_cast<const uint4 *>(aptr + kt * G1_BK) : zero4;
            rb = *reinterpret_cast<const uint4 *>(bptr + kt * G1_BK);
        };
        auto sstore = [&](int buf) {
            unsigned int o[8];
            cvt16_h(ra, o);
            uint4 *da = reinterpret_cast<uint4 *>(&sA[buf][lrow * G1_LD + lcol]);
            da[0] = make_uint4(o[0], o[1], o[2], o[3]);
            da[1] = make_uint4(o[4], o[5], o[6], o[7]);
            cvt16_h(rb, o);
            uint4 *db = reinterpret_cast<uint4 *>(&sB[buf][lrow * G1_LD + lcol]);
            db[0] = make_uint4(o[0], o[1], o[2], o[3]);
            db[1] = make_uint4(o[4], o[5], o[6], o[7]);
        };

        gload(0);
        sstore(0);
        __syncthreads();
        float sa[2][2], swu = 0.0f, swg = 0.0f;
        for (int kt = 0; kt < G1_KT; ++kt) {
            const int buf = kt & 1;
            if (kt + 1 < G1_KT)
                gload(kt + 1);
            if ((kt & 3) == 0) { /* scales of this 128-wide K block */
                const int kb = kt >> 2;
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        int tk = s_tok[wm * 32 + mt * 16 + h * 8 + g];
                        sa[mt][h] = tk >= 0 ? hs_scale[(size_t)kb * T + tk] : 0.0f;
                    }
                swu = w13_scale[((size_t)e * 32 + (c0 >> 7)) * MOE_HB + kb];
                swg = w13_scale[((size_t)e * 32 + 16 + (c0 >> 7)) * MOE_HB + kb];
            }
#pragma unroll
            for (int ks = 0; ks < 2; ++ks) {
                unsigned int af[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
                    ldsm_x4(af[mt], &sA[buf][(wm * 32 + mt * 16 + (lane & 15)) * G1_LD + ks * 16 +
                                             (lane >> 4) * 8]);
#pragma unroll
                for (int jp = 0; jp < 4; ++jp) {
                    const int brow = (jp < 2 ? wn * 32 + jp * 16 : G1_BC + wn * 32 + (jp - 2) * 16) +
                                     (lane & 7) + ((lane >> 4) << 3);
                    unsigned int bf[4];
                    ldsm_x4(bf, &sB[buf][brow * G1_LD + ks * 16 + ((lane >> 3) & 1) * 8]);
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt) {
                        mma_f16(blk[mt][2 * jp], af[mt], bf[0], bf[1]);
                        mma_f16(blk[mt][2 * jp + 1], af[mt], bf[2], bf[3]);
                    }
                }
            }
            if ((kt & 3) == 3) { /* promote the K block into fp32 with its scales */
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int j = 0; j < 8; ++j)
#pragma unroll
                        for (int r = 0; r < 4; ++r) {
                            const float sc = sa[mt][r >> 1] * (j < 4 ? swu : swg);
                            acc[mt][j][r] = fmaf(blk[mt][j][r], sc, acc[mt][j][r]);
                            blk[mt][j][r] = 0.0f;
                        }
            }
            if (kt + 1 < G1_KT)
                sstore(buf ^ 1);
            __syncthreads();
        }

        /* epilogue: silu(gate) * up, gate = second half of GEMM1's output */
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = wm * 32 + mt * 16 + h * 8 + g;
                if (m0 + row >= cnt)
                    continue;
                float *dst = inter + (size_t)(poff + m0 + row) * MOE_I + c0 + wn * 32 + 2 * c4;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const float u0 = acc[mt][j][2 * h], u1 = acc[mt][j][2 * h + 1];
                    const float x0 = acc[mt][j + 4][2 * h], x1 = acc[mt][j + 4][2 * h + 1];
                    float2 v;
                    v.x = (x0 / (1.0f + expf(-x0))) * u0;
                    v.y = (x1 / (1.0f + expf(-x1))) * u1;
                    *reinterpret_cast<float2 *>(dst + j * 8) = v;
                }
            }
    }
}

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm1(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
              const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
              const int *__restrict__ meta, const int *__restrict__ pair_token,
              float *__restrict__ inter, long long T)
{
    moe_ref_gemm1_body(hs, hs_scale, w13, w13_scale, meta, pair_token, inter, T);
}

/* ---- GEMM2 -------------------------------------------------------------------
 * Tile: 128 pairs x 128 hidden columns, K step 32, two smem buffers; the fp32
 * intermediate is split into bf16 hi + lo on the way to shared memory, W2 is
 * converted e4m3 -> bf16 (exact). Both halves go through the tensor cores into
 * the same per-block fp32 accumulator. */

#define G2_BM 128
#define G2_BN 128
#define G2_BK 32
#define G2_LD 40
#define G2_NT (MOE_H / G2_BN)
#define G2_KT (MOE_I / G2_BK)
#define G2_SMEM (2 * 3 * G2_BM * G2_LD * 2)

static __device__ __forceinline__ void
moe_ref_gemm2_body(const float *__restrict__ inter, const unsigned char *__restrict__ w2,
              const float *__restrict__ w2_scale, const int *__restrict__ meta,
              const int *__restrict__ pair_token, const float *__restrict__ pair_w,
              float *__restrict__ accum)
{
    extern __shared__ __align__(16) unsigned char g2_smem[];
    __nv_bfloat16 *sbase = reinterpret_cast<__nv_bfloat16 *>(g2_smem);
    /* buffer b: hi at (3b+0), lo at (3b+1), W2 at (3b+2), each G2_BM*G2_LD */
    __shared__ moe_sched sch;
    __shared__ int s_tok[G2_BM];
    __shared__ float s_w[G2_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp & 3, wn = warp >> 2;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, G2_BM, G2_NT);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / G2_NT) * G2_BM;
        const int n0 = (local % G2_NT) * G2_BN;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < G2_BM) {
            const bool ok = m0 + tid < cnt;
            s_tok[tid] = ok ? pair_token[poff + m0 + tid] : -1;
            s_w[tid] = ok ? pair_w[poff + m0 + tid] : 0.0f;
        }
        __syncthreads();

        const int lrow = tid >> 1, lcol = (tid & 1) * 16;
        const bool arow_ok = m0 + lrow < cnt;
        const float *aptr = inter + (size_t)(poff + (arow_ok ? m0 + lrow : 0)) * MOE_I + lcol;
        const unsigned char *bptr = w2 + ((size_t)e * MOE_H + n0 + lrow) * MOE_I + lcol;
        float4 ra[4];
        uint4 rb;

        float acc[2][8][4], blk[2][8][4];
#pragma unroll
        for (int a = 0; a < 2; ++a)
#pragma unroll
            for (int b = 0; b < 8; ++b)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    acc[a][b][r] = 0.0f;
                    blk[a][b][r] = 0.0f;
                }

        auto gload = [&](int kt) {
#pragma unroll
            for (int i = 0; i < 4; ++i)
                ra[i] = arow_ok ? *reinterpret_cast<const float4 *>(aptr + kt * G2_BK + 4 * i)
                                : make_float4(0.f, 0.f, 0.f, 0.f);
            rb = *reinterpret_cast<const uint4 *>(bptr + kt * G2_BK);
        };
        auto sstore = [&](int buf) {
            unsigned int hi[8], lo[8];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float f[4] = {ra[i].x, ra[i].y, ra[i].z, ra[i].w};
#pragma unroll
                for (int q = 0; q < 2; ++q) {
                    __nv_bfloat162 h = __floats2bfloat162_rn(f[2 * q], f[2 * q + 1]);
                    float2 hf = __bfloat1622float2(h);
                    __nv_bfloat162 l = __floats2bfloat162_rn(f[2 * q] - hf.x, f[2 * q + 1] - hf.y);
                    hi[2 * i + q] = *reinterpret_cast<unsigned int *>(&h);
                    lo[2 * i + q] = *reinterpret_cast<unsigned int *>(&l);
                }
            }
            __nv_bfloat16 *bb = sbase + (size_t)(3 * buf) * G2_BM * G2_LD;
            uint4 *dh = reinterpret_cast<uint4 *>(bb + lrow * G2_LD + lcol);
            uint4 *dl = reinterpret_cast<uint4 *>(bb + G2_BM * G2_LD + lrow * G2_LD + lcol);
            dh[0] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
            dh[1] = make_uint4(hi[4], hi[5], hi[6], hi[7]);
            dl[0] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
            dl[1] = make_uint4(lo[4], lo[5], lo[6], lo[7]);
            unsigned int o[8];
            cvt16_bf(rb, o);
            uint4 *db = reinterpret_cast<uint4 *>(bb + 2 * G2_BM * G2_LD + lrow * G2_LD + lcol);
            db[0] = make_uint4(o[0], o[1], o[2], o[3]);
            db[1] = make_uint4(o[4], o[5], o[6], o[7]);
        };

        gload(0);
        sstore(0);
        __syncthreads();
        float sw = 0.0f;
        for (int kt = 0; kt < G2_KT; ++kt) {
            const int buf = kt & 1;
            const __nv_bfloat16 *bh = sbase + (size_t)(3 * buf) * G2_BM * G2_LD;
            const __nv_bfloat16 *bl = bh + G2_BM * G2_LD;
            const __nv_bfloat16 *bw = bh + 2 * G2_BM * G2_LD;
            if (kt + 1 < G2_KT)
                gload(kt + 1);
            if ((kt & 3) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 2)];
#pragma unroll
            for (int ks = 0; ks < 2; ++ks) {
                unsigned int ah[2][4], al[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    const int off = (wm * 32 + mt * 16 + (lane & 15)) * G2_LD + ks * 16 + (lane >> 4) * 8;
                    ldsm_x4(ah[mt], bh + off);
                    ldsm_x4(al[mt], bl + off);
                }
#pragma unroll
                for (int jp = 0; jp < 4; ++jp) {
                    const int brow = wn * 64 + jp * 16 + (lane & 7) + ((lane >> 4) << 3);
                    unsigned int bf[4];
                    ldsm_x4(bf, bw + brow * G2_LD + ks * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt) {
                        mma_bf16(blk[mt][2 * jp], ah[mt], bf[0], bf[1]);
                        mma_bf16(blk[mt][2 * jp + 1], ah[mt], bf[2], bf[3]);
                        mma_bf16(blk[mt][2 * jp], al[mt], bf[0], bf[1]);
                        mma_bf16(blk[mt][2 * jp + 1], al[mt], bf[2], bf[3]);
                    }
                }
            }
            if ((kt & 3) == 3) {
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int j = 0; j < 8; ++j)
#pragma unroll
                        for (int r = 0; r < 4; ++r) {
                            acc[mt][j][r] = fmaf(blk[mt][j][r], sw, acc[mt][j][r]);
                            blk[mt][j][r] = 0.0f;
                        }
            }
            if (kt + 1 < G2_KT)
                sstore(buf ^ 1);
            __syncthreads();
        }

        /* epilogue: weight by the routing weight, add into the token's row */
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = wm * 32 + mt * 16 + h * 8 + g;
                const int tk = s_tok[row];
                if (tk < 0)
                    continue;
                const float w = s_w[row];
                float *dst = accum + (size_t)tk * MOE_H + n0 + wn * 64 + 2 * c4;
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    atomicAdd(dst + j * 8, acc[mt][j][2 * h] * w);
                    atomicAdd(dst + j * 8 + 1, acc[mt][j][2 * h + 1] * w);
                }
            }
    }
}

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm2(const float *__restrict__ inter, const unsigned char *__restrict__ w2,
              const float *__restrict__ w2_scale, const int *__restrict__ meta,
              const int *__restrict__ pair_token, const float *__restrict__ pair_w,
              float *__restrict__ accum)
{
    moe_ref_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
/* ---- wgmma (sm_90a) helpers ------------------------------------------------
 * Both operands K-major in shared memory, 128-byte rows, 128B swizzle (16-byte
 * chunk c of row r at chunk c ^ (r & 7), tiles 1024-byte aligned), 8-row
 * groups 1024 bytes apart. Accumulator layout per warpgroup: d[4j + r] is row
 * 16 * warp + lane / 4 + 8 * (r / 2), column 8 j + 2 * (lane % 4) + r % 2. */

static __device__ __forceinline__ unsigned long long wg_desc(const void *smem)
{
    const unsigned int a = (unsigned int)__cvta_generic_to_shared(smem);
    return (unsigned long long)((a & 0x3FFFFu) >> 4) | (1ull << 16) | ((unsigned long long)(1024 >> 4) << 32) |
           (1ull << 62);
}

static __device__ __forceinline__ void wg_fence()
{
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

static __device__ __forceinline__ void wg_commit()
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

static __device__ __forceinline__ void wg_wait0()
{
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}

static __device__ __forceinline__ void wg_fence_regs(float (&d)[64])
{
#pragma unroll
    for (int i = 0; i < 64; ++i)
        asm volatile("" : "+f"(d[i])::"memory");
}

static __device__ __forceinline__ void fence_proxy_async()
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

static __device__ __forceinline__ void wg_mma_e4m3(float (&d)[64], unsigned long long da,
                                                 unsigned long long db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}

static __device__ __forceinline__ void wg_mma_f16(float (&d)[64], unsigned long long da,
                                                 unsigned long long db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}

static __device__ __forceinline__ void wg_mma_bf16(float (&d)[64], unsigned long long da,
                                                 unsigned long long db, int scale_d)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}
#endif /* __CUDA_ARCH_FEAT_SM90_ALL */

/* ---- wgmma variants of the two GEMMs (sm_90a) ------------------------------
 * Same tiles, schedule, numerics and epilogues as above; the MMAs are
 * warpgroup MMAs (two warpgroups, 64 pairs each, N = 128) reading K-major
 * 128B-swizzled shared-memory tiles; operands are converted exactly on their
 * way into shared memory (register-staged, two buffers), so the conversion of
 * stage k+1 overlaps the asynchronous MMAs of stage k. */

static __device__ __forceinline__ void st_chunk(unsigned char *tile, int row, int chunk, uint4 v)
{
    *reinterpret_cast<uint4 *>(tile + row * 128 + ((chunk ^ (row & 7)) << 4)) = v;
}

static __device__ __forceinline__ unsigned char *align1k(unsigned char *p)
{
    const unsigned int a = (unsigned int)__cvta_generic_to_shared(p);
    return p + ((1024u - (a & 1023u)) & 1023u);
}

#define W1_KT (MOE_H / 64)
#define W1_SMEM (2 * 2 * 16384 + 1024)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm1_wg(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
                 const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
                 const int *__restrict__ meta, const int *__restrict__ pair_token,
                 float *__restrict__ inter, long long T)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char w1_raw[];
    unsigned char *sm = align1k(w1_raw); /* buffer b: A at b*32K, B at b*32K + 16K */
    __shared__ moe_sched sch;
    __shared__ int s_tok[128];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, w4 = warp & 3;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, 128, MOE_I / 64);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / (MOE_I / 64)) * 128;
        const int c0 = (local % (MOE_I / 64)) * 64;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < 128)
            s_tok[tid] = (m0 + tid < cnt) ? pair_token[poff + m0 + tid] : -1;
        __syncthreads();

        const int lrow = tid >> 1, lhalf = tid & 1;
        const int atok = s_tok[lrow];
        const unsigned char *aptr = hs + (size_t)(atok >= 0 ? atok : 0) * MOE_H + lhalf * 32;
        const int wrow = lrow < 64 ? c0 + lrow : MOE_I + c0 + (lrow - 64);
        const unsigned char *bptr = w13 + ((size_t)e * (2 * MOE_I) + wrow) * MOE_H + lhalf * 32;
        uint4 ra[2], rb[2];
        const uint4 zero4 = make_uint4(0, 0, 0, 0);
        auto gload = [&](int kt) {
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                ra[i] = atok >= 0 ? *reinterpret_cast<const uint4 *>(aptr + kt * 64 + 16 * i) : zero4;
                rb[i] = *reinterpret_cast<const uint4 *>(bptr + kt * 64 + 16 * i);
            }
        };
        auto sstore = [&](int buf) {
            unsigned char *tA = sm + buf * 32768, *tB = tA + 16384;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                unsigned int o[8];
                cvt16_h(ra[i], o);
                st_chunk(tA, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(tA, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
                cvt16_h(rb[i], o);
                st_chunk(tB, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(tB, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
            }
        };

        float acc[64], blk[64];
#pragma unroll
        for (int i = 0; i < 64; ++i) {
            acc[i] = 0.0f;
            blk[i] = 0.0f;
        }
        gload(0);
        sstore(0);
        fence_proxy_async();
        __syncthreads();
        float sa[2] = {0.0f, 0.0f}, swu = 0.0f, swg = 0.0f;
        for (int kt = 0; kt < W1_KT; ++kt) {
            const int buf = kt & 1;
            if (kt + 1 < W1_KT)
                gload(kt + 1);
            if ((kt & 1) == 0) {
                const int kb = kt >> 1;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int tk = s_tok[wg * 64 + w4 * 16 + h * 8 + g];
                    sa[h] = tk >= 0 ? hs_scale[(size_t)kb * T + tk] : 0.0f;
                }
                swu = w13_scale[((size_t)e * 32 + (c0 >> 7)) * MOE_HB + kb];
                swg = w13_scale[((size_t)e * 32 + 16 + (c0 >> 7)) * MOE_HB + kb];
            }
            const unsigned char *tA = sm + buf * 32768 + wg * 8192, *tB = sm + buf * 32768 + 16384;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wg_mma_f16(blk, wg_desc(tA + kk * 32), wg_desc(tB + kk * 32), (kk > 0 || (kt & 1)) ? 1 : 0);
            wg_commit();
            if (kt + 1 < W1_KT)
                sstore(buf ^ 1);
            wg_wait0();
            wg_fence_regs(blk);
            if (kt & 1) {
#pragma unroll
                for (int i = 0; i < 64; ++i)
                    acc[i] = fmaf(blk[i], sa[(i & 3) >> 1] * ((i >> 5) ? swg : swu), acc[i]);
            }
            fence_proxy_async();
            __syncthreads();
        }

#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = wg * 64 + w4 * 16 + h * 8 + g;
            if (m0 + row >= cnt)
                continue;
            float *dst = inter + (size_t)(poff + m0 + row) * MOE_I + c0 + 2 * c4;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const float u0 = acc[4 * j + 2 * h], u1 = acc[4 * j + 2 * h + 1];
                const float x0 = acc[32 + 4 * j + 2 * h], x1 = acc[32 + 4 * j + 2 * h + 1];
                float2 v;
                v.x = (x0 / (1.0f + expf(-x0))) * u0;
                v.y = (x1 / (1.0f + expf(-x1))) * u1;
                *reinterpret_cast<float2 *>(dst + 8 * j) = v;
            }
        }
    }
#else
    /* no wgmma outside sm_90a: the mma.sync path */
    moe_ref_gemm1_body(hs, hs_scale, w13, w13_scale, meta, pair_token, inter, T);
#endif
}

#define W2_KT (MOE_I / 64)
#define W2_SMEM (2 * 3 * 16384 + 1024)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm2_wg(const float *__restrict__ inter, const unsigned char *__restrict__ w2,
                 const float *__restrict__ w2_scale, const int *__restrict__ meta,
                 const int *__restrict__ pair_token, const float *__restrict__ pair_w,
                 float *__restrict__ accum)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char w2_raw[];
    unsigned char *sm = align1k(w2_raw); /* buffer b: hi, lo, W2 tiles of 16K each */
    __shared__ moe_sched sch;
    __shared__ int s_tok[128];
    __shared__ float s_w[128];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, w4 = warp & 3;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, 128, MOE_H / 128);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / (MOE_H / 128)) * 128;
        const int n0 = (local % (MOE_H / 128)) * 128;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < 128) {
            const bool ok = m0 + tid < cnt;
            s_tok[tid] = ok ? pair_token[poff + m0 + tid] : -1;
            s_w[tid] = ok ? pair_w[poff + m0 + tid] : 0.0f;
        }
        __syncthreads();

        const int lrow = tid >> 1, lhalf = tid & 1;
        const bool arow_ok = m0 + lrow < cnt;
        const float *aptr = inter + (size_t)(poff + (arow_ok ? m0 + lrow : 0)) * MOE_I + lhalf * 32;
        const unsigned char *bptr = w2 + ((size_t)e * MOE_H + n0 + lrow) * MOE_I + lhalf * 32;
        float4 ra[8];
        uint4 rb[2];
        auto gload = [&](int kt) {
#pragma unroll
            for (int i = 0; i < 8; ++i)
                ra[i] = arow_ok ? *reinterpret_cast<const float4 *>(aptr + kt * 64 + 4 * i)
                                : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int i = 0; i < 2; ++i)
                rb[i] = *reinterpret_cast<const uint4 *>(bptr + kt * 64 + 16 * i);
        };
        auto sstore = [&](int buf) {
            unsigned char *tH = sm + buf * 49152, *tL = tH + 16384, *tB = tH + 32768;
#pragma unroll
            for (int q = 0; q < 4; ++q) { /* 8 floats -> one 16-byte chunk of hi and of lo */
                unsigned int hi[4], lo[4];
#pragma unroll
                for (int p = 0; p < 2; ++p) {
                    const float4 f = ra[2 * q + p];
                    const float fv[4] = {f.x, f.y, f.z, f.w};
#pragma unroll
                    for (int u = 0; u < 2; ++u) {
                        __nv_bfloat162 h = __floats2bfloat162_rn(fv[2 * u], fv[2 * u + 1]);
                        float2 hf = __bfloat1622float2(h);
                        __nv_bfloat162 l = __floats2bfloat162_rn(fv[2 * u] - hf.x, fv[2 * u + 1] - hf.y);
                        hi[2 * p + u] = *reinterpret_cast<unsigned int *>(&h);
                        lo[2 * p + u] = *reinterpret_cast<unsigned int *>(&l);
                    }
                }
                st_chunk(tH, lrow, lhalf * 4 + q, make_uint4(hi[0], hi[1], hi[2], hi[3]));
                st_chunk(tL, lrow, lhalf * 4 + q, make_uint4(lo[0], lo[1], lo[2], lo[3]));
            }
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                unsigned int o[8];
                cvt16_bf(rb[i], o);
                st_chunk(tB, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(tB, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
            }
        };

        float acc[64], blk[64];
#pragma unroll
        for (int i = 0; i < 64; ++i) {
            acc[i] = 0.0f;
            blk[i] = 0.0f;
        }
        gload(0);
        sstore(0);
        fence_proxy_async();
        __syncthreads();
        float sw = 0.0f;
        for (int kt = 0; kt < W2_KT; ++kt) {
            const int buf = kt & 1;
            if (kt + 1 < W2_KT)
                gload(kt + 1);
            if ((kt & 1) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 1)];
            const unsigned char *tH = sm + buf * 49152 + wg * 8192;
            const unsigned char *tL = tH + 16384;
            const unsigned char *tB = sm + buf * 49152 + 32768;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                wg_mma_bf16(blk, wg_desc(tH + kk * 32), wg_desc(tB + kk * 32), (kk > 0 || (kt & 1)) ? 1 : 0);
                wg_mma_bf16(blk, wg_desc(tL + kk * 32), wg_desc(tB + kk * 32), 1);
            }
            wg_commit();
            if (kt + 1 < W2_KT)
                sstore(buf ^ 1);
            wg_wait0();
            wg_fence_regs(blk);
            if (kt & 1) {
#pragma unroll
                for (int i = 0; i < 64; ++i)
                    acc[i] = fmaf(blk[i], sw, acc[i]);
            }
            fence_proxy_async();
            __syncthreads();
        }

#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = wg * 64 + w4 * 16 + h * 8 + g;
            const int tk = s_tok[row];
            if (tk < 0)
                continue;
            const float w = s_w[row];
            float *dst = accum + (size_t)tk * MOE_H + n0 + 2 * c4;
#pragma unroll
            for (int j = 0; j < 16; ++j) {
                atomicAdd(dst + 8 * j, acc[4 * j + 2 * h] * w);
                atomicAdd(dst + 8 * j + 1, acc[4 * j + 2 * h + 1] * w);
            }
        }
    }
#else
    /* no wgmma outside sm_90a: the mma.sync path */
    moe_ref_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
#endif
}

static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid)
{
    unsigned int s = (unsigned int)__cvta_generic_to_shared(smem);
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}

static __device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::);
}

template <int N> static __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* ---- ring versions of the reference GEMMs (sm_90a; the ones spec.json
 * launches; the _wg kernels above are kept for comparison) ------------------------
 * The _wg kernels above stage global loads in registers one stage ahead and
 * spend ~1 us per K stage waiting on memory. These keep 3-5 stages of raw
 * bytes in flight with cp.async, convert each stage smem -> smem into one
 * swizzled operand buffer, then run the same wgmma/promotion code. GEMM1_rg
 * writes the intermediate already split into bf16 hi and lo arrays
 * (hi = bf16(c), lo = bf16(c - hi): the same split GEMM2 made per tile), so
 * GEMM2_rg copies both straight into its ring. Off sm_90a both fall back to
 * the fp32-intermediate mma.sync pair, which is consistent with itself. */

#define RG1_S 6
#define RG1_RAW 16384                     /* A 128 x 64 B, B 128 x 64 B */
#define RG1_SMEM (RG1_S * RG1_RAW + 32768 + 1024)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm1_rg(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
                 const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
                 const int *__restrict__ meta, const int *__restrict__ pair_token,
                 float *__restrict__ inter, long long T)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char rg1_raw[];
    unsigned char *sm = align1k(rg1_raw);
    unsigned char *opA = sm + RG1_S * RG1_RAW, *opB = opA + 16384;
    __shared__ moe_sched sch;
    __shared__ int s_tok[128];
    __nv_bfloat16 *ihi = reinterpret_cast<__nv_bfloat16 *>(inter);
    __nv_bfloat16 *ilo = ihi + (size_t)T * 8 * MOE_I;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, w4 = warp & 3;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, 128, MOE_I / 64);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / (MOE_I / 64)) * 128;
        const int c0 = (local % (MOE_I / 64)) * 64;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < 128)
            s_tok[tid] = (m0 + tid < cnt) ? pair_token[poff + m0 + tid] : -1;
        __syncthreads();

        /* raw copies: 16-byte chunk ch of rows r0 + 64 i (i = 0, 1), A and B */
        const int r0 = tid >> 2, ch = tid & 3;
        auto issue = [&](int kt) {
            unsigned char *slot = sm + (kt % RG1_S) * RG1_RAW;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int r = r0 + 64 * i;
                const int tk = s_tok[r];
                cp_async16(slot + r * 64 + ch * 16,
                           hs + (size_t)(tk >= 0 ? tk : 0) * MOE_H + (size_t)kt * 64 + ch * 16, tk >= 0);
                const int wrow = r < 64 ? c0 + r : MOE_I + c0 + (r - 64);
                cp_async16(slot + 8192 + r * 64 + ch * 16,
                           w13 + ((size_t)e * (2 * MOE_I) + wrow) * MOE_H + (size_t)kt * 64 + ch * 16, true);
            }
        };
        /* conversion: thread -> 32 raw bytes (row lrow, half lhalf) of A and of B */
        const int lrow = tid >> 1, lhalf = tid & 1;
        auto convert = [&](int kt) {
            const unsigned char *slot = sm + (kt % RG1_S) * RG1_RAW;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                unsigned int o[8];
                const uint4 va = *reinterpret_cast<const uint4 *>(slot + lrow * 64 + lhalf * 32 + 16 * i);
                cvt16_h(va, o);
                st_chunk(opA, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(opA, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
                const uint4 vb = *reinterpret_cast<const uint4 *>(slot + 8192 + lrow * 64 + lhalf * 32 + 16 * i);
                cvt16_h(vb, o);
                st_chunk(opB, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(opB, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
            }
        };

        float acc[64], blk[64];
#pragma unroll
        for (int i = 0; i < 64; ++i) {
            acc[i] = 0.0f;
            blk[i] = 0.0f;
        }
#pragma unroll
        for (int s = 0; s < RG1_S - 1; ++s) {
            issue(s);
            cp_async_commit();
        }
        float sa[2] = {0.0f, 0.0f}, swu = 0.0f, swg = 0.0f;
        for (int kt = 0; kt < W1_KT; ++kt) {
            cp_async_wait<RG1_S - 2>();
            __syncthreads(); /* stage kt landed; iteration kt-1 (convert reads, MMAs) is over */
            if (kt + RG1_S - 1 < W1_KT)
                issue(kt + RG1_S - 1);
            cp_async_commit();
            convert(kt);
            fence_proxy_async();
            __syncthreads();
            if ((kt & 1) == 0) {
                const int kb = kt >> 1;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int tk = s_tok[wg * 64 + w4 * 16 + h * 8 + g];
                    sa[h] = tk >= 0 ? hs_scale[(size_t)kb * T + tk] : 0.0f;
                }
                swu = w13_scale[((size_t)e * 32 + (c0 >> 7)) * MOE_HB + kb];
                swg = w13_scale[((size_t)e * 32 + 16 + (c0 >> 7)) * MOE_HB + kb];
            }
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wg_mma_f16(blk, wg_desc(opA + wg * 8192 + kk * 32), wg_desc(opB + kk * 32),
                           (kk > 0 || (kt & 1)) ? 1 : 0);
            wg_commit();
            wg_wait0();
            wg_fence_regs(blk);
            if (kt & 1) {
#pragma unroll
                for (int i = 0; i < 64; ++i)
                    acc[i] = fmaf(blk[i], sa[(i & 3) >> 1] * ((i >> 5) ? swg : swu), acc[i]);
            }
        }
        cp_async_wait<0>();

#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = wg * 64 + w4 * 16 + h * 8 + g;
            if (m0 + row >= cnt)
                continue;
            const size_t base = (size_t)(poff + m0 + row) * MOE_I + c0 + 2 * c4;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const float u0 = acc[4 * j + 2 * h], u1 = acc[4 * j + 2 * h + 1];
                const float x0 = acc[32 + 4 * j + 2 * h], x1 = acc[32 + 4 * j + 2 * h + 1];
                const float v0 = (x0 / (1.0f + expf(-x0))) * u0;
                const float v1 = (x1 / (1.0f + expf(-x1))) * u1;
                const __nv_bfloat162 hi = __floats2bfloat162_rn(v0, v1);
                const float2 hf = __bfloat1622float2(hi);
                *reinterpret_cast<__nv_bfloat162 *>(ihi + base + 8 * j) = hi;
                *reinterpret_cast<__nv_bfloat162 *>(ilo + base + 8 * j) =
                    __floats2bfloat162_rn(v0 - hf.x, v1 - hf.y);
            }
        }
    }
#else
    moe_ref_gemm1_body(hs, hs_scale, w13, w13_scale, meta, pair_token, inter, T);
#endif
}

#define RG2_S 4
#define RG2_SLOT 40960                    /* A hi 16K, A lo 16K (swizzled), raw W2 8K */
#define RG2_SMEM (RG2_S * RG2_SLOT + 16384 + 1024)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ref_gemm2_rg(const float *__restrict__ inter, const unsigned char *__restrict__ w2,
                 const float *__restrict__ w2_scale, const int *__restrict__ meta,
                 const int *__restrict__ pair_token, const float *__restrict__ pair_w,
                 float *__restrict__ accum, long long T)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char rg2_raw[];
    unsigned char *sm = align1k(rg2_raw);
    unsigned char *opB = sm + RG2_S * RG2_SLOT;
    __shared__ moe_sched sch;
    __shared__ int s_tok[128];
    __shared__ float s_w[128];
    const __nv_bfloat16 *ihi = reinterpret_cast<const __nv_bfloat16 *>(inter);
    const __nv_bfloat16 *ilo = ihi + (size_t)T * 8 * MOE_I;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, w4 = warp & 3;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, 128, MOE_H / 128);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / (MOE_H / 128)) * 128;
        const int n0 = (local % (MOE_H / 128)) * 128;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < 128) {
            const bool ok = m0 + tid < cnt;
            s_tok[tid] = ok ? pair_token[poff + m0 + tid] : -1;
            s_w[tid] = ok ? pair_w[poff + m0 + tid] : 0.0f;
        }
        __syncthreads();

        /* A hi/lo: chunk ca of rows ra0 + 32 i straight into the swizzled tiles;
         * raw W2: chunk cb of rows rb0 + 64 i */
        const int ra0 = tid >> 3, ca = tid & 7, rb0 = tid >> 2, cb = tid & 3;
        const int adst0 = ra0 * 128 + ((ca ^ (ra0 & 7)) << 4);
        auto issue = [&](int kt) {
            unsigned char *slot = sm + (kt % RG2_S) * RG2_SLOT;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int r = ra0 + 32 * i;
                const bool ok = m0 + r < cnt;
                const size_t src = (size_t)(poff + (ok ? m0 + r : 0)) * MOE_I + (size_t)kt * 64 + ca * 8;
                cp_async16(slot + adst0 + i * 4096, ihi + src, ok);
                cp_async16(slot + 16384 + adst0 + i * 4096, ilo + src, ok);
            }
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int r = rb0 + 64 * i;
                cp_async16(slot + 32768 + r * 64 + cb * 16,
                           w2 + ((size_t)e * MOE_H + n0 + r) * MOE_I + (size_t)kt * 64 + cb * 16, true);
            }
        };
        const int lrow = tid >> 1, lhalf = tid & 1;
        auto convert = [&](int kt) {
            const unsigned char *raw = sm + (kt % RG2_S) * RG2_SLOT + 32768;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                unsigned int o[8];
                const uint4 v = *reinterpret_cast<const uint4 *>(raw + lrow * 64 + lhalf * 32 + 16 * i);
                cvt16_bf(v, o);
                st_chunk(opB, lrow, lhalf * 4 + 2 * i, make_uint4(o[0], o[1], o[2], o[3]));
                st_chunk(opB, lrow, lhalf * 4 + 2 * i + 1, make_uint4(o[4], o[5], o[6], o[7]));
            }
        };

        float acc[64], blk[64];
#pragma unroll
        for (int i = 0; i < 64; ++i) {
            acc[i] = 0.0f;
            blk[i] = 0.0f;
        }
#pragma unroll
        for (int s = 0; s < RG2_S - 1; ++s) {
            issue(s);
            cp_async_commit();
        }
        float sw = 0.0f;
        for (int kt = 0; kt < W2_KT; ++kt) {
            cp_async_wait<RG2_S - 2>();
            __syncthreads();
            if (kt + RG2_S - 1 < W2_KT)
                issue(kt + RG2_S - 1);
            cp_async_commit();
            convert(kt);
            fence_proxy_async();
            __syncthreads();
            if ((kt & 1) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 1)];
            const unsigned char *tH = sm + (kt % RG2_S) * RG2_SLOT + wg * 8192;
            const unsigned char *tL = tH + 16384;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                wg_mma_bf16(blk, wg_desc(tH + kk * 32), wg_desc(opB + kk * 32), (kk > 0 || (kt & 1)) ? 1 : 0);
                wg_mma_bf16(blk, wg_desc(tL + kk * 32), wg_desc(opB + kk * 32), 1);
            }
            wg_commit();
            wg_wait0();
            wg_fence_regs(blk);
            if (kt & 1) {
#pragma unroll
                for (int i = 0; i < 64; ++i)
                    acc[i] = fmaf(blk[i], sw, acc[i]);
            }
        }
        cp_async_wait<0>();

#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = wg * 64 + w4 * 16 + h * 8 + g;
            const int tk = s_tok[row];
            if (tk < 0)
                continue;
            const float w = s_w[row];
            float *dst = accum + (size_t)tk * MOE_H + n0 + 2 * c4;
#pragma unroll
            for (int j = 0; j < 16; ++j) {
                atomicAdd(dst + 8 * j, acc[4 * j + 2 * h] * w);
                atomicAdd(dst + 8 * j + 1, acc[4 * j + 2 * h + 1] * w);
            }
        }
    }
#else
    (void)T;
    moe_ref_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
#endif
}

/* ---- fp32 accumulator -> bf16 output ------------------------------------- */

extern "C" __global__ void __launch_bounds__(256)
moe_finalize(const float4 *__restrict__ accum, uint2 *__restrict__ out, long long T)
{
    const long long i = (long long)blockIdx.x * 256 + threadIdx.x;
    if (i >= T * (MOE_H / 4))
        return;
    const float4 v = accum[i];
    __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y);
    __nv_bfloat162 b = __floats2bfloat162_rn(v.z, v.w);
    out[i] = make_uint2(*reinterpret_cast<unsigned int *>(&a), *reinterpret_cast<unsigned int *>(&b));
}
