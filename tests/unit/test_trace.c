/* test_trace.c: Trace validation (status rules, nullability, extra
 * fields), status names and kind detection. */
#include <string.h>

#include "kf_check.h"
#include "model.h"
#include "dl_fixtures.h"

static json_t *eval_of(json_t *t)
{
    return json_object_get(t, "evaluation");
}

START_TEST(test_valid)
{
    json_t *t = fx_json(TOY_TRACE);
    struct kf_err err;
    ck_assert_msg(kf_trace_validate(t, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert_str_eq(kf_model_detect_kind(t), "trace");
    /* INCORRECT_NUMERICAL: correctness, no performance */
    json_object_set_new(eval_of(t), "status", json_string("INCORRECT_NUMERICAL"));
    json_object_set_new(eval_of(t), "performance", json_null());
    ck_assert_int_eq(kf_trace_validate(t, &err), 0);
    /* RUNTIME_ERROR: neither (absent or null) */
    json_object_set_new(eval_of(t), "status", json_string("RUNTIME_ERROR"));
    json_object_del(eval_of(t), "correctness");
    ck_assert_int_eq(kf_trace_validate(t, &err), 0);
    json_decref(t);
}
END_TEST

START_TEST(test_workload_trace)
{
    json_t *t = fx_json(TOY_WL_LINE);
    struct kf_err err;
    ck_assert_int_eq(kf_trace_validate(t, &err), 0);
    json_object_set_new(t, "evaluation", json_object());
    ck_assert_int_eq(kf_trace_validate(t, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "evaluation");
    json_decref(t);
}
END_TEST

START_TEST(test_status_rules)
{
    json_t *t = fx_json(TOY_TRACE);
    struct kf_err err;
    json_object_set_new(eval_of(t), "performance", json_null());
    ck_assert_int_eq(kf_trace_validate(t, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "evaluation.performance");
    json_object_set_new(eval_of(t), "status", json_string("COMPILE_ERROR"));
    ck_assert_int_eq(kf_trace_validate(t, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "evaluation.correctness");
    json_object_set_new(eval_of(t), "status", json_string("MAYBE"));
    ck_assert_int_eq(kf_trace_validate(t, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "evaluation.status");
    json_decref(t);
}
END_TEST

START_TEST(test_names)
{
    for (int i = 0; i < KF_ST_COUNT; i++)
        ck_assert_int_eq(kf_status_from_name(kf_status_name((enum kf_status)i)), i);
    ck_assert_int_eq(kf_status_from_name("passed"), -1);
    ck_assert_int_eq(kf_status_from_name(NULL), -1);
    ck_assert_str_eq(kf_status_name(KF_ST_TIMEOUT), "TIMEOUT");
    {
        json_t *j = fx_json("[1]");
        ck_assert_ptr_null(kf_model_detect_kind(j));
        json_decref(j);
        j = fx_json("{\"foo\":1}");
        ck_assert_ptr_null(kf_model_detect_kind(j));
        json_decref(j);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_workload_trace);
    tcase_add_test(tc, test_status_rules);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
