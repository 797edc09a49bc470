/* dsa_indexer_ref.cu: kernelfarm's reference for
 * dsa_topk_indexer_fp8_h64_d128_topk2048_ps64 (nvrtc lane, sm_80+).
 *
 * Per batch element b with n = seq_lens[b] tokens (clamped to
 * [0, max_num_pages*64]), token i lives at page block_table[b][i/64], slot i%64.
 * The key cache is page-packed (deep_gemm format): a page of 64*132 bytes holds
 * the 64 tokens' 128 fp8 e4m3 values first (64*128 bytes), then their 64 fp32
 * scales. For each token
 *   score_i = sum_h weights[b,h] * relu(scale_i * sum_d q[b,h,d] * k_i[d])
 * and topk_indices[b] holds the global token ids (page*64 + slot) of the
 * min(2048, n) highest scores, -1 after them (order within the row is not
 * significant; ties are broken arbitrarily).
 *
 * dsa_index_ref_scores: one 128-thread block per (b, 4 pages). fp8 q and k
 * are widened to f16 with cuda_fp8.h's converter (exact: every e4m3 value is
 * an f16 value), the 64x64x128 products per page run on f16 mma.sync with
 * fp32 accumulation (each product exact, sums in fp32), then the per-token
 * scale, relu, weights and the head sum in fp32.
 * dsa_index_ref_topk: one 1024-thread block per b, an exact radix select
 * (4 passes of 8 bits over order-preserving uint32 keys) for the threshold,
 * then a compaction of the keys above it plus enough keys equal to it.
 * Workspace: scores [batch_size][max_num_pages*64] f32 (no zeroing needed:
 * only tokens < n are written and read). Stateless.
 */
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#define NH 64
#define HD 128
#define PS 64
#define TOPK 2048
#define KSTR 136   /* f16 per shared row: 272 B = 17 x 16 B */
#define NEG_INF __int_as_float(0xff800000)

static __device__ __forceinline__ unsigned smem_u32(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void ldsm_x4(unsigned addr, unsigned &r0, unsigned &r1, unsigned &r2,
                                               unsigned &r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

static __device__ __forceinline__ void mma_f16(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                               unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* 16 fp8 e4m3 bytes -> 16 f16 (exact: every e4m3 value is an f16 value) at dst */
static __device__ __forceinline__ void widen16(const uint4 &v, __half *dst)
{
    const unsigned short *b = reinterpret_cast<const unsigned short *>(&v);
    __half2_raw out[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) out[j] = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)b[j], __NV_E4M3);
    reinterpret_cast<uint4 *>(dst)[0] = *reinterpret_cast<uint4 *>(&out[0]);
    reinterpret_cast<uint4 *>(dst)[1] = *reinterpret_cast<uint4 *>(&out[4]);
}

/* grid (batch_size, cdiv(max_num_pages, 4)), block 128: 4 pages per block,
 * the query widened once, each page widened into shared memory in turn */
extern "C" __global__ void __launch_bounds__(128)
dsa_index_ref_scores(const unsigned char *__restrict__ q_index_fp8, const unsigned char *__restrict__ k_cache,
                     const float *__restrict__ weights, const int *__restrict__ seq_lens,
                     const int *__restrict__ block_table, long long max_num_pages, long long num_pages,
                     float *__restrict__ scores)
{
    __shared__ __align__(16) __half qs[NH * KSTR];
    __shared__ __align__(16) __half ks[PS * KSTR];
    __shared__ float kscale[PS], wsh[NH], red[4][PS];

    const long long b = blockIdx.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, c = lane & 3;
    long long n = seq_lens[b];
    n = n < 0 ? 0 : (n > max_num_pages * PS ? max_num_pages * PS : n);
    const long long j0 = (long long)blockIdx.y * 4;
    const long long jend = min(j0 + 4, (n + PS - 1) / PS);
    if (j0 >= jend) return;

    /* a page's 512 16-byte key chunks (4 per thread) and its 64 scales are
     * loaded into registers all at once, one page ahead of the mma work, then
     * widened into shared memory: no thread waits on one load before issuing
     * the next. */
    uint4 kr[4];
    float ksc = 0.f;
    auto fetch = [&](long long j) {
        const long long page = block_table[b * max_num_pages + j];
        if (page < 0 || page >= num_pages) return;
        const unsigned char *pg = k_cache + page * (PS * (HD + 4));
        const uint4 *k4 = reinterpret_cast<const uint4 *>(pg);
#pragma unroll
        for (int u = 0; u < 4; ++u) kr[u] = k4[tid + 128 * u];
        if (tid < PS) ksc = reinterpret_cast<const float *>(pg + PS * HD)[tid];
    };
    fetch(j0);

    const uint4 *q4 = reinterpret_cast<const uint4 *>(q_index_fp8 + b * NH * HD);
    {
        uint4 qr[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) qr[u] = q4[tid + 128 * u];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int i = tid + 128 * u;
            widen16(qr[u], qs + (i >> 3) * KSTR + (i & 7) * 16);
        }
    }
    if (tid < NH) wsh[tid] = weights[b * NH + tid];

    for (long long j = j0; j < jend; ++j) {
        float *out = scores + b * max_num_pages * PS + j * PS;
        const long long page = block_table[b * max_num_pages + j];
        if (page < 0 || page >= num_pages) {   /* corrupt table: never selected (block-uniform) */
            if (tid < PS && j * PS + tid < n) out[tid] = NEG_INF;
            if (j + 1 < jend) fetch(j + 1);
            continue;
        }
        __syncthreads();   /* the previous page's ks, kscale and red are consumed */
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int i = tid + 128 * u;
            widen16(kr[u], ks + (i >> 3) * KSTR + (i & 7) * 16);
        }
        if (tid < PS) kscale[tid] = ksc;
        __syncthreads();
        if (j + 1 < jend) fetch(j + 1);   /* next page's loads in flight during this page's mma */

        /* warp -> heads warp*16..+15; all 64 tokens (8 n-tiles) */
        float acc[8][4];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
        const unsigned qa = smem_u32(qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * KSTR + (lane >> 4) * 8);
        const unsigned kb = smem_u32(ks + ((lane & 7) + (lane >> 4) * 8) * KSTR + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int kk = 0; kk < HD / 16; ++kk) {
            unsigned a0, a1, a2, a3;
            ldsm_x4(qa + kk * 32, a0, a1, a2, a3);
#pragma unroll
            for (int np = 0; np < 4; ++np) {
                unsigned b0, b1, b2, b3;
                ldsm_x4(kb + (np * 16 * KSTR + kk * 16) * 2, b0, b1, b2, b3);
                mma_f16(acc[2 * np], a0, a1, a2, a3, b0, b1);
                mma_f16(acc[2 * np + 1], a0, a1, a2, a3, b2, b3);
            }
        }
        /* epilogue: thread holds heads hA = warp*16+g, hB = hA+8; tokens nt*8+2c, +1 */
        const float wa = wsh[warp * 16 + g], wb = wsh[warp * 16 + g + 8];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
            const int tk = nt * 8 + 2 * c;
            const float s0 = kscale[tk], s1 = kscale[tk + 1];
            float p0 = fmaxf(acc[nt][0] * s0, 0.f) * wa + fmaxf(acc[nt][2] * s0, 0.f) * wb;
            float p1 = fmaxf(acc[nt][1] * s1, 0.f) * wa + fmaxf(acc[nt][3] * s1, 0.f) * wb;
#pragma unroll
            for (int o = 4; o < 32; o <<= 1) {
                p0 += __shfl_xor_sync(0xffffffffu, p0, o);
                p1 += __shfl_xor_sync(0xffffffffu, p1, o);
            }
            if (g == 0) {
                red[warp][tk] = p0;
                red[warp][tk + 1] = p1;
            }
        }
        __syncthreads();
        if (tid < PS && j * PS + tid < n)
            out[tid] = red[0][tid] + red[1][tid] + red[2][tid] + red[3][tid];
    }
}

