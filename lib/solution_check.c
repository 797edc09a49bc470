/* solution_check.c: a solution checked against its definition (see
 * kf_solution_check in model.h): the definition name, and for the nvrtc lane
 * the launch plan: kernels defined as extern "C" __global__ in the sources,
 * arguments that resolve to inputs, outputs, scalars, axes, workspaces or
 * literals, expressions over axis names and device facts only, every output
 * passed to some kernel. Resolves string arguments' kinds in place (the one
 * post-parse mutation, documented in model.h).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_opts.h"
#include "jpath.h"
#include "model.h"
#include "xalloc.h"

/* Kept in step with worker/evdev.c's ev_dev_fact names. */
const char *const kf_device_facts[] = {
    "num_sms", "sm_count", "multi_processor_count", "l2_bytes", "l2_cache_bytes",
    "l2_cache_size", "max_shared_mem", "max_smem", "max_shared_memory_per_block_optin",
    "max_smem_per_block", "warp_size", "max_threads_per_block", "cc_major", "sm_major",
    "cc_minor", "sm_minor", "sm_version", "compute_capability", NULL,
};

static bool is_fact(const char *name)
{
    for (int i = 0; kf_device_facts[i]; i++)
        if (strcmp(kf_device_facts[i], name) == 0)
            return true;
    return false;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Names defined as extern "C" __global__ functions, found in one pass over
 * the sources (linear in their size; the old per-step search was quadratic
 * and let one request hold a thread for 20 s). A textual check: an
 * identifier followed by '(' counts when the declaration it is in (back to
 * the previous ';', '{' or '}') holds __global__ and extern "C" appeared
 * before it (inline or as a block). */
struct kname { const char *s; size_t n; };

/* 1: identifier character; 2: also ';', '{' or '}' (end of a declaration). */
static unsigned char ctab[256];

static void ctab_init(void)
{
    for (int c = 0; c < 256; c++)
        ctab[c] = (unsigned char)(ident_char((char)c) ? 1 : (c == ';' || c == '{' || c == '}') ? 2
                                                                                            : 0);
}
struct knames { struct kname *v; size_t n, cap; };

static void knames_add(struct knames *k, const char *id, size_t n)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->v = xrealloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = (struct kname){id, n};
}

/* Outside a __global__ declaration nothing counts, so the scan jumps from
 * one __global__ token to the next (memmem) and reads only the
 * declarations byte by byte, each up to its ';', '{' or '}'. Every byte is
 * looked at a bounded number of times. */
static void knames_scan(struct knames *k, const char *src)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    size_t len = strlen(src);
    const unsigned char *end = (const unsigned char *)src + len;
    const char *ext = memmem(src, len, "extern \"C\"", 10);
    const unsigned char *p = (const unsigned char *)src;
    pthread_once(&once, ctab_init);
    if (!ext)
        return;   /* no extern "C" anywhere: no kernel */
    while (p < end) {
        const unsigned char *q = memmem(p, (size_t)(end - p), "__global__", 10);
        if (!q)
            return;
        p = q + 10;
        if ((q > (const unsigned char *)src && ctab[q[-1]] == 1) || ctab[q[10]] == 1)
            continue;   /* part of a longer identifier */
        while (p < end && ctab[*p] != 2) {
            if (ctab[*p] != 1) {
                p++;
                continue;
            }
            bool digit = *p >= '0' && *p <= '9';
            const char *id = (const char *)p;
            while (ctab[*p] == 1)
                p++;
            size_t n = (size_t)((const char *)p - id);
            if (digit || id < ext + 10)
                continue;   /* a number, or before any extern "C" */
            const char *r = (const char *)p;
            while (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')
                r++;
            if (*r == '(')
                knames_add(k, id, n);
        }
    }
}

