/* test_dataset.c: the dataset loader on a small dataset synthesized here
 * (with the safetensors writer) and, when present, on the shared contest
 * definitions and MoE workloads (linked into a temporary FlashInfer-Trace
 * layout); error reports name file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind.h"
#include "dataset.h"
#include "kf_check.h"
#include "safetensors.h"
#include "dl_fixtures.h"

static char root[64];

static void mkdirs(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void put(const char *rel, const char *content)
{
    char p[512];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

static void setup(void)
{
    struct kf_st_writer *w;
    struct kf_err err;
    int32_t cu[3] = {0, 4, 9};
    int64_t shape[1] = {3};
    char p[256];
    snprintf(root, sizeof root, "/tmp/kf_ds_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    mkdirs("definitions/toy");
    mkdirs("workloads/toy");
    mkdirs("blob/toy");
    mkdirs("solutions/me/toy");
    mkdirs("traces/toy");
    put("definitions/toy/toy_add_h4.json", TOY_DEF);
    put("workloads/toy/toy_add_h4.jsonl",
        TOY_WL_LINE "\n\n"
        "{\"definition\":\"toy_add_h4\",\"solution\":null,\"workload\":{\"uuid\":\"u-2\","
        "\"axes\":{\"n\":2,\"len\":3,\"total\":9},\"inputs\":{\"x\":{\"type\":\"random\"},"
        "\"cu\":{\"type\":\"safetensors\",\"path\":\"blob/toy/a.safetensors\",\"tensor_key\":\"cu\"},"
        "\"alpha\":{\"type\":\"scalar\",\"value\":1},\"z0\":{\"type\":\"random\"}}},"
        "\"evaluation\":null}\n");
    put("solutions/me/toy/toy_sol.json", TOY_SOL);
    put("traces/toy/toy_add_h4.jsonl", TOY_TRACE "\n");
    w = kf_st_writer_new();
    kf_st_writer_add(w, "cu", KF_DT_I32, 1, shape, cu, sizeof cu);
    snprintf(p, sizeof p, "%s/blob/toy/a.safetensors", root);
    ck_assert_int_eq(kf_st_writer_save(w, p, &err), 0);
    kf_st_writer_free(w);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

static const struct kf_safetensors *g_st;
static const void *blob_data(void *ctx, int idx)
{
    const struct kf_definition *d = ctx;
    const struct kf_st_tensor *t = kf_st_find(g_st, d->inputs[idx].name);
    return t ? kf_st_data(g_st, t) : NULL;
}

START_TEST(test_load_synth)
{
    struct kf_dataset *ds;
    struct kf_err err;
    const struct kf_dataset_def *e, *e2;
    const struct kf_workload *w;
    struct kf_binding *b;
    struct kf_safetensors *st;
    char *bp;
    ck_assert_msg(kf_dataset_load(root, &ds, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert_int_eq(ds->ndefs, 1);
    ck_assert_int_eq(ds->nsolutions, 1);
    ck_assert_str_eq(ds->solutions[0]->name, "toy_sol");
    e = kf_dataset_find(ds, "toy_add_h4");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(kf_dataset_find(ds, "nope"));
    ck_assert_int_eq(e->nworkloads, 2);
    ck_assert(strstr(e->workloads_path, "workloads/toy/toy_add_h4.jsonl") != NULL);
    ck_assert(strstr(e->path, "definitions/toy/toy_add_h4.json") != NULL);
    w = kf_dataset_workload(ds, "u-2", &e2);
    ck_assert_ptr_eq(e2, e);
    ck_assert_ptr_null(kf_dataset_workload(ds, "u-9", NULL));
    /* the blob, found through the dataset, matches the bound shape and the data constraint */
    bp = kf_dataset_blob_path(ds, kf_workload_input(w, "cu")->path);
    ck_assert_int_eq(kf_st_read(bp, 0, &st, &err), 0);
    ck_assert_int_eq(kf_bind(e->def, w, 0, &b, &err), 0);
    ck_assert_int_eq(kf_st_check(kf_st_find(st, "cu"), KF_DT_I32, &b->inputs[2], &err), 0);
    g_st = st;
    ck_assert_int_eq(kf_binding_check_constraints(b, blob_data, e->def, &err), 0);
    kf_binding_free(b);
    kf_st_free(st);
    free(bp);
    kf_dataset_free(ds);
}
END_TEST

