/* program.h: a compiled nvrtc-lane solution loaded on the device, and one
 * "call" of it: a launch plan bound to a trial's buffers (inputs, outputs,
 * fresh workspaces) and captured as a CUDA graph for replay. Used for both
 * submitted solutions and the reference kernels. Not thread-safe.
 */
#ifndef EV_PROGRAM_H
#define EV_PROGRAM_H

#include "evdev.h"
#include "inputs.h"
#include "launch.h"
#include "nvrtc_build.h"

struct ev_prog {
    const struct kf_solution *sol;   /* borrowed */
    struct ev_build build;           /* cubins + compiler log */
    CUmodule *mods; int nmods;
};

struct ev_call {
    struct ev_plan *plan;            /* owned */
    struct ev_bufs bufs;             /* in/out/scalars borrowed from the tensors; ws owned */
    CUgraphExec exec;
    int failed_step;
};

/* Compile (cached) for d->arch. KF_EINVAL: compile error, p->build.log has
 * the log. */
int ev_prog_build(struct ev_prog *p, const struct kf_solution *sol, const char *arch,
                  const char *cache_dir, struct kf_err *err);
/* Load the cubins as modules (again after a context reset). */
int ev_prog_load(struct ev_prog *p, struct kf_err *err);
/* Unload modules; keep the cubins. skip_cuda: the context is gone. */
void ev_prog_unload(struct ev_prog *p, int skip_cuda);
void ev_prog_free(struct ev_prog *p, int skip_cuda);

/* Plan for a binding on this device (KF_ENOENT: a kernel is missing). */
int ev_prog_plan(struct ev_prog *p, struct ev_dev *d, const struct kf_definition *def,
                 const struct kf_binding *b, struct ev_plan **out, struct kf_err *err);

/* Bind a plan to buffers: allocate workspaces, capture the graph. Takes
 * ownership of plan. A launch-configuration failure returns KF_ECUDA with
 * *cu set (the caller reports RUNTIME_ERROR). */
int ev_call_make(struct ev_call *c, struct ev_dev *d, struct ev_plan *plan, struct ev_tensors *in,
                 struct ev_tensors *out, CUresult *cu, struct kf_err *err);
/* One run (graph replay) on s; matches ev_run_fn. */
CUresult ev_call_run(void *call, CUstream s);
void ev_call_free(struct ev_call *c, int skip_cuda);

#endif
