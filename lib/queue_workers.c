/* queue_workers.c: worker heartbeats (kf:worker:<id>, kf:workers:set) of
 * the task protocol (queue.h, docs/queue.md). A struct kfq_conn is used by
 * one thread at a time. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <string.h>

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
           "started_at %s last_seen %s self_test %s",
           w->id, w->id, w->host ? w->host : "", w->device, w->hardware ? w->hardware : "",
           w->state ? w->state : "idle", w->task_id ? w->task_id : "", (long long)w->pid, start,
           now, w->self_test ? w->self_test : "");
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
