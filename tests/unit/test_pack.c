/* test_pack.c: kf_pack_dir builds a solution document from a kernel
 * directory: spec.json plus the sorted files with flashinfer-bench's source
 * extensions (CUDA, C++ and Python alike). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kf_check.h"
#include "model.h"
#include "pack.h"
#include "dl_fixtures.h"

static char dir[64];

static void put(const char *name, const char *content)
{
    char p[256];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

#define SPEC                                                                                   \
    "{\"name\":\"p\",\"definition\":\"toy_add_h4\",\"author\":\"me\",\"spec\":{\"language\":"    \
    "\"cuda\",\"binding\":\"nvrtc\",\"target_hardware\":[\"cuda\"],\"entry_point\":"            \
    "\"b.cu::k\",\"launch\":[{\"kernel\":\"k\",\"grid\":[1],\"block\":[32],\"args\":[\"out\"]}]}" \
    "%s}"

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kf_pack_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    put("b.cu", "#include \"a.cuh\"\nextern \"C\" __global__ void k(float* out) {}\n");
    put("a.cuh", "#pragma once\n");
    put("c.h", "// c\n");
    put("notes.txt", "ignored");
    put(".hidden.cu", "ignored");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

START_TEST(test_pack)
{
    char spec[1024];
    json_t *doc, *src;
    struct kf_err err;
    struct kf_solution *s;
    snprintf(spec, sizeof spec, SPEC, "");
    put("spec.json", spec);
    ck_assert_msg(kf_pack_dir(dir, &doc, &err) == 0, "%s: %s", err.path, err.msg);
    src = json_object_get(doc, "sources");
    ck_assert_int_eq(json_array_size(src), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 0), "path")), "a.cuh");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 1), "path")), "b.cu");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 2), "path")), "c.h");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 2), "content")),
                     "// c\n");
    ck_assert_int_eq(kf_solution_from_json(doc, &s, &err), 0);
    ck_assert_int_eq(s->nsources, 3);
    kf_solution_free(s);
    json_decref(doc);
}
END_TEST

/* A Triton kernel directory: its .py sources pack as a CUDA one's .cu do
 * (before, only .cu/.cuh/.h were taken and this failed on entry_point). */
START_TEST(test_pack_python)
{
    json_t *doc, *src;
    struct kf_err err;
    put("spec.json", "{\"name\":\"t\",\"definition\":\"toy_add_h4\",\"author\":\"me\","
                     "\"spec\":{\"language\":\"triton\",\"target_hardware\":[\"cuda\"],"
                     "\"entry_point\":\"kernel.py::run\",\"destination_passing_style\":true}}");
    put("kernel.py", "def run(x, out):\n    pass\n");
    put("util.py", "# helper\n");
    put("host.cpp", "// c++\n");
    ck_assert_msg(kf_pack_dir(dir, &doc, &err) == 0, "%s: %s", err.path, err.msg);
    src = json_object_get(doc, "sources");
    /* a.cuh b.cu c.h host.cpp kernel.py util.py; notes.txt and .hidden.cu left out */
    ck_assert_int_eq(json_array_size(src), 6);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 3), "path")), "host.cpp");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 4), "path")), "kernel.py");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 5), "path")), "util.py");
    json_decref(doc);
}
END_TEST

START_TEST(test_is_source)
{
    ck_assert(kf_pack_is_source("k.cu") && kf_pack_is_source("k.py") && kf_pack_is_source("k.hpp"));
    ck_assert(kf_pack_is_source("k.c") && kf_pack_is_source("k.cc") && kf_pack_is_source("k.cxx"));
    ck_assert(!kf_pack_is_source("k.txt") && !kf_pack_is_source(".py") && !kf_pack_is_source("spec.json"));
    ck_assert(!kf_pack_is_source("k.pyc") && !kf_pack_is_source("cu"));
}
END_TEST

START_TEST(test_empty_sources_ok)
{
    char spec[1024];
    json_t *doc;
    struct kf_err err;
    snprintf(spec, sizeof spec, SPEC, ",\"sources\":[]");
    put("spec.json", spec);
    ck_assert_int_eq(kf_pack_dir(dir, &doc, &err), 0);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "sources")), 3);
    json_decref(doc);
}
END_TEST

START_TEST(test_errors)
{
    char spec[1024];
    json_t *doc = NULL;
    struct kf_err err;
    char p[128];
    snprintf(p, sizeof p, "%s/none", dir);
    ck_assert_int_eq(kf_pack_dir(p, &doc, &err), KF_ENOENT);
    snprintf(spec, sizeof spec, SPEC, ",\"sources\":[{\"path\":\"x.cu\",\"content\":\"\"}]");
    put("spec.json", spec);
    ck_assert_int_eq(kf_pack_dir(dir, &doc, &err), KF_EINVAL);
    ck_assert(strstr(err.msg, "sources") != NULL);
    put("spec.json", "[1]");
    ck_assert_int_eq(kf_pack_dir(dir, &doc, &err), KF_EINVAL);
    /* entry point file missing from the directory */
    snprintf(spec, sizeof spec, SPEC, "");
    *strstr(spec, "b.cu::") = 'z';
    put("spec.json", spec);
    ck_assert_int_eq(kf_pack_dir(dir, &doc, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.entry_point");
    ck_assert_ptr_null(doc);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pack);
    tcase_add_test(tc, test_pack_python);
    tcase_add_test(tc, test_is_source);
    tcase_add_test(tc, test_empty_sources_ok);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
