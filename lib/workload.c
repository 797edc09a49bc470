/* workload.c: FlashInfer-Trace Workload: parsing (bare, or the dataset's
 * wrapped line), serialisation, and the check against a definition (see
 * model.h).
 *
 * Follows flashinfer-bench's Workload model: uuid (non-empty), axes (name ->
 * non-negative int), inputs (name -> {"type": "random"} | {"type":
 * "scalar", "value": int|float|bool} | {"type": "safetensors", "path",
 * "tensor_key"}). Unknown keys are ignored (kept for the round trip). Added:
 * safetensors paths must be relative without "..". Thread-safe once parsed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "jpath.h"
#include "model.h"
#include "xalloc.h"

void kf_workload_free(struct kf_workload *w)
{
    if (!w)
        return;
    free(w->uuid);
    for (int i = 0; i < w->naxes; i++)
        free(w->axes[i].name);
    free(w->axes);
    for (int i = 0; i < w->ninputs; i++) {
        free(w->inputs[i].name);
        free(w->inputs[i].path);
        free(w->inputs[i].tensor_key);
    }
    free(w->inputs);
    json_decref(w->json);
    free(w);
}

const struct kf_workload_input *kf_workload_input(const struct kf_workload *w, const char *name)
{
    for (int i = 0; w && name && i < w->ninputs; i++)
        if (strcmp(w->inputs[i].name, name) == 0)
            return &w->inputs[i];
    return NULL;
}

/* A relative path without "..", not absolute, no empty name. */
static bool rel_path_ok(const char *p)
{
    const char *s = p;
    if (!*p || *p == '/')
        return false;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        if (!e)
            break;
        s = e + 1;
    }
    return true;
}

static int parse_input(const char *name, const json_t *v, struct kf_workload_input *in,
                       struct kf_err *err)
{
    char *type = NULL;
    json_t *val;
    int rc;

    if (!json_is_object(v))
        return kf_err_set(err, KF_EINVAL, "", "input spec must be an object");
    if ((rc = jp_str(v, "type", JP_REQUIRED, &type, err)))
        return rc;
    in->name = xstrdup(name);
    if (strcmp(type, "random") == 0) {
        in->kind = KF_IN_RANDOM;
    } else if (strcmp(type, "scalar") == 0) {
        in->kind = KF_IN_SCALAR;
        val = json_object_get(v, "value");
        if (!val) {
            rc = kf_err_set(err, KF_EINVAL, "value", "required for a scalar input");
        } else if (json_is_boolean(val)) {
            in->scalar_is_bool = in->scalar_is_int = true;
            in->scalar_int = json_is_true(val);
            in->scalar_real = (double)in->scalar_int;
        } else if (json_is_integer(val)) {
            in->scalar_is_int = true;
            in->scalar_int = json_integer_value(val);
            in->scalar_real = (double)in->scalar_int;
        } else if (json_is_real(val)) {
            in->scalar_real = json_real_value(val);
            /* convert only what fits: casting 3.3e82 is undefined (found by make fuzz) */
            in->scalar_int = isfinite(in->scalar_real) && fabs(in->scalar_real) < 9.2e18
                                 ? (int64_t)in->scalar_real : 0;
        } else {
            rc = kf_err_set(err, KF_EINVAL, "value", "must be a number or a bool");
        }
    } else if (strcmp(type, "safetensors") == 0) {
        in->kind = KF_IN_SAFETENSORS;
        if (!(rc = jp_str(v, "path", JP_REQUIRED | JP_NONEMPTY, &in->path, err)) &&
            !(rc = jp_str(v, "tensor_key", JP_REQUIRED | JP_NONEMPTY, &in->tensor_key, err)) &&
            !rel_path_ok(in->path))
            rc = kf_err_set(err, KF_EINVAL, "path",
                            "must be relative to the dataset root, without '..'");
    } else {
        rc = kf_err_set(err, KF_EINVAL, "type",
                        "must be \"random\", \"scalar\" or \"safetensors\", not \"%s\"", type);
    }
    free(type);
    return rc;
}

