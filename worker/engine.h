/* engine.h: the judge (the evaluation contract of DESIGN.md; docs/runner.md)
 * for one solution over a list of workloads on one GPU. The calling process
 * is the trusted judge: it makes the inputs, runs the reference, checks
 * and times; the solution itself runs in a separate runner process
 * (bin/kf-runner) that this starts. Used by the evaluator child of
 * kf-worker and by `kf run`. It initialises CUDA in the calling process:
 * the kf-worker supervisor must never call it itself, only from a forked
 * evaluator child. Not thread-safe: one evaluation per process at a time.
 */
#ifndef KF_ENGINE_H
#define KF_ENGINE_H

#include <jansson.h>
#include <stdint.h>

#include "dataset.h"
#include "kf_err.h"
#include "model.h"

/* Eval config, layered defaults < per op_type < per definition < request
 * (see evconfig.h). Defaults follow flashinfer-bench. */
struct ev_config {
    int warmup;                    /* 10 */
    int iterations;                /* 50 timed runs per trial */
    int trials;                    /* 3 */
    double rtol, atol;             /* 1e-2, 1e-2 */
    double required_matched_ratio; /* 1.0 */
    double workload_timeout_s;     /* per-workload deadline (the supervisor enforces it) */
    int check_only;                /* 1: correctness only, no timing */
    double floor_margin;           /* 0.8: speed-of-light floor margin (worker/floor.h);
                                      0 disables the floor; set by the operator only */
    int pytorch_reference;         /* eval config "reference": "pytorch" (1) or "native" (0,
                                      the default): which reference speedups are against; the
                                      native reference decides correctness either way; set by
                                      the operator only */
};

struct ev_request {
    const struct kf_dataset *ds;         /* for safetensors blobs (borrowed) */
    const struct kf_definition *def;     /* borrowed */
    const struct kf_solution *sol;       /* borrowed */
    const struct kf_workload *const *workloads; int nworkloads;  /* borrowed */
    struct ev_config cfg;
    uint64_t seed;            /* derived from server secret + task id; trials derive from it */
    const char *cache_dir;    /* compile + reference caches; NULL = no cache */
    const char *kernels_dir;  /* kernels/ root with reference/<def>/ */
    int device;               /* CUDA ordinal */
    const char *runner_path;  /* bin/kf-runner; NULL: beside the program, or $KF_RUNNER */
    const char *dump_dir;     /* non-NULL: write each workload's trial-0 inputs ("input.<name>")
                                 and reference outputs ("reference.<name>") to
                                 <dump_dir>/<uuid>.safetensors (conformance tests) */
};

/* Called after each workload with its trace (borrowed: incref to keep). */
typedef void (*ev_progress_fn)(void *ctx, int done, int total, const json_t *trace);

/* Evaluate every workload; *traces_out gets a new JSON array of traces in
 * FlashInfer-Trace format (one per workload, in order). A broken solution is
 * not an error of this function: it yields traces with COMPILE_ERROR,
 * RUNTIME_ERROR, INCORRECT_* statuses. Returns nonzero only when the engine
 * itself cannot work (no GPU, no reference kernel, ...), with err set.
 * CUDA cannot recover from a sticky error (illegal address, ...) inside a
 * process: the workload that caused it gets RUNTIME_ERROR with the error,
 * and every later workload a RUNTIME_ERROR trace marked
 * evaluation.kernelfarm.not_evaluated = true, which callers rerun in a fresh
 * process (kf run does). */
int ev_evaluate(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                json_t **traces_out, struct kf_err *err);

#endif
