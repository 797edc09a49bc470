/* test_launch.c: launch plans on the host (worker/launch.c): expressions
 * over axes and device facts for grid/block/shared memory/workspaces,
 * argument marshalling (pointers, NULL for an absent optional input,
 * scalars in their dtype, int64 axes and expressions, float literals),
 * limits (threads per block, shared memory, cluster divisibility) with
 * error paths, and empty grids. */
#include <string.h>

#include "bind.h"
#include "kf_check.h"
#include "launch.h"
#include "model.h"

static const char *DEF =
    "{\"name\":\"t\",\"op_type\":\"x\",\"axes\":{\"n\":{\"type\":\"var\"},\"h\":{\"type\":\"const\","
    "\"value\":4}},\"inputs\":{\"x\":{\"shape\":[\"n\",\"h\"],\"dtype\":\"float32\"},"
    "\"opt\":{\"shape\":[\"n\"],\"dtype\":\"float32\",\"optional\":true},"
    "\"s\":{\"shape\":null,\"dtype\":\"float32\"},\"k\":{\"shape\":null,\"dtype\":\"int32\"},"
    "\"hb\":{\"shape\":null,\"dtype\":\"bfloat16\"}},"
    "\"outputs\":{\"y\":{\"shape\":[\"n\",\"h\"],\"dtype\":\"bfloat16\"}},\"reference\":\"def run(): pass\"}";

static const char *WL = "{\"uuid\":\"u1\",\"axes\":{\"n\":1000},\"inputs\":{\"x\":{\"type\":\"random\"},"
                        "\"s\":{\"type\":\"scalar\",\"value\":0.5},\"k\":{\"type\":\"scalar\",\"value\":-3},"
                        "\"hb\":{\"type\":\"scalar\",\"value\":2.0}}}";

static struct kf_definition *def;
static struct kf_workload *wl;
static struct kf_binding *bind_;
static const char *const facts[] = {"num_sms", NULL};
static const int64_t fvals[] = {132};
static const struct ev_limits lim = {1024, 227 * 1024, 1 << 30};

static void setup(void)
{
    struct kf_err err = {0};
    json_t *j = json_loads(DEF, 0, NULL);
    ck_assert_msg(kf_definition_from_json(j, &def, &err) == 0, "%s %s", err.path, err.msg);
    json_decref(j);
    j = json_loads(WL, 0, NULL);
    ck_assert_msg(kf_workload_from_json(j, &wl, NULL, &err) == 0, "%s %s", err.path, err.msg);
    json_decref(j);
    ck_assert_msg(kf_bind(def, wl, 0, &bind_, &err) == 0, "%s %s", err.path, err.msg);
}

static void teardown(void)
{
    kf_binding_free(bind_);
    kf_workload_free(wl);
    kf_definition_free(def);
}

