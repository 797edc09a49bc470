/* pyref.h: the definition's own PyTorch reference, timed the way the
 * contest scores (DESIGN.md step 7; issue 10): the reference code of the
 * definition runs as a Python-lane "solution" (entry reference.py::run,
 * returning its outputs) in the same Python runner a submission would get,
 * but as a trusted process of its own: no submission ever shares it. It
 * runs on the judge's arena, on the very inputs of the trial, and is timed
 * by the same CUPTI code. Its latency is cached per (definition and its
 * reference text, workload, GPU model, torch version, timing settings)
 * under <cache>/pyref/. Not thread-safe: one per judge.
 */
#ifndef EV_PYREF_H
#define EV_PYREF_H

#include <jansson.h>

#include "engine.h"
#include "kf_err.h"

struct ev_pyref;

/* For req's definition on hardware (borrowed; both outlive the result). */
struct ev_pyref *ev_pyref_new(const struct ev_request *req, const char *hardware);
void ev_pyref_free(struct ev_pyref *p);
/* The cached latency of wk: 0 and *ms, or KF_ENOENT. Needs the torch
 * version, so it starts the runner on first use (KF_EIO if that fails). */
int ev_pyref_cached(struct ev_pyref *p, const struct kf_workload *wk, double *ms, struct kf_err *err);
/* Time the reference on the arena (hex handle, bytes; sent once per
 * distinct handle) with the judge's bind message (borrowed), warm-up and
 * iterations from the request's config; stores the median in the cache.
 * 0 and *median_ms, or a code with err set (the runner is then ended). */
int ev_pyref_time(struct ev_pyref *p, const struct kf_workload *wk, const char *arena_hex,
                  size_t arena_bytes, const json_t *bind_msg, double *median_ms,
                  struct kf_err *err);
/* torch.__version__ of the runner ("" before it started). */
const char *ev_pyref_torch(const struct ev_pyref *p);

#endif
