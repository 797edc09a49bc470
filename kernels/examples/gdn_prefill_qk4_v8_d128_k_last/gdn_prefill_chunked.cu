/* gdn_prefill_chunked.cu: example solution for gdn_prefill_qk4_v8_d128_k_last,
 * the chunked (WY / UT-transform) form of the gated delta rule on tensor cores.
 *
 * Notation per sequence and value head, state S as [K, V] (the k-last
 * storage is S^T), chunk of C = 64 tokens starting from state S0, log gates
 * l_i = -exp(A_log) softplus(a_i + dt_bias), G_i = l_1 + ... + l_i, beta_i =
 * sigmoid(b_i). Unrolling S_i = g_i S_{i-1} + k_i d_i^T with
 * d_i = beta_i (v_i - g_i S_{i-1}^T k_i) gives, with exp(G_i - G_j) <= 1:
 *   (I + A) D = R,  A_ij = beta_i (k_i . k_j) exp(G_i - G_j) for j < i,
 *                   R_i  = beta_i (v_i - exp(G_i) S0^T k_i)
 *   o_i  = scale (exp(G_i) S0^T q_i + sum_{j <= i} (q_i . k_j) exp(G_i - G_j) d_j)
 *   S_C  = exp(G_C) S0 + sum_j exp(G_C - G_j) k_j d_j^T
 * which is the per-token recurrence of the definition, regrouped.
 *
 * One block of 256 threads per (half of V, value head, sequence) walks the
 * sequence chunk by chunk with its 128 x 64 slice of the state in shared
 * memory (fp32). Per chunk:
 *   1. stage K, Q, V (bf16 -> fp32, zero rows past the end) and the gates
 *      from registers loaded during the previous chunk;
 *   2. one 128 x 128 x 128 tensor-core GEMM [K; Q] [K^T | S0] gives K K^T,
 *      Q K^T, K S0 and Q S0 (wmma m16n16k8, tf32 inputs, fp32 accumulators);
 *   3. apply decays and masks: A, P = tril(Q K^T * decay), R, exp(G) Q S0,
 *      and issue the next chunk's global loads;
 *   4. solve (I + A) D = R blockwise: four 16-row diagonal blocks solved by
 *      fp32 forward substitution, the off-diagonal updates on tensor cores in
 *      split tf32 (hi + lo, three products: fp32-grade accuracy);
 *   5. two tensor-core GEMMs: O = exp(G) Q S0 + P D and
 *      S^T <- exp(G_C) S^T + D^T (exp(G_C - G) * K);
 *   6. write O (bf16).
 * Loops stay rolled where unrolling would only grow the code: the kernel is
 * walked once per chunk, so its size is paid in instruction fetches.
 * Padding rows (past the sequence end) have beta = 0 and log gate 0, so they
 * change nothing. An empty sequence leaves new_state zero (as the
 * definition's reference does); a NULL state reads as zeros.
 *
 * Launch: grid (head_size / 64, num_v_heads, num_seqs), block 256, dynamic
 * shared memory (3 * 64 * 132 + 4 * 64 * 68 + 64 * 64 + 5 * 64) * 4 = 188672
 * bytes.
 * Thread-safety: a kernel; blocks write disjoint outputs.
 */
#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

#define GDN_K 128
#define GDN_HV 8
#define GDN_HQ 4
#define C 64    /* chunk */
#define DV 64   /* value columns per block */
#define LDK 132 /* padded row stride of 128-wide fp32 tiles */
#define LDC 68  /* padded row stride of 64-wide fp32 tiles */

typedef wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> frag_a_row;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> frag_a_col;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> frag_b_row;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> frag_b_col;
typedef wmma::fragment<wmma::accumulator, 16, 16, 8, float> frag_acc;

template <typename F> static __device__ __forceinline__ void to_tf32(F &f)
{
#pragma unroll
    for (int e = 0; e < f.num_elements; e++)
        f.x[e] = wmma::__float_to_tf32(f.x[e]);
}