static int kname_cmp(const void *a, const void *b)
{
    const struct kname *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static bool knames_has(const struct knames *k, const char *name)
{
    struct kname key = {name, strlen(name)};
    return k->n && bsearch(&key, k->v, k->n, sizeof *k->v, kname_cmp) != NULL;
}

struct ref_ctx {
    const struct kf_definition *d;
    struct kf_err *err;
};

/* Launch-plan expressions: axis names and device facts only. */
static int plan_ref(void *c, const struct kf_expr_ref *r)
{
    struct ref_ctx *cx = c;
    if (r->kind != KF_REF_NAME)
        return kf_err_set(cx->err, KF_EINVAL, "",
                          "'%s' refers to tensor data or shapes; launch plans use axis names "
                          "and device facts only", r->name);
    if (kf_definition_axis(cx->d, r->name) || is_fact(r->name))
        return 0;
    if (kf_definition_input(cx->d, r->name) || kf_definition_output(cx->d, r->name))
        return kf_err_set(cx->err, KF_EINVAL, "",
                          "'%s' is a tensor; only axis names and device facts may appear in "
                          "expressions", r->name);
    return kf_err_set(cx->err, KF_EINVAL, "", "unknown name '%s' (not an axis or a device fact)",
                      r->name);
}

static int check_lexpr(const struct kf_lexpr *e, const struct kf_definition *d, const char *path,
                       struct kf_err *err)
{
    struct ref_ctx cx = {d, err};
    int rc;
    if (!e->expr)
        return 0;
    rc = kf_expr_walk_refs(e->expr, plan_ref, &cx);
    if (rc && err)
        snprintf(err->path, sizeof err->path, "%s", path);
    return rc;
}

static int check_arg(struct kf_launch_arg *a, const struct kf_definition *d, const char *path,
                     bool *out_seen, struct kf_err *err)
{
    int i;
    if (a->kind == KF_ARG_FLOAT || a->kind == KF_ARG_WORKSPACE)
        return 0;
    if (a->value.was_int)
        return 0;
    if (jp_is_ident(a->src)) {
        if ((i = kf_definition_input_index(d, a->src)) >= 0) {
            a->kind = d->inputs[i].is_scalar ? KF_ARG_SCALAR : KF_ARG_INPUT;
            a->index = i;
            return 0;
        }
        if ((i = kf_definition_output_index(d, a->src)) >= 0) {
            a->kind = KF_ARG_OUTPUT;
            a->index = i;
            out_seen[i] = true;
            return 0;
        }
    }
    a->kind = KF_ARG_INT;
    a->index = -1;
    return check_lexpr(&a->value, d, path, err);
}

int kf_solution_check(const struct kf_solution *cs, const struct kf_definition *d,
                      struct kf_err *err)
{
    struct kf_solution *s = (struct kf_solution *)cs; /* argument resolution, see model.h */
    struct kf_solution_spec *sp = &s->spec;
    char path[96];
    bool *seen = NULL;
    struct knames kn = {NULL, 0, 0};
    int rc = 0;

    if (strcmp(s->definition, d->name) != 0)
        return kf_err_set(err, KF_EINVAL, "definition", "solution is for '%s', not '%s'",
                          s->definition, d->name);
    if ((rc = kf_solution_check_compile_options(s, err)))
        return rc;
    if (!kf_solution_is_nvrtc(s))
        return 0;
    if (sp->has_dps && !sp->destination_passing_style)
        return kf_err_set(err, KF_EINVAL, "spec.destination_passing_style",
                          "the nvrtc lane writes outputs in place: must be true");
    for (int w = 0; w < sp->nworkspace; w++) {
        const char *n = sp->workspace[w].name;
        if (kf_definition_input(d, n) || kf_definition_output(d, n) ||
            kf_definition_axis(d, n)) {
            snprintf(path, sizeof path, "spec.workspace[%d].name", w);
            return kf_err_set(err, KF_EINVAL, path,
                              "'%s' is already an input, output or axis name", n);
        }
        snprintf(path, sizeof path, "spec.workspace[%d].bytes", w);
        if ((rc = check_lexpr(&sp->workspace[w].bytes, d, path, err)))
            return rc;
    }
    seen = xcalloc((size_t)d->noutputs + 1, sizeof *seen);
    for (int f = 0; f < s->nsources; f++)
        if (s->sources[f].content)
            knames_scan(&kn, s->sources[f].content);
    if (kn.n)
        qsort(kn.v, kn.n, sizeof *kn.v, kname_cmp);
    for (int i = 0; i < sp->nlaunch; i++) {
        struct kf_launch_step *st = &sp->launch[i];
        if (!knames_has(&kn, st->kernel)) {
            snprintf(path, sizeof path, "spec.launch[%d].kernel", i);
            rc = kf_err_set(err, KF_EINVAL, path,
                            "no extern \"C\" __global__ function '%s' in the sources", st->kernel);
            goto out;
        }
        for (int k = 0; k < st->ngrid; k++) {
            snprintf(path, sizeof path, "spec.launch[%d].grid[%d]", i, k);
            if ((rc = check_lexpr(&st->grid[k], d, path, err)))
                goto out;
        }
        for (int k = 0; k < st->nblock; k++) {
            snprintf(path, sizeof path, "spec.launch[%d].block[%d]", i, k);
            if ((rc = check_lexpr(&st->block[k], d, path, err)))
                goto out;
        }
        for (int k = 0; k < st->ncluster; k++) {
            snprintf(path, sizeof path, "spec.launch[%d].cluster[%d]", i, k);
            if ((rc = check_lexpr(&st->cluster[k], d, path, err)))
                goto out;
        }
        snprintf(path, sizeof path, "spec.launch[%d].shared_mem_bytes", i);
        if ((rc = check_lexpr(&st->shared_mem_bytes, d, path, err)))
            goto out;
        for (int a = 0; a < st->nargs; a++) {
            snprintf(path, sizeof path, "spec.launch[%d].args[%d]", i, a);
            if ((rc = check_arg(&st->args[a], d, path, seen, err)))
                goto out;
        }
    }
    for (int o = 0; o < d->noutputs; o++)
        if (!seen[o]) {
            rc = kf_err_set(err, KF_EINVAL, "spec.launch",
                            "output '%s' is not passed to any kernel", d->outputs[o].name);
            goto out;
        }
out:
    free(seen);
    free(kn.v);
    return rc;
}
