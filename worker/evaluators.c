/* evaluators.c: the per-definition table. See evaluators.h. */
#include "evaluators.h"

#include <string.h>

static const struct ev_def_rules rows[] = {
    {"dsa_topk_indexer", EV_EVAL_TOPK_SET, "topk_indices", "k_index_cache_fp8", NULL, NULL},
    {"dsa_sparse_attention", EV_EVAL_DSA_ATTN, NULL, NULL, "lse",
     "lse is the base-2 log-sum-exp of the attention logits; rows with no valid index are -inf"},
    {"", EV_EVAL_DEFAULT, NULL, NULL, NULL, NULL},
};

const struct ev_def_rules *ev_def_rules_for(const struct kf_definition *d)
{
    size_t n = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i + 1 < n; i++)
        if (!strncmp(d->name, rows[i].prefix, strlen(rows[i].prefix)))
            return &rows[i];
    return &rows[n - 1];
}
