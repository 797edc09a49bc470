/* dtype.c: FlashInfer-Trace dtypes, sizes, names and scalar conversions
 * (see dtype.h). The low-bit float encoders share one exact minifloat
 * rounder (round to nearest, ties to even). Pure functions; thread-safe.
 */
#include "dtype.h"

#include <math.h>
#include <string.h>

struct dt_info {
    const char *name;
    const char *st_name;
    unsigned bits;
    int is_float;
};

static const struct dt_info dt_table[KF_DT_COUNT] = {
    [KF_DT_INVALID] = {"invalid", "INVALID", 0, 0},
    [KF_DT_F32] = {"float32", "F32", 32, 1},
    [KF_DT_F16] = {"float16", "F16", 16, 1},
    [KF_DT_BF16] = {"bfloat16", "BF16", 16, 1},
    [KF_DT_F8E4M3] = {"float8_e4m3fn", "F8_E4M3", 8, 1},
    [KF_DT_F8E5M2] = {"float8_e5m2", "F8_E5M2", 8, 1},
    [KF_DT_F4E2M1] = {"float4_e2m1", "F4", 4, 1},
    [KF_DT_I64] = {"int64", "I64", 64, 0},
    [KF_DT_I32] = {"int32", "I32", 32, 0},
    [KF_DT_I16] = {"int16", "I16", 16, 0},
    [KF_DT_I8] = {"int8", "I8", 8, 0},
    [KF_DT_BOOL] = {"bool", "BOOL", 8, 0},
};

enum kf_dtype kf_dtype_from_name(const char *name)
{
    if (!name)
        return KF_DT_INVALID;
    for (int i = 1; i < KF_DT_COUNT; i++)
        if (strcmp(dt_table[i].name, name) == 0)
            return (enum kf_dtype)i;
    return KF_DT_INVALID;
}

const char *kf_dtype_name(enum kf_dtype dt)
{
    if ((int)dt <= 0 || dt >= KF_DT_COUNT)
        return "invalid";
    return dt_table[dt].name;
}

enum kf_dtype kf_dtype_from_st_name(const char *name)
{
    if (!name)
        return KF_DT_INVALID;
    if (strcmp(name, "U8") == 0)
        return KF_DT_I8;
    for (int i = 1; i < KF_DT_COUNT; i++)
        if (strcmp(dt_table[i].st_name, name) == 0)
            return (enum kf_dtype)i;
    return KF_DT_INVALID;
}

const char *kf_dtype_st_name(enum kf_dtype dt)
{
    if ((int)dt <= 0 || dt >= KF_DT_COUNT)
        return "INVALID";
    return dt_table[dt].st_name;
}

unsigned kf_dtype_bits(enum kf_dtype dt)
{
    if ((int)dt <= 0 || dt >= KF_DT_COUNT)
        return 0;
    return dt_table[dt].bits;
}

size_t kf_dtype_nbytes(enum kf_dtype dt, int64_t numel)
{
    unsigned bits = kf_dtype_bits(dt);
    if (numel <= 0 || !bits)
        return 0;
    if (bits == 4)
        return (size_t)(numel / 2 + (numel & 1));
    if ((uint64_t)numel > SIZE_MAX / (bits / 8))
        return SIZE_MAX; /* saturate: never matches a real buffer size */
    return (size_t)numel * (bits / 8);
}

int kf_dtype_is_float(enum kf_dtype dt)
{
    if ((int)dt <= 0 || dt >= KF_DT_COUNT)
        return 0;
    return dt_table[dt].is_float;
}

/* ---- bit casts ----------------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- generic minifloat ----------------------------------------------------
 * Layout: sign | ebits exponent | mbits mantissa, exponent bias `bias`.
 * Exponent field 0 is subnormal. Formats with IEEE inf/NaN (f16, e5m2) use
 * the all-ones exponent for them; e4m3fn has NaN only at S.1111.111, e2m1
 * has neither. */
