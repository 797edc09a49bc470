/* test_trace_build.c: FlashInfer-Trace traces from worker/trace_build.c:
 * every status yields a trace that kf_trace_validate accepts, with
 * correctness only for PASSED/INCORRECT_NUMERICAL and performance only for
 * PASSED; environment.hardware from device names ("NVIDIA_H100"); libs. */
#include <math.h>
#include <string.h>

#include "compare.h"
#include "evdev.h"
#include "kf_check.h"
#include "model.h"
#include "trace_build.h"

static const char *DEF =
    "{\"name\":\"t\",\"op_type\":\"x\",\"axes\":{\"n\":{\"type\":\"var\"}},"
    "\"inputs\":{\"x\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},"
    "\"outputs\":{\"y\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},\"reference\":\"def run(x): return x\"}";
static const char *WL = "{\"uuid\":\"u1\",\"axes\":{\"n\":10},\"inputs\":{\"x\":{\"type\":\"random\"}}}";

START_TEST(test_all_statuses)
{
    struct kf_definition *def = NULL;
    struct kf_workload *wl = NULL;
    struct kf_err err = {0};
    json_t *j = json_loads(DEF, 0, NULL);
    ck_assert_int_eq(kf_definition_from_json(j, &def, &err), 0);
    json_decref(j);
    j = json_loads(WL, 0, NULL);
    ck_assert_int_eq(kf_workload_from_json(j, &wl, NULL, &err), 0);
    json_decref(j);
    for (int st = 0; st < KF_ST_COUNT; st++) {
        struct ev_cmp c = {0};
        json_t *t, *ev;
        char *s;
        c.max_abs = 0.25;
        c.max_rel = 0.5;
        c.n = 10;
        c.matched_ratio = 1;
        t = ev_trace_new(def, wl, "sol", (enum kf_status)st, "a log\n", ev_correctness_json(&c, NULL),
                         ev_performance_json(0.5, 1.0, json_pack("{s:s}", "timer", "cupti")),
                         ev_environment_json("NVIDIA_H100", 13000), json_object());
        ck_assert_msg(kf_trace_validate(t, &err) == 0, "%s: %s: %s", kf_status_name(st), err.path, err.msg);
        ev = json_object_get(t, "evaluation");
        ck_assert_str_eq(json_string_value(json_object_get(ev, "status")), kf_status_name(st));
        ck_assert_int_eq(json_object_get(ev, "correctness") != NULL,
                         st == KF_ST_PASSED || st == KF_ST_INCORRECT_NUMERICAL);
        ck_assert_int_eq(json_object_get(ev, "performance") != NULL, st == KF_ST_PASSED);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "environment"), "hardware")),
                         "NVIDIA_H100");
        ck_assert_ptr_nonnull(json_object_get(json_object_get(json_object_get(ev, "environment"), "libs"),
                                              "nvrtc"));
        if (st == KF_ST_PASSED)
            ck_assert(json_real_value(json_object_get(json_object_get(ev, "performance"),
                                                      "speedup_factor")) == 2.0);
        s = json_dumps(t, 0);   /* serialisable (no NaN) */
        ck_assert_ptr_nonnull(s);
        free(s);
        json_decref(t);
    }
    kf_workload_free(wl);
    kf_definition_free(def);
}
END_TEST

/* A NaN in the output makes the errors non-finite: they must serialise as the
 * strings flashinfer-bench accepts ("NaN", "Infinity"), and the trace must
 * still validate. */
START_TEST(test_nonfinite_errors)
{
    struct kf_err err = {0};
    struct ev_cmp c = {0};
    json_t *corr;
    c.max_abs = NAN;
    c.max_rel = INFINITY;
    c.n = 4;
    corr = ev_correctness_json(&c, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(corr, "max_absolute_error")), "NaN");
    ck_assert_str_eq(json_string_value(json_object_get(corr, "max_relative_error")), "Infinity");
    {
        struct kf_definition *def = NULL;
        struct kf_workload *wl = NULL;
        json_t *j = json_loads(DEF, 0, NULL), *t;
        ck_assert_int_eq(kf_definition_from_json(j, &def, &err), 0);
        json_decref(j);
        j = json_loads(WL, 0, NULL);
        ck_assert_int_eq(kf_workload_from_json(j, &wl, NULL, &err), 0);
        json_decref(j);
        t = ev_trace_new(def, wl, "sol", KF_ST_INCORRECT_NUMERICAL, "nan", corr, NULL,
                         ev_environment_json("NVIDIA_H100", 13000), json_object());
        ck_assert_msg(kf_trace_validate(t, &err) == 0, "%s: %s", err.path, err.msg);
        json_decref(t);
        kf_workload_free(wl);
        kf_definition_free(def);
    }
}
END_TEST

START_TEST(test_hardware_name)
{
    char b[128];
    ev_hardware_name("NVIDIA H100 80GB HBM3", b, sizeof b);
    ck_assert_str_eq(b, "NVIDIA_H100");
    ev_hardware_name("NVIDIA H200", b, sizeof b);
    ck_assert_str_eq(b, "NVIDIA_H200");
    ev_hardware_name("NVIDIA H100 PCIe", b, sizeof b);
    ck_assert_str_eq(b, "NVIDIA_H100");
    ev_hardware_name("NVIDIA B200", b, sizeof b);
    ck_assert_str_eq(b, "NVIDIA_B200");
    ev_hardware_name("NVIDIA GeForce RTX 4090", b, sizeof b);
    ck_assert_str_eq(b, "NVIDIA_GeForce_RTX_4090");
    ev_hardware_name("", b, sizeof b);
    ck_assert_str_eq(b, "unknown");
}
END_TEST

START_TEST(test_zero_latency)
{
    json_t *p = ev_performance_json(0, 0, NULL);
    ck_assert(json_real_value(json_object_get(p, "speedup_factor")) == 0);
    json_decref(p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("trace_build");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_all_statuses);
    tcase_add_test(tc, test_hardware_name);
    tcase_add_test(tc, test_nonfinite_errors);
    tcase_add_test(tc, test_zero_latency);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
