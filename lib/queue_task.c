/* queue_task.c: the life of a task in Redis (queue.h, docs/queue.md):
 * submit and the read views of a task (server side), claim, lease,
 * progress, traces, finish, dead letter and release (worker side), and the
 * per-status counts. A struct kfq_conn is used by one thread at a time. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonio.h"
#include "log.h"
#include "xalloc.h"

/* Task record JSON from an HGETALL reply (NULL if no such task). */
static json_t *task_json(const redisReply *r);

/* ---- tasks: server side --------------------------------------------------- */

int kfq_submit(struct kfq_conn *c, const struct kfq_submit *s, char task_id_out[65],
               bool *existing, struct kf_err *err)
{
    char idbuf[33];
    char *wl = NULL, *sol = NULL, *cfg = NULL, *idem = NULL;
    const char *team = s->team ? s->team : "";
    const char *id;
    redisReply *r = NULL;
    int rc = 0;
    struct kfq__tx tx;
    char now[32];

    *existing = false;
    task_id_out[0] = '\0';
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    if (s->content_hash)
        idem = xasprintf(KFK_IDEM, team, s->content_hash);

    if (s->task_id) {
        /* client-chosen id: claim it atomically, or compare with the holder */
        id = s->task_id;
        r = kfq_command(c, err, "HSETNX " KFK_TASK " id %s", id, id);
        if (!r) { rc = KF_EREDIS; goto out; }
        bool created = r->integer == 1;
        freeReplyObject(r);
        r = NULL;
        if (!created) {
            r = kfq_command(c, err, "HMGET " KFK_TASK " content_hash team", id);
            if (!r) { rc = KF_EREDIS; goto out; }
            const char *h = r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "";
            const char *t = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
            if (s->content_hash && strcmp(h, s->content_hash) == 0 && strcmp(t, team) == 0) {
                snprintf(task_id_out, 65, "%s", id);
                *existing = true;
            } else {
                rc = kf_err_set(err, KF_ECONFLICT, "task_id",
                                "task_id '%s' already exists with a different request", id);
            }
            goto out;
        }
    } else {
        if (idem && !s->rerun) {
            r = kfq_command(c, err, "GET %s", idem);
            if (!r) { rc = KF_EREDIS; goto out; }
            if (r->type == REDIS_REPLY_STRING) {
                char prev[65];
                snprintf(prev, sizeof prev, "%s", r->str);
                freeReplyObject(r);
                /* a task that failed (no verdict) is not worth returning again */
                r = kfq_command(c, err, "HGET " KFK_TASK " status", prev);
                if (!r) { rc = KF_EREDIS; goto out; }
                if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "failed") != 0) {
                    snprintf(task_id_out, 65, "%s", prev);
                    *existing = true;
                    goto out;
                }
            }
            freeReplyObject(r);
            r = NULL;
        }
        kfq_new_id(idbuf);
        id = idbuf;
    }

    wl = kf_json_dumps(s->workloads);
    sol = kf_json_dumps(s->solution);
    cfg = s->config ? kf_json_dumps(s->config) : xstrdup("");
    snprintf(now, sizeof now, "%.3f", kfq_now());
    const char *author = json_string_value(json_object_get(s->solution, "author"));
    size_t nwl = json_array_size(s->workloads);

    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx, "SET " KFK_SOLUTION " %s", s->solution_name, sol);
    kfq__tx_add(&tx, "SADD " KFK_SOLTEAMS " %s", s->solution_name, team);
    kfq__tx_add(&tx,
           "HSET " KFK_TASK " id %s status %s definition %s solution %s solution_key %s "
           "workloads %s config %s team %s content_hash %s author %s created_at %s "
           "attempts 0 progress_done 0 progress_total %lld",
           id, id, s->fail_reason ? "failed" : "pending", s->definition, s->solution_name,
           s->solution_name, wl, cfg, team, s->content_hash ? s->content_hash : "",
           author ? author : "", now, (long long)nwl);
    if (s->fail_reason) {
        kfq__tx_add(&tx, "HSET " KFK_TASK " error %s finished_at %s", id, s->fail_reason, now);
        kfq__tx_add(&tx, "SADD " KFK_STATE_FAILED " %s", id);
    } else {
        kfq__tx_add(&tx, "SADD " KFK_STATE_PENDING " %s", id);
        kfq__tx_add(&tx, "XADD %s * task_id %s definition %s solution %s", KFK_STREAM, id,
               s->definition, s->solution_name);
    }
    if (idem)
        kfq__tx_add(&tx, "SET %s %s", idem, id);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status %s done 0 total %lld", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, id, s->fail_reason ? "failed" : "pending", (long long)nwl);
    r = kfq__tx_exec(&tx, err);
    if (!r) { rc = KF_EREDIS; goto out; }
    if (!s->fail_reason && r->elements >= 5 && r->element[4]->type == REDIS_REPLY_STRING) {
        char entry[64];
        snprintf(entry, sizeof entry, "%s", r->element[4]->str);
        freeReplyObject(r);
        r = kfq_command(c, err, "HSET " KFK_TASK " entry %s", id, entry);
        if (!r) { rc = KF_EREDIS; goto out; }
    }
    snprintf(task_id_out, 65, "%s", id);
