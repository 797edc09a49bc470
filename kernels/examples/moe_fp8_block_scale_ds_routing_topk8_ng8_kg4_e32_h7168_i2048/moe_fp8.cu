/* moe_fp8.cu: kernelfarm's example solution for
 * moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048 (nvrtc lane).
 *
 * Same five-launch shape as the reference (route, per-expert pair lists,
 * GEMM1+SwiGLU, GEMM2, finalize), with the fast paths:
 *   moe_fp8_gemm1  e4m3 x e4m3 tensor cores (mma.sync m16n8k32), operands
 *                  straight from HBM to shared memory with cp.async (4-stage
 *                  pipeline, one 128-wide scale block per stage, XOR-swizzled
 *                  rows); each 128-K partial sum is promoted into fp32
 *                  registers with its two block scales; SwiGLU epilogue writes
 *                  a bf16 intermediate.
 *   moe_ex_gemm2   bf16 x bf16 tensor cores (W2 converted e4m3 -> bf16
 *                  exactly on its way to shared memory), block-scale
 *                  promotion, routing weight, fp32 atomics into the output
 *                  accumulator.
 * The intermediate is kept in bf16 (not requantised to fp8) so the output
 * stays within about 1e-3 of the fp32 result. Every active expert's weights
 * stream from HBM once per wave; the 128-pair tiles of one expert run side
 * by side and share them through L2. Thread-safety: stateless kernels.
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

static __device__ __forceinline__ void mma_e4m3(float (&d)[4], const unsigned int (&a)[4],
                                                unsigned int b0, unsigned int b1)
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
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

/* ---- GEMM1 + SwiGLU on fp8 tensor cores ------------------------------------
 * Tile: 128 pairs x 64 intermediate columns (64 up + 64 gate rows of W13),
 * K stage = 128 bytes = one scale block. smem stage: A [128][128] e4m3 then
 * B [128][128] e4m3, 16-byte chunk c of row r stored at chunk c ^ (r & 7). */

#define F1_BM 128
#define F1_BC 64
#define F1_BK 128
#define F1_ST 4
#define F1_STAGE (2 * F1_BM * F1_BK)
#define F1_SMEM (F1_ST * F1_STAGE)
#define F1_NT (MOE_I / F1_BC)
#define F1_KT (MOE_H / F1_BK)

static __device__ __forceinline__ void
moe_fp8_gemm1_body(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
              const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
              const int *__restrict__ meta, const int *__restrict__ pair_token,
              __nv_bfloat16 *__restrict__ inter, long long T)
{
    extern __shared__ __align__(128) unsigned char f1_smem[];
    __shared__ moe_sched sch;
    __shared__ int s_tok[F1_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp & 3, wn = warp >> 2;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, F1_BM, F1_NT);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / F1_NT) * F1_BM;
        const int c0 = (local % F1_NT) * F1_BC;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads(); /* previous tile is done with s_tok and the stages */
        if (tid < F1_BM)
            s_tok[tid] = (m0 + tid < cnt) ? pair_token[poff + m0 + tid] : -1;
        __syncthreads();

        /* copy assignment: chunk ch of rows r0 + 32 i (i = 0..3) of A and B; the
         * swizzled destination depends on r0 & 7 only */
        const int r0 = tid >> 3, ch = tid & 7;
        const int dst0 = r0 * F1_BK + ((ch ^ (r0 & 7)) << 4);
        const unsigned char *bbase = w13 + ((size_t)e * (2 * MOE_I) + c0 + r0) * MOE_H + ch * 16;
        auto issue = [&](int kt) {
            unsigned char *st = f1_smem + (kt % F1_ST) * F1_STAGE;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int tk = s_tok[r0 + 32 * i];
                cp_async16(st + dst0 + i * 32 * F1_BK,
                           hs + (size_t)(tk >= 0 ? tk : 0) * MOE_H + ch * 16 + (size_t)kt * F1_BK,
                           tk >= 0);
                /* rows 0..63 of the tile: up rows c0 + r; rows 64..127: gate rows I + c0 + r - 64 */
                const size_t boff = (size_t)(i < 2 ? 32 * i : MOE_I + 32 * (i - 2)) * MOE_H;
                cp_async16(st + F1_BM * F1_BK + dst0 + i * 32 * F1_BK,
                           bbase + boff + (size_t)kt * F1_BK, true);
            }
        };

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

