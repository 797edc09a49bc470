/* test_worker.c: the kf-worker queue loop (worker/worker.c) end to end
 * against a real redis-server on a unix socket, with a small on-disk
 * dataset and a fake evaluation function in real evaluator children (no
 * GPU): tasks complete with their traces and progress in Redis, a hung
 * workload gets TIMEOUT and the task still completes, a task naming an
 * unknown workload or an engine failure fails with a reason, a task left
 * pending by a dead run of the same worker id is reclaimed, and a stop
 * request mid-task releases it (pending again) for the next run. Also the
 * self-test (worker/selftest.c) with the fake evaluator, and the worker
 * loop's start-up self-test: heartbeat "self-test" while it runs, then
 * tasks taken (passed) or none and "unhealthy" with the reason (failed). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kf_check.h"
#include "queue.h"
#include "seed.h"
#include "selftest.h"
#include "supervisor.h"
#include "worker.h"

static char dir[64];
static char sock[128];
static char url[160];
static pid_t redis_pid;
static struct kf_dataset *ds;
static struct kfq_conn *conn;
static volatile sig_atomic_t stop;
static int double_tap;
static double grace, wl_s;
static const char *SECRET = "test-secret";

static const char *DEF =
    "{\"name\":\"vadd\",\"op_type\":\"fake\",\"description\":\"copy\","
    "\"axes\":{\"n\":{\"type\":\"var\"}},"
    "\"inputs\":{\"x\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},"
    "\"outputs\":{\"y\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},"
    "\"reference\":\"def run(x):\\n    return x\\n\"}\n";

static const char *SOL =
    "{\"name\":\"vadd_copy_0123abcd\",\"definition\":\"vadd\",\"author\":\"test\","
    "\"spec\":{\"language\":\"cuda\",\"binding\":\"nvrtc\",\"target_hardware\":[\"cuda\"],"
    "\"entry_point\":\"k.cu::copy\",\"destination_passing_style\":true,"
    "\"launch\":[{\"kernel\":\"copy\",\"grid\":[\"cdiv(n, 128)\"],\"block\":[128],"
    "\"args\":[\"x\",\"y\",\"n\"]}]},"
    "\"sources\":[{\"path\":\"k.cu\",\"content\":\"extern \\\"C\\\" __global__ void copy("
    "const float *x, float *y, long long n) { long long i = blockIdx.x * 128 + threadIdx.x; "
    "if (i < n) y[i] = x[i]; }\"}]}";

static const char *const UUIDS[] = {"ok-1", "ok-2", "hang-3", "engine-4", "slow-5"};
static const char *fake_status = "PASSED";   /* read by the (forked) fake evaluator */

/* ---- the fake evaluator ---------------------------------------------------- */

static int fake_eval(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                     json_t **traces_out, struct kf_err *err)
{
    json_t *all = json_array();
    for (int i = 0; i < req->nworkloads; i++) {
        const struct kf_workload *w = req->workloads[i];
        char log[128];
        json_t *t;
        if (strncmp(w->uuid, "hang", 4) == 0)
            for (;;)
                pause();
        if (strncmp(w->uuid, "slow", 4) == 0)
            sleep(3);
        if (strncmp(w->uuid, "engine", 6) == 0) {
            json_decref(all);
            return kf_err_set(err, KF_ECUDA, NULL, "fake engine cannot work");
        }
        snprintf(log, sizeof log, "seed=%llu iterations=%d trials=%d deadline=%g",
                 (unsigned long long)req->seed, req->cfg.iterations, req->cfg.trials,
                 req->cfg.workload_timeout_s);
        t = json_pack("{s:s, s:o, s:s, s:{s:s, s:s, s:{s:f, s:f}, s:{s:f, s:f, s:f}, "
                      "s:{s:s, s:{}}, s:s}}",
                      "definition", req->def->name, "workload", kf_workload_to_json(w),
                      "solution", req->sol->name, "evaluation", "status", fake_status, "log", log,
                      "correctness", "max_relative_error", 0.0, "max_absolute_error", 0.0,
                      "performance", "latency_ms", 1.0, "reference_latency_ms", 3.0,
                      "speedup_factor", 3.0, "environment", "hardware", "FAKE_GPU", "libs",
                      "timestamp", "2026-11-22T04:00:00.000000Z");
        /* No ck_assert in the child: Check reports through a descriptor of
         * its own, which the child has closed (fd 3 is the frame pipe). */
        if (!t)
            _exit(99);
        progress(ctx, i + 1, req->nworkloads, t);
        json_array_append_new(all, t);
    }
    *traces_out = all;
    return 0;
}

