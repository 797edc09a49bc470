/* test_image_headers.c: the worker image's CUDA headers are enough for NVRTC,
 * checked without Docker. The headers the image carries are listed in
 * deploy/worker-cuda-headers.txt, which the Dockerfile stages with
 * tools/stage-cuda-headers.sh; this test stages the same list from the local
 * toolkit into a temp dir, points CUDA_HOME there (NVRTC then gets
 * --include-path=<tmp>/include and nothing else), and compiles every
 * reference kernel, the built-in kernels and the examples for sm_90a and
 * sm_100a. A control run with an empty include folder must fail, so the
 * test cannot pass because NVRTC ignored the include path. Also checks that
 * the Dockerfile uses this list and copies the staged tree into the worker
 * stage. Needs no GPU.
 */
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
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static char stage[256];

/* Stage the list (or nothing, when list is NULL) into a fresh temp dir and
 * make it CUDA_HOME. */
static void stage_headers(const char *list)
{
    const char *cuda = getenv("CUDA_HOME");
    snprintf(stage, sizeof stage, "/tmp/kf-hdr-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(stage));
    if (list) {
        char *cmd = xasprintf("'%s/tools/stage-cuda-headers.sh' '%s' '%s' '%s' >/dev/null",
                              KF_SOURCE_DIR, list, cuda && *cuda ? cuda : "/usr/local/cuda",
                              stage);
        ck_assert_msg(system(cmd) == 0, "staging failed: %s", cmd);
        free(cmd);
    } else {
        char *inc = xasprintf("%s/include", stage);
        ck_assert_int_eq(mkdir(inc, 0755), 0);
        free(inc);
    }
    setenv("CUDA_HOME", stage, 1);
}

static void unstage(void)
{
    char *cmd = xasprintf("rm -rf '%s'", stage);
    if (system(cmd) != 0) {
        /* a leftover temp dir only */
    }
    free(cmd);
}

/* Compile every kernel dir under kernels/<root>; returns the number that
 * compiled, why[] the first failure. */
static int compile_root(const char *rootname, const char *arch, int *total, char *why, size_t n)
{
    char *root = xasprintf("%s/kernels/%s", KF_SOURCE_DIR, rootname);
    DIR *d = opendir(root);
    struct dirent *e;
    int ok = 0;
    ck_assert_msg(d != NULL, "no %s", root);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *dir = xasprintf("%s/%s", root, e->d_name);
        char *spec = xasprintf("%s/spec.json", dir);
        if (access(spec, R_OK) == 0) {
            json_t *j = NULL;
            struct kf_solution *sol = NULL;
            struct kf_err err = {0};
            struct ev_build b;
            memset(&b, 0, sizeof b);
            int rc = kf_pack_dir(dir, &j, &err);
            if (!rc)
                rc = kf_solution_from_json(j, &sol, &err);
            if (!rc)
                rc = ev_nvrtc_build(sol, arch, NULL, &b, &err);
            (*total)++;
            if (!rc)
                ok++;
            else if (!why[0])
                snprintf(why, n, "%s [%s]: %s: %s\n%.3000s", dir, arch, err.path, err.msg,
                         b.log ? b.log : "");
            ev_build_free(&b);
            kf_solution_free(sol);
            json_decref(j);
        }
        free(spec);
        free(dir);
    }
    closedir(d);
    free(root);
    return ok;
}

START_TEST(test_references_compile_with_image_headers)
{
    char *list = xasprintf("%s/deploy/worker-cuda-headers.txt", KF_SOURCE_DIR);
    static const char *archs[] = {"sm_90a", "sm_100a"};
    char why[4096] = "";
    int total = 0, ok = 0;
    stage_headers(list);
    for (int a = 0; a < 2; a++) {
        ok += compile_root("reference", archs[a], &total, why, sizeof why);
        ok += compile_root("examples", archs[a], &total, why, sizeof why);
        void *cubin = NULL;
        size_t size = 0;
        char *log = NULL;
        struct kf_err err = {0};
        ck_assert_msg(ev_nvrtc_compile_src("kf_builtin.cu", ev_builtin_source(), archs[a],
                                           &cubin, &size, &log, &err) == 0,
                      "built-in kernels: %s %s", err.msg, log ? log : "");
        free(cubin);
        free(log);
    }
    unstage();
    ck_assert_msg(ok == total, "%d of %d kernel builds failed with only the image's headers "
                  "(deploy/worker-cuda-headers.txt):\n%s", total - ok, total, why);
    ck_assert_int_ge(total, 2 * 2 * 5);   /* five definitions, reference + example, two archs */
    free(list);
}
END_TEST

/* The control: without the headers the references do not compile, so the
 * test above really depends on the staged folder. */
START_TEST(test_no_headers_fails)
{
    char why[4096] = "";
    int total = 0;
    stage_headers(NULL);
    int ok = compile_root("reference", "sm_90a", &total, why, sizeof why);
    unstage();
    ck_assert_int_gt(total, 0);
    ck_assert_msg(ok < total, "references compiled with an empty include folder: the include "
                  "path is not what decides");
    ck_assert_msg(strstr(why, "cuda_") != NULL, "expected a missing cuda_*.h, got: %s", why);
}
END_TEST

/* The Dockerfile stages this very list and copies it into the worker stage. */
START_TEST(test_dockerfile_uses_the_list)
{
    char *path = xasprintf("%s/Dockerfile", KF_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int staged = 0, copied = 0, in_worker = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "FROM ", 5) == 0)
            in_worker = strstr(line, " AS worker") != NULL;
        if (strstr(line, "tools/stage-cuda-headers.sh") &&
            strstr(line, "deploy/worker-cuda-headers.txt"))
            staged = 1;
        if (in_worker && strncmp(line, "COPY --from=build /opt/cuda-headers/include", 43) == 0)
            copied = 1;
    }
    fclose(f);
    free(path);
    ck_assert_msg(staged, "Dockerfile does not stage deploy/worker-cuda-headers.txt");
    ck_assert_msg(copied, "the worker stage does not COPY the staged headers");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("image_headers");
    TCase *tc = tcase_create("nvrtc");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_references_compile_with_image_headers);
    tcase_add_test(tc, test_no_headers_fails);
    tcase_add_test(tc, test_dockerfile_uses_the_list);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