out:
    if (r)
        freeReplyObject(r);
    free(wl);
    free(sol);
    free(cfg);
    free(idem);
    return rc;
}

int kfq_task_get(struct kfq_conn *c, const char *id, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "HGETALL " KFK_TASK, id);
    if (!r)
        return KF_EREDIS;
    *out = task_json(r);
    freeReplyObject(r);
    if (!*out)
        return kf_err_set(err, KF_ENOENT, "task_id", "unknown task '%s'", id);
    return 0;
}

static json_t *task_json(const redisReply *r)
{
    static const char *const ints[] = {"attempts", "progress_done", "progress_total", NULL};
    static const char *const reals[] = {"created_at", "started_at", "finished_at", NULL};
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || !kfq__field(r, "status"))
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        json_t *val = NULL;
        for (int j = 0; ints[j] && !val; j++)
            if (strcmp(k, ints[j]) == 0)
                val = kfq__num_or_null(v, true);
        for (int j = 0; reals[j] && !val; j++)
            if (strcmp(k, reals[j]) == 0)
                val = kfq__num_or_null(v, false);
        if (!val && (strcmp(k, "workloads") == 0 || strcmp(k, "config") == 0)) {
            val = v[0] ? json_loads(v, 0, NULL) : NULL;
            if (!val)
                val = json_null();
        }
        if (!val && strcmp(k, "error") == 0 && !v[0])
            val = json_null();
        if (!val)
            val = json_string(v);
        json_object_set_new(o, k, val ? val : json_null());
    }
    return o;
}

int kfq_task_get_full(struct kfq_conn *c, const char *id, json_t **task, json_t **traces,
                      struct kf_err *err)
{
    void *v[2] = {NULL, NULL};
    int rc = 0;
    *task = *traces = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (kfq_ensure(c, err))
            return KF_EREDIS;
        redisAppendCommand(c->rc, "HGETALL " KFK_TASK, id);
        redisAppendCommand(c->rc, "LRANGE " KFK_TRACES " 0 -1", id);
        if (redisGetReply(c->rc, &v[0]) == REDIS_OK && redisGetReply(c->rc, &v[1]) == REDIS_OK)
            break;
        if (v[0])
            freeReplyObject(v[0]);
        v[0] = NULL;
        kfq__check_reply(c, NULL, err);   /* stale connection: reconnect and retry once */
        if (attempt == 1)
            return KF_EREDIS;
    }
    redisReply *h = v[0], *l = v[1];
    if (h->type == REDIS_REPLY_ERROR || l->type == REDIS_REPLY_ERROR) {
        rc = kf_err_set(err, KF_EREDIS, "redis", "redis error: %s",
                        h->type == REDIS_REPLY_ERROR ? h->str : l->str);
        goto out;
    }
    *task = task_json(h);
    if (!*task) {
        rc = kf_err_set(err, KF_ENOENT, "task_id", "unknown task '%s'", id);
        goto out;
    }
    *traces = json_array();
    for (size_t i = 0; i < l->elements; i++) {
        json_t *t = l->element[i]->type == REDIS_REPLY_STRING
                        ? json_loadb(l->element[i]->str, l->element[i]->len, 0, NULL) : NULL;
        if (t)
            json_array_append_new(*traces, t);
    }
