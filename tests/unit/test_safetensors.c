/* test_safetensors.c: safetensors writer/reader round trip, header checks
 * (bounds, overlap, size mismatch, bad dtype) and kf_st_check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf_check.h"
#include "safetensors.h"

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kf_st_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

/* Write a raw safetensors file with the given header and data bytes. */
static void write_raw(const char *path, const char *hdr, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    uint64_t len = strlen(hdr);
    uint8_t lb[8];
    for (int i = 0; i < 8; i++)
        lb[i] = (uint8_t)(len >> (8 * i));
    ck_assert_ptr_nonnull(f);
    fwrite(lb, 1, 8, f);
    fwrite(hdr, 1, len, f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

START_TEST(test_roundtrip)
{
    char path[128];
    struct kf_st_writer *w = kf_st_writer_new();
    struct kf_safetensors *st = NULL;
    struct kf_err err;
    int32_t idx[6] = {0, 5, -1, 7, 9, -1};
    uint16_t bf[4] = {0x3f80, 0x4000, 0xbf80, 0};
    uint8_t f8[3] = {0x38, 0x7e, 0x01};
    int64_t s1[2] = {2, 3}, s2[1] = {4}, s3[1] = {3};
    const struct kf_st_tensor *t;
    struct kf_shape sh = {.ndim = 2, .dims = {2, 3}, .numel = 6, .nbytes = 24};

    snprintf(path, sizeof path, "%s/a.safetensors", tmpdir);
    kf_st_writer_add(w, "idx", KF_DT_I32, 2, s1, idx, sizeof idx);
    kf_st_writer_add(w, "bias", KF_DT_BF16, 1, s2, bf, sizeof bf);
    kf_st_writer_add(w, "q", KF_DT_F8E4M3, 1, s3, f8, sizeof f8);
    kf_st_writer_add(w, "scalar0d", KF_DT_F32, 0, NULL, &(float){2.5f}, 4);
    ck_assert_int_eq(kf_st_writer_save(w, path, &err), 0);
    kf_st_writer_free(w);

    ck_assert_int_eq(kf_st_read(path, 0, &st, &err), 0);
    ck_assert_int_eq(st->ntensors, 4);
    t = kf_st_find(st, "idx");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, KF_DT_I32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(memcmp(kf_st_data(st, t), idx, sizeof idx), 0);
    ck_assert_int_eq(kf_st_check(t, KF_DT_I32, &sh, &err), 0);
    sh.dims[1] = 4;
    ck_assert_int_eq(kf_st_check(t, KF_DT_I32, &sh, &err), KF_EINVAL);
    ck_assert_msg(strstr(err.msg, "[2, 3]") && strstr(err.msg, "[2, 4]"), "%s", err.msg);
    ck_assert_int_eq(kf_st_check(t, KF_DT_I64, &sh, &err), KF_EINVAL);
    ck_assert(strstr(err.msg, "int32") != NULL);
    t = kf_st_find(st, "bias");
    ck_assert(kf_dtype_load(t->dtype, kf_st_data(st, t), 1) == 2.0);
    t = kf_st_find(st, "q");
    ck_assert_int_eq(t->dtype, KF_DT_F8E4M3);
    ck_assert(kf_dtype_load(t->dtype, kf_st_data(st, t), 1) == 448.0);
    t = kf_st_find(st, "scalar0d");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->nbytes, 4);
    ck_assert_ptr_null(kf_st_find(st, "missing"));
    kf_st_free(st);
    /* the cap */
    ck_assert_int_eq(kf_st_read(path, 16, &st, &err), KF_ETOOBIG);
    ck_assert_ptr_null(st);
}
END_TEST

START_TEST(test_header_is_aligned)
{
    char path[128];
    struct kf_st_writer *w = kf_st_writer_new();
    struct kf_err err;
    FILE *f;
    uint8_t lb[8];
    int64_t s[1] = {1};
    snprintf(path, sizeof path, "%s/b.safetensors", tmpdir);
    kf_st_writer_add(w, "x", KF_DT_I8, 1, s, "\x05", 1);
    ck_assert_int_eq(kf_st_writer_save(w, path, &err), 0);
    kf_st_writer_free(w);
    f = fopen(path, "rb");
    ck_assert_uint_eq(fread(lb, 1, 8, f), 8);
    fclose(f);
    ck_assert_uint_eq(lb[0] % 8, 0);
}
END_TEST

START_TEST(test_writer_errors)
{
    char path[128];
    struct kf_st_writer *w = kf_st_writer_new();
    struct kf_err err;
    int64_t s[1] = {4};
    snprintf(path, sizeof path, "%s/c.safetensors", tmpdir);
    kf_st_writer_add(w, "x", KF_DT_I32, 1, s, "abcd", 4); /* needs 16 bytes */
    ck_assert_int_eq(kf_st_writer_save(w, path, &err), KF_EINVAL);
    kf_st_writer_free(w);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_malformed)
{
    static const struct { const char *hdr; size_t ndata; const char *needle; int code; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside", KF_EINVAL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "needs", KF_EINVAL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8, "overlap", KF_EINVAL},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "F64", KF_EUNSUP},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape", KF_EINVAL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "outside", KF_EINVAL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets", KF_EINVAL},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype", KF_EINVAL},
        {"[1,2]", 0, "object", KF_EINVAL},
        {"{\"a\":", 0, "JSON", KF_EINVAL},
        {"{\"__metadata__\":5}", 0, "__metadata__", KF_EINVAL},
        /* 2^61 int64 elements: the byte count overflows, must not wrap to 0 */
        {"{\"a\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}",
         0, "needs", KF_EINVAL},
    };
    uint8_t data[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        struct kf_safetensors *st = NULL;
        struct kf_err err;
        snprintf(path, sizeof path, "%s/m%zu.safetensors", tmpdir, i);
        write_raw(path, cases[i].hdr, data, cases[i].ndata);
        kf_err_clear(&err);
        ck_assert_msg(kf_st_read(path, 0, &st, &err) == cases[i].code, "case %zu: %s", i, err.msg);
        ck_assert_ptr_null(st);
        ck_assert_msg(strstr(err.msg, cases[i].needle) != NULL, "case %zu: %s", i, err.msg);
        ck_assert_str_eq(err.path, path);
    }
}
END_TEST

