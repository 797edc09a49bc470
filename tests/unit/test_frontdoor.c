/* test_frontdoor.c: issue 11's library-level fixes: the kernel-name check
 * is linear in the source size, launch plans are checked at submit
 * (division by zero, grid/block/cluster/shared-memory/workspace limits,
 * work budget, device facts left to the worker), secrets are masked by
 * value in log lines, solution names follow one grammar, and admin routes
 * without a token need the same origin and a JSON content type.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "dl_fixtures.h"
#include "kf_check.h"
#include "log.h"
#include "model.h"
#include "plan_check.h"
#include "router.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct kf_definition *toy_def(void)
{
    json_t *j = fx_json(TOY_DEF);
    struct kf_definition *d;
    struct kf_err err;
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    json_decref(j);
    return d;
}

static struct kf_workload *toy_wl(int n)
{
    json_t *j = fx_json(TOY_WL);
    struct kf_workload *w;
    struct kf_err err;
    json_object_set_new(json_object_get(j, "axes"), "n", json_integer(n));
    ck_assert_int_eq(kf_workload_from_json(j, &w, NULL, &err), 0);
    json_decref(j);
    return w;
}

/* TOY_SOL with spec.launch[0].<key> (or spec.workspace[0].bytes) replaced,
 * checked against the toy definition, then its plan over workloads n=6 and
 * n=0. Returns the first nonzero code. */
static int plan_mod(const char *key, json_t *val, int64_t budget, struct kf_err *err)
{
    json_t *j = fx_json(TOY_SOL);
    struct kf_definition *d = toy_def();
    struct kf_workload *w[2] = {toy_wl(6), toy_wl(0)};
    struct kf_solution *s = NULL;
    int rc;
    json_t *spec = json_object_get(j, "spec");
    if (key && strcmp(key, "workspace") == 0)
        json_object_set_new(json_array_get(json_object_get(spec, "workspace"), 0), "bytes", val);
    else if (key)
        json_object_set_new(json_array_get(json_object_get(spec, "launch"), 0), key, val);
    kf_err_clear(err);
    rc = kf_solution_from_json(j, &s, err);
    if (!rc)
        rc = kf_solution_check(s, d, err);
    if (!rc)
        rc = kf_plan_check(s, d, (const struct kf_workload *const *)w, 2, &budget, err);
    kf_solution_free(s);
    kf_workload_free(w[0]);
    kf_workload_free(w[1]);
    kf_definition_free(d);
    json_decref(j);
    return rc;
}

START_TEST(test_plan_ok)
{
    struct kf_err err;
    int rc = plan_mod(NULL, NULL, 1 << 20, &err);
    ck_assert_msg(rc == 0, "%s: %s", err.path, err.msg);
    /* 0 for one workload (n=0) is a skipped launch, not an error */
    ck_assert_int_eq(plan_mod("grid", json_pack("[s,i]", "n", 1), 1 << 20, &err), 0);
    /* device facts are the worker's business */
    ck_assert_int_eq(plan_mod("grid", json_pack("[s,i]", "num_sms / 0", 1), 1 << 20, &err), 0);
}
END_TEST

