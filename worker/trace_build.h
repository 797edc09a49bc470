/* trace_build.h: FlashInfer-Trace traces from evaluation results:
 * {definition, workload, solution, evaluation{status, log, correctness,
 * performance, environment{hardware, libs}, timestamp}} with the
 * nullability rules (correctness only for PASSED/INCORRECT_NUMERICAL,
 * performance only for PASSED). Extra fields go into correctness.extra,
 * performance.extra and evaluation.kernelfarm. Thread-safe.
 */
#ifndef EV_TRACE_BUILD_H
#define EV_TRACE_BUILD_H

#include <jansson.h>

#include "compare.h"
#include "model.h"

#define KF_VERSION_STRING "0.1.0"

/* environment {hardware, libs{cuda_driver, cuda_runtime, nvrtc, cupti, kernelfarm}}
 * (new reference). driver_version as cuDriverGetVersion gives it (13000). */
json_t *ev_environment_json(const char *hardware, int driver_version);
/* "2026-11-22T04:05:19.123Z" into buf (>= 32 bytes). */
void ev_timestamp(char *buf, size_t n);
/* correctness {max_relative_error, max_absolute_error, extra} (new; steals extra). */
json_t *ev_correctness_json(const struct ev_cmp *c, json_t *extra);
/* performance {latency_ms, reference_latency_ms, speedup_factor, extra} (new; steals extra). */
json_t *ev_performance_json(double latency_ms, double ref_latency_ms, json_t *extra);

/* A complete trace (new reference). Steals correctness, performance,
 * environment and kfextra (each may be NULL); drops correctness/performance
 * where the status forbids them. log may be NULL. */
json_t *ev_trace_new(const struct kf_definition *def, const struct kf_workload *w,
                     const char *solution_name, enum kf_status st, const char *log,
                     json_t *correctness, json_t *performance, json_t *environment,
                     json_t *kfextra);

#endif
