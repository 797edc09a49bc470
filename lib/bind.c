/* bind.c: axis binding (see bind.h). Const axes from the definition plus var
 * axes from the workload give every tensor's shape, element count and byte
 * size (checked for overflow); constraints are evaluated on request over
 * axes and shapes, and over tensor elements once data exists. A binding is immutable
 * once made: thread-safe to share.
 */
#include "bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "xalloc.h"

void kf_binding_free(struct kf_binding *b)
{
    if (!b)
        return;
    free(b->axis_values);
    free(b->inputs);
    free(b->outputs);
    free(b);
}

int kf_binding_axis(const struct kf_binding *b, const char *name, int64_t *out)
{
    for (int i = 0; b && name && i < b->def->naxes; i++)
        if (strcmp(b->def->axes[i].name, name) == 0) {
            *out = b->axis_values[i];
            return 0;
        }
    return KF_ENOENT;
}

static int shape_of(const struct kf_binding *b, const struct kf_tensor_spec *t,
                    struct kf_shape *s, size_t cap, struct kf_err *err)
{
    memset(s, 0, sizeof *s);
    s->numel = 1;
    if (!t->is_scalar) {
        s->ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++) {
            int64_t v = 0;
            kf_binding_axis(b, t->shape[k], &v);
            s->dims[k] = v;
            if (__builtin_mul_overflow(s->numel, v, &s->numel))
                return kf_err_set(err, KF_ETOOBIG, t->name, "element count overflows");
        }
    }
    s->nbytes = kf_dtype_nbytes(t->dtype, s->numel);
    if (s->numel > 0 && (uint64_t)s->numel > SIZE_MAX / 8)
        return kf_err_set(err, KF_ETOOBIG, t->name, "element count overflows");
    if (cap && s->nbytes > cap)
        return kf_err_set(err, KF_ETOOBIG, t->name, "%zu bytes, over the cap of %zu bytes",
                          s->nbytes, cap);
    return 0;
}

/* Resolve axis names, tensor shapes and (with data) tensor elements. */
struct res_ctx {
    const struct kf_binding *b;
    kf_input_data_fn data_fn;
    void *data_ctx;
    const char *const *fact_names;
    const int64_t *fact_values;
};

static int resolve(struct res_ctx *c, const struct kf_expr_ref *ref, int64_t *out)
{
    const struct kf_definition *d = c->b->def;
    const struct kf_shape *s = NULL;
    int i;

    if (ref->kind == KF_REF_NAME) {
        if (kf_binding_axis(c->b, ref->name, out) == 0)
            return 0;
        for (int k = 0; c->fact_names && c->fact_names[k]; k++)
            if (strcmp(c->fact_names[k], ref->name) == 0) {
                *out = c->fact_values[k];
                return 0;
            }
        return KF_ENOENT;
    }
    if ((i = kf_definition_input_index(d, ref->name)) >= 0)
        s = &c->b->inputs[i];
    else if (ref->kind == KF_REF_SHAPE && (i = kf_definition_output_index(d, ref->name)) >= 0)
        s = &c->b->outputs[i];
    if (!s)
        return KF_ENOENT;
    if (ref->kind == KF_REF_SHAPE) {
        int64_t k = ref->index < 0 ? ref->index + s->ndim : ref->index;
        if (k < 0 || k >= s->ndim)
            return KF_EINVAL;
        *out = s->dims[k];
        return 0;
    }
    /* element: needs host data */
    {
        const void *data;
        int64_t k = ref->index < 0 ? ref->index + s->numel : ref->index;
        double v;
        if (!c->data_fn || !(data = c->data_fn(c->data_ctx, i)))
            return KF_EUNSUP;
        if (k < 0 || k >= s->numel)
            return KF_EINVAL;
        v = kf_dtype_load(d->inputs[i].dtype, data, (size_t)k);
        if (!(v >= -9.2e18 && v <= 9.2e18))
            return KF_EINVAL;
        *out = (int64_t)v;
        return 0;
    }
}

static int resolve_cb(void *ctx, const struct kf_expr_ref *ref, int64_t *out)
{
    return resolve(ctx, ref, out);
}

