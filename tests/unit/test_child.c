/* test_child.c: the evaluator child and the supervisor (worker/child.c,
 * worker/supervisor.c, worker/seed.c) with fake evaluation functions in
 * real forked children, no GPU: a hang gives TIMEOUT and the rest still
 * runs, a segfault or a bad exit gives RUNTIME_ERROR with the log tail,
 * garbage and forged frames are rejected, the engine's own failure ends the
 * task, secrets and descriptors do not reach the child, the process group
 * dies with it. The fake's behaviour per workload is chosen by its uuid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kf_check.h"
#include "seed.h"
#include "supervisor.h"
#include "wire.h"

static char secret_buf[] = "s3cret-value-123";
static int canary_fd = -1;
static struct stat canary_st;

/* ---- fixtures: definition, solution, workloads built by hand ------------ */

static struct kf_definition def = {.name = "fake_def", .op_type = "fake"};
static struct kf_solution sol = {.name = "fake_sol", .definition = "fake_def"};

#define MAXW 8
static struct kf_workload wls[MAXW];
static const struct kf_workload *wptr[MAXW];
static struct kf_workload_axis axis_n = {"n", 4};
static struct kf_workload_input in_x = {.name = "x", .kind = KF_IN_RANDOM};

/* Workloads named by the given uuids; returns the request. */
static struct ev_request make_req(const char *const *uuids, int n)
{
    struct ev_request req;
    memset(&req, 0, sizeof req);
    for (int i = 0; i < n; i++) {
        wls[i].uuid = (char *)uuids[i];
        wls[i].axes = &axis_n;
        wls[i].naxes = 1;
        wls[i].inputs = &in_x;
        wls[i].ninputs = 1;
        wptr[i] = &wls[i];
    }
    req.def = &def;
    req.sol = &sol;
    req.workloads = wptr;
    req.nworkloads = n;
    req.seed = 42;
    return req;
}

/* ---- the fake evaluator ---------------------------------------------------- */

static json_t *fake_trace(const struct kf_workload *w, const char *status, const char *log)
{
    json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:{}}, s:s}", "status", status, "log", log,
                           "environment", "hardware", "FAKE_GPU", "libs", "timestamp",
                           "2026-11-22T04:00:00.000000Z");
    if (strcmp(status, "PASSED") == 0) {
        json_object_set_new(ev, "correctness",
                            json_pack("{s:f, s:f}", "max_relative_error", 0.0,
                                      "max_absolute_error", 0.0));
        json_object_set_new(ev, "performance",
                            json_pack("{s:f, s:f, s:f}", "latency_ms", 1.0,
                                      "reference_latency_ms", 2.0, "speedup_factor", 2.0));
    } else {
        json_object_set_new(ev, "correctness", json_null());
        json_object_set_new(ev, "performance", json_null());
    }
    return json_pack("{s:s, s:o, s:s, s:o}", "definition", def.name, "workload",
                     kf_workload_to_json(w), "solution", sol.name, "evaluation", ev);
}

static void send_raw_frame(const char *body)
{
    wk_frame_write_raw(3, body, strlen(body), NULL);
}

