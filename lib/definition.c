/* definition.c: FlashInfer-Trace Definition: strict parsing, lookups and
 * serialisation (see model.h).
 *
 * Follows flashinfer-bench's Definition model: name, op_type, axes, inputs,
 * outputs and reference required; tags, description, constraints optional
 * (null allowed); axes const (value >= 0) or var; tensor shape a list of
 * axis names or null (scalar); unknown keys ignored as pydantic does, but
 * kept for the round trip. Added checks: constraints parse in kernelfarm's
 * expression language and name only axes and tensors, and those over const
 * axes alone hold; input and output
 * names do not clash; "optional" is a bool on inputs only; the reference
 * defines run(). Parsed objects are immutable: thread-safe to share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "model.h"
#include "xalloc.h"

static void tensor_spec_clear(struct kf_tensor_spec *t)
{
    free(t->name);
    jp_strv_free(t->shape, t->ndim);
    free(t->description);
}

void kf_definition_free(struct kf_definition *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->op_type);
    free(d->description);
    jp_strv_free(d->tags, d->ntags);
    for (int i = 0; i < d->naxes; i++) {
        free(d->axes[i].name);
        free(d->axes[i].description);
    }
    free(d->axes);
    jp_strv_free(d->constraints, d->nconstraints);
    if (d->constraint_exprs)
        for (int i = 0; i < d->nconstraints; i++)
            kf_expr_free(d->constraint_exprs[i]);
    free(d->constraint_exprs);
    for (int i = 0; i < d->ninputs; i++)
        tensor_spec_clear(&d->inputs[i]);
    free(d->inputs);
    for (int i = 0; i < d->noutputs; i++)
        tensor_spec_clear(&d->outputs[i]);
    free(d->outputs);
    free(d->reference);
    json_decref(d->json);
    free(d);
}

const struct kf_axis *kf_definition_axis(const struct kf_definition *d, const char *name)
{
    for (int i = 0; d && name && i < d->naxes; i++)
        if (strcmp(d->axes[i].name, name) == 0)
            return &d->axes[i];
    return NULL;
}

int kf_definition_input_index(const struct kf_definition *d, const char *name)
{
    for (int i = 0; d && name && i < d->ninputs; i++)
        if (strcmp(d->inputs[i].name, name) == 0)
            return i;
    return -1;
}

int kf_definition_output_index(const struct kf_definition *d, const char *name)
{
    for (int i = 0; d && name && i < d->noutputs; i++)
        if (strcmp(d->outputs[i].name, name) == 0)
            return i;
    return -1;
}

const struct kf_tensor_spec *kf_definition_input(const struct kf_definition *d, const char *name)
{
    int i = kf_definition_input_index(d, name);
    return i < 0 ? NULL : &d->inputs[i];
}

const struct kf_tensor_spec *kf_definition_output(const struct kf_definition *d, const char *name)
{
    int i = kf_definition_output_index(d, name);
    return i < 0 ? NULL : &d->outputs[i];
}

/* ---- parsing --------------------------------------------------------------- */