static void axes_summary(const struct kf_binding *b, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < b->def->naxes && off + 1 < n; i++)
        if (!b->def->axes[i].is_const)
            off += (size_t)snprintf(buf + off, n - off, "%s%s=%lld", off ? " " : "",
                                    b->def->axes[i].name, (long long)b->axis_values[i]);
}

/* Evaluate constraints; those needing absent data are skipped. */
static int check_constraints(const struct kf_binding *b, struct res_ctx *c, struct kf_err *err)
{
    const struct kf_definition *d = b->def;
    for (int i = 0; i < d->nconstraints; i++) {
        struct kf_err e2;
        int64_t v;
        char path[32], axes[96];
        int rc;
        snprintf(path, sizeof path, "constraints[%d]", i);
        kf_err_clear(&e2);
        rc = kf_expr_eval(d->constraint_exprs[i], resolve_cb, c, &v, &e2);
        if (rc == KF_EUNSUP) /* data absent (not given, or an absent optional input) */
            continue;
        if (rc)
            return kf_err_set(err, KF_EINVAL, path, "cannot evaluate '%s': %s",
                              d->constraints[i], e2.msg);
        if (!v) {
            axes_summary(b, axes, sizeof axes);
            return kf_err_set(err, KF_EINVAL, path, "constraint '%s' does not hold (%s)",
                              d->constraints[i], axes);
        }
    }
    return 0;
}

int kf_bind(const struct kf_definition *d, const struct kf_workload *w, size_t max_tensor_bytes,
            struct kf_binding **out, struct kf_err *err)
{
    struct kf_binding *b = xcalloc(1, sizeof *b);
    int rc = 0;

    *out = NULL;
    b->def = d;
    b->axis_values = xcalloc((size_t)d->naxes + 1, sizeof *b->axis_values);
    b->inputs = xcalloc((size_t)d->ninputs + 1, sizeof *b->inputs);
    b->outputs = xcalloc((size_t)d->noutputs + 1, sizeof *b->outputs);
    for (int i = 0; i < d->naxes; i++) {
        const struct kf_axis *a = &d->axes[i];
        bool found = false;
        if (a->is_const) {
            b->axis_values[i] = a->value;
            continue;
        }
        for (int k = 0; w && k < w->naxes; k++)
            if (strcmp(w->axes[k].name, a->name) == 0) {
                b->axis_values[i] = w->axes[k].value;
                found = true;
            }
        if (!found) {
            rc = kf_err_set(err, KF_EINVAL, a->name, "var axis not set by the workload");
            jp_prefix(err, "axes");
            goto out;
        }
        if (b->axis_values[i] < 0) {
            rc = kf_err_set(err, KF_EINVAL, a->name, "must not be negative");
            jp_prefix(err, "axes");
            goto out;
        }
    }
    for (int i = 0; i < d->ninputs; i++)
        if ((rc = shape_of(b, &d->inputs[i], &b->inputs[i], max_tensor_bytes, err))) {
            kf_err_prefix(err, "inputs");
            goto out;
        }
    for (int i = 0; i < d->noutputs; i++)
        if ((rc = shape_of(b, &d->outputs[i], &b->outputs[i], max_tensor_bytes, err))) {
            kf_err_prefix(err, "outputs");
            goto out;
        }
    /* constraints are reported, not enforced: see bind.h */
    *out = b;
    b = NULL;
out:
    kf_binding_free(b);
    return rc;
}

int kf_binding_check_constraints(const struct kf_binding *b, kf_input_data_fn data_fn, void *ctx,
                                 struct kf_err *err)
{
    struct res_ctx c = {0};
    c.b = b;
    c.data_fn = data_fn;
    c.data_ctx = ctx;
    return check_constraints(b, &c, err);
}

int kf_bind_env_resolve(void *env, const struct kf_expr_ref *ref, int64_t *out)
{
    struct kf_bind_env *e = env;
    struct res_ctx c = {0};
    c.b = e->b;
    c.fact_names = e->fact_names;
    c.fact_values = e->fact_values;
    return resolve(&c, ref, out);
}
