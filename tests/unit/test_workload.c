/* test_workload.c: Workload parsing (bare and the dataset's wrapped line),
 * serialisation and the check against a definition. */
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

START_TEST(test_bare)
{
    json_t *j = fx_json(TOY_WL);
    struct kf_workload *w;
    struct kf_err err;
    char *def = (char *)"sentinel";
    const struct kf_workload_input *in;
    ck_assert_int_eq(kf_workload_from_json(j, &w, &def, &err), 0);
    ck_assert_ptr_null(def);
    ck_assert_str_eq(w->uuid, "u-1");
    ck_assert_int_eq(w->naxes, 3);
    ck_assert_str_eq(w->axes[0].name, "n");
    ck_assert_int_eq(w->axes[0].value, 6);
    in = kf_workload_input(w, "alpha");
    ck_assert_int_eq(in->kind, KF_IN_SCALAR);
    ck_assert(!in->scalar_is_int);
    ck_assert(in->scalar_real == 0.5);
    in = kf_workload_input(w, "cu");
    ck_assert_int_eq(in->kind, KF_IN_SAFETENSORS);
    ck_assert_str_eq(in->path, "./blob/toy/a.safetensors");
    ck_assert_str_eq(in->tensor_key, "cu");
    ck_assert_int_eq(kf_workload_input(w, "x")->kind, KF_IN_RANDOM);
    ck_assert_ptr_null(kf_workload_input(w, "nope"));
    ck_assert_str_eq(kf_model_detect_kind(j), "workload");
    kf_workload_free(w);
    json_decref(j);
}
END_TEST

START_TEST(test_wrapped_and_roundtrip)
{
    json_t *j = fx_json(TOY_WL_LINE), *o;
    struct kf_workload *w;
    struct kf_err err;
    char *def = NULL, *a, *b;
    ck_assert_int_eq(kf_workload_from_json(j, &w, &def, &err), 0);
    ck_assert_str_eq(def, "toy_add_h4");
    ck_assert_str_eq(kf_model_detect_kind(j), "workload");
    o = kf_workload_line_to_json(w, def);
    a = kf_json_dumps(j);
    b = kf_json_dumps(o);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(o);
    /* the bare serialiser equals the inner object */
    o = kf_workload_to_json(w);
    ck_assert(json_equal(o, json_object_get(j, "workload")));
    json_decref(o);
    free(def);
    kf_workload_free(w);
    json_decref(j);
}
END_TEST

START_TEST(test_scalar_kinds)
{
    json_t *j = fx_json("{\"uuid\":\"u\",\"axes\":{},\"inputs\":{\"a\":{\"type\":\"scalar\","
                        "\"value\":true},\"b\":{\"type\":\"scalar\",\"value\":192},"
                        "\"c\":{\"type\":\"scalar\",\"value\":2.5}}}");
    struct kf_workload *w;
    struct kf_err err;
    json_t *o;
    char *a, *b;
    ck_assert_int_eq(kf_workload_from_json(j, &w, NULL, &err), 0);
    ck_assert(w->inputs[0].scalar_is_bool);
    ck_assert_int_eq(w->inputs[0].scalar_int, 1);
    ck_assert(w->inputs[1].scalar_is_int && !w->inputs[1].scalar_is_bool);
    ck_assert_int_eq(w->inputs[1].scalar_int, 192);
    ck_assert(!w->inputs[2].scalar_is_int);
    {   /* a huge real scalar: no out-of-range conversion (UBSan; found by make fuzz) */
        json_t *h = fx_json("{\"uuid\":\"u\",\"axes\":{},\"inputs\":{\"a\":{\"type\":"
                            "\"scalar\",\"value\":3.3e82}}}");
        struct kf_workload *hw;
        ck_assert_int_eq(kf_workload_from_json(h, &hw, NULL, &err), 0);
        ck_assert(hw->inputs[0].scalar_real == 3.3e82);
        ck_assert_int_eq(hw->inputs[0].scalar_int, 0);
        kf_workload_free(hw);
        json_decref(h);
    }
    json_decref(w->json);
    w->json = NULL;
    o = kf_workload_to_json(w);
    a = kf_json_dumps(j);
    b = kf_json_dumps(o);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(o);
    kf_workload_free(w);
    json_decref(j);
}
END_TEST