static int fake_eval(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                     json_t **traces_out, struct kf_err *err)
{
    json_t *all = json_array();
    for (int i = 0; i < req->nworkloads; i++) {
        const struct kf_workload *w = req->workloads[i];
        const char *u = w->uuid;
        char log[512];
        json_t *t;
        snprintf(log, sizeof log, "pid=%d seed=%llu", (int)getpid(),
                 (unsigned long long)req->seed);
        if (strncmp(u, "hang", 4) == 0) {
            for (;;)
                pause();
        } else if (strncmp(u, "forkhang", 8) == 0) {
            pid_t g = fork();
            if (g == 0) {
                for (;;)
                    pause();
            }
            fprintf(stderr, "grandchild=%d\n", (int)g);
            fflush(stderr);
            for (;;)
                pause();
        } else if (strncmp(u, "segv", 4) == 0) {
            fprintf(stderr, "about to crash: marker-7781\n");
            fflush(stderr);
            raise(SIGSEGV);
        } else if (strncmp(u, "exit3", 5) == 0) {
            _exit(3);
        } else if (strncmp(u, "silent", 6) == 0) {
            _exit(0);
        } else if (strncmp(u, "garbage", 7) == 0) {
            send_raw_frame("this is not json");
            for (;;)
                pause();
        } else if (strncmp(u, "hugelen", 7) == 0) {
            (void)!write(3, "\x7f\xff\xff\xff", 4);
            for (;;)
                pause();
        } else if (strncmp(u, "wronguuid", 9) == 0) {
            t = fake_trace(req->workloads[0], "PASSED", log);
            json_object_set_new(json_object_get(t, "workload"), "uuid",
                                json_string("someone-else"));
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "wrongsol", 8) == 0) {
            t = fake_trace(w, "PASSED", log);
            json_object_set_new(t, "solution", json_string("other_sol"));
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "badstatus", 9) == 0) {
            t = fake_trace(w, "PASSED", log);
            json_object_set_new(json_object_get(t, "evaluation"), "status",
                                json_string("SUPER_FAST"));
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "perfonfail", 10) == 0) {
            /* INCORRECT_NUMERICAL may not carry performance. */
            t = fake_trace(w, "PASSED", log);
            json_object_set_new(json_object_get(t, "evaluation"), "status",
                                json_string("RUNTIME_ERROR"));
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "forged", 6) == 0) {
            /* A frame claiming to be the done message early. */
            send_raw_frame("{\"type\":\"done\",\"count\":99}");
            for (;;)
                pause();
        } else if (strncmp(u, "engine", 6) == 0) {
            json_decref(all);
            return kf_err_set(err, KF_ECUDA, NULL, "no CUDA device 7 (fake)");
        } else if (strncmp(u, "biglog", 6) == 0) {
            size_t n = WK_FRAME_MAX + 1000;
            char *big = malloc(n + 1);
            memset(big, 'x', n);
            big[n] = '\0';
            t = fake_trace(w, "COMPILE_ERROR", big);
            free(big);
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "wrongaxes", 9) == 0) {
            t = fake_trace(w, "PASSED", log);
            json_object_set_new(json_object_get(t, "workload"), "axes", json_pack("{s:i}", "n", 5));
            progress(ctx, i + 1, req->nworkloads, t);
            json_decref(t);
            continue;
        } else if (strncmp(u, "noref", 5) == 0) {
            json_decref(all);
            return kf_err_set(err, KF_ENOENT, NULL, "no reference kernel for fake_def");
        } else if (strncmp(u, "rterr", 5) == 0 || strncmp(u, "jlost", 5) == 0) {
            t = fake_trace(w, "RUNTIME_ERROR", log);
            if (u[0] == 'j')   /* the judge's own context is gone */
                json_object_set_new(json_object_get(t, "evaluation"), "kernelfarm",
                                    json_pack("{s:b}", "judge_context_lost", 1));
            progress(ctx, i + 1, req->nworkloads, t);
            json_array_append_new(all, t);
            continue;
        } else if (strncmp(u, "probe", 5) == 0) {
            /* Report what the child can see: secrets, fds, process group. */
            const char *env = getenv("KF_SEED_SECRET");
            /* Open and the same file: the descriptor number alone may
             * have been reused by the child for something else. */
            struct stat st;
            int fd_open = canary_fd >= 0 && fstat(canary_fd, &st) == 0 &&
                          st.st_ino == canary_st.st_ino && st.st_dev == canary_st.st_dev;
            snprintf(log, sizeof log, "secret=[%s] env=[%s] canary_open=%d pgid_is_pid=%d",
                     secret_buf, env ? env : "(unset)", fd_open, getpgrp() == getpid());
        } else if (strncmp(u, "noprogress", 10) == 0) {
            /* Only in the returned array: the child forwards it. */
            json_array_append_new(all, fake_trace(w, "PASSED", log));
            continue;
        }
        t = fake_trace(w, "PASSED", log);
        progress(ctx, i + 1, req->nworkloads, t);
        json_array_append_new(all, t);
    }
    *traces_out = all;
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static struct wk_super sup;
static int ticks, abandon_after_traces = -1, seen_traces;

static void on_trace(void *ctx, int index, const json_t *trace)
{
    (void)ctx;
    (void)trace;
    ck_assert_int_eq(index, seen_traces);
    seen_traces++;
}

static int on_tick(void *ctx)
{
    (void)ctx;
    ticks++;
    return abandon_after_traces >= 0 && seen_traces >= abandon_after_traces;
}

static struct wk_hooks hooks = {on_trace, on_tick, 0.2, NULL};