/* ---- fixture: redis-server + dataset ------------------------------------------ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    char p[256], *buf;
    struct kf_err e;
    size_t off = 0;

    snprintf(dir, sizeof dir, "/tmp/kf-worker-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(url, sizeof url, "unix://%s", sock);
    redis_pid = fork();
    ck_assert_int_ge(redis_pid, 0);
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save",
               "", "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    /* The socket file appears at bind(), slightly before redis answers. */
    conn = NULL;
    for (int i = 0; i < 1000 && !conn; i++) {
        struct stat st;
        if (stat(sock, &st) < 0 || kfq_connect(url, NULL, false, &conn, &e) < 0) {
            conn = NULL;
            usleep(10000);
        }
    }
    ck_assert_msg(conn != NULL, "redis-server did not answer on %s", sock);
    ck_assert_int_eq(kfq_init(conn, &e), 0);

    snprintf(p, sizeof p, "mkdir -p %s/ds/definitions/fake %s/ds/workloads/fake", dir, dir);
    ck_assert_int_eq(system(p), 0);
    snprintf(p, sizeof p, "%s/ds/definitions/fake/vadd.json", dir);
    write_file(p, DEF);
    buf = malloc(4096);
    for (size_t i = 0; i < sizeof UUIDS / sizeof UUIDS[0]; i++)
        off += (size_t)snprintf(buf + off, 4096 - off,
                                "{\"definition\":\"vadd\",\"workload\":{\"uuid\":\"%s\","
                                "\"axes\":{\"n\":16},\"inputs\":{\"x\":{\"type\":\"random\"}}},"
                                "\"solution\":null,\"evaluation\":null}\n",
                                UUIDS[i]);
    snprintf(p, sizeof p, "%s/ds/workloads/fake/vadd.jsonl", dir);
    write_file(p, buf);
    free(buf);
    snprintf(p, sizeof p, "%s/ds", dir);
    ck_assert_msg(kf_dataset_load(p, &ds, &e) == 0, "dataset: %s %s", e.path, e.msg);
    stop = 0;
    grace = 0;
    wl_s = 1.0;
    double_tap = 0;
}

static void teardown(void)
{
    char cmd[128];
    kfq_close(conn);
    kf_dataset_free(ds);
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
}

/* ---- helpers --------------------------------------------------------------- */

static void submit_cfg(const char *const *uuids, int n, const char *cfg, char id[65])
{
    json_t *sol = json_loads(SOL, 0, NULL), *wl = json_array();
    struct kfq_submit s;
    struct kf_err e;
    bool existing;
    ck_assert_ptr_nonnull(sol);
    for (int i = 0; i < n; i++)
        json_array_append_new(wl, json_string(uuids[i]));
    memset(&s, 0, sizeof s);
    s.definition = "vadd";
    s.solution_name = "vadd_copy_0123abcd";
    s.solution = sol;
    s.workloads = wl;
    s.rerun = true;
    s.config = cfg ? json_loads(cfg, 0, NULL) : NULL;
    ck_assert_msg(kfq_submit(conn, &s, id, &existing, &e) == 0, "submit: %s", e.msg);
    json_decref((json_t *)s.config);
    json_decref(sol);
    json_decref(wl);
}

static void submit(const char *const *uuids, int n, char id[65])
{
    submit_cfg(uuids, n, NULL, id);
}

static struct wk_super sup;
static char *scrub_none[1];

static int probe_result;

static int fake_probe(int device, struct kf_err *err)
{
    (void)device;
    return probe_result ? kf_err_set(err, KF_ECUDA, NULL, "fake: GPU fell off the bus") : 0;
}


