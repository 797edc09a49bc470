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
     * synchronised (after collect, for a lane that has one). Matches
     * ev_run_fn. A failure that is the solution's own and not a CUDA error
     * (a tvm-ffi error raised by the solution, a returned tensor of the
     * wrong shape) returns CUDA_ERROR_INVALID_VALUE, not sticky, with the
     * reason in last_error. */
    CUresult (*run)(void *lane, CUstream s);
    /* Release what bind made; ctx_lost: the context is gone (skip CUDA). */
    void (*unbind)(void *lane, int ctx_lost);
    void (*close)(void *lane, int ctx_lost);

    /* Optional (NULL: outputs are written in place by run). For solutions
     * that return their outputs (destination_passing_style false): copy what
     * the last run returned into the output buffers, enqueued on s, and
     * release it. The runner calls it after every run, outside the timed
     * region (FIB times the value-returning call alone); the outputs are
     * complete only after it. Returns like run. */
    CUresult (*collect)(void *lane, CUstream s);
    /* Optional: the reason of the last failed run/collect (borrowed, valid
     * until the next call), and the status it deserves: KF_ST_RUNTIME_ERROR,
     * or KF_ST_INCORRECT_SHAPE / KF_ST_INCORRECT_DTYPE for a returned tensor
     * of the wrong shape or dtype. NULL message: no failure recorded. */
    const char *(*last_error)(void *lane, int *status);
};

/* The lane of a solution, by the one rule of lib/lanes.h (kf_solution_lane:
 * the lane kf-server stored with the task), or NULL with *why set when no
 * lane of this build serves it. Pure. */
const struct ev_lane_ops *ev_lane_for(const struct kf_solution *sol, const char **why);
/* By name; NULL if unknown. */
const struct ev_lane_ops *ev_lane_find(const char *name);
void ev_lane_artifacts_free(char **artifacts, int n);

#endif
