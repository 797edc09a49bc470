/* test_inputs.c: the host side of worker/inputs.c: trial and input seeds
 * are deterministic in (request seed, workload, trial, input) and differ
 * whenever one of them differs, so each trial gets fresh inputs that a
 * solution cannot predict without the request seed. */
#include "inputs.h"
#include "kf_check.h"

START_TEST(test_seeds)
{
    uint64_t a = ev_trial_seed(1, "uuid-a", 0);
    ck_assert(a == ev_trial_seed(1, "uuid-a", 0));
    ck_assert(a != ev_trial_seed(1, "uuid-a", 1));
    ck_assert(a != ev_trial_seed(2, "uuid-a", 0));
    ck_assert(a != ev_trial_seed(1, "uuid-b", 0));
    ck_assert(ev_input_seed(a, 0) != ev_input_seed(a, 1));
    ck_assert(ev_input_seed(a, 0) == ev_input_seed(a, 0));
    /* no trivial collisions over a small grid */
    for (int t = 0; t < 16; t++)
        for (int i = 0; i < 16; i++)
            for (int u = 0; u < 16; u++)
                if (!(t == u))
                    ck_assert(ev_input_seed(ev_trial_seed(7, "w", t), i) !=
                              ev_input_seed(ev_trial_seed(7, "w", u), i));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("inputs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_seeds);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