/* f <- tf32(f), lo <- tf32(f - tf32(f)) */
template <typename F> static __device__ __forceinline__ void split_tf32(F &f, F &lo)
{
#pragma unroll
    for (int e = 0; e < f.num_elements; e++) {
        const float hi = wmma::__float_to_tf32(f.x[e]);
        lo.x[e] = wmma::__float_to_tf32(f.x[e] - hi);
        f.x[e] = hi;
    }
}

static __device__ __forceinline__ float softplus_f(float x)
{
    return x > 20.f ? x : log1pf(expf(x));
}

static __device__ __forceinline__ void unpack8(uint4 u, float *dst)
{
    const __nv_bfloat162 *p = reinterpret_cast<const __nv_bfloat162 *>(&u);
    const float2 f0 = __bfloat1622float2(p[0]), f1 = __bfloat1622float2(p[1]);
    const float2 f2 = __bfloat1622float2(p[2]), f3 = __bfloat1622float2(p[3]);
    reinterpret_cast<float4 *>(dst)[0] = make_float4(f0.x, f0.y, f1.x, f1.y);
    reinterpret_cast<float4 *>(dst)[1] = make_float4(f2.x, f2.y, f3.x, f3.y);
}

extern "C" __global__ void __launch_bounds__(256, 1)
gdn_prefill_chunked(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                    const __nv_bfloat16 *__restrict__ v, const float *__restrict__ state,
                    const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ a,
                    const float *__restrict__ dt_bias, const __nv_bfloat16 *__restrict__ b,
                    const long long *__restrict__ cu_seqlens, float scale,
                    __nv_bfloat16 *__restrict__ output, float *__restrict__ new_state,
                    long long num_seqs)
{
    extern __shared__ __align__(128) float smem[];
    float *Ks = smem;              /* [C][LDK]   k rows, later exp(G_C - G_j) k_j */
    float *Qs = Ks + C * LDK;      /* [C][LDK]   q rows */
    float *St = Qs + C * LDK;      /* [DV][LDK]  state slice, k-last (row v, col k) */
    float *Am = St + DV * LDK;     /* [C][LDC]   K K^T -> A */
    float *Pm = Am + C * LDC;      /* [C][LDC]   Q K^T -> P */
    float *Xm = Pm + C * LDC;      /* [C][LDC]   K S0 -> R -> D */
    float *Om = Xm + C * LDC;      /* [C][LDC]   Q S0 -> exp(G) Q S0 -> O */
    float *Vs = Om + C * LDC;      /* [C][DV]    v rows of this half */
    float *Ls = Vs + C * DV;       /* [C] log gates */
    float *Bs = Ls + C;            /* [C] beta */
    float *Gs = Bs + C;            /* [C] cumulative log gate */
    float *Es = Gs + C;            /* [C] exp(G_i) */
    float *Fs = Es + C;            /* [C] exp(G_C - G_i) */

    const int tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31;
    const int v0 = blockIdx.x * DV;
    const int h = blockIdx.y;
    const int hk = h / (GDN_HV / GDN_HQ);
    const long long n = blockIdx.z;
    if (n >= num_seqs)
        return;
    if (scale == 0.f)
        scale = rsqrtf((float)GDN_K);
    const long long seq0 = cu_seqlens[n], seq1 = cu_seqlens[n + 1];
    const float neg_ea = -expf(A_log[h]);
    const float dtb = dt_bias[h];

    /* state slice: rows v0 .. v0 + 63 of state[n, h] */
    const size_t sbase = (((size_t)n * GDN_HV + h) * GDN_K + v0) * GDN_K;
    for (int idx = tid; idx < DV * GDN_K / 4; idx += 256) {
        const int r = idx / (GDN_K / 4), c4 = (idx % (GDN_K / 4)) * 4;
        float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
        if (state && seq1 > seq0)
            t = *reinterpret_cast<const float4 *>(state + sbase + (size_t)r * GDN_K + c4);
        *reinterpret_cast<float4 *>(St + r * LDK + c4) = t;
    }

    /* registers holding the next chunk's inputs while the current one runs */
    uint4 pk[4], pq[4], pv[2];
    float pa = 0.f, pb = 0.f;
    auto prefetch = [&](long long c0) {
        const long long left = seq1 - c0;
#pragma unroll
        for (int it = 0; it < 4; it++) {
            const int idx = tid + 256 * it;
            const int i = idx >> 4, c8 = (idx & 15) * 8;
            pk[it] = make_uint4(0, 0, 0, 0);
            pq[it] = make_uint4(0, 0, 0, 0);
            if (i < left) {
                const size_t off = ((size_t)(c0 + i) * GDN_HQ + hk) * GDN_K + c8;
                pk[it] = __ldg(reinterpret_cast<const uint4 *>(k + off));
                pq[it] = __ldg(reinterpret_cast<const uint4 *>(q + off));
            }
        }
#pragma unroll
        for (int it = 0; it < 2; it++) {
            const int idx = tid + 256 * it;
            const int i = idx >> 3, c8 = (idx & 7) * 8;
            pv[it] = make_uint4(0, 0, 0, 0);
            if (i < left)
                pv[it] = __ldg(reinterpret_cast<const uint4 *>(
                    v + ((size_t)(c0 + i) * GDN_HV + h) * GDN_K + v0 + c8));
        }
        if (tid < C && tid < left) {
            const size_t gi = (size_t)(c0 + tid) * GDN_HV + h;
            pa = __bfloat162float(a[gi]);
            pb = __bfloat162float(b[gi]);
        }
    };
    if (seq1 > seq0)
        prefetch(seq0);

    for (long long t0 = seq0; t0 < seq1; t0 += C) {
        const int L = (int)min((long long)C, seq1 - t0);

        /* 1. stage K, Q, V and the gates */
#pragma unroll
        for (int it = 0; it < 4; it++) {
            const int idx = tid + 256 * it;
            const int i = idx >> 4, c8 = (idx & 15) * 8;
            unpack8(pk[it], Ks + i * LDK + c8);
            unpack8(pq[it], Qs + i * LDK + c8);
        }
#pragma unroll
        for (int it = 0; it < 2; it++) {
            const int idx = tid + 256 * it;
            unpack8(pv[it], Vs + (idx >> 3) * DV + (idx & 7) * 8);
        }
        if (tid < C) {
            float lg = 0.f, be = 0.f;
            if (tid < L) {
                lg = neg_ea * softplus_f(pa + dtb);
                be = 1.f / (1.f + expf(-pb));
            }
            Ls[tid] = lg;
            Bs[tid] = be;
        }
        __syncthreads();

        /* 2a. warp 0: inclusive scan of the log gates (2 per lane) */
        if (warp == 0) {
            const float l0 = Ls[2 * lane], l1 = Ls[2 * lane + 1];
            float s = l0 + l1;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const float y = __shfl_up_sync(0xffffffffu, s, o);
                if (lane >= o)
                    s += y;
            }
            const float g1 = s, g0 = s - l1;
            const float gc = __shfl_sync(0xffffffffu, s, 31);
            Gs[2 * lane] = g0;
            Gs[2 * lane + 1] = g1;
            Es[2 * lane] = expf(g0);
            Es[2 * lane + 1] = expf(g1);
            Fs[2 * lane] = expf(gc - g0);
            Fs[2 * lane + 1] = expf(gc - g1);
        }

        /* 2b. [K; Q] (128 x 128) times [K^T | S0] (128 x 128): warp = 32 x 64 */
        {
            const int rb = warp >> 1, cb = warp & 1;
            const float *Asrc = (rb < 2 ? Ks : Qs) + (rb & 1) * 32 * LDK;
            const float *Bsrc = cb ? St : Ks;
            frag_acc acc[2][4];
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int c = 0; c < 4; c++)
                    wmma::fill_fragment(acc[r][c], 0.f);
#pragma unroll 1
            for (int kk = 0; kk < GDN_K; kk += 8) {
                frag_a_row fa[2];
                frag_b_col fb[4];
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    wmma::load_matrix_sync(fa[r], Asrc + r * 16 * LDK + kk, LDK);
                    to_tf32(fa[r]);
                }
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    wmma::load_matrix_sync(fb[c], Bsrc + c * 16 * LDK + kk, LDK);
                    to_tf32(fb[c]);
                }