#pragma unroll
        for (int s = 0; s < F1_ST - 1; ++s) {
            issue(s);
            cp_async_commit();
        }
        for (int kt = 0; kt < F1_KT; ++kt) {
            cp_async_wait<F1_ST - 2>();
            __syncthreads();
            if (kt + F1_ST - 1 < F1_KT)
                issue(kt + F1_ST - 1);
            cp_async_commit();

            float sa[2][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int tk = s_tok[wm * 32 + mt * 16 + h * 8 + g];
                    sa[mt][h] = tk >= 0 ? hs_scale[(size_t)kt * T + tk] : 0.0f;
                }
            const float swu = w13_scale[((size_t)e * 32 + (c0 >> 7)) * MOE_HB + kt];
            const float swg = w13_scale[((size_t)e * 32 + 16 + (c0 >> 7)) * MOE_HB + kt];

            const unsigned char *stA = f1_smem + (kt % F1_ST) * F1_STAGE;
            const unsigned char *stB = stA + F1_BM * F1_BK;
#pragma unroll 1
            for (int ks = 0; ks < 4; ++ks) {
                unsigned int af[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    const int row = wm * 32 + mt * 16 + (lane & 15);
                    const int ch = ks * 2 + (lane >> 4);
                    ldsm_x4(af[mt], stA + row * F1_BK + ((ch ^ (row & 7)) << 4));
                }
#pragma unroll
                for (int jp = 0; jp < 4; ++jp) {
                    const int brow = (jp < 2 ? wn * 32 + jp * 16 : F1_BC + wn * 32 + (jp - 2) * 16) +
                                     (lane & 7) + ((lane >> 4) << 3);
                    const int ch = ks * 2 + ((lane >> 3) & 1);
                    unsigned int bf[4];
                    ldsm_x4(bf, stB + brow * F1_BK + ((ch ^ (brow & 7)) << 4));
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt) {
                        mma_e4m3(blk[mt][2 * jp], af[mt], bf[0], bf[1]);
                        mma_e4m3(blk[mt][2 * jp + 1], af[mt], bf[2], bf[3]);
                    }
                }
            }
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
        cp_async_wait<0>();

        /* epilogue: silu(gate) * up (gate = second half of W13's rows), bf16 */
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = wm * 32 + mt * 16 + h * 8 + g;
                if (m0 + row >= cnt)
                    continue;
                __nv_bfloat16 *dst = inter + (size_t)(poff + m0 + row) * MOE_I + c0 + wn * 32 + 2 * c4;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const float u0 = acc[mt][j][2 * h], u1 = acc[mt][j][2 * h + 1];
                    const float x0 = acc[mt][j + 4][2 * h], x1 = acc[mt][j + 4][2 * h + 1];
                    *reinterpret_cast<__nv_bfloat162 *>(dst + j * 8) = __floats2bfloat162_rn(
                        (x0 / (1.0f + __expf(-x0))) * u0, (x1 / (1.0f + __expf(-x1))) * u1);
                }
            }
    }
}

extern "C" __global__ void __launch_bounds__(256, 1)
moe_fp8_gemm1(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
              const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
              const int *__restrict__ meta, const int *__restrict__ pair_token,
              __nv_bfloat16 *__restrict__ inter, long long T)
{
    moe_fp8_gemm1_body(hs, hs_scale, w13, w13_scale, meta, pair_token, inter, T);
}

/* ---- GEMM2 on bf16 tensor cores -------------------------------------------
 * Tile: 128 pairs x 128 hidden columns, K step 32, two smem buffers, loads
 * staged in registers (W2 e4m3 -> bf16 on the way). */

#define X2_BM 128
#define X2_BN 128
#define X2_BK 32
#define X2_LD 40
#define X2_NT (MOE_H / X2_BN)
#define X2_KT (MOE_I / X2_BK)

