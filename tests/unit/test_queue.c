/* test_queue.c: the Redis task protocol (lib/queue.c) against a real
 * redis-server started on a unix socket in a temp dir (one per test, fork
 * mode). Covers submit/idempotency, claim/progress/trace/complete, fail,
 * lease reclaim by another consumer, dead-letter after 3 deliveries,
 * reclaim of one's own pending entries, heartbeats, events, counts.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kf_check.h"
#include "queue.h"

static char tmpdir[256];
static char sock[300];
static pid_t redis_pid;

static void start_redis(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kfq-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sock, sizeof sock, "%s/redis.sock", tmpdir);
    signal(SIGPIPE, SIG_IGN);
    redis_pid = fork();
    if (redis_pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir",
               tmpdir, "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    /* the socket file appears at bind(), before listen(): wait for a connection */
    for (int i = 0; i < 500; i++) {
        struct kfq_conn *probe = NULL;
        struct kf_err pe;
        char purl[340];
        snprintf(purl, sizeof purl, "unix://%s", sock);
        if (access(sock, F_OK) == 0 && kfq_connect(purl, NULL, false, &probe, &pe) == 0) {
            kfq_close(probe);
            break;
        }
        usleep(10000);
    }
    ck_assert_msg(access(sock, F_OK) == 0, "redis-server did not start (is it installed?)");
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        /* leftover temp dir only */
    }
}

static struct kfq_conn *conn(void)
{
    struct kfq_conn *c = NULL;
    struct kf_err e;
    char url[320];
    snprintf(url, sizeof url, "unix://%s", sock);
    ck_assert_int_eq(kfq_connect(url, NULL, false, &c, &e), 0);
    ck_assert_int_eq(kfq_init(c, &e), 0);
    return c;
}

static void submit(struct kfq_conn *c, const char *hash, bool rerun, char id[65], bool *existing)
{
    struct kf_err e;
    json_t *sol = json_pack("{s:s, s:s, s:s}", "name", "s_1234abcd", "definition", "d1",
                            "author", "alice");
    json_t *wl = json_pack("[s, s]", "w1", "w2");
    struct kfq_submit s = {.definition = "d1", .solution_name = "s_1234abcd", .solution = sol,
                           .workloads = wl, .content_hash = hash, .rerun = rerun};
    ck_assert_int_eq(kfq_submit(c, &s, id, existing, &e), 0);
    json_decref(sol);
    json_decref(wl);
}

static const char *task_status(struct kfq_conn *c, const char *id, char buf[32])
{
    json_t *t = NULL;
    struct kf_err e;
    ck_assert_int_eq(kfq_task_get(c, id, &t, &e), 0);
    snprintf(buf, 32, "%s", json_string_value(json_object_get(t, "status")));
    json_decref(t);
    return buf;
}

START_TEST(test_submit_idempotent)
{
    start_redis();
    struct kfq_conn *c = conn();
    char id1[65], id2[65], id3[65], st[32];
    bool ex;
    submit(c, "h1", false, id1, &ex);
    ck_assert(!ex);
    submit(c, "h1", false, id2, &ex);
    ck_assert(ex);
    ck_assert_str_eq(id1, id2);
    submit(c, "h1", true, id3, &ex);
    ck_assert(!ex);
    ck_assert_str_ne(id1, id3);
    ck_assert_str_eq(task_status(c, id1, st), "pending");
    struct kfq_counts n;
    struct kf_err e;
    ck_assert_int_eq(kfq_counts(c, &n, &e), 0);
    ck_assert_int_eq(n.pending, 2);
    json_t *t = NULL;
    ck_assert_int_eq(kfq_task_get(c, "nope", &t, &e), KF_ENOENT);
    /* client-chosen ids: same content -> same task, other content -> conflict */
    json_t *sol = json_pack("{s:s}", "name", "x");
    json_t *wl = json_array();
    struct kfq_submit s = {.task_id = "client-1", .definition = "d1", .solution_name = "x",
                           .solution = sol, .workloads = wl, .content_hash = "hc"};
    char id[65];
    ck_assert_int_eq(kfq_submit(c, &s, id, &ex, &e), 0);
    ck_assert_str_eq(id, "client-1");
    ck_assert_int_eq(kfq_submit(c, &s, id, &ex, &e), 0);
    ck_assert(ex);
    s.content_hash = "other";
    ck_assert_int_eq(kfq_submit(c, &s, id, &ex, &e), KF_ECONFLICT);
    json_decref(sol);
    json_decref(wl);
    kfq_close(c);
    stop_redis();
}
END_TEST