static int run_worker_probe(const char *worker_id, int max_tasks,
                            int (*probe)(int, struct kf_err *), struct kf_err *e)
{
    struct wk_worker_opts o;
    int rc;
    memset(&sup, 0, sizeof sup);
    sup.eval = fake_eval;
    sup.scrub = scrub_none;
    sup.lim.workload_s = wl_s;
    sup.lim.startup_s = 0.5;
    sup.lim.total_s = 60;
    sup.lim.log_tail = 1024;
    memset(&o, 0, sizeof o);
    o.redis_url = url;
    o.worker_id = worker_id;
    o.host = "testhost";
    o.device = 0;
    o.hardware = "FAKE_GPU";
    o.ds = ds;
    o.cache_dir = dir;
    o.kernels_dir = dir;
    o.seed_secret = SECRET;
    o.sup = &sup;
    o.heartbeat_s = 0.2;
    o.lease_ms = 300000;
    o.block_ms = 200;
    o.max_tasks = max_tasks;
    o.stop = &stop;
    o.probe = probe;
    o.stop_grace_s = grace;
    rc = wk_worker_run(&o, e);
    json_decref(sup.environment);
    sup.environment = NULL;
    return rc;
}

static void run_worker(const char *worker_id, int max_tasks)
{
    struct kf_err e;
    ck_assert_msg(run_worker_probe(worker_id, max_tasks, NULL, &e) == 0, "worker: %s", e.msg);
}

static json_t *task_get(const char *id)
{
    json_t *t;
    struct kf_err e;
    ck_assert_msg(kfq_task_get(conn, id, &t, &e) == 0, "%s", e.msg);
    return t;
}

static const char *field(json_t *t, const char *k)
{
    const char *s = json_string_value(json_object_get(t, k));
    return s ? s : "";
}

static json_t *traces_of(const char *id)
{
    json_t *t;
    struct kf_err e;
    ck_assert_msg(kfq_task_traces(conn, id, false, &t, &e) == 0, "%s", e.msg);
    return t;
}

static const char *trace_status(json_t *traces, int i)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(traces, (size_t)i), "evaluation"), "status"));
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_task_completes)
{
    const char *u[] = {"ok-1", "ok-2"};
    char id[65], want[64];
    json_t *t, *tr;
    const char *log;
    submit(u, 2, id);
    run_worker("w-a", 1);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "completed");
    ck_assert_int_eq(json_integer_value(json_object_get(t, "progress_done")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "progress_total")), 2);
    ck_assert_str_eq(field(t, "worker"), "w-a");
    tr = traces_of(id);
    ck_assert_int_eq((int)json_array_size(tr), 2);
    for (int i = 0; i < 2; i++) {
        struct kf_err e;
        ck_assert_str_eq(trace_status(tr, i), "PASSED");
        ck_assert_int_eq(kf_trace_validate(json_array_get(tr, (size_t)i), &e), 0);
    }
    /* The evaluator got the seed derived from the secret and the task id. */
    snprintf(want, sizeof want, "seed=%llu iterations=50 trials=3 deadline=1",
             (unsigned long long)wk_seed_derive(SECRET, id));
    log = json_string_value(json_object_get(
        json_object_get(json_array_get(tr, 0), "evaluation"), "log"));
    ck_assert_str_eq(log, want);
    json_decref(t);
    json_decref(tr);
}
END_TEST

START_TEST(test_hang_then_next_task)
{
    const char *u1[] = {"hang-3", "ok-1"}, *u2[] = {"ok-2"};
    char id1[65], id2[65];
    json_t *t, *tr;
    submit(u1, 2, id1);
    submit(u2, 1, id2);
    run_worker("w-b", 2);
    t = task_get(id1);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
    tr = traces_of(id1);
    ck_assert_str_eq(trace_status(tr, 0), "TIMEOUT");
    ck_assert_str_eq(trace_status(tr, 1), "PASSED");
    json_decref(tr);
    t = task_get(id2);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
    tr = traces_of(id2);
    ck_assert_str_eq(trace_status(tr, 0), "PASSED");
    json_decref(tr);
}
END_TEST

