/* test_runner_link.c: the judge's end of the runner protocol (worker/
 * runner_link.c) against fake runners that answer well, answer badly, lie
 * or die, and the judge's pure decisions on what they answer (worker/
 * verdict.c). No GPU: the fakes are functions run in the forked child in
 * place of bin/kf-runner, with the same fds. */
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf_check.h"
#include "runner_link.h"
#include "verdict.h"
#include "wire.h"

/* Read one command from fd; NULL at EOF. */
static json_t *next_cmd(int fd)
{
    struct wk_reader r;
    json_t *m = NULL;
    int rc;
    wk_reader_init(&r, 0);
    do
        rc = wk_reader_read(&r, fd, &m, NULL);
    while (rc == WK_READ_AGAIN);
    wk_reader_free(&r);
    return rc == WK_READ_MSG ? m : NULL;
}

static void send_json(int fd, json_t *m)
{
    wk_frame_write(fd, m, NULL);
    json_decref(m);
}

/* Answers every command as a healthy runner would. */
static int fake_good(int in, int out)
{
    json_t *m;
    while ((m = next_cmd(in))) {
        const char *t = json_string_value(json_object_get(m, "type"));
        if (!strcmp(t, "bye")) {
            json_decref(m);
            return 0;
        }
        if (!strcmp(t, "open"))
            send_json(out, json_pack("{s:s, s:i, s:s}", "type", "ready", "pid", (int)getpid(),
                                     "timer", "cupti"));
        else if (!strcmp(t, "time")) {
            json_t *s = json_array();
            for (int i = 0; i < json_integer_value(json_object_get(m, "iterations")); i++)
                json_array_append_new(s, json_real(0.001 * (i + 1)));
            send_json(out, json_pack("{s:s, s:o, s:s, s:{s:i, s:i, s:i, s:i}, s:[f]}", "type",
                                     "timed", "samples_ms", s, "timer", "cupti", "clock",
                                     "sm_mhz_before", 1980, "sm_mhz_after", 1980, "sm_mhz_max",
                                     1980, "warmup_runs", 10, "kernel_ms", 0.001));
        } else
            send_json(out, json_pack("{s:s}", "type", "ok"));
        json_decref(m);
    }
    return 0;
}

static int fake_error(int in, int out)
{
    json_t *m = next_cmd(in);
    json_decref(m);
    send_json(out, json_pack("{s:s, s:s, s:s, s:b}", "type", "error", "stage", "run", "message",
                             "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access", "sticky", 1));
    return 0;
}

static int fake_wrong_type(int in, int out)
{
    json_decref(next_cmd(in));
    /* a forged verdict: the judge asked for "ok" */
    send_json(out, json_pack("{s:s, s:s}", "type", "verdict", "status", "PASSED"));
    return 0;
}

static int fake_garbage(int in, int out)
{
    json_decref(next_cmd(in));
    wk_frame_write_raw(out, "not json at all", 15, NULL);
    return 0;
}

static int fake_huge(int in, int out)
{
    unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};
    json_decref(next_cmd(in));
    if (write(out, hdr, 4) != 4)
        return 1;
    sleep(5);
    return 0;
}

static int fake_exit3(int in, int out)
{
    (void)out;
    json_decref(next_cmd(in));
    return 3;
}

static int fake_segv(int in, int out)
{
    (void)out;
    json_decref(next_cmd(in));
    signal(SIGSEGV, SIG_DFL);   /* a plain crash, also under ASan's handler */
    raise(SIGSEGV);
    return 0;
}

static int fake_silent(int in, int out)
{
    (void)out;
    json_decref(next_cmd(in));
    sleep(30);
    return 0;
}