static int parse_axes(const json_t *j, struct kf_definition *d, struct kf_err *err)
{
    json_t *axes = json_object_get(j, "axes"), *v, *x;
    const char *k;
    int rc;

    if (!axes)
        return kf_err_set(err, KF_EINVAL, "axes", "required field missing");
    if (!json_is_object(axes))
        return kf_err_set(err, KF_EINVAL, "axes", "must be an object of axis name -> axis");
    d->axes = xcalloc(json_object_size(axes) + 1, sizeof *d->axes);
    json_object_foreach(axes, k, v) {
        struct kf_axis *a = &d->axes[d->naxes];
        char *type = NULL;
        if (!*k)
            return kf_err_set(err, KF_EINVAL, "axes", "axis name must not be empty");
        if (!json_is_object(v)) {
            rc = kf_err_set(err, KF_EINVAL, "", "axis must be an object");
            goto fail;
        }
        if ((rc = jp_str(v, "type", JP_REQUIRED, &type, err)))
            goto fail;
        a->name = xstrdup(k);
        d->naxes++;
        if (strcmp(type, "const") == 0) {
            a->is_const = true;
            x = json_object_get(v, "value");
            if (!x)
                rc = kf_err_set(err, KF_EINVAL, "value", "required for a const axis");
            else if (!json_is_integer(x) || json_integer_value(x) < 0)
                rc = kf_err_set(err, KF_EINVAL, "value", "must be a non-negative integer");
            else
                a->value = json_integer_value(x);
        } else if (strcmp(type, "var") != 0) {
            rc = kf_err_set(err, KF_EINVAL, "type", "must be \"const\" or \"var\", not \"%s\"",
                            type);
        }
        free(type);
        if (rc)
            goto fail;
        if ((rc = jp_str(v, "description", JP_NULLABLE, &a->description, err)))
            goto fail;
        continue;
    fail:
        jp_prefix(err, "%s", k);
        jp_prefix(err, "axes");
        return rc;
    }
    return 0;
}

static int parse_tensors(const json_t *j, const char *field, struct kf_definition *d,
                         struct kf_err *err)
{
    json_t *obj = json_object_get(j, field), *v, *shape, *x;
    struct kf_tensor_spec **arr = strcmp(field, "inputs") == 0 ? &d->inputs : &d->outputs;
    int *n = strcmp(field, "inputs") == 0 ? &d->ninputs : &d->noutputs;
    bool is_input = arr == &d->inputs;
    const char *k;
    size_t i;
    int rc = 0;

    if (!obj)
        return kf_err_set(err, KF_EINVAL, field, "required field missing");
    if (!json_is_object(obj))
        return kf_err_set(err, KF_EINVAL, field, "must be an object of tensor name -> spec");
    *arr = xcalloc(json_object_size(obj) + 1, sizeof **arr);
    json_object_foreach(obj, k, v) {
        struct kf_tensor_spec *t = &(*arr)[*n];
        char *dt = NULL;
        bool present = false, opt = false;
        if (!*k)
            return kf_err_set(err, KF_EINVAL, field, "tensor name must not be empty");
        if (!is_input && kf_definition_input(d, k)) {
            rc = kf_err_set(err, KF_EINVAL, "", "name '%s' is also an input", k);
            goto fail;
        }
        if (!json_is_object(v)) {
            rc = kf_err_set(err, KF_EINVAL, "", "tensor spec must be an object");
            goto fail;
        }
        t->name = xstrdup(k);
        (*n)++;
        shape = json_object_get(v, "shape");
        if (!shape) {
            rc = kf_err_set(err, KF_EINVAL, "shape", "required field missing (null for a scalar)");
            goto fail;
        }
        if (json_is_null(shape)) {
            t->is_scalar = true;
        } else if (!json_is_array(shape)) {
            rc = kf_err_set(err, KF_EINVAL, "shape", "must be a list of axis names or null");
            goto fail;
        } else if (json_array_size(shape) > KF_MAX_DIMS) {
            rc = kf_err_set(err, KF_EINVAL, "shape", "more than %d dimensions", KF_MAX_DIMS);
            goto fail;
        } else {
            t->shape = xcalloc(json_array_size(shape) + 1, sizeof *t->shape);
            json_array_foreach(shape, i, x) {
                char p[32];
                snprintf(p, sizeof p, "shape[%zu]", i);
                if (!json_is_string(x) || !jp_string_ok(x) || !json_string_length(x)) {
                    rc = kf_err_set(err, KF_EINVAL, p, "must be an axis name");
                    goto fail;
                }
                if (!kf_definition_axis(d, json_string_value(x))) {
                    rc = kf_err_set(err, KF_EINVAL, p, "unknown axis '%s'", json_string_value(x));
                    goto fail;
                }
                t->shape[t->ndim++] = xstrdup(json_string_value(x));
            }
        }
        if ((rc = jp_str(v, "dtype", JP_REQUIRED, &dt, err)))
            goto fail;
        t->dtype = kf_dtype_from_name(dt);
        if (t->dtype == KF_DT_INVALID) {
            rc = kf_err_set(err, KF_EINVAL, "dtype", "unknown dtype '%s'", dt);
            free(dt);
            goto fail;
        }
        free(dt);
        if ((rc = jp_str(v, "description", JP_NULLABLE, &t->description, err)))
            goto fail;
        if ((rc = jp_bool(v, "optional", JP_NULLABLE, &present, &opt, err)))
            goto fail;
        if (present && opt && !is_input) {
            rc = kf_err_set(err, KF_EINVAL, "optional", "outputs cannot be optional");
            goto fail;
        }
        t->optional = present && opt;
        continue;
    fail:
        jp_prefix(err, "%s", k);
        jp_prefix(err, "%s", field);
        return rc;
    }
    return 0;
}