START_TEST(test_u8_and_f4)
{
    char path[128];
    struct kf_safetensors *st = NULL;
    struct kf_err err;
    uint8_t data[4] = {0x21, 0x07, 0xff, 0x80};
    const struct kf_st_tensor *t;
    snprintf(path, sizeof path, "%s/u8.safetensors", tmpdir);
    write_raw(path, "{\"k\":{\"dtype\":\"U8\",\"shape\":[1,2],\"data_offsets\":[0,2]},"
                    "\"f\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[2,4]}}      ",
              data, 4);
    ck_assert_msg(kf_st_read(path, 0, &st, &err) == 0, "%s", err.msg);
    t = kf_st_find(st, "k");
    ck_assert_int_eq(t->dtype, KF_DT_I8); /* U8 read as int8 bytes */
    ck_assert_uint_eq(t->nbytes, 2);
    t = kf_st_find(st, "f");
    ck_assert_int_eq(t->dtype, KF_DT_F4E2M1);
    ck_assert(kf_dtype_load(t->dtype, kf_st_data(st, t), 0) == -6.0); /* 0xff: low nibble first */
    ck_assert(kf_dtype_load(t->dtype, kf_st_data(st, t), 1) == -6.0);
    ck_assert(kf_dtype_load(t->dtype, kf_st_data(st, t), 2) == 0.0);  /* 0x80: low nibble 0 */
    kf_st_free(st);
}
END_TEST

START_TEST(test_truncated)
{
    char path[128];
    struct kf_safetensors *st = NULL;
    struct kf_err err;
    FILE *f;
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    f = fopen(path, "wb");
    fwrite("\x10\x00\x00", 1, 3, f);
    fclose(f);
    ck_assert_int_eq(kf_st_read(path, 0, &st, &err), KF_EINVAL);
    f = fopen(path, "wb");
    fwrite("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 1, 10, f); /* huge header length */
    fclose(f);
    ck_assert_int_eq(kf_st_read(path, 0, &st, &err), KF_EINVAL);
    snprintf(path, sizeof path, "%s/none.safetensors", tmpdir);
    ck_assert_int_eq(kf_st_read(path, 0, &st, &err), KF_ENOENT);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_header_is_aligned);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_u8_and_f4);
    tcase_add_test(tc, test_truncated);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
