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
#include "lanes.h"
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
        if (s->admit) {
            r = kfq_command(c, err, "EXISTS " KFK_TASK, id);
            if (!r) { rc = KF_EREDIS; goto out; }
            bool known = r->integer == 1;
            freeReplyObject(r);
            r = NULL;
            if (!known && (rc = s->admit(s->admit_ctx)))
                goto out;
        }
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
        if (s->admit && (rc = s->admit(s->admit_ctx)))
            goto out;
        kfq_new_id(idbuf);
        id = idbuf;
    }

    wl = kf_json_dumps(s->workloads);
    sol = kf_json_dumps(s->solution);
    cfg = s->config ? kf_json_dumps(s->config) : xstrdup("");
    snprintf(now, sizeof now, "%.3f", kfq_now());
    const char *author = json_string_value(json_object_get(s->solution, "author"));
    const char *lane = s->lane ? s->lane : kf_solution_doc_lane(s->solution);
    size_t nwl = json_array_size(s->workloads);

    const char *key = s->solution_key ? s->solution_key : s->solution_name;
    int i_set;
    if (s->stored_bytes)
        *s->stored_bytes = 0;
    kfq__tx_begin(&tx, c);
    i_set = tx.n;
    /* never replaces a stored document: another team's, or an earlier one */
    kfq__tx_add(&tx, "SET " KFK_SOLUTION " %s NX", key, sol);
    kfq__tx_add(&tx, "SADD " KFK_SOLTEAMS " %s", s->solution_name, team);
    if (s->solution_full) {
        kfq__tx_add(&tx, "SADD " KFK_SOLTEAMS " %s", s->solution_full, team);
        kfq__tx_add(&tx, "HSETNX " KFK_SOLKEYS " %s %s", team, s->solution_name, key);
        kfq__tx_add(&tx, "HSETNX " KFK_SOLKEYS " %s %s", team, s->solution_full, key);
        kfq__tx_add(&tx, "HINCRBY " KFK_TEAM_SOLREFS " %s 1", team, key);
        kfq__tx_add(&tx, "ZADD " KFK_TEAM_TASKS " %s %s", team, now, id);
    }
    kfq__tx_add(&tx,
           "HSET " KFK_TASK " id %s status %s definition %s solution %s solution_key %s "
           "workloads %s config %s team %s content_hash %s author %s created_at %s "
           "attempts 0 progress_done 0 progress_total %lld lane %s",
           id, id, s->fail_reason ? "failed" : "pending", s->definition, s->solution_name,
           key, wl, cfg, team, s->content_hash ? s->content_hash : "",
           author ? author : "", now, (long long)nwl, lane ? lane : "");
    if (s->client_task_id)
        kfq__tx_add(&tx, "HSET " KFK_TASK " client_id %s", id, s->client_task_id);
    if (s->fail_reason) {
        kfq__tx_add(&tx, "HSET " KFK_TASK " error %s finished_at %s", id, s->fail_reason, now);
        kfq__tx_add(&tx, "SADD " KFK_STATE_FAILED " %s", id);
    } else {
        const char *args[] = {id, team, s->priority ? "1" : "0"};
        if (s->priority)
            kfq__tx_add(&tx, "HSET " KFK_TASK " priority 1", id);
        kfq__tx_add(&tx, "SADD " KFK_STATE_PENDING " %s", id);
        kfq__tx_eval(&tx, KFQ__S_ENQUEUE, 3, args);
    }
    if (idem)
        kfq__tx_add(&tx, "SET %s %s", idem, id);
    kfq__tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status %s done 0 total %lld", KFK_EVENTS,
           KFQ_EVENTS_MAXLEN, id, s->fail_reason ? "failed" : "pending", (long long)nwl);
    r = kfq__tx_exec(&tx, err);
    if (!r) { rc = KF_EREDIS; goto out; }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_ERROR) {
            rc = kf_err_set(err, KF_EREDIS, "redis", "submit: %s", r->element[i]->str);
            goto out;
        }
    /* SET NX answers OK when it stored the document, nil when one was there */
    if (s->stored_bytes && (size_t)i_set < r->elements &&
        r->element[i_set]->type == REDIS_REPLY_STATUS)
        *s->stored_bytes = (int64_t)strlen(sol);
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
        if (strcmp(k, "token") == 0)
            continue;   /* the attempt's fencing token is the worker's alone */
        if (strcmp(k, "priority") == 0)
            val = json_boolean(strcmp(v, "1") == 0);
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

