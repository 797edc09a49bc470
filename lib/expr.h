/* expr.h: the integer expression language of constraints and launch plans.
 *
 * Grammar (Python-like, integers only, int64 arithmetic with overflow and
 * division-by-zero reported as errors):
 *   expr    := or
 *   or      := and (("or" | "||") and)*
 *   and     := not (("and" | "&&") not)*
 *   not     := ("not" | "!") not | cmp
 *   cmp     := sum (("=="|"!="|"<"|"<="|">"|">=") sum)?
 *   sum     := term (("+"|"-") term)*
 *   term    := unary (("*"|"/"|"//"|"%") unary)*      (/ and // floor-divide)
 *   unary   := "-" unary | primary
 *   primary := INT | NAME | NAME "." "shape" "[" INT "]"      (negative from end)
 *            | NAME "[" INT "]" ("." "item" "(" ")")?         (tensor element)
 *            | ("cdiv"|"min"|"max") "(" expr "," expr ")" | "(" expr ")"
 * Booleans are 0/1. A parsed expression is immutable: thread-safe to evaluate
 * concurrently.
 */
#ifndef KF_EXPR_H
#define KF_EXPR_H

#include <stdint.h>

#include "kf_err.h"

struct kf_expr;

enum kf_ref_kind {
    KF_REF_NAME,   /* plain identifier: an axis, a device fact, a scalar */
    KF_REF_SHAPE,  /* name.shape[index] */
    KF_REF_ITEM,   /* name[index] or name[index].item() */
};

struct kf_expr_ref {
    enum kf_ref_kind kind;
    const char *name;
    int64_t index; /* for SHAPE and ITEM; may be negative (from the end) */
};

/* Resolve a reference. Return 0 and set *out, KF_ENOENT if the name is
 * unknown, KF_EUNSUP if it is known but its value is not available (e.g. a
 * tensor element before the data exists). */
typedef int (*kf_expr_resolve_fn)(void *ctx, const struct kf_expr_ref *ref, int64_t *out);

/* Parse src. Returns 0 and *out (new; free with kf_expr_free) or KF_EINVAL
 * with err->msg naming the column. err->path is left empty for the caller. */
int kf_expr_parse(const char *src, struct kf_expr **out, struct kf_err *err);
void kf_expr_free(struct kf_expr *e);

/* Evaluate. Returns 0, or the resolver's code, or KF_EINVAL (division by
 * zero, overflow) with err->msg set. */
int kf_expr_eval(const struct kf_expr *e, kf_expr_resolve_fn resolve, void *ctx, int64_t *out,
                 struct kf_err *err);

/* Call fn for every reference in e (in source order); stops at and returns
 * the first nonzero result of fn. Used to check names without values. */
int kf_expr_walk_refs(const struct kf_expr *e,
                      int (*fn)(void *ctx, const struct kf_expr_ref *ref), void *ctx);

/* The source text the expression was parsed from (borrowed). */
const char *kf_expr_source(const struct kf_expr *e);

#endif
