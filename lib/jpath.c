/* jpath.c: see jpath.h. Thread-safe. */
#include "jpath.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

bool jp_string_ok(const json_t *s)
{
    return json_is_string(s) && strlen(json_string_value(s)) == json_string_length(s);
}

int jp_str(const json_t *obj, const char *key, int flags, char **out, struct kf_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (flags & JP_REQUIRED)
            return kf_err_set(err, KF_EINVAL, key, "required field missing");
        return 0;
    }
    if (json_is_null(v)) {
        if (flags & JP_NULLABLE)
            return 0;
        return kf_err_set(err, KF_EINVAL, key, "must be a string, not null");
    }
    if (!json_is_string(v))
        return kf_err_set(err, KF_EINVAL, key, "must be a string");
    if (!jp_string_ok(v))
        return kf_err_set(err, KF_EINVAL, key, "contains a NUL character");
    if ((flags & JP_NONEMPTY) && json_string_length(v) == 0)
        return kf_err_set(err, KF_EINVAL, key, "must not be empty");
    *out = xstrdup(json_string_value(v));
    return 0;
}

void jp_strv_free(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int jp_str_list(const json_t *obj, const char *key, int flags, char ***out, int *n,
                struct kf_err *err)
{
    json_t *v = json_object_get(obj, key), *x;
    char path[160];
    size_t i;
    *out = NULL;
    *n = 0;
    if (!v) {
        if (flags & JP_REQUIRED)
            return kf_err_set(err, KF_EINVAL, key, "required field missing");
        return 0;
    }
    if (json_is_null(v)) {
        if (flags & JP_NULLABLE)
            return 0;
        return kf_err_set(err, KF_EINVAL, key, "must be a list of strings, not null");
    }
    if (!json_is_array(v))
        return kf_err_set(err, KF_EINVAL, key, "must be a list of strings");
    if (json_array_size(v) > 100000)
        return kf_err_set(err, KF_ETOOBIG, key, "too many items");
    json_array_foreach(v, i, x) {
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        if (!json_is_string(x) || !jp_string_ok(x))
            return kf_err_set(err, KF_EINVAL, path, "must be a string");
        if ((flags & JP_NONEMPTY) && json_string_length(x) == 0)
            return kf_err_set(err, KF_EINVAL, path, "must not be empty");
    }
    *out = xcalloc(json_array_size(v) + 1, sizeof **out);
    json_array_foreach(v, i, x)
        (*out)[i] = xstrdup(json_string_value(x));
    *n = (int)json_array_size(v);
    return 0;
}

int jp_bool(const json_t *obj, const char *key, int flags, bool *present, bool *out,
            struct kf_err *err)
{
    json_t *v = json_object_get(obj, key);
    *present = false;
    if (!v || (json_is_null(v) && (flags & JP_NULLABLE))) {
        if (!v && (flags & JP_REQUIRED))
            return kf_err_set(err, KF_EINVAL, key, "required field missing");
        return 0;
    }
    if (!json_is_boolean(v))
        return kf_err_set(err, KF_EINVAL, key, "must be true or false");
    *present = true;
    *out = json_is_true(v);
    return 0;
}

json_t *jp_strv_json(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *jp_reorder(json_t *built, const json_t *orig)
{
    json_t *out, *bv, *ov;
    const char *k;
    size_t i;

    if (!orig || !built)
        return built;
    if (json_is_array(built) && json_is_array(orig) &&
        json_array_size(built) == json_array_size(orig)) {
        json_array_foreach(built, i, bv) {
            json_t *nv = jp_reorder(json_incref(bv), json_array_get(orig, i));
            json_array_set_new(built, i, nv);
        }
        return built;
    }
    if (!json_is_object(built) || !json_is_object(orig))
        return built;
    out = json_object();
    json_object_foreach((json_t *)orig, k, ov) {
        bv = json_object_get(built, k);
        if (bv)
            json_object_set_new(out, k, jp_reorder(json_incref(bv), ov));
        else
            json_object_set_new(out, k, json_deep_copy(ov));
    }
    json_object_foreach(built, k, bv)
        if (!json_object_get(out, k))
            json_object_set(out, k, bv);
    json_decref(built);
    return out;
}

void jp_prefix(struct kf_err *err, const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kf_err_prefix(err, buf);
}

bool jp_is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}
