/* test_starter.c: contest starter-kit directories. The minimal TOML reader
 * (what the kit's config.toml uses, and clear line/key errors for the rest);
 * kf_pack_dir on the Triton and CUDA fixtures of tests/data/starter (entry
 * point completion, top-level sources only, defaults, kernelfarm's
 * compile_options); config errors that name config.toml's line and key; and
 * the GPU parity run's tvm-ffi GDN decode solution
 * (tests/gpu/solutions/gdn_decode_tvmffi, a starter-kit directory) packed
 * and compiled for sm_90a by the tvm-ffi lane's nvcc build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile_opts.h"
#include "kf_check.h"
#include "lane_tvmffi.h"
#include "model.h"
#include "pack.h"
#include "toml.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

START_TEST(test_toml_values)
{
    const char *doc =
        "# top comment\n"
        "top = 'lit \\n'  # literal: no escapes\n"
        "[solution]\n"
        "name = \"a \\\"b\\\" \\u00e9\\t\"\n"
        "\"quoted key\" = true\n"
        "n = -1_000\n"
        "[build]\r\n"
        "flags = [\n"
        "  \"-O3\", # a comment inside\n"
        "  '-DX=1',\n"
        "]\n"
        "empty = []\n"
        "[a.b]\n"
        "c = false\n";
    json_t *j = NULL;
    struct kf_err err = {0};
    ck_assert_msg(kf_toml_parse(doc, "t.toml", &j, &err) == 0, "%s: %s", err.path, err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(j, "top")), "lit \\n");
    json_t *s = json_object_get(j, "solution");
    ck_assert_str_eq(json_string_value(json_object_get(s, "name")), "a \"b\" \xc3\xa9\t");
    ck_assert(json_is_true(json_object_get(s, "quoted key")));
    ck_assert_int_eq(json_integer_value(json_object_get(s, "n")), -1000);
    json_t *f = json_object_get(json_object_get(j, "build"), "flags");
    ck_assert_int_eq(json_array_size(f), 2);
    ck_assert_str_eq(json_string_value(json_array_get(f, 1)), "-DX=1");
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(j, "build"), "empty")), 0);
    ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(j, "a"), "b"), "c")));
    ck_assert_int_eq(json_object_size(s), 3);   /* no internal markers left */
    json_decref(j);
}
END_TEST

START_TEST(test_toml_errors)
{
    static const struct { const char *doc, *path, *msg; } cases[] = {
        {"[build]\nlanguage = \"triton\n", "c.toml:2", "key 'language': unterminated string"},
        {"[build]\n\nlanguage = triton\n", "c.toml:3", "strings need quotes"},
        {"a = 1\na = 2\n", "c.toml:2", "key 'a': defined twice"},
        {"[x]\n[x]\n", "c.toml:2", "table defined twice"},
        {"x = 1.5\n", "c.toml:1", "floats"},
        {"x = 1979-05-27\n", "c.toml:1", "dates"},
        {"x = {a = 1}\n", "c.toml:1", "inline tables"},
        {"x = [1, 2]\n", "c.toml:1", "only strings"},
        {"x = [\"a\" \"b\"]\n", "c.toml:1", "expected ','"},
        {"x = [\"a\",\n", "c.toml:2", "unterminated array"},
        {"[[t]]\n", "c.toml:1", "arrays of tables"},
        {"x \"y\"\n", "c.toml:1", "expected '='"},
        {"x = \"a\" junk\n", "c.toml:1", "after the value"},
        {"x = \"\"\"long\"\"\"\n", "c.toml:1", "multi-line"},
        {"x = \"\\q\"\n", "c.toml:1", "unknown escape"},
        {"x = 0123\n", "c.toml:1", "leading zeros"},
        {"x =\n", "c.toml:1", "missing value"},
        {"a.b = 1\n", "c.toml:1", "dotted keys"},
        {"x = 99999999999999999999\n", "c.toml:1", "out of range"},
        {"x = \"\\u0000\"\n", "c.toml:1", "NUL"},
        {"x = 1\n[x]\n", "c.toml:2", "not a table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = NULL;
        struct kf_err err = {0};
        ck_assert_msg(kf_toml_parse(cases[i].doc, "c.toml", &j, &err) == KF_EINVAL,
                      "case %zu accepted", i);
        ck_assert_ptr_null(j);
        ck_assert_msg(strcmp(err.path, cases[i].path) == 0 && strstr(err.msg, cases[i].msg),
                      "case %zu: %s: %s (want %s: ...%s...)", i, err.path, err.msg,
                      cases[i].path, cases[i].msg);
    }
}
END_TEST

static json_t *pack_ok(const char *rel)
{
    char *dir = xasprintf("%s/%s", KF_SOURCE_DIR, rel);
    json_t *j = NULL;
    struct kf_err err = {0};
    ck_assert_msg(kf_pack_dir(dir, &j, &err) == 0, "%s: %s: %s", rel, err.path, err.msg);
    free(dir);
    return j;
}

static const char *spec_str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(json_object_get(j, "spec"), k));
}