START_TEST(test_unknown_workload_fails)
{
    const char *u[] = {"ok-1", "no-such-uuid"};
    char id[65];
    json_t *t;
    submit(u, 2, id);
    run_worker("w-c", 1);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "failed");
    ck_assert_msg(strstr(field(t, "error"), "no-such-uuid") != NULL, "%s", field(t, "error"));
    json_decref(t);
}
END_TEST

START_TEST(test_engine_failure_fails_task)
{
    const char *u[] = {"ok-1", "engine-4"};
    char id[65];
    json_t *t, *tr;
    submit(u, 2, id);
    run_worker("w-d", 1);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "failed");
    ck_assert_msg(strstr(field(t, "error"), "fake engine cannot work") != NULL, "%s",
                  field(t, "error"));
    json_decref(t);
    tr = traces_of(id);
    ck_assert_int_eq((int)json_array_size(tr), 1);
    json_decref(tr);
}
END_TEST

/* The engine names the device and the re-probe says the GPU is gone: the
 * task is not failed but released for another worker, and the loop ends. */
START_TEST(test_gpu_lost_releases)
{
    const char *u[] = {"engine-4"}, *u2[] = {"ok-1"};
    char id[65], id2[65];
    struct kf_err e;
    json_t *t;
    submit(u, 1, id);
    submit(u2, 1, id2);
    probe_result = 1;
    ck_assert_int_eq(run_worker_probe("w-h", 0, fake_probe, &e), KF_ECUDA);
    ck_assert_msg(strstr(e.msg, "fell off the bus") != NULL, "%s", e.msg);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
    /* It stopped: the next task was not taken. */
    t = task_get(id2);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
    /* With a healthy probe the same engine error fails the task instead. */
    probe_result = 0;
    ck_assert_int_eq(run_worker_probe("w-h", 2, fake_probe, &e), 0);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "failed");
    json_decref(t);
    t = task_get(id2);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
}
END_TEST

START_TEST(test_reclaims_own_pending)
{
    const char *u[] = {"ok-1"};
    char id[65];
    struct kfq_claim_opts co = {"w-e", 300000, 0, 3, NULL};
    struct kfq_task *tk = NULL;
    struct kf_err e;
    json_t *t;
    submit(u, 1, id);
    /* An earlier run of w-e took the task and died without finishing. */
    ck_assert_int_eq(kfq_worker_claim(conn, &co, &tk, &e), 0);
    ck_assert_ptr_nonnull(tk);
    ck_assert_str_eq(tk->id, id);
    kfq_task_free(tk);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "running");
    json_decref(t);
    /* The new run finds it at start, even though nothing new is queued. */
    run_worker("w-e", 1);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
}
END_TEST

/* A stop request, like SIGTERM in kf-worker; with double_tap a second one
 * follows a second later. */
static void on_alarm(int sig)
{
    (void)sig;
    stop++;
    if (double_tap && stop == 1)
        alarm(1);
}

START_TEST(test_stop_releases_task)
{
    const char *u[] = {"ok-1", "hang-3"};
    char id[65];
    json_t *t, *tr;
    submit(u, 2, id);
    signal(SIGALRM, on_alarm);
    alarm(1);   /* the stop request arrives while hang-3 runs (deadline 30 s) */
    {
        struct wk_worker_opts o;
        struct kf_err e;
        memset(&sup, 0, sizeof sup);
        sup.eval = fake_eval;
        sup.scrub = scrub_none;
        sup.lim.workload_s = 30;
        sup.lim.startup_s = 0;
        sup.lim.total_s = 60;
        sup.lim.log_tail = 1024;
        memset(&o, 0, sizeof o);
        o.redis_url = url;
        o.worker_id = "w-f";
        o.host = "testhost";
        o.ds = ds;
        o.seed_secret = SECRET;
        o.sup = &sup;
        o.heartbeat_s = 0.2;
        o.lease_ms = 300000;
        o.block_ms = 200;
        o.stop = &stop;
        ck_assert_int_eq(wk_worker_run(&o, &e), 0);
        json_decref(sup.environment);
    }
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
    /* The same worker id, restarted, reclaims and finishes it. */
    stop = 0;
    run_worker("w-f", 1);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
    tr = traces_of(id);
    ck_assert_int_eq((int)json_array_size(tr), 2);
    ck_assert_str_eq(trace_status(tr, 0), "PASSED");
    ck_assert_str_eq(trace_status(tr, 1), "TIMEOUT");
    json_decref(tr);
}
END_TEST