static int fake_fds(int in, int out)
{
    /* only 0-2 and the two pipes may be open */
    int open_fds = 0;
    for (int fd = 5; fd < 256; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            open_fds++;
    json_decref(next_cmd(in));
    send_json(out, json_pack("{s:s, s:i}", "type", "ok", "extra_fds", open_fds));
    return 0;
}

static int start(struct ev_rl *rl, int (*fn)(int, int))
{
    struct ev_rl_opts o = {.fake_main = fn};
    struct kf_err e = {0};
    return ev_rl_start(rl, &o, &e);
}

static int call(struct ev_rl *rl, const char *type, const char *want, double timeout,
                json_t **rep, struct kf_err *e)
{
    return ev_rl_call(rl, json_pack("{s:s, s:i, s:i}", "type", type, "warmup", 1, "iterations", 5),
                      want, timeout, rep, e);
}

START_TEST(good_runner_round_trips)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    double smp[5];
    struct ev_clock clk;
    char why[256];
    ck_assert_int_eq(start(&rl, fake_good), 0);
    ck_assert_int_eq(call(&rl, "open", "ready", 5, &rep, &e), 0);
    json_decref(rep);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), 0);
    json_decref(rep);
    ck_assert_int_eq(call(&rl, "time", "timed", 5, &rep, &e), 0);
    ck_assert_int_eq(ev_timed_reply_parse(rep, 5, smp, &clk, why, sizeof why), 0);
    ck_assert(fabs(smp[4] - 0.005) < 1e-12);
    ck_assert_int_eq(clk.sm_mhz_max, 1980);
    ck_assert_int_eq(clk.nkernels, 1);
    json_decref(rep);
    ev_rl_stop(&rl, 0);
    ck_assert_int_eq(rl.pid, 0);
}
END_TEST

START_TEST(runner_error_is_reported_with_its_message)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    ck_assert_int_eq(start(&rl, fake_error), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "ILLEGAL_ADDRESS"));
    ck_assert(json_is_true(json_object_get(rep, "sticky")));
    json_decref(rep);
    ev_rl_stop(&rl, 1);
}
END_TEST

START_TEST(forged_reply_type_is_a_protocol_error)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    ck_assert_int_eq(start(&rl, fake_wrong_type), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ck_assert_ptr_null(rep);
    ck_assert_ptr_nonnull(strstr(e.msg, "protocol error"));
    ck_assert_ptr_nonnull(strstr(e.msg, "verdict"));
    ev_rl_stop(&rl, 1);
}
END_TEST

START_TEST(garbage_and_oversized_frames_are_refused)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    ck_assert_int_eq(start(&rl, fake_garbage), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "protocol error"));
    ev_rl_stop(&rl, 1);
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(start(&rl, fake_huge), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "protocol error"));
    ev_rl_stop(&rl, 1);
}
END_TEST

START_TEST(dead_runner_says_how_it_died)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    ck_assert_int_eq(start(&rl, fake_exit3), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "exited with status 3"));
    ev_rl_stop(&rl, 1);
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(start(&rl, fake_segv), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ck_assert_ptr_nonnull(strstr(e.msg, "signal 11"));
    ev_rl_stop(&rl, 1);
}
END_TEST

START_TEST(silent_runner_times_out_and_is_killed)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    pid_t pid;
    ck_assert_int_eq(start(&rl, fake_silent), 0);
    pid = rl.pid;
    ck_assert_int_eq(call(&rl, "run", "ok", 0.3, &rep, &e), KF_ETIMEOUT);
    ev_rl_stop(&rl, 1);
    ck_assert_int_eq(kill(pid, 0), -1);   /* reaped: gone */
}
END_TEST

START_TEST(runner_inherits_no_descriptor_but_its_pipes)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    int extra = open("/dev/null", O_RDONLY);   /* a descriptor the judge holds */
    ck_assert_int_ge(extra, 0);
    ck_assert_int_eq(start(&rl, fake_fds), 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(rep, "extra_fds")), 0);
    json_decref(rep);
    ev_rl_stop(&rl, 0);
    close(extra);
}
END_TEST

START_TEST(call_after_stop_fails_cleanly)
{
    struct ev_rl rl;
    struct kf_err e = {0};
    json_t *rep = NULL;
    ck_assert_int_eq(start(&rl, fake_good), 0);
    ev_rl_stop(&rl, 0);
    ck_assert_int_eq(call(&rl, "run", "ok", 5, &rep, &e), KF_EIO);
    ev_rl_stop(&rl, 0);   /* twice is fine */
}
END_TEST

