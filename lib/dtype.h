/* dtype.h: the FlashInfer-Trace dtypes, their sizes, safetensors names and
 * scalar conversions (bf16, fp16, fp8 e4m3fn/e5m2, fp4 e2m1 <-> float).
 * Pure functions; thread-safe.
 */
#ifndef KF_DTYPE_H
#define KF_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum kf_dtype {
    KF_DT_INVALID = 0,
    KF_DT_F32, KF_DT_F16, KF_DT_BF16,
    KF_DT_F8E4M3, KF_DT_F8E5M2, KF_DT_F4E2M1,
    KF_DT_I64, KF_DT_I32, KF_DT_I16, KF_DT_I8, KF_DT_BOOL,
    KF_DT_COUNT
};

/* "float32", "bfloat16", "float8_e4m3fn", ... <-> enum. KF_DT_INVALID if unknown. */
enum kf_dtype kf_dtype_from_name(const char *name);
const char *kf_dtype_name(enum kf_dtype dt);
/* safetensors names: "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F4" (packed
 * e2m1, two per byte), "I64", "I32", "I16", "I8", "BOOL"; "U8" is accepted on
 * read as int8 bytes. */
enum kf_dtype kf_dtype_from_st_name(const char *name);
const char *kf_dtype_st_name(enum kf_dtype dt);

unsigned kf_dtype_bits(enum kf_dtype dt);          /* 4 for fp4, 8 for int8, ... */
/* Bytes for numel elements (fp4 packs two per byte, rounded up); SIZE_MAX
 * if that overflows. */
size_t kf_dtype_nbytes(enum kf_dtype dt, int64_t numel);
int kf_dtype_is_float(enum kf_dtype dt);

float kf_bf16_to_f32(uint16_t v);
uint16_t kf_f32_to_bf16(float f);          /* round to nearest even; NaN kept */
float kf_f16_to_f32(uint16_t v);
uint16_t kf_f32_to_f16(float f);
float kf_e4m3_to_f32(uint8_t v);           /* e4m3fn: no inf, 0x7f/0xff NaN, max 448 */
uint8_t kf_f32_to_e4m3(float f);           /* saturating to +-448 */
float kf_e5m2_to_f32(uint8_t v);
uint8_t kf_f32_to_e5m2(float f);
float kf_e2m1_to_f32(uint8_t nibble);      /* low 4 bits */
uint8_t kf_f32_to_e2m1(float f);

/* Element idx of a buffer of dtype dt as double (fp4: nibble idx of packed
 * bytes, low nibble first). */
double kf_dtype_load(enum kf_dtype dt, const void *base, size_t idx);
/* Store v (converted, saturating for low-bit floats, truncating for ints). */
void kf_dtype_store(enum kf_dtype dt, void *base, size_t idx, double v);

#endif
