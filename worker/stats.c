/* stats.c: sample statistics for timing. See stats.h. Thread-safe. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double ev_quantile_sorted(const double *s, int n, double q)
{
    double pos, frac;
    int lo;
    if (n <= 0)
        return 0;
    pos = q * (n - 1);
    lo = (int)floor(pos);
    frac = pos - lo;
    if (lo + 1 >= n)
        return s[n - 1];
    return s[lo] + (s[lo + 1] - s[lo]) * frac;
}

void ev_stats_compute(const double *x, int n, struct ev_stats *s)
{
    double *v, sum = 0, ss = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0)
        return;
    v = xmalloc(sizeof *v * (size_t)n);
    memcpy(v, x, sizeof *v * (size_t)n);
    qsort(v, (size_t)n, sizeof *v, cmp);
    for (int i = 0; i < n; i++)
        sum += v[i];
    s->mean = sum / n;
    for (int i = 0; i < n; i++)
        ss += (v[i] - s->mean) * (v[i] - s->mean);
    s->stdev = n > 1 ? sqrt(ss / (n - 1)) : 0;
    s->min = v[0];
    s->max = v[n - 1];
    s->median = ev_quantile_sorted(v, n, 0.5);
    s->p20 = ev_quantile_sorted(v, n, 0.2);
    s->p80 = ev_quantile_sorted(v, n, 0.8);
    free(v);
}