struct cref_ctx {
    const struct kf_definition *d;
    struct kf_err *err;
};

static int check_constraint_ref(void *c, const struct kf_expr_ref *r)
{
    struct cref_ctx *cx = c;
    const struct kf_tensor_spec *t;
    if (r->kind == KF_REF_NAME) {
        if (kf_definition_axis(cx->d, r->name))
            return 0;
        return kf_err_set(cx->err, KF_EINVAL, "", "unknown axis '%s'", r->name);
    }
    t = kf_definition_input(cx->d, r->name);
    if (!t && r->kind == KF_REF_SHAPE)
        t = kf_definition_output(cx->d, r->name);
    if (!t)
        return kf_err_set(cx->err, KF_EINVAL, "", "unknown %s '%s'",
                          r->kind == KF_REF_SHAPE ? "tensor" : "input", r->name);
    if (t->is_scalar)
        return kf_err_set(cx->err, KF_EINVAL, "", "'%s' is a scalar, not a tensor", r->name);
    if (r->kind == KF_REF_SHAPE && (r->index >= t->ndim || r->index < -t->ndim))
        return kf_err_set(cx->err, KF_EINVAL, "", "'%s' has %d dimensions, no shape[%lld]",
                          r->name, t->ndim, (long long)r->index);
    return 0;
}

/* Constraints over const axes alone are facts of the definition itself:
 * they must hold. */
static int only_const_ref(void *c, const struct kf_expr_ref *r)
{
    const struct kf_axis *a = kf_definition_axis(c, r->name);
    return r->kind == KF_REF_NAME && a && a->is_const ? 0 : 1;
}

static int const_value(void *c, const struct kf_expr_ref *r, int64_t *out)
{
    const struct kf_axis *a = kf_definition_axis(c, r->name);
    if (!a || !a->is_const)
        return KF_ENOENT;
    *out = a->value;
    return 0;
}

static int check_const_constraint(const struct kf_definition *d, int i, struct kf_err *err)
{
    int64_t v = 0;
    int rc;
    if (kf_expr_walk_refs(d->constraint_exprs[i], only_const_ref, (void *)d) != 0)
        return 0; /* depends on the workload */
    rc = kf_expr_eval(d->constraint_exprs[i], const_value, (void *)d, &v, err);
    if (rc)
        return rc;
    if (!v)
        return kf_err_set(err, KF_EINVAL, "", "'%s' does not hold for the const axes",
                          d->constraints[i]);
    return 0;
}

/* The reference must define a top-level run(); a light textual check. */
static bool has_run(const char *src)
{
    const char *p = src;
    while ((p = strstr(p, "def run")) != NULL) {
        const char *q = p + 7;
        bool line_start = p == src || p[-1] == '\n';
        while (*q == ' ' || *q == '\t')
            q++;
        if (line_start && *q == '(')
            return true;
        p += 7;
    }
    return false;
}