struct mf_fmt {
    int ebits, mbits, bias;
    double maxval;       /* largest finite value */
    int ieee_special;    /* all-ones exponent is inf/NaN */
    int saturate;        /* finite overflow -> maxval (else inf) */
    uint32_t nan_code;   /* code for NaN (without sign) */
    uint32_t max_code;   /* code for maxval (without sign) */
};

static const struct mf_fmt fmt_f16 = {5, 10, 15, 65504.0, 1, 0, 0x7e00, 0x7bff};
static const struct mf_fmt fmt_e4m3 = {4, 3, 7, 448.0, 0, 1, 0x7f, 0x7e};
static const struct mf_fmt fmt_e5m2 = {5, 2, 15, 57344.0, 1, 1, 0x7f, 0x7b};
static const struct mf_fmt fmt_e2m1 = {2, 1, 1, 6.0, 0, 1, 0x0, 0x7};

static uint32_t mf_encode(const struct mf_fmt *fm, double f)
{
    uint32_t sign = 0, inf_code = ((1u << fm->ebits) - 1) << fm->mbits;
    double a, quantum, q;
    int e, min_e = 1 - fm->bias;

    if (isnan(f))
        return fm->nan_code;
    if (signbit(f)) {
        sign = 1u << (fm->ebits + fm->mbits);
        a = -f;
    } else {
        a = f;
    }
    if (isinf(a)) {
        if (fm->ieee_special)
            return sign | inf_code;
        return sign | fm->max_code;
    }
    if (a == 0.0)
        return sign;
    (void)frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    e -= 1;             /* a in [2^e, 2^(e+1)) */
    if (e < min_e)
        e = min_e;
    quantum = ldexp(1.0, e - fm->mbits);
    q = nearbyint(a / quantum); /* exact scaling; ties to even */
    if (q >= ldexp(1.0, fm->mbits + 1)) {
        q /= 2;
        e += 1;
    }
    if (q == 0)
        return sign;
    if (ldexp(q, e - fm->mbits) > fm->maxval) {
        if (fm->saturate || !fm->ieee_special)
            return sign | fm->max_code;
        return sign | inf_code;
    }
    if (e == min_e && q < ldexp(1.0, fm->mbits))
        return sign | (uint32_t)q; /* subnormal */
    return sign | ((uint32_t)(e + fm->bias) << fm->mbits) | ((uint32_t)q - (1u << fm->mbits));
}

static double mf_decode(const struct mf_fmt *fm, uint32_t code)
{
    uint32_t mmask = (1u << fm->mbits) - 1, emask = (1u << fm->ebits) - 1;
    uint32_t mant = code & mmask, ex = (code >> fm->mbits) & emask;
    int neg = (code >> (fm->ebits + fm->mbits)) & 1;
    double v;

    if (fm->ieee_special && ex == emask)
        v = mant ? NAN : INFINITY;
    else if (!fm->ieee_special && fm->nan_code &&
             (code & ~(1u << (fm->ebits + fm->mbits))) == fm->nan_code)
        v = NAN;
    else if (ex == 0)
        v = ldexp((double)mant, 1 - fm->bias - fm->mbits);
    else
        v = ldexp((double)(mant | (1u << fm->mbits)), (int)ex - fm->bias - fm->mbits);
    return neg ? -v : v;
}

/* ---- public conversions ---------------------------------------------------- */

float kf_bf16_to_f32(uint16_t v)
{
    return bits_f32((uint32_t)v << 16);
}

uint16_t kf_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign, force quiet */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float kf_f16_to_f32(uint16_t v)
{
    return (float)mf_decode(&fmt_f16, v);
}

uint16_t kf_f32_to_f16(float f)
{
    return (uint16_t)mf_encode(&fmt_f16, f);
}

float kf_e4m3_to_f32(uint8_t v)
{
    return (float)mf_decode(&fmt_e4m3, v);
}

uint8_t kf_f32_to_e4m3(float f)
{
    return (uint8_t)mf_encode(&fmt_e4m3, f);
}

float kf_e5m2_to_f32(uint8_t v)
{
    return (float)mf_decode(&fmt_e5m2, v);
}