static void setup(void)
{
    static char *scrub[1];
    scrub[0] = secret_buf;
    memset(&sup, 0, sizeof sup);
    sup.eval = fake_eval;
    sup.scrub = scrub;
    sup.nscrub = 1;
    sup.lim.workload_s = 1.0;
    sup.lim.startup_s = 0.5;
    sup.lim.total_s = 60;
    sup.lim.log_tail = 4096;
    ticks = 0;
    seen_traces = 0;
    abandon_after_traces = -1;
}

static void teardown(void)
{
    json_decref(sup.environment);
}

static json_t *run(const char *const *uuids, int n, int want_rc)
{
    struct ev_request req = make_req(uuids, n);
    struct kf_err e;
    json_t *traces = NULL;
    int rc;
    kf_err_clear(&e);
    rc = wk_run_task(&sup, "t-test", &req, &hooks, &traces, &e);
    ck_assert_msg(rc == want_rc, "rc %d want %d: %s", rc, want_rc, e.msg);
    if (rc == 0) {
        ck_assert_ptr_nonnull(traces);
        ck_assert_int_eq((int)json_array_size(traces), n);
        ck_assert_int_eq(seen_traces, n);
        for (int i = 0; i < n; i++) {
            struct kf_err ve;
            ck_assert_msg(kf_trace_validate(json_array_get(traces, (size_t)i), &ve) == 0,
                          "trace %d invalid: %s %s", i, ve.path, ve.msg);
        }
    }
    return traces;
}

static const char *status_of(json_t *traces, int i)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(traces, (size_t)i), "evaluation"), "status"));
}

static const char *log_of(json_t *traces, int i)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(traces, (size_t)i), "evaluation"), "log"));
}

static const char *uuid_of(json_t *traces, int i)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(traces, (size_t)i), "workload"), "uuid"));
}

static int pid_in_log(json_t *traces, int i)
{
    const char *l = log_of(traces, i), *p = l ? strstr(l, "pid=") : NULL;
    return p ? atoi(p + 4) : -1;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_all_pass_one_child)
{
    const char *u[] = {"ok-1", "ok-2", "ok-3"};
    json_t *t = run(u, 3, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(status_of(t, i), "PASSED");
        ck_assert_str_eq(uuid_of(t, i), u[i]);
    }
    ck_assert_int_eq(pid_in_log(t, 0), pid_in_log(t, 2));
    ck_assert_int_ne(pid_in_log(t, 0), getpid());
    ck_assert(strstr(log_of(t, 0), "seed=42") != NULL);
    /* The engine's environment is kept for traces the supervisor writes. */
    ck_assert_str_eq(json_string_value(json_object_get(sup.environment, "hardware")),
                     "FAKE_GPU");
    json_decref(t);
}
END_TEST

START_TEST(test_traces_only_returned)
{
    const char *u[] = {"noprogress-1", "noprogress-2"};
    json_t *t = run(u, 2, 0);
    ck_assert_str_eq(status_of(t, 0), "PASSED");
    ck_assert_str_eq(status_of(t, 1), "PASSED");
    json_decref(t);
}
END_TEST

START_TEST(test_hang_times_out_rest_runs)
{
    const char *u[] = {"ok-1", "hang-2", "ok-3"};
    json_t *t = run(u, 3, 0);
    ck_assert_str_eq(status_of(t, 0), "PASSED");
    ck_assert_str_eq(status_of(t, 1), "TIMEOUT");
    ck_assert(strstr(log_of(t, 1), "deadline of 1.0 s") != NULL);
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    /* The last workload ran in a fresh child. */
    ck_assert_int_ne(pid_in_log(t, 0), pid_in_log(t, 2));
    /* Supervisor-made traces carry the engine's environment. */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(
                         json_array_get(t, 1), "evaluation"), "environment"), "hardware")),
                     "FAKE_GPU");
    json_decref(t);
}
END_TEST

START_TEST(test_hang_first_uses_startup_allowance)
{
    const char *u[] = {"hang-1", "ok-2"};
    json_t *t = run(u, 2, 0);
    ck_assert_str_eq(status_of(t, 0), "TIMEOUT");
    ck_assert(strstr(log_of(t, 0), "start-up allowance") != NULL);
    ck_assert_str_eq(status_of(t, 1), "PASSED");
    /* No trace from an engine yet: the environment is "unknown". */
    json_decref(t);
}
END_TEST