static struct kf_solution *sol_of(const char *launch, const char *ws)
{
    char buf[4096];
    struct kf_solution *s = NULL;
    struct kf_err err = {0};
    json_t *j;
    snprintf(buf, sizeof buf,
             "{\"name\":\"s\",\"definition\":\"t\",\"author\":\"a\",\"spec\":{\"language\":\"cuda\","
             "\"binding\":\"nvrtc\",\"target_hardware\":[\"cuda\"],\"entry_point\":\"k.cu::k\","
             "\"destination_passing_style\":true,\"launch\":%s,\"workspace\":%s},"
             "\"sources\":[{\"path\":\"k.cu\",\"content\":\"extern \\\"C\\\" __global__ void k(){}\"}]}",
             launch, ws);
    j = json_loads(buf, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(kf_solution_from_json(j, &s, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert_msg(kf_solution_check(s, def, &err) == 0, "%s: %s", err.path, err.msg);
    json_decref(j);
    return s;
}

START_TEST(test_plan_values)
{
    struct kf_solution *s = sol_of(
        "[{\"kernel\":\"k\",\"grid\":[\"cdiv(n, 256)\", \"h\"],\"block\":[256],"
        "\"shared_mem_bytes\":\"n * 64\",\"args\":[\"x\",\"opt\",\"s\",\"k\",\"hb\",\"y\",\"n\",7,0.5,"
        "\"n * 2 + num_sms\",\"tmp\"]}]",
        "[{\"name\":\"tmp\",\"bytes\":\"n * 8\",\"zero\":true}]");
    struct ev_plan *p = NULL;
    struct kf_err err = {0};
    CUdeviceptr in[5] = {0x1000, 0, 0, 0, 0}, out[1] = {0x2000}, ws[1] = {0x3000};
    double sf[5] = {0, 0, 0.5, -3, 2.0};
    int64_t si[5] = {0, 0, 0, -3, 2};
    struct ev_bufs bufs = {in, out, ws, sf, si};
    unsigned char b[8];
    const struct ev_step *st;
    int64_t i64;
    float f;
    ck_assert_msg(ev_plan_build(s, def, bind_, facts, fvals, &lim, &p, &err) == 0, "%s: %s", err.path,
                  err.msg);
    ck_assert_int_eq(p->nsteps, 1);
    st = &p->steps[0];
    ck_assert_uint_eq(st->grid[0], 4);
    ck_assert_uint_eq(st->grid[1], 4);
    ck_assert_uint_eq(st->grid[2], 1);
    ck_assert_uint_eq(st->block[0], 256);
    ck_assert_uint_eq(st->block[1], 1);
    ck_assert_uint_eq(st->smem, 64000);
    ck_assert(!st->skip);
    ck_assert_int_eq(p->nws, 1);
    ck_assert_uint_eq(p->ws_bytes[0], 8000);
    ck_assert(p->ws_zero[0]);
    ck_assert_int_eq(st->nargs, 11);
    /* x: pointer */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[0], &bufs, b), 8);
    ck_assert(memcmp(b, &in[0], 8) == 0);
    /* opt: absent optional -> NULL */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[1], &bufs, b), 8);
    memcpy(&i64, b, 8);
    ck_assert_int_eq(i64, 0);
    /* s: float32 by value */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[2], &bufs, b), 4);
    memcpy(&f, b, 4);
    ck_assert(f == 0.5f);
    /* k: int32 by value */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[3], &bufs, b), 4);
    {
        int32_t v;
        memcpy(&v, b, 4);
        ck_assert_int_eq(v, -3);
    }
    /* hb: bfloat16 bits of 2.0 */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[4], &bufs, b), 2);
    ck_assert_uint_eq(b[0] | (b[1] << 8), 0x4000);
    /* y: output pointer */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[5], &bufs, b), 8);
    ck_assert(memcmp(b, &out[0], 8) == 0);
    /* n: int64 axis; 7: int64 literal; 0.5: float; expression with a fact */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[6], &bufs, b), 8);
    memcpy(&i64, b, 8);
    ck_assert_int_eq(i64, 1000);
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[7], &bufs, b), 8);
    memcpy(&i64, b, 8);
    ck_assert_int_eq(i64, 7);
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[8], &bufs, b), 4);
    memcpy(&f, b, 4);
    ck_assert(f == 0.5f);
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[9], &bufs, b), 8);
    memcpy(&i64, b, 8);
    ck_assert_int_eq(i64, 2132);
    /* tmp: workspace pointer */
    ck_assert_uint_eq(ev_arg_marshal(p, &st->args[10], &bufs, b), 8);
    ck_assert(memcmp(b, &ws[0], 8) == 0);
    ev_plan_free(p);
    kf_solution_free(s);
}
END_TEST

static void expect_error(const char *launch, const char *path_part)
{
    struct kf_solution *s = sol_of(launch, "[]");
    struct ev_plan *p = NULL;
    struct kf_err err = {0};
    ck_assert_int_ne(ev_plan_build(s, def, bind_, facts, fvals, &lim, &p, &err), 0);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.path, path_part) != NULL, "path '%s' msg '%s'", err.path, err.msg);
    kf_solution_free(s);
}

START_TEST(test_limits)
{
    expect_error("[{\"kernel\":\"k\",\"grid\":[1],\"block\":[64, 32],\"args\":[\"y\"]}]",
                 "spec.launch[0].block");
    expect_error("[{\"kernel\":\"k\",\"grid\":[1],\"block\":[32],\"shared_mem_bytes\":\"n * 1000\","
                 "\"args\":[\"y\"]}]",
                 "spec.launch[0].shared_mem_bytes");
    expect_error("[{\"kernel\":\"k\",\"grid\":[\"n - 2000\"],\"block\":[32],\"args\":[\"y\"]}]",
                 "spec.launch[0].grid[0]");
    expect_error("[{\"kernel\":\"k\",\"grid\":[3],\"block\":[32],\"cluster\":[2],\"args\":[\"y\"]}]",
                 "spec.launch[0].cluster[0]");
    expect_error("[{\"kernel\":\"k\",\"grid\":[1],\"block\":[0],\"args\":[\"y\"]}]",
                 "spec.launch[0].block[0]");
}
END_TEST

START_TEST(test_empty_grid_and_cluster)
{
    struct kf_solution *s = sol_of(
        "[{\"kernel\":\"k\",\"grid\":[\"n - 1000\"],\"block\":[32],\"args\":[\"y\"]},"
        "{\"kernel\":\"k\",\"grid\":[\"max(n, 1) / 250\", 2],\"block\":[128],\"cluster\":[2, 2],"
        "\"args\":[\"y\"]}]",
        "[]");
    struct ev_plan *p = NULL;
    struct kf_err err = {0};
    ck_assert_msg(ev_plan_build(s, def, bind_, facts, fvals, &lim, &p, &err) == 0, "%s: %s", err.path,
                  err.msg);
    ck_assert(p->steps[0].skip);
    ck_assert(!p->steps[1].skip);
    ck_assert(p->steps[1].has_cluster);
    ck_assert_uint_eq(p->steps[1].grid[0], 4);
    ck_assert_uint_eq(p->steps[1].cluster[0], 2);
    ck_assert_uint_eq(p->steps[1].cluster[1], 2);
    ck_assert_uint_eq(p->steps[1].cluster[2], 1);
    ev_plan_free(p);
    kf_solution_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("launch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plan_values);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_empty_grid_and_cluster);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
