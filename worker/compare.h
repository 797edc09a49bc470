/* compare.h: correctness checks on host buffers (pure code, no CUDA):
 * the element test `fail iff |x-y| > atol and |x-y| > rtol*|y|`, non-finite
 * handling, matched ratio, max abs/rel error, and the per-definition
 * evaluators (DSA top-k indexer by index set and recomputed scores).
 * Thread-safe: no shared state (the top-k scorer starts its own threads).
 */
#ifndef EV_COMPARE_H
#define EV_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "model.h"

struct ev_cmp {
    double max_abs, max_rel;   /* over elements where both are finite */
    int64_t n;                 /* elements compared */
    int64_t nfail;             /* elements failing the test (non-finite ones included) */
    int64_t nonfinite;         /* output non-finite where the reference is finite, or a
                                  non-finite reference not matched exactly */
    int64_t first_fail;        /* index of the first failing element, -1 if none */
    double matched_ratio;      /* (n - nfail) / n; 1 for n == 0 */
};

/* Compare numel elements of dtype dt (fp4: packed nibbles). A reference
 * NaN matches an output NaN; a reference +-Inf matches the same Inf (the
 * -inf lse rows of empty attention). */
void ev_compare(enum kf_dtype dt, const void *out, const void *ref, int64_t numel, double atol,
                double rtol, struct ev_cmp *c);
/* The same with nthreads threads over contiguous chunks, merged in index
 * order (identical result for any count); ev_compare picks the count (every
 * CPU up to 16, at least 2^18 elements a thread). Exposed for tests. */
void ev_compare_threads(enum kf_dtype dt, const void *out, const void *ref, int64_t numel,
                        double atol, double rtol, struct ev_cmp *c, int nthreads);
/* Merge b, the elements right after a's, into a (max of maxima, sums of
 * counts, b's first failure offset by a's count). */
void ev_cmp_merge(struct ev_cmp *a, const struct ev_cmp *b);
/* Pass iff no unmatched non-finite value and matched_ratio >= required. */
int ev_cmp_pass(const struct ev_cmp *c, double required_matched_ratio);

enum ev_evaluator {
    EV_EVAL_DEFAULT = 0,   /* element test on every output */
    EV_EVAL_TOPK_SET,      /* DSA top-k indexer: index sets by recomputed scores */
    EV_EVAL_DSA_ATTN,      /* DSA sparse attention: output + base-2 lse (-inf rows) */
};
enum ev_evaluator ev_evaluator_for(const struct kf_definition *d);
const char *ev_evaluator_name(enum ev_evaluator e);

/* Inputs of the DSA top-k indexer, host copies. */
struct ev_topk_in {
    const uint8_t *q_fp8;        /* [B, H, D] e4m3 */
    const uint8_t *kcache;       /* [num_pages] pages of PS*D fp8 then PS float32 scales */
    const float *weights;        /* [B, H] */
    const int32_t *seq_lens;     /* [B] */
    const int32_t *block_table;  /* [B, max_pages] */
    int64_t batch, heads, dim, page_size, max_pages, num_pages, topk;
};

/* Check out ([B, topk] int32): per row exactly min(topk, seq_len) entries
 * other than -1, each a token of the row (page from block_table), unique,
 * with a score >= the k-th best score - (atol + rtol*|k-th|); all others
 * -1. c->nfail counts bad entries, c->max_abs the largest score deficit.
 * Returns the number of bad rows; msg gets the first problem. */
int64_t ev_topk_check(const struct ev_topk_in *in, const int32_t *out, double atol, double rtol,
                      struct ev_cmp *c, char *msg, size_t msgn);

/* The same in two steps, so one trial's recomputed scores serve several
 * checks (the checked run and the last timed run). Scores are computed on
 * all CPUs (rows in parallel); the result does not borrow `in`'s buffers. */
struct ev_topk_scores;
struct ev_topk_scores *ev_topk_scores_new(const struct ev_topk_in *in);
void ev_topk_scores_free(struct ev_topk_scores *s);
int64_t ev_topk_check_scores(const struct ev_topk_scores *s, const int32_t *out, double atol,
                             double rtol, struct ev_cmp *c, char *msg, size_t msgn);

#endif