START_TEST(test_pack_triton)
{
    json_t *j = pack_ok("tests/data/starter/triton"), *src = json_object_get(j, "sources");
    struct kf_solution *s = NULL;
    struct kf_err err = {0};
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "my-team-solution-v1");
    ck_assert_str_eq(json_string_value(json_object_get(j, "definition")),
                     "gdn_decode_qk4_v8_d128_k_last");
    ck_assert_str_eq(spec_str(j, "language"), "triton");
    ck_assert_str_eq(spec_str(j, "entry_point"), "kernel.py::kernel");   /* by its name */
    ck_assert(json_is_false(json_object_get(json_object_get(j, "spec"), "destination_passing_style")));
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(j, "spec"), "target_hardware"), 0)),
                     "cuda");
    ck_assert_int_eq(json_array_size(src), 2);   /* not NOTES.md, not extra/nested.py */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 0), "path")), "kernel.py");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 1), "path")), "utils.py");
    ck_assert(strstr(json_string_value(json_object_get(json_array_get(src, 0), "content")),
                     "def kernel(x):"));
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    kf_solution_free(s);
    json_decref(j);
}
END_TEST

START_TEST(test_pack_cuda)
{
    json_t *j = pack_ok("tests/data/starter/cuda"), *src = json_object_get(j, "sources");
    json_t *co = json_object_get(json_object_get(j, "spec"), "compile_options");
    ck_assert_str_eq(json_string_value(json_object_get(j, "author")), "team \"quoted\"");
    ck_assert_str_eq(spec_str(j, "language"), "cuda");
    ck_assert_str_eq(spec_str(j, "binding"), "tvm-ffi");
    ck_assert_str_eq(spec_str(j, "entry_point"), "kernel.cu::kernel");   /* the only .cu */
    ck_assert(json_is_true(json_object_get(json_object_get(j, "spec"), "destination_passing_style")));
    ck_assert_int_eq(json_array_size(co), 2);
    ck_assert_str_eq(json_string_value(json_array_get(co, 1)), "-DKF_BLOCK=256");
    ck_assert_int_eq(json_array_size(src), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 0), "path")), "binding.py");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 1), "path")), "kernel.cu");
    json_decref(j);
}
END_TEST

/* A throw-away starter-kit directory with one file in solution/<sub>. */
static char *kit(const char *toml, const char *sub, const char *file, const char *content)
{
    char tmpl[] = "/tmp/kf-kit-XXXXXX", *p;
    FILE *f;
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    p = xasprintf("%s/config.toml", tmpl);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(toml, f);
    fclose(f);
    free(p);
    if (sub) {
        p = xasprintf("%s/solution", tmpl);
        mkdir(p, 0755);
        free(p);
        p = xasprintf("%s/solution/%s", tmpl, sub);
        mkdir(p, 0755);
        free(p);
        p = xasprintf("%s/solution/%s/%s", tmpl, sub, file);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs(content, f);
        fclose(f);
        free(p);
    }
    return xstrdup(tmpl);
}

static void rm_kit(char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(dir);
}

#define SOL "[solution]\nname = \"n\"\ndefinition = \"d\"\nauthor = \"a\"\n"