static int parse_bare(const json_t *j, struct kf_workload *w, struct kf_err *err)
{
    json_t *axes, *inputs, *v;
    const char *k;
    int rc;

    if (!json_is_object(j))
        return kf_err_set(err, KF_EINVAL, "$", "a workload must be a JSON object");
    if ((rc = jp_str(j, "uuid", JP_REQUIRED | JP_NONEMPTY, &w->uuid, err)))
        return rc;
    axes = json_object_get(j, "axes");
    if (!axes)
        return kf_err_set(err, KF_EINVAL, "axes", "required field missing");
    if (!json_is_object(axes))
        return kf_err_set(err, KF_EINVAL, "axes", "must be an object of axis name -> integer");
    w->axes = xcalloc(json_object_size(axes) + 1, sizeof *w->axes);
    json_object_foreach(axes, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            kf_err_set(err, KF_EINVAL, k, "must be a non-negative integer");
            jp_prefix(err, "axes");
            return KF_EINVAL;
        }
        w->axes[w->naxes].name = xstrdup(k);
        w->axes[w->naxes++].value = json_integer_value(v);
    }
    inputs = json_object_get(j, "inputs");
    if (!inputs)
        return kf_err_set(err, KF_EINVAL, "inputs", "required field missing");
    if (!json_is_object(inputs))
        return kf_err_set(err, KF_EINVAL, "inputs", "must be an object of input name -> spec");
    w->inputs = xcalloc(json_object_size(inputs) + 1, sizeof *w->inputs);
    json_object_foreach(inputs, k, v) {
        rc = parse_input(k, v, &w->inputs[w->ninputs], err);
        if (w->inputs[w->ninputs].name)
            w->ninputs++;
        else
            free(w->inputs[w->ninputs].path); /* nothing else was set */
        if (rc) {
            jp_prefix(err, "%s", k);
            jp_prefix(err, "inputs");
            return rc;
        }
    }
    return 0;
}

static int null_or_absent(const json_t *j, const char *key, struct kf_err *err)
{
    json_t *v = json_object_get(j, key);
    if (v && !json_is_null(v))
        return kf_err_set(err, KF_EINVAL, key, "must be null in a workload line");
    return 0;
}

int kf_workload_from_json(const json_t *j, struct kf_workload **out, char **definition_name,
                          struct kf_err *err)
{
    struct kf_workload *w = xcalloc(1, sizeof *w);
    const json_t *inner = j;
    char *def = NULL;
    int rc = 0;

    *out = NULL;
    if (definition_name)
        *definition_name = NULL;
    if (!json_is_object(j)) {
        rc = kf_err_set(err, KF_EINVAL, "$", "a workload must be a JSON object");
        goto out;
    }
    if (json_object_get(j, "workload")) {
        if ((rc = jp_str(j, "definition", JP_REQUIRED | JP_NONEMPTY, &def, err)) ||
            (rc = null_or_absent(j, "solution", err)) ||
            (rc = null_or_absent(j, "evaluation", err)))
            goto out;
        inner = json_object_get(j, "workload");
        if (!json_is_object(inner)) {
            rc = kf_err_set(err, KF_EINVAL, "workload", "must be an object");
            goto out;
        }
        if ((rc = parse_bare(inner, w, err))) {
            kf_err_prefix(err, "workload");
            goto out;
        }
    } else if ((rc = parse_bare(j, w, err))) {
        goto out;
    }
    w->json = json_deep_copy(inner);
    *out = w;
    w = NULL;
    if (definition_name) {
        *definition_name = def;
        def = NULL;
    }
out:
    free(def);
    kf_workload_free(w);
    return rc;
}