static __device__ __forceinline__ void
moe_ex_gemm2_body(const __nv_bfloat16 *__restrict__ inter, const unsigned char *__restrict__ w2,
             const float *__restrict__ w2_scale, const int *__restrict__ meta,
             const int *__restrict__ pair_token, const float *__restrict__ pair_w,
             float *__restrict__ accum)
{
    __shared__ __align__(16) __nv_bfloat16 sA[2][X2_BM * X2_LD];
    __shared__ __align__(16) __nv_bfloat16 sB[2][X2_BN * X2_LD];
    __shared__ moe_sched sch;
    __shared__ int s_tok[X2_BM];
    __shared__ float s_w[X2_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp & 3, wn = warp >> 2;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, X2_BM, X2_NT);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / X2_NT) * X2_BM;
        const int n0 = (local % X2_NT) * X2_BN;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < X2_BM) {
            const bool ok = m0 + tid < cnt;
            s_tok[tid] = ok ? pair_token[poff + m0 + tid] : -1;
            s_w[tid] = ok ? pair_w[poff + m0 + tid] : 0.0f;
        }
        __syncthreads();

        const int lrow = tid >> 1, lcol = (tid & 1) * 16;
        const bool arow_ok = m0 + lrow < cnt;
        const __nv_bfloat16 *aptr = inter + (size_t)(poff + (arow_ok ? m0 + lrow : 0)) * MOE_I + lcol;
        const unsigned char *bptr = w2 + ((size_t)e * MOE_H + n0 + lrow) * MOE_I + lcol;
        uint4 ra0, ra1, rb;
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
            const uint4 *pa = reinterpret_cast<const uint4 *>(aptr + kt * X2_BK);
            ra0 = arow_ok ? pa[0] : zero4;
            ra1 = arow_ok ? pa[1] : zero4;
            rb = *reinterpret_cast<const uint4 *>(bptr + kt * X2_BK);
        };
        auto sstore = [&](int buf) {
            uint4 *da = reinterpret_cast<uint4 *>(&sA[buf][lrow * X2_LD + lcol]);
            da[0] = ra0;
            da[1] = ra1;
            unsigned int o[8];
            cvt16_bf(rb, o);
            uint4 *db = reinterpret_cast<uint4 *>(&sB[buf][lrow * X2_LD + lcol]);
            db[0] = make_uint4(o[0], o[1], o[2], o[3]);
            db[1] = make_uint4(o[4], o[5], o[6], o[7]);
        };

        gload(0);
        sstore(0);
        __syncthreads();
        float sw = 0.0f;
        for (int kt = 0; kt < X2_KT; ++kt) {
            const int buf = kt & 1;
            if (kt + 1 < X2_KT)
                gload(kt + 1);
            if ((kt & 3) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 2)];