START_TEST(test_claim_complete)
{
    start_redis();
    struct kfq_conn *c = conn();
    struct kf_err e;
    char id[65], st[32], last[64] = "$";
    bool ex;
    ck_assert_int_eq(kfq_events_read(c, last, 1, NULL, NULL, &e), 0);
    submit(c, "h2", false, id, &ex);
    struct kfq_claim_opts o = {.consumer = "w-a", .lease_ms = 60000, .block_ms = 100};
    struct kfq_task *t = NULL;
    ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->id, id);
    ck_assert_int_eq(t->deliveries, 1);
    ck_assert_int_eq(json_array_size(t->workloads), 2);
    ck_assert_str_eq(json_string_value(json_object_get(t->solution, "author")), "alice");
    ck_assert_str_eq(task_status(c, id, st), "running");
    ck_assert_int_eq(kfq_task_progress(c, t, "w-a", 1, 2, &e), 0);
    for (int i = 0; i < 2; i++) {
        json_t *tr = json_pack("{s:s, s:{s:s}, s:{s:s, s:{s:f, s:f}, s:{s:s}}}", "definition",
                               "d1", "workload", "uuid", i ? "w2" : "w1", "evaluation", "status",
                               "PASSED", "performance", "latency_ms", 2.0, "speedup_factor",
                               i ? 3.0 : 1.0, "environment", "hardware", "NVIDIA_H100");
        ck_assert_int_eq(kfq_task_add_trace(c, t, tr, &e), 0);
        json_decref(tr);
    }
    ck_assert_int_eq(kfq_task_complete(c, t, "w-a", &e), 0);
    ck_assert_str_eq(task_status(c, id, st), "completed");
    json_t *traces = NULL;
    ck_assert_int_eq(kfq_task_traces(c, id, false, &traces, &e), 0);
    ck_assert_int_eq(json_array_size(traces), 2);
    json_decref(traces);
    json_t *board = NULL;
    ck_assert_int_eq(kfq_board(c, NULL, &board, &e), 0);
    json_t *ent = json_array_get(json_object_get(board, "d1"), 0);
    ck_assert_ptr_nonnull(ent);
    ck_assert_int_eq(json_integer_value(json_object_get(ent, "workloads_passed")), 2);
    ck_assert(json_real_value(json_object_get(ent, "mean_speedup")) == 2.0);
    ck_assert_str_eq(json_string_value(json_object_get(ent, "hardware")), "NVIDIA_H100");
    json_decref(board);
    /* events: pending, running, progress, completed */
    int n = kfq_events_read(c, last, 1, NULL, NULL, &e);
    ck_assert_int_eq(n, 4);
    kfq_task_free(t);
    /* nothing left */
    ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
    ck_assert_ptr_null(t);
    int64_t hist[KFQ_HIST_N];
    double sum;
    ck_assert_int_eq(kfq_eval_hist(c, hist, &sum, &e), 0);
    ck_assert_int_eq(hist[KFQ_HIST_N - 1], 1);
    /* a rerun over one workload does not replace the entry over two */
    char id2[65];
    json_t *sol = json_pack("{s:s, s:s, s:s}", "name", "s_1234abcd", "definition", "d1",
                            "author", "alice");
    json_t *wl = json_pack("[s]", "w1");
    struct kfq_submit s2 = {.definition = "d1", .solution_name = "s_1234abcd", .solution = sol,
                            .workloads = wl, .content_hash = "h2-subset"};
    ck_assert_int_eq(kfq_submit(c, &s2, id2, &ex, &e), 0);
    ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
    ck_assert_ptr_nonnull(t);
    json_t *tr = json_pack("{s:s, s:{s:s}, s:{s:s, s:{s:f, s:f}, s:{s:s}}}", "definition", "d1",
                           "workload", "uuid", "w1", "evaluation", "status", "PASSED",
                           "performance", "latency_ms", 1.0, "speedup_factor", 9.0,
                           "environment", "hardware", "NVIDIA_H100");
    ck_assert_int_eq(kfq_task_add_trace(c, t, tr, &e), 0);
    ck_assert_int_eq(kfq_task_complete(c, t, "w-a", &e), 0);
    kfq_task_free(t);
    ck_assert_int_eq(kfq_board(c, "d1", &board, &e), 0);
    ent = json_array_get(json_object_get(board, "d1"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(ent, "workloads_total")), 2);
    ck_assert(json_real_value(json_object_get(ent, "mean_speedup")) == 2.0);
    json_decref(board);
    json_decref(tr);
    json_decref(sol);
    json_decref(wl);
    kfq_close(c);
    stop_redis();
}
END_TEST

START_TEST(test_fail_and_release)
{
    start_redis();
    struct kfq_conn *c = conn();
    struct kf_err e;
    char id[65], st[32];
    bool ex;
    submit(c, "h3", false, id, &ex);
    struct kfq_claim_opts o = {.consumer = "w-a", .lease_ms = 60000, .block_ms = 100};
    struct kfq_task *t = NULL;
    ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(kfq_task_release(c, t, &e), 0);
    ck_assert_str_eq(task_status(c, id, st), "pending");
    kfq_task_free(t);
    /* the same worker restarts and takes its own pending entry back */
    ck_assert_int_eq(kfq_reclaim_own(c, &o, &t, &e), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->id, id);
    ck_assert_int_eq(kfq_task_fail(c, t, "w-a", "no workloads", &e), 0);
    ck_assert_str_eq(task_status(c, id, st), "failed");
    json_t *tj = NULL;
    ck_assert_int_eq(kfq_task_get(c, id, &tj, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(tj, "error")), "no workloads");
    json_decref(tj);
    kfq_task_free(t);
    ck_assert_int_eq(kfq_reclaim_own(c, &o, &t, &e), 0);
    ck_assert_ptr_null(t);
    kfq_close(c);
    stop_redis();
}
END_TEST

