/* test_dtype.c: dtype names, sizes and the bf16/f16/fp8/fp4 conversions
 * against known bit patterns. */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "kf_check.h"

START_TEST(test_names)
{
    ck_assert_int_eq(kf_dtype_from_name("float8_e4m3fn"), KF_DT_F8E4M3);
    ck_assert_int_eq(kf_dtype_from_name("bfloat16"), KF_DT_BF16);
    ck_assert_int_eq(kf_dtype_from_name("bool"), KF_DT_BOOL);
    ck_assert_int_eq(kf_dtype_from_name("float64"), KF_DT_INVALID);
    ck_assert_int_eq(kf_dtype_from_name(NULL), KF_DT_INVALID);
    ck_assert_str_eq(kf_dtype_name(KF_DT_F4E2M1), "float4_e2m1");
    ck_assert_int_eq(kf_dtype_from_st_name("F8_E4M3"), KF_DT_F8E4M3);
    ck_assert_int_eq(kf_dtype_from_st_name("U8"), KF_DT_I8);
    ck_assert_int_eq(kf_dtype_from_st_name("F64"), KF_DT_INVALID);
    ck_assert_str_eq(kf_dtype_st_name(KF_DT_BF16), "BF16");
    for (int i = 1; i < KF_DT_COUNT; i++) {
        ck_assert_int_eq(kf_dtype_from_name(kf_dtype_name((enum kf_dtype)i)), i);
        ck_assert_int_eq(kf_dtype_from_st_name(kf_dtype_st_name((enum kf_dtype)i)), i);
    }
}
END_TEST

START_TEST(test_sizes)
{
    ck_assert_uint_eq(kf_dtype_bits(KF_DT_F4E2M1), 4);
    ck_assert_uint_eq(kf_dtype_nbytes(KF_DT_F4E2M1, 3), 2);
    ck_assert_uint_eq(kf_dtype_nbytes(KF_DT_F4E2M1, 4), 2);
    ck_assert_uint_eq(kf_dtype_nbytes(KF_DT_I64, 5), 40);
    ck_assert_uint_eq(kf_dtype_nbytes(KF_DT_BOOL, 5), 5);
    ck_assert_uint_eq(kf_dtype_nbytes(KF_DT_F32, 0), 0);
    ck_assert(kf_dtype_is_float(KF_DT_F8E5M2));
    ck_assert(!kf_dtype_is_float(KF_DT_I8));
}
END_TEST