static __device__ __forceinline__ unsigned order_key(float f)
{
    unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* grid (batch_size), block 1024 */
extern "C" __global__ void __launch_bounds__(1024)
dsa_index_ref_topk(const float *__restrict__ scores, const int *__restrict__ seq_lens,
                   const int *__restrict__ block_table, long long max_num_pages, int *__restrict__ topk_indices)
{
    __shared__ unsigned hist[256];
    __shared__ unsigned wsum[8];
    __shared__ unsigned s_prefix, s_kk, cnt_gt, cnt_eq;

    const long long b = blockIdx.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    long long n = seq_lens[b];
    n = n < 0 ? 0 : (n > max_num_pages * PS ? max_num_pages * PS : n);
    int *out = topk_indices + b * TOPK;
    const int *bt = block_table + b * max_num_pages;
    const float *sc = scores + b * max_num_pages * PS;

    if (n <= TOPK) {
        for (int i = tid; i < TOPK; i += 1024)
            out[i] = i < n ? bt[i / PS] * PS + (i % PS) : -1;
        return;
    }

    unsigned prefix = 0, mask = 0, kk = TOPK;
    for (int pass = 0; pass < 4; ++pass) {
        const int shift = 24 - 8 * pass;
        if (tid < 256) hist[tid] = 0;
        __syncthreads();
        for (long long i = tid; i < n; i += 1024) {
            unsigned key = order_key(sc[i]);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        /* suffix counts over buckets 255..0: thread u scans bucket 255-u */
        unsigned v = 0, incl = 0;
        if (tid < 256) {
            v = hist[255 - tid];
            incl = v;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                unsigned y = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += y;
            }
            if (lane == 31) wsum[warp] = incl;
        }
        __syncthreads();
        if (tid < 256) {
            for (int w = 0; w < warp; ++w) incl += wsum[w];
            unsigned excl = incl - v;
            if (excl < kk && incl >= kk) {
                s_prefix = prefix | ((unsigned)(255 - tid) << shift);
                s_kk = kk - excl;
            }
        }
        __syncthreads();
        prefix = s_prefix;
        kk = s_kk;
        mask |= 255u << shift;
    }
    /* prefix is the key of the TOPK-th largest score; take every key above it
     * and the first kk keys equal to it */
    if (tid == 0) { cnt_gt = 0; cnt_eq = 0; }
    __syncthreads();
    const unsigned ngt = TOPK - kk;
    for (long long i = tid; i < n; i += 1024) {
        unsigned key = order_key(sc[i]);
        if (key > prefix) {
            unsigned p = atomicAdd(&cnt_gt, 1u);
            out[p] = bt[i / PS] * PS + (int)(i % PS);
        } else if (key == prefix) {
            unsigned e = atomicAdd(&cnt_eq, 1u);
            if (e < kk) out[ngt + e] = bt[i / PS] * PS + (int)(i % PS);
        }
    }
}
