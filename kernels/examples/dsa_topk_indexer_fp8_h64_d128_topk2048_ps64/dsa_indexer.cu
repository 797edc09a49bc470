/* dsa_indexer.cu: example solution for
 * dsa_topk_indexer_fp8_h64_d128_topk2048_ps64 (nvrtc lane, sm_89+: it uses
 * cvt.rn.f16x2.e4m3x2).
 *
 * dsa_index_scores: one 128-thread block per (b, 4 pages). The 4 key pages
 * (64 x 128 fp8 + 64 fp32 scales each, deep_gemm packing) arrive by cp.async
 * into shared memory with a 144-byte row stride while each warp loads its query
 * fragments straight into registers; fp8 is widened to f16 in registers
 * (exact) and fed to f16 mma.sync m16n8k16 with fp32 accumulation. The k
 * dimension is permuted consistently in A and B (thread quad c owns dims
 * 4c..4c+3 of each 16-dim step), so every fragment is one 32-bit load. Warp w
 * owns heads (w&1)*32..+31 and tokens (w>>1)*32..+31 of each page; the
 * epilogue applies scale, relu and weights and sums heads through shuffles
 * and shared memory.
 * dsa_index_topk: one 1024-thread block per b, a radix select on the device:
 * order-preserving uint32 keys cached in shared memory (when they fit,
 * else re-read), 12/12/8-bit digit passes (4096-bin histograms, block-wide
 * scan), stopping as soon as the threshold bin is taken whole,
 * then a ballot-compacted write of the selected global token ids; -1 pads rows
 * with fewer than 2048 tokens. Order within a row is not significant.
 * Workspace: scores [batch_size][max_num_pages*64] f32. Stateless.
 */
#include <cuda_fp16.h>

#define NH 64
#define HD 128
#define PS 64
#define TOPK 2048
#define PPB 4          /* pages per block */
#define KROW 144       /* bytes per token row in shared memory */
#define NEG_INF __int_as_float(0xff800000)

static __device__ __forceinline__ unsigned smem_u32(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void cp_async16(unsigned dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}

/* 4 fp8 e4m3 bytes -> two f16x2 (bytes 0,1 -> lo; bytes 2,3 -> hi) */
static __device__ __forceinline__ void e4m3x4_to_f16x4(unsigned x, unsigned &lo, unsigned &hi)
{
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\t"
        "cvt.rn.f16x2.e4m3x2 %0, l;\n\tcvt.rn.f16x2.e4m3x2 %1, h;\n\t}\n"
        : "=r"(lo), "=r"(hi) : "r"(x));
}

