/* lane.h: a solution lane, seen from both sides of docs/runner.md.
 *
 * Judge side (trusted): `build` turns a solution into artifacts (cubins,
 * a shared object), cached by a hash of sources, spec, arch and toolchain.
 * It never loads or runs what it builds.
 *
 * Runner side (untrusted process, sandboxed): `open` loads the artifacts,
 * `bind` prepares calls on the judge's buffers (opened from the IPC arena),
 * `run` makes one call on a stream (the ev_run_fn of timing.h, so every lane
 * is timed by the same CUPTI code), `unbind`/`close` release.
 *
 * Lanes: "nvrtc" (worker/lane_nvrtc.c), "tvm-ffi" (worker/lane_tvmffi.c),
 * "python" (worker/lane_python.c; its runner is worker/python/kf_pyrunner.py).
 * Not thread-safe: one lane instance per runner process.
 */
#ifndef EV_LANE_H
#define EV_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "bind.h"
#include "cudrv.h"
#include "evdev.h"
#include "kf_err.h"
#include "model.h"

/* One tensor argument of a call, in definition order. */
struct ev_tensor_desc {
    const char *name;              /* borrowed from the definition */
    enum kf_dtype dtype;
    int ndim;
    int64_t dims[KF_MAX_DIMS];
    CUdeviceptr ptr;               /* 0: absent optional input, or a scalar */
    size_t nbytes;
    int is_scalar;                 /* scalar input: passed by value */
    double scalar_f;               /* its value (float view) */
    int64_t scalar_i;              /* its value (integer view) */
};

/* Everything a lane needs to make calls on one trial's buffers. */
struct ev_call_desc {
    const struct kf_definition *def;   /* borrowed */
    const struct kf_binding *b;        /* axes and shapes (borrowed) */
    const struct ev_tensor_desc *in;   /* def->ninputs */
    const struct ev_tensor_desc *out;  /* def->noutputs */
};

struct ev_lane_ops {
    const char *name;   /* "nvrtc", "tvm-ffi", "python" */
    /* Which runner serves it: NULL for bin/kf-runner (then open, bind, run,
     * unbind and close below are this lane's runner side), "python" for
     * worker/python/kf_pyrunner.py (then they are NULL). */
    const char *runner;

    /* Judge side. Build the solution for arch into artifact paths (new
     * array of new strings, *nartifacts of them; free with
     * ev_lane_artifacts_free). A solution that does not build returns
     * KF_EINVAL with *log (new, may be NULL) holding the compiler's output:
     * the judge reports COMPILE_ERROR. Any other code is an engine error. */
    int (*build)(const struct kf_solution *sol, const struct kf_definition *def,
                 const char *arch, const char *cache_dir, char ***artifacts, int *nartifacts,
                 char **log, struct kf_err *err);

    /* Runner side. Load the artifacts into the current context. KF_EINVAL:
     * the solution's fault (COMPILE_ERROR with err->msg); else engine error.
     * *lane is the lane's own state. */
    int (*open)(struct ev_dev *d, const struct kf_solution *sol, const struct kf_definition *def,
                char *const *artifacts, int nartifacts, void **lane, struct kf_err *err);
    /* Prepare calls on c's buffers (replacing an earlier bind). A failure
     * is the solution's (RUNTIME_ERROR with err->msg); *cu gets the CUDA
     * error when there is one, so a sticky error can be told apart. */
    int (*bind)(void *lane, const struct ev_call_desc *c, CUresult *cu, struct kf_err *err);
    /* One call, enqueued on s; must leave the outputs written when s is
     * synchronised. Matches ev_run_fn. */
    CUresult (*run)(void *lane, CUstream s);
    /* Release what bind made; ctx_lost: the context is gone (skip CUDA). */
    void (*unbind)(void *lane, int ctx_lost);
    void (*close)(void *lane, int ctx_lost);
};

/* The lane of a solution ("nvrtc" for spec.binding "nvrtc"; "tvm-ffi" for
 * language cuda/cpp with binding absent or "tvm-ffi"; ...), or NULL with
 * *why set when no lane of this build serves it. Pure. */
const struct ev_lane_ops *ev_lane_for(const struct kf_solution *sol, const char **why);
/* By name; NULL if unknown. */
const struct ev_lane_ops *ev_lane_find(const char *name);
void ev_lane_artifacts_free(char **artifacts, int n);
/* True for what the Python lane serves: language python, triton, tilelang,
 * or cuda/cpp with binding "torch". Pure. */
int ev_lane_is_python(const struct kf_solution *sol);

#endif
