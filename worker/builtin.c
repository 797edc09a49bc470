/* builtin.c: source text of the evaluator's built-in kernels (see
 * builtin.h). Random numbers: Philox4x32-10 keyed by the seed with the
 * element index as counter, so a fill is a pure function of (seed, index)
 * whatever the launch shape. Thread-safe after the first call (the source
 * is built once; the engine is single-threaded).
 */
#include "builtin.h"

#include <stdio.h>

#include "dtype.h"

static const char body[] =
    "typedef unsigned int u32; typedef unsigned long long u64; typedef unsigned char u8;\n"
    "typedef unsigned short u16;\n"
    "__device__ __forceinline__ void philox(u32 k0, u32 k1, u32 c[4]) {\n"
    "  for (int r = 0; r < 10; r++) {\n"
    "    u32 h0 = __umulhi(0xD2511F53u, c[0]), l0 = 0xD2511F53u * c[0];\n"
    "    u32 h1 = __umulhi(0xCD9E8D57u, c[2]), l1 = 0xCD9E8D57u * c[2];\n"
    "    u32 n0 = h1 ^ c[1] ^ k0, n2 = h0 ^ c[3] ^ k1;\n"
    "    c[0] = n0; c[1] = l1; c[2] = n2; c[3] = l0;\n"
    "    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;\n"
    "  }\n"
    "}\n"
    "__device__ __forceinline__ void rnd(u64 seed, u64 i, u32 stream, u32 out[4]) {\n"
    "  out[0] = (u32)i; out[1] = (u32)(i >> 32); out[2] = stream; out[3] = 0x6b66u;\n"
    "  philox((u32)seed, (u32)(seed >> 32), out);\n"
    "}\n"
    "__device__ __forceinline__ void normal2(const u32 r[4], float *z0, float *z1) {\n"
    "  float u1 = ((float)(r[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);\n"
    "  float u2 = (float)(r[1] >> 8) * (1.0f / 16777216.0f);\n"
    "  float m = sqrtf(-2.0f * logf(u1));\n"
    "  *z0 = m * cospif(2.0f * u2); *z1 = m * sinpif(2.0f * u2);\n"
    "}\n"
    "__device__ __forceinline__ u16 f2bf(float f) {\n"
    "  u32 u = __float_as_uint(f); u += 0x7fffu + ((u >> 16) & 1u); return (u16)(u >> 16);\n"
    "}\n"
    "__device__ __forceinline__ u16 f2h(float f) {\n"
    "  u16 h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h;\n"
    "}\n"
    "__device__ __forceinline__ u8 f2e4m3(float f) {\n"
    "  u16 h; asm(\"cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;\" : \"=h\"(h) : \"f\"(0.0f), \"f\"(f));\n"
    "  return (u8)(h & 0xff);\n"
    "}\n"
    "__device__ __forceinline__ u8 f2e5m2(float f) {\n"
    "  u16 h; asm(\"cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;\" : \"=h\"(h) : \"f\"(0.0f), \"f\"(f));\n"
    "  return (u8)(h & 0xff);\n"
    "}\n"
    "__device__ __forceinline__ u8 f2e2m1(float f) {\n"
    "  u8 s = f < 0.0f ? 8 : 0; float a = fabsf(f); u8 c;\n"
    "  if (a <= 0.25f) c = 0; else if (a < 0.75f) c = 1; else if (a <= 1.25f) c = 2;\n"
    "  else if (a < 1.75f) c = 3; else if (a <= 2.5f) c = 4; else if (a < 3.5f) c = 5;\n"
    "  else if (a <= 5.0f) c = 6; else c = 7;\n"
    "  return s | c;\n"
    "}\n"
    "__device__ __forceinline__ float clamp2(float z) { return fminf(2.0f, fmaxf(-2.0f, z)); }\n"
    "extern \"C\" __global__ void kf_fill_random(void *p, u64 n, int dt, u64 seed) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x;\n"
    "  u64 cnt = dt == DT_F4 ? (n + 1) / 2 : n;\n"
    "  for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < cnt; i += stride) {\n"
    "    u32 r[4]; float z0, z1; rnd(seed, i, 0, r); normal2(r, &z0, &z1);\n"
    "    switch (dt) {\n"
    "    case DT_F32: ((float *)p)[i] = z0; break;\n"
    "    case DT_F16: ((u16 *)p)[i] = f2h(z0); break;\n"
    "    case DT_BF16: ((u16 *)p)[i] = f2bf(z0); break;\n"
    "    case DT_E4M3: ((u8 *)p)[i] = f2e4m3(clamp2(z0)); break;\n"
    "    case DT_E5M2: ((u8 *)p)[i] = f2e5m2(clamp2(z0)); break;\n"
    "    case DT_F4: { u8 lo = f2e2m1(clamp2(z0)), hi = (2 * i + 1 < n) ? f2e2m1(clamp2(z1)) : 0;\n"
    "      ((u8 *)p)[i] = (u8)(lo | (hi << 4)); break; }\n"
    "    case DT_I64: ((long long *)p)[i] = (long long)(r[2] % 2048u) - 1024; break;\n"
    "    case DT_I32: ((int *)p)[i] = (int)(r[2] % 2048u) - 1024; break;\n"
    "    case DT_I16: ((short *)p)[i] = (short)((int)(r[2] % 2048u) - 1024); break;\n"
    "    case DT_I8: ((signed char *)p)[i] = (signed char)((int)(r[2] & 255u) - 128); break;\n"
    "    case DT_BOOL: ((u8 *)p)[i] = (u8)(r[2] & 1u); break;\n"
    "    default: break;\n"
    "    }\n"
    "  }\n"
    "}\n"
    /* deep_gemm's page-packed index key cache: per page, page_size*128 fp8
     * values then page_size float32 scales. */
    "extern \"C\" __global__ void kf_fill_kcache(u8 *p, u64 npages, u64 seed) {\n"
    "  const u64 PS = 64, D = 128, PAGE = PS * (D + 4);\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x, total = npages * PS * D;\n"
    "  for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {\n"
    "    u64 pg = i / (PS * D), off = i % (PS * D);\n"
    "    u32 r[4]; float z0, z1; rnd(seed, i, 1, r); normal2(r, &z0, &z1);\n"
    "    p[pg * PAGE + off] = f2e4m3(clamp2(z0));\n"
    "    if (off < PS) {\n"
    "      u32 s[4]; rnd(seed, pg * PS + off, 2, s);\n"
    "      float sc = 0.005f + 0.015f * ((float)(s[0] >> 8) * (1.0f / 16777216.0f));\n"
    "      ((float *)(p + pg * PAGE + PS * D))[off] = sc;\n"
    "    }\n"
    "  }\n"
    "}\n"
    "__device__ __forceinline__ u64 mix64(u64 z) {\n"
    "  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;\n"
    "  return z ^ (z >> 31);\n"
    "}\n"
    "extern \"C\" __global__ void kf_checksum(const u8 *p, u64 nbytes, u64 *out) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x, nw = (nbytes + 7) / 8, acc = 0;\n"
    "  for (u64 w = (u64)blockIdx.x * blockDim.x + threadIdx.x; w < nw; w += stride) {\n"
    "    u64 v = 0;\n"
    "    if (w * 8 + 8 <= nbytes && (((u64)p) & 7) == 0) v = ((const u64 *)p)[w];\n"
    "    else for (u64 b = 0; b < 8 && w * 8 + b < nbytes; b++) v |= (u64)p[w * 8 + b] << (8 * b);\n"
    "    acc += mix64(v ^ mix64(w + 0x9E3779B97F4A7C15ull));\n"
    "  }\n"
    "  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);\n"
    "  if ((threadIdx.x & 31) == 0) atomicAdd(out, acc);\n"
    "}\n"
    /* L2 flushes (timing.c picks one). kf_l2_fill writes the flush buffer:
     * write-allocate evicts every other line, but leaves L2 full of dirty
     * lines that a memory-bound timed run would pay to write back.
     * kf_l2_discard then drops the buffer's lines without writing them back
     * (discard.global.L2, sm_80+): L2 ends clean and cold, as after Nsight
     * Compute's --cache-control all. kf_l2_sweep reads the buffer instead
     * (clean, but the replacement policy may keep hot lines of the timed
     * run). The conditional store keeps the loads alive; it never fires. */
    "extern \"C\" __global__ void kf_l2_fill(u64 *p, u64 nw, u64 v) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x;\n"
    "  for (u64 w = (u64)blockIdx.x * blockDim.x + threadIdx.x; w < nw; w += stride) p[w] = v ^ w;\n"
    "}\n"
    "extern \"C\" __global__ void kf_l2_discard(const u8 *p, u64 nlines) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x;\n"
    "  for (u64 l = (u64)blockIdx.x * blockDim.x + threadIdx.x; l < nlines; l += stride)\n"
    "    asm volatile(\"discard.global.L2 [%0], 128;\" :: \"l\"(p + l * 128) : \"memory\");\n"
    "}\n"
    "extern \"C\" __global__ void kf_l2_sweep(const u64 *p, u64 nw, u64 *sink) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x, acc = 0;\n"
    "  for (u64 w = (u64)blockIdx.x * blockDim.x + threadIdx.x; w < nw; w += stride)\n"
    "    acc ^= __ldcg(p + w);\n"
    "  if (acc == 0x0123456789abcdefull && nw == 0) *sink = acc;\n"
    "}\n";

const char *ev_builtin_source(void)
{
    static char src[sizeof body + 512];
    if (!src[0])
        snprintf(src, sizeof src,
                 "#define DT_F32 %d\n#define DT_F16 %d\n#define DT_BF16 %d\n#define DT_E4M3 %d\n"
                 "#define DT_E5M2 %d\n#define DT_F4 %d\n#define DT_I64 %d\n#define DT_I32 %d\n"
                 "#define DT_I16 %d\n#define DT_I8 %d\n#define DT_BOOL %d\n%s",
                 KF_DT_F32, KF_DT_F16, KF_DT_BF16, KF_DT_F8E4M3, KF_DT_F8E5M2, KF_DT_F4E2M1,
                 KF_DT_I64, KF_DT_I32, KF_DT_I16, KF_DT_I8, KF_DT_BOOL, body);
    return src;
}
