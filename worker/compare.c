/* compare.c: host-side correctness maths. See compare.h. Thread-safe.
 */
#include "compare.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluators.h"
#include "xalloc.h"

/* Elements [lo, hi): c->first_fail relative to lo, c->n = hi - lo. */
static void compare_range(enum kf_dtype dt, const void *out, const void *ref, int64_t lo, int64_t hi,
                          double atol, double rtol, struct ev_cmp *c)
{
    memset(c, 0, sizeof *c);
    c->first_fail = -1;
    c->n = hi - lo;
    for (int64_t i = lo; i < hi; i++) {
        double x = kf_dtype_load(dt, out, (size_t)i), y = kf_dtype_load(dt, ref, (size_t)i);
        int bad = 0;
        if (!isfinite(y)) {
            if (!((isnan(y) && isnan(x)) || (isinf(y) && x == y))) {
                c->nonfinite++;
                bad = 1;
            }
        } else if (!isfinite(x)) {
            c->nonfinite++;
            bad = 1;
        } else {
            double d = fabs(x - y), r = d / (fabs(y) + 1e-8);
            if (d > c->max_abs)
                c->max_abs = d;
            if (r > c->max_rel)
                c->max_rel = r;
            bad = d > atol && d > rtol * fabs(y);
        }
        if (bad) {
            if (c->first_fail < 0)
                c->first_fail = i - lo;
            c->nfail++;
        }
    }
    c->matched_ratio = c->n ? (double)(c->n - c->nfail) / (double)c->n : 1.0;
}

struct cmp_job {
    enum kf_dtype dt;
    const void *out, *ref;
    int64_t lo, hi;
    double atol, rtol;
    struct ev_cmp c;
};

static void *cmp_worker(void *arg)
{
    struct cmp_job *j = arg;
    compare_range(j->dt, j->out, j->ref, j->lo, j->hi, j->atol, j->rtol, &j->c);
    return NULL;
}

/* Chunks end on even indices: fp4 packs two elements a byte. */
void ev_compare_threads(enum kf_dtype dt, const void *out, const void *ref, int64_t numel,
                        double atol, double rtol, struct ev_cmp *c, int nthreads)
{
    struct cmp_job *jobs;
    pthread_t *tids;
    int64_t per;
    if (nthreads < 2 || numel < 2 * (int64_t)nthreads) {
        compare_range(dt, out, ref, 0, numel, atol, rtol, c);
        return;
    }
    jobs = xcalloc((size_t)nthreads, sizeof *jobs);
    tids = xcalloc((size_t)nthreads, sizeof *tids);
    per = (numel / nthreads + 1) & ~(int64_t)1;
    for (int k = 0; k < nthreads; k++) {
        int64_t lo = per * k, hi = k == nthreads - 1 ? numel : per * (k + 1);
        jobs[k] = (struct cmp_job){.dt = dt, .out = out, .ref = ref, .lo = lo < numel ? lo : numel,
                                   .hi = hi < numel ? hi : numel, .atol = atol, .rtol = rtol};
        if (pthread_create(&tids[k], NULL, cmp_worker, &jobs[k]) != 0) {
            cmp_worker(&jobs[k]);   /* no thread: do it here */
            tids[k] = 0;
        }
    }
    for (int k = 0; k < nthreads; k++)
        if (tids[k])
            pthread_join(tids[k], NULL);
    /* merged in index order: the same result as one pass */
    *c = jobs[0].c;
    for (int k = 1; k < nthreads; k++)
        ev_cmp_merge(c, &jobs[k].c);
    free(jobs);
    free(tids);
}

/* Large outputs (MoE, GDN states: up to 10^8 elements, compared twice per
 * trial) are compared on every CPU, 2^18 elements a thread at least. */
#define CMP_MIN_PER_THREAD ((int64_t)1 << 18)
#define CMP_MAX_THREADS 16

void ev_compare(enum kf_dtype dt, const void *out, const void *ref, int64_t numel, double atol,
                double rtol, struct ev_cmp *c)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = numel / CMP_MIN_PER_THREAD;
    if (cpus > CMP_MAX_THREADS)
        cpus = CMP_MAX_THREADS;
    if (n > cpus)
        n = cpus;
    ev_compare_threads(dt, out, ref, numel, atol, rtol, c, n > 1 ? (int)n : 1);
}