#pragma unroll
            for (int ks = 0; ks < 2; ++ks) {
                unsigned int af[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
                    ldsm_x4(af[mt], &sA[buf][(wm * 32 + mt * 16 + (lane & 15)) * X2_LD + ks * 16 +
                                             (lane >> 4) * 8]);
#pragma unroll
                for (int jp = 0; jp < 4; ++jp) {
                    const int brow = wn * 64 + jp * 16 + (lane & 7) + ((lane >> 4) << 3);
                    unsigned int bf[4];
                    ldsm_x4(bf, &sB[buf][brow * X2_LD + ks * 16 + ((lane >> 3) & 1) * 8]);
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt) {
                        mma_bf16(blk[mt][2 * jp], af[mt], bf[0], bf[1]);
                        mma_bf16(blk[mt][2 * jp + 1], af[mt], bf[2], bf[3]);
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
            if (kt + 1 < X2_KT)
                sstore(buf ^ 1);
            __syncthreads();
        }

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
moe_ex_gemm2(const __nv_bfloat16 *__restrict__ inter, const unsigned char *__restrict__ w2,
             const float *__restrict__ w2_scale, const int *__restrict__ meta,
             const int *__restrict__ pair_token, const float *__restrict__ pair_w,
             float *__restrict__ accum)
{
    moe_ex_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
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

/* ---- wgmma variants (sm_90a) -----------------------------------------------
 * mma.sync with e4m3 operands has no native path on sm_90 (ptxas lowers it
 * to f16 HMMA), so the fast GEMM1 uses warpgroup MMAs: two warpgroups of 64
 * pairs each, N = 128 (64 up + 64 gate rows), K = 32 per instruction, four
 * per 128-byte stage, operands read by the tensor cores straight from the
 * 128B-swizzled cp.async stages. */

static __device__ __forceinline__ void st_chunk(unsigned char *tile, int row, int chunk, uint4 v)
{
    *reinterpret_cast<uint4 *>(tile + row * 128 + ((chunk ^ (row & 7)) << 4)) = v;
}

static __device__ __forceinline__ unsigned char *align1k(unsigned char *p)
{
    const unsigned int a = (unsigned int)__cvta_generic_to_shared(p);
    return p + ((1024u - (a & 1023u)) & 1023u);
}

extern "C" __global__ void __launch_bounds__(256, 1)
moe_fp8_gemm1_wg(const unsigned char *__restrict__ hs, const float *__restrict__ hs_scale,
                 const unsigned char *__restrict__ w13, const float *__restrict__ w13_scale,
                 const int *__restrict__ meta, const int *__restrict__ pair_token,
                 __nv_bfloat16 *__restrict__ inter, long long T)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char f1w_raw[];
    unsigned char *sm = align1k(f1w_raw);
    __shared__ moe_sched sch;
    __shared__ int s_tok[F1_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, w4 = warp & 3;
    const int g = lane >> 2, c4 = lane & 3;
    moe_sched_init(sch, meta, F1_BM, F1_NT);
    const int total = sch.tstart[32];

    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int e = moe_sched_expert(sch, tile);
        const int local = tile - sch.tstart[e];
        const int m0 = (local / F1_NT) * F1_BM;
        const int c0 = (local % F1_NT) * F1_BC;
        const int cnt = sch.cnt[e], poff = sch.off[e];
        __syncthreads();
        if (tid < F1_BM)
            s_tok[tid] = (m0 + tid < cnt) ? pair_token[poff + m0 + tid] : -1;
        __syncthreads();

        const int r0 = tid >> 3, ch = tid & 7;
        const int dst0 = r0 * F1_BK + ((ch ^ (r0 & 7)) << 4);
        const unsigned char *bbase = w13 + ((size_t)e * (2 * MOE_I) + c0 + r0) * MOE_H + ch * 16;
        auto issue = [&](int kt) {
            unsigned char *st = sm + (kt % F1_ST) * F1_STAGE;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int tk = s_tok[r0 + 32 * i];
                cp_async16(st + dst0 + i * 32 * F1_BK,
                           hs + (size_t)(tk >= 0 ? tk : 0) * MOE_H + ch * 16 + (size_t)kt * F1_BK,
                           tk >= 0);
                const size_t boff = (size_t)(i < 2 ? 32 * i : MOE_I + 32 * (i - 2)) * MOE_H;
                cp_async16(st + F1_BM * F1_BK + dst0 + i * 32 * F1_BK,
                           bbase + boff + (size_t)kt * F1_BK, true);
            }
        };

        float acc[64], blk[64];
#pragma unroll
        for (int i = 0; i < 64; ++i) {
            acc[i] = 0.0f;
            blk[i] = 0.0f;
        }
#pragma unroll
        for (int s = 0; s < F1_ST - 1; ++s) {
            issue(s);
            cp_async_commit();
        }
        for (int kt = 0; kt < F1_KT; ++kt) {
            cp_async_wait<F1_ST - 2>();
            fence_proxy_async();
            __syncthreads();
            if (kt + F1_ST - 1 < F1_KT)
                issue(kt + F1_ST - 1);
            cp_async_commit();

            const unsigned char *stA = sm + (kt % F1_ST) * F1_STAGE + wg * 64 * F1_BK;
            const unsigned char *stB = sm + (kt % F1_ST) * F1_STAGE + F1_BM * F1_BK;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wg_mma_e4m3(blk, wg_desc(stA + kk * 32), wg_desc(stB + kk * 32), kk > 0 ? 1 : 0);
            wg_commit();

            float sa[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int tk = s_tok[wg * 64 + w4 * 16 + h * 8 + g];
                sa[h] = tk >= 0 ? hs_scale[(size_t)kt * T + tk] : 0.0f;
            }
            const float swu = w13_scale[((size_t)e * 32 + (c0 >> 7)) * MOE_HB + kt];
            const float swg = w13_scale[((size_t)e * 32 + 16 + (c0 >> 7)) * MOE_HB + kt];
            wg_wait0();
            wg_fence_regs(blk);
#pragma unroll
            for (int i = 0; i < 64; ++i)
                acc[i] = fmaf(blk[i], sa[(i & 3) >> 1] * ((i >> 5) ? swg : swu), acc[i]);
        }
        cp_async_wait<0>();

#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = wg * 64 + w4 * 16 + h * 8 + g;
            if (m0 + row >= cnt)
                continue;
            __nv_bfloat16 *dst = inter + (size_t)(poff + m0 + row) * MOE_I + c0 + 2 * c4;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const float u0 = acc[4 * j + 2 * h], u1 = acc[4 * j + 2 * h + 1];
                const float x0 = acc[32 + 4 * j + 2 * h], x1 = acc[32 + 4 * j + 2 * h + 1];
                *reinterpret_cast<__nv_bfloat162 *>(dst + 8 * j) = __floats2bfloat162_rn(
                    (x0 / (1.0f + __expf(-x0))) * u0, (x1 / (1.0f + __expf(-x1))) * u1);
            }
        }
    }
