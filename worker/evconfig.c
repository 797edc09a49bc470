/* evconfig.c: eval config layering. See evconfig.h. Thread-safe. */
#include "evconfig.h"

#include <string.h>

void ev_config_defaults(struct ev_config *c)
{
    memset(c, 0, sizeof *c);
    c->warmup = 10;
    c->iterations = 50;
    c->trials = 3;
    c->rtol = 1e-2;
    c->atol = 1e-2;
    c->required_matched_ratio = 1.0;
    c->workload_timeout_s = 300;
    c->check_only = 0;
    c->floor_margin = 0.8;
}

static int num(const json_t *v, double lo, double hi, double *out, const char *path,
               const char *key, struct kf_err *err)
{
    char p[160];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_is_number(v))
        return kf_err_set(err, KF_EINVAL, p, "must be a number");
    *out = json_number_value(v);
    if (!(*out >= lo && *out <= hi))
        return kf_err_set(err, KF_EINVAL, p, "%g is outside [%g, %g]", *out, lo, hi);
    return 0;
}

int ev_config_apply(struct ev_config *c, const json_t *layer, const char *path, struct kf_err *err)
{
    const char *key;
    json_t *v;
    double d;
    int rc;
    if (!layer || json_is_null(layer))
        return 0;
    if (!json_is_object(layer))
        return kf_err_set(err, KF_EINVAL, path, "must be an object");
    json_object_foreach((json_t *)layer, key, v) {
        if (!strcmp(key, "warmup") || !strcmp(key, "warmup_runs")) {
            if ((rc = num(v, 0, 10000, &d, path, key, err)))
                return rc;
            c->warmup = (int)d;
        } else if (!strcmp(key, "iterations")) {
            if ((rc = num(v, 1, 100000, &d, path, key, err)))
                return rc;
            c->iterations = (int)d;
        } else if (!strcmp(key, "trials") || !strcmp(key, "num_trials")) {
            if ((rc = num(v, 1, 100, &d, path, key, err)))
                return rc;
            c->trials = (int)d;
        } else if (!strcmp(key, "rtol")) {
            if ((rc = num(v, 0, 1e30, &c->rtol, path, key, err)))
                return rc;
        } else if (!strcmp(key, "atol")) {
            if ((rc = num(v, 0, 1e30, &c->atol, path, key, err)))
                return rc;
        } else if (!strcmp(key, "required_matched_ratio")) {
            if ((rc = num(v, 0, 1, &c->required_matched_ratio, path, key, err)))
                return rc;
        } else if (!strcmp(key, "workload_timeout_s") || !strcmp(key, "timeout_seconds") ||
                   !strcmp(key, "timeout")) {
            if ((rc = num(v, 0.001, 86400, &c->workload_timeout_s, path, key, err)))
                return rc;
        } else if (!strcmp(key, "floor_margin")) {
            if ((rc = num(v, 0, 1, &c->floor_margin, path, key, err)))
                return rc;
        } else if (!strcmp(key, "reference")) {
            char p[160];
            snprintf(p, sizeof p, "%s.%s", path, key);
            if (!json_is_string(v) || (strcmp(json_string_value(v), "native") &&
                                       strcmp(json_string_value(v), "pytorch")))
                return kf_err_set(err, KF_EINVAL, p, "must be \"native\" or \"pytorch\"");
            c->pytorch_reference = !strcmp(json_string_value(v), "pytorch");
        } else if (!strcmp(key, "check_only")) {
            char p[160];
            snprintf(p, sizeof p, "%s.%s", path, key);
            if (!json_is_boolean(v))
                return kf_err_set(err, KF_EINVAL, p, "must be a boolean");
            c->check_only = json_is_true(v);
        } else if (key[0] == '_' || !strcmp(key, "description") || !strcmp(key, "comment")) {
            continue;   /* documentation keys */
        } else {
            char p[160];
            snprintf(p, sizeof p, "%s.%s", path, key);
            return kf_err_set(err, KF_EINVAL, p, "unknown eval config key");
        }
    }
    return 0;
}

int ev_config_resolve(const json_t *file, const struct kf_definition *def, const json_t *request,
                      struct ev_config *out, struct kf_err *err)
{
    int rc;
    char p[200];
    ev_config_defaults(out);
    if (file) {
        const json_t *ot = json_object_get(file, "op_type"), *dd = json_object_get(file, "definition");
        if (!json_is_object(file))
            return kf_err_set(err, KF_EINVAL, "$", "eval config must be an object");
        if ((rc = ev_config_apply(out, json_object_get(file, "default"), "default", err)))
            return rc;
        if (def && def->op_type && json_is_object(ot)) {
            snprintf(p, sizeof p, "op_type.%s", def->op_type);
            if ((rc = ev_config_apply(out, json_object_get(ot, def->op_type), p, err)))
                return rc;
        }
        if (def && json_is_object(dd)) {
            snprintf(p, sizeof p, "definition.%s", def->name);
            if ((rc = ev_config_apply(out, json_object_get(dd, def->name), p, err)))
                return rc;
        }
    }
    /* Keys a submitter must not set for their own task: the floor guards the
     * ranking against impossible results, and which reference a speedup is
     * against is the board's choice, not a team's. */
    static const char *const operator_only[] = {"floor_margin", "reference"};
    for (size_t i = 0; i < sizeof operator_only / sizeof operator_only[0]; i++)
        if (json_is_object(request) && json_object_get(request, operator_only[i])) {
            snprintf(p, sizeof p, "config.%s", operator_only[i]);
            return kf_err_set(err, KF_EPERM, p,
                              "set by the operator's eval config only, not by a request");
        }
    return ev_config_apply(out, request, "config", err);
}

json_t *ev_config_to_json(const struct ev_config *c)
{
    return json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:b, s:f, s:s}", "warmup", c->warmup,
                     "iterations", c->iterations, "trials", c->trials, "rtol", c->rtol, "atol",
                     c->atol, "required_matched_ratio", c->required_matched_ratio,
                     "workload_timeout_s", c->workload_timeout_s, "check_only", c->check_only,
                     "floor_margin", c->floor_margin, "reference",
                     c->pytorch_reference ? "pytorch" : "native");
}
