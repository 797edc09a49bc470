/* reference.h: the trusted reference kernel of a definition
 * (<kernels_dir>/reference/<definition>/, packed with kf_pack_dir into an
 * nvrtc-lane solution) run on a trial's inputs. Its outputs are copied to
 * the host and its device buffers freed before any submitted code runs.
 * Outputs are cached in <cache_dir>/ref/ by (definition, workload, trial
 * seed, reference version); its latency in <cache_dir>/reflat/ by
 * (definition, workload, GPU model, reference version, timing config).
 * Not thread-safe.
 */
#ifndef EV_REFERENCE_H
#define EV_REFERENCE_H

#include "engine.h"
#include "program.h"
#include "stats.h"
#include "timing.h"

struct ev_ref {
    struct kf_solution *sol;
    struct ev_prog prog;
    char version[65];      /* SHA-256 of the packed reference */
};

/* Pack, parse and compile the reference for def. Errors are engine errors. */
int ev_ref_open(const char *kernels_dir, const struct kf_definition *def, const char *arch,
                const char *cache_dir, struct ev_ref **out, struct kf_err *err);
void ev_ref_close(struct ev_ref *r, int skip_cuda);

struct ev_ref_result {
    void **out; int nout;      /* host outputs (owned; free with ev_ref_result_free) */
    int cached;                /* outputs came from the cache */
    int timed;                 /* samples were measured */
    double *samples_ms; int nsamples;
    struct ev_clock clk;
};

/* Reference outputs for this trial (cache or run); with tm non-NULL also time
 * the reference (cfg warmup/iterations). The inputs must be unchanged by the
 * reference (checked when it runs). */
int ev_ref_run(struct ev_ref *r, struct ev_dev *d, struct ev_timer *tm, const struct kf_definition *def,
               const struct kf_workload *w, const struct kf_binding *b, struct ev_tensors *in,
               uint64_t trial_seed, const struct ev_config *cfg, const char *cache_dir,
               struct ev_ref_result *res, struct kf_err *err);
void ev_ref_result_free(struct ev_ref_result *res);

/* Cached reference latency: 0 and *ms, or KF_ENOENT. */
int ev_ref_latency_get(const struct ev_ref *r, const char *cache_dir, const struct kf_definition *def,
                       const struct kf_workload *w, const char *hardware, const struct ev_config *cfg,
                       double *ms);
void ev_ref_latency_put(const struct ev_ref *r, const char *cache_dir, const struct kf_definition *def,
                        const struct kf_workload *w, const char *hardware, const struct ev_config *cfg,
                        double ms);

#endif
