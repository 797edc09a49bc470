/* expr.c: parser and evaluator of the integer expression language used by
 * definition constraints and launch plans (grammar in expr.h).
 *
 * A recursive-descent parser builds an immutable tree; evaluation is int64
 * with overflow and division by zero reported as errors, Python semantics for
 * // and % (floor). Source length and nesting depth are capped so a hostile
 * expression cannot exhaust the stack. Thread-safe once parsed.
 */
#include "expr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define EXPR_MAX_LEN 4096
#define EXPR_MAX_DEPTH 64

enum node_kind { N_NUM, N_REF, N_NEG, N_NOT, N_BIN, N_CALL };

enum bin_op {
    OP_OR, OP_AND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_ADD, OP_SUB, OP_MUL, OP_DIV,
    OP_MOD
};

enum call_fn { FN_CDIV, FN_MIN, FN_MAX };

struct node {
    enum node_kind kind;
    int64_t num;
    struct kf_expr_ref ref; /* ref.name owned */
    int op;                 /* bin_op or call_fn */
    struct node *a, *b;
};

struct kf_expr {
    char *src;
    struct node *root;
};

/* ---- tokenizer ------------------------------------------------------------- */

enum tok_kind { T_END, T_INT, T_NAME, T_OP };

struct parser {
    const char *s;
    size_t pos;      /* start of the current token */
    size_t next;     /* end of the current token */
    enum tok_kind kind;
    char op[3];
    int64_t ival;
    char *name;      /* current T_NAME (owned by the parser until taken) */
    int depth;
    struct kf_err *err;
    int failed;
};

static int perr(struct parser *p, const char *fmt, const char *what)
{
    if (!p->failed)
        kf_err_set(p->err, KF_EINVAL, "", fmt, what, (int)p->pos + 1);
    p->failed = 1;
    return KF_EINVAL;
}

