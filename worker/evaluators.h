/* evaluators.h: what is special about a definition, in one table, so that
 * no other file tests definition names: which comparison its outputs get
 * (compare.h: element-wise, DSA top-k index sets by recomputed score, DSA
 * attention with its base-2 lse), which random input needs structure (the
 * DSA indexer's page-packed fp8 key cache) and what a mismatch note says.
 * Matched by definition-name prefix; every other definition gets the
 * default row. Pure data; thread-safe.
 */
#ifndef EV_EVALUATORS_H
#define EV_EVALUATORS_H

#include "compare.h"
#include "model.h"

struct ev_def_rules {
    const char *prefix;          /* definition name prefix ("" for the default row) */
    enum ev_evaluator evaluator;
    const char *set_output;      /* EV_EVAL_TOPK_SET: the output compared as index sets */
    const char *hook_input;      /* a random input filled with structure (the fp8 key cache) */
    const char *note_output;     /* an output whose mismatch gets note (NULL: none) */
    const char *note;
};

/* The row for d (the default row if none matches; never NULL). */
const struct ev_def_rules *ev_def_rules_for(const struct kf_definition *d);

#endif
