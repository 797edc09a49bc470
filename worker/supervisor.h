/* supervisor.h: run one task's evaluation under supervision. Each attempt
 * is a fresh evaluator child (child.h) working through the task's workloads
 * from the first one without a trace. The supervisor enforces a deadline
 * per workload (plus a start-up allowance for each child's first workload:
 * CUDA initialisation, compilation, reference outputs) and a deadline for
 * the whole task by killing the child's process group; it turns a crash,
 * a non-zero exit or a protocol violation into a RUNTIME_ERROR trace with
 * the child's log tail, validates every frame (wire.h) and every trace
 * before passing it on, and never lets a bad solution stop it.
 * Not thread-safe: one task at a time per struct wk_super; it forks.
 */
#ifndef KF_SUPERVISOR_H
#define KF_SUPERVISOR_H

#include <jansson.h>
#include <stddef.h>

#include "child.h"
#include "engine.h"

struct wk_limits {
    double workload_s;   /* per-workload deadline */
    double startup_s;    /* added to the deadline of each child's first workload */
    double total_s;      /* whole task */
    size_t log_tail;     /* bytes of child output kept for logs (>= 256) */
};

struct wk_super {
    wk_eval_fn eval;            /* ev_evaluate, or a fake in tests */
    json_t *environment;        /* evaluation.environment for traces the supervisor
                                   writes itself (owned; refreshed from the engine's
                                   traces); NULL: {"hardware":"unknown","libs":{}} */
    char *const *scrub; int nscrub;   /* secrets zeroed in each child */
    struct wk_limits lim;
};

struct wk_hooks {
    /* A validated trace for workload `index` (borrowed), called in order
     * 0..n-1, for engine traces and supervisor-made ones alike. */
    void (*on_trace)(void *ctx, int index, const json_t *trace);
    /* Called at least every tick_s while a child runs; nonzero abandons
     * the task (the child's group is killed, WK_ABANDONED returned). */
    int (*on_tick)(void *ctx);
    double tick_s;       /* <= 0: 1 s */
    void *ctx;
};

enum { WK_ABANDONED = 1 };

/* Evaluate req (its workloads, in order) under supervision. task_id is for
 * logs. On 0, *traces_out (if non-NULL) is a new array with one trace per
 * workload. WK_ABANDONED: on_tick asked to stop. Negative: the engine
 * reported that it cannot work (err has its message; KF_ECUDA when it named
 * the device, KF_EUNSUP otherwise) or no child could be started (KF_EIO);
 * traces reported so far stay reported. */
int wk_run_task(struct wk_super *s, const char *task_id, const struct ev_request *req,
                const struct wk_hooks *h, json_t **traces_out, struct kf_err *err);

/* A trace written by the supervisor: status (TIMEOUT, RUNTIME_ERROR) and
 * log, no correctness or performance. environment borrowed (NULL: unknown).
 * Returns new. */
json_t *wk_make_trace(const struct kf_definition *def, const struct kf_solution *sol,
                      const struct kf_workload *w, const char *status, const char *log,
                      const json_t *environment);

/* Check an engine trace for workload w of this definition and solution:
 * kf_trace_validate plus the right definition, solution name and workload
 * uuid. Returns 0 or KF_EINVAL with err. */
int wk_check_trace(const json_t *trace, const struct kf_definition *def,
                   const struct kf_solution *sol, const struct kf_workload *w,
                   struct kf_err *err);

#endif