static int check_doc_c(const char *wl, struct kf_err *err, bool constraints)
{
    struct kf_definition *d = toy_def();
    json_t *j = fx_json(wl);
    struct kf_workload *w;
    int rc;
    ck_assert_int_eq(kf_workload_from_json(j, &w, NULL, err), 0);
    rc = kf_workload_check(w, d, err);
    if (!rc && constraints)
        rc = kf_workload_check_constraints(w, d, err);
    kf_workload_free(w);
    kf_definition_free(d);
    json_decref(j);
    return rc;
}

static int check_doc(const char *wl, struct kf_err *err)
{
    return check_doc_c(wl, err, false);
}

#define ODD_N                                                                                   \
    "{\"uuid\":\"u\",\"axes\":{\"n\":5,\"len\":3,\"total\":9},"                              \
    "\"inputs\":{\"x\":{\"type\":\"random\"},\"cu\":{\"type\":\"random\"},"                   \
    "\"alpha\":{\"type\":\"scalar\",\"value\":1},\"z0\":{\"type\":\"random\"}}}"

START_TEST(test_check)
{
    struct kf_err err;
    ck_assert_int_eq(check_doc(TOY_WL, &err), 0);
    ck_assert_int_eq(check_doc_c(TOY_WL, &err, true), 0);
    /* odd n violates n % 2 == 0: structurally fine, the constraint check says why */
    ck_assert_int_eq(check_doc(ODD_N, &err), 0);
    ck_assert_int_eq(check_doc_c(ODD_N, &err, true),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "constraints[0]");
    ck_assert_msg(strstr(err.msg, "n=5") != NULL, "%s", err.msg);
    /* missing var axis */
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"len\":3},\"inputs\":{}}", &err),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "axes.total");
    /* const axis given */
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"h\":4,\"len\":3,\"total\":1},"
                               "\"inputs\":{}}", &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "axes.h");
    /* required input missing (the optional y may be absent) */
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"len\":3,\"total\":1},"
                               "\"inputs\":{\"x\":{\"type\":\"random\"}}}", &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "inputs.cu");
    /* scalar for a tensor, tensor for a scalar, real for int */
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"len\":3,\"total\":1},"
                               "\"inputs\":{\"x\":{\"type\":\"scalar\",\"value\":1}}}", &err),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "inputs.x");
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"len\":3,\"total\":1},"
                               "\"inputs\":{\"alpha\":{\"type\":\"random\"}}}", &err),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "inputs.alpha");
    ck_assert_int_eq(check_doc("{\"uuid\":\"u\",\"axes\":{\"n\":2,\"len\":3,\"total\":1},"
                               "\"inputs\":{\"bogus\":{\"type\":\"random\"}}}", &err),
                     KF_EINVAL);
    ck_assert_str_eq(err.path, "inputs.bogus");
}
END_TEST

START_TEST(test_contest_moe_lines)
{
    const char *root = fx_contest_dir("workloads");
    char path[1200], line[1 << 16];
    FILE *f;
    int n = 0;
    ck_assert_ptr_nonnull(root);
    snprintf(path, sizeof path,
             "%s/workloads/moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048.jsonl", root);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        struct kf_err err;
        json_t *j = kf_json_loadb(line, strlen(line), &err), *o;
        struct kf_workload *w;
        char *def, *a, *b;
        ck_assert_ptr_nonnull(j);
        ck_assert_msg(kf_workload_from_json(j, &w, &def, &err) == 0, "%s: %s", err.path, err.msg);
        o = kf_workload_line_to_json(w, def);
        a = kf_json_dumps(j);
        b = kf_json_dumps(o);
        ck_assert_str_eq(a, b);
        ck_assert_int_eq(kf_workload_input(w, "routed_scaling_factor")->kind, KF_IN_SCALAR);
        free(a);
        free(b);
        free(def);
        json_decref(o);
        json_decref(j);
        kf_workload_free(w);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 19);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("workload");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_bare);
    tcase_add_test(tc, test_wrapped_and_roundtrip);
    tcase_add_test(tc, test_scalar_kinds);
    tcase_add_test(tc, test_check);
    suite_add_tcase(s, tc);
    if (fx_contest_dir("MoE workload lines")) {
        TCase *tc2 = tcase_create("contest");
        tcase_set_timeout(tc2, 60);
        tcase_add_test(tc2, test_contest_moe_lines);
        suite_add_tcase(s, tc2);
    }
    return s;
}

KF_CHECK_MAIN
