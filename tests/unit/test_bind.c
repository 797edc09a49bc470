/* test_bind.c: axis binding: shapes, sizes, caps, constraints (with and
 * without tensor data) and the launch-plan resolver. */
#include <string.h>

#include "bind.h"
#include "kf_check.h"
#include "dl_fixtures.h"

struct toy {
    struct kf_definition *d;
    struct kf_workload *w;
};

static struct toy load(const char *wl)
{
    struct toy t;
    struct kf_err err;
    json_t *j = fx_json(TOY_DEF), *k = fx_json(wl);
    ck_assert_int_eq(kf_definition_from_json(j, &t.d, &err), 0);
    ck_assert_int_eq(kf_workload_from_json(k, &t.w, NULL, &err), 0);
    json_decref(j);
    json_decref(k);
    return t;
}

static void unload(struct toy *t)
{
    kf_definition_free(t->d);
    kf_workload_free(t->w);
}

START_TEST(test_shapes)
{
    struct toy t = load(TOY_WL);
    struct kf_binding *b;
    struct kf_err err;
    int64_t v;
    ck_assert_int_eq(kf_bind(t.d, t.w, 0, &b, &err), 0);
    ck_assert_int_eq(b->axis_values[0], 6);
    ck_assert_int_eq(b->axis_values[1], 4);
    ck_assert_int_eq(kf_binding_axis(b, "total", &v), 0);
    ck_assert_int_eq(v, 9);
    ck_assert_int_eq(kf_binding_axis(b, "zz", &v), KF_ENOENT);
    /* x [6,4] f32 */
    ck_assert_int_eq(b->inputs[0].ndim, 2);
    ck_assert_int_eq(b->inputs[0].dims[0], 6);
    ck_assert_int_eq(b->inputs[0].dims[1], 4);
    ck_assert_int_eq(b->inputs[0].numel, 24);
    ck_assert_uint_eq(b->inputs[0].nbytes, 96);
    /* y bf16 */
    ck_assert_uint_eq(b->inputs[1].nbytes, 48);
    /* cu [3] i32 */
    ck_assert_uint_eq(b->inputs[2].nbytes, 12);
    /* alpha scalar f32 */
    ck_assert_int_eq(b->inputs[3].ndim, 0);
    ck_assert_int_eq(b->inputs[3].numel, 1);
    ck_assert_uint_eq(b->inputs[3].nbytes, 4);
    /* z0 0-d fp8 */
    ck_assert_int_eq(b->inputs[4].ndim, 0);
    ck_assert_uint_eq(b->inputs[4].nbytes, 1);
    ck_assert_uint_eq(b->outputs[0].nbytes, 96);
    kf_binding_free(b);
    unload(&t);
}
END_TEST

START_TEST(test_cap_and_missing)
{
    struct toy t = load(TOY_WL);
    struct kf_binding *b = (struct kf_binding *)1;
    struct kf_err err;
    ck_assert_int_eq(kf_bind(t.d, t.w, 64, &b, &err), KF_ETOOBIG);
    ck_assert_ptr_null(b);
    ck_assert_str_eq(err.path, "inputs.x");
    ck_assert_int_eq(kf_bind(t.d, NULL, 0, &b, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "axes.n");
    unload(&t);
}
END_TEST

START_TEST(test_overflow)
{
    struct toy t = load("{\"uuid\":\"u\",\"axes\":{\"n\":4611686018427387904,\"len\":1,"
                        "\"total\":0},\"inputs\":{}}");
    struct kf_binding *b;
    struct kf_err err;
    ck_assert_int_eq(kf_bind(t.d, t.w, 0, &b, &err), KF_ETOOBIG);
    unload(&t);
}
END_TEST

START_TEST(test_constraints_reported_not_enforced)
{
    struct toy t = load("{\"uuid\":\"u\",\"axes\":{\"n\":3,\"len\":1,\"total\":0},\"inputs\":{}}");
    struct kf_binding *b;
    struct kf_err err;
    ck_assert_int_eq(kf_bind(t.d, t.w, 0, &b, &err), 0);
    ck_assert_int_eq(kf_binding_check_constraints(b, NULL, NULL, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "constraints[0]");
    ck_assert_msg(strstr(err.msg, "n=3") != NULL, "%s", err.msg);
    kf_binding_free(b);
    unload(&t);
}
END_TEST

static int32_t cu_data[3] = {0, 4, 9};
static const void *data_fn(void *ctx, int idx)
{
    (void)ctx;
    return idx == 2 ? cu_data : NULL;
}

START_TEST(test_data_constraints)
{
    struct toy t = load(TOY_WL);
    struct kf_binding *b;
    struct kf_err err;
    ck_assert_int_eq(kf_bind(t.d, t.w, 0, &b, &err), 0);
    ck_assert_int_eq(kf_binding_check_constraints(b, data_fn, NULL, &err), 0);
    cu_data[2] = 8;
    ck_assert_int_eq(kf_binding_check_constraints(b, data_fn, NULL, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "constraints[2]");
    ck_assert(strstr(err.msg, "total == cu[-1].item()") != NULL);
    cu_data[2] = 9;
    kf_binding_free(b);
    unload(&t);
}
END_TEST

START_TEST(test_env_resolver)
{
    struct toy t = load(TOY_WL);
    struct kf_binding *b;
    struct kf_err err;
    static const char *const names[] = {"num_sms", NULL};
    static const int64_t vals[] = {132};
    struct kf_bind_env env;
    struct kf_expr *e;
    int64_t v;
    ck_assert_int_eq(kf_bind(t.d, t.w, 0, &b, &err), 0);
    env.b = b;
    env.fact_names = names;
    env.fact_values = vals;
    ck_assert_int_eq(kf_expr_parse("cdiv(n * h, 128) + num_sms + x.shape[1]", &e, &err), 0);
    ck_assert_int_eq(kf_expr_eval(e, kf_bind_env_resolve, &env, &v, &err), 0);
    ck_assert_int_eq(v, 1 + 132 + 4);
    kf_expr_free(e);
    ck_assert_int_eq(kf_expr_parse("warp_size", &e, &err), 0);
    ck_assert_int_eq(kf_expr_eval(e, kf_bind_env_resolve, &env, &v, &err), KF_ENOENT);
    kf_expr_free(e);
    kf_binding_free(b);
    unload(&t);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("bind");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_cap_and_missing);
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_data_constraints);
    tcase_add_test(tc, test_constraints_reported_not_enforced);
    tcase_add_test(tc, test_env_resolver);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