#pragma unroll
                for (int r = 0; r < 2; r++)
#pragma unroll
                    for (int c = 0; c < 4; c++)
                        wmma::mma_sync(acc[r][c], fa[r], fb[c], acc[r][c]);
            }
            float *dst = (rb < 2 ? (cb ? Xm : Am) : (cb ? Om : Pm)) + (rb & 1) * 32 * LDC;
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int c = 0; c < 4; c++)
                    wmma::store_matrix_sync(dst + r * 16 * LDC + c * 16, acc[r][c], LDC,
                                            wmma::mem_row_major);
        }
        __syncthreads();

        /* 3. decays and masks; then the next chunk's loads */
#pragma unroll 2
        for (int idx = tid; idx < C * C; idx += 256) {
            const int i = idx / C, j = idx % C;
            const float dec = expf(Gs[i] - Gs[j]);
            const float ak = Am[i * LDC + j], qk = Pm[i * LDC + j];
            Am[i * LDC + j] = j < i ? Bs[i] * ak * dec : 0.f;
            Pm[i * LDC + j] = j <= i ? qk * dec : 0.f;
            const float eg = Es[i];
            Xm[i * LDC + j] = Bs[i] * (Vs[i * DV + j] - eg * Xm[i * LDC + j]);
            Om[i * LDC + j] *= eg;
        }
