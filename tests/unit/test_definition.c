/* test_definition.c: Definition parsing, lookups, serialisation and round
 * trips (fixture and, when present, the shared contest definitions). */
#include <dirent.h>
#include <string.h>

#include "kf_check.h"
#include "model.h"
#include "dl_fixtures.h"

START_TEST(test_parse_fixture)
{
    json_t *j = fx_json(TOY_DEF);
    struct kf_definition *d = NULL;
    struct kf_err err;
    const struct kf_tensor_spec *t;
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    ck_assert_str_eq(d->name, "toy_add_h4");
    ck_assert_str_eq(d->op_type, "toy");
    ck_assert_int_eq(d->ntags, 1);
    ck_assert_int_eq(d->naxes, 4);
    ck_assert_str_eq(d->axes[0].name, "n"); /* document order */
    ck_assert(!d->axes[0].is_const);
    ck_assert_str_eq(d->axes[0].description, "rows");
    ck_assert(d->axes[1].is_const);
    ck_assert_int_eq(d->axes[1].value, 4);
    ck_assert_int_eq(d->nconstraints, 3);
    ck_assert_ptr_nonnull(d->constraint_exprs[2]);
    ck_assert_int_eq(d->ninputs, 5);
    ck_assert_int_eq(d->noutputs, 1);
    t = kf_definition_input(d, "alpha");
    ck_assert(t->is_scalar);
    ck_assert_int_eq(t->ndim, 0);
    t = kf_definition_input(d, "z0");
    ck_assert(!t->is_scalar);
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_int_eq(t->dtype, KF_DT_F8E4M3);
    t = kf_definition_input(d, "y");
    ck_assert(t->optional);
    ck_assert_int_eq(t->dtype, KF_DT_BF16);
    ck_assert(!kf_definition_input(d, "x")->optional);
    ck_assert_int_eq(kf_definition_input_index(d, "cu"), 2);
    ck_assert_int_eq(kf_definition_output_index(d, "out"), 0);
    ck_assert_int_eq(kf_definition_output_index(d, "x"), -1);
    ck_assert_ptr_null(kf_definition_axis(d, "zz"));
    ck_assert_ptr_nonnull(kf_definition_output(d, "out"));
    ck_assert_str_eq(kf_model_detect_kind(j), "definition");
    kf_definition_free(d);
    kf_definition_free(NULL);
    json_decref(j);
}
END_TEST

/* to_json(from_json(x)) dumps byte-identically, and the serialiser alone
 * (without the kept document) produces an equal JSON value. */
static void check_roundtrip(json_t *j, const char *what)
{
    struct kf_definition *d = NULL, *d2 = NULL;
    struct kf_err err;
    json_t *o, *o2, *kept;
    char *a, *b;
    ck_assert_msg(kf_definition_from_json(j, &d, &err) == 0, "%s: %s: %s", what, err.path, err.msg);
    o = kf_definition_to_json(d);
    a = kf_json_dumps(j);
    b = kf_json_dumps(o);
    ck_assert_msg(strcmp(a, b) == 0, "%s: round trip differs", what);
    /* twice */
    ck_assert_int_eq(kf_definition_from_json(o, &d2, &err), 0);
    o2 = kf_definition_to_json(d2);
    free(b);
    b = kf_json_dumps(o2);
    ck_assert_msg(strcmp(a, b) == 0, "%s: second round trip differs", what);
    /* serialiser without the kept document: equal value (order aside) */
    kept = d->json;
    d->json = NULL;
    json_decref(o);
    o = kf_definition_to_json(d);
    d->json = kept;
    {
        json_t *expect = json_deep_copy(j);
        /* explicit nulls are the only thing the bare serialiser omits */
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(expect, tmp, k, v) if (json_is_null(v)) json_object_del(expect, k);
        ck_assert_msg(json_equal(o, expect), "%s: serialiser output differs", what);
        json_decref(expect);
    }
    free(a);
    free(b);
    json_decref(o);
    json_decref(o2);
    kf_definition_free(d);
    kf_definition_free(d2);
}

START_TEST(test_roundtrip_fixture)
{
    json_t *j = fx_json(TOY_DEF);
    check_roundtrip(j, "fixture");
    /* unknown keys are ignored (as flashinfer-bench does) and kept */
    json_object_set_new(j, "x_extra", json_pack("{s:i}", "a", 1));
    json_object_set_new(j, "tags", json_null());
    {
        struct kf_definition *d;
        struct kf_err err;
        json_t *o;
        char *a, *b;
        ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
        ck_assert_ptr_null(d->tags);
        o = kf_definition_to_json(d);
        a = kf_json_dumps(j);
        b = kf_json_dumps(o);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        json_decref(o);
        kf_definition_free(d);
    }
    json_decref(j);
}
END_TEST

START_TEST(test_empty_lists)
{
    json_t *j = fx_json(TOY_DEF);
    struct kf_definition *d;
    struct kf_err err;
    json_t *o;
    json_object_set_new(j, "tags", json_array());
    json_object_set_new(j, "constraints", json_array());
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    ck_assert_ptr_nonnull(d->tags);
    ck_assert_int_eq(d->ntags, 0);
    d->json = (json_decref(d->json), NULL);
    o = kf_definition_to_json(d);
    ck_assert(json_is_array(json_object_get(o, "tags")));
    ck_assert(json_is_array(json_object_get(o, "constraints")));
    json_decref(o);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

START_TEST(test_contest_definitions)
{
    const char *root = fx_contest_dir("definitions");
    char dir[1200];
    int n = 0;
    const char *subs[] = {"definitions", "definitions/variants"};
    ck_assert_ptr_nonnull(root); /* the case is only added when present */
    for (int s = 0; s < 2; s++) {
        DIR *dp;
        struct dirent *e;
        snprintf(dir, sizeof dir, "%s/%s", root, subs[s]);
        dp = opendir(dir);
        if (!dp)
            continue;
        while ((e = readdir(dp)) != NULL) {
            char path[1500];
            struct kf_err err;
            json_t *j;
            if (!strstr(e->d_name, ".json"))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            j = kf_json_load_file(path, 0, &err);
            ck_assert_msg(j != NULL, "%s: %s", path, err.msg);
            check_roundtrip(j, path);
            json_decref(j);
            n++;
        }
        closedir(dp);
    }
    ck_assert_int_ge(n, 5);
}
END_TEST

START_TEST(test_contest_constraints)
{
    const char *root = fx_contest_dir("definitions");
    char path[1200];
    struct kf_err err;
    struct kf_definition *d;
    json_t *j;
    ck_assert_ptr_nonnull(root);
    snprintf(path, sizeof path, "%s/definitions/gdn_decode_qk4_v8_d128_k_last.json", root);
    j = kf_json_load_file(path, 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(kf_definition_from_json(j, &d, &err), 0);
    ck_assert_str_eq(d->constraints[1], "num_v_heads % num_q_heads == 0");
    ck_assert(kf_definition_input(d, "state")->optional);
    ck_assert(kf_definition_input(d, "scale")->is_scalar);
    kf_definition_free(d);
    json_decref(j);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("definition");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_parse_fixture);
    tcase_add_test(tc, test_roundtrip_fixture);
    tcase_add_test(tc, test_empty_lists);
    suite_add_tcase(s, tc);
    if (fx_contest_dir("definition round trips")) {
        TCase *tc2 = tcase_create("contest");
        tcase_set_timeout(tc2, 60);
        tcase_add_test(tc2, test_contest_definitions);
        tcase_add_test(tc2, test_contest_constraints);
        suite_add_tcase(s, tc2);
    }
    return s;
}

KF_CHECK_MAIN