void ev_cmp_merge(struct ev_cmp *a, const struct ev_cmp *b)
{
    if (b->max_abs > a->max_abs || isnan(b->max_abs))
        a->max_abs = b->max_abs;
    if (b->max_rel > a->max_rel || isnan(b->max_rel))
        a->max_rel = b->max_rel;
    if (a->first_fail < 0 && b->first_fail >= 0)
        a->first_fail = a->n + b->first_fail;
    a->n += b->n;
    a->nfail += b->nfail;
    a->nonfinite += b->nonfinite;
    a->matched_ratio = a->n ? (double)(a->n - a->nfail) / (double)a->n : 1.0;
}

int ev_cmp_pass(const struct ev_cmp *c, double required_matched_ratio)
{
    return c->nonfinite == 0 && c->matched_ratio >= required_matched_ratio;
}

enum ev_evaluator ev_evaluator_for(const struct kf_definition *d)
{
    return ev_def_rules_for(d)->evaluator;
}

const char *ev_evaluator_name(enum ev_evaluator e)
{
    switch (e) {
    case EV_EVAL_TOPK_SET: return "topk_index_set";
    case EV_EVAL_DSA_ATTN: return "dsa_attention_lse2";
    default: return "elementwise";
    }
}

struct gid { int64_t g; int64_t t; };

static int gid_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct gid *)a)->g, y = ((const struct gid *)b)->g;
    return x < y ? -1 : x > y;
}

static int dbl_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Recomputed scores of one row: every token t < seq_len with its global
 * index (sorted for lookup) and score; kth = the k-th best score. */
struct topk_row {
    int64_t seq, want;
    struct gid *ids;
    double *sc;
    double kth;
};

struct ev_topk_scores {
    int64_t batch, topk;
    struct topk_row *rows;
};

static void score_row(const struct ev_topk_in *in, int64_t b, struct topk_row *r)
{
    const int64_t PS = in->page_size, D = in->dim, H = in->heads, page_bytes = PS * (D + 4);
    float *q = xmalloc(sizeof(float) * (size_t)(H * D)), *k = xmalloc(sizeof(float) * (size_t)D);
    double *sorted;
    int64_t seq = in->seq_lens[b];
    if (seq < 0)
        seq = 0;
    if (seq > in->max_pages * PS)
        seq = in->max_pages * PS;
    r->seq = seq;
    r->want = seq < in->topk ? seq : in->topk;
    r->ids = xmalloc(sizeof *r->ids * (size_t)(seq + 1));
    r->sc = xmalloc(sizeof *r->sc * (size_t)(seq + 1));
    for (int64_t h = 0; h < H * D; h++)
        q[h] = kf_e4m3_to_f32(in->q_fp8[b * H * D + h]);
    for (int64_t t = 0; t < seq; t++) {
        int64_t page = in->block_table[b * in->max_pages + t / PS], off = t % PS;
        double s = 0;
        r->ids[t].g = page * PS + off;
        r->ids[t].t = t;
        if (page < 0 || page >= in->num_pages) {
            r->sc[t] = -INFINITY;
            continue;
        }
        {
            const uint8_t *pg = in->kcache + page * page_bytes;
            float scale;
            memcpy(&scale, pg + PS * D + off * 4, 4);
            for (int64_t d = 0; d < D; d++)
                k[d] = kf_e4m3_to_f32(pg[off * D + d]) * scale;
        }
        for (int64_t h = 0; h < H; h++) {
            const float *qh = q + h * D;
            float acc[8] = {0};
            int64_t d = 0;
            for (; d + 8 <= D; d += 8)   /* 8 independent sums: fast and exact enough */
                for (int j = 0; j < 8; j++)
                    acc[j] += qh[d + j] * k[d + j];
            for (; d < D; d++)
                acc[0] += qh[d] * k[d];
            {
                double dot = 0;
                for (int j = 0; j < 8; j++)
                    dot += acc[j];
                if (dot > 0)
                    s += dot * in->weights[b * H + h];
            }
        }
        r->sc[t] = s;
    }
    sorted = xmalloc(sizeof *sorted * (size_t)(seq + 1));
    memcpy(sorted, r->sc, sizeof *sorted * (size_t)seq);
    qsort(sorted, (size_t)seq, sizeof *sorted, dbl_desc);
    qsort(r->ids, (size_t)seq, sizeof *r->ids, gid_cmp);
    r->kth = r->want > 0 ? sorted[r->want - 1] : 0;
    free(sorted);
    free(q);
    free(k);
}

struct score_job { const struct ev_topk_in *in; struct topk_row *rows; int64_t next, batch; pthread_mutex_t *mu; };

