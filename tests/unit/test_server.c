/* test_server.c: kf-server handlers without sockets: router (404/405,
 * captures), dataset routes, validation errors with JSON paths, auth roles
 * and teams, long-poll decisions (wait / answer at the deadline / 503 at
 * shutdown), Redis down -> 503, leaderboard ranking, metrics text, sha1.
 * A tiny dataset is written to a temp dir; tests that need Redis start a
 * redis-server on a unix socket there.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "board.h"
#include "jsonio.h"
#include "kf_check.h"
#include "metrics.h"
#include "router.h"
#include "sha1.h"

#define GDN "gdn_decode_qk4_v8_d128_k_last"
#define W1 "00000000-0000-4000-8000-000000000001"
#define W2 "00000000-0000-4000-8000-000000000002"

static char tmp[256];
static struct kf_dataset *ds;
static struct api_ctx ctx;
static pid_t redis_pid;
static char sock[320];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void make_dataset(void)
{
    char cmd[1024], p[512];
    snprintf(tmp, sizeof tmp, "/tmp/kf-test-server-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/ds/definitions/gdn %s/ds/workloads/gdn && cp %s/dataset/definitions/gdn/"
             GDN ".json %s/ds/definitions/gdn/",
             tmp, tmp, KF_SOURCE_DIR, tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/ds/workloads/gdn/" GDN ".jsonl", tmp);
    const char *in = "\"inputs\":{\"q\":{\"type\":\"random\"},\"k\":{\"type\":\"random\"},"
                     "\"v\":{\"type\":\"random\"},\"state\":{\"type\":\"random\"},"
                     "\"A_log\":{\"type\":\"random\"},\"a\":{\"type\":\"random\"},"
                     "\"dt_bias\":{\"type\":\"random\"},\"b\":{\"type\":\"random\"},"
                     "\"scale\":{\"type\":\"scalar\",\"value\":0.088}}";
    char text[4096];
    snprintf(text, sizeof text,
             "{\"definition\":\"" GDN "\",\"workload\":{\"uuid\":\"" W1 "\",\"axes\":"
             "{\"batch_size\":1},%s},\"solution\":null,\"evaluation\":null}\n"
             "{\"definition\":\"" GDN "\",\"workload\":{\"uuid\":\"" W2 "\",\"axes\":"
             "{\"batch_size\":4},%s},\"solution\":null,\"evaluation\":null}\n",
             in, in);
    write_file(p, text);
    snprintf(p, sizeof p, "%s/ds", tmp);
    struct kf_err e;
    int rc = kf_dataset_load(p, &ds, &e);
    ck_assert_msg(rc == 0, "dataset: %s %s", e.path, e.msg);
}

static void setup_ctx(const char *redis_url)
{
    signal(SIGPIPE, SIG_IGN);
    make_dataset();
    memset(&ctx, 0, sizeof ctx);
    api_ctx_init(&ctx, ds);
    ctx.max_body = 8 << 20;
    ctx.max_batch = 100;
    ctx.max_workloads = 100;
    ctx.redis_url = redis_url;
    struct kf_err e;
    ck_assert_int_eq(api_auth_new("off", NULL, true, false, &ctx.auth, &e), 0);
    ctx.board = api_board_new(1000);
    ctx.metrics = api_metrics_new();
    ck_assert_int_eq(kfq_connect(redis_url, NULL, true, &ctx.redis_override, &e), 0);
}

static void start_redis(void)
{
    snprintf(sock, sizeof sock, "%s/redis.sock", tmp);
    redis_pid = fork();
    if (redis_pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir", tmp,
               "--save", "", "--loglevel", "warning", (char *)NULL);
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
    ck_assert_msg(access(sock, F_OK) == 0, "redis-server did not start");
}

static void teardown(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) {
        /* temp dir left behind */
    }
}

/* Run one request through the dispatcher. */
static const char *call(const char *method, const char *path, const char *query_k,
                        const char *query_v, const char *body, struct api_resp *resp)
{
    struct api_req req;
    memset(&req, 0, sizeof req);
    memset(resp, 0, sizeof *resp);
    req.method = method;
    req.path = path;
    if (query_k) {
        req.query[0] = (struct api_kv){query_k, query_v};
        req.nquery = 1;
    }
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.client = "127.0.0.1";
    return api_dispatch(&ctx, &req, resp);
}