out:
    freeReplyObject(h);
    freeReplyObject(l);
    return rc;
}

int kfq_task_traces(struct kfq_conn *c, const char *id, bool raw, json_t **out,
                    struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "LRANGE " KFK_TRACES " 0 -1", id);
    if (!r)
        return KF_EREDIS;
    json_t *a = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        if (raw) {
            json_array_append_new(a, json_stringn(e->str, e->len));
        } else {
            json_t *t = json_loadb(e->str, e->len, 0, NULL);
            if (t)
                json_array_append_new(a, t);
        }
    }
    freeReplyObject(r);
    *out = a;
    return 0;
}

int kfq_solution_get(struct kfq_conn *c, const char *name, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "GET " KFK_SOLUTION, name);
    if (!r)
        return KF_EREDIS;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return kf_err_set(err, KF_ENOENT, "name", "unknown solution '%s'", name);
    }
    *out = json_loadb(r->str, r->len, 0, NULL);
    freeReplyObject(r);
    if (!*out)
        return kf_err_set(err, KF_EIO, "name", "stored solution '%s' is not JSON", name);
    return 0;
}

int kfq_counts(struct kfq_conn *c, struct kfq_counts *out, struct kf_err *err)
{
    static const char *const names[] = {"pending", "running", "completed", "failed"};
    int64_t *dst[] = {&out->pending, &out->running, &out->completed, &out->failed};
    memset(out, 0, sizeof *out);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    for (int i = 0; i < 4; i++)
        redisAppendCommand(c->rc, "SCARD " KFK_STATE, names[i]);
    redisAppendCommand(c->rc, "XLEN %s", KFK_DEAD);
    for (int i = 0; i < 5; i++) {
        void *v = NULL;
        if (redisGetReply(c->rc, &v) != REDIS_OK) {
            kfq__check_reply(c, NULL, err);
            return KF_EREDIS;
        }
        redisReply *r = v;
        if (r->type == REDIS_REPLY_INTEGER) {
            if (i < 4)
                *dst[i] = r->integer;
            else
                out->dead = r->integer;
        }
        freeReplyObject(r);
    }
    json_t *w = NULL;
    int rc = kfq_workers(c, &w, err);
    if (rc)
        return rc;
    out->workers = (int64_t)json_array_size(w);
    json_decref(w);
    return 0;
}

/* ---- tasks: worker side --------------------------------------------------- */

void kfq_task_free(struct kfq_task *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->entry);
    free(t->definition);
    free(t->solution_name);
    free(t->team);
    json_decref(t->solution);
    json_decref(t->workloads);
    json_decref(t->config);
    free(t);
}

static void opts_defaults(const struct kfq_claim_opts *o, struct kfq_claim_opts *d)
{
    *d = *o;
    if (d->lease_ms <= 0)
        d->lease_ms = KFQ_DEFAULT_LEASE_MS;
    if (d->block_ms < 0)
        d->block_ms = 0;
    if (d->max_deliveries <= 0)
        d->max_deliveries = KFQ_MAX_DELIVERIES;
}