START_TEST(test_env_root)
{
    struct kf_dataset *ds;
    struct kf_err err;
    setenv("FIB_DATASET_PATH", root, 1);
    ck_assert_int_eq(kf_dataset_load(NULL, &ds, &err), 0);
    ck_assert(ds->root[0] == '/');
    kf_dataset_free(ds);
    unsetenv("FIB_DATASET_PATH");
    ck_assert_int_eq(kf_dataset_load(NULL, &ds, &err), KF_EINVAL);
    ck_assert_int_eq(kf_dataset_load("/nonexistent/kf", &ds, &err), KF_ENOENT);
}
END_TEST

START_TEST(test_blob_paths)
{
    struct kf_dataset *ds;
    struct kf_err err;
    char *p, expect[256];
    ck_assert_int_eq(kf_dataset_load(root, &ds, &err), 0);
    p = kf_dataset_blob_path(ds, "./blob/x.safetensors");
    snprintf(expect, sizeof expect, "%s/blob/x.safetensors", ds->root);
    ck_assert_str_eq(p, expect);
    free(p);
    ck_assert_ptr_null(kf_dataset_blob_path(ds, "../x"));
    ck_assert_ptr_null(kf_dataset_blob_path(ds, "blob/../../x"));
    ck_assert_ptr_null(kf_dataset_blob_path(ds, "/etc/passwd"));
    ck_assert_ptr_null(kf_dataset_blob_path(ds, ""));
    kf_dataset_free(ds);
}
END_TEST

static void expect_error(const char *rel, const char *content, int code, const char *path_suffix,
                         const char *msg_prefix)
{
    struct kf_dataset *ds = NULL;
    struct kf_err err;
    size_t n, m;
    put(rel, content);
    kf_err_clear(&err);
    ck_assert_int_eq(kf_dataset_load(root, &ds, &err), code);
    if (code == 0) { /* kept, with a warning: the constraint is not enforced on load */
        ck_assert_ptr_nonnull(kf_dataset_workload(ds, "u-3", NULL));
        kf_dataset_free(ds);
        return;
    }
    ck_assert_ptr_null(ds);
    n = strlen(err.path);
    m = strlen(path_suffix);
    ck_assert_msg(n >= m && strcmp(err.path + n - m, path_suffix) == 0, "path %s", err.path);
    ck_assert_msg(strncmp(err.msg, msg_prefix, strlen(msg_prefix)) == 0, "msg %s", err.msg);
}

