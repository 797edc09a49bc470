/* test_nvrtc_build.c: the nvrtc lane's compiler without a GPU: every kernel
 * directory under kernels/reference and kernels/examples compiles for sm_90a
 * and sm_100a; the built-in kernels compile for both; a syntax error gives
 * KF_EINVAL with the NVRTC log naming the line; the cubin cache is hit the
 * second time and keyed by arch; SHA-256 matches FIPS 180-4 vectors. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "jsonio.h"
#include "kf_check.h"
#include "model.h"
#include "nvrtc_build.h"
#include "pack.h"
#include "sha256.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static const char *archs[] = {"sm_90a", "sm_100a"};

static int compile_dir(const char *dir, const char *arch, const char *cache, struct ev_build *b,
                       char *why, size_t n)
{
    json_t *j = NULL;
    struct kf_solution *sol = NULL;
    struct kf_err err = {0};
    int rc = kf_pack_dir(dir, &j, &err);
    if (!rc)
        rc = kf_solution_from_json(j, &sol, &err);
    if (!rc)
        rc = ev_nvrtc_build(sol, arch, cache, b, &err);
    if (rc)
        snprintf(why, n, "%s [%s]: %s: %s\n%s", dir, arch, err.path, err.msg, b->log ? b->log : "");
    kf_solution_free(sol);
    json_decref(j);
    return rc;
}

START_TEST(test_all_kernel_dirs)
{
    static const char *roots[] = {"reference", "examples"};
    int count = 0;
    for (int r = 0; r < 2; r++) {
        char *root = xasprintf("%s/kernels/%s", KF_SOURCE_DIR, roots[r]);
        DIR *d = opendir(root);
        struct dirent *e;
        ck_assert_msg(d != NULL, "no %s", root);
        while ((e = readdir(d))) {
            char *dir, *spec, why[8192];
            if (e->d_name[0] == '.')
                continue;
            dir = xasprintf("%s/%s", root, e->d_name);
            spec = xasprintf("%s/spec.json", dir);
            if (access(spec, R_OK) == 0) {
                for (int a = 0; a < 2; a++) {
                    struct ev_build b;
                    memset(&b, 0, sizeof b);
                    why[0] = 0;
                    ck_assert_msg(compile_dir(dir, archs[a], NULL, &b, why, sizeof why) == 0, "%s", why);
                    ck_assert_int_gt(b.ncubins, 0);
                    ev_build_free(&b);
                    count++;
                }
            }
            free(spec);
            free(dir);
        }
        closedir(d);
        free(root);
    }
    /* five definitions, a reference and an example each, two archs */
    ck_assert_int_ge(count, 2 * 2 * 5);
}
END_TEST

/* The GPU suite's bad solutions: all compile except the syntax error. */
START_TEST(test_bad_solutions)
{
    static const char *names[] = {"wrong_numerical", "oob_guard", "oob_fault", "mutate_input",
                                  "first_call_only", "endless", "syntax_error"};
    for (int i = 0; i < 7; i++) {
        char *path = xasprintf("%s/tests/gpu/solutions/%s.json", KF_SOURCE_DIR, names[i]);
        struct kf_err err = {0};
        json_t *j = kf_json_load_file(path, 0, &err);
        struct kf_solution *s = NULL;
        struct ev_build b;
        int rc;
        ck_assert_msg(j != NULL, "%s: %s", path, err.msg);
        ck_assert_int_eq(kf_solution_from_json(j, &s, &err), 0);
        rc = ev_nvrtc_build(s, "sm_90a", NULL, &b, &err);
        if (i == 6)
            ck_assert_msg(rc == KF_EINVAL && strstr(b.log, "error"), "syntax error not reported");
        else
            ck_assert_msg(rc == 0, "%s: %s\n%s", names[i], err.msg, b.log);
        ev_build_free(&b);
        kf_solution_free(s);
        json_decref(j);
        free(path);
    }
}
END_TEST

START_TEST(test_builtin)
{
    for (int a = 0; a < 2; a++) {
        void *cubin = NULL;
        size_t size = 0;
        char *log = NULL;
        struct kf_err err = {0};
        ck_assert_msg(ev_nvrtc_compile_src("kf_builtin.cu", ev_builtin_source(), archs[a], &cubin, &size,
                                           &log, &err) == 0, "%s %s", err.msg, log ? log : "");
        ck_assert_int_gt(size, 0);
        free(cubin);
        free(log);
    }
}
END_TEST

