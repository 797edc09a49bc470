/* plan_check.c: launch plans checked at submit (see plan_check.h). */
#include "plan_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct pc {
    const struct kf_definition *d;
    const struct kf_workload *w;
    const char *uuid;
    int64_t *budget;
    struct kf_err *err;
};

/* Axes only (const ones from the definition, var ones from the workload):
 * a device fact (or anything else) is "not known here". */
static int resolve_axis(void *ctx, const struct kf_expr_ref *ref, int64_t *out)
{
    const struct pc *c = ctx;
    const struct kf_axis *a;
    if (ref->kind != KF_REF_NAME || !(a = kf_definition_axis(c->d, ref->name)))
        return KF_EUNSUP;
    if (a->is_const) {
        *out = a->value;
        return 0;
    }
    for (int i = 0; i < c->w->naxes; i++)
        if (strcmp(c->w->axes[i].name, ref->name) == 0) {
            *out = c->w->axes[i].value;
            return 0;
        }
    return KF_EUNSUP;   /* a var axis the workload lacks: the worker reports it */
}

/* Evaluate e for this workload into *v. 1: depends on the device (skipped),
 * 0: *v set and inside [lo, hi], else an error code with err set. */
/* Paths are formatted only for an error: "spec.launch[%d].grid[%d]" etc. */
#define PATH(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

static int eval(struct pc *c, const struct kf_lexpr *e, const char *fmt, int i, int k,
                int64_t lo, int64_t hi, int64_t *v)
{
    char path[96];
    if (!e->expr)
        return 1;
    *c->budget -= 1 + (int64_t)(e->src ? strlen(e->src) : 0);
    if (*c->budget < 0)
        return kf_err_set(c->err, KF_ETOOBIG, "spec.launch",
                          "the launch plan is too large to check over the selected workloads "
                          "(work budget of the request spent)");
    struct kf_err e2;
    kf_err_clear(&e2);
    int rc = kf_expr_eval(e->expr, resolve_axis, c, v, &e2);
    if (rc == KF_EUNSUP)
        return 1;
    if (rc)
        return kf_err_set(c->err, KF_EINVAL, PATH(path, fmt, i, k),
                          "'%s' cannot be evaluated for workload %s: %s",
                          e->src ? e->src : "?", c->uuid, e2.msg);
    if (*v < lo || *v > hi)
        return kf_err_set(c->err, KF_EINVAL, PATH(path, fmt, i, k),
                          "'%s' = %lld for workload %s: outside [%lld, %lld]",
                          e->src ? e->src : "?", (long long)*v, c->uuid, (long long)lo,
                          (long long)hi);
    return 0;
}

static int check_one(struct pc *c, const struct kf_solution_spec *sp, bool *nonzero, bool *evald)
{
    static const int64_t gmax[3] = {2147483647LL, 65535, 65535};
    static const int64_t bmax[3] = {1024, 1024, 64};
    char path[96];
    int64_t v;
    int rc;
    for (int w = 0; w < sp->nworkspace; w++) {
        if ((rc = eval(c, &sp->workspace[w].bytes, "spec.workspace[%d].bytes", w, 0, 0,
                       KF_PLAN_MAX_WORKSPACE, &v)) < 0)
            return rc;
    }
    for (int i = 0; i < sp->nlaunch; i++) {
        const struct kf_launch_step *st = &sp->launch[i];
        for (int k = 0; k < st->ngrid && k < 3; k++) {
            rc = eval(c, &st->grid[k], "spec.launch[%d].grid[%d]", i, k, 0, gmax[k], &v);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                evald[i * 3 + k] = true;
                nonzero[i * 3 + k] |= v != 0;
            }
        }
        int64_t threads = 1;
        bool all = true;
        for (int k = 0; k < st->nblock && k < 3; k++) {
            rc = eval(c, &st->block[k], "spec.launch[%d].block[%d]", i, k, 1, bmax[k], &v);
            if (rc < 0)
                return rc;
            if (rc == 0)
                threads *= v;
            else
                all = false;
        }
        if (all && threads > 1024) {
            snprintf(path, sizeof path, "spec.launch[%d].block", i);
            return kf_err_set(c->err, KF_EINVAL, path,
                              "%lld threads per block for workload %s (CUDA allows 1024)",
                              (long long)threads, c->uuid);
        }
        for (int k = 0; k < st->ncluster && k < 3; k++) {
            if ((rc = eval(c, &st->cluster[k], "spec.launch[%d].cluster[%d]", i, k, 1, 16,
                           &v)) < 0)
                return rc;
        }
        if ((rc = eval(c, &st->shared_mem_bytes, "spec.launch[%d].shared_mem_bytes", i, 0, 0,
                       4294967295LL, &v)) < 0)
            return rc;
        for (int a = 0; a < st->nargs; a++) {
            if (st->args[a].kind != KF_ARG_INT)
                continue;
            if ((rc = eval(c, &st->args[a].value, "spec.launch[%d].args[%d]", i, a, INT64_MIN,
                           INT64_MAX, &v)) < 0)
                return rc;
        }
    }
    return 0;
}

int kf_plan_check(const struct kf_solution *s, const struct kf_definition *d,
                  const struct kf_workload *const *w, int nw, int64_t *budget,
                  struct kf_err *err)
{
    const struct kf_solution_spec *sp = &s->spec;
    bool *nonzero = NULL, *evald = NULL;
    int rc = 0;
    if (!kf_solution_is_nvrtc(s) || sp->nlaunch <= 0)
        return 0;
    nonzero = xcalloc((size_t)sp->nlaunch * 3, sizeof *nonzero);
    evald = xcalloc((size_t)sp->nlaunch * 3, sizeof *evald);
    for (int i = 0; i < nw; i++) {
        struct pc c = {d, w[i], w[i]->uuid, budget, err};
        if ((rc = check_one(&c, sp, nonzero, evald)))
            goto out;
    }
    for (int i = 0; i < sp->nlaunch && nw > 0; i++)
        for (int k = 0; k < 3; k++)
            if (evald[i * 3 + k] && !nonzero[i * 3 + k]) {
                char path[64];
                snprintf(path, sizeof path, "spec.launch[%d].grid[%d]", i, k);
                rc = kf_err_set(err, KF_EINVAL, path,
                                "'%s' is 0 for every selected workload: the kernel would never run",
                                sp->launch[i].grid[k].src ? sp->launch[i].grid[k].src : "?");
                goto out;
            }
out:
    free(nonzero);
    free(evald);
    return rc;
}