#pragma unroll 2
        for (int idx = tid; idx < C * GDN_K / 4; idx += 256) {
            const int i = idx / (GDN_K / 4), c4 = (idx % (GDN_K / 4)) * 4;
            const float f = Fs[i];
            float4 *p = reinterpret_cast<float4 *>(Ks + i * LDK + c4);
            float4 t = *p;
            t.x *= f; t.y *= f; t.z *= f; t.w *= f;
            *p = t;
        }
        prefetch(t0 + C);
        __syncthreads();

        /* 4. (I + A) D = R in four 16-row blocks */
#pragma unroll 1
        for (int bb = 0; bb < 4; bb++) {
            const int r0 = bb * 16;
            if (bb > 0 && warp < 4) {
                /* R_b -= A[b, 0:b] D[0:b], columns 16 warp .. +15, split tf32 */
                frag_acc acc;
                wmma::fill_fragment(acc, 0.f);
#pragma unroll 1
                for (int kk = 0; kk < r0; kk += 8) {
                    frag_a_row fa, fa_lo;
                    frag_b_row fx, fx_lo;
                    wmma::load_matrix_sync(fa, Am + r0 * LDC + kk, LDC);
                    wmma::load_matrix_sync(fx, Xm + kk * LDC + warp * 16, LDC);
                    split_tf32(fa, fa_lo);
                    split_tf32(fx, fx_lo);
                    wmma::mma_sync(acc, fa_lo, fx, acc);
                    wmma::mma_sync(acc, fa, fx_lo, acc);
                    wmma::mma_sync(acc, fa, fx, acc);
                }
                frag_acc rr;
                wmma::load_matrix_sync(rr, Xm + r0 * LDC + warp * 16, LDC, wmma::mem_row_major);
#pragma unroll
                for (int e = 0; e < rr.num_elements; e++)
                    rr.x[e] -= acc.x[e];
                wmma::store_matrix_sync(Xm + r0 * LDC + warp * 16, rr, LDC, wmma::mem_row_major);
            }
            __syncthreads();
            if (tid < DV) {
                float x[16];
#pragma unroll
                for (int r = 0; r < 16; r++) {
                    const float *arow = Am + (r0 + r) * LDC + r0;
                    float acc = Xm[(r0 + r) * LDC + tid];
#pragma unroll
                    for (int jj = 0; jj < r; jj++)
                        acc -= arow[jj] * x[jj];
                    x[r] = acc;
                }
#pragma unroll
                for (int r = 0; r < 16; r++)
                    Xm[(r0 + r) * LDC + tid] = x[r];
            }
            __syncthreads();
        }

        /* 5. O = exp(G) Q S0 + P D;  S^T = exp(G_C) S^T + D^T K' */
        {
            const int rt = warp >> 1, half = warp & 1;
            /* output: rows 16 rt, columns 32 half .. +31 */
            frag_acc oacc[2];
#pragma unroll
            for (int c = 0; c < 2; c++)
                wmma::load_matrix_sync(oacc[c], Om + rt * 16 * LDC + (half * 2 + c) * 16, LDC,
                                       wmma::mem_row_major);
            /* state: rows v 16 rt, columns k 64 half .. +63 */
            frag_acc sacc[4];
            const float gC = Es[C - 1];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                wmma::load_matrix_sync(sacc[c], St + rt * 16 * LDK + (half * 4 + c) * 16, LDK,
                                       wmma::mem_row_major);
#pragma unroll
                for (int e = 0; e < sacc[c].num_elements; e++)
                    sacc[c].x[e] *= gC;
            }