/* ---- verdict.c ---- */

static json_t *timed(json_t *samples)
{
    return json_pack("{s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "type", "timed", "samples_ms", samples,
                     "clock", "sm_mhz_before", 1, "sm_mhz_after", 2, "sm_mhz_max", 3, "warmup_runs",
                     4);
}

START_TEST(timed_reply_values_are_checked)
{
    double s[3];
    struct ev_clock c;
    char why[256];
    json_t *r;
    r = timed(json_pack("[f,f,f]", 0.1, 0.2, 0.3));
    ck_assert_int_eq(ev_timed_reply_parse(r, 3, s, &c, why, sizeof why), 0);
    ck_assert_int_eq(c.warmup_runs, 4);
    ck_assert_int_eq(ev_timed_reply_parse(r, 4, s, &c, why, sizeof why), KF_EINVAL);  /* count */
    ck_assert_ptr_nonnull(strstr(why, "4"));
    json_decref(r);
    r = timed(json_pack("[f,f,f]", 0.1, -0.2, 0.3));   /* negative */
    ck_assert_int_eq(ev_timed_reply_parse(r, 3, s, &c, why, sizeof why), KF_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "samples_ms[1]"));
    json_decref(r);
    r = timed(json_pack("[f,f,f]", 0.1, 0.0, 0.3));    /* zero time */
    ck_assert_int_eq(ev_timed_reply_parse(r, 3, s, &c, why, sizeof why), KF_EINVAL);
    json_decref(r);
    r = timed(json_pack("[f,s,f]", 0.1, "fast", 0.3)); /* not a number */
    ck_assert_int_eq(ev_timed_reply_parse(r, 3, s, &c, why, sizeof why), KF_EINVAL);
    json_decref(r);
    r = timed(json_pack("[f,f,f]", 0.1, 1e9, 0.3));    /* absurdly long */
    ck_assert_int_eq(ev_timed_reply_parse(r, 3, s, &c, why, sizeof why), KF_EINVAL);
    json_decref(r);
    r = json_pack("{s:s, s:[f], s:{s:s}}", "type", "timed", "samples_ms", 0.1, "clock",
                  "sm_mhz_max", "fast");
    ck_assert_int_eq(ev_timed_reply_parse(r, 1, s, &c, why, sizeof why), KF_EINVAL);
    json_decref(r);
    r = json_pack("{s:s, s:s}", "type", "timed", "samples_ms", "0.1");
    ck_assert_int_eq(ev_timed_reply_parse(r, 1, s, &c, why, sizeof why), KF_EINVAL);
    json_decref(r);
}
END_TEST

START_TEST(worst_trial_wins)
{
    struct ev_cmp acc, a = {0.1, 0.2, 100, 0, 0, -1, 1.0}, b = {0.5, 0.1, 100, 7, 2, 3, 0.93};
    int have = 0;
    ev_cmp_fold(&acc, &have, &a);
    ck_assert_int_eq(have, 1);
    ck_assert(acc.max_abs == 0.1);
    ev_cmp_fold(&acc, &have, &b);
    ck_assert(acc.max_abs == 0.5);
    ck_assert(acc.max_rel == 0.2);
    ck_assert(acc.matched_ratio == 0.93);
    ck_assert_int_eq(acc.nfail, 7);
    ck_assert_int_eq(acc.nonfinite, 2);
    ev_cmp_fold(&acc, &have, &a);   /* a better trial later changes nothing */
    ck_assert(acc.matched_ratio == 0.93);
    ck_assert_int_eq(acc.nonfinite, 2);
}
END_TEST

/* ---- the Python lane's compile caches ------------------------------------- */