START_TEST(test_total_deadline)
{
    const char *u[] = {"ok-1", "hang-2", "ok-3", "ok-4"};
    json_t *t;
    sup.lim.workload_s = 30;
    sup.lim.total_s = 1.0;
    t = run(u, 4, 0);
    ck_assert_str_eq(status_of(t, 0), "PASSED");
    for (int i = 1; i < 4; i++)
        ck_assert_str_eq(status_of(t, i), "TIMEOUT");
    ck_assert(strstr(log_of(t, 1), "task deadline") != NULL);
    ck_assert(strstr(log_of(t, 3), "not run") != NULL);
    json_decref(t);
}
END_TEST

START_TEST(test_segfault)
{
    const char *u[] = {"ok-1", "segv-2", "ok-3"};
    json_t *t = run(u, 3, 0);
    ck_assert_str_eq(status_of(t, 0), "PASSED");
    ck_assert_str_eq(status_of(t, 1), "RUNTIME_ERROR");
    ck_assert_msg(strstr(log_of(t, 1), "signal 11") != NULL, "%s", log_of(t, 1));
    ck_assert_msg(strstr(log_of(t, 1), "marker-7781") != NULL, "%s", log_of(t, 1));
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    json_decref(t);
}
END_TEST

START_TEST(test_exit_status)
{
    const char *u[] = {"exit3-1", "silent-2", "ok-3"};
    json_t *t = run(u, 3, 0);
    ck_assert_str_eq(status_of(t, 0), "RUNTIME_ERROR");
    ck_assert(strstr(log_of(t, 0), "status 3") != NULL);
    ck_assert_str_eq(status_of(t, 1), "RUNTIME_ERROR");
    ck_assert(strstr(log_of(t, 1), "before reporting") != NULL);
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    json_decref(t);
}
END_TEST

/* Each bad child: RUNTIME_ERROR "protocol" for its workload, the next passes. */
static void bad_frame_case(const char *bad, const char *why)
{
    const char *u[] = {"ok-1", bad, "ok-3"};
    json_t *t = run(u, 3, 0);
    ck_assert_str_eq(status_of(t, 0), "PASSED");
    ck_assert_str_eq(status_of(t, 1), "RUNTIME_ERROR");
    ck_assert_msg(strstr(log_of(t, 1), "protocol error") != NULL, "%s", log_of(t, 1));
    ck_assert_msg(strstr(log_of(t, 1), why) != NULL, "%s", log_of(t, 1));
    ck_assert_str_eq(uuid_of(t, 1), bad);
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    json_decref(t);
}

START_TEST(test_wrong_axes) { bad_frame_case("wrongaxes-2", "differs"); }
END_TEST

START_TEST(test_huge_log_truncated)
{
    const char *u[] = {"biglog-1", "ok-2"};
    json_t *t = run(u, 2, 0);
    ck_assert_str_eq(status_of(t, 0), "COMPILE_ERROR");
    ck_assert(strstr(log_of(t, 0), "[log truncated") != NULL);
    ck_assert_int_lt(strlen(log_of(t, 0)), 70000);
    ck_assert_str_eq(status_of(t, 1), "PASSED");
    json_decref(t);
}
END_TEST

START_TEST(test_garbage_frame) { bad_frame_case("garbage-2", "not JSON"); }
END_TEST
START_TEST(test_huge_length) { bad_frame_case("hugelen-2", "frame length"); }
END_TEST
START_TEST(test_wrong_uuid) { bad_frame_case("wronguuid-2", "expected wronguuid-2"); }
END_TEST
START_TEST(test_wrong_solution) { bad_frame_case("wrongsol-2", "solution"); }
END_TEST
START_TEST(test_bad_status) { bad_frame_case("badstatus-2", "invalid trace"); }
END_TEST
START_TEST(test_nullability) { bad_frame_case("perfonfail-2", "invalid trace"); }
END_TEST
START_TEST(test_forged_done) { bad_frame_case("forged-2", "done after"); }
END_TEST

/* A lost judge context: the rest of the workloads in a fresh judge. */
START_TEST(test_runtime_error_fresh_process)
{
    const char *u[] = {"ok-1", "jlost-2", "ok-3", "ok-4"};
    json_t *t = run(u, 4, 0);
    ck_assert_str_eq(status_of(t, 1), "RUNTIME_ERROR");
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    ck_assert_int_eq(pid_in_log(t, 0), pid_in_log(t, 1));
    ck_assert_int_ne(pid_in_log(t, 1), pid_in_log(t, 2));
    ck_assert_int_eq(pid_in_log(t, 2), pid_in_log(t, 3));
    json_decref(t);
}
END_TEST