static struct kf_solution *mini(const char *src)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:[s], s:s, s:b, s:[{s:s, s:[i], s:[i], s:[]}]},"
                          " s:[{s:s, s:s}]}",
                          "name", "mini", "definition", "d", "author", "t", "spec", "language", "cuda",
                          "binding", "nvrtc", "target_hardware", "cuda", "entry_point", "k.cu::k",
                          "destination_passing_style", 1, "launch", "kernel", "k", "grid", 1, "block", 1,
                          "args", "sources", "path", "k.cu", "content", src);
    struct kf_solution *s = NULL;
    struct kf_err err = {0};
    ck_assert_msg(kf_solution_from_json(j, &s, &err) == 0, "%s: %s", err.path, err.msg);
    json_decref(j);
    return s;
}

START_TEST(test_syntax_error_log)
{
    struct kf_solution *s = mini("extern \"C\" __global__ void k() {\n  int x = ;\n}\n");
    struct ev_build b;
    struct kf_err err = {0};
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_90a", NULL, &b, &err), KF_EINVAL);
    ck_assert_ptr_nonnull(b.log);
    ck_assert_msg(strstr(b.log, "k.cu") && strstr(b.log, "error"), "log: %s", b.log);
    ck_assert_ptr_nonnull(strstr(b.log, "(2)"));   /* the line number */
    ev_build_free(&b);
    kf_solution_free(s);
}
END_TEST

START_TEST(test_cache)
{
    char tmpl[] = "/tmp/kf-nvrtc-XXXXXX", *sub;
    struct kf_solution *s = mini("extern \"C\" __global__ void k() {}\n");
    struct ev_build b;
    struct kf_err err = {0};
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_90a", tmpl, &b, &err), 0);
    ck_assert_int_eq(b.cached, 0);
    ev_build_free(&b);
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_90a", tmpl, &b, &err), 0);
    ck_assert_int_eq(b.cached, 1);
    ev_build_free(&b);
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_100a", tmpl, &b, &err), 0);
    ck_assert_int_eq(b.cached, 0);   /* another arch, another key */
    ev_build_free(&b);
    kf_solution_free(s);
    sub = xasprintf("rm -rf '%s'", tmpl);
    ck_assert_int_eq(system(sub), 0);
    free(sub);
}
END_TEST

/* spec.compile_options reach NVRTC (a -D the source needs, -Xptxas=-v's
 * report in the log) and are part of the cache key; a flag NVRTC has no use
 * for is refused with its path. */
START_TEST(test_compile_options)
{
    struct kf_solution *s = mini("extern \"C\" __global__ void k(float* x) { x[0] = KF_VAL; }\n");
    struct ev_build b;
    struct kf_err err = {0};
    char *old[3];
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_90a", NULL, &b, &err), KF_EINVAL);  /* KF_VAL unset */
    ev_build_free(&b);
    old[0] = "-DKF_VAL=2.5f";
    old[1] = "-Xptxas=-v";
    old[2] = "-std=c++20";
    s->spec.compile_options = old;
    s->spec.ncompile_options = 3;
    ck_assert_msg(ev_nvrtc_build(s, "sm_90a", NULL, &b, &err) == 0, "%s: %s\n%s", err.path,
                  err.msg, b.log);
    ck_assert_msg(strstr(b.log, "ptxas info"), "%s", b.log);
    ev_build_free(&b);
    old[2] = "-O3";
    ck_assert_int_eq(ev_nvrtc_build(s, "sm_90a", NULL, &b, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.compile_options[2]");
    ck_assert_msg(strstr(err.msg, "nvrtc"), "%s", err.msg);
    ev_build_free(&b);
    s->spec.compile_options = NULL;
    s->spec.ncompile_options = 0;
    kf_solution_free(s);
}
END_TEST

START_TEST(test_arch_name)
{
    char buf[16];
    ev_arch_name(9, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "sm_90a");
    ev_arch_name(10, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "sm_100a");
    ev_arch_name(8, 9, buf, sizeof buf);
    ck_assert_str_eq(buf, "sm_89");
}
END_TEST

static void hex_of(const char *msg, size_t n, char out[65])
{
    struct ev_sha256 s;
    ev_sha256_init(&s);
    ev_sha256_update(&s, msg, n);
    ev_sha256_hex(&s, out);
}

START_TEST(test_sha256)
{
    char h[65];
    hex_of("", 0, h);
    ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
    ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("nvrtc_build");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_all_kernel_dirs);
    tcase_add_test(tc, test_builtin);
    tcase_add_test(tc, test_bad_solutions);
    tcase_add_test(tc, test_syntax_error_log);
    tcase_add_test(tc, test_cache);
    tcase_add_test(tc, test_arch_name);
    tcase_add_test(tc, test_compile_options);
    tcase_add_test(tc, test_sha256);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