START_TEST(test_errors_name_file_and_line)
{
    expect_error("workloads/toy/zz.jsonl",
                 "\n" TOY_WL_LINE "\n{\"definition\":\"toy_add_h4\",\"workload\":{\"uuid\":\"u-3\","
                 "\"axes\":{\"n\":-1},\"inputs\":{}}}\n",
                 KF_ECONFLICT, "workloads/toy/zz.jsonl:2", "workload.uuid:");
    expect_error("workloads/toy/zz.jsonl",
                 "{\"definition\":\"toy_add_h4\",\"workload\":{\"uuid\":\"u-3\","
                 "\"axes\":{\"n\":-1},\"inputs\":{}}}\n",
                 KF_EINVAL, "workloads/toy/zz.jsonl:1", "workload.axes.n:");
    expect_error("workloads/toy/zz.jsonl", "{not json\n", KF_EINVAL,
                 "workloads/toy/zz.jsonl:1", "$: invalid JSON");
    expect_error("workloads/toy/zz.jsonl",
                 "{\"definition\":\"other\",\"workload\":{\"uuid\":\"u-3\",\"axes\":{},\"inputs\":{}}}",
                 KF_ENOENT, "workloads/toy/zz.jsonl:1", "definition:");
    expect_error("workloads/toy/zz.jsonl",
                 "{\"definition\":\"toy_add_h4\",\"workload\":{\"uuid\":\"u-3\",\"axes\":{\"n\":3,"
                 "\"len\":1,\"total\":0},\"inputs\":{\"x\":{\"type\":\"random\"},"
                 "\"cu\":{\"type\":\"random\"},\"alpha\":{\"type\":\"scalar\",\"value\":1},"
                 "\"z0\":{\"type\":\"random\"}}}}",
                 0, "", "");
    {
        char p[256];
        snprintf(p, sizeof p, "%s/workloads/toy/zz.jsonl", root);
        unlink(p);
    }
    expect_error("definitions/toy/zz_dup.json", TOY_DEF, KF_ECONFLICT, "definitions/toy/zz_dup.json",
                 "name:");
    expect_error("definitions/toy/zz_dup.json", "{\"name\":\"x\"}", KF_EINVAL,
                 "definitions/toy/zz_dup.json", "op_type:");
}
END_TEST

static void link_into(const char *src, const char *rel)
{
    char p[1500];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    ck_assert_int_eq(symlink(src, p), 0);
}

START_TEST(test_contest_files)
{
    const char *c = fx_contest_dir("dataset loader");
    static const char *const defs[][2] = {
        {"dsa_paged", "dsa_sparse_attention_h16_ckv512_kpe64_topk2048_ps64"},
        {"dsa_paged", "dsa_topk_indexer_fp8_h64_d128_topk2048_ps64"},
        {"gdn", "gdn_decode_qk4_v8_d128_k_last"},
        {"gdn", "gdn_prefill_qk4_v8_d128_k_last"},
        {"moe", "moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048"},
    };
    char src[1200], rel[512], cmd[512];
    struct kf_dataset *ds;
    struct kf_err err;
    const struct kf_dataset_def *e;
    ck_assert_ptr_nonnull(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s/definitions %s/workloads %s/solutions %s/traces", root,
             root, root, root);
    ck_assert_int_eq(system(cmd), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(rel, sizeof rel, "definitions/%s", defs[i][0]);
        mkdirs(rel);
        snprintf(src, sizeof src, "%s/definitions/%s.json", c, defs[i][1]);
        snprintf(rel, sizeof rel, "definitions/%s/%s.json", defs[i][0], defs[i][1]);
        link_into(src, rel);
    }
    mkdirs("workloads/moe");
    snprintf(src, sizeof src, "%s/workloads/%s.jsonl", c, defs[4][1]);
    snprintf(rel, sizeof rel, "workloads/moe/%s.jsonl", defs[4][1]);
    link_into(src, rel);
    ck_assert_msg(kf_dataset_load(root, &ds, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert_int_eq(ds->ndefs, 5);
    e = kf_dataset_find(ds, defs[4][1]);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->nworkloads, 19);
    ck_assert_str_eq(e->def->op_type, "moe");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(kf_dataset_find(ds, defs[i][1])->nworkloads, 0);
    kf_dataset_free(ds);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_synth);
    tcase_add_test(tc, test_env_root);
    tcase_add_test(tc, test_blob_paths);
    tcase_add_test(tc, test_errors_name_file_and_line);
    suite_add_tcase(s, tc);
    if (fx_contest_dir("dataset loader on contest files")) {
        TCase *tc2 = tcase_create("contest");
        tcase_set_timeout(tc2, 60);
        tcase_add_checked_fixture(tc2, setup, teardown);
        tcase_add_test(tc2, test_contest_files);
        suite_add_tcase(s, tc2);
    }
    return s;
}

KF_CHECK_MAIN