static const char *err_path(const struct api_resp *r)
{
    return json_string_value(json_object_get(json_object_get(r->json, "error"), "path"));
}

static char *example_solution(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/kernels/examples/" GDN "/solution.json", KF_SOURCE_DIR);
    struct kf_err e;
    json_t *j = kf_json_load_file(p, 0, &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    char *s = kf_json_dumps(j);
    json_decref(j);
    return s;
}

START_TEST(test_router)
{
    setup_ctx("unix:///nonexistent/redis.sock");
    struct api_resp r;
    ck_assert_str_eq(call("GET", "/nope", NULL, NULL, NULL, &r), "unmatched");
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                     "not_found");
    api_resp_clear(&r);
    call("DELETE", "/definitions", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    api_resp_clear(&r);
    call("GET", "/evaluate", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    api_resp_clear(&r);
    struct api_req req = {.method = "GET", .path = "/tasks/abc/traces"};
    bool wrong;
    char allow[32];
    const struct api_route *rt = api_route_find(&req, &wrong, allow, sizeof allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->name, "task_traces");
    ck_assert_str_eq(req.params[0], "abc");
    req.path = "/tasks/batch";
    req.method = "POST";
    rt = api_route_find(&req, &wrong, allow, sizeof allow);
    ck_assert_str_eq(rt->name, "tasks_batch");
    req.method = "HEAD";
    req.path = "/health";
    ck_assert_ptr_nonnull(api_route_find(&req, &wrong, allow, sizeof allow));
    teardown();
}
END_TEST

START_TEST(test_dataset_routes)
{
    setup_ctx("unix:///nonexistent/redis.sock");
    struct api_resp r;
    call("GET", "/definitions", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_loadb(r.text, r.text_len, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "name")), GDN);
    json_decref(j);
    api_resp_clear(&r);
    call("GET", "/definitions/" GDN "/workloads", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    j = json_loadb(r.text, r.text_len, 0, NULL);
    ck_assert_int_eq(json_array_size(j), 2);
    json_decref(j);
    api_resp_clear(&r);
    call("GET", "/workloads/" W2, NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "uuid")), W2);
    api_resp_clear(&r);
    call("GET", "/workloads/nope", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    api_resp_clear(&r);
    call("GET", "/definitions/nope", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    api_resp_clear(&r);
    call("GET", "/", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.text, "<html"));
    api_resp_clear(&r);
    teardown();
}
END_TEST

START_TEST(test_validation)
{
    setup_ctx("unix:///nonexistent/redis.sock");
    struct api_resp r;
    char *sol = example_solution();
    call("POST", "/evaluate", NULL, NULL, "{oops", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(err_path(&r), "$");
    api_resp_clear(&r);
    call("POST", "/evaluate", NULL, NULL, "{}", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(err_path(&r), "solution");
    api_resp_clear(&r);
    call("POST", "/evaluate", NULL, NULL, "{\"solution\": 3}", &r);
    ck_assert_int_eq(r.status, 400);
    api_resp_clear(&r);
    json_t *j = json_loads(sol, 0, NULL);
    json_object_set_new(j, "definition", json_string("nope"));
    char *s = kf_json_dumps(j);
    call("POST", "/solutions", NULL, NULL, s, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(err_path(&r), "definition");
    api_resp_clear(&r);
    free(s);
    json_decref(j);
    j = json_loads(sol, 0, NULL);
    json_t *launch = json_array_get(json_object_get(json_object_get(j, "spec"), "launch"), 0);
    json_array_set_new(json_object_get(launch, "args"), 0, json_string("no_such_tensor"));
    s = kf_json_dumps(j);
    call("POST", "/solutions", NULL, NULL, s, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strncmp(err_path(&r), "spec.launch[0]", 14) == 0, "path %s", err_path(&r));
    api_resp_clear(&r);
    free(s);
    json_decref(j);
    call("POST", "/solutions", "workloads", "nope", sol, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(err_path(&r), "workloads[0]");
    api_resp_clear(&r);
    /* valid: reaches Redis, which is down -> 503 + Retry-After */
    call("POST", "/solutions", NULL, NULL, sol, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_gt(r.retry_after, 0);
    api_resp_clear(&r);
    call("GET", "/tasks/abc", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 503);
    api_resp_clear(&r);
    call("GET", "/tasks/abc", "timeout", "9999", NULL, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(err_path(&r), "timeout");
    api_resp_clear(&r);
    call("GET", "/health", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 503);
    {   /* answered as text (the same view the cache keeps) */
        json_t *hj = json_loadb(r.text, r.text_len, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(hj, "status")), "unavailable");
        json_decref(hj);
    }
    api_resp_clear(&r);
    atomic_store(&ctx.draining, true);
    call("POST", "/solutions", NULL, NULL, sol, &r);
    ck_assert_int_eq(r.status, 503);
    api_resp_clear(&r);
    free(sol);
    teardown();
}
END_TEST

START_TEST(test_auth)
{
    setup_ctx("unix:///nonexistent/redis.sock");
    char path[400];
    snprintf(path, sizeof path, "%s/tokens", tmp);
    write_file(path, "# comment\nt-a alice team-a submit\nt-r reader team-a read\n"
                     "t-x admin - admin\n");
    struct kf_err e;
    api_auth_free(ctx.auth);
    ck_assert_int_eq(api_auth_new("auto", path, true, false, &ctx.auth, &e), 0);
    ck_assert(api_auth_enabled(ctx.auth));
    struct api_resp r = {0};
    struct api_req req = {.method = "POST", .path = "/solutions", .client = "1.2.3.4"};
    ck_assert_int_ne(api_auth_check(&ctx, &req, API_ROLE_SUBMIT, &r), 0);
    ck_assert_int_eq(r.status, 401);
    ck_assert(r.www_authenticate);
    api_resp_clear(&r);
    req.authorization = "Bearer t-r";
    ck_assert_int_ne(api_auth_check(&ctx, &req, API_ROLE_SUBMIT, &r), 0);
    ck_assert_int_eq(r.status, 403);
    api_resp_clear(&r);
    req.authorization = "Bearer t-a";
    ck_assert_int_eq(api_auth_check(&ctx, &req, API_ROLE_SUBMIT, &r), 0);
    ck_assert_str_eq(req.who.team, "team-a");
    ck_assert(api_can_see(&req.who, "team-a"));
    ck_assert(!api_can_see(&req.who, "team-b"));
    req.authorization = "Bearer t-x";
    ck_assert_int_eq(api_auth_check(&ctx, &req, API_ROLE_ADMIN, &r), 0);
    ck_assert(api_can_see(&req.who, "team-b"));
    req.authorization = "Bearer nope";
    ck_assert_int_ne(api_auth_check(&ctx, &req, 0, &r), 0);
    ck_assert_int_eq(r.status, 401);
    api_resp_clear(&r);
    req.authorization = NULL;
    ck_assert_int_eq(api_auth_check(&ctx, &req, 0, &r), 0);   /* public route */
    struct api_auth *a = NULL;
    ck_assert_int_eq(api_auth_new("on", NULL, true, false, &a, &e), KF_EINVAL);
    ck_assert_int_eq(api_auth_new("maybe", NULL, true, false, &a, &e), KF_EINVAL);
    ck_assert_int_eq(api_auth_new("auto", NULL, false, false, &a, &e), KF_EINVAL);
    write_file(path, "t-a alice team-a superuser\n");
    ck_assert_int_eq(api_auth_new("auto", path, true, false, &a, &e), KF_EINVAL);
    teardown();
}
END_TEST

START_TEST(test_longpoll_decisions)
{
    make_dataset();
    start_redis();
    char url[400];
    snprintf(url, sizeof url, "unix://%s", sock);
    /* setup_ctx makes its own dataset dir: reuse this one instead */
    signal(SIGPIPE, SIG_IGN);
    memset(&ctx, 0, sizeof ctx);
    api_ctx_init(&ctx, ds);
    ctx.max_body = 8 << 20;
    ctx.max_batch = 100;
    ctx.max_workloads = 100;
    ctx.redis_url = url;
    struct kf_err e;
    ck_assert_int_eq(api_auth_new("off", NULL, true, false, &ctx.auth, &e), 0);
    ctx.board = api_board_new(1000);
    ctx.metrics = api_metrics_new();
    ck_assert_int_eq(kfq_connect(url, NULL, false, &ctx.redis_override, &e), 0);
    ck_assert_int_eq(kfq_init(ctx.redis_override, &e), 0);

    struct api_resp r;
    char *sol = example_solution();
    call("POST", "/solutions", NULL, NULL, sol, &r);
    ck_assert_int_eq(r.status, 202);
    char id[65];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "task_id")));
    api_resp_clear(&r);
    char path[128];
    snprintf(path, sizeof path, "/tasks/%s", id);
    call("GET", path, "timeout", "5", NULL, &r);
    ck_assert(r.wait);
    ck_assert_int_eq(json_array_size(r.wait_ids), 1);
    ck_assert_str_eq(json_string_value(json_array_get(r.wait_ids, 0)), id);
    ck_assert(r.wait_deadline > kfq_now() + 4);
    api_resp_clear(&r);
    /* called again after the deadline: answers pending */
    struct api_req req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.path = path;
    req.query[0] = (struct api_kv){"timeout", "5"};
    req.nquery = 1;
    req.client = "t";
    req.wait_deadline = kfq_now() - 1;
    memset(&r, 0, sizeof r);
    api_dispatch(&ctx, &req, &r);
    ck_assert(!r.wait);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "pending");
    ck_assert(json_is_null(json_object_get(r.json, "traces")));
    api_resp_clear(&r);
    /* batch waits on the unfinished ids only */
    char body[256];
    snprintf(body, sizeof body, "{\"task_ids\": [\"%s\"], \"timeout\": 3}", id);
    call("POST", "/tasks/batch", NULL, NULL, body, &r);
    ck_assert(r.wait);
    api_resp_clear(&r);
    /* shutting down: 503 + Retry-After instead of waiting */
    atomic_store(&ctx.shutting_down, true);
    call("GET", path, "timeout", "5", NULL, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_gt(r.retry_after, 0);
    api_resp_clear(&r);
    atomic_store(&ctx.shutting_down, false);
    /* a worker finishes it: answers completed with traces at once */
    struct kfq_claim_opts o = {.consumer = "unit", .lease_ms = 60000, .block_ms = 10};
    struct kfq_task *t = NULL;
    ck_assert_int_eq(kfq_worker_claim(ctx.redis_override, &o, &t, &e), 0);
    ck_assert_ptr_nonnull(t);
    json_t *tr = json_pack("{s:s, s:{s:s}, s:{s:s, s:{s:f, s:f}, s:{s:s}}}", "definition", GDN,
                           "workload", "uuid", W1, "evaluation", "status", "PASSED", "performance",
                           "latency_ms", 1.0, "speedup_factor", 2.0, "environment", "hardware",
                           "NVIDIA_H100");
    struct kfq_summary sum;
    kfq_summary_init(&sum);
    ck_assert_int_eq(kfq_task_add_trace(ctx.redis_override, t, tr, &e), 0);
    kfq_summary_add(&sum, tr);
    json_object_set_new(json_object_get(tr, "workload"), "uuid", json_string(W2));
    ck_assert_int_eq(kfq_task_add_trace(ctx.redis_override, t, tr, &e), 0);
    kfq_summary_add(&sum, tr);
    json_decref(tr);
    ck_assert_int_eq(kfq_task_complete(ctx.redis_override, t, &sum, &e), 0);
    kfq_summary_free(&sum);
    kfq_task_free(t);
    call("GET", path, "timeout", "5", NULL, &r);
    ck_assert(!r.wait);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "completed");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "traces")), 2);
    api_resp_clear(&r);
    /* leaderboard: passed every workload -> ranked */
    json_t *b = NULL;
    ck_assert_int_eq(api_board_build(&ctx, GDN, NULL, &b, &e), 0);
    json_t *rank = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(b, "definitions"), 0),
                                       "boards"), 0), "ranking");
    ck_assert_int_eq(json_array_size(rank), 1);
    ck_assert(json_real_value(json_object_get(json_array_get(rank, 0), "mean_speedup")) == 2.0);
    json_decref(b);
    call("GET", "/metrics", NULL, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.text, "kf_tasks{state=\"completed\"} 1"));
    api_resp_clear(&r);
    free(sol);
    kfq_close(ctx.redis_override);
    teardown();
}
END_TEST

START_TEST(test_sha1)
{
    struct api_sha1 h;
    char hex[41];
    api_sha1_init(&h);
    api_sha1_update(&h, "abc", 3);
    api_sha1_hex(&h, hex);
    ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    api_sha1_init(&h);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    api_sha1_update(&h, m, strlen(m));
    api_sha1_hex(&h, hex);
    ck_assert_str_eq(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("handlers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_router);
    tcase_add_test(tc, test_dataset_routes);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_longpoll_decisions);
    tcase_add_test(tc, test_sha1);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
