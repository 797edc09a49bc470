/* board.c: leaderboard ranking and its cache (see board.h). Thread-safe. */
#include "board.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonio.h"
#include "log.h"
#include "xalloc.h"

#define SLOTS 64

struct slot {
    char *key;        /* "def\x1fhw" */
    char *text;
    size_t len;
    int64_t built_ms;
    uint64_t gen;
};

struct api_board {
    pthread_mutex_t mu;
    int64_t ttl_ms;
    atomic_uint_fast64_t gen;
    struct slot slots[SLOTS];
    unsigned next;    /* round-robin eviction */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct api_board *api_board_new(int64_t ttl_ms)
{
    struct api_board *b = xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->ttl_ms = ttl_ms;
    atomic_init(&b->gen, 1);
    return b;
}

void api_board_free(struct api_board *b)
{
    if (!b)
        return;
    for (int i = 0; i < SLOTS; i++) {
        free(b->slots[i].key);
        free(b->slots[i].text);
    }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void api_board_invalidate(struct api_board *b)
{
    if (b)
        atomic_fetch_add(&b->gen, 1);
}

/* The score a board ranks by: the mean speedup against the PyTorch
 * reference when every entry has one (the contest's lanes), else against
 * the native reference. qsort has no context: one key per sort call,
 * passed through a thread-local. */
static _Thread_local const char *score_key = "mean_speedup";

static int cmp_entry(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const json_t *sx = json_object_get(x, score_key), *sy = json_object_get(y, score_key);
    double vx = json_is_number(sx) ? json_number_value(sx) : -1;
    double vy = json_is_number(sy) ? json_number_value(sy) : -1;
    if (vx != vy)
        return vx > vy ? -1 : 1;
    const json_t *lx = json_object_get(x, "mean_latency_ms"), *ly = json_object_get(y, "mean_latency_ms");
    double ax = json_is_number(lx) ? json_number_value(lx) : 1e300;
    double ay = json_is_number(ly) ? json_number_value(ly) : 1e300;
    if (ax != ay)
        return ax < ay ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "solution")),
                  json_string_value(json_object_get(y, "solution")));
}

/* Ranked view of one definition's entries. */
static json_t *rank_def(struct api_ctx *ctx, const char *def, int required, const json_t *entries,
                        const char *hw)
{
    json_t *by_hw = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *h = json_string_value(json_object_get(e, "hardware"));
        json_int_t passed = json_integer_value(json_object_get(e, "workloads_passed"));
        json_int_t total = json_integer_value(json_object_get(e, "workloads_total"));
        if (!h || (hw && strcmp(h, hw) != 0))
            continue;
        /* only solutions that passed every workload of the definition */
        if (passed != total || total < required || total == 0)
            continue;
        json_t *a = json_object_get(by_hw, h);
        if (!a) {
            a = json_array();
            json_object_set_new(by_hw, h, a);
        }
        json_array_append(a, e);
    }
    json_t *boards = json_array();
    const char *h;
    json_t *a;
    json_object_foreach(by_hw, h, a) {
        size_t n = json_array_size(a);
        json_t **v = xmalloc(sizeof *v * (n ? n : 1));
        bool pytorch = n > 0;
        for (size_t k = 0; k < n; k++) {
            v[k] = json_array_get(a, k);
            if (!json_is_number(json_object_get(v[k], "mean_speedup_pytorch")))
                pytorch = false;
        }
        score_key = pytorch ? "mean_speedup_pytorch" : "mean_speedup";
        qsort(v, n, sizeof *v, cmp_entry);
        json_t *ranking = json_array();
        for (size_t k = 0; k < n; k++) {
            /* public fields only: no team, task id or sources */
            static const char *const pub[] = {"solution", "author", "mean_speedup",
                                               "mean_speedup_pytorch",
                                               "mean_latency_ms", "workloads_passed",
                                               "workloads_total", "last_evaluated"};
            json_t *e = json_pack("{s:I}", "rank", (json_int_t)k + 1);
            for (size_t f = 0; f < sizeof pub / sizeof pub[0]; f++) {
                json_t *x = json_object_get(v[k], pub[f]);
                json_object_set(e, pub[f], x ? x : json_null());
            }
            json_array_append_new(ranking, e);
        }
        free(v);
        /* the history is a side record: a failure to write it is logged, the board still served */
        struct kf_err herr;
        if (api_board_history_note(ctx, def, h, ranking, score_key, &herr))
            log_warn("board", "history of %s on %s not recorded: %s", def, h, herr.msg);
        json_array_append_new(boards, json_pack("{s:s, s:s, s:o}", "hardware", h, "score",
                                                pytorch ? "pytorch" : "native", "ranking",
                                                ranking));
    }
    json_decref(by_hw);
    return json_pack("{s:s, s:i, s:o}", "definition", def, "num_workloads", required, "boards",
                     boards);
}

int api_board_build(struct api_ctx *ctx, const char *def, const char *hw, json_t **out,
                    struct kf_err *err)
{
    json_t *raw = NULL;
    *out = NULL;
    const struct kf_dataset_def *dd = def && ctx->ds ? kf_dataset_find(ctx->ds, def) : NULL;
    if (def && !dd)
        return kf_err_set(err, KF_ENOENT, "definition", "unknown definition '%s'", def);
    int rc = kfq_board(api_redis(ctx), def, &raw, err);
    if (rc)
        return rc;
    json_t *defs = json_array();
    if (dd) {
        json_array_append_new(defs, rank_def(ctx, def, dd->nworkloads, json_object_get(raw, def), hw));
    } else {
        /* every dataset definition (in name order), then any other boards */
        for (int i = 0; ctx->ds && i < ctx->ds->ndefs; i++) {
            const struct kf_dataset_def *d = &ctx->ds->defs[i];
            json_array_append_new(defs, rank_def(ctx, d->def->name, d->nworkloads,
                                                 json_object_get(raw, d->def->name), hw));
        }
    }
    json_decref(raw);
    *out = json_pack("{s:f, s:o}", "generated_at", kfq_now(), "definitions", defs);
    return 0;
}

int api_board_get(struct api_ctx *ctx, const char *def, const char *hw, char **text, size_t *len,
                  struct kf_err *err)
{
    struct api_board *b = ctx->board;
    char *key = xasprintf("%s\x1f%s", def ? def : "", hw ? hw : "");
    uint64_t gen = atomic_load(&b->gen);
    int64_t now = mono_ms();
    *text = NULL;
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &b->slots[i];
        if (s->key && strcmp(s->key, key) == 0 && s->gen == gen && now - s->built_ms < b->ttl_ms) {
            *text = xmalloc(s->len + 1);
            memcpy(*text, s->text, s->len + 1);
            *len = s->len;
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    if (*text) {
        free(key);
        return 0;
    }
    json_t *j = NULL;
    int rc = api_board_build(ctx, def, hw, &j, err);
    if (rc) {
        free(key);
        return rc;
    }
    char *t = kf_json_dumps(j);
    json_decref(j);
    size_t n = strlen(t);
    pthread_mutex_lock(&b->mu);
    int idx = -1;
    for (int i = 0; i < SLOTS && idx < 0; i++)
        if (b->slots[i].key && strcmp(b->slots[i].key, key) == 0)
            idx = i;
    if (idx < 0)
        idx = (int)(b->next++ % SLOTS);
    struct slot *s = &b->slots[idx];
    free(s->key);
    free(s->text);
    s->key = key;
    s->text = xstrndup(t, n);
    s->len = n;
    s->built_ms = now;
    s->gen = gen;
    pthread_mutex_unlock(&b->mu);
    *text = t;
    *len = n;
    return 0;
}