START_TEST(test_plan_errors)
{
    struct kf_err err;
    ck_assert_int_eq(plan_mod("grid", json_pack("[s,i]", "1/0", 1), 1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].grid[0]");
    ck_assert_ptr_nonnull(strstr(err.msg, "u-1"));
    ck_assert_int_eq(plan_mod("grid", json_pack("[s,i]", "cdiv(n, 0)", 1), 1 << 20, &err),
                     KF_EINVAL);
    ck_assert_int_eq(plan_mod("grid", json_pack("[i,i]", -1, 1), 1 << 20, &err), KF_EINVAL);
    ck_assert_int_eq(plan_mod("grid", json_pack("[i,i]", 0, 1), 1 << 20, &err), KF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "every selected workload"));
    ck_assert_int_eq(plan_mod("grid", json_pack("[I,i]", (json_int_t)1 << 62, 1), 1 << 20, &err),
                     KF_EINVAL);
    ck_assert_int_eq(plan_mod("grid", json_pack("[i,i]", 1, 65536), 1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].grid[1]");
    ck_assert_int_eq(plan_mod("block", json_pack("[i]", 0), 1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].block[0]");
    ck_assert_int_eq(plan_mod("block", json_pack("[i]", 100000), 1 << 20, &err), KF_EINVAL);
    ck_assert_int_eq(plan_mod("block", json_pack("[i,i]", 64, 64), 1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].block");
    ck_assert_int_eq(plan_mod("shared_mem_bytes", json_integer(-1), 1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].shared_mem_bytes");
    ck_assert_int_eq(plan_mod("cluster", json_pack("[i]", 17), 1 << 20, &err), KF_EINVAL);
    ck_assert_int_eq(plan_mod("workspace", json_integer((json_int_t)1 << 62), 1 << 20, &err),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.workspace[0].bytes");
    ck_assert_int_eq(plan_mod("args", json_pack("[s,s,s,s,s]", "x", "y", "alpha", "out", "n/0"),
                              1 << 20, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].args[4]");
    /* the work budget: a plan too costly for the request is refused */
    ck_assert_int_eq(plan_mod(NULL, NULL, 10, &err), KF_ETOOBIG);
}
END_TEST

/* The kernel-name check over a large source costs linear time: 2 MiB of
 * "__global__ void k(int)" lines before the extern "C" kernel took minutes
 * with the old per-occurrence back-scan and search. */
START_TEST(test_kernel_scan_linear)
{
    json_t *j = fx_json(TOY_SOL);
    struct kf_definition *d = toy_def();
    struct kf_solution *s;
    struct kf_err err;
    json_t *src = json_object_get(json_array_get(json_object_get(j, "sources"), 0), "content");
    const char *line = "__global__ void toy_kernel(int)\n";
    size_t n = (2u << 20) / strlen(line), ll = strlen(line);
    char *big = malloc(n * ll + strlen(json_string_value(src)) + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(big + i * ll, line, ll);
    strcpy(big + n * ll, json_string_value(src));
    json_string_set(src, big);
    free(big);
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    double t0 = now_s();
    int rc = kf_solution_check(s, d, &err);
    double dt = now_s() - t0;
    ck_assert_msg(rc == 0, "%s: %s", err.path, err.msg);
    ck_assert_msg(dt < 0.5, "kernel check of a 2 MiB source took %.2f s", dt);
    kf_solution_free(s);
    /* a kernel only declared without extern "C" is still not found */
    json_string_set(src, "__global__ void toy_kernel(int) {}\n");
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    ck_assert_int_eq(kf_solution_check(s, d, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].kernel");
    kf_solution_free(s);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

START_TEST(test_log_masks_secrets)
{
    char path[] = "/tmp/kf-test-log-XXXXXX", buf[4096];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(kf_log_open(path), 0);
    kf_log_add_secret("hunter2-sekrit");
    kf_log_add_secret("abc");   /* too short to mask */
    kf_log_add_url_secret("redis://user:p4ss-word@10.0.0.1:6379/2");
    kf_log_add_url_secret("redis://10.0.0.1:6379");
    log_error("t", "url=redis://:hunter2-sekrit@h:1 again hunter2-sekrit abc");
    log_error("t", "redis-url = redis://user:p4ss-word@10.0.0.1:6379/2 (flag)");
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ck_assert_ptr_null(strstr(buf, "p4ss-word"));
    ck_assert_ptr_nonnull(strstr(buf, "url=redis://:***@h:1 again *** abc\n"));
    ck_assert_ptr_nonnull(strstr(buf, "redis://user:***@10.0.0.1:6379/2 (flag)\n"));
}
END_TEST

START_TEST(test_name_grammar)
{
    char longname[200];
    memset(longname, 'a', sizeof longname);
    longname[API_MAX_SOLUTION_NAME] = '\0';
    ck_assert(api_valid_name(longname, API_MAX_SOLUTION_NAME));
    longname[API_MAX_SOLUTION_NAME] = 'a';
    longname[API_MAX_SOLUTION_NAME + 1] = '\0';
    ck_assert(!api_valid_name(longname, API_MAX_SOLUTION_NAME));
    ck_assert(api_valid_name("my_sol-1.2", 100));
    ck_assert(!api_valid_name("a/b", 100));
    ck_assert(!api_valid_name("a\r\nb", 100));
    ck_assert(!api_valid_name("..", 100));
    ck_assert(!api_valid_name("-x", 100));
    ck_assert(!api_valid_name("", 100));
    ck_assert(!api_valid_name("a b", 100));
    ck_assert(!api_valid_name("caf\xc3\xa9", 100));
}
END_TEST

START_TEST(test_admin_same_origin)
{
    struct api_ctx ctx;
    struct kf_err e;
    memset(&ctx, 0, sizeof ctx);
    ck_assert_int_eq(api_auth_new("off", NULL, true, false, &ctx.auth, &e), 0);
    struct {
        const char *origin, *host, *ctype, *site;
        int status;
    } cases[] = {
        {"http://evil.example", "127.0.0.1:8080", "text/plain", NULL, 403},
        {"http://evil.example", "127.0.0.1:8080", "application/json", NULL, 403},
        {NULL, "127.0.0.1:8080", "text/plain", NULL, 415},
        {NULL, "127.0.0.1:8080", NULL, NULL, 415},
        {NULL, "127.0.0.1:8080", "application/jsonx", NULL, 415},
        {NULL, "127.0.0.1:8080", "application/json", "cross-site", 403},
        {"http://127.0.0.1:8080", "127.0.0.1:8080", "application/json; charset=utf-8",
         "same-origin", 0},
        {NULL, "127.0.0.1:8080", "application/json", NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_req req;
        struct api_resp resp;
        memset(&req, 0, sizeof req);
        memset(&resp, 0, sizeof resp);
        req.method = "POST";
        req.path = "/drain";
        req.origin = cases[i].origin;
        req.host = cases[i].host;
        req.content_type = cases[i].ctype;
        req.sec_fetch_site = cases[i].site;
        const struct api_route *r = api_dispatch_begin(&ctx, &req, &resp);
        if (cases[i].status == 0)
            ck_assert_msg(r != NULL, "case %zu refused", i);
        else
            ck_assert_msg(!r && resp.status == cases[i].status, "case %zu: %d", i, resp.status);
        api_resp_clear(&resp);
    }
    api_auth_free(ctx.auth);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("frontdoor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_plan_ok);
    tcase_add_test(tc, test_plan_errors);
    tcase_add_test(tc, test_kernel_scan_linear);
    tcase_add_test(tc, test_log_masks_secrets);
    tcase_add_test(tc, test_name_grammar);
    tcase_add_test(tc, test_admin_same_origin);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