static int ack(struct kfq_conn *c, const char *entry, struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XACK %s %s %s", KFK_STREAM, KFK_GROUP, entry);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

static int64_t deliveries_of(struct kfq_conn *c, const char *entry, struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XPENDING %s %s %s %s 1", KFK_STREAM, KFK_GROUP, entry,
                                entry);
    if (!r)
        return KF_EREDIS;
    int64_t n = 1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements >= 4)
        n = r->element[0]->element[3]->integer;
    freeReplyObject(r);
    return n;
}

static int finish(struct kfq_conn *c, const char *id, const char *entry, const char *status,
                  const char *reason, struct kf_err *err)
{
    struct kfq__tx tx;
    char now[32];
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    snprintf(now, sizeof now, "%.3f", kfq_now());
    kfq__tx_begin(&tx, c);
    if (reason)
        kfq__tx_add(&tx, "HSET " KFK_TASK " status %s finished_at %s error %s", id, status, now, reason);
    else
        kfq__tx_add(&tx, "HSET " KFK_TASK " status %s finished_at %s", id, status, now);
    kfq__tx_add(&tx, "SREM " KFK_STATE_PENDING " %s", id);
    kfq__tx_add(&tx, "SREM " KFK_STATE_RUNNING " %s", id);
    kfq__tx_add(&tx, "SADD " KFK_STATE " %s", status, id);
    if (entry && *entry)
        kfq__tx_add(&tx, "XACK %s %s %s", KFK_STREAM, KFK_GROUP, entry);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status %s", KFK_EVENTS, KFQ_EVENTS_MAXLEN, id,
           status);
    return kfq__tx_run(&tx, err);
}

/* Handle one delivered entry. Returns 0 with *out set (a task to run), 0
 * with *out NULL (skipped: dead-lettered, finished or vanished), or <0. */
static int take_entry(struct kfq_conn *c, const struct kfq_claim_opts *o, const char *entry,
                      const redisReply *fields, int64_t deliveries, struct kfq_task **out,
                      struct kf_err *err)
{
    const char *tid = kfq__field(fields, "task_id");
    redisReply *h = NULL, *s = NULL;
    struct kfq__tx tx;
    char now[32];
    int rc = 0;

    *out = NULL;
    if (!tid) {
        log_warn("queue", "stream entry without a task entry=%s: acknowledged", entry);
        return ack(c, entry, err);
    }
    if (deliveries > o->max_deliveries) {
        char reason[256];
        snprintf(reason, sizeof reason,
                 "dead-lettered after %lld deliveries: the workers that took it stopped "
                 "before finishing (lease %lld ms expired)",
                 (long long)(deliveries - 1), (long long)o->lease_ms);
        redisReply *r = kfq_command(c, err, "XADD %s * task_id %s entry %s deliveries %lld reason %s",
                                    KFK_DEAD, tid, entry, (long long)(deliveries - 1), reason);
        if (!r)
            return KF_EREDIS;
        freeReplyObject(r);
        log_warn("queue", "task dead-lettered task=%s entry=%s deliveries=%lld", tid, entry,
                 (long long)(deliveries - 1));
        return finish(c, tid, entry, "failed", reason, err);
    }
    h = kfq_command(c, err, "HGETALL " KFK_TASK, tid);
    if (!h)
        return KF_EREDIS;
    const char *status = kfq__field(h, "status");
    if (!status || kfq__is_status(status, "completed") || kfq__is_status(status, "failed")) {
        log_info("queue", "skipping entry of a %s task task=%s entry=%s",
                 status ? status : "vanished", tid, entry);
        rc = ack(c, entry, err);
        goto out;
    }
    const char *key = kfq__field(h, "solution_key");
    s = kfq_command(c, err, "GET " KFK_SOLUTION, key ? key : "");
    if (!s) { rc = KF_EREDIS; goto out; }
    json_t *sol = s->type == REDIS_REPLY_STRING ? json_loadb(s->str, s->len, 0, NULL) : NULL;
    if (!sol) {
        rc = finish(c, tid, entry, "failed", "stored solution document is missing", err);
        goto out;
    }
    struct kfq_task *t = xcalloc(1, sizeof *t);
    t->id = xstrdup(tid);
    t->entry = xstrdup(entry);
    t->definition = xstrdup(kfq__field(h, "definition") ? kfq__field(h, "definition") : "");
    t->solution_name = xstrdup(kfq__field(h, "solution") ? kfq__field(h, "solution") : "");
    t->team = xstrdup(kfq__field(h, "team") ? kfq__field(h, "team") : "");
    t->solution = sol;
    const char *wl = kfq__field(h, "workloads");
    t->workloads = wl ? json_loads(wl, 0, NULL) : NULL;
    if (!json_is_array(t->workloads)) {
        json_decref(t->workloads);
        t->workloads = json_array();
    }
    const char *cfg = kfq__field(h, "config");
    t->config = cfg && cfg[0] ? json_loads(cfg, 0, NULL) : NULL;
    t->deliveries = deliveries;
    t->created_at = kfq__field(h, "created_at") ? atof(kfq__field(h, "created_at")) : 0;

