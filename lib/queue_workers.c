/* queue_workers.c: worker heartbeats (kf:worker:<id>, kf:workers:set) of
 * the task protocol (queue.h, docs/queue.md), the lanes they serve, and
 * why a task waits when none serves its lane. A struct kfq_conn is used by
 * one thread at a time. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <string.h>

#include "lanes.h"
#include "xalloc.h"

/* "nvrtc,python" as a JSON array of names (blanks and empty entries dropped). */
static json_t *lane_list(const char *csv)
{
    json_t *a = json_array();
    for (const char *p = csv; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len)
            json_array_append_new(a, json_stringn(p, len));
        if (!end)
            break;
        p = end + 1;
    }
    return a;
}

int kfq_workers(struct kfq_conn *c, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *m = kfq_command(c, err, "SMEMBERS %s", KFK_WORKER_SET);
    if (!m)
        return KF_EREDIS;
    json_t *a = json_array();
    for (size_t i = 0; i < m->elements; i++) {
        const char *wid = m->element[i]->str;
        redisReply *h = kfq_command(c, err, "HGETALL " KFK_WORKER, wid);
        if (!h) {
            json_decref(a);
            freeReplyObject(m);
            return KF_EREDIS;
        }
        if (h->elements == 0) {
            redisReply *x = kfq_command(c, err, "SREM %s %s", KFK_WORKER_SET, wid);
            if (x)
                freeReplyObject(x);
        } else {
            json_t *o = json_object();
            for (size_t k = 0; k + 1 < h->elements; k += 2) {
                const char *key = h->element[k]->str, *v = h->element[k + 1]->str;
                json_t *val;
                if (strcmp(key, "device") == 0 || strcmp(key, "pid") == 0)
                    val = kfq__num_or_null(v, true);
                else if (strcmp(key, "started_at") == 0 || strcmp(key, "last_seen") == 0)
                    val = kfq__num_or_null(v, false);
                else if ((strcmp(key, "task") == 0 || strcmp(key, "self_test") == 0) && !v[0])
                    val = json_null();
                else if (strcmp(key, "lanes") == 0)
                    val = lane_list(v);
                else
                    val = json_string(v);
                json_object_set_new(o, key, val ? val : json_null());
            }
            json_array_append_new(a, o);
        }
        freeReplyObject(h);
    }
    freeReplyObject(m);
    *out = a;
    return 0;
}

int kfq_heartbeat(struct kfq_conn *c, const struct kfq_worker_info *w, int ttl_s,
                  struct kf_err *err)
{
    struct kfq__tx tx;
    char now[32], start[32];
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    snprintf(now, sizeof now, "%.3f", kfq_now());
    snprintf(start, sizeof start, "%.3f", w->started_at);
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx,
           "HSET " KFK_WORKER " id %s host %s device %d hardware %s state %s task %s pid %lld "
           "started_at %s last_seen %s self_test %s lanes %s",
           w->id, w->id, w->host ? w->host : "", w->device, w->hardware ? w->hardware : "",
           w->state ? w->state : "idle", w->task_id ? w->task_id : "", (long long)w->pid, start,
           now, w->self_test ? w->self_test : "", w->lanes ? w->lanes : KF_LANES_ALL);
    kfq__tx_add(&tx, "EXPIRE " KFK_WORKER " %d", w->id, ttl_s > 0 ? ttl_s : 30);
    kfq__tx_add(&tx, "SADD %s %s", KFK_WORKER_SET, w->id);
    return kfq__tx_run(&tx, err);
}

int kfq_worker_gone(struct kfq_conn *c, const char *id, struct kf_err *err)
{
    struct kfq__tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx, "DEL " KFK_WORKER, id);
    kfq__tx_add(&tx, "SREM %s %s", KFK_WORKER_SET, id);
    return kfq__tx_run(&tx, err);
}

int kfq_lanes_served(struct kfq_conn *c, unsigned *set, struct kf_err *err)
{
    json_t *ws = NULL, *w;
    size_t i;
    *set = 0;
    int rc = kfq_workers(c, &ws, err);
    if (rc)
        return rc;
    json_array_foreach(ws, i, w) {
        if (json_is_string(json_object_get(w, "self_test")))
            continue;   /* its self-test failed: it takes no task */
        const json_t *lanes = json_object_get(w, "lanes"), *l;
        size_t k;
        if (!lanes) {
            *set |= KF_LANES_ALL_SET;
            continue;
        }
        json_array_foreach(lanes, k, l) {
            int li = kf_lane_index(json_string_value(l));
            if (li >= 0)
                *set |= 1u << li;
        }
    }
    json_decref(ws);
    return 0;
}

char *kfq_waiting_for(const json_t *task, unsigned served)
{
    const char *st = json_string_value(json_object_get(task, "status"));
    const char *lane = json_string_value(json_object_get(task, "lane"));
    if (!st || strcmp(st, "pending") != 0 || !lane || !*lane || kf_lanes_has(served, lane))
        return NULL;
    return xasprintf("no connected worker serves lane %s", lane);
}