START_TEST(test_bf16)
{
    ck_assert_uint_eq(kf_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(kf_f32_to_bf16(-2.0f), 0xc000);
    ck_assert_uint_eq(kf_f32_to_bf16(1.00390625f), 0x3f80); /* tie -> even */
    ck_assert_uint_eq(kf_f32_to_bf16(1.01171875f), 0x3f82); /* tie -> even (up) */
    ck_assert_uint_eq(kf_f32_to_bf16(3.14159265f), 0x4049);
    ck_assert(isnan(kf_bf16_to_f32(kf_f32_to_bf16(NAN))));
    ck_assert(isinf(kf_bf16_to_f32(kf_f32_to_bf16(INFINITY))));
    ck_assert(kf_bf16_to_f32(0x4049) == 3.140625f);
}
END_TEST

START_TEST(test_f16)
{
    ck_assert_uint_eq(kf_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(kf_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(kf_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    ck_assert_uint_eq(kf_f32_to_f16(5.9604645e-8f), 0x0001);
    ck_assert_uint_eq(kf_f32_to_f16(0.1f), 0x2e66);
    ck_assert_uint_eq(kf_f32_to_f16(-0.0f), 0x8000);
    ck_assert(kf_f16_to_f32(0x3555) == 0.33325195f);
    ck_assert(isnan(kf_f16_to_f32(0x7e00)));
    for (uint32_t c = 0; c < 0x10000; c++) {
        float f = kf_f16_to_f32((uint16_t)c);
        if (isnan(f))
            continue;
        ck_assert_uint_eq(kf_f32_to_f16(f), c);
    }
}
END_TEST

START_TEST(test_e4m3)
{
    ck_assert(kf_e4m3_to_f32(0x38) == 1.0f);
    ck_assert(kf_e4m3_to_f32(0xb8) == -1.0f);
    ck_assert(kf_e4m3_to_f32(0x7e) == 448.0f);
    ck_assert(kf_e4m3_to_f32(0x01) == 0.001953125f);
    ck_assert(kf_e4m3_to_f32(0x08) == 0.015625f);
    ck_assert(isnan(kf_e4m3_to_f32(0x7f)));
    ck_assert(isnan(kf_e4m3_to_f32(0xff)));
    ck_assert_uint_eq(kf_f32_to_e4m3(1000.0f), 0x7e);  /* saturating */
    ck_assert_uint_eq(kf_f32_to_e4m3(-1000.0f), 0xfe);
    ck_assert_uint_eq(kf_f32_to_e4m3(INFINITY), 0x7e);
    ck_assert_uint_eq(kf_f32_to_e4m3(0.1f), 0x1d);
    ck_assert_uint_eq(kf_f32_to_e4m3(NAN), 0x7f);
    ck_assert_uint_eq(kf_f32_to_e4m3(2.0f), 0x40);
    ck_assert_uint_eq(kf_f32_to_e4m3(-2.0f), 0xc0);
    ck_assert_uint_eq(kf_f32_to_e4m3(1.0625f), 0x38); /* tie -> even */
    ck_assert_uint_eq(kf_f32_to_e4m3(1.1875f), 0x3a); /* tie -> even (up) */
    for (uint32_t c = 0; c < 256; c++) {
        float f = kf_e4m3_to_f32((uint8_t)c);
        if (isnan(f))
            continue;
        ck_assert_uint_eq(kf_f32_to_e4m3(f), c);
    }
}
END_TEST

START_TEST(test_e5m2)
{
    ck_assert(kf_e5m2_to_f32(0x3c) == 1.0f);
    ck_assert(kf_e5m2_to_f32(0x7b) == 57344.0f);
    ck_assert(isinf(kf_e5m2_to_f32(0x7c)));
    ck_assert(isnan(kf_e5m2_to_f32(0x7f)));
    ck_assert(kf_e5m2_to_f32(0x01) == ldexpf(1.0f, -16));
    ck_assert_uint_eq(kf_f32_to_e5m2(1e6f), 0x7b);
    ck_assert_uint_eq(kf_f32_to_e5m2(-1.5f), 0xbe);
    for (uint32_t c = 0; c < 256; c++) {
        float f = kf_e5m2_to_f32((uint8_t)c);
        if (isnan(f))
            continue;
        ck_assert_uint_eq(kf_f32_to_e5m2(f), c);
    }
}
END_TEST

START_TEST(test_e2m1)
{
    static const float vals[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (int c = 0; c < 8; c++) {
        ck_assert(kf_e2m1_to_f32((uint8_t)c) == vals[c]);
        ck_assert(kf_e2m1_to_f32((uint8_t)(c | 8)) == -vals[c]);
        ck_assert_uint_eq(kf_f32_to_e2m1(vals[c]), c);
    }
    ck_assert_uint_eq(kf_f32_to_e2m1(5.0f), 6);   /* tie -> even: 4 */
    ck_assert_uint_eq(kf_f32_to_e2m1(2.5f), 4);   /* tie -> even: 2 */
    ck_assert_uint_eq(kf_f32_to_e2m1(100.0f), 7); /* saturating */
    ck_assert_uint_eq(kf_f32_to_e2m1(-100.0f), 15);
    ck_assert_uint_eq(kf_f32_to_e2m1(0.25f), 0);
}
END_TEST

START_TEST(test_load_store)
{
    uint8_t buf[16];
    memset(buf, 0, sizeof buf);
    kf_dtype_store(KF_DT_F4E2M1, buf, 0, 1.0);
    kf_dtype_store(KF_DT_F4E2M1, buf, 1, -6.0);
    ck_assert_uint_eq(buf[0], 0xf2);
    ck_assert(kf_dtype_load(KF_DT_F4E2M1, buf, 1) == -6.0);
    kf_dtype_store(KF_DT_I8, buf, 3, 300.0);
    ck_assert(kf_dtype_load(KF_DT_I8, buf, 3) == 127.0);
    kf_dtype_store(KF_DT_I32, buf, 1, -7.9);
    ck_assert(kf_dtype_load(KF_DT_I32, buf, 1) == -7.0);
    kf_dtype_store(KF_DT_I64, buf, 1, 1e30);
    ck_assert(kf_dtype_load(KF_DT_I64, buf, 1) > 9e18);
    kf_dtype_store(KF_DT_BF16, buf, 2, 2.0);
    ck_assert(kf_dtype_load(KF_DT_BF16, buf, 2) == 2.0);
    kf_dtype_store(KF_DT_F8E4M3, buf, 5, 448.0);
    ck_assert_uint_eq(buf[5], 0x7e);
    kf_dtype_store(KF_DT_BOOL, buf, 6, 0.5);
    ck_assert(kf_dtype_load(KF_DT_BOOL, buf, 6) == 1.0);
    kf_dtype_store(KF_DT_F32, buf, 2, 0.25);
    ck_assert(kf_dtype_load(KF_DT_F32, buf, 2) == 0.25);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_f16);
    tcase_add_test(tc, test_e4m3);
    tcase_add_test(tc, test_e5m2);
    tcase_add_test(tc, test_e2m1);
    tcase_add_test(tc, test_load_store);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
