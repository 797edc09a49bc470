/* hostlanes.h: the lanes (lib/lanes.h) this host can serve, found once at
 * kf-worker's start (docs/worker.md, "Lanes"):
 *   nvrtc    always (NVRTC is linked in);
 *   tvm-ffi  when nvcc ($CUDA_HOME/bin/nvcc, default /usr/local/cuda) is an
 *            executable file and the tvm-ffi root resolves (ev_tvmffi_root);
 *   python   when the configured python3 ($KF_PYTHON, else python3 in PATH:
 *            the same program the Python lane's runner uses) imports torch
 *            and triton, checked in a child process with a deadline;
 * and the `lanes` setting that restricts them. Thread-safe (no shared
 * state; the check forks and execs).
 */
#ifndef WK_HOSTLANES_H
#define WK_HOSTLANES_H

#include <stddef.h>

#include "kf_err.h"

struct wk_host_lanes {
    unsigned set;        /* the lanes the host has (a lanes.h set) */
    char tvmffi[600];    /* the tvm-ffi root, or why the lane is unavailable */
    char python[600];    /* "torch 2.5.1, triton 3.1.0", or why the lane is unavailable */
};

/* Look. python: the interpreter (NULL: $KF_PYTHON, else "python3");
 * timeout_s: the import check's deadline. Never fails: a lane that is not
 * there says why in its field. */
void wk_host_lanes_probe(const char *python, double timeout_s, struct wk_host_lanes *out);

/* The lanes to serve: every lane the host has when want is NULL or empty,
 * else the lanes of the list want (the `lanes` setting), each of which the
 * host must have. KF_EINVAL with err naming the lane and why it is not
 * there (or the list's mistake). */
int wk_host_lanes_select(const struct wk_host_lanes *h, const char *want, unsigned *set,
                         struct kf_err *err);

#endif
