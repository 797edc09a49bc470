/* stats.h: sample statistics of timing runs (n, min, median, mean, stdev,
 * p20, p80; percentiles by linear interpolation like numpy). Pure; thread-safe.
 */
#ifndef EV_STATS_H
#define EV_STATS_H

struct ev_stats {
    int n;
    double min, max, median, mean, stdev, p20, p80;
};

/* x is not modified. stdev is the sample standard deviation (n-1). */
void ev_stats_compute(const double *x, int n, struct ev_stats *s);
/* The q-quantile (0..1) of a sorted array. */
double ev_quantile_sorted(const double *sorted, int n, double q);

#endif