START_TEST(test_lease_reclaim_and_dead_letter)
{
    start_redis();
    struct kfq_conn *c = conn();
    struct kf_err e;
    char id[65], st[32];
    bool ex;
    submit(c, "h4", false, id, &ex);
    const char *names[] = {"w-1", "w-2", "w-3", "w-4"};
    for (int i = 0; i < 3; i++) {
        struct kfq_claim_opts o = {.consumer = names[i], .lease_ms = 50, .block_ms = 100};
        struct kfq_task *t = NULL;
        if (i > 0)
            usleep(120000); /* the previous holder "died": let its lease expire */
        ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->id, id);
        ck_assert_int_eq(t->deliveries, i + 1);
        json_t *tj = NULL;
        ck_assert_int_eq(kfq_task_get(c, id, &tj, &e), 0);
        ck_assert_str_eq(json_string_value(json_object_get(tj, "worker")), names[i]);
        json_decref(tj);
        kfq_task_free(t);
    }
    usleep(120000);
    struct kfq_claim_opts o = {.consumer = names[3], .lease_ms = 50, .block_ms = 10};
    struct kfq_task *t = NULL;
    ck_assert_int_eq(kfq_worker_claim(c, &o, &t, &e), 0);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(task_status(c, id, st), "failed");
    struct kfq_counts n;
    ck_assert_int_eq(kfq_counts(c, &n, &e), 0);
    ck_assert_int_eq(n.dead, 1);
    ck_assert_int_eq(n.failed, 1);
    ck_assert_int_eq(n.running, 0);
    kfq_close(c);
    stop_redis();
}
END_TEST

START_TEST(test_heartbeat_and_reconnect)
{
    start_redis();
    struct kfq_conn *c = conn();
    struct kf_err e;
    struct kfq_worker_info w = {.id = "host-gpu0", .host = "host", .device = 0,
                                .hardware = "NVIDIA_H100", .state = "idle", .pid = 42};
    ck_assert_int_eq(kfq_heartbeat(c, &w, 30, &e), 0);
    json_t *ws = NULL;
    ck_assert_int_eq(kfq_workers(c, &ws, &e), 0);
    ck_assert_int_eq(json_array_size(ws), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ws, 0), "device")), 0);
    json_decref(ws);
    ck_assert_int_eq(kfq_worker_gone(c, "host-gpu0", &e), 0);
    ck_assert_int_eq(kfq_workers(c, &ws, &e), 0);
    ck_assert_int_eq(json_array_size(ws), 0);
    json_decref(ws);
    /* Redis goes away: KF_EREDIS, then back after a restart */
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    unlink(sock);
    struct kfq_counts n;
    ck_assert_int_eq(kfq_counts(c, &n, &e), KF_EREDIS);
    ck_assert(!kfq_connected(c));
    redis_pid = fork();
    if (redis_pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir",
               tmpdir, "--save", "", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(kfq_ensure_wait(c, NULL, 10000, &e), 0);
    ck_assert_int_eq(kfq_counts(c, &n, &e), 0);
    kfq_close(c);
    stop_redis();
}
END_TEST

START_TEST(test_ids)
{
    char a[33], b[33];
    kfq_new_id(a);
    kfq_new_id(b);
    ck_assert_int_eq(strlen(a), 32);
    ck_assert_str_ne(a, b);
    ck_assert(kfq_valid_task_id(a));
    ck_assert(!kfq_valid_task_id(""));
    ck_assert(!kfq_valid_task_id("a b"));
    ck_assert(!kfq_valid_task_id("kf:task"));
    struct kfq_conn *c = NULL;
    struct kf_err e;
    ck_assert_int_eq(kfq_connect("http://x", NULL, true, &c, &e), KF_EINVAL);
    ck_assert_int_eq(kfq_connect("redis://127.0.0.1:1", NULL, false, &c, &e), KF_EREDIS);
    ck_assert_int_eq(kfq_connect("redis://127.0.0.1:1", NULL, true, &c, &e), 0);
    ck_assert(!kfq_connected(c));
    kfq_close(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_submit_idempotent);
    tcase_add_test(tc, test_claim_complete);
    tcase_add_test(tc, test_fail_and_release);
    tcase_add_test(tc, test_lease_reclaim_and_dead_letter);
    tcase_add_test(tc, test_heartbeat_and_reconnect);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