/* Run a fenced write script: 1 done, 0 refused (KF_ECONFLICT). */
static int fenced(struct kfq_conn *c, enum kfq__script s, const struct kfq_task *t, int nargs,
                  const char *const *args, const size_t *lens, const char *what,
                  struct kf_err *err)
{
    redisReply *r = kfq__eval(c, s, nargs, args, lens, err);
    if (!r)
        return KF_EREDIS;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (v == 1)
        return 0;
    return kf_err_set(err, KF_ECONFLICT, "token",
                      "task %s: %s refused: this attempt no longer holds the task (taken "
                      "over after its lease ran out, released or finished)", t->id, what);
}

/* Load the task a claim script handed out. A task whose solution document
 * is gone is failed (fenced by the new token) and *out stays NULL. */
static int load_claimed(struct kfq_conn *c, const redisReply *cr, const char *token,
                        struct kfq_task **out, struct kf_err *err)
{
    const char *tid = cr->element[0]->str;
    redisReply *h = NULL, *s = NULL;
    struct kfq_task *t = xcalloc(1, sizeof *t);
    int rc = 0;

    t->id = xstrdup(tid);
    snprintf(t->token, sizeof t->token, "%s", token);
    t->deliveries = cr->element[1]->type == REDIS_REPLY_INTEGER ? cr->element[1]->integer : 1;
    t->started_at = cr->element[2]->type == REDIS_REPLY_STRING ? atof(cr->element[2]->str) : 0;
    h = kfq_command(c, err, "HGETALL " KFK_TASK, tid);
    if (!h) { rc = KF_EREDIS; goto out; }
    const char *key = kfq__field(h, "solution_key");
    s = kfq_command(c, err, "GET " KFK_SOLUTION, key ? key : "");
    if (!s) { rc = KF_EREDIS; goto out; }
    t->solution = s->type == REDIS_REPLY_STRING ? json_loadb(s->str, s->len, 0, NULL) : NULL;
    t->definition = xstrdup(kfq__field(h, "definition") ? kfq__field(h, "definition") : "");
    t->solution_name = xstrdup(kfq__field(h, "solution") ? kfq__field(h, "solution") : "");
    t->team = xstrdup(kfq__field(h, "team") ? kfq__field(h, "team") : "");
    const char *wl = kfq__field(h, "workloads");
    t->workloads = wl ? json_loads(wl, 0, NULL) : NULL;
    if (!json_is_array(t->workloads)) {
        json_decref(t->workloads);
        t->workloads = json_array();
    }
    const char *cfg = kfq__field(h, "config");
    t->config = cfg && cfg[0] ? json_loads(cfg, 0, NULL) : NULL;
    t->created_at = kfq__field(h, "created_at") ? atof(kfq__field(h, "created_at")) : 0;
    if (!t->solution) {
        rc = kfq_task_fail(c, t, "stored solution document is missing", err);
        goto out;
    }
    log_info("queue", "task claimed task=%s attempt=%lld", tid, (long long)t->deliveries);
    *out = t;
    t = NULL;
out:
    if (h)
        freeReplyObject(h);
    if (s)
        freeReplyObject(s);
    kfq_task_free(t);
    return rc;
}

/* One run of the claim script in mode "any" or "own". */
static int claim_once(struct kfq_conn *c, const struct kfq_claim_opts *o, const char *mode,
                      struct kfq_task **out, struct kf_err *err)
{
    char token[33], lease[24], maxatt[16];
    kfq_new_id(token);
    snprintf(lease, sizeof lease, "%lld", (long long)o->lease_ms);
    snprintf(maxatt, sizeof maxatt, "%d", o->max_deliveries);
    const char *args[] = {o->consumer, token, lease, maxatt, mode, o->lanes ? o->lanes : "*"};
    redisReply *r = kfq__eval(c, KFQ__S_CLAIM, 6, args, NULL, err);
    if (!r)
        return KF_EREDIS;
    int rc = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING)
        rc = load_claimed(c, r, token, out, err);
    freeReplyObject(r);
    return rc;
}

int kfq_worker_claim(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                     struct kf_err *err)
{
    struct kfq_claim_opts o;
    *out = NULL;
    opts_defaults(opts, &o);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    for (int pass = 0; pass < 2; pass++) {
        int rc = claim_once(c, &o, "any", out, err);
        if (rc || *out || pass == 1 || o.block_ms <= 0)
            return rc;
        /* Nothing queued: sleep until a submit pushes a wake-up (or the
         * wait ends; leases that run out meanwhile are found next call). */
        kfq__set_timeout_ms(c, o.block_ms + KFQ__CMD_TIMEOUT_MS);
        redisReply *r = kfq_command(c, err, "BLPOP %s %.3f", KFK_QUEUE_WAKE,
                                    (double)o.block_ms / 1000.0);
        kfq__set_timeout_ms(c, KFQ__CMD_TIMEOUT_MS);
        if (!r)
            return KF_EREDIS;
        bool woke = r->type == REDIS_REPLY_ARRAY;
        freeReplyObject(r);
        if (!woke)
            return 0;
    }
    return 0;
}

