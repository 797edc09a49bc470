/* metrics.c: request counters (see metrics.h). Thread-safe. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "xalloc.h"

static const int statuses[] = {200, 202, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503, 0};
#define NSTATUS ((int)(sizeof statuses / sizeof statuses[0]))
#define MAX_ROUTES 40

struct api_metrics {
    atomic_uint_fast64_t count[MAX_ROUTES + 1][NSTATUS];
    atomic_int_fast64_t waiting;
};

struct api_metrics *api_metrics_new(void)
{
    return xcalloc(1, sizeof(struct api_metrics));
}

void api_metrics_free(struct api_metrics *m)
{
    free(m);
}

static int route_index(const char *route)
{
    for (int i = 0; i < api_nroutes && i < MAX_ROUTES; i++)
        if (api_routes[i].name == route || strcmp(api_routes[i].name, route) == 0)
            return i;
    return MAX_ROUTES;   /* unmatched */
}

void api_metrics_request(struct api_metrics *m, const char *route, int status)
{
    int s = NSTATUS - 1;
    for (int i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            s = i;
    atomic_fetch_add_explicit(&m->count[route_index(route ? route : "")][s], 1,
                              memory_order_relaxed);
}

void api_metrics_waiting(struct api_metrics *m, int delta)
{
    atomic_fetch_add(&m->waiting, delta);
}

int64_t api_metrics_waiting_now(struct api_metrics *m)
{
    return atomic_load(&m->waiting);
}

char *api_metrics_render(struct api_metrics *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fprintf(f, "# HELP kf_http_requests_total HTTP requests by route and status.\n"
               "# TYPE kf_http_requests_total counter\n");
    for (int r = 0; r <= MAX_ROUTES; r++) {
        if (r >= api_nroutes && r != MAX_ROUTES)
            continue;
        const char *name = r == MAX_ROUTES ? "unmatched" : api_routes[r].name;
        for (int s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->count[r][s], memory_order_relaxed);
            if (!v)
                continue;
            if (statuses[s])
                fprintf(f, "kf_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", name,
                        statuses[s], (unsigned long long)v);
            else
                fprintf(f, "kf_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", name,
                        (unsigned long long)v);
        }
    }
    fprintf(f, "# HELP kf_longpoll_waiting Suspended long-poll requests.\n"
               "# TYPE kf_longpoll_waiting gauge\nkf_longpoll_waiting %lld\n",
            (long long)atomic_load(&m->waiting));
    fclose(f);
    return buf;
}