/* With a grace period the task in progress finishes despite the stop
 * request (which arrives while slow-5 runs), and the next one is not taken. */
START_TEST(test_stop_grace_finishes_task)
{
    const char *u[] = {"ok-1", "slow-5"}, *u2[] = {"ok-2"};
    char id[65], id2[65];
    struct kf_err e;
    json_t *t;
    submit(u, 2, id);
    submit(u2, 1, id2);
    wl_s = 10;   /* slow-5 (3 s) must not time out */
    grace = 30;
    signal(SIGALRM, on_alarm);
    alarm(1);
    ck_assert_int_eq(run_worker_probe("w-i", 0, NULL, &e), 0);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "completed");
    json_decref(t);
    t = task_get(id2);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
}
END_TEST

/* A second request abandons the task at once, within the grace period:
 * it arrives (at ~2 s) while slow-5 (~3 s) still runs. */
START_TEST(test_second_stop_abandons)
{
    const char *u[] = {"ok-1", "slow-5"};
    char id[65];
    struct kf_err e;
    json_t *t;
    submit(u, 2, id);
    wl_s = 10;   /* slow-5 (3 s) must not time out */
    grace = 30;
    double_tap = 1;
    signal(SIGALRM, on_alarm);
    alarm(1);
    ck_assert_int_eq(run_worker_probe("w-j", 0, NULL, &e), 0);
    ck_assert_int_eq(stop, 2);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
}
END_TEST

START_TEST(test_eval_config_reaches_evaluator)
{
    const char *u[] = {"ok-1"};
    char id[65], id2[65];
    json_t *t, *tr;
    const char *log;
    submit_cfg(u, 1, "{\"iterations\": 7, \"timeout_seconds\": 0.75}", id);
    submit_cfg(u, 1, "{\"trials\": \"many\"}", id2);
    run_worker("w-g", 2);
    tr = traces_of(id);
    log = json_string_value(json_object_get(
        json_object_get(json_array_get(tr, 0), "evaluation"), "log"));
    /* The request's overrides reach the evaluator; the deadline is the
     * smaller of the worker's cap (1 s) and the request's. */
    ck_assert_msg(strstr(log, "iterations=7 trials=3 deadline=0.75") != NULL, "%s", log);
    json_decref(tr);
    t = task_get(id2);
    ck_assert_str_eq(field(t, "status"), "failed");
    ck_assert_msg(strstr(field(t, "error"), "trials") != NULL, "%s", field(t, "error"));
    json_decref(t);
}
END_TEST

/* ---- the self-test (worker/selftest.c) with the fake evaluator ---------------- */

static void write_reference(const char *kernels)
{
    char p[512];
    snprintf(p, sizeof p, "mkdir -p %s/reference/vadd", kernels);
    ck_assert_int_eq(system(p), 0);
    snprintf(p, sizeof p, "%s/reference/vadd/spec.json", kernels);
    write_file(p, "{\"name\":\"kf_reference_vadd\",\"definition\":\"vadd\",\"author\":\"kf\","
                  "\"spec\":{\"language\":\"cuda\",\"binding\":\"nvrtc\","
                  "\"target_hardware\":[\"cuda\"],\"entry_point\":\"k.cu::copy\","
                  "\"destination_passing_style\":true,"
                  "\"launch\":[{\"kernel\":\"copy\",\"grid\":[\"cdiv(n, 128)\"],"
                  "\"block\":[128],\"args\":[\"x\",\"y\",\"n\"]}]}}");
    snprintf(p, sizeof p, "%s/reference/vadd/k.cu", kernels);
    write_file(p, "extern \"C\" __global__ void copy(const float *x, float *y, long long n)"
                  " { long long i = blockIdx.x * 128 + threadIdx.x; if (i < n) y[i] = x[i]; }\n");
}