static __device__ __forceinline__ void mma_f16(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                               unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* grid (batch_size, cdiv(max_num_pages, 4)), block 128 */
extern "C" __global__ void __launch_bounds__(128)
dsa_index_scores(const unsigned char *__restrict__ q_index_fp8, const unsigned char *__restrict__ k_cache,
                 const float *__restrict__ weights, const int *__restrict__ seq_lens,
                 const int *__restrict__ block_table, long long max_num_pages, long long num_pages,
                 float *__restrict__ scores)
{
    __shared__ __align__(16) unsigned char kraw[PPB * PS * KROW];
    __shared__ __align__(16) float kscale[PPB * PS];
    __shared__ float wsh[NH];
    __shared__ float red[PPB][2][PS];
    __shared__ int pvalid[PPB];

    const long long b = blockIdx.x;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, c = lane & 3;
    long long n = seq_lens[b];
    n = n < 0 ? 0 : (n > max_num_pages * PS ? max_num_pages * PS : n);
    const long long p0 = (long long)blockIdx.y * PPB;
    if (p0 * PS >= n) return;
    const int npg = (int)min((long long)PPB, (n + PS - 1) / PS - p0);

    /* async page loads: per page 512 data chunks + 16 scale chunks */
    for (int p = 0; p < npg; ++p) {
        const long long page = block_table[b * max_num_pages + p0 + p];
        const bool ok = page >= 0 && page < num_pages;
        if (tid == 0) pvalid[p] = ok;
        if (!ok) continue;
        const unsigned char *pg = k_cache + page * (PS * (HD + 4));
        for (int i = tid; i < PS * 8 + 16; i += 128) {
            if (i < PS * 8)
                cp_async16(smem_u32(kraw + (p * PS + (i >> 3)) * KROW + (i & 7) * 16), pg + i * 16);
            else
                cp_async16(smem_u32(kscale + p * PS + (i - PS * 8) * 4), pg + PS * HD + (i - PS * 8) * 16);
        }
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
    if (tid < NH) wsh[tid] = weights[b * NH + tid];

    /* query fragments in registers: warp -> heads mh*32 + mt*16 + {g, g+8} */
    const int mh = warp & 1, nh = warp >> 1;
    unsigned qa[2][8][4];
    {
        const unsigned *q32 = reinterpret_cast<const unsigned *>(q_index_fp8 + b * NH * HD);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
            const int hA = mh * 32 + mt * 16 + g;
#pragma unroll
            for (int ks = 0; ks < 8; ++ks) {
                unsigned xa = q32[(hA * HD + ks * 16 + 4 * c) >> 2];
                unsigned xb = q32[((hA + 8) * HD + ks * 16 + 4 * c) >> 2];
                e4m3x4_to_f16x4(xa, qa[mt][ks][0], qa[mt][ks][2]);
                e4m3x4_to_f16x4(xb, qa[mt][ks][1], qa[mt][ks][3]);
            }
        }
    }
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    __syncthreads();

    const float wA0 = wsh[mh * 32 + g], wB0 = wsh[mh * 32 + g + 8];
    const float wA1 = wsh[mh * 32 + 16 + g], wB1 = wsh[mh * 32 + 16 + g + 8];
    for (int p = 0; p < npg; ++p) {
        float acc[2][4][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.f;
        const unsigned char *kb = kraw + (p * PS + nh * 32 + g) * KROW + 4 * c;
#pragma unroll
        for (int ks = 0; ks < 8; ++ks) {
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                unsigned x = *reinterpret_cast<const unsigned *>(kb + nt * 8 * KROW + ks * 16);
                unsigned b0, b1;
                e4m3x4_to_f16x4(x, b0, b1);
                mma_f16(acc[0][nt], qa[0][ks][0], qa[0][ks][1], qa[0][ks][2], qa[0][ks][3], b0, b1);
                mma_f16(acc[1][nt], qa[1][ks][0], qa[1][ks][1], qa[1][ks][2], qa[1][ks][3], b0, b1);
            }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
            const int tk = nh * 32 + nt * 8 + 2 * c;
            const float s0 = kscale[p * PS + tk], s1 = kscale[p * PS + tk + 1];
            float v0 = fmaxf(acc[0][nt][0] * s0, 0.f) * wA0 + fmaxf(acc[0][nt][2] * s0, 0.f) * wB0 +
                       fmaxf(acc[1][nt][0] * s0, 0.f) * wA1 + fmaxf(acc[1][nt][2] * s0, 0.f) * wB1;
            float v1 = fmaxf(acc[0][nt][1] * s1, 0.f) * wA0 + fmaxf(acc[0][nt][3] * s1, 0.f) * wB0 +
                       fmaxf(acc[1][nt][1] * s1, 0.f) * wA1 + fmaxf(acc[1][nt][3] * s1, 0.f) * wB1;
#pragma unroll
            for (int o = 4; o < 32; o <<= 1) {
                v0 += __shfl_xor_sync(0xffffffffu, v0, o);
                v1 += __shfl_xor_sync(0xffffffffu, v1, o);
            }
            if (g == 0) {
                red[p][mh][tk] = v0;
                red[p][mh][tk + 1] = v1;
            }
        }
    }
    __syncthreads();
    float *out = scores + b * max_num_pages * PS + p0 * PS;
    for (int i = tid; i < npg * PS; i += 128) {
        if (p0 * PS + i >= n) break;
        const int p = i / PS, tk = i % PS;
        out[i] = pvalid[p] ? red[p][0][tk] + red[p][1][tk] : NEG_INF;
    }
}

static __device__ __forceinline__ unsigned order_key(float f)
{
    unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* grid (batch_size), block 1024, dynamic smem = cache_bytes (may be 0).
 * Digits of 12, 12 and 8 bits (the first covers sign, exponent and 3 mantissa
 * bits, so real score distributions spread over many bins and the histogram
 * atomics rarely collide). */
extern "C" __global__ void __launch_bounds__(1024)
dsa_index_topk(const float *__restrict__ scores, const int *__restrict__ seq_lens,
               const int *__restrict__ block_table, long long max_num_pages, long long cache_bytes,
               int *__restrict__ topk_indices)
{
    extern __shared__ unsigned kcache[];
    __shared__ unsigned hist[4096];
    __shared__ unsigned wsum[32];
    __shared__ unsigned s_prefix, s_kk, s_whole, cnt_gt, cnt_eq;

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
    const bool cached = n * 4 <= cache_bytes;

    unsigned prefix = 0, mask = 0, kk = TOPK;
    for (int pass = 0; pass < 3; ++pass) {
        const int shift = pass == 0 ? 20 : (pass == 1 ? 8 : 0);
        const int nb = pass == 2 ? 256 : 4096;
        const unsigned dm = (unsigned)nb - 1u;
        for (int i = tid; i < nb; i += 1024) hist[i] = 0;
        __syncthreads();
#pragma unroll 4
        for (long long i = tid; i < n; i += 1024) {
            unsigned key;
            if (pass == 0 || !cached) {
                key = order_key(sc[i]);
                if (cached) kcache[i] = key;
            } else {
                key = kcache[i];
            }
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & dm], 1u);
        }
        __syncthreads();
        /* descending ranks u = tid*bpt + k own bins nb-1-u; block exclusive scan */
        const int bpt = nb / 1024 > 0 ? nb / 1024 : 1;
        unsigned loc = 0;
        if (tid * bpt < nb)
            for (int k = 0; k < bpt; ++k) loc += hist[nb - 1 - (tid * bpt + k)];
        unsigned incl = loc;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            unsigned y = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= o) incl += y;
        }
        if (lane == 31) wsum[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            unsigned v = wsum[lane], x = v;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                unsigned y = __shfl_up_sync(0xffffffffu, x, o);
                if (lane >= o) x += y;
            }
            wsum[lane] = x - v;   /* exclusive warp offsets */
        }
        __syncthreads();
        unsigned run = wsum[warp] + incl - loc;
        if (tid * bpt < nb && run < kk && run + loc >= kk) {
            for (int k = 0; k < bpt; ++k) {
                const unsigned bin = (unsigned)(nb - 1 - (tid * bpt + k));
                const unsigned h = hist[bin];
                if (run < kk && run + h >= kk) {
                    s_prefix = prefix | (bin << shift);
                    s_kk = kk - run;
                    s_whole = (kk - run) == h;   /* the bin is taken whole */
                }
                run += h;
            }
        }
        __syncthreads();
        prefix = s_prefix;
        kk = s_kk;
        mask |= dm << shift;
        if (s_whole) break;   /* block-uniform */
    }
    if (tid == 0) { cnt_gt = 0; cnt_eq = 0; }
    __syncthreads();
    /* selected: (key & mask) > prefix, plus the first kk with (key & mask) == prefix */
    const unsigned ngt = TOPK - kk;
    const unsigned lt = (1u << lane) - 1u;
    for (long long base = warp * 32; base < n; base += 1024) {
        const long long i = base + lane;
        unsigned key = 0;
        if (i < n) key = cached ? kcache[i] : order_key(sc[i]);
        const bool gt = i < n && (key & mask) > prefix;
        const bool eq = i < n && (key & mask) == prefix;
        const unsigned bg = __ballot_sync(0xffffffffu, gt), be = __ballot_sync(0xffffffffu, eq);
        unsigned og = 0, oe = 0;
        if (lane == 0) {
            if (bg) og = atomicAdd(&cnt_gt, __popc(bg));
            if (be) oe = atomicAdd(&cnt_eq, __popc(be));
        }
        og = __shfl_sync(0xffffffffu, og, 0);
        oe = __shfl_sync(0xffffffffu, oe, 0);
        const int tok = i < n ? bt[i / PS] * PS + (int)(i % PS) : 0;
        if (gt) out[og + __popc(bg & lt)] = tok;
        if (eq) {
            const unsigned e = oe + __popc(be & lt);
            if (e < kk) out[ngt + e] = tok;
        }
    }
}