    snprintf(now, sizeof now, "%.3f", kfq_now());
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx,
           "HSET " KFK_TASK " status running started_at %s worker %s attempts %lld "
           "progress_done 0 progress_total %lld entry %s",
           tid, now, o->consumer, (long long)deliveries, (long long)json_array_size(t->workloads),
           entry);
    kfq__tx_add(&tx, "DEL " KFK_TRACES, tid);
    kfq__tx_add(&tx, "SREM " KFK_STATE_PENDING " %s", tid);
    kfq__tx_add(&tx, "SADD " KFK_STATE_RUNNING " %s", tid);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status running done 0 total %lld", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, tid, (long long)json_array_size(t->workloads));
    rc = kfq__tx_run(&tx, err);
    if (rc) {
        kfq_task_free(t);
        goto out;
    }
    log_info("queue", "task claimed task=%s entry=%s worker=%s delivery=%lld", tid, entry,
             o->consumer, (long long)deliveries);
    *out = t;
out:
    if (h)
        freeReplyObject(h);
    if (s)
        freeReplyObject(s);
    return rc;
}

int kfq_worker_claim(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                     struct kf_err *err)
{
    struct kfq_claim_opts o;
    char cursor[64] = "0-0";
    int rc;

    *out = NULL;
    opts_defaults(opts, &o);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    /* 1. entries of dead consumers, idle longer than the lease */
    for (int iter = 0; iter < 64; iter++) {
        redisReply *r = kfq_command(c, err, "XAUTOCLAIM %s %s %s %lld %s COUNT 1", KFK_STREAM,
                                    KFK_GROUP, o.consumer, (long long)o.lease_ms, cursor);
        if (!r) {
            if (err && strstr(err->msg, "NOGROUP")) {
                if ((rc = kfq_init(c, err)))
                    return rc;
                continue;
            }
            return KF_EREDIS;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *entries = r->element[1];
        rc = 0;
        bool got = false;
        for (size_t i = 0; i < entries->elements && !*out; i++) {
            redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
                continue;   /* deleted entry (Redis 6.2 shape) */
            got = true;
            int64_t d = deliveries_of(c, e->element[0]->str, err);
            if (d < 0) {
                rc = (int)d;
                break;
            }
            rc = take_entry(c, &o, e->element[0]->str, e->element[1], d, out, err);
            if (rc)
                break;
        }
        freeReplyObject(r);
        if (rc || *out)
            return rc;
        (void)got;  /* skipped entries were acknowledged or dead-lettered */
        if (strcmp(cursor, "0-0") == 0)
            break;  /* the whole pending list was scanned */
    }
    /* 2. a new entry */
    kfq__set_timeout_ms(c, o.block_ms + KFQ__CMD_TIMEOUT_MS);
    redisReply *r = o.block_ms > 0
        ? kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 BLOCK %lld STREAMS %s >", KFK_GROUP,
                      o.consumer, (long long)o.block_ms, KFK_STREAM)
        : kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s >", KFK_GROUP,
                      o.consumer, KFK_STREAM);
    kfq__set_timeout_ms(c, KFQ__CMD_TIMEOUT_MS);
    if (!r) {
        if (err && strstr(err->msg, "NOGROUP"))
            return kfq_init(c, err);
        return KF_EREDIS;
    }
    rc = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements && !*out && !rc; i++) {
            redisReply *e = entries->element[i];
            rc = take_entry(c, &o, e->element[0]->str, e->element[1], 1, out, err);
        }
    }
    freeReplyObject(r);
    return rc;
}