static int self_test(const char *kernels, struct wk_selftest *st)
{
    memset(&sup, 0, sizeof sup);
    sup.eval = fake_eval;
    sup.scrub = scrub_none;
    sup.lim.workload_s = 5;
    sup.lim.startup_s = 0.5;
    sup.lim.total_s = 60;
    sup.lim.log_tail = 1024;
    int rc = wk_self_test(&sup, ds, kernels, dir, 0, NULL, NULL, st);
    json_decref(sup.environment);
    sup.environment = NULL;
    return rc;
}

START_TEST(test_self_test)
{
    char kernels[128];
    struct wk_selftest st;
    snprintf(kernels, sizeof kernels, "%s/kernels", dir);
    /* the smallest workload is picked (all have n = 16: the first) */
    ck_assert_int_eq(wk_selftest_pick(&ds->defs[0]), 0);
    /* no reference kernel: fails and says where it looked */
    ck_assert_int_eq(self_test(kernels, &st), KF_EINVAL);
    ck_assert_msg(strstr(st.why, "vadd: reference kernel") != NULL, "%s", st.why);
    write_reference(kernels);
    ck_assert_msg(self_test(kernels, &st) == 0, "%s", st.why);
    ck_assert_int_eq(st.ndefs, 1);
    ck_assert_int_eq(st.passed, 1);
    ck_assert_str_eq(st.why, "");
    /* the reference does not match itself on this GPU: fails with the status */
    fake_status = "INCORRECT_NUMERICAL";
    ck_assert_int_eq(self_test(kernels, &st), KF_EINVAL);
    fake_status = "PASSED";
    ck_assert_msg(strstr(st.why, "INCORRECT_NUMERICAL") && strstr(st.why, "ok-1"), "%s",
                  st.why);
}
END_TEST

/* A worker whose self-test failed takes no task and says why in its
 * heartbeat (what GET /health shows). */
START_TEST(test_unhealthy_worker_takes_no_tasks)
{
    const char *u[] = {"ok-1"};
    char id[65];
    submit(u, 1, id);
    pid_t p = fork();
    if (p == 0) {
        struct wk_worker_opts o;
        struct kf_err e;
        signal(SIGALRM, on_alarm);
        alarm(2);
        memset(&sup, 0, sizeof sup);
        sup.eval = fake_eval;
        sup.scrub = scrub_none;
        sup.lim.workload_s = 5;
        sup.lim.total_s = 60;
        sup.lim.log_tail = 1024;
        memset(&o, 0, sizeof o);
        o.redis_url = url;
        o.worker_id = "w-sick";
        o.host = "testhost";
        o.ds = ds;
        o.seed_secret = SECRET;
        o.sup = &sup;
        o.heartbeat_s = 0.2;
        o.lease_ms = 300000;
        o.block_ms = 200;
        o.stop = &stop;
        o.self_test_error = "vadd: the reference on workload ok-1 gave INCORRECT_NUMERICAL";
        _exit(wk_worker_run(&o, &e) == 0 ? 0 : 1);
    }
    usleep(1000000);
    json_t *ws = NULL, *w = NULL;
    struct kf_err e;
    ck_assert_int_eq(kfq_workers(conn, &ws, &e), 0);
    for (size_t i = 0; i < json_array_size(ws); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(ws, i), "id")), "w-sick"))
            w = json_array_get(ws, i);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(json_string_value(json_object_get(w, "state")), "unhealthy");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(w, "self_test")),
                                 "INCORRECT_NUMERICAL"));
    json_decref(ws);
    json_t *t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "pending");
    json_decref(t);
    int status;
    waitpid(p, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    t = task_get(id);
    ck_assert_str_eq(field(t, "status"), "pending");   /* still nobody's */
    json_decref(t);
}
END_TEST

/* The start-up self-test as the worker loop runs it: heartbeat "self-test"
 * while it runs (kept alive through on_tick), then either tasks are taken
 * (passed) or none and "unhealthy" with the reason (failed). */
