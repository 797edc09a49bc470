/* plan_check.h: an nvrtc launch plan checked at submit time, before it is
 * queued, over the axis values of the workloads it will run on: every grid,
 * block, cluster, shared-memory, workspace and integer-argument expression
 * must evaluate (no division by zero, no overflow) and fall inside the
 * limits every CUDA device shares (grid x <= 2^31-1, y/z <= 65535, block
 * dims 1..1024/1024/64 with at most 1024 threads, cluster dims 1..16,
 * dynamic shared memory 0..2^32-1 bytes, workspaces 0..2^40 bytes); a grid
 * dimension may be 0 for some workloads (the launch is skipped) but not for
 * all. Expressions over device facts (num_sms, ...) are left to the worker,
 * which knows the device and its own limits.
 *
 * The work is bounded: each evaluation costs 1 + the length of its source
 * text from *budget; past it the check fails (KF_ETOOBIG), so a request can
 * only cost work in proportion to its size. Thread-safe (reads only).
 */
#ifndef KF_PLAN_CHECK_H
#define KF_PLAN_CHECK_H

#include <stdint.h>

#include "model.h"

#define KF_PLAN_MAX_WORKSPACE (1LL << 40)

/* s must have passed kf_solution_check against d (argument kinds resolved).
 * w: the nw workloads the task will evaluate. Not an nvrtc solution: 0.
 * Errors: KF_EINVAL with err->path at the expression ("spec.launch[0].grid[1]")
 * and the workload uuid in the message; KF_ETOOBIG when *budget runs out. */
int kf_plan_check(const struct kf_solution *s, const struct kf_definition *d,
                  const struct kf_workload *const *w, int nw, int64_t *budget,
                  struct kf_err *err);

#endif