int kfq_reclaim_own(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                    struct kf_err *err)
{
    struct kfq_claim_opts o;
    *out = NULL;
    opts_defaults(opts, &o);
    for (;;) {
        redisReply *r = kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s %s",
                                    KFK_GROUP, o.consumer, KFK_STREAM, c->own_cursor);
        if (!r)
            return KF_EREDIS;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->element[1]->elements == 0) {
            freeReplyObject(r);
            return 0;
        }
        redisReply *e = r->element[0]->element[1]->element[0];
        char entry[64];
        snprintf(entry, sizeof entry, "%s", e->element[0]->str);
        snprintf(c->own_cursor, sizeof c->own_cursor, "%s", entry);
        int rc;
        if (e->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = ack(c, entry, err);   /* deleted from the stream */
        } else {
            int64_t d = deliveries_of(c, entry, err);
            rc = d < 0 ? (int)d : take_entry(c, &o, entry, e->element[1], d, out, err);
        }
        freeReplyObject(r);
        if (rc || *out)
            return rc;
    }
}

int kfq_task_touch(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                   struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XCLAIM %s %s %s 0 %s JUSTID", KFK_STREAM, KFK_GROUP,
                                consumer, t->entry);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_task_progress(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                      int done, int total, struct kf_err *err)
{
    struct kfq__tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx, "HSET " KFK_TASK " progress_done %d progress_total %d", t->id, done, total);
    kfq__tx_add(&tx, "XCLAIM %s %s %s 0 %s JUSTID", KFK_STREAM, KFK_GROUP, consumer, t->entry);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status running done %d total %d", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id, done, total);
    return kfq__tx_run(&tx, err);
}

int kfq_task_add_trace(struct kfq_conn *c, const struct kfq_task *t, const json_t *trace,
                       struct kf_err *err)
{
    char *s = kf_json_dumps(trace);
    redisReply *r = kfq_command(c, err, "RPUSH " KFK_TRACES " %s", t->id, s);
    free(s);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

/* Still the holder? A task whose lease was stolen is finished by the thief. */
static int owner_check(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                       struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "HMGET " KFK_TASK " worker status", t->id);
    if (!r)
        return KF_EREDIS;
    int rc = 0;
    if (r->element[0]->type == REDIS_REPLY_STRING && consumer &&
        strcmp(r->element[0]->str, consumer) != 0)
        rc = kf_err_set(err, KF_ECONFLICT, "worker", "task %s was taken over by worker %s",
                        t->id, r->element[0]->str);
    else if (r->element[1]->type == REDIS_REPLY_STRING &&
             (kfq__is_status(r->element[1]->str, "completed") || kfq__is_status(r->element[1]->str, "failed")))
        rc = kf_err_set(err, KF_ECONFLICT, "status", "task %s is already %s", t->id,
                        r->element[1]->str);
    freeReplyObject(r);
    return rc;
}

