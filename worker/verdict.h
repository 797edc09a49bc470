/* verdict.h: the judge's decisions that need no GPU, so `make test` covers
 * them: reading a runner's timed reply (untrusted input), folding one
 * trial's comparison into the workload's (worst trial wins). The bounds on
 * the runner's timing (its wall time, the speed-of-light floor) are in
 * floor.h.
 * Pure code; thread-safe.
 */
#ifndef EV_VERDICT_H
#define EV_VERDICT_H

#include <jansson.h>
#include <stddef.h>

#include "compare.h"
#include "timing.h"

/* Largest single sample the judge accepts (ms): a call that long would have
 * hit the workload deadline first. */
#define EV_MAX_SAMPLE_MS 3.6e6

/* Parse a runner's "timed" reply for `iterations` timed calls into
 * samples[iterations] and *clk (kernel_ms kept only when it has at most
 * EV_MAX_KERNELS finite non-negative values). 0, or KF_EINVAL with why
 * naming the first problem (count, a non-number, a value <= 0 or not
 * finite or above EV_MAX_SAMPLE_MS, a clock field of the wrong type). */
int ev_timed_reply_parse(const json_t *reply, int iterations, double *samples, struct ev_clock *clk,
                         char *why, size_t whyn);

/* Fold trial t's comparison into the workload's: the larger errors, the
 * smaller matched ratio (with its counts), non-finite counts summed. The
 * first trial is copied (*have 0 -> 1). */
void ev_cmp_fold(struct ev_cmp *acc, int *have, const struct ev_cmp *t);

#endif