int kf_definition_from_json(const json_t *j, struct kf_definition **out, struct kf_err *err)
{
    struct kf_definition *d = xcalloc(1, sizeof *d);
    int rc;

    *out = NULL;
    if (!json_is_object(j)) {
        rc = kf_err_set(err, KF_EINVAL, "$", "a definition must be a JSON object");
        goto out;
    }
    if ((rc = jp_str(j, "name", JP_REQUIRED | JP_NONEMPTY, &d->name, err)) ||
        (rc = jp_str(j, "op_type", JP_REQUIRED | JP_NONEMPTY, &d->op_type, err)) ||
        (rc = jp_str(j, "description", JP_NULLABLE, &d->description, err)) ||
        (rc = jp_str_list(j, "tags", JP_NULLABLE | JP_NONEMPTY, &d->tags, &d->ntags, err)) ||
        (rc = parse_axes(j, d, err)) || (rc = parse_tensors(j, "inputs", d, err)) ||
        (rc = parse_tensors(j, "outputs", d, err)) ||
        (rc = jp_str_list(j, "constraints", JP_NULLABLE | JP_NONEMPTY, &d->constraints,
                          &d->nconstraints, err)) ||
        (rc = jp_str(j, "reference", JP_REQUIRED | JP_NONEMPTY, &d->reference, err)))
        goto out;
    if (!has_run(d->reference)) {
        rc = kf_err_set(err, KF_EINVAL, "reference", "must define a top-level function run()");
        goto out;
    }
    d->constraint_exprs = xcalloc((size_t)d->nconstraints + 1, sizeof *d->constraint_exprs);
    for (int i = 0; i < d->nconstraints; i++) {
        struct cref_ctx cx = {d, err};
        if ((rc = kf_expr_parse(d->constraints[i], &d->constraint_exprs[i], err)) ||
            (rc = kf_expr_walk_refs(d->constraint_exprs[i], check_constraint_ref, &cx)) ||
            (rc = check_const_constraint(d, i, err))) {
            char p[32];
            snprintf(p, sizeof p, "constraints[%d]", i);
            if (err)
                snprintf(err->path, sizeof err->path, "%s", p);
            goto out;
        }
    }
    d->json = json_deep_copy(j);
    if (json_object_get(d->json, "reference"))
        json_object_set_new(d->json, "reference", json_null());
    *out = d;
    d = NULL;
out:
    kf_definition_free(d);
    return rc;
}

/* ---- serialisation --------------------------------------------------------- */

static json_t *tensors_json(const struct kf_tensor_spec *t, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "shape", t[i].is_scalar ? json_null()
                                                        : jp_strv_json(t[i].shape, t[i].ndim));
        json_object_set_new(s, "dtype", json_string(kf_dtype_name(t[i].dtype)));
        if (t[i].description)
            json_object_set_new(s, "description", json_string(t[i].description));
        if (t[i].optional)
            json_object_set_new(s, "optional", json_true());
        json_object_set_new(o, t[i].name, s);
    }
    return o;
}

json_t *kf_definition_to_json(const struct kf_definition *d)
{
    json_t *o = json_object(), *axes = json_object();

    json_object_set_new(o, "name", json_string(d->name));
    if (d->description)
        json_object_set_new(o, "description", json_string(d->description));
    json_object_set_new(o, "op_type", json_string(d->op_type));
    if (d->tags)
        json_object_set_new(o, "tags", jp_strv_json(d->tags, d->ntags));
    for (int i = 0; i < d->naxes; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "type", json_string(d->axes[i].is_const ? "const" : "var"));
        if (d->axes[i].is_const)
            json_object_set_new(a, "value", json_integer(d->axes[i].value));
        if (d->axes[i].description)
            json_object_set_new(a, "description", json_string(d->axes[i].description));
        json_object_set_new(axes, d->axes[i].name, a);
    }
    json_object_set_new(o, "axes", axes);
    if (d->constraints)
        json_object_set_new(o, "constraints", jp_strv_json(d->constraints, d->nconstraints));
    json_object_set_new(o, "inputs", tensors_json(d->inputs, d->ninputs));
    json_object_set_new(o, "outputs", tensors_json(d->outputs, d->noutputs));
    if (d->reference)
        json_object_set_new(o, "reference", json_string(d->reference));
    return jp_reorder(o, d->json);
}