/* The solution's runtime error ends only its runner: the same judge goes on. */
START_TEST(test_runtime_error_same_judge)
{
    const char *u[] = {"ok-1", "rterr-2", "ok-3"};
    json_t *t = run(u, 3, 0);
    ck_assert_str_eq(status_of(t, 1), "RUNTIME_ERROR");
    ck_assert_str_eq(status_of(t, 2), "PASSED");
    ck_assert_int_eq(pid_in_log(t, 0), pid_in_log(t, 1));
    ck_assert_int_eq(pid_in_log(t, 1), pid_in_log(t, 2));
    json_decref(t);
}
END_TEST

START_TEST(test_engine_failure)
{
    const char *u[] = {"ok-1", "engine-2", "ok-3"};
    struct ev_request req = make_req(u, 3);
    struct kf_err e;
    json_t *traces = NULL;
    kf_err_clear(&e);
    /* The device named as the cause (KF_ECUDA) stays distinguishable. */
    ck_assert_int_eq(wk_run_task(&sup, "t-eng", &req, &hooks, &traces, &e), KF_ECUDA);
    ck_assert_ptr_null(traces);
    ck_assert_msg(strstr(e.msg, "no CUDA device 7") != NULL, "%s", e.msg);
    ck_assert_int_eq(seen_traces, 1);
}
END_TEST

START_TEST(test_engine_failure_other)
{
    const char *u[] = {"noref-1"};
    struct ev_request req = make_req(u, 1);
    struct kf_err e;
    json_t *traces = NULL;
    kf_err_clear(&e);
    ck_assert_int_eq(wk_run_task(&sup, "t-eng2", &req, &hooks, &traces, &e), KF_EUNSUP);
    ck_assert_msg(strstr(e.msg, "no reference kernel") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(test_abandon)
{
    const char *u[] = {"ok-1", "hang-2", "ok-3"};
    struct ev_request req = make_req(u, 3);
    json_t *traces = NULL;
    sup.lim.workload_s = 30;
    abandon_after_traces = 1;
    ck_assert_int_eq(wk_run_task(&sup, "t-ab", &req, &hooks, &traces, NULL), WK_ABANDONED);
    ck_assert_ptr_null(traces);
    ck_assert_int_eq(seen_traces, 1);
    ck_assert_int_ge(ticks, 1);
}
END_TEST

/* The grandchild of a hanging evaluator dies with its process group. */
START_TEST(test_group_killed)
{
    const char *u[] = {"forkhang-1"};
    json_t *t = run(u, 1, 0);
    const char *l = log_of(t, 0), *p = strstr(l, "grandchild=");
    char path[64], st[256] = "";
    FILE *f;
    int g;
    ck_assert_str_eq(status_of(t, 0), "TIMEOUT");
    ck_assert_msg(p != NULL, "%s", l);
    g = atoi(p + 11);
    ck_assert_int_gt(g, 1);
    /* SIGKILL was sent to the group before the leader was reaped: the
     * grandchild is gone or a zombie waiting for its new parent, never
     * still running. */
    snprintf(path, sizeof path, "/proc/%d/stat", g);
    f = fopen(path, "r");
    if (f) {
        char *rp;
        ck_assert_ptr_nonnull(fgets(st, sizeof st, f));
        fclose(f);
        rp = strrchr(st, ')');
        ck_assert_ptr_nonnull(rp);
        /* Z (zombie) or X (dead); a kill in flight may still show it
         * exiting, so also accept the pending SIGKILL being visible. */
        ck_assert_msg(rp[2] == 'Z' || rp[2] == 'X' || kill(g, 0) < 0, "state %c", rp[2]);
    }
    json_decref(t);
}
END_TEST

START_TEST(test_child_sees_no_secrets)
{
    const char *u[] = {"probe-1"};
    json_t *t;
    char path[] = "/tmp/kf-canary-XXXXXX";
    setenv("KF_SEED_SECRET", "env-secret-xyz", 1);
    canary_fd = mkstemp(path);
    ck_assert_int_ge(canary_fd, 0);
    ck_assert_int_eq(fstat(canary_fd, &canary_st), 0);
    unlink(path);
    t = run(u, 1, 0);
    ck_assert_msg(strstr(log_of(t, 0), "secret=[]") != NULL, "%s", log_of(t, 0));
    ck_assert_msg(strstr(log_of(t, 0), "env=[]") != NULL, "%s", log_of(t, 0));
    ck_assert_msg(strstr(log_of(t, 0), "canary_open=0") != NULL, "%s", log_of(t, 0));
    ck_assert_msg(strstr(log_of(t, 0), "pgid_is_pid=1") != NULL, "%s", log_of(t, 0));
    /* The supervisor's own copy is untouched. */
    ck_assert_str_eq(secret_buf, "s3cret-value-123");
    ck_assert_str_eq(getenv("KF_SEED_SECRET"), "env-secret-xyz");
    close(canary_fd);
    json_decref(t);
}
END_TEST

START_TEST(test_supervisor_trace_shape)
{
    const char *u[] = {"w-1"};
    struct ev_request req = make_req(u, 1);
    json_t *t = wk_make_trace(&def, &sol, req.workloads[0], "TIMEOUT", "why", NULL);
    json_t *ev = json_object_get(t, "evaluation");
    struct kf_err e;
    ck_assert_int_eq(kf_trace_validate(t, &e), 0);
    /* Like the engine's traces: no correctness or performance keys. */
    ck_assert_ptr_null(json_object_get(ev, "correctness"));
    ck_assert_ptr_null(json_object_get(ev, "performance"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "kernelfarm"),
                                                       "verdict_by")), "supervisor");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "environment"),
                                                       "hardware")), "unknown");
    ck_assert_int_eq(wk_check_trace(t, &def, &sol, req.workloads[0], &e), 0);
    json_decref(t);
}
END_TEST

