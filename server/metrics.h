/* metrics.h: in-process request counters by route and status, and gauges
 * the HTTP layer keeps (suspended long-polls). Rendered with the Redis-side
 * numbers (queue depth, tasks by state, evaluation duration histogram,
 * live workers) by GET /metrics. Thread-safe (atomics).
 */
#ifndef KF_SERVER_METRICS_H
#define KF_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "api.h"

struct api_metrics *api_metrics_new(void);
void api_metrics_free(struct api_metrics *m);
void api_metrics_request(struct api_metrics *m, const char *route, int status);
void api_metrics_waiting(struct api_metrics *m, int delta);
int64_t api_metrics_waiting_now(struct api_metrics *m);
/* Append the request counters in Prometheus text format to a new string. */
char *api_metrics_render(struct api_metrics *m);

#endif
