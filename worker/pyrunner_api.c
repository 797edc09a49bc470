/* pyrunner_api.c: kernelfarm's runner code for the Python lane's runner
 * (worker/python/kf_pyrunner.py), built as lib/libkfrunner.so and reached
 * through ctypes: the device and its stream, the judge's IPC arena, and
 * timing of calls with the same CUPTI timer and L2 flush as every other
 * lane (timing.h). The Python side launches a call on kfr_stream() from
 * the callback it passes to kfr_measure. Every function returns 0 or a
 * negative code with a message in err[errn]. Not thread-safe: one per
 * process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "evdev.h"
#include "sandbox.h"
#include "xalloc.h"
#include "timing.h"

/* A Python callable through ctypes: launches one call; 0 ok. */
typedef int (*kfr_run_cb)(void);

static struct ev_dev dev;
static int dev_open;
static struct ev_timer *timer;

static int fail(char *err, size_t errn, const struct kf_err *e)
{
    snprintf(err, errn, "%s", e->msg[0] ? e->msg : "failed");
    return e->code ? e->code : KF_EIO;
}

int kfr_open(int device, const char *cache_dir, int force_events, char *err, size_t errn)
{
    struct kf_err e = {0};
    int rc;
    if (dev_open)
        return 0;
    if ((rc = ev_cudrv_load(&e)) || (rc = ev_dev_open(&dev, device, cache_dir, &e)))
        return fail(err, errn, &e);
    dev_open = 1;
    if ((rc = ev_timer_open(&dev, force_events, &timer, &e)))
        return fail(err, errn, &e);
    return 0;
}

unsigned long long kfr_stream(void)
{
    return (unsigned long long)(uintptr_t)dev.stream;
}

const char *kfr_timer_kind(void)
{
    return timer ? ev_timer_kind(timer) : "none";
}

const char *kfr_arch(void)
{
    return dev.arch;
}

int kfr_arena_open(const char *hex, unsigned long long *base, char *err, size_t errn)
{
    struct kf_err e = {0};
    CUdeviceptr p = 0;
    if (ev_arena_open(hex, &p, &e))
        return fail(err, errn, &e);
    *base = (unsigned long long)p;
    return 0;
}

void kfr_arena_close(unsigned long long base)
{
    ev_arena_close((CUdeviceptr)base);
}

/* The context's state after a call: 0, or the CUDA error with its name. */
int kfr_sync(char *err, size_t errn, int *sticky)
{
    CUresult r = cuCtxSynchronize();
    *sticky = 0;
    if (r == CUDA_SUCCESS)
        return 0;
    snprintf(err, errn, "%s", ev_cu_str(r));
    *sticky = ev_cu_sticky(r);
    return KF_ECUDA;
}

static CUresult run_cb(void *ctx, CUstream s)
{
    kfr_run_cb cb = (kfr_run_cb)ctx;
    (void)s;   /* the callback launches on kfr_stream(), which is s */
    return cb() == 0 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;   /* "the callback failed" */
}

/* Warm up, then time iters calls. clk gets sm_mhz_before, after, max and
 * the warm-up count; kernel_ms[16] each kernel's median, *nkernels. */
int kfr_measure(kfr_run_cb cb, int warmup, int iters, double *samples, int *clk,
                double *kernel_ms, int *nkernels, char *err, size_t errn, int *sticky)
{
    struct ev_clock c;
    struct kf_err e = {0};
    CUresult re = CUDA_SUCCESS;
    *sticky = 0;
    memset(&c, 0, sizeof c);
    if (!timer) {
        snprintf(err, errn, "kfr_open first");
        return KF_EINVAL;
    }
    if (ev_timer_measure(timer, &dev, run_cb, (void *)cb, warmup, iters, samples, &c, &re, &e)) {
        if (re != CUDA_SUCCESS && re != CUDA_ERROR_NOT_SUPPORTED) {
            snprintf(err, errn, "%s", ev_cu_str(re));
            *sticky = ev_cu_sticky(re);
        } else {
            snprintf(err, errn, "%s", e.msg[0] ? e.msg : "the call failed");
        }
        return KF_ECUDA;
    }
    clk[0] = c.sm_mhz_before;
    clk[1] = c.sm_mhz_after;
    clk[2] = c.sm_mhz_max;
    clk[3] = c.warmup_runs;
    *nkernels = c.nkernels;
    for (int k = 0; k < c.nkernels; k++)
        kernel_ms[k] = c.kernel_ms[k];
    return 0;
}

/* Append the strings of a JSON array (text) to a NULL-terminated list. */
static char **append_json(char **v, const char *json)
{
    json_t *a = json ? json_loads(json, 0, NULL) : NULL;
    size_t n = 0;
    while (v[n])
        n++;
    v = xrealloc(v, (n + json_array_size(a) + 1) * sizeof *v);
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)))
            v[n++] = xstrdup(json_string_value(json_array_get(a, i)));
    v[n] = NULL;
    json_decref(a);
    return v;
}

/* Enter the sandbox (sandbox.h) after the Python runner's trusted start-up
 * (torch, triton imported) and before the solution is imported: the default
 * read and write lists plus the JSON arrays extra_read and extra_write (the
 * interpreter's trees, the Triton and torch-extension caches), processes
 * allowed when allow_fork (ptxas, nvcc), the uid dropped when root. The
 * layers object in force goes to layers[ln] as JSON text. */
int kfr_sandbox_enter(const char *extra_read, const char *extra_write, int allow_fork,
                      unsigned long long as_headroom, char *layers, size_t ln, char *err,
                      size_t errn)
{
    const char *cuda = getenv("CUDA_HOME") && *getenv("CUDA_HOME") ? getenv("CUDA_HOME")
                                                                    : "/usr/local/cuda";
    char **rd = append_json(kf_sandbox_default_read_paths(cuda, NULL, NULL), extra_read);
    char **wr = append_json(kf_sandbox_default_write_paths(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"),
                            extra_write);
    struct kf_sandbox_policy pol = {(const char *const *)rd, (const char *const *)wr, as_headroom,
                                    allow_fork, 1};
    struct kf_err e = {0};
    json_t *lay = NULL;
    char *txt;
    int rc = kf_sandbox_enter(&pol, &lay, &e);
    txt = lay ? json_dumps(lay, JSON_COMPACT) : NULL;
    snprintf(layers, ln, "%s", txt ? txt : "{}");
    free(txt);
    json_decref(lay);
    kf_sandbox_paths_free(rd);
    kf_sandbox_paths_free(wr);
    return rc ? fail(err, errn, &e) : 0;
}

void kfr_close(void)
{
    ev_timer_close(timer);
    timer = NULL;
    if (dev_open)
        ev_dev_close(&dev);
    dev_open = 0;
}
