/* verdict.c: the judge's pure decisions. See verdict.h. */
#include "verdict.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int clock_field(const json_t *clk, const char *name, int *out)
{
    json_t *v = json_object_get(clk, name);
    if (!v) {
        *out = -1;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 100000)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

int ev_timed_reply_parse(const json_t *reply, int iterations, double *samples, struct ev_clock *clk,
                         char *why, size_t whyn)
{
    const json_t *s = json_object_get(reply, "samples_ms"), *c = json_object_get(reply, "clock"),
                 *k = json_object_get(reply, "kernel_ms");
    memset(clk, 0, sizeof *clk);
    clk->sm_mhz_before = clk->sm_mhz_after = clk->sm_mhz_max = -1;
    if (!json_is_array(s) || json_array_size(s) != (size_t)iterations) {
        snprintf(why, whyn, "samples_ms must be an array of %d numbers, got %s%zu", iterations,
                 json_is_array(s) ? "" : "no array, size ", json_is_array(s) ? json_array_size(s) : 0);
        return KF_EINVAL;
    }
    for (int i = 0; i < iterations; i++) {
        const json_t *v = json_array_get(s, (size_t)i);
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        if (!isfinite(x) || x <= 0 || x > EV_MAX_SAMPLE_MS) {
            snprintf(why, whyn, "samples_ms[%d] is not a duration in (0, %.0f] ms", i, EV_MAX_SAMPLE_MS);
            return KF_EINVAL;
        }
        samples[i] = x;
    }
    if (c && (!json_is_object(c) || clock_field(c, "sm_mhz_before", &clk->sm_mhz_before) ||
              clock_field(c, "sm_mhz_after", &clk->sm_mhz_after) ||
              clock_field(c, "sm_mhz_max", &clk->sm_mhz_max) ||
              clock_field(c, "warmup_runs", &clk->warmup_runs))) {
        snprintf(why, whyn, "clock must hold small integers");
        return KF_EINVAL;
    }
    if (clk->warmup_runs < 0)
        clk->warmup_runs = 0;
    if (json_is_array(k) && json_array_size(k) <= EV_MAX_KERNELS) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(k); i++) {
            const json_t *v = json_array_get(k, i);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!isfinite(x) || x < 0 || x > EV_MAX_SAMPLE_MS) {
                n = 0;
                break;
            }
            clk->kernel_ms[n++] = x;
        }
        clk->nkernels = n;
    }
    return 0;
}

void ev_cmp_fold(struct ev_cmp *acc, int *have, const struct ev_cmp *t)
{
    if (!*have) {
        *acc = *t;
        *have = 1;
        return;
    }
    if (t->max_abs > acc->max_abs)
        acc->max_abs = t->max_abs;
    if (t->max_rel > acc->max_rel)
        acc->max_rel = t->max_rel;
    if (t->matched_ratio < acc->matched_ratio) {
        acc->matched_ratio = t->matched_ratio;
        acc->nfail = t->nfail;
        acc->n = t->n;
    }
    acc->nonfinite += t->nonfinite;
}
