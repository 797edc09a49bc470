/* test_synth.c: unit tests for lib/synth.c, the generators behind kf synth:
 * stream determinism and independence, unbiased ranges, unique picks,
 * cu_seqlens partitions, unit bf16 vectors, paged slot rows and block
 * tables that agree with their sequence lengths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "kf_check.h"
#include "synth.h"

START_TEST(test_stream_deterministic)
{
    struct kf_synth_rng a, b, c, d;
    kf_synth_rng_init(&a, 1, "tag", 5);
    kf_synth_rng_init(&b, 1, "tag", 5);
    kf_synth_rng_init(&c, 1, "tag", 6);
    kf_synth_rng_init(&d, 2, "tag", 5);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = kf_synth_next(&a);
        ck_assert_uint_eq(x, kf_synth_next(&b));
        same_c += x == kf_synth_next(&c);
        same_d += x == kf_synth_next(&d);
    }
    ck_assert_int_eq(same_c, 0);
    ck_assert_int_eq(same_d, 0);
    struct kf_synth_rng e, f;
    kf_synth_rng_init(&e, 1, "tag-a", 0);
    kf_synth_rng_init(&f, 1, "tag-b", 0);
    ck_assert_uint_ne(kf_synth_next(&e), kf_synth_next(&f));
}
END_TEST

START_TEST(test_ranges)
{
    struct kf_synth_rng r;
    int hist[7] = {0};
    kf_synth_rng_init(&r, 3, "ranges", 0);
    for (int i = 0; i < 70000; i++) {
        int64_t v = kf_synth_range(&r, -3, 3);
        ck_assert(v >= -3 && v <= 3);
        hist[v + 3]++;
    }
    for (int i = 0; i < 7; i++)   /* 10000 expected each; 6 sigma is ~570 */
        ck_assert_msg(hist[i] > 9000 && hist[i] < 11000, "bucket %d: %d", i, hist[i]);
    ck_assert_uint_eq(kf_synth_below(&r, 0), 0);
    ck_assert_uint_eq(kf_synth_below(&r, 1), 0);
    for (int i = 0; i < 1000; i++) {
        double u = kf_synth_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
    }
}
END_TEST

START_TEST(test_normal_moments)
{
    struct kf_synth_rng r;
    double s = 0, s2 = 0;
    const int n = 200000;
    kf_synth_rng_init(&r, 4, "normal", 0);
    for (int i = 0; i < n; i++) {
        double x = kf_synth_normal(&r);
        ck_assert(isfinite(x));
        s += x;
        s2 += x * x;
    }
    ck_assert_double_lt(fabs(s / n), 0.02);
    ck_assert_double_lt(fabs(s2 / n - 1.0), 0.02);
}
END_TEST

static void check_unique(const int64_t *v, int64_t k, int64_t n)
{
    uint8_t *seen = calloc((size_t)n, 1);
    for (int64_t i = 0; i < k; i++) {
        ck_assert(v[i] >= 0 && v[i] < n);
        ck_assert_msg(!seen[v[i]], "value %lld twice", (long long)v[i]);
        seen[v[i]] = 1;
    }
    free(seen);
}

START_TEST(test_pick_unique)
{
    struct kf_synth_rng r;
    int64_t out[5000];
    kf_synth_rng_init(&r, 5, "pick", 0);
    kf_synth_pick_unique(&r, 5000, 5000, out);   /* a permutation (dense path) */
    check_unique(out, 5000, 5000);
    kf_synth_pick_unique(&r, 1000000, 3000, out);   /* sparse path */
    check_unique(out, 3000, 1000000);
    kf_synth_pick_unique(&r, 10, 0, out);
}
END_TEST