uint8_t kf_f32_to_e5m2(float f)
{
    return (uint8_t)mf_encode(&fmt_e5m2, f);
}

float kf_e2m1_to_f32(uint8_t nibble)
{
    return (float)mf_decode(&fmt_e2m1, nibble & 0xf);
}

uint8_t kf_f32_to_e2m1(float f)
{
    return (uint8_t)mf_encode(&fmt_e2m1, f); /* NaN -> +0: e2m1 has no NaN */
}

/* ---- element access -------------------------------------------------------- */

double kf_dtype_load(enum kf_dtype dt, const void *base, size_t idx)
{
    const uint8_t *p = base;
    switch (dt) {
    case KF_DT_F32: { float v; memcpy(&v, p + idx * 4, 4); return v; }
    case KF_DT_F16: { uint16_t v; memcpy(&v, p + idx * 2, 2); return kf_f16_to_f32(v); }
    case KF_DT_BF16: { uint16_t v; memcpy(&v, p + idx * 2, 2); return kf_bf16_to_f32(v); }
    case KF_DT_F8E4M3: return kf_e4m3_to_f32(p[idx]);
    case KF_DT_F8E5M2: return kf_e5m2_to_f32(p[idx]);
    case KF_DT_F4E2M1: return kf_e2m1_to_f32((uint8_t)(p[idx / 2] >> ((idx & 1) * 4)));
    case KF_DT_I64: { int64_t v; memcpy(&v, p + idx * 8, 8); return (double)v; }
    case KF_DT_I32: { int32_t v; memcpy(&v, p + idx * 4, 4); return v; }
    case KF_DT_I16: { int16_t v; memcpy(&v, p + idx * 2, 2); return v; }
    case KF_DT_I8: return (int8_t)p[idx];
    case KF_DT_BOOL: return p[idx] ? 1.0 : 0.0;
    default: return NAN;
    }
}

/* Truncate toward zero and clamp into [lo, hi]; NaN -> 0. */
static int64_t to_int(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = trunc(v);
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return (int64_t)v;
}

void kf_dtype_store(enum kf_dtype dt, void *base, size_t idx, double v)
{
    uint8_t *p = base;
    switch (dt) {
    case KF_DT_F32: { float f = (float)v; memcpy(p + idx * 4, &f, 4); break; }
    case KF_DT_F16: { uint16_t h = kf_f32_to_f16((float)v); memcpy(p + idx * 2, &h, 2); break; }
    case KF_DT_BF16: { uint16_t h = kf_f32_to_bf16((float)v); memcpy(p + idx * 2, &h, 2); break; }
    case KF_DT_F8E4M3: p[idx] = (uint8_t)mf_encode(&fmt_e4m3, v); break;
    case KF_DT_F8E5M2: p[idx] = (uint8_t)mf_encode(&fmt_e5m2, v); break;
    case KF_DT_F4E2M1: {
        uint8_t nib = (uint8_t)mf_encode(&fmt_e2m1, v) & 0xf;
        int sh = (int)(idx & 1) * 4;
        p[idx / 2] = (uint8_t)((p[idx / 2] & ~(0xf << sh)) | (nib << sh));
        break;
    }
    case KF_DT_I64: {
        /* 2^63 is not representable as int64: clamp just inside. */
        int64_t x = to_int(v, -9223372036854775808.0, 9223372036854774784.0);
        memcpy(p + idx * 8, &x, 8);
        break;
    }
    case KF_DT_I32: { int32_t x = (int32_t)to_int(v, INT32_MIN, INT32_MAX); memcpy(p + idx * 4, &x, 4); break; }
    case KF_DT_I16: { int16_t x = (int16_t)to_int(v, INT16_MIN, INT16_MAX); memcpy(p + idx * 2, &x, 2); break; }
    case KF_DT_I8: p[idx] = (uint8_t)(int8_t)to_int(v, INT8_MIN, INT8_MAX); break;
    case KF_DT_BOOL: p[idx] = (v != 0.0 && !isnan(v)) ? 1 : 0; break;
    default: break;
    }
}
