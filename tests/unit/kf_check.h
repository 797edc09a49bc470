/* kf_check.h: shared main() for the Check unit-test programs. Each program
 * defines `static Suite *make_suite(void)` and then KF_CHECK_MAIN. Runs in
 * fork mode with the suite's timeouts and ends with "N passed, N failed"
 * for tests/run.sh to sum.
 */
#ifndef KF_CHECK_H
#define KF_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define KF_CHECK_MAIN                                                                 \
    int main(void)                                                                    \
    {                                                                                 \
        SRunner *sr = srunner_create(make_suite());                                   \
        int run, failed;                                                              \
        srunner_set_fork_status(sr, CK_FORK);                                         \
        srunner_run_all(sr, CK_NORMAL);                                               \
        run = srunner_ntests_run(sr);                                                 \
        failed = srunner_ntests_failed(sr);                                           \
        srunner_free(sr);                                                             \
        printf("%d passed, %d failed\n", run - failed, failed);                      \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                  \
    }

#endif