static void *score_worker(void *arg)
{
    struct score_job *j = arg;
    for (;;) {
        int64_t b;
        pthread_mutex_lock(j->mu);
        b = j->next++;
        pthread_mutex_unlock(j->mu);
        if (b >= j->batch)
            return NULL;
        score_row(j->in, b, &j->rows[b]);
    }
}

struct ev_topk_scores *ev_topk_scores_new(const struct ev_topk_in *in)
{
    struct ev_topk_scores *s = xcalloc(1, sizeof *s);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct score_job job = {in, NULL, 0, in->batch, &mu};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = (int)(ncpu < 1 ? 1 : ncpu > 32 ? 32 : ncpu), started = 0;
    pthread_t th[32];
    s->batch = in->batch;
    s->topk = in->topk;
    s->rows = xcalloc((size_t)in->batch + 1, sizeof *s->rows);
    job.rows = s->rows;
    if (nt > in->batch)
        nt = (int)in->batch;
    for (int i = 1; i < nt; i++)
        if (pthread_create(&th[started], NULL, score_worker, &job) == 0)
            started++;
    score_worker(&job);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return s;
}

void ev_topk_scores_free(struct ev_topk_scores *s)
{
    if (!s)
        return;
    for (int64_t b = 0; b < s->batch; b++) {
        free(s->rows[b].ids);
        free(s->rows[b].sc);
    }
    free(s->rows);
    free(s);
}

int64_t ev_topk_check_scores(const struct ev_topk_scores *sc, const int32_t *out, double atol,
                             double rtol, struct ev_cmp *c, char *msg, size_t msgn)
{
    int64_t badrows = 0;
    memset(c, 0, sizeof *c);
    c->first_fail = -1;
    if (msg && msgn)
        msg[0] = 0;
#define PROBLEM(...)                                                                   \
    do {                                                                               \
        if (msg && msgn && !msg[0])                                                    \
            snprintf(msg, msgn, __VA_ARGS__);                                          \
    } while (0)
    for (int64_t b = 0; b < sc->batch; b++) {
        const struct topk_row *r = &sc->rows[b];
        const int32_t *row = out + b * sc->topk;
        int64_t seq = r->seq, got = 0, rowbad = 0;
        double kth = r->kth, tol = atol + rtol * fabs(kth);
        unsigned char *seen = xcalloc((size_t)seq + 1, 1);
        for (int64_t j = 0; j < sc->topk; j++) {
            int64_t v = row[j];
            struct gid key = {v, 0}, *hit;
            c->n++;
            if (v == -1)
                continue;
            got++;
            hit = seq ? bsearch(&key, r->ids, (size_t)seq, sizeof *r->ids, gid_cmp) : NULL;
            if (!hit) {
                PROBLEM("row %lld: index %lld is not a token of the sequence", (long long)b,
                        (long long)v);
                rowbad++;
            } else if (seen[hit->t]) {
                PROBLEM("row %lld: index %lld returned twice", (long long)b, (long long)v);
                rowbad++;
            } else {
                double s = r->sc[hit->t];
                seen[hit->t] = 1;
                if (s < kth - tol) {
                    PROBLEM("row %lld: index %lld has score %.6g below the k-th best %.6g",
                            (long long)b, (long long)v, s, kth);
                    rowbad++;
                    if (kth - s > c->max_abs)
                        c->max_abs = kth - s;
                    if ((kth - s) / (fabs(kth) + 1e-8) > c->max_rel)
                        c->max_rel = (kth - s) / (fabs(kth) + 1e-8);
                }
            }
            if (rowbad && c->first_fail < 0)
                c->first_fail = b * sc->topk + j;
        }
        free(seen);
        if (got != r->want) {
            PROBLEM("row %lld: %lld indices returned, expected %lld (seq_len %lld)", (long long)b,
                    (long long)got, (long long)r->want, (long long)seq);
            rowbad += got > r->want ? got - r->want : r->want - got;
        }
        if (rowbad) {
            badrows++;
            c->nfail += rowbad;
        }
    }
#undef PROBLEM
    if (c->nfail > c->n)
        c->nfail = c->n;
    c->matched_ratio = c->n ? (double)(c->n - c->nfail) / (double)c->n : 1.0;
    return badrows;
}

int64_t ev_topk_check(const struct ev_topk_in *in, const int32_t *out, double atol, double rtol,
                      struct ev_cmp *c, char *msg, size_t msgn)
{
    struct ev_topk_scores *s = ev_topk_scores_new(in);
    int64_t bad = ev_topk_check_scores(s, out, atol, rtol, c, msg, msgn);
    ev_topk_scores_free(s);
    return bad;
}
