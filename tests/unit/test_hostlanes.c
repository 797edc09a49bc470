/* test_hostlanes.c: which lanes a host has (worker/hostlanes.c), with a fake
 * python3 (a shell script: one that prints versions, one that fails to
 * import, one that hangs), a fake CUDA_HOME with or without nvcc and a fake
 * tvm-ffi root; and the `lanes` setting that restricts them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostlanes.h"
#include "kf_check.h"
#include "lanes.h"

static char dir[64];

static void put(const char *rel, const char *text, int mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(p, (mode_t)mode), 0);
}

static void sub(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kf-hostlanes-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    put("py-ok", "#!/bin/sh\n[ \"$1\" = -c ] || exit 9\necho 'torch 2.8.0, triton 3.4.0'\n", 0755);
    put("py-no", "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                 "echo \"ModuleNotFoundError: No module named 'triton'\" >&2\nexit 1\n", 0755);
    put("py-hang", "#!/bin/sh\nexec sleep 30\n", 0755);
    sub("cuda");
    sub("cuda/bin");
    sub("ffi");
    sub("ffi/include");
    sub("ffi/include/tvm");
    sub("ffi/include/tvm/ffi");
    sub("ffi/lib");
    put("ffi/include/tvm/ffi/c_api.h", "", 0644);
    put("ffi/lib/libtvm_ffi.so", "", 0644);
    char p[256];
    snprintf(p, sizeof p, "%s/cuda", dir);
    setenv("CUDA_HOME", p, 1);
    snprintf(p, sizeof p, "%s/ffi", dir);
    setenv("KF_TVM_FFI_ROOT", p, 1);
    unsetenv("KF_PYTHON");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* a leftover temp dir only */
    }
}

static const char *py(const char *name, char buf[256])
{
    snprintf(buf, 256, "%s/%s", dir, name);
    return buf;
}

START_TEST(test_python_lane)
{
    struct wk_host_lanes h;
    char b[256];
    wk_host_lanes_probe(py("py-ok", b), 10, &h);
    ck_assert(kf_lanes_has(h.set, "nvrtc"));
    ck_assert(kf_lanes_has(h.set, "python"));
    ck_assert_str_eq(h.python, "torch 2.8.0, triton 3.4.0");

    wk_host_lanes_probe(py("py-no", b), 10, &h);
    ck_assert(!kf_lanes_has(h.set, "python"));
    ck_assert_msg(strstr(h.python, "cannot import torch and triton (exit 1): "
                                   "ModuleNotFoundError: No module named 'triton'"), "%s",
                  h.python);

    /* $KF_PYTHON when no interpreter is given */
    setenv("KF_PYTHON", py("py-ok", b), 1);
    wk_host_lanes_probe(NULL, 10, &h);
    ck_assert(kf_lanes_has(h.set, "python"));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    wk_host_lanes_probe(py("py-hang", b), 0.5, &h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    ck_assert(!kf_lanes_has(h.set, "python"));
    ck_assert_msg(strstr(h.python, "did not import torch and triton within 0.5 s"), "%s",
                  h.python);
    ck_assert_msg(s < 5, "the check took %.1f s", s);

    wk_host_lanes_probe(py("no-such-python", b), 10, &h);
    ck_assert(!kf_lanes_has(h.set, "python"));
    ck_assert_msg(strstr(h.python, "no-such-python"), "%s", h.python);
}
END_TEST

START_TEST(test_tvmffi_lane)
{
    struct wk_host_lanes h;
    char b[256];
    wk_host_lanes_probe(py("py-no", b), 10, &h);
    ck_assert(!kf_lanes_has(h.set, "tvm-ffi"));   /* no nvcc yet */
    ck_assert_msg(strstr(h.tvmffi, "no nvcc at") && strstr(h.tvmffi, "/cuda/bin/nvcc"), "%s",
                  h.tvmffi);
    put("cuda/bin/nvcc", "", 0644);                /* there, not executable */
    wk_host_lanes_probe(py("py-no", b), 10, &h);
    ck_assert(!kf_lanes_has(h.set, "tvm-ffi"));
    put("cuda/bin/nvcc", "#!/bin/sh\n", 0755);
    wk_host_lanes_probe(py("py-no", b), 10, &h);
    ck_assert_msg(kf_lanes_has(h.set, "tvm-ffi"), "%s", h.tvmffi);
    ck_assert_msg(strstr(h.tvmffi, "/ffi"), "%s", h.tvmffi);
    setenv("KF_TVM_FFI_ROOT", dir, 1);             /* no include/tvm/ffi there */
    wk_host_lanes_probe(py("py-no", b), 10, &h);
    ck_assert(!kf_lanes_has(h.set, "tvm-ffi"));
    ck_assert_msg(strstr(h.tvmffi, "c_api.h"), "%s", h.tvmffi);
}
END_TEST

START_TEST(test_select)
{
    struct wk_host_lanes h;
    struct kf_err err;
    unsigned set;
    char b[256];
    wk_host_lanes_probe(py("py-no", b), 10, &h);   /* nvrtc only (no nvcc here) */
    ck_assert_int_eq(wk_host_lanes_select(&h, NULL, &set, &err), 0);
    ck_assert_uint_eq(set, h.set);
    ck_assert_int_eq(wk_host_lanes_select(&h, "", &set, &err), 0);
    ck_assert_uint_eq(set, h.set);
    ck_assert_int_eq(wk_host_lanes_select(&h, "nvrtc", &set, &err), 0);
    ck_assert_uint_eq(set, 1u);
    ck_assert_int_eq(wk_host_lanes_select(&h, "nvrtc,python", &set, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "lanes");
    ck_assert_msg(strstr(err.msg, "this host cannot serve lane python: ") &&
                  strstr(err.msg, "No module named 'triton'"), "%s", err.msg);
    ck_assert_int_eq(wk_host_lanes_select(&h, "tvm-ffi", &set, &err), KF_EINVAL);
    ck_assert_msg(strstr(err.msg, "lane tvm-ffi: no nvcc"), "%s", err.msg);
    ck_assert_int_eq(wk_host_lanes_select(&h, "gpu", &set, &err), KF_EINVAL);
    ck_assert_msg(strstr(err.msg, "'gpu' is not a lane"), "%s", err.msg);
    wk_host_lanes_probe(py("py-ok", b), 10, &h);
    ck_assert_int_eq(wk_host_lanes_select(&h, "python", &set, &err), 0);
    ck_assert_uint_eq(set, 1u << kf_lane_index("python"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("hostlanes");
    TCase *tc = tcase_create("hostlanes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_python_lane);
    tcase_add_test(tc, test_tvmffi_lane);
    tcase_add_test(tc, test_select);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