json_t *kf_workload_to_json(const struct kf_workload *w)
{
    json_t *o = json_object(), *axes = json_object(), *inputs = json_object();
    json_object_set_new(o, "uuid", json_string(w->uuid));
    for (int i = 0; i < w->naxes; i++)
        json_object_set_new(axes, w->axes[i].name, json_integer(w->axes[i].value));
    json_object_set_new(o, "axes", axes);
    for (int i = 0; i < w->ninputs; i++) {
        const struct kf_workload_input *in = &w->inputs[i];
        json_t *s = json_object();
        switch (in->kind) {
        case KF_IN_RANDOM:
            json_object_set_new(s, "type", json_string("random"));
            break;
        case KF_IN_SCALAR:
            json_object_set_new(s, "type", json_string("scalar"));
            json_object_set_new(s, "value",
                                in->scalar_is_bool  ? json_boolean(in->scalar_int)
                                : in->scalar_is_int ? json_integer(in->scalar_int)
                                                    : json_real(in->scalar_real));
            break;
        case KF_IN_SAFETENSORS:
            json_object_set_new(s, "type", json_string("safetensors"));
            json_object_set_new(s, "path", json_string(in->path));
            json_object_set_new(s, "tensor_key", json_string(in->tensor_key));
            break;
        }
        json_object_set_new(inputs, in->name, s);
    }
    json_object_set_new(o, "inputs", inputs);
    return jp_reorder(o, w->json);
}

json_t *kf_workload_line_to_json(const struct kf_workload *w, const char *definition)
{
    json_t *o = json_object();
    json_object_set_new(o, "definition", json_string(definition ? definition : ""));
    json_object_set_new(o, "solution", json_null());
    json_object_set_new(o, "workload", kf_workload_to_json(w));
    json_object_set_new(o, "evaluation", json_null());
    return o;
}

int kf_workload_check(const struct kf_workload *w, const struct kf_definition *d,
                      struct kf_err *err)
{
    struct kf_binding *b = NULL;
    int rc;

    for (int i = 0; i < w->naxes; i++) {
        const struct kf_axis *a = kf_definition_axis(d, w->axes[i].name);
        if (!a || a->is_const) {
            kf_err_set(err, KF_EINVAL, w->axes[i].name,
                       a ? "axis is const in definition '%s'; workloads set only var axes"
                         : "no such axis in definition '%s'",
                       d->name);
            jp_prefix(err, "axes");
            return KF_EINVAL;
        }
    }
    for (int i = 0; i < d->naxes; i++) {
        bool found = d->axes[i].is_const;
        for (int k = 0; !found && k < w->naxes; k++)
            found = strcmp(w->axes[k].name, d->axes[i].name) == 0;
        if (!found) {
            kf_err_set(err, KF_EINVAL, d->axes[i].name, "var axis not set by the workload");
            jp_prefix(err, "axes");
            return KF_EINVAL;
        }
    }
    for (int i = 0; i < w->ninputs; i++) {
        const struct kf_workload_input *in = &w->inputs[i];
        const struct kf_tensor_spec *t = kf_definition_input(d, in->name);
        const char *why = NULL;
        if (!t)
            why = "no such input in the definition";
        else if (t->is_scalar && in->kind != KF_IN_SCALAR)
            why = "a scalar input (shape null) must be given as {\"type\": \"scalar\"}";
        else if (!t->is_scalar && in->kind == KF_IN_SCALAR)
            why = "a scalar value for a tensor input";
        else if (in->kind == KF_IN_SCALAR && !kf_dtype_is_float(t->dtype) && !in->scalar_is_int)
            why = "a real value for an integer or bool scalar";
        else if (in->kind == KF_IN_SCALAR && t->dtype == KF_DT_BOOL && in->scalar_int != 0 &&
                 in->scalar_int != 1)
            why = "a bool scalar must be true/false or 0/1";
        if (why) {
            kf_err_set(err, KF_EINVAL, in->name, "%s", why);
            jp_prefix(err, "inputs");
            return KF_EINVAL;
        }
    }
    for (int i = 0; i < d->ninputs; i++) {
        if (!d->inputs[i].optional && !kf_workload_input(w, d->inputs[i].name)) {
            kf_err_set(err, KF_EINVAL, d->inputs[i].name, "required input not described");
            jp_prefix(err, "inputs");
            return KF_EINVAL;
        }
    }
    rc = kf_bind(d, w, 0, &b, err);
    kf_binding_free(b);
    return rc;
}

int kf_workload_check_constraints(const struct kf_workload *w, const struct kf_definition *d,
                                  struct kf_err *err)
{
    struct kf_binding *b = NULL;
    int rc = kf_bind(d, w, 0, &b, err);
    if (!rc)
        rc = kf_binding_check_constraints(b, NULL, NULL, err);
    kf_binding_free(b);
    return rc;
}
