/* seed_worker.c: a stand-in GPU worker for the board's browser test and
 * screenshots (no GPU). It speaks the real queue protocol through
 * lib/queue.h (heartbeat, kfq_worker_claim, kfq_task_add_trace,
 * kfq_task_progress, kfq_task_complete / kfq_task_fail) and builds each
 * trace with the worker's own trace builder (worker/trace_build.h), so the
 * leaderboard entries and traces are exactly what kf-worker would store.
 * Only the measurements are modelled: the reference latency of a workload
 * scales with its size from the H100 latencies in docs/kernels.md (largest
 * workload of each definition), and a plan file says how each solution
 * behaves:
 *
 *   {"<solution name prefix>": {"speedup": 1.8,             mean speedup
 *                               "fail": "INCORRECT_NUMERICAL",  status of
 *                               "fail_every": 4,            every 4th workload
 *                               "task_error": "..."}}       fail the task
 *
 * Usage: seed_worker REDIS_URL DATASET PLAN.json HARDWARE WORKER_ID
 * Claims tasks until none arrives for one second, then exits 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "queue.h"
#include "trace_build.h"

/* H100 reference latency (us) of each definition's largest workload
 * (docs/kernels.md, "Summary (H100, largest workload)"). */
static double ref_us_largest(const char *def)
{
    if (strncmp(def, "gdn_decode", 10) == 0)
        return 29.6;
    if (strncmp(def, "gdn_prefill", 11) == 0)
        return 404;
    if (strncmp(def, "dsa_sparse", 10) == 0)
        return 41.9;
    if (strncmp(def, "dsa_topk", 8) == 0)
        return 35.9;
    if (strncmp(def, "moe", 3) == 0)
        return 6190;
    return 50;
}

static double workload_size(const struct kf_workload *w)
{
    double s = 1;
    for (int i = 0; i < w->naxes; i++)
        s *= (double)(w->axes[i].value > 0 ? w->axes[i].value : 1);
    return s;
}

/* deterministic jitter in [1-a, 1+a] from a string */
static double jitter(const char *s, double a)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return 1 - a + 2 * a * (double)(h % 10000) / 9999.0;
}

static const json_t *plan_for(const json_t *plan, const char *solution)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)plan, k, v) if (strncmp(solution, k, strlen(k)) == 0) return v;
    return NULL;
}

