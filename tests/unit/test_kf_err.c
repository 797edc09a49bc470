/* test_kf_err.c: error records and path prefixing. */
#include <string.h>

#include "kf_check.h"
#include "kf_err.h"

START_TEST(test_set_and_prefix)
{
    struct kf_err e;
    ck_assert_int_eq(kf_err_set(&e, KF_EINVAL, "grid[1]", "bad %s", "axis"), KF_EINVAL);
    ck_assert_str_eq(e.msg, "bad axis");
    kf_err_prefix(&e, "launch[0]");
    ck_assert_str_eq(e.path, "launch[0].grid[1]");
    kf_err_prefix(&e, "spec");
    ck_assert_str_eq(e.path, "spec.launch[0].grid[1]");
    kf_err_set(&e, KF_EINVAL, "[2]", "x");
    kf_err_prefix(&e, "tags");
    ck_assert_str_eq(e.path, "tags[2]");
    kf_err_set(&e, KF_EINVAL, "$", "x");
    kf_err_prefix(&e, "spec");
    ck_assert_str_eq(e.path, "spec");
}
END_TEST

START_TEST(test_null_err_and_names)
{
    ck_assert_int_eq(kf_err_set(NULL, KF_ENOENT, NULL, "x"), KF_ENOENT);
    ck_assert_str_eq(kf_strerror(KF_ETOOBIG), "too_large");
    ck_assert_str_eq(kf_strerror(KF_EINVAL), "invalid");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kf_err");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_set_and_prefix);
    tcase_add_test(tc, test_null_err_and_names);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
