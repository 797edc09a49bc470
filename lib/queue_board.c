/* queue_board.c: the leaderboard entries (kf:board:*) and the evaluation
 * statistics (kf:stats) of the task protocol (queue.h, docs/queue.md).
 * A struct kfq_conn is used by one thread at a time. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double kfq_hist_bounds[KFQ_HIST_N] = {1, 2, 5, 10, 30, 60, 120, 300, 600, 1e300};

void kfq_summary_init(struct kfq_summary *s)
{
    memset(s, 0, sizeof *s);
    s->uuids = json_array();
}

void kfq_summary_free(struct kfq_summary *s)
{
    if (!s)
        return;
    json_decref(s->uuids);
    s->uuids = NULL;
}

void kfq_summary_add(struct kfq_summary *s, const json_t *trace)
{
    const json_t *ev = json_object_get(trace, "evaluation");
    const char *st = json_string_value(json_object_get(ev, "status"));
    const char *hw = json_string_value(
        json_object_get(json_object_get(ev, "environment"), "hardware"));
    const json_t *u = json_object_get(json_object_get(trace, "workload"), "uuid");
    /* docs/runner.md: a timing outside the judge's bounds keeps its status
     * but is marked unranked, and must not reach the board */
    const json_t *unr = json_object_get(json_object_get(ev, "kernelfarm"), "unranked");
    bool unranked = unr && !json_is_null(unr) && !json_is_false(unr);

    s->total++;
    if (hw && !s->hardware[0])
        snprintf(s->hardware, sizeof s->hardware, "%s", hw);
    if (json_is_string(u))
        json_array_append(s->uuids, (json_t *)u);
    if (unranked) {
        s->unranked++;
        return;
    }
    if (!kfq__is_status(st, "PASSED"))
        return;
    s->passed++;
    const json_t *perf = json_object_get(ev, "performance");
    const json_t *sp = json_object_get(perf, "speedup_factor");
    const json_t *la = json_object_get(perf, "latency_ms");
    const json_t *px = json_object_get(perf, "extra");
    const json_t *ref = json_object_get(px, "reference");
    if (json_is_string(ref) && !strcmp(json_string_value(ref), "pytorch")) {
        /* speedup_factor is the contest's (against the definition's PyTorch
         * reference); the native one is kept beside it */
        const json_t *nat = json_object_get(px, "native_speedup_factor");
        if (json_is_number(sp)) {
            s->pyt_sum += json_number_value(sp);
            s->npyt++;
        }
        sp = nat;
    }
    if (json_is_number(sp)) {
        s->speed_sum += json_number_value(sp);
        s->nspeed++;
    }
    if (json_is_number(la)) {
        s->lat_sum += json_number_value(la);
        s->nlat++;
    }
}

json_t *kfq__board_entry(const struct kfq_task *t, const struct kfq_summary *s, double finished)
{
    if (!s || s->total == 0)
        return NULL;
    const char *author = json_string_value(json_object_get(t->solution, "author"));
    json_t *e;
    e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:f, s:O}",
                     "definition", t->definition, "solution", t->solution_name, "author",
                     author ? author : "", "hardware", s->hardware[0] ? s->hardware : "unknown",
                     "team", t->team ? t->team : "", "task_id", t->id, "workloads_total",
                     (json_int_t)s->total, "workloads_passed", (json_int_t)s->passed,
                     "workloads_unranked", (json_int_t)s->unranked, "mean_speedup",
                     s->nspeed ? json_real(s->speed_sum / (double)s->nspeed) : json_null(),
                     "mean_latency_ms",
                     s->nlat ? json_real(s->lat_sum / (double)s->nlat) : json_null(),
                     "last_evaluated", finished, "workload_uuids", s->uuids);
    /* The contest's score, only when every ranked workload has it. */
    if (e && s->npyt > 0 && s->npyt == s->passed)
        json_object_set_new(e, "mean_speedup_pytorch", json_real(s->pyt_sum / (double)s->npyt));
    return e;
}

int kfq_board(struct kfq_conn *c, const char *def, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *defs = NULL;
    json_t *o = json_object();
    int rc = 0;
    if (!def) {
        defs = kfq_command(c, err, "SMEMBERS " KFK_BOARD_DEFS);
        if (!defs) { rc = KF_EREDIS; goto out; }
    }
    size_t n = def ? 1 : defs->elements;
    for (size_t i = 0; i < n; i++) {
        const char *d = def ? def : defs->element[i]->str;
        redisReply *h = kfq_command(c, err, "HVALS " KFK_BOARD, d);
        if (!h) { rc = KF_EREDIS; goto out; }
        json_t *a = json_array();
        for (size_t k = 0; k < h->elements; k++) {
            json_t *e = json_loadb(h->element[k]->str, h->element[k]->len, 0, NULL);
            if (e)
                json_array_append_new(a, e);
        }
        freeReplyObject(h);
        json_object_set_new(o, d, a);
    }
out:
    if (defs)
        freeReplyObject(defs);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int kfq_eval_hist(struct kfq_conn *c, int64_t counts[KFQ_HIST_N], double *sum,
                  struct kf_err *err)
{
    memset(counts, 0, sizeof(int64_t) * KFQ_HIST_N);
    *sum = 0;
    redisReply *r = kfq_command(c, err, "HGETALL " KFK_STATS);
    if (!r)
        return KF_EREDIS;
    int64_t acc = 0;
    for (int i = 0; i < KFQ_HIST_N; i++) {
        char k[24];
        snprintf(k, sizeof k, "eval_b%d", i);
        const char *v = kfq__field(r, k);
        acc += v ? atoll(v) : 0;
        counts[i] = acc;
    }
    const char *s = kfq__field(r, "eval_sum");
    *sum = s ? atof(s) : 0;
    freeReplyObject(r);
    return 0;
}
