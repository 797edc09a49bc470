/* h_ops.c: operational routes. GET /health (flashinfer-bench fields:
 * status, instance_id, dataset_id, started_at, accepting, workers,
 * healthy_workers, total_workers, queue_size, active_tasks), GET /metrics
 * (Prometheus text), POST /drain, POST /shutdown. Thread-safe. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "jsonio.h"
#include "metrics.h"
#include "xalloc.h"

/* A worker is healthy when its heartbeat is fresh (last_seen within
 * API_WORKER_STALE_S), it says it can take work (idle or busy) and its
 * self-test did not fail; a starting, self-testing or draining worker, or
 * one whose beats stopped, is not. */
#define API_WORKER_STALE_S 30.0

static bool worker_healthy(const json_t *w, double now)
{
    const char *st = json_string_value(json_object_get(w, "state"));
    const json_t *ls = json_object_get(w, "last_seen");
    if (!st || (strcmp(st, "idle") != 0 && strcmp(st, "busy") != 0) || !json_is_number(ls))
        return false;
    double age = now - json_number_value(ls);
    return age <= API_WORKER_STALE_S && age >= -API_WORKER_STALE_S;
}

/* Build the /health answer from Redis: status, JSON text. */
static int health_build(struct api_ctx *ctx, bool draining, char **text)
{
    struct kf_err err;
    struct kfq_counts n;
    json_t *workers = NULL, *o;
    int status = 200;
    struct kfq_conn *c = api_redis(ctx);
    if (kfq_counts(c, &n, &err) || kfq_workers(c, &workers, &err)) {
        o = json_pack("{s:s, s:s, s:s, s:f, s:b, s:[], s:i, s:i, s:i, s:i, s:s}", "status",
                      "unavailable", "instance_id", ctx->instance_id, "dataset_id",
                      ctx->dataset_id ? ctx->dataset_id : "", "started_at", ctx->started_at,
                      "accepting", 0, "workers", "healthy_workers", 0, "total_workers", 0,
                      "queue_size", 0, "active_tasks", 0, "error", err.msg);
        *text = kf_json_dumps(o);
        json_decref(o);
        return 503;
    }
    json_t *wl = json_array();
    size_t i;
    json_t *w;
    int healthy = 0;
    double now = kfq_now();
    json_array_foreach(workers, i, w) {
        json_int_t dev = json_integer_value(json_object_get(w, "device"));
        char dname[32];
        /* a worker whose self-test failed takes no tasks and says why */
        bool ok = worker_healthy(w, now) && !json_is_string(json_object_get(w, "self_test"));
        snprintf(dname, sizeof dname, "cuda:%lld", (long long)dev);
        o = json_pack("{s:s, s:b}", "device", dname, "healthy", ok);
        const char *keys[] = {"id", "host", "hardware", "state", "task", "last_seen",
                              "self_test", "lanes"};
        for (int k = 0; k < 8; k++) {
            json_t *v = json_object_get(w, keys[k]);
            json_object_set(o, keys[k], v ? v : json_null());
        }
        json_array_append_new(wl, o);
        healthy += ok;
    }
    json_decref(workers);
    int nw = (int)json_array_size(wl);
    const char *st = draining ? "draining" : healthy > 0 ? "ok" : "degraded";
    o = json_pack("{s:s, s:s, s:s, s:f, s:b, s:o, s:i, s:i, s:I, s:I}", "status", st,
                  "instance_id", ctx->instance_id, "dataset_id",
                  ctx->dataset_id ? ctx->dataset_id : "", "started_at", ctx->started_at,
                  "accepting", !draining, "workers", wl, "healthy_workers", healthy,
                  "total_workers", nw, "queue_size", (json_int_t)n.pending, "active_tasks",
                  (json_int_t)(n.pending + n.running));
    *text = kf_json_dumps(o);
    json_decref(o);
    return status;
}

/* The /health view, rebuilt at most every ctx->health_cache_ms by one
 * thread while the others answer the previous one. */
struct api_health_cache {
    pthread_mutex_t mu;
    char *text; size_t len;
    int status;
    double at;              /* kfq_now() when built; 0: never */
    bool draining;          /* the flag it was built with */
    bool refreshing;
};

struct api_health_cache *api_health_cache_new(void)
{
    struct api_health_cache *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

void api_health_cache_free(struct api_health_cache *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h->text);
    free(h);
}