#else
    /* no wgmma outside sm_90a: the mma.sync path */
    moe_fp8_gemm1_body(hs, hs_scale, w13, w13_scale, meta, pair_token, inter, T);
#endif
}

/* GEMM2 with warpgroup MMAs: bf16 intermediate tiles as they are, W2
 * converted e4m3 -> bf16 on its way to shared memory (register-staged, two
 * buffers), 64 K per stage, scale-block promotion every second stage. */

#define XW2_KT (MOE_I / 64)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ex_gemm2_wg(const __nv_bfloat16 *__restrict__ inter, const unsigned char *__restrict__ w2,
                const float *__restrict__ w2_scale, const int *__restrict__ meta,
                const int *__restrict__ pair_token, const float *__restrict__ pair_w,
                float *__restrict__ accum)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char x2w_raw[];
    unsigned char *sm = align1k(x2w_raw); /* buffer b: A at b*32K, W2 at b*32K + 16K */
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
        const __nv_bfloat16 *aptr = inter + (size_t)(poff + (arow_ok ? m0 + lrow : 0)) * MOE_I + lhalf * 32;
        const unsigned char *bptr = w2 + ((size_t)e * MOE_H + n0 + lrow) * MOE_I + lhalf * 32;
        uint4 ra[4], rb[2];
        const uint4 zero4 = make_uint4(0, 0, 0, 0);
        auto gload = [&](int kt) {
#pragma unroll
            for (int i = 0; i < 4; ++i)
                ra[i] = arow_ok ? *reinterpret_cast<const uint4 *>(aptr + kt * 64 + 8 * i) : zero4;
#pragma unroll
            for (int i = 0; i < 2; ++i)
                rb[i] = *reinterpret_cast<const uint4 *>(bptr + kt * 64 + 16 * i);
        };
        auto sstore = [&](int buf) {
            unsigned char *tA = sm + buf * 32768, *tB = tA + 16384;
#pragma unroll
            for (int i = 0; i < 4; ++i)
                st_chunk(tA, lrow, lhalf * 4 + i, ra[i]);
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
        for (int kt = 0; kt < XW2_KT; ++kt) {
            const int buf = kt & 1;
            if (kt + 1 < XW2_KT)
                gload(kt + 1);
            if ((kt & 1) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 1)];
            const unsigned char *tA = sm + buf * 32768 + wg * 8192;
            const unsigned char *tB = sm + buf * 32768 + 16384;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                wg_mma_bf16(blk, wg_desc(tA + kk * 32), wg_desc(tB + kk * 32), (kk > 0 || (kt & 1)) ? 1 : 0);
            wg_commit();
            if (kt + 1 < XW2_KT)
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
    moe_ex_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
#endif
}


