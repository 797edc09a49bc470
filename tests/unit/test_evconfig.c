/* test_evconfig.c: eval config layering (worker/evconfig.c): defaults <
 * op_type < definition < request, flashinfer-bench's key names, bounds and
 * unknown keys rejected with paths, and the shipped contest config
 * (deploy/eval-contest.json: MoE atol 1 rtol 0.3 ratio 0.9; GDN prefill
 * warmup 1, iterations 5, trials 3). */
#include <string.h>

#include "evconfig.h"
#include "jsonio.h"
#include "kf_check.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static struct kf_definition mkdef(const char *name, const char *op)
{
    struct kf_definition d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.op_type = (char *)op;
    return d;
}

START_TEST(test_defaults)
{
    struct ev_config c;
    ev_config_defaults(&c);
    ck_assert_int_eq(c.warmup, 10);
    ck_assert_int_eq(c.iterations, 50);
    ck_assert_int_eq(c.trials, 3);
    ck_assert(c.rtol == 1e-2 && c.atol == 1e-2);
    ck_assert(c.required_matched_ratio == 1.0);
    ck_assert(c.floor_margin == 0.8);
}
END_TEST

/* floor_margin: layered like the others, bounded to [0, 1] (0 disables the
 * floor), shown in the config JSON, and never taken from a request. */
START_TEST(test_floor_margin)
{
    struct ev_config c;
    struct kf_err err = {0};
    struct kf_definition d = mkdef("gdn_decode_x", "gdn");
    json_t *file = json_loads("{\"default\":{\"floor_margin\":0.9},\"op_type\":{\"gdn\":"
                              "{\"floor_margin\":0.7}},\"definition\":{\"gdn_decode_x\":"
                              "{\"floor_margin\":0}}}", 0, NULL), *bad, *j;
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert(c.floor_margin == 0);
    d = mkdef("gdn_prefill_x", "gdn");
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert(c.floor_margin == 0.7);
    d = mkdef("other", "attn");
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert(c.floor_margin == 0.9);
    j = ev_config_to_json(&c);
    ck_assert(json_real_value(json_object_get(j, "floor_margin")) == 0.9);
    json_decref(j);
    /* a request may not lower (or even restate) it */
    bad = json_loads("{\"floor_margin\":0}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(file, &d, bad, &c, &err), KF_EPERM);
    ck_assert_str_eq(err.path, "config.floor_margin");
    json_decref(bad);
    json_decref(file);
    /* bounds and type, with the layer's path */
    bad = json_loads("{\"default\":{\"floor_margin\":1.2}}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(bad, &d, NULL, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "default.floor_margin");
    json_decref(bad);
    bad = json_loads("{\"op_type\":{\"attn\":{\"floor_margin\":-0.1}}}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(bad, &d, NULL, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "op_type.attn.floor_margin");
    json_decref(bad);
    bad = json_loads("{\"definition\":{\"other\":{\"floor_margin\":\"0.8\"}}}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(bad, &d, NULL, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "definition.other.floor_margin");
    json_decref(bad);
}
END_TEST

START_TEST(test_layers)
{
    struct ev_config c;
    struct kf_err err = {0};
    struct kf_definition d = mkdef("gemm_x", "gemm");
    json_t *file = json_loads("{\"default\":{\"iterations\":20},\"op_type\":{\"gemm\":{\"atol\":0.5,"
                              "\"warmup_runs\":2}},\"definition\":{\"gemm_x\":{\"atol\":0.25,"
                              "\"num_trials\":5}}}", 0, NULL);
    json_t *req = json_loads("{\"trials\":2}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(file, &d, req, &c, &err), 0);
    ck_assert_int_eq(c.iterations, 20);
    ck_assert_int_eq(c.warmup, 2);
    ck_assert(c.atol == 0.25);
    ck_assert_int_eq(c.trials, 2);
    d = mkdef("other", "attn");
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert(c.atol == 1e-2);
    ck_assert_int_eq(c.trials, 3);
    json_decref(file);
    json_decref(req);
}
END_TEST

START_TEST(test_errors)
{
    struct ev_config c;
    struct kf_err err = {0};
    struct kf_definition d = mkdef("a", "b");
    json_t *bad = json_loads("{\"definition\":{\"a\":{\"itterations\":3}}}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(bad, &d, NULL, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "definition.a.itterations");
    json_decref(bad);
    bad = json_loads("{\"trials\":0}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(NULL, &d, bad, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "config.trials");
    json_decref(bad);
    bad = json_loads("{\"required_matched_ratio\":1.5}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(NULL, &d, bad, &c, &err), KF_EINVAL);
    json_decref(bad);
}
END_TEST

START_TEST(test_contest_file)
{
    struct ev_config c;
    struct kf_err err = {0};
    json_t *f = kf_json_load_file(KF_SOURCE_DIR "/deploy/eval-contest.json", 0, &err);
    struct kf_definition moe = mkdef("moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048", "moe");
    struct kf_definition gdn = mkdef("gdn_prefill_qk4_v8_d128_k_last", "gdn");
    struct kf_definition dec = mkdef("gdn_decode_qk4_v8_d128_k_last", "gdn");
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_int_eq(ev_config_resolve(f, &moe, NULL, &c, &err), 0);
    ck_assert(c.atol == 1.0 && c.rtol == 0.3 && c.required_matched_ratio == 0.9);
    ck_assert_int_eq(c.iterations, 50);
    ck_assert_int_eq(ev_config_resolve(f, &gdn, NULL, &c, &err), 0);
    ck_assert_int_eq(c.warmup, 1);
    ck_assert_int_eq(c.iterations, 5);
    ck_assert_int_eq(c.trials, 3);
    ck_assert(c.atol == 1e-2);
    ck_assert_int_eq(ev_config_resolve(f, &dec, NULL, &c, &err), 0);
    ck_assert_int_eq(c.warmup, 10);
    ck_assert_int_eq(c.iterations, 50);
    ck_assert(c.floor_margin == 0.8);
    json_decref(f);
}
END_TEST

/* reference: "native" (default) or "pytorch", operator-only like the floor. */
START_TEST(test_reference_choice)
{
    struct ev_config c;
    struct kf_err err = {0};
    struct kf_definition d = mkdef("gdn_decode_x", "gdn");
    json_t *file = json_loads("{\"default\":{\"reference\":\"pytorch\"},\"definition\":"
                              "{\"gdn_decode_x\":{\"reference\":\"native\"}}}", 0, NULL), *bad, *j;
    ck_assert_int_eq(ev_config_resolve(NULL, &d, NULL, &c, &err), 0);
    ck_assert_int_eq(c.pytorch_reference, 0);
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert_int_eq(c.pytorch_reference, 0);
    d = mkdef("other", "attn");
    ck_assert_int_eq(ev_config_resolve(file, &d, NULL, &c, &err), 0);
    ck_assert_int_eq(c.pytorch_reference, 1);
    j = ev_config_to_json(&c);
    ck_assert_str_eq(json_string_value(json_object_get(j, "reference")), "pytorch");
    json_decref(j);
    bad = json_loads("{\"reference\":\"native\"}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(file, &d, bad, &c, &err), KF_EPERM);
    ck_assert_str_eq(err.path, "config.reference");
    json_decref(bad);
    bad = json_loads("{\"default\":{\"reference\":\"torch\"}}", 0, NULL);
    ck_assert_int_eq(ev_config_resolve(bad, &d, NULL, &c, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "default.reference");
    json_decref(bad);
    json_decref(file);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("evconfig");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_reference_choice);
    tcase_add_test(tc, test_layers);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_contest_file);
    tcase_add_test(tc, test_floor_margin);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
