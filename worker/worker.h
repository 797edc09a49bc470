/* worker.h: the kf-worker main loop over the Redis queue (lib/queue.h):
 * reclaim this worker's own pending tasks, then claim tasks one at a time,
 * resolve definition, solution and workloads against the local dataset,
 * evaluate them under supervision (supervisor.h), store each trace and the
 * progress as it arrives, send heartbeats and keep the lease while busy,
 * and finish the task (completed, failed with a reason, or released on
 * shutdown so that it is reclaimed). Never touches CUDA: the evaluation
 * function runs only in forked children.
 * Not thread-safe: one loop per process.
 */
#ifndef KF_WORKER_H
#define KF_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "dataset.h"
#include "queue.h"
#include "engine.h"
#include "supervisor.h"

struct wk_worker_opts {
    const char *redis_url;
    const char *redis_password;      /* NULL: from the URL / KF_REDIS_PASSWORD */
    const char *worker_id;           /* consumer name, e.g. "host-gpu0" */
    const char *host;
    int device;
    const char *hardware;            /* "NVIDIA_H100" or NULL (heartbeat) */
    const char *lanes;               /* lanes served, comma-separated (lib/lanes.h; heartbeat
                                        and claims take only these); NULL: every lane */
    const struct kf_dataset *ds;     /* borrowed */
    const char *cache_dir, *kernels_dir;
    const char *seed_secret;         /* never leaves the supervisor */
    struct wk_super *sup;            /* evaluation function, limits, scrub list */
    const json_t *eval_config;       /* eval config file (evconfig.h layers) or NULL */
    double heartbeat_s;              /* heartbeat period (TTL: 3x, at least 10 s) */
    int64_t lease_ms;                /* queue lease (kfq_claim_opts) */
    int64_t block_ms;                /* wait for new tasks at most this long per call */
    int max_tasks;                   /* stop after this many tasks; 0: run until *stop */
    /* After the engine reports a CUDA failure: is the GPU still usable?
     * (wk_probe_gpu in kf-worker). Returns 0 if so. NULL: do not ask. When
     * it is not, the task is released for another worker and the loop ends
     * with KF_ECUDA instead of failing task after task. */
    int (*probe)(int device, struct kf_err *err);
    volatile sig_atomic_t *stop;     /* stop requests so far (SIGTERM/SIGINT count up) */
    double stop_grace_s;             /* on the first request, let the task in progress
                                        finish for this long; 0: abandon it at once */
    const char *self_test_error;     /* non-NULL: the self-test failed (selftest.h): take no
                                        tasks, heartbeat state "unhealthy" with this reason */
    /* The start-up self-test (NULL: none), run after connecting with the
     * heartbeat state "self-test" kept alive through it (hooks->on_tick).
     * Returns 0 when passed, else nonzero with why filled; then as with
     * self_test_error. */
    int (*self_test)(void *ctx, const struct wk_hooks *hooks, char *why, size_t n);
    void *self_test_ctx;
    /* Observer (benchmarks, metrics): called after each claim that returned
     * a task, with the claim call's duration. NULL: none. */
    void (*on_claim)(void *ctx, const struct kfq_task *t, double seconds);
    void *hook_ctx;
};

/* Run until *stop (or max_tasks). Returns 0 on a clean stop, negative when
 * Redis cannot be reached at start or the GPU became unusable (err set). */
int wk_worker_run(const struct wk_worker_opts *o, struct kf_err *err);

#endif
