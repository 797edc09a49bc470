/* launch.h: the nvrtc lane's launch plan. Built on the host from a solution's
 * spec.launch/spec.workspace, an axis binding and device facts (expressions
 * evaluated, limits checked, literals marshalled); then bound to CUfunctions
 * and enqueued on a stream, directly or as a CUDA graph.
 *
 * Argument marshalling (kernelfarm's ABI for nvrtc-lane kernels): inputs,
 * outputs and workspaces -> device pointer (NULL for an absent optional
 * input); scalar inputs (shape null) -> by value in their dtype (float32 as
 * float, int32 as int, bfloat16/float16 as 16-bit patterns, bool as 1 byte);
 * axes, integer literals and expressions -> int64; real literals -> float.
 * A plan is immutable after ev_plan_load: not thread-safe to build.
 */
#ifndef EV_LAUNCH_H
#define EV_LAUNCH_H

#include "cudrv.h"
#include <stdbool.h>
#include <stdint.h>

#include "bind.h"
#include "kf_err.h"
#include "model.h"

struct ev_limits {
    int64_t max_threads_block;   /* 1024 */
    int64_t max_smem;            /* opt-in maximum dynamic shared memory per block */
    int64_t max_workspace;       /* bytes per workspace */
};

struct ev_arg {
    enum kf_arg_kind kind;
    int index;                   /* input/output/workspace index */
    unsigned size;               /* bytes of the by-value argument */
    unsigned char val[8];        /* INT, FLOAT: marshalled at build time */
};

struct ev_step {
    const char *kernel;          /* borrowed from the solution */
    CUfunction fn;
    unsigned grid[3], block[3], cluster[3];
    bool has_cluster;
    unsigned smem;
    bool skip;                   /* an empty grid: nothing to launch */
    struct ev_arg *args; int nargs;
};

struct ev_plan {
    const struct kf_definition *def;   /* borrowed */
    struct ev_step *steps; int nsteps;
    size_t *ws_bytes; bool *ws_zero; int nws;
};

/* Per-call device pointers and scalar values. */
struct ev_bufs {
    CUdeviceptr *in;      /* def->ninputs; 0 for scalars and absent optionals */
    CUdeviceptr *out;     /* def->noutputs */
    CUdeviceptr *ws;      /* plan->nws */
    double *scalar_f;     /* def->ninputs: value of scalar inputs */
    int64_t *scalar_i;    /* def->ninputs: integer view */
};

/* Build. fact_names NULL-terminated with fact_values beside. Errors name the
 * field ("spec.launch[0].grid[1]") and become RUNTIME_ERROR traces. */
int ev_plan_build(const struct kf_solution *sol, const struct kf_definition *def,
                  const struct kf_binding *b, const char *const *fact_names,
                  const int64_t *fact_values, const struct ev_limits *lim, struct ev_plan **out,
                  struct kf_err *err);
void ev_plan_free(struct ev_plan *p);

/* Marshal one argument's by-value bytes into buf (8 bytes); returns its size.
 * Pure; exposed for tests. */
unsigned ev_arg_marshal(const struct ev_plan *p, const struct ev_arg *a, const struct ev_bufs *bufs,
                        unsigned char buf[8]);

/* Resolve every step's kernel in the loaded modules, raise the dynamic shared
 * memory limit where a step needs more than 48 KB. */
int ev_plan_load(struct ev_plan *p, CUmodule *mods, int nmods, struct kf_err *err);

/* Enqueue the whole call (workspace zeroing, then the steps in order).
 * On a failure *failed_step (if non-NULL) gets the step index (-1: memset). */
CUresult ev_plan_enqueue(const struct ev_plan *p, const struct ev_bufs *bufs, CUstream s,
                         int *failed_step);
/* Capture the call as a graph and instantiate it. */
CUresult ev_plan_graph(const struct ev_plan *p, const struct ev_bufs *bufs, CUstream s,
                       CUgraphExec *exec, int *failed_step);

#endif