/* Leaderboard entry for this task from its traces (NULL if no trace). */
int kfq_task_complete(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                      struct kf_err *err)
{
    json_t *traces = NULL, *entry = NULL;
    redisReply *r = NULL;
    char now[32], *es = NULL;
    struct kfq__tx tx;
    int rc;

    if ((rc = owner_check(c, t, consumer, err)))
        return rc;
    if ((rc = kfq_task_traces(c, t->id, false, &traces, err)))
        return rc;
    double fin = kfq_now();
    snprintf(now, sizeof now, "%.3f", fin);
    entry = kfq__board_entry(t, traces, fin);

    r = kfq_command(c, err, "HGET " KFK_TASK " started_at", t->id);
    if (!r) { rc = KF_EREDIS; goto out; }
    double started = r->type == REDIS_REPLY_STRING ? atof(r->str) : fin;
    freeReplyObject(r);
    r = NULL;
    double dur = fin - started;
    if (dur < 0)
        dur = 0;
    int b = 0;
    while (b < KFQ_HIST_N - 1 && dur > kfq_hist_bounds[b])
        b++;

    if (entry) {
        /* a run over fewer workloads does not replace a fuller one */
        r = kfq_command(c, err, "HGET " KFK_BOARD " %s|%s", t->definition, t->solution_name,
                        json_string_value(json_object_get(entry, "hardware")));
        if (!r) { rc = KF_EREDIS; goto out; }
        if (r->type == REDIS_REPLY_STRING) {
            json_t *old = json_loadb(r->str, r->len, 0, NULL);
            if (json_integer_value(json_object_get(old, "workloads_total")) >
                json_integer_value(json_object_get(entry, "workloads_total"))) {
                json_decref(entry);
                entry = NULL;
            }
            json_decref(old);
        }
        freeReplyObject(r);
        r = NULL;
    }
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx, "HSET " KFK_TASK " status completed finished_at %s progress_done %lld", t->id, now,
           (long long)json_array_size(traces));
    kfq__tx_add(&tx, "SREM " KFK_STATE_PENDING " %s", t->id);
    kfq__tx_add(&tx, "SREM " KFK_STATE_RUNNING " %s", t->id);
    kfq__tx_add(&tx, "SADD " KFK_STATE_COMPLETED " %s", t->id);
    kfq__tx_add(&tx, "XACK %s %s %s", KFK_STREAM, KFK_GROUP, t->entry);
    if (entry) {
        es = kf_json_dumps(entry);
        kfq__tx_add(&tx, "HSET " KFK_BOARD " %s|%s %s", t->definition, t->solution_name,
               json_string_value(json_object_get(entry, "hardware")), es);
        kfq__tx_add(&tx, "SADD " KFK_BOARD_DEFS " %s", t->definition);
    }
    kfq__tx_add(&tx, "HINCRBY " KFK_STATS " eval_b%d 1", b);
    kfq__tx_add(&tx, "HINCRBYFLOAT " KFK_STATS " eval_sum %.3f", dur);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status completed", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id);
    rc = kfq__tx_run(&tx, err);
    if (!rc)
        log_info("queue", "task completed task=%s traces=%zu seconds=%.3f", t->id,
                 json_array_size(traces), dur);
out:
    free(es);
    json_decref(entry);
    json_decref(traces);
    return rc;
}

int kfq_task_fail(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                  const char *reason, struct kf_err *err)
{
    int rc = owner_check(c, t, consumer, err);
    if (rc)
        return rc;
    rc = finish(c, t->id, t->entry, "failed", reason ? reason : "failed", err);
    if (!rc)
        log_info("queue", "task failed task=%s reason=\"%s\"", t->id, reason ? reason : "");
    return rc;
}

int kfq_task_release(struct kfq_conn *c, const struct kfq_task *t, struct kf_err *err)
{
    struct kfq__tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    kfq__tx_begin(&tx, c);
    kfq__tx_add(&tx, "HSET " KFK_TASK " status pending worker %s", t->id, "");
    kfq__tx_add(&tx, "SREM " KFK_STATE_RUNNING " %s", t->id);
    kfq__tx_add(&tx, "SADD " KFK_STATE_PENDING " %s", t->id);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status pending", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id);
    return kfq__tx_run(&tx, err);
}