START_TEST(test_pack_errors)
{
    static const struct { const char *toml, *sub, *file, *path, *msg; } cases[] = {
        {SOL, "triton", "k.py", "config.toml", "no [build] table"},
        {SOL "[build]\nlanguage = \"triton\"\n", "triton", "k.py", "config.toml",
         "[build] entry_point: required key missing"},
        {SOL "[build]\nlanguage = \"triton\"\nentry_point = \"k\"\nentry = \"x\"\n", "triton",
         "k.py", "config.toml:8", "[build] entry: unknown key"},
        {SOL "[build]\nlanguage = \"triton\"\nentry_point = \"k\"\n"
             "destination_passing_style = \"no\"\n",
         "triton", "k.py", "config.toml:8", "destination_passing_style: must be true or false"},
        {SOL "[build]\nlanguage = \"cuda\"\nentry_point = \"k\"\n", "triton", "k.py",
         "config.toml:6", "no directory solution/cuda"},
        {SOL "[build]\nlanguage = \"../x\"\nentry_point = \"k\"\n", NULL, NULL, "config.toml:6",
         "is not a language"},
        {SOL "[build]\nlanguage = \"triton\"\nentry_point = \"k\"\n", "triton", "README.md",
         "solution", "no source files"},
        {SOL "[build]\nlanguage = \"cuda\"\nentry_point = \"k\"\n", "cuda", "k.cuh",
         "config.toml:7", "write it as \"<file>::k\""},
        {SOL "[build]\nlanguage = \"fortran\"\nentry_point = \"k.f::k\"\n", "fortran", "k.c",
         "config.toml:6", "[build] language: 'fortran' is not one of"},
        {"[solution]\nname = \"n\"\ndefinition = \"d\"\nauthor = \"\"\n[build]\n", NULL, NULL,
         "config.toml:4", "[solution] author: must not be empty"},
        {SOL "[build]\nlanguage = \"triton\"\nentry_point = \"k.py::k\"\n"
             "compile_options = [\"-O3\"]\n",
         "triton", "k.py", "config.toml", "compile_options"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = kit(cases[i].toml, cases[i].sub, cases[i].file, "def k(x):\n    return x\n");
        json_t *j = NULL;
        struct kf_err err = {0};
        int rc = kf_pack_dir(dir, &j, &err);
        if (i == sizeof cases / sizeof cases[0] - 1) {
            /* Flags are allowed in config.toml; the lane check refuses them at submit. */
            struct kf_solution *s = NULL;
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
            ck_assert_int_eq(kf_solution_check_compile_options(s, &err), KF_EINVAL);
            ck_assert_str_eq(err.path, "spec.compile_options");
            kf_solution_free(s);
            json_decref(j);
            rm_kit(dir);
            continue;
        }
        ck_assert_msg(rc != 0, "case %zu accepted", i);
        ck_assert_ptr_null(j);
        ck_assert_msg(strncmp(err.path, cases[i].path, strlen(cases[i].path)) == 0 &&
                          strstr(err.msg, cases[i].msg),
                      "case %zu: %s: %s (want %s: ...%s...)", i, err.path, err.msg, cases[i].path,
                      cases[i].msg);
        rm_kit(dir);
    }
}
END_TEST

/* The tvm-ffi GDN decode solution of the GPU parity run packs from its
 * starter-kit directory and compiles with nvcc for sm_90a. */
START_TEST(test_gdn_tvmffi_compiles)
{
    json_t *j = pack_ok("tests/gpu/solutions/gdn_decode_tvmffi");
    struct kf_solution *s = NULL;
    struct kf_err err = {0};
    char tmpl[] = "/tmp/kf-gdn-so-XXXXXX", **art = NULL, *log = NULL, root[1024];
    int nart = 0;
    ck_assert_msg(ev_tvmffi_root(root, sizeof root, &err) == 0, "tvm-ffi missing (make deps): %s",
                  err.msg);
    ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
    ck_assert_str_eq(s->spec.entry_point, "kernel.cu::gdn_decode");
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_msg(ev_lane_tvmffi.build(s, NULL, "sm_90a", tmpl, &art, &nart, &log, &err) == 0,
                  "%s: %s\n%s", err.path, err.msg, log ? log : "");
    ck_assert_int_eq(nart, 1);
    ck_assert_int_eq(access(art[0], R_OK), 0);
    ck_assert_msg(strstr(log, "-O3") && strstr(log, "-lineinfo"), "%s", log);
    ev_lane_artifacts_free(art, nart);
    free(log);
    char *cmd = xasprintf("rm -rf '%s'", tmpl);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    kf_solution_free(s);
    json_decref(j);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("starter");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_toml_values);
    tcase_add_test(tc, test_toml_errors);
    tcase_add_test(tc, test_pack_triton);
    tcase_add_test(tc, test_pack_cuda);
    tcase_add_test(tc, test_pack_errors);
    tcase_add_test(tc, test_gdn_tvmffi_compiles);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