static struct kf_solution *py_solution(const char *name, const char *code)
{
    struct kf_solution *sol = NULL;
    struct kf_err err = {0};
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:[s], s:s}, s:[{s:s, s:s}]}", "name", name,
                          "definition", "gdn_decode_qk4_v8_d128_k_last", "author", name, "spec",
                          "language", "triton", "target_hardware", "cuda", "entry_point",
                          "kernel.py::run", "sources", "path", "kernel.py", "content", code);
    ck_assert_msg(kf_solution_from_json(j, &sol, &err) == 0, "%s: %s", err.path, err.msg);
    json_decref(j);
    return sol;
}

static const char *env_val(char *env[3], const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* A runner may write its Triton and torch-extension caches: if every
 * solution shared them, one team's runner could plant a cubin or an
 * extension under the key of another team's (public) kernel and change its
 * results or timing. Each solution gets caches of its own. */
START_TEST(python_caches_are_per_solution)
{
    struct kf_solution *a = py_solution("team-a", "def run(): pass\n");
    struct kf_solution *a2 = py_solution("team-b-copy", "def run(): pass\n");
    struct kf_solution *b = py_solution("team-b", "def run(): return 1\n");
    char sa[65], sa2[65], sb[65], *argv[3], *ea[3], *eb[3], *er[3];
    struct ev_rl_opts o = {0};
    char c[] = "/tmp/kf-pyscope.XXXXXX", pre[64];
    ck_assert_ptr_nonnull(mkdtemp(c));
    snprintf(pre, sizeof pre, "%s/python/", c);
    ev_rl_python_scope(a, sa);
    ev_rl_python_scope(a2, sa2);
    ev_rl_python_scope(b, sb);
    ck_assert_str_eq(sa, sa2);             /* the same code: name and author aside */
    ck_assert_str_ne(sa, sb);
    ev_rl_python_opts(&o, c, sa, argv, ea);
    ev_rl_python_opts(&o, c, sb, argv, eb);
    ev_rl_python_opts(&o, c, EV_RL_SCOPE_PYREF, argv, er);
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "TORCH_EXTENSIONS_DIR" : "TRITON_CACHE_DIR";
        ck_assert_ptr_nonnull(env_val(ea, k));
        ck_assert_ptr_nonnull(env_val(eb, k));
        ck_assert_ptr_nonnull(env_val(er, k));
        ck_assert_str_ne(env_val(ea, k), env_val(eb, k));
        ck_assert_str_ne(env_val(ea, k), env_val(er, k));
        ck_assert_msg(strstr(env_val(ea, k), sa), "%s", env_val(ea, k));
        ck_assert(!strncmp(env_val(ea, k), pre, strlen(pre)));
    }
    for (int i = 0; i < 2; i++) {
        free(ea[i]);
        free(eb[i]);
        free(er[i]);
    }
    /* a scope that could leave the cache folder gets no cache at all */
    ev_rl_python_opts(&o, c, "../x", argv, ea);
    ck_assert_ptr_null(ea[0]);
    ev_rl_python_opts(&o, c, "A/B", argv, ea);
    ck_assert_ptr_null(ea[0]);
    kf_solution_free(a);
    kf_solution_free(a2);
    kf_solution_free(b);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c);
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("runner_link");
    TCase *tc = tcase_create("protocol");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, good_runner_round_trips);
    tcase_add_test(tc, runner_error_is_reported_with_its_message);
    tcase_add_test(tc, forged_reply_type_is_a_protocol_error);
    tcase_add_test(tc, garbage_and_oversized_frames_are_refused);
    tcase_add_test(tc, dead_runner_says_how_it_died);
    tcase_add_test(tc, silent_runner_times_out_and_is_killed);
    tcase_add_test(tc, runner_inherits_no_descriptor_but_its_pipes);
    tcase_add_test(tc, call_after_stop_fails_cleanly);
    tcase_add_test(tc, python_caches_are_per_solution);
    suite_add_tcase(s, tc);
    tc = tcase_create("verdict");
    tcase_add_test(tc, timed_reply_values_are_checked);
    tcase_add_test(tc, worst_trial_wins);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