static int run_task(struct kfq_conn *c, const struct kf_dataset *ds, const json_t *plan,
                    const char *hw, const char *wid, struct kfq_task *t)
{
    struct kf_err err;
    const json_t *p = plan_for(plan, t->solution_name);
    double speedup = p && json_is_number(json_object_get(p, "speedup"))
                         ? json_number_value(json_object_get(p, "speedup")) : 1.0;
    const char *fail = p ? json_string_value(json_object_get(p, "fail")) : NULL;
    json_int_t every = p ? json_integer_value(json_object_get(p, "fail_every")) : 0;
    const char *task_error = p ? json_string_value(json_object_get(p, "task_error")) : NULL;
    const struct kf_dataset_def *dd = kf_dataset_find(ds, t->definition);
    double hw_scale = strstr(hw, "H200") ? 0.8 : 1.0;
    int n = (int)json_array_size(t->workloads);
    if (!dd) {
        fprintf(stderr, "seed_worker: unknown definition %s\n", t->definition);
        return kfq_task_fail(c, t, "definition not in the worker's dataset", &err);
    }
    double maxsize = 1;
    for (int i = 0; i < dd->nworkloads; i++)
        maxsize = fmax(maxsize, workload_size(dd->workloads[i]));
    struct kfq_summary sum;
    int rc = 0;
    (void)wid;   /* the task's attempt token identifies this worker's writes */
    kfq_summary_init(&sum);
    for (int i = 0; i < n && !rc; i++) {
        const char *uuid = json_string_value(json_array_get(t->workloads, (size_t)i));
        const struct kf_workload *w = kf_dataset_workload(ds, uuid, NULL);
        if (!w || (task_error && i == n / 2)) {
            kfq_summary_free(&sum);
            return kfq_task_fail(c, t, w ? task_error : "workload not in the worker's dataset", &err);
        }
        double ref_ms = ref_us_largest(t->definition) / 1000.0 * hw_scale *
                        (0.12 + 0.88 * sqrt(workload_size(w) / maxsize)) * jitter(uuid, 0.05);
        double s = speedup * jitter(t->solution_name, 0.03) * jitter(uuid, 0.12);
        enum kf_status st = KF_ST_PASSED;
        char log[512] = "";
        if (fail && (every <= 1 || i % every == every - 1))
            st = (enum kf_status)kf_status_from_name(fail);
        json_t *corr = NULL, *perf = NULL;
        struct ev_cmp cmp = {.max_abs = 1.2e-3 * jitter(uuid, 0.5),
                             .max_rel = 4e-3 * jitter(uuid, 0.5), .n = 65536, .first_fail = -1,
                             .matched_ratio = 1};
        if (st == KF_ST_PASSED) {
            perf = ev_performance_json(ref_ms / s, ref_ms, NULL);
            corr = ev_correctness_json(&cmp, NULL);
        } else if (st == KF_ST_INCORRECT_NUMERICAL) {
            cmp.max_abs = 0.37 * jitter(uuid, 0.5);
            cmp.max_rel = 2.9 * jitter(uuid, 0.5);
            cmp.nfail = 1811;
            cmp.first_fail = 17;
            corr = ev_correctness_json(&cmp, NULL);
            snprintf(log, sizeof log,
                     "output 'output': 1811 of 65536 elements outside atol=0.01 rtol=0.01 "
                     "(first at index 17: got 0.4312, expected 0.0625); max abs error %.3g",
                     cmp.max_abs);
        } else if (st == KF_ST_COMPILE_ERROR) {
            snprintf(log, sizeof log,
                     "nvrtc: kernel.cu(41): error: identifier \"__shfl_xor\" is undefined\n"
                     "1 error detected in the compilation of \"kernel.cu\".");
        } else {
            snprintf(log, sizeof log, "CUDA error: an illegal memory access was encountered "
                                      "(cuStreamSynchronize after the launch)");
        }
        json_t *tr = ev_trace_new(dd->def, w, t->solution_name, st, log[0] ? log : NULL, corr,
                                  perf, ev_environment_json(hw, 13000), NULL);
        kfq_summary_add(&sum, tr);
        rc = kfq_task_add_trace(c, t, tr, &err);
        json_decref(tr);
        if (rc || kfq_task_progress(c, t, 300000, i + 1, n, &err)) {
            fprintf(stderr, "seed_worker: %s\n", err.msg);
            rc = -1;
        }
    }
    if (!rc)
        rc = kfq_task_complete(c, t, &sum, &err);
    kfq_summary_free(&sum);
    return rc;
}

int main(int argc, char **argv)
{
    struct kf_err err;
    struct kf_dataset *ds = NULL;
    struct kfq_conn *c = NULL;
    json_t *plan = NULL;
    int status = 1;
    if (argc != 6) {
        fprintf(stderr, "usage: seed_worker REDIS_URL DATASET PLAN.json HARDWARE WORKER_ID\n");
        return 2;
    }
    const char *hw = argv[4], *wid = argv[5];
    plan = json_load_file(argv[3], 0, NULL);
    if (!json_is_object(plan)) {
        fprintf(stderr, "seed_worker: %s: not a JSON object\n", argv[3]);
        goto out;
    }
    if (kf_dataset_load(argv[2], &ds, &err) || kfq_connect(argv[1], NULL, false, &c, &err) ||
        kfq_init(c, &err)) {
        fprintf(stderr, "seed_worker: %s: %s\n", err.path, err.msg);
        goto out;
    }
    struct kfq_worker_info info = {.id = wid, .host = "seed", .device = 0, .hardware = hw,
                                   .state = "idle", .pid = 0, .started_at = kfq_now()};
    struct kfq_claim_opts o = {.consumer = wid, .lease_ms = 300000, .block_ms = 1000,
                               .max_deliveries = 3};
    for (;;) {
        struct kfq_task *t = NULL;
        if (kfq_heartbeat(c, &info, 600, &err) || kfq_worker_claim(c, &o, &t, &err)) {
            fprintf(stderr, "seed_worker: %s\n", err.msg);
            goto out;
        }
        if (!t)
            break;
        int rc = run_task(c, ds, plan, hw, wid, t);
        printf("seed_worker %s: %s %s -> %s\n", wid, t->id, t->solution_name, rc ? "error" : "done");
        kfq_task_free(t);
        if (rc)
            goto out;
    }
    status = 0;
out:
    json_decref(plan);
    kfq_close(c);
    kf_dataset_free(ds);
    return status;
}