/* GEMM2 ring version (sm_90a; the one spec.json launches, moe_ex_gemm2_wg
 * is kept for comparison): the bf16 intermediate goes straight into a
 * 4-stage cp.async ring of swizzled tiles, W2 arrives raw in the same ring
 * and is converted smem -> smem, so
 * several stages of loads are in flight (the _wg kernel waits ~1 us per K
 * stage on its register-staged loads). Falls back to mma.sync off sm_90a. */

#define XR2_S 4
#define XR2_SLOT 24576                    /* A 16K (swizzled), raw W2 8K */
#define XR2_SMEM (XR2_S * XR2_SLOT + 16384 + 1024)

extern "C" __global__ void __launch_bounds__(256, 1)
moe_ex_gemm2_rg(const __nv_bfloat16 *__restrict__ inter, const unsigned char *__restrict__ w2,
                 const float *__restrict__ w2_scale, const int *__restrict__ meta,
                 const int *__restrict__ pair_token, const float *__restrict__ pair_w,
                 float *__restrict__ accum, long long T)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char xr2_raw[];
    unsigned char *sm = align1k(xr2_raw);
    unsigned char *opB = sm + XR2_S * XR2_SLOT;
    __shared__ moe_sched sch;
    __shared__ int s_tok[128];
    __shared__ float s_w[128];
    const __nv_bfloat16 *ihi = inter;

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

        /* A: chunk ca of rows ra0 + 32 i straight into the swizzled tile;
         * raw W2: chunk cb of rows rb0 + 64 i */
        const int ra0 = tid >> 3, ca = tid & 7, rb0 = tid >> 2, cb = tid & 3;
        const int adst0 = ra0 * 128 + ((ca ^ (ra0 & 7)) << 4);
        auto issue = [&](int kt) {
            unsigned char *slot = sm + (kt % XR2_S) * XR2_SLOT;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int r = ra0 + 32 * i;
                const bool ok = m0 + r < cnt;
                const size_t src = (size_t)(poff + (ok ? m0 + r : 0)) * MOE_I + (size_t)kt * 64 + ca * 8;
                cp_async16(slot + adst0 + i * 4096, ihi + src, ok);
            }
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int r = rb0 + 64 * i;
                cp_async16(slot + 16384 + r * 64 + cb * 16,
                           w2 + ((size_t)e * MOE_H + n0 + r) * MOE_I + (size_t)kt * 64 + cb * 16, true);
            }
        };
        const int lrow = tid >> 1, lhalf = tid & 1;
        auto convert = [&](int kt) {
            const unsigned char *raw = sm + (kt % XR2_S) * XR2_SLOT + 16384;
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
        for (int s = 0; s < XR2_S - 1; ++s) {
            issue(s);
            cp_async_commit();
        }
        float sw = 0.0f;
        for (int kt = 0; kt < XW2_KT; ++kt) {
            cp_async_wait<XR2_S - 2>();
            __syncthreads();
            if (kt + XR2_S - 1 < XW2_KT)
                issue(kt + XR2_S - 1);
            cp_async_commit();
            convert(kt);
            fence_proxy_async();
            __syncthreads();
            if ((kt & 1) == 0)
                sw = w2_scale[((size_t)e * MOE_HB + (n0 >> 7)) * MOE_IB + (kt >> 1)];
            const unsigned char *tH = sm + (kt % XR2_S) * XR2_SLOT + wg * 8192;
            wg_fence_regs(blk);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                wg_mma_bf16(blk, wg_desc(tH + kk * 32), wg_desc(opB + kk * 32), (kk > 0 || (kt & 1)) ? 1 : 0);
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
    moe_ex_gemm2_body(inter, w2, w2_scale, meta, pair_token, pair_w, accum);
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