int kfq_reclaim_own(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                    struct kf_err *err)
{
    struct kfq_claim_opts o;
    *out = NULL;
    opts_defaults(opts, &o);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    return claim_once(c, &o, "own", out, err);
}

int kfq_task_touch(struct kfq_conn *c, const struct kfq_task *t, int64_t lease_ms,
                   struct kf_err *err)
{
    char lease[24];
    snprintf(lease, sizeof lease, "%lld",
             (long long)(lease_ms > 0 ? lease_ms : KFQ_DEFAULT_LEASE_MS));
    const char *args[] = {t->id, t->token, lease};
    return fenced(c, KFQ__S_TOUCH, t, 3, args, NULL, "lease touch", err);
}

int kfq_task_progress(struct kfq_conn *c, const struct kfq_task *t, int64_t lease_ms, int done,
                      int total, struct kf_err *err)
{
    char d[16], n[16], lease[24];
    snprintf(d, sizeof d, "%d", done);
    snprintf(n, sizeof n, "%d", total);
    snprintf(lease, sizeof lease, "%lld",
             (long long)(lease_ms > 0 ? lease_ms : KFQ_DEFAULT_LEASE_MS));
    const char *args[] = {t->id, t->token, d, n, lease};
    return fenced(c, KFQ__S_PROGRESS, t, 5, args, NULL, "progress", err);
}

int kfq_task_add_trace(struct kfq_conn *c, const struct kfq_task *t, const json_t *trace,
                       struct kf_err *err)
{
    char *s = kf_json_dumps(trace);
    const char *args[] = {t->id, t->token, s};
    size_t lens[] = {strlen(t->id), strlen(t->token), strlen(s)};
    int rc = fenced(c, KFQ__S_TRACE, t, 3, args, lens, "trace", err);
    free(s);
    return rc;
}

int kfq_task_complete(struct kfq_conn *c, const struct kfq_task *t,
                      const struct kfq_summary *sum, struct kf_err *err)
{
    char done[16], bucket[16], dur_s[32], total[16], *field = NULL, *es = NULL;
    json_t *entry = NULL;
    double fin = kfq_now();
    double dur = t->started_at > 0 ? fin - t->started_at : 0;
    int b = 0, rc;

    if (dur < 0)
        dur = 0;
    while (b < KFQ_HIST_N - 1 && dur > kfq_hist_bounds[b])
        b++;
    snprintf(bucket, sizeof bucket, "eval_b%d", b);
    snprintf(dur_s, sizeof dur_s, "%.3f", dur);
    if (sum)
        snprintf(done, sizeof done, "%d", sum->total);
    else
        done[0] = '\0';   /* no summary: progress_done stays as reported */
    entry = sum ? kfq__board_entry(t, sum, fin) : NULL;
    if (entry) {
        field = xasprintf("%s|%s", t->solution_name,
                          json_string_value(json_object_get(entry, "hardware")));
        es = kf_json_dumps(entry);
    }
    snprintf(total, sizeof total, "%d", sum ? sum->total : 0);
    const char *args[] = {t->id, t->token, done, bucket, dur_s, t->definition,
                          field ? field : "", es ? es : "", total};
    rc = fenced(c, KFQ__S_COMPLETE, t, 9, args, NULL, "complete", err);
    if (!rc)
        log_info("queue", "task completed task=%s traces=%s seconds=%.3f", t->id, done[0] ? done : "?", dur);
    free(field);
    free(es);
    json_decref(entry);
    return rc;
}

int kfq_task_fail(struct kfq_conn *c, const struct kfq_task *t, const char *reason,
                  struct kf_err *err)
{
    const char *args[] = {t->id, t->token, reason ? reason : "failed"};
    int rc = fenced(c, KFQ__S_FAIL, t, 3, args, NULL, "fail", err);
    if (!rc)
        log_info("queue", "task failed task=%s reason=\"%s\"", t->id, reason ? reason : "");
    return rc;
}

int kfq_task_release(struct kfq_conn *c, const struct kfq_task *t, struct kf_err *err)
{
    const char *args[] = {t->id, t->token};
    return fenced(c, KFQ__S_RELEASE, t, 2, args, NULL, "release", err);
}