static int fake_self_test_ok;

static int fake_self_test(void *ctx, const struct wk_hooks *h, char *why, size_t n)
{
    (void)ctx;
    for (int i = 0; i < 15; i++) {   /* 1.5 s of "evaluating", ticking */
        usleep(100000);
        if (h->on_tick(h->ctx))
            return snprintf(why, n, "stopped"), 1;
    }
    if (fake_self_test_ok)
        return 0;
    snprintf(why, n, "vadd: the evaluation engine failed: fake");
    return 1;
}

static const char *worker_state(const char *id, char *self_test, size_t n)
{
    static char state[32];
    json_t *ws = NULL;
    struct kf_err e;
    state[0] = self_test[0] = 0;
    ck_assert_int_eq(kfq_workers(conn, &ws, &e), 0);
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        if (strcmp(json_string_value(json_object_get(w, "id")), id) == 0) {
            snprintf(state, sizeof state, "%s", json_string_value(json_object_get(w, "state")));
            const char *s = json_string_value(json_object_get(w, "self_test"));
            snprintf(self_test, n, "%s", s ? s : "");
        }
    }
    json_decref(ws);
    return state;
}

START_TEST(test_startup_self_test_in_loop)
{
    const char *u[] = {"ok-1"};
    char id[65], why[256];
    submit(u, 1, id);
    for (int pass = 0; pass < 2; pass++) {
        fake_self_test_ok = pass;
        pid_t p = fork();
        if (p == 0) {
            struct wk_worker_opts o;
            struct kf_err e;
            signal(SIGALRM, on_alarm);
            alarm(3);
            memset(&sup, 0, sizeof sup);
            sup.eval = fake_eval;
            sup.scrub = scrub_none;
            sup.lim.workload_s = 5;
            sup.lim.total_s = 60;
            sup.lim.log_tail = 1024;
            memset(&o, 0, sizeof o);
            o.redis_url = url;
            o.worker_id = pass ? "w-st-ok" : "w-st-bad";
            o.host = "testhost";
            o.ds = ds;
            o.seed_secret = SECRET;
            o.sup = &sup;
            o.heartbeat_s = 0.2;
            o.lease_ms = 300000;
            o.block_ms = 200;
            o.stop = &stop;
            o.self_test = fake_self_test;
            _exit(wk_worker_run(&o, &e) == 0 ? 0 : 1);
        }
        usleep(800000);   /* inside the self-test */
        ck_assert_str_eq(worker_state(pass ? "w-st-ok" : "w-st-bad", why, sizeof why),
                         "self-test");
        json_t *t = task_get(id);
        ck_assert_str_eq(field(t, "status"), "pending");   /* nothing taken meanwhile */
        json_decref(t);
        usleep(1500000);  /* the self-test is over */
        const char *st = worker_state(pass ? "w-st-ok" : "w-st-bad", why, sizeof why);
        t = task_get(id);
        if (!pass) {
            ck_assert_str_eq(st, "unhealthy");
            ck_assert_ptr_nonnull(strstr(why, "fake"));
            ck_assert_str_eq(field(t, "status"), "pending");
        } else {
            ck_assert_str_eq(why, "");
            ck_assert_str_eq(field(t, "status"), "completed");
        }
        json_decref(t);
        int status;
        waitpid(p, &status, 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_task_completes);
    tcase_add_test(tc, test_hang_then_next_task);
    tcase_add_test(tc, test_unknown_workload_fails);
    tcase_add_test(tc, test_engine_failure_fails_task);
    tcase_add_test(tc, test_reclaims_own_pending);
    tcase_add_test(tc, test_gpu_lost_releases);
    tcase_add_test(tc, test_stop_releases_task);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_eval_config_reaches_evaluator);
    tcase_add_test(tc, test_stop_grace_finishes_task);
    tcase_add_test(tc, test_second_stop_abandons);
    tcase_add_test(tc, test_self_test);
    tcase_add_test(tc, test_unhealthy_worker_takes_no_tasks);
    tcase_add_test(tc, test_startup_self_test_in_loop);
    return s;
}

KF_CHECK_MAIN
