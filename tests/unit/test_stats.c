/* test_stats.c: timing statistics of worker/stats.c (n, min, median, mean,
 * sample stdev, p20/p80 by linear interpolation like numpy). */
#include <math.h>

#include "kf_check.h"
#include "stats.h"

#define NEAR(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-9, "%.12g != %.12g", (double)(a), (double)(b))

START_TEST(test_basic)
{
    double x[5] = {5, 1, 4, 2, 3};
    struct ev_stats s;
    ev_stats_compute(x, 5, &s);
    ck_assert_int_eq(s.n, 5);
    NEAR(s.min, 1);
    NEAR(s.max, 5);
    NEAR(s.median, 3);
    NEAR(s.mean, 3);
    NEAR(s.stdev, sqrt(2.5));
    NEAR(s.p20, 1.8);   /* numpy.percentile([1..5], 20) */
    NEAR(s.p80, 4.2);
    NEAR(x[0], 5);      /* input untouched */
}
END_TEST

START_TEST(test_even_and_single)
{
    double x[4] = {4, 1, 3, 2}, y[1] = {7};
    struct ev_stats s;
    ev_stats_compute(x, 4, &s);
    NEAR(s.median, 2.5);
    NEAR(s.p20, 1.6);
    ev_stats_compute(y, 1, &s);
    NEAR(s.median, 7);
    NEAR(s.stdev, 0);
    NEAR(s.p80, 7);
    ev_stats_compute(y, 0, &s);
    ck_assert_int_eq(s.n, 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_even_and_single);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
