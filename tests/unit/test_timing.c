/* test_timing.c: the parts of worker/timing.c that need no GPU: the L2
 * flush mode chosen from KF_L2_FLUSH (read once per process; Check's fork
 * mode gives every test a fresh process). */
#include <stdlib.h>

#include "kf_check.h"
#include "timing.h"

START_TEST(test_flush_default)
{
    unsetenv("KF_L2_FLUSH");
    ck_assert_str_eq(ev_l2_flush_mode(), "discard");
}
END_TEST

START_TEST(test_flush_named)
{
    static const char *const names[] = {"discard", "read", "write"};
    setenv("KF_L2_FLUSH", names[_i], 1);
    ck_assert_str_eq(ev_l2_flush_mode(), names[_i]);
    setenv("KF_L2_FLUSH", "write", 1);   /* read once: a later change is not seen */
    ck_assert_str_eq(ev_l2_flush_mode(), names[_i]);
}
END_TEST

START_TEST(test_flush_unknown)
{
    setenv("KF_L2_FLUSH", "memset", 1);
    ck_assert_str_eq(ev_l2_flush_mode(), "discard");
    setenv("KF_L2_FLUSH", "", 1);
    ck_assert_str_eq(ev_l2_flush_mode(), "discard");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("timing");
    TCase *tc = tcase_create("l2_flush_mode");
    tcase_add_test(tc, test_flush_default);
    tcase_add_loop_test(tc, test_flush_named, 0, 3);
    tcase_add_test(tc, test_flush_unknown);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
