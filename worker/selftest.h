/* selftest.h: kf-worker's self-test (`kf-worker --self-test`, and at every
 * start-up): for each definition of the dataset, the reference kernel
 * (kernels/reference/<definition>/) is packed as a solution and evaluated
 * under supervision on the definition's smallest workload, with a short eval
 * config (1 trial, 1 warm-up, 3 timed runs). That compiles every reference
 * for the local GPU with NVRTC, computes reference outputs, compares and
 * times, i.e. the whole path a task takes. The reference must PASS against
 * itself. A worker whose self-test fails takes no tasks and reports why in
 * its heartbeat (field self_test, shown by GET /health).
 * The evaluation function is sup->eval, so tests run it with a fake.
 * Not thread-safe (forks through the supervisor).
 */
#ifndef KF_SELFTEST_H
#define KF_SELFTEST_H

#include <jansson.h>

#include "dataset.h"
#include "supervisor.h"

struct wk_selftest {
    int ndefs;          /* definitions tried */
    int passed;         /* ... whose reference PASSED */
    int skipped;        /* ... without workloads (compiled by nothing: said in why) */
    char why[1024];     /* "" when every definition passed; else the first failure */
};

/* Run it. eval_config: the worker's eval config layers (may be NULL).
 * hooks (may be NULL): on_tick is called while evaluators run (kf-worker
 * keeps heartbeating through it; nonzero stops the self-test, which then
 * fails with "stopped"); on_trace is not used. Returns 0 when every
 * definition passed, KF_EINVAL otherwise (out->why). */
int wk_self_test(struct wk_super *sup, const struct kf_dataset *ds, const char *kernels_dir,
                 const char *cache_dir, int device, const json_t *eval_config,
                 const struct wk_hooks *hooks, struct wk_selftest *out);

/* Index of the workload of dd with the smallest product of axis values
 * (the cheapest to run), -1 if it has none. */
int wk_selftest_pick(const struct kf_dataset_def *dd);

#endif