#pragma unroll 1
            for (int jj = 0; jj < C; jj += 8) {
                frag_a_row fp;
                wmma::load_matrix_sync(fp, Pm + rt * 16 * LDC + jj, LDC);
                to_tf32(fp);
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    frag_b_row fd;
                    wmma::load_matrix_sync(fd, Xm + jj * LDC + (half * 2 + c) * 16, LDC);
                    to_tf32(fd);
                    wmma::mma_sync(oacc[c], fp, fd, oacc[c]);
                }
                frag_a_col fdt; /* D^T: element (v, j) at Xm[j * LDC + v] */
                wmma::load_matrix_sync(fdt, Xm + jj * LDC + rt * 16, LDC);
                to_tf32(fdt);
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    frag_b_row fk;
                    wmma::load_matrix_sync(fk, Ks + jj * LDK + (half * 4 + c) * 16, LDK);
                    to_tf32(fk);
                    wmma::mma_sync(sacc[c], fdt, fk, sacc[c]);
                }
            }
#pragma unroll
            for (int c = 0; c < 2; c++)
                wmma::store_matrix_sync(Om + rt * 16 * LDC + (half * 2 + c) * 16, oacc[c], LDC,
                                        wmma::mem_row_major);
#pragma unroll
            for (int c = 0; c < 4; c++)
                wmma::store_matrix_sync(St + rt * 16 * LDK + (half * 4 + c) * 16, sacc[c], LDK,
                                        wmma::mem_row_major);
        }
        __syncthreads();

        /* 6. output rows */
#pragma unroll 2
        for (int idx = tid; idx < C * DV / 2; idx += 256) {
            const int i = idx / (DV / 2), c2 = (idx % (DV / 2)) * 2;
            if (i < L) {
                const __nv_bfloat162 o2 = __floats2bfloat162_rn(scale * Om[i * LDC + c2],
                                                                scale * Om[i * LDC + c2 + 1]);
                *reinterpret_cast<__nv_bfloat162 *>(
                    output + ((size_t)(t0 + i) * GDN_HV + h) * GDN_K + v0 + c2) = o2;
            }
        }
        /* the next chunk's step 1 writes Ks, Qs, Vs, Ls, Bs only: no barrier needed */
    }
    __syncthreads();
    for (int idx = tid; idx < DV * GDN_K / 4; idx += 256) {
        const int r = idx / (GDN_K / 4), c4 = (idx % (GDN_K / 4)) * 4;
        *reinterpret_cast<float4 *>(new_state + sbase + (size_t)r * GDN_K + c4) =
            *reinterpret_cast<const float4 *>(St + r * LDK + c4);
    }
}