void api_health(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct api_health_cache *h = ctx->health;
    bool draining = atomic_load(&ctx->draining);
    char *text = NULL;
    int status;
    (void)req;
    if (h) {
        double now = kfq_now();
        pthread_mutex_lock(&h->mu);
        bool fresh = h->text && h->draining == draining &&
                     (now - h->at) * 1000.0 < (double)ctx->health_cache_ms;
        bool stale_ok = h->text && h->draining == draining && h->refreshing;
        if (fresh || stale_ok) {
            text = xmalloc(h->len + 1);
            memcpy(text, h->text, h->len + 1);
            status = h->status;
            pthread_mutex_unlock(&h->mu);
            goto answer;
        }
        h->refreshing = true;
        pthread_mutex_unlock(&h->mu);
    }
    status = health_build(ctx, draining, &text);
    if (h) {
        pthread_mutex_lock(&h->mu);
        free(h->text);
        h->text = xstrdup(text);
        h->len = strlen(text);
        h->status = status;
        h->at = kfq_now();
        h->draining = draining;
        h->refreshing = false;
        pthread_mutex_unlock(&h->mu);
    }
answer:
    api_text(resp, status, "application/json", text, strlen(text));
    if (status == 503)
        resp->retry_after = 1;
}

void api_metrics_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_counts n;
    int64_t hist[KFQ_HIST_N];
    double sum;
    (void)req;
    char *base = api_metrics_render(ctx->metrics);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fputs(base, f);
    free(base);
    struct kfq_conn *c = api_redis(ctx);
    bool up = kfq_counts(c, &n, &err) == 0 && kfq_eval_hist(c, hist, &sum, &err) == 0;
    fprintf(f, "# HELP kf_redis_up Whether Redis answered this scrape.\n"
               "# TYPE kf_redis_up gauge\nkf_redis_up %d\n", up ? 1 : 0);
    if (up) {
        fprintf(f, "# HELP kf_queue_depth Tasks waiting for a worker.\n"
                   "# TYPE kf_queue_depth gauge\nkf_queue_depth %lld\n", (long long)n.pending);
        fprintf(f, "# HELP kf_tasks Tasks by state.\n# TYPE kf_tasks gauge\n");
        fprintf(f, "kf_tasks{state=\"pending\"} %lld\n", (long long)n.pending);
        fprintf(f, "kf_tasks{state=\"running\"} %lld\n", (long long)n.running);
        fprintf(f, "kf_tasks{state=\"completed\"} %lld\n", (long long)n.completed);
        fprintf(f, "kf_tasks{state=\"failed\"} %lld\n", (long long)n.failed);
        fprintf(f, "# HELP kf_dead_letter_total Tasks dead-lettered after too many deliveries.\n"
                   "# TYPE kf_dead_letter_total counter\nkf_dead_letter_total %lld\n",
                (long long)n.dead);
        fprintf(f, "# HELP kf_workers_live Workers with a live heartbeat.\n"
                   "# TYPE kf_workers_live gauge\nkf_workers_live %lld\n", (long long)n.workers);
        fprintf(f, "# HELP kf_task_evaluation_seconds Task evaluation duration.\n"
                   "# TYPE kf_task_evaluation_seconds histogram\n");
        for (int i = 0; i < KFQ_HIST_N; i++) {
            if (i == KFQ_HIST_N - 1)
                fprintf(f, "kf_task_evaluation_seconds_bucket{le=\"+Inf\"} %lld\n",
                        (long long)hist[i]);
            else
                fprintf(f, "kf_task_evaluation_seconds_bucket{le=\"%g\"} %lld\n",
                        kfq_hist_bounds[i], (long long)hist[i]);
        }
        fprintf(f, "kf_task_evaluation_seconds_sum %.3f\nkf_task_evaluation_seconds_count %lld\n",
                sum, (long long)hist[KFQ_HIST_N - 1]);
    }
    fclose(f);
    api_text(resp, 200, "text/plain; version=0.0.4", buf, len);
}

void api_drain(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_counts n = {0};
    (void)req;
    atomic_store(&ctx->draining, true);
    kfq_counts(api_redis(ctx), &n, &err);
    api_json(resp, 200, json_pack("{s:s, s:I, s:I}", "status", "draining", "active_tasks",
                                  (json_int_t)(n.pending + n.running), "queue_size",
                                  (json_int_t)n.pending));
}

void api_shutdown(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void)req;
    atomic_store(&ctx->draining, true);
    api_json(resp, 200, json_pack("{s:s}", "status", "shutting_down"));
    kill(getpid(), SIGTERM);   /* main() runs the graceful shutdown */
}
