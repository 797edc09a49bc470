/* worker.c: the kf-worker queue loop (see worker.h). Not thread-safe. */
#include "worker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evconfig.h"
#include "log.h"
#include "queue.h"
#include "seed.h"
#include "xalloc.h"

struct wctx {
    const struct wk_worker_opts *o;
    const char *self_test_error;   /* the configured one, or the start-up self-test's */
    char self_test_why[1024];
    struct kfq_conn *c;
    struct kfq_claim_opts claim;
    double started_at;
    double next_beat, next_touch;
    const struct kfq_task *task;   /* current task or NULL */
    int ntotal;
    int store_failed;              /* a trace could not be stored */
    int lost;                      /* a write was refused: another attempt holds the task */
    struct kfq_summary sum;        /* the task's traces so far, typed (board entry) */
    int gpu_lost;                  /* the probe failed after an engine CUDA error */
    double stop_seen;              /* when a stop request was first seen in a task */
    struct kf_err gpu_err;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void beat(struct wctx *w, const char *state)
{
    const struct wk_worker_opts *o = w->o;
    struct kfq_worker_info info = {o->worker_id, o->host, o->device, o->hardware, state,
                                   w->task ? w->task->id : NULL, (int64_t)getpid(),
                                   w->started_at, w->self_test_error, o->lanes};
    int ttl = (int)ceil(o->heartbeat_s * 3);
    struct kf_err e;
    if (ttl < 10)
        ttl = 10;
    if (kfq_ensure(w->c, &e) == 0 && kfq_heartbeat(w->c, &info, ttl, &e) < 0)
        log_warn("worker", "heartbeat failed: %s", e.msg);
    w->next_beat = mono() + o->heartbeat_s;
}

/* ---- one task -------------------------------------------------------------- */

static void on_trace(void *ctx, int index, const json_t *trace)
{
    struct wctx *w = ctx;
    struct kf_err e;
    int rc;
    if (w->lost)
        return;
    if ((rc = kfq_task_add_trace(w->c, w->task, trace, &e)) < 0 ||
        (rc = kfq_task_progress(w->c, w->task, w->claim.lease_ms, index + 1, w->ntotal, &e)) < 0) {
        log_error("worker", "task=%s cannot store trace %d: %s", w->task->id, index, e.msg);
        if (rc == KF_ECONFLICT)
            w->lost = 1;     /* on_tick stops the evaluation */
        else
            w->store_failed = 1;
    } else {
        kfq_summary_add(&w->sum, trace);
    }
    w->next_touch = mono() + (double)w->claim.lease_ms / 2000.0;
}

static int on_tick(void *ctx)
{
    struct wctx *w = ctx;
    double now = mono();
    if (now >= w->next_beat)
        beat(w, "busy");
    if (now >= w->next_touch) {
        struct kf_err e;
        int rc = kfq_task_touch(w->c, w->task, w->claim.lease_ms, &e);
        if (rc == KF_ECONFLICT) {
            log_error("worker", "task=%s %s", w->task->id, e.msg);
            w->lost = 1;
        } else if (rc < 0) {
            log_warn("worker", "task=%s lease touch failed: %s", w->task->id, e.msg);
        }
        w->next_touch = now + (double)w->claim.lease_ms / 2000.0;
    }
    if (w->lost)
        return 1;   /* another attempt holds the task: stop evaluating it */
    if (!(w->o->stop && *w->o->stop))
        return 0;
    /* Stop requested: finish the task within the grace period, unless a
     * second request (counter >= 2) says now. */
    if (w->stop_seen == 0) {
        w->stop_seen = now;
        if (w->o->stop_grace_s > 0)
            log_info("worker", "task=%s stop requested: finishing it within %.0f s "
                     "(signal again to abandon now)", w->task->id, w->o->stop_grace_s);
        beat(w, "draining");
    }
    return *w->o->stop >= 2 || now - w->stop_seen >= w->o->stop_grace_s;
}

static void finish_fail(struct wctx *w, const struct kfq_task *t, const char *reason)
{
    struct kf_err e;
    log_warn("worker", "task=%s status=failed reason=\"%s\"", t->id, reason);
    if (kfq_task_fail(w->c, t, reason, &e) < 0)
        log_error("worker", "task=%s cannot mark failed: %s", t->id, e.msg);
}

/* Returns 1 when the loop must stop (task abandoned on shutdown). */
static int run_one(struct wctx *w, const struct kfq_task *t)
{
    const struct wk_worker_opts *o = w->o;
    struct kf_solution *sol = NULL;
    const struct kf_dataset_def *dd;
    const struct kf_workload **wl = NULL;
    struct ev_request req;
    struct wk_hooks hooks = {on_trace, on_tick, 0.5, w};
    struct wk_super *sup = o->sup;
    struct kf_err e;
    char reason[512];
    json_t *traces = NULL;
    double t0 = mono(), saved_wl = sup->lim.workload_s;
    int n, rc, stop = 0;

    kf_err_clear(&e);
    w->task = t;
    w->store_failed = 0;
    w->lost = 0;
    kfq_summary_init(&w->sum);
    w->next_touch = mono() + (double)w->claim.lease_ms / 2000.0;
    beat(w, "busy");
    n = json_is_array(t->workloads) ? (int)json_array_size(t->workloads) : 0;
    log_info("worker", "task=%s start definition=%s solution=%s workloads=%d attempt=%lld",
             t->id, t->definition, t->solution_name, n, (long long)t->deliveries);

    dd = kf_dataset_find(o->ds, t->definition);
    if (!dd) {
        snprintf(reason, sizeof reason, "definition %s is not in this worker's dataset",
                 t->definition);
        finish_fail(w, t, reason);
        goto out;
    }
    if (kf_solution_from_json(t->solution, &sol, &e) < 0 ||
        kf_solution_check(sol, dd->def, &e) < 0) {
        snprintf(reason, sizeof reason, "invalid solution: %s%s%s", e.path,
                 e.path[0] ? ": " : "", e.msg);
        finish_fail(w, t, reason);
        goto out;
    }
    if (n == 0) {
        finish_fail(w, t, "task lists no workloads");
        goto out;
    }
    wl = xcalloc((size_t)n, sizeof *wl);
    for (int i = 0; i < n; i++) {
        const char *u = json_string_value(json_array_get(t->workloads, (size_t)i));
        const struct kf_dataset_def *wd = NULL;
        wl[i] = u ? kf_dataset_workload(o->ds, u, &wd) : NULL;
        if (!wl[i] || wd != dd) {
            snprintf(reason, sizeof reason, "workload %s of %s is not in this worker's dataset",
                     u ? u : "(not a string)", t->definition);
            finish_fail(w, t, reason);
            goto out;
        }
    }
    memset(&req, 0, sizeof req);
    req.ds = o->ds;
    req.def = dd->def;
    req.sol = sol;
    req.workloads = wl;
    req.nworkloads = n;
    req.cache_dir = o->cache_dir;
    req.kernels_dir = o->kernels_dir;
    req.device = o->device;
    req.seed = wk_seed_derive(o->seed_secret, t->id);
    /* defaults < file default < op_type < definition < the request's overrides */
    if (ev_config_resolve(o->eval_config, dd->def, t->config, &req.cfg, &e) < 0) {
        snprintf(reason, sizeof reason, "invalid eval config: %s%s%s", e.path,
                 e.path[0] ? ": " : "", e.msg);
        finish_fail(w, t, reason);
        goto out;
    }
    /* The worker's workload-timeout caps the eval config's deadline: a
     * request cannot hold the GPU longer than the operator allows. */
    if (req.cfg.workload_timeout_s > 0 && req.cfg.workload_timeout_s < sup->lim.workload_s)
        sup->lim.workload_s = req.cfg.workload_timeout_s;
    req.cfg.workload_timeout_s = sup->lim.workload_s;

    w->ntotal = n;
    rc = wk_run_task(sup, t->id, &req, &hooks, &traces, &e);
    if (w->lost) {
        /* Our lease ran out (a stall) and another worker took the task
         * over: every write of ours is refused, so drop it and go on. */
        log_warn("worker", "task=%s dropped: another attempt holds it now", t->id);
    } else if (rc == WK_ABANDONED) {
        if (kfq_task_release(w->c, t, &e) < 0)
            log_error("worker", "task=%s cannot release: %s (the lease will expire)", t->id,
                      e.msg);
        log_warn("worker", "task=%s released on shutdown: stays pending and is reclaimed",
                 t->id);
        stop = 1;
    } else if (rc == KF_ECUDA && o->probe && o->probe(o->device, &w->gpu_err) < 0) {
        /* Not the task's fault: the device is gone. Another worker takes it. */
        log_error("worker", "task=%s %s; GPU %d is no longer usable: %s", t->id, e.msg,
                  o->device, w->gpu_err.msg);
        if (kfq_task_release(w->c, t, &e) < 0)
            log_error("worker", "task=%s cannot release: %s", t->id, e.msg);
        w->gpu_lost = 1;
        stop = 1;
    } else if (rc < 0) {
        finish_fail(w, t, e.msg);
    } else if (w->store_failed) {
        /* Not every trace reached Redis: leave the entry pending so that the
         * lease expires and the task runs again from a clean slate. */
        log_error("worker", "task=%s not completed: traces were lost; the lease will expire",
                  t->id);
    } else {
        /* the summary was kept as each trace was stored: nothing is read back */
        if (kfq_task_complete(w->c, t, &w->sum, &e) < 0)
            log_error("worker", "task=%s cannot complete: %s", t->id, e.msg);
        else
            log_info("worker", "task=%s status=completed passed=%d/%d seconds=%.2f", t->id,
                     w->sum.passed, n, mono() - t0);
    }
out:
    kfq_summary_free(&w->sum);
    sup->lim.workload_s = saved_wl;
    json_decref(traces);
    free(wl);
    kf_solution_free(sol);
    w->task = NULL;
    beat(w, stop ? "draining" : "idle");
    return stop;
}

/* ---- the loop -------------------------------------------------------------- */

/* While the start-up self-test runs: keep the heartbeat; stop on request. */
static int self_test_tick(void *ctx)
{
    struct wctx *w = ctx;
    if (mono() >= w->next_beat)
        beat(w, "self-test");
    return w->o->stop && *w->o->stop;
}

int wk_worker_run(const struct wk_worker_opts *o, struct kf_err *err)
{
    struct wctx w;
    int rc = 0, done = 0, reclaiming = 1;

    memset(&w, 0, sizeof w);
    w.o = o;
    w.started_at = (double)time(NULL);
    w.claim.consumer = o->worker_id;
    w.claim.lease_ms = o->lease_ms > 0 ? o->lease_ms : KFQ_DEFAULT_LEASE_MS;
    w.claim.block_ms = o->block_ms > 0 ? o->block_ms : 1000;
    w.claim.max_deliveries = KFQ_MAX_DELIVERIES;
    w.claim.lanes = o->lanes;

    rc = kfq_connect(o->redis_url, o->redis_password, true, &w.c, err);
    if (rc < 0)
        return rc;
    /* Redis may start after the worker: wait (and say so) until it answers. */
    for (;;) {
        rc = kfq_ensure_wait(w.c, (volatile int *)o->stop, 10000, err);
        if (rc == 0)
            rc = kfq_init(w.c, err);
        if (rc == 0)
            break;
        if (o->stop && *o->stop) {
            kfq_close(w.c);
            return rc;
        }
        log_warn("worker", "waiting for Redis: %s", err ? err->msg : "unreachable");
    }
    log_info("worker", "connected id=%s device=%d hardware=%s", o->worker_id, o->device,
             o->hardware ? o->hardware : "unknown");
    beat(&w, "starting");
    w.self_test_error = o->self_test_error;
    if (!w.self_test_error && o->self_test) {
        struct wk_hooks h = {NULL, self_test_tick, 0.5, &w};
        beat(&w, "self-test");
        log_info("worker", "self-test: running before taking tasks");
        if (o->self_test(o->self_test_ctx, &h, w.self_test_why, sizeof w.self_test_why) != 0) {
            if (!w.self_test_why[0])
                snprintf(w.self_test_why, sizeof w.self_test_why, "self-test failed");
            w.self_test_error = w.self_test_why;
        } else {
            log_info("worker", "self-test passed");
        }
    }
    if (w.self_test_error && !(o->stop && *o->stop)) {
        /* A worker that cannot evaluate correctly must not take tasks: it
         * stays visible (GET /health says why) until it is stopped. */
        log_error("worker", "self-test failed: taking no tasks: %s", w.self_test_error);
        while (!(o->stop && *o->stop)) {
            beat(&w, "unhealthy");
            for (int i = 0; i < 10 && !(o->stop && *o->stop); i++)
                usleep((useconds_t)(o->heartbeat_s * 100000));
        }
    }

    while (!(o->stop && *o->stop) && !(o->max_tasks > 0 && done >= o->max_tasks)) {
        struct kfq_task *t = NULL;
        struct kf_err e;
        int k;
        if (mono() >= w.next_beat)
            beat(&w, "idle");
        if (kfq_ensure(w.c, &e) < 0) {
            usleep(200 * 1000);
            continue;
        }
        double c0 = mono();
        k = reclaiming ? kfq_reclaim_own(w.c, &w.claim, &t, &e)
                       : kfq_worker_claim(w.c, &w.claim, &t, &e);
        if (k == 0 && t && o->on_claim)
            o->on_claim(o->hook_ctx, t, mono() - c0);
        if (k < 0) {
            log_warn("worker", "claim failed: %s", e.msg);
            usleep(200 * 1000);
            continue;
        }
        if (!t) {
            if (reclaiming)
                log_info("worker", "no pending tasks of this worker left; waiting for tasks");
            reclaiming = 0;
            continue;
        }
        if (reclaiming)
            log_info("worker", "task=%s reclaimed from an earlier run of %s", t->id,
                     o->worker_id);
        if (o->stop && *o->stop) {
            /* Stopped while waiting for it: give it straight back. */
            if (kfq_task_release(w.c, t, &e) < 0)
                log_error("worker", "task=%s cannot release: %s", t->id, e.msg);
            kfq_task_free(t);
            break;
        }
        k = run_one(&w, t);
        kfq_task_free(t);
        done++;
        if (k)
            break;
    }
    {
        struct kf_err e;
        if (kfq_worker_gone(w.c, o->worker_id, &e) < 0)
            log_warn("worker", "cannot remove heartbeat: %s", e.msg);
    }
    log_info("worker", "stopped after %d task(s)", done);
    kfq_close(w.c);
    if (w.gpu_lost) {
        if (err)
            *err = w.gpu_err;
        return KF_ECUDA;
    }
    return 0;
}
