/* test_solution.c: Solution parsing, the nvrtc launch plan, the semantic
 * check against a definition (argument resolution) and round trips. */
#include <string.h>

#include "kf_check.h"
#include "model.h"
#include "dl_fixtures.h"

static struct kf_definition *toy_def(void)
{
    json_t *j = fx_json(TOY_DEF);
    struct kf_definition *d;
    struct kf_err err;
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    json_decref(j);
    return d;
}

START_TEST(test_parse)
{
    json_t *j = fx_json(TOY_SOL);
    struct kf_solution *s;
    struct kf_err err;
    const struct kf_launch_step *st;
    ck_assert_msg(kf_solution_from_json(j, &s, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert(kf_solution_is_nvrtc(s));
    ck_assert_str_eq(s->spec.entry_point, "k.cu::toy_kernel");
    ck_assert(s->spec.has_dps && s->spec.destination_passing_style);
    ck_assert_int_eq(s->nsources, 2);
    ck_assert_int_eq(s->spec.nlaunch, 2);
    ck_assert_int_eq(s->spec.nworkspace, 1);
    ck_assert(s->spec.workspace[0].zero);
    st = &s->spec.launch[0];
    ck_assert_int_eq(st->ngrid, 2);
    ck_assert(!st->grid[0].was_int);
    ck_assert(st->grid[1].was_int);
    ck_assert_str_eq(st->grid[1].src, "1");
    ck_assert_str_eq(st->shared_mem_bytes.src, "0");
    ck_assert_int_eq(st->nargs, 8);
    ck_assert_int_eq(st->args[5].kind, KF_ARG_INT);
    ck_assert(st->args[5].value.was_int);
    ck_assert_int_eq(st->args[6].kind, KF_ARG_FLOAT);
    ck_assert(st->args[6].fvalue == 0.5);
    ck_assert_int_eq(s->spec.launch[1].args[1].kind, KF_ARG_WORKSPACE);
    ck_assert_int_eq(s->spec.launch[1].args[1].index, 0);
    ck_assert_int_eq(s->spec.launch[1].ncluster, 1);
    ck_assert_ptr_null(s->spec.launch[1].shared_mem_bytes.src);
    ck_assert_str_eq(kf_model_detect_kind(j), "solution");
    kf_solution_free(s);
    kf_solution_free(NULL);
    json_decref(j);
}
END_TEST

START_TEST(test_check_resolves_args)
{
    json_t *j = fx_json(TOY_SOL);
    struct kf_definition *d = toy_def();
    struct kf_solution *s;
    struct kf_err err;
    const struct kf_launch_arg *a;
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    ck_assert_msg(kf_solution_check(s, d, &err) == 0, "%s: %s", err.path, err.msg);
    a = s->spec.launch[0].args;
    ck_assert_int_eq(a[0].kind, KF_ARG_INPUT);
    ck_assert_int_eq(a[0].index, 0);
    ck_assert_int_eq(a[1].kind, KF_ARG_INPUT); /* optional y */
    ck_assert_int_eq(a[1].index, 1);
    ck_assert_int_eq(a[2].kind, KF_ARG_SCALAR);
    ck_assert_int_eq(a[2].index, 3);
    ck_assert_int_eq(a[3].kind, KF_ARG_OUTPUT);
    ck_assert_int_eq(a[3].index, 0);
    ck_assert_int_eq(a[4].kind, KF_ARG_INT); /* axis n */
    ck_assert_int_eq(a[7].kind, KF_ARG_INT); /* expression */
    /* idempotent */
    ck_assert_int_eq(kf_solution_check(s, d, &err), 0);
    ck_assert_int_eq(a[0].kind, KF_ARG_INPUT);
    kf_solution_free(s);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

START_TEST(test_roundtrip)
{
    json_t *j = fx_json(TOY_SOL), *o, *kept;
    struct kf_solution *s;
    struct kf_definition *d = toy_def();
    struct kf_err err;
    char *a, *b;
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    ck_assert_int_eq(kf_solution_check(s, d, &err), 0);
    o = kf_solution_to_json(s);
    a = kf_json_dumps(j);
    b = kf_json_dumps(o);
    ck_assert_str_eq(a, b);
    json_decref(o);
    kept = s->json;
    s->json = NULL;
    o = kf_solution_to_json(s);
    s->json = kept;
    ck_assert(json_equal(o, j));
    free(a);
    free(b);
    json_decref(o);
    kf_solution_free(s);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

START_TEST(test_other_lanes)
{
    json_t *j = fx_json("{\"name\":\"t\",\"definition\":\"toy_add_h4\",\"author\":\"a\","
                        "\"description\":null,\"spec\":{\"language\":\"triton\","
                        "\"target_hardware\":[\"NVIDIA_H100\"],\"entry_point\":\"main.py::run\","
                        "\"dependencies\":[\"torch\"],\"destination_passing_style\":false},"
                        "\"sources\":[{\"path\":\"main.py\",\"content\":\"def run(x): pass\"}]}");
    struct kf_solution *s;
    struct kf_definition *d = toy_def();
    struct kf_err err;
    json_t *o;
    char *a, *b;
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    ck_assert(!kf_solution_is_nvrtc(s));
    ck_assert_ptr_null(s->spec.binding);
    ck_assert_ptr_null(s->description);
    ck_assert_int_eq(kf_solution_check(s, d, &err), 0);
    o = kf_solution_to_json(s);
    a = kf_json_dumps(j);
    b = kf_json_dumps(o);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(o);
    kf_solution_free(s);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

static int check_mod(const char *key, json_t *val, struct kf_err *err)
{
    /* replace spec.launch[0].<key> */
    json_t *j = fx_json(TOY_SOL);
    struct kf_definition *d = toy_def();
    struct kf_solution *s = NULL;
    int rc;
    json_object_set_new(json_array_get(json_object_get(json_object_get(j, "spec"), "launch"), 0),
                        key, val);
    rc = kf_solution_from_json(j, &s, err);
    if (!rc)
        rc = kf_solution_check(s, d, err);
    kf_solution_free(s);
    kf_definition_free(d);
    json_decref(j);
    return rc;
}

START_TEST(test_check_errors)
{
    struct kf_err err;
    ck_assert_int_eq(check_mod("kernel", json_string("missing_kernel"), &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].kernel");
    ck_assert_int_eq(check_mod("grid", json_pack("[s,s]", "n", "bogus_axis"), &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].grid[1]");
    ck_assert_int_eq(check_mod("grid", json_pack("[s]", "x.shape[0]"), &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].grid[0]");
    ck_assert_int_eq(check_mod("block", json_pack("[s]", "x"), &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].block[0]");
    ck_assert_int_eq(check_mod("args", json_pack("[s,s]", "x", "nope"), &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.launch[0].args[1]");
    /* out no longer passed: step 1 still passes it, so drop both */
    {
        json_t *j = fx_json(TOY_SOL);
        struct kf_definition *d = toy_def();
        struct kf_solution *s;
        json_t *l = json_object_get(json_object_get(j, "spec"), "launch");
        json_object_set_new(json_array_get(l, 0), "args", json_pack("[s]", "x"));
        json_object_set_new(json_array_get(l, 1), "args", json_pack("[s]", "tmp"));
        ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
        ck_assert_int_eq(kf_solution_check(s, d, &err), KF_EINVAL);
        ck_assert_str_eq(err.path, "spec.launch");
        ck_assert(strstr(err.msg, "'out'") != NULL);
        kf_solution_free(s);
        kf_definition_free(d);
        json_decref(j);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("solution");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_check_resolves_args);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_other_lanes);
    tcase_add_test(tc, test_check_errors);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