START_TEST(test_cu_seqlens)
{
    struct kf_synth_rng r;
    int64_t cu[65];
    kf_synth_rng_init(&r, 6, "cu", 0);
    for (int64_t total = 1; total < 300; total += 7) {
        for (int64_t n = 1; n <= total && n <= 64; n += 5) {
            kf_synth_cu_seqlens(&r, total, n, cu);
            ck_assert_int_eq(cu[0], 0);
            ck_assert_int_eq(cu[n], total);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(cu[i] < cu[i + 1], "empty sequence %lld of %lld", (long long)i,
                              (long long)n);
        }
    }
    kf_synth_cu_seqlens(&r, 5, 5, cu);   /* every sequence one token */
    for (int i = 0; i <= 5; i++)
        ck_assert_int_eq(cu[i], i);
}
END_TEST

START_TEST(test_unit_bf16)
{
    struct kf_synth_rng r;
    uint16_t v[64 * 128];
    kf_synth_rng_init(&r, 7, "unit", 0);
    kf_synth_unit_bf16(&r, 64, 128, v);
    for (int i = 0; i < 64; i++) {
        double ss = 0;
        int distinct = 0;
        for (int d = 0; d < 128; d++) {
            float x = kf_bf16_to_f32(v[i * 128 + d]);
            ss += (double)x * x;
            distinct += d > 0 && v[i * 128 + d] != v[i * 128 + d - 1];
        }
        ck_assert_double_lt(fabs(sqrt(ss) - 1.0), 0.01);
        ck_assert_int_gt(distinct, 64);
    }
}
END_TEST

START_TEST(test_paged_slots)
{
    struct kf_synth_rng r;
    int32_t row[2048];
    const int64_t pages = 8462, ps = 64, width = 2048;
    kf_synth_rng_init(&r, 8, "slots", 0);
    for (int64_t len = 1; len < 9000; len = len * 3 + 1) {
        int64_t n = len < width ? len : width;
        kf_synth_paged_slots(&r, pages, ps, len, n, width, row);
        int64_t *vals = malloc((size_t)n * sizeof *vals);
        for (int64_t i = 0; i < n; i++) {
            ck_assert(row[i] >= ps && row[i] < pages * ps);   /* page 0 never used */
            vals[i] = row[i];
        }
        check_unique(vals, n, pages * ps);
        /* the slots lie on at most ceil(len / ps) distinct pages */
        int64_t npages = 0;
        for (int64_t i = 0; i < n; i++) {
            int first = 1;
            for (int64_t j = 0; j < i && first; j++)
                first = row[j] / ps != row[i] / ps;
            npages += first;
        }
        ck_assert_int_le(npages, (len + ps - 1) / ps);
        for (int64_t i = n; i < width; i++)
            ck_assert_int_eq(row[i], -1);
        free(vals);
    }
}
END_TEST

START_TEST(test_block_table)
{
    struct kf_synth_rng r;
    int32_t lens[31], table[31 * 91];
    kf_synth_rng_init(&r, 9, "table", 0);
    for (int64_t batch = 1; batch <= 31; batch += 5) {
        for (int64_t maxp = 1; maxp <= 91; maxp += 15) {
            kf_synth_block_table(&r, batch, maxp, 11923, 64, lens, table);
            int64_t used[31 * 91], nused = 0, widest = 0;
            for (int64_t b = 0; b < batch; b++) {
                int64_t n = (lens[b] + 63) / 64;
                ck_assert(lens[b] >= 1 && n <= maxp);
                widest = n > widest ? n : widest;
                for (int64_t i = 0; i < maxp; i++) {
                    int32_t p = table[b * maxp + i];
                    if (i < n) {
                        ck_assert(p >= 1 && p < 11923);
                        used[nused++] = p;
                    } else {
                        ck_assert_int_eq(p, 0);   /* padding */
                    }
                }
            }
            ck_assert_int_eq(widest, maxp);
            check_unique(used, nused, 11923);
        }
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("generators");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_stream_deterministic);
    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_pick_unique);
    tcase_add_test(tc, test_cu_seqlens);
    tcase_add_test(tc, test_unit_bf16);
    tcase_add_test(tc, test_paged_slots);
    tcase_add_test(tc, test_block_table);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
