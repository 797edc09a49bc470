/* gdn_decode.cu: example solution for gdn_decode_qk4_v8_d128_k_last.
 *
 * Decode is a pure stream over the fp32 state (read 64 KiB and write 64 KiB
 * per (batch, head)); everything else is a few hundred bytes. Every row v of
 * the k-last state [B, H, V, K] is independent (see the reference kernel's
 * comment for the maths), so a warp owns 4 rows: each lane issues its four
 * 16-byte streaming loads (ld.global.cs, the state is touched once) before any
 * arithmetic, keeping 64 bytes per thread in flight, then does the two dot
 * products as warp reductions and writes the new rows with streaming stores.
 * All arithmetic in fp32.
 *
 * Launch: grid (head_size / 32, num_v_heads, batch_size), block 256 (8 warps x
 * 4 rows = 32 rows). state may be NULL (zeros).
 * Thread-safety: a kernel; each thread writes disjoint outputs.
 */
#include <cuda_bf16.h>

#define GDN_K 128
#define GDN_HV 8
#define GDN_HQ 4
#define ROWS_PER_WARP 4

static __device__ __forceinline__ float warp_sum(float x)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

extern "C" __global__ void __launch_bounds__(256)
gdn_decode_fast(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                const __nv_bfloat16 *__restrict__ v, const float *__restrict__ state,
                const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ a,
                const float *__restrict__ dt_bias, const __nv_bfloat16 *__restrict__ b,
                float scale, __nv_bfloat16 *__restrict__ output, float *__restrict__ new_state,
                long long batch_size)
{
    const int lane = threadIdx.x & 31;
    const int row0 = blockIdx.x * 32 + (threadIdx.x >> 5) * ROWS_PER_WARP;
    const int h = blockIdx.y;
    const long long bi = blockIdx.z;
    if (bi >= batch_size)
        return;
    const size_t base = (((size_t)bi * GDN_HV + h) * GDN_K + row0) * GDN_K + lane * 4;

    float4 s[ROWS_PER_WARP];
    if (state) {
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++)
            s[r] = __ldcs(reinterpret_cast<const float4 *>(state + base + r * GDN_K));
    } else {
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++)
            s[r] = make_float4(0.f, 0.f, 0.f, 0.f);
    }

    const int hk = h / (GDN_HV / GDN_HQ);
    const uint2 qu = __ldg(reinterpret_cast<const uint2 *>(q + (bi * GDN_HQ + hk) * GDN_K) + lane);
    const uint2 ku = __ldg(reinterpret_cast<const uint2 *>(k + (bi * GDN_HQ + hk) * GDN_K) + lane);
    const float2 q01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&qu.x));
    const float2 q23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&qu.y));
    const float2 k01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&ku.x));
    const float2 k23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&ku.y));
    float vv[ROWS_PER_WARP];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++)
        vv[r] = __bfloat162float(v[(bi * GDN_HV + h) * GDN_K + row0 + r]);

    if (scale == 0.f)
        scale = rsqrtf((float)GDN_K);
    const float x = __bfloat162float(a[bi * GDN_HV + h]) + dt_bias[h];
    const float sp = x > 20.f ? x : log1pf(expf(x));
    const float g = expf(-expf(A_log[h]) * sp);
    const float beta = 1.f / (1.f + expf(-__bfloat162float(b[bi * GDN_HV + h])));

    float o[ROWS_PER_WARP];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        float4 t = s[r];
        t.x *= g; t.y *= g; t.z *= g; t.w *= g;
        const float old_v = warp_sum(k01.x * t.x + k01.y * t.y + k23.x * t.z + k23.y * t.w);
        const float d = (beta * vv[r] + (1.f - beta) * old_v) - old_v;
        t.x += k01.x * d; t.y += k01.y * d; t.z += k23.x * d; t.w += k23.y * d;
        s[r] = t;
        o[r] = q01.x * t.x + q01.y * t.y + q23.x * t.z + q23.y * t.w;
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        __stcs(reinterpret_cast<float4 *>(new_state + base + r * GDN_K), s[r]);
        o[r] = warp_sum(o[r]);
    }
    if (lane < ROWS_PER_WARP) {
        float mine = o[0];
#pragma unroll
        for (int r = 1; r < ROWS_PER_WARP; r++)
            if (lane == r)
                mine = o[r];
        output[(bi * GDN_HV + h) * GDN_K + row0 + lane] = __float2bfloat16(scale * mine);
    }
}