static int advance(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->next;

    free(p->name);
    p->name = NULL;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    p->pos = i;
    if (!s[i]) {
        p->kind = T_END;
        p->next = i;
        return 0;
    }
    if (isdigit((unsigned char)s[i])) {
        int64_t v = 0;
        while (isdigit((unsigned char)s[i])) {
            int d = s[i] - '0';
            if (v > (INT64_MAX - d) / 10)
                return perr(p, "integer literal %sout of range at column %d", "");
            v = v * 10 + d;
            i++;
        }
        if (isalpha((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')
            return perr(p, "invalid number%s at column %d", "");
        p->kind = T_INT;
        p->ival = v;
        p->next = i;
        return 0;
    }
    if (isalpha((unsigned char)s[i]) || s[i] == '_') {
        size_t b = i;
        while (isalnum((unsigned char)s[i]) || s[i] == '_')
            i++;
        p->kind = T_NAME;
        p->name = xstrndup(s + b, i - b);
        p->next = i;
        return 0;
    }
    {
        static const char *const two[] = {"==", "!=", "<=", ">=", "//", "&&", "||"};
        static const char one[] = "+-*/%<>()[],.!";
        for (size_t k = 0; k < sizeof two / sizeof two[0]; k++) {
            if (s[i] == two[k][0] && s[i + 1] == two[k][1]) {
                p->kind = T_OP;
                memcpy(p->op, two[k], 3);
                p->next = i + 2;
                return 0;
            }
        }
        if (strchr(one, s[i])) {
            p->kind = T_OP;
            p->op[0] = s[i];
            p->op[1] = '\0';
            p->next = i + 1;
            return 0;
        }
    }
    return perr(p, "unexpected character%s at column %d", "");
}

static int is_op(const struct parser *p, const char *op)
{
    return p->kind == T_OP && strcmp(p->op, op) == 0;
}

static int is_kw(const struct parser *p, const char *kw)
{
    return p->kind == T_NAME && strcmp(p->name, kw) == 0;
}

static int expect(struct parser *p, const char *op)
{
    if (!is_op(p, op))
        return perr(p, "expected '%s' at column %d", op);
    return advance(p);
}

/* ---- tree ------------------------------------------------------------------ */

static struct node *mk(enum node_kind k)
{
    struct node *n = xcalloc(1, sizeof *n);
    n->kind = k;
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    free((char *)n->ref.name);
    free(n);
}

static struct node *mkbin(int op, struct node *a, struct node *b)
{
    struct node *n = mk(N_BIN);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static struct node *parse_or(struct parser *p);

/* [ "-" ] INT inside brackets */
static int parse_index(struct parser *p, int64_t *out)
{
    int neg = 0;
    if (expect(p, "["))
        return KF_EINVAL;
    if (is_op(p, "-")) {
        neg = 1;
        if (advance(p))
            return KF_EINVAL;
    }
    if (p->kind != T_INT)
        return perr(p, "expected an integer index%s at column %d", "");
    *out = neg ? -p->ival : p->ival;
    if (advance(p))
        return KF_EINVAL;
    return expect(p, "]");
}

static struct node *parse_primary(struct parser *p)
{
    struct node *n = NULL;

    if (p->kind == T_INT) {
        n = mk(N_NUM);
        n->num = p->ival;
        if (advance(p))
            goto fail;
        return n;
    }
    if (is_op(p, "(")) {
        if (advance(p))
            return NULL;
        n = parse_or(p);
        if (!n || expect(p, ")"))
            goto fail;
        return n;
    }
    if (p->kind == T_NAME) {
        char *name = p->name;
        static const char *const kws[] = {"and", "or", "not"};
        for (size_t k = 0; k < 3; k++)
            if (strcmp(name, kws[k]) == 0) {
                perr(p, "unexpected keyword '%s' at column %d", name);
                return NULL;
            }
        p->name = NULL; /* take */
        if (advance(p)) {
            free(name);
            return NULL;
        }
        if (is_op(p, "(")) {
            int fn;
            if (strcmp(name, "cdiv") == 0)
                fn = FN_CDIV;
            else if (strcmp(name, "min") == 0)
                fn = FN_MIN;
            else if (strcmp(name, "max") == 0)
                fn = FN_MAX;
            else {
                perr(p, "unknown function '%s' at column %d", name);
                free(name);
                return NULL;
            }
            free(name);
            n = mk(N_CALL);
            n->op = fn;
            if (advance(p) || !(n->a = parse_or(p)) || expect(p, ",") ||
                !(n->b = parse_or(p)) || expect(p, ")"))
                goto fail;
            return n;
        }
        n = mk(N_REF);
        n->ref.kind = KF_REF_NAME;
        n->ref.name = name;
        if (is_op(p, ".")) {
            if (advance(p))
                goto fail;
            if (!is_kw(p, "shape")) {
                perr(p, "expected 'shape'%s at column %d", "");
                goto fail;
            }
            if (advance(p) || parse_index(p, &n->ref.index))
                goto fail;
            n->ref.kind = KF_REF_SHAPE;
        } else if (is_op(p, "[")) {
            if (parse_index(p, &n->ref.index))
                goto fail;
            n->ref.kind = KF_REF_ITEM;
            if (is_op(p, ".")) {
                if (advance(p))
                    goto fail;
                if (!is_kw(p, "item")) {
                    perr(p, "expected 'item'%s at column %d", "");
                    goto fail;
                }
                if (advance(p) || expect(p, "(") || expect(p, ")"))
                    goto fail;
            }
        }
        return n;
    }
    if (p->kind == T_END)
        perr(p, "unexpected end of expression%s at column %d", "");
    else
        perr(p, "unexpected '%s' at column %d", p->kind == T_OP ? p->op : "token");
fail:
    node_free(n);
    return NULL;
}

static struct node *parse_unary(struct parser *p)
{
    struct node *n, *a;
    if (!is_op(p, "-"))
        return parse_primary(p);
    if (++p->depth > EXPR_MAX_DEPTH) {
        perr(p, "expression nested too deeply%s at column %d", "");
        return NULL;
    }
    if (advance(p))
        return NULL;
    a = parse_unary(p);
    p->depth--;
    if (!a)
        return NULL;
    n = mk(N_NEG);
    n->a = a;
    return n;
}

static struct node *parse_term(struct parser *p)
{
    struct node *l = parse_unary(p), *r;
    while (l && (is_op(p, "*") || is_op(p, "/") || is_op(p, "//") || is_op(p, "%"))) {
        int op = is_op(p, "*") ? OP_MUL : is_op(p, "%") ? OP_MOD : OP_DIV;
        if (advance(p) || !(r = parse_unary(p))) {
            node_free(l);
            return NULL;
        }
        l = mkbin(op, l, r);
    }
    return l;
}

static struct node *parse_sum(struct parser *p)
{
    struct node *l = parse_term(p), *r;
    while (l && (is_op(p, "+") || is_op(p, "-"))) {
        int op = is_op(p, "+") ? OP_ADD : OP_SUB;
        if (advance(p) || !(r = parse_term(p))) {
            node_free(l);
            return NULL;
        }
        l = mkbin(op, l, r);
    }
    return l;
}

static struct node *parse_cmp(struct parser *p)
{
    static const struct { const char *s; int op; } ops[] = {
        {"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"<", OP_LT}, {">", OP_GT}};
    struct node *l = parse_sum(p), *r;
    if (!l)
        return NULL;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        if (is_op(p, ops[k].s)) {
            if (advance(p) || !(r = parse_sum(p))) {
                node_free(l);
                return NULL;
            }
            l = mkbin(ops[k].op, l, r);
            for (size_t m = 0; m < sizeof ops / sizeof ops[0]; m++)
                if (is_op(p, ops[m].s)) {
                    perr(p, "chained comparison '%s' at column %d", ops[m].s);
                    node_free(l);
                    return NULL;
                }
            break;
        }
    }
    return l;
}

static struct node *parse_not(struct parser *p)
{
    struct node *n, *a;
    if (!is_kw(p, "not") && !is_op(p, "!"))
        return parse_cmp(p);
    if (++p->depth > EXPR_MAX_DEPTH) {
        perr(p, "expression nested too deeply%s at column %d", "");
        return NULL;
    }
    if (advance(p))
        return NULL;
    a = parse_not(p);
    p->depth--;
    if (!a)
        return NULL;
    n = mk(N_NOT);
    n->a = a;
    return n;
}

static struct node *parse_and(struct parser *p)
{
    struct node *l = parse_not(p), *r;
    while (l && (is_kw(p, "and") || is_op(p, "&&"))) {
        if (advance(p) || !(r = parse_not(p))) {
            node_free(l);
            return NULL;
        }
        l = mkbin(OP_AND, l, r);
    }
    return l;
}

static struct node *parse_or(struct parser *p)
{
    struct node *l, *r;
    if (++p->depth > EXPR_MAX_DEPTH) {
        perr(p, "expression nested too deeply%s at column %d", "");
        return NULL;
    }
    l = parse_and(p);
    while (l && (is_kw(p, "or") || is_op(p, "||"))) {
        if (advance(p) || !(r = parse_and(p))) {
            node_free(l);
            l = NULL;
            break;
        }
        l = mkbin(OP_OR, l, r);
    }
    p->depth--;
    return l;
}

int kf_expr_parse(const char *src, struct kf_expr **out, struct kf_err *err)
{
    struct parser p;
    struct node *root;
    struct kf_expr *e;

    *out = NULL;
    if (!src)
        return kf_err_set(err, KF_EINVAL, "", "expression missing");
    if (strlen(src) > EXPR_MAX_LEN)
        return kf_err_set(err, KF_EINVAL, "", "expression longer than %d characters",
                          EXPR_MAX_LEN);
    memset(&p, 0, sizeof p);
    p.s = src;
    p.err = err;
    if (advance(&p)) {
        free(p.name);
        return KF_EINVAL;
    }
    if (p.kind == T_END) {
        free(p.name);
        return kf_err_set(err, KF_EINVAL, "", "empty expression");
    }
    root = parse_or(&p);
    if (root && p.kind != T_END) {
        perr(&p, "unexpected '%s' at column %d",
             p.kind == T_OP ? p.op : p.kind == T_NAME ? p.name : "token");
        node_free(root);
        root = NULL;
    }
    free(p.name);
    if (!root) {
        if (!p.failed)
            kf_err_set(err, KF_EINVAL, "", "invalid expression");
        return KF_EINVAL;
    }
    e = xmalloc(sizeof *e);
    e->src = xstrdup(src);
    e->root = root;
    *out = e;
    return 0;
}

void kf_expr_free(struct kf_expr *e)
{
    if (!e)
        return;
    node_free(e->root);
    free(e->src);
    free(e);
}

const char *kf_expr_source(const struct kf_expr *e)
{
    return e ? e->src : NULL;
}

/* ---- evaluation ------------------------------------------------------------ */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int eval_node(const struct node *n, kf_expr_resolve_fn resolve, void *ctx, int64_t *out,
                     struct kf_err *err, const char *src)
{
    int64_t a, b;
    int rc;

    switch (n->kind) {
    case N_NUM:
        *out = n->num;
        return 0;
    case N_REF:
        if (!resolve)
            return kf_err_set(err, KF_ENOENT, "", "unknown name '%s'", n->ref.name);
        rc = resolve(ctx, &n->ref, out);
        if (rc == KF_ENOENT)
            return kf_err_set(err, rc, "", "unknown name '%s'", n->ref.name);
        if (rc == KF_EUNSUP)
            return kf_err_set(err, rc, "", "value of '%s' not available yet", n->ref.name);
        if (rc)
            return kf_err_set(err, rc, "", "cannot resolve '%s'", n->ref.name);
        return 0;
    case N_NEG:
        if ((rc = eval_node(n->a, resolve, ctx, &a, err, src)))
            return rc;
        if (a == INT64_MIN)
            return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
        *out = -a;
        return 0;
    case N_NOT:
        if ((rc = eval_node(n->a, resolve, ctx, &a, err, src)))
            return rc;
        *out = !a;
        return 0;
    case N_CALL:
        if ((rc = eval_node(n->a, resolve, ctx, &a, err, src)) ||
            (rc = eval_node(n->b, resolve, ctx, &b, err, src)))
            return rc;
        if (n->op == FN_MIN)
            *out = a < b ? a : b;
        else if (n->op == FN_MAX)
            *out = a > b ? a : b;
        else {
            if (b == 0)
                return kf_err_set(err, KF_EINVAL, "", "division by zero in '%s'", src);
            if (a == INT64_MIN && b == -1)
                return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
            *out = a / b; /* ceil: truncation rounds toward zero */
            if (a % b != 0 && ((a < 0) == (b < 0)))
                *out += 1;
        }
        return 0;
    case N_BIN:
        if ((rc = eval_node(n->a, resolve, ctx, &a, err, src)))
            return rc;
        /* Short-circuit like Python so guards such as "x == 0 or y % x == 0" work. */
        if (n->op == OP_AND && !a) {
            *out = 0;
            return 0;
        }
        if (n->op == OP_OR && a) {
            *out = 1;
            return 0;
        }
        if ((rc = eval_node(n->b, resolve, ctx, &b, err, src)))
            return rc;
        switch (n->op) {
        case OP_OR:
        case OP_AND: *out = b != 0; return 0;
        case OP_EQ: *out = a == b; return 0;
        case OP_NE: *out = a != b; return 0;
        case OP_LT: *out = a < b; return 0;
        case OP_LE: *out = a <= b; return 0;
        case OP_GT: *out = a > b; return 0;
        case OP_GE: *out = a >= b; return 0;
        case OP_ADD:
            if (__builtin_add_overflow(a, b, out))
                return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
            return 0;
        case OP_SUB:
            if (__builtin_sub_overflow(a, b, out))
                return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
            return 0;
        case OP_MUL:
            if (__builtin_mul_overflow(a, b, out))
                return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
            return 0;
        case OP_DIV:
        case OP_MOD:
            if (b == 0)
                return kf_err_set(err, KF_EINVAL, "", "division by zero in '%s'", src);
            if (a == INT64_MIN && b == -1) {
                if (n->op == OP_MOD) {
                    *out = 0;
                    return 0;
                }
                return kf_err_set(err, KF_EINVAL, "", "integer overflow in '%s'", src);
            }
            if (n->op == OP_DIV) {
                *out = floordiv(a, b);
            } else {
                /* floor modulo without floordiv(a, b) * b, which overflows for a
                 * near INT64_MIN (found by make fuzz) */
                int64_t r = a % b;
                *out = r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
            }
            return 0;
        }
    }
    return kf_err_set(err, KF_EINVAL, "", "bad expression node");
}

int kf_expr_eval(const struct kf_expr *e, kf_expr_resolve_fn resolve, void *ctx, int64_t *out,
                 struct kf_err *err)
{
    return eval_node(e->root, resolve, ctx, out, err, e->src);
}

static int walk(const struct node *n, int (*fn)(void *, const struct kf_expr_ref *), void *ctx)
{
    int rc;
    if (!n)
        return 0;
    if (n->kind == N_REF)
        return fn(ctx, &n->ref);
    if ((rc = walk(n->a, fn, ctx)))
        return rc;
    return walk(n->b, fn, ctx);
}

int kf_expr_walk_refs(const struct kf_expr *e,
                      int (*fn)(void *ctx, const struct kf_expr_ref *ref), void *ctx)
{
    return walk(e->root, fn, ctx);
}