/* ---- seeds --------------------------------------------------------------- */

START_TEST(test_siphash_vectors)
{
    /* Reference vectors of SipHash-2-4 (key 00..0f, message 00..len-1). */
    uint8_t k[16], m[16];
    for (int i = 0; i < 16; i++)
        k[i] = m[i] = (uint8_t)i;
    ck_assert_uint_eq(wk_siphash(k, m, 0), 0x726fdb47dd0e0e31ULL);
    ck_assert_uint_eq(wk_siphash(k, m, 1), 0x74f839c593dc67fdULL);
    ck_assert_uint_eq(wk_siphash(k, m, 8), 0x93f5f5799a932462ULL);
    ck_assert_uint_eq(wk_siphash(k, m, 15), 0xa129ca6149be45e5ULL);
}
END_TEST

START_TEST(test_seed_derive)
{
    uint64_t a = wk_seed_derive("secret-A", "task-1");
    ck_assert_uint_eq(a, wk_seed_derive("secret-A", "task-1"));
    ck_assert_uint_ne(a, wk_seed_derive("secret-B", "task-1"));
    ck_assert_uint_ne(a, wk_seed_derive("secret-A", "task-2"));
    /* No ambiguity between secret and id boundaries. */
    ck_assert_uint_ne(wk_seed_derive("ab", "c"), wk_seed_derive("a", "bc"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("child");
    TCase *tc = tcase_create("supervisor");
    TCase *ts = tcase_create("seed");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_all_pass_one_child);
    tcase_add_test(tc, test_traces_only_returned);
    tcase_add_test(tc, test_hang_times_out_rest_runs);
    tcase_add_test(tc, test_hang_first_uses_startup_allowance);
    tcase_add_test(tc, test_total_deadline);
    tcase_add_test(tc, test_segfault);
    tcase_add_test(tc, test_exit_status);
    tcase_add_test(tc, test_garbage_frame);
    tcase_add_test(tc, test_wrong_axes);
    tcase_add_test(tc, test_huge_log_truncated);
    tcase_add_test(tc, test_huge_length);
    tcase_add_test(tc, test_wrong_uuid);
    tcase_add_test(tc, test_wrong_solution);
    tcase_add_test(tc, test_bad_status);
    tcase_add_test(tc, test_nullability);
    tcase_add_test(tc, test_forged_done);
    tcase_add_test(tc, test_runtime_error_fresh_process);
    tcase_add_test(tc, test_runtime_error_same_judge);
    tcase_add_test(tc, test_engine_failure);
    tcase_add_test(tc, test_engine_failure_other);
    tcase_add_test(tc, test_abandon);
    tcase_add_test(tc, test_group_killed);
    tcase_add_test(tc, test_child_sees_no_secrets);
    tcase_add_test(tc, test_supervisor_trace_shape);
    suite_add_tcase(s, tc);
    tcase_set_timeout(ts, 10);
    tcase_add_test(ts, test_siphash_vectors);
    tcase_add_test(ts, test_seed_derive);
    suite_add_tcase(s, ts);
    return s;
}

KF_CHECK_MAIN
