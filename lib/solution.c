/* solution.c: FlashInfer-Trace Solution: structural parsing, the nvrtc
 * lane's launch plan syntax, and serialisation (see model.h). The semantic
 * check against a definition is in solution_check.c.
 *
 * Follows flashinfer-bench's Solution model: name, definition, author, spec
 * and sources (at least one) required; description optional; spec.language
 * one of python, triton, cpp, cuda, tilelang; target_hardware a non-empty
 * list; entry_point "<file>::<symbol>" with exactly one "::" naming a file
 * in sources; dependencies a list of strings; destination_passing_style a
 * bool; binding tvm-ffi, torch or (kernelfarm) nvrtc. Source paths are
 * relative, without "..", unique. Unknown keys are ignored (kept for the
 * round trip) except inside spec.launch / spec.workspace, kernelfarm's own
 * format, where they are rejected. Thread-safe once parsed (see
 * kf_solution_check for the one resolution step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "model.h"
#include "xalloc.h"

#define MAX_LAUNCH_STEPS 64
#define MAX_LAUNCH_ARGS 256
#define MAX_WORKSPACES 64

static const char *const languages[] = {"python", "triton", "cpp", "cuda", "tilelang", NULL};
static const char *const bindings[] = {"tvm-ffi", "torch", "nvrtc", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

static void lexpr_clear(struct kf_lexpr *e)
{
    free(e->src);
    kf_expr_free(e->expr);
    memset(e, 0, sizeof *e);
}

void kf_solution_free(struct kf_solution *s)
{
    struct kf_solution_spec *sp;
    if (!s)
        return;
    sp = &s->spec;
    free(s->name);
    free(s->definition);
    free(s->author);
    free(s->description);
    free(sp->language);
    free(sp->binding);
    jp_strv_free(sp->target_hardware, sp->ntarget_hardware);
    free(sp->entry_point);
    jp_strv_free(sp->dependencies, sp->ndependencies);
    jp_strv_free(sp->compile_options, sp->ncompile_options);
    for (int i = 0; i < sp->nlaunch; i++) {
        struct kf_launch_step *st = &sp->launch[i];
        free(st->kernel);
        for (int k = 0; k < 3; k++) {
            lexpr_clear(&st->grid[k]);
            lexpr_clear(&st->block[k]);
            lexpr_clear(&st->cluster[k]);
        }
        lexpr_clear(&st->shared_mem_bytes);
        for (int a = 0; a < st->nargs; a++) {
            free(st->args[a].src);
            lexpr_clear(&st->args[a].value);
        }
        free(st->args);
    }
    free(sp->launch);
    for (int i = 0; i < sp->nworkspace; i++) {
        free(sp->workspace[i].name);
        lexpr_clear(&sp->workspace[i].bytes);
    }
    free(sp->workspace);
    for (int i = 0; i < s->nsources; i++) {
        free(s->sources[i].path);
        free(s->sources[i].content);
    }
    free(s->sources);
    json_decref(s->json);
    free(s);
}

bool kf_solution_is_nvrtc(const struct kf_solution *s)
{
    return s && s->spec.language && s->spec.binding && strcmp(s->spec.language, "cuda") == 0 &&
           strcmp(s->spec.binding, "nvrtc") == 0;
}

/* ---- launch plan ----------------------------------------------------------- */

/* An integer or an expression string. path is the field's own path. */
static int parse_lexpr(const json_t *v, const char *path, struct kf_lexpr *e, struct kf_err *err)
{
    int rc;
    if (json_is_integer(v)) {
        e->src = xasprintf("%lld", (long long)json_integer_value(v));
        e->was_int = true;
    } else if (json_is_string(v) && jp_string_ok(v)) {
        e->src = xstrdup(json_string_value(v));
    } else {
        return kf_err_set(err, KF_EINVAL, path, "must be an integer or an expression string");
    }
    rc = kf_expr_parse(e->src, &e->expr, err);
    if (rc && err)
        snprintf(err->path, sizeof err->path, "%s", path);
    return rc;
}

static int parse_dims(const json_t *step, const char *key, bool required, struct kf_lexpr *out,
                      int *n, struct kf_err *err)
{
    json_t *v = json_object_get(step, key), *x;
    size_t i;
    *n = 0;
    if (!v) {
        if (required)
            return kf_err_set(err, KF_EINVAL, key, "required field missing");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 3)
        return kf_err_set(err, KF_EINVAL, key, "must be a list of 1 to 3 dimensions");
    json_array_foreach(v, i, x) {
        char p[48];
        int rc;
        snprintf(p, sizeof p, "%s[%zu]", key, i);
        rc = parse_lexpr(x, p, &out[i], err);
        if (out[i].src)
            *n = (int)i + 1;
        if (rc)
            return rc;
    }
    return 0;
}

static const char *const step_keys[] = {"kernel", "grid", "block", "shared_mem_bytes", "cluster",
                                        "args", NULL};
static const char *const ws_keys[] = {"name", "bytes", "zero", NULL};

static int only_keys(const json_t *o, const char *const *keys, struct kf_err *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!in_list(keys, k))
            return kf_err_set(err, KF_EINVAL, k, "unknown field");
    }
    return 0;
}

static int workspace_index(const struct kf_solution_spec *sp, const char *name)
{
    for (int i = 0; i < sp->nworkspace; i++)
        if (strcmp(sp->workspace[i].name, name) == 0)
            return i;
    return -1;
}

static int parse_arg(const json_t *v, const struct kf_solution_spec *sp, struct kf_launch_arg *a,
                     struct kf_err *err)
{
    int rc;
    a->index = -1;
    if (json_is_integer(v)) {
        a->kind = KF_ARG_INT;
        a->src = xasprintf("%lld", (long long)json_integer_value(v));
        return parse_lexpr(v, "", &a->value, err);
    }
    if (json_is_real(v)) {
        a->kind = KF_ARG_FLOAT;
        a->fvalue = json_real_value(v);
        a->src = xasprintf("%.17g", a->fvalue);
        return 0;
    }
    if (!json_is_string(v) || !jp_string_ok(v) || !json_string_length(v))
        return kf_err_set(err, KF_EINVAL, "",
                          "must be a name (input, output, axis, workspace), an integer, a real "
                          "or an integer expression");
    a->src = xstrdup(json_string_value(v));
    if ((a->index = workspace_index(sp, a->src)) >= 0) {
        a->kind = KF_ARG_WORKSPACE;
        return 0;
    }
    a->kind = KF_ARG_INT; /* provisional: kf_solution_check resolves tensor names */
    rc = parse_lexpr(v, "", &a->value, err);
    return rc;
}

static int parse_step(const json_t *v, const struct kf_solution_spec *sp,
                      struct kf_launch_step *st, struct kf_err *err)
{
    json_t *args, *x;
    size_t i;
    int rc;

    if (!json_is_object(v))
        return kf_err_set(err, KF_EINVAL, "", "a launch step must be an object");
    if ((rc = only_keys(v, step_keys, err)) ||
        (rc = jp_str(v, "kernel", JP_REQUIRED | JP_NONEMPTY, &st->kernel, err)))
        return rc;
    if (!jp_is_ident(st->kernel))
        return kf_err_set(err, KF_EINVAL, "kernel", "'%s' is not a C identifier", st->kernel);
    if ((rc = parse_dims(v, "grid", true, st->grid, &st->ngrid, err)) ||
        (rc = parse_dims(v, "block", true, st->block, &st->nblock, err)) ||
        (rc = parse_dims(v, "cluster", false, st->cluster, &st->ncluster, err)))
        return rc;
    x = json_object_get(v, "shared_mem_bytes");
    if (x && (rc = parse_lexpr(x, "shared_mem_bytes", &st->shared_mem_bytes, err)))
        return rc;
    args = json_object_get(v, "args");
    if (!args)
        return kf_err_set(err, KF_EINVAL, "args", "required field missing");
    if (!json_is_array(args) || json_array_size(args) > MAX_LAUNCH_ARGS)
        return kf_err_set(err, KF_EINVAL, "args", "must be a list of at most %d arguments",
                          MAX_LAUNCH_ARGS);
    st->args = xcalloc(json_array_size(args) + 1, sizeof *st->args);
    json_array_foreach(args, i, x) {
        rc = parse_arg(x, sp, &st->args[i], err);
        st->nargs = (int)i + 1;
        if (rc) {
            jp_prefix(err, "args[%zu]", i);
            return rc;
        }
    }
    return 0;
}

static int parse_workspace(const json_t *v, struct kf_solution_spec *sp, struct kf_workspace *w,
                           struct kf_err *err)
{
    json_t *x;
    bool present = false;
    int rc;
    if (!json_is_object(v))
        return kf_err_set(err, KF_EINVAL, "", "a workspace must be an object");
    if ((rc = only_keys(v, ws_keys, err)) ||
        (rc = jp_str(v, "name", JP_REQUIRED | JP_NONEMPTY, &w->name, err)))
        return rc;
    if (!jp_is_ident(w->name))
        return kf_err_set(err, KF_EINVAL, "name", "'%s' is not an identifier", w->name);
    if (workspace_index(sp, w->name) >= 0)
        return kf_err_set(err, KF_EINVAL, "name", "duplicate workspace '%s'", w->name);
    x = json_object_get(v, "bytes");
    if (!x)
        return kf_err_set(err, KF_EINVAL, "bytes", "required field missing");
    if ((rc = parse_lexpr(x, "bytes", &w->bytes, err)))
        return rc;
    return jp_bool(v, "zero", 0, &present, &w->zero, err);
}

static int parse_plan(const json_t *spec, struct kf_solution_spec *sp, bool nvrtc,
                      struct kf_err *err)
{
    json_t *launch = json_object_get(spec, "launch"), *ws = json_object_get(spec, "workspace"), *x;
    size_t i;
    int rc;

    if (!nvrtc) {
        if (launch)
            return kf_err_set(err, KF_EINVAL, "launch",
                              "only the nvrtc lane (language cuda, binding nvrtc) has a launch plan");
        if (ws)
            return kf_err_set(err, KF_EINVAL, "workspace",
                              "only the nvrtc lane (language cuda, binding nvrtc) has workspaces");
        return 0;
    }
    if (ws && !json_is_null(ws)) {
        if (!json_is_array(ws) || json_array_size(ws) > MAX_WORKSPACES)
            return kf_err_set(err, KF_EINVAL, "workspace", "must be a list of at most %d workspaces",
                              MAX_WORKSPACES);
        sp->workspace = xcalloc(json_array_size(ws) + 1, sizeof *sp->workspace);
        json_array_foreach(ws, i, x) {
            rc = parse_workspace(x, sp, &sp->workspace[i], err);
            sp->nworkspace = (int)i + 1;
            if (rc) {
                jp_prefix(err, "[%zu]", i);
                kf_err_prefix(err, "workspace");
                return rc;
            }
        }
    }
    if (!launch)
        return kf_err_set(err, KF_EINVAL, "launch", "the nvrtc lane needs a launch plan");
    if (!json_is_array(launch) || json_array_size(launch) < 1 ||
        json_array_size(launch) > MAX_LAUNCH_STEPS)
        return kf_err_set(err, KF_EINVAL, "launch", "must be a list of 1 to %d launch steps",
                          MAX_LAUNCH_STEPS);
    sp->launch = xcalloc(json_array_size(launch) + 1, sizeof *sp->launch);
    json_array_foreach(launch, i, x) {
        rc = parse_step(x, sp, &sp->launch[i], err);
        sp->nlaunch = (int)i + 1;
        if (rc) {
            jp_prefix(err, "[%zu]", i);
            kf_err_prefix(err, "launch");
            return rc;
        }
    }
    return 0;
}

/* ---- sources and spec ------------------------------------------------------ */

static bool src_path_ok(const char *p, const char **why)
{
    const char *s = p;
    if (p[0] == '/') {
        *why = "must be relative, not absolute";
        return false;
    }
    if (strchr(p, '\\')) {
        *why = "must use '/' separators";
        return false;
    }
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            *why = "must not contain '..'";
            return false;
        }
        if (n == 0) {
            *why = "must not contain an empty path component";
            return false;
        }
        if (!e)
            break;
        s = e + 1;
    }
    if (p[strlen(p) - 1] == '/') {
        *why = "must name a file";
        return false;
    }
    return true;
}

static int parse_sources(const json_t *j, struct kf_solution *s, struct kf_err *err)
{
    json_t *src = json_object_get(j, "sources"), *x;
    size_t i;
    int rc;
    if (!src)
        return kf_err_set(err, KF_EINVAL, "sources", "required field missing");
    if (!json_is_array(src) || json_array_size(src) < 1)
        return kf_err_set(err, KF_EINVAL, "sources", "must be a non-empty list of {path, content}");
    if (json_array_size(src) > 10000)
        return kf_err_set(err, KF_ETOOBIG, "sources", "too many source files");
    s->sources = xcalloc(json_array_size(src) + 1, sizeof *s->sources);
    json_array_foreach(src, i, x) {
        struct kf_source *f = &s->sources[i];
        const char *why = NULL;
        char p[48];
        snprintf(p, sizeof p, "sources[%zu]", i);
        if (!json_is_object(x))
            return kf_err_set(err, KF_EINVAL, p, "must be an object {path, content}");
        rc = jp_str(x, "path", JP_REQUIRED | JP_NONEMPTY, &f->path, err);
        if (!rc)
            rc = jp_str(x, "content", JP_REQUIRED, &f->content, err);
        if (f->path || f->content)
            s->nsources = (int)i + 1;
        if (!rc && !src_path_ok(f->path, &why))
            rc = kf_err_set(err, KF_EINVAL, "path", "'%s' %s", f->path, why);
        for (size_t k = 0; !rc && k < i; k++)
            if (strcmp(s->sources[k].path, f->path) == 0)
                rc = kf_err_set(err, KF_EINVAL, "path", "duplicate source path '%s'", f->path);
        if (rc) {
            kf_err_prefix(err, p);
            return rc;
        }
    }
    return 0;
}

static int parse_spec(const json_t *j, struct kf_solution *s, struct kf_err *err)
{
    json_t *spec = json_object_get(j, "spec");
    struct kf_solution_spec *sp = &s->spec;
    const char *sep;
    int rc;

    if (!spec)
        return kf_err_set(err, KF_EINVAL, "spec", "required field missing");
    if (!json_is_object(spec))
        return kf_err_set(err, KF_EINVAL, "spec", "must be an object");
    if ((rc = jp_str(spec, "language", JP_REQUIRED | JP_NONEMPTY, &sp->language, err)))
        goto out;
    if (!in_list(languages, sp->language)) {
        rc = kf_err_set(err, KF_EINVAL, "language",
                        "'%s' is not one of python, triton, cpp, cuda, tilelang", sp->language);
        goto out;
    }
    if ((rc = jp_str(spec, "binding", JP_NULLABLE, &sp->binding, err)))
        goto out;
    if (sp->binding && !in_list(bindings, sp->binding)) {
        rc = kf_err_set(err, KF_EINVAL, "binding", "'%s' is not one of tvm-ffi, torch, nvrtc",
                        sp->binding);
        goto out;
    }
    if (sp->binding && strcmp(sp->binding, "nvrtc") == 0 && strcmp(sp->language, "cuda") != 0) {
        rc = kf_err_set(err, KF_EINVAL, "binding", "the nvrtc binding needs language cuda");
        goto out;
    }
    if ((rc = jp_str_list(spec, "target_hardware", JP_REQUIRED | JP_NONEMPTY,
                          &sp->target_hardware, &sp->ntarget_hardware, err)))
        goto out;
    if (sp->ntarget_hardware < 1) {
        rc = kf_err_set(err, KF_EINVAL, "target_hardware", "must list at least one target");
        goto out;
    }
    if ((rc = jp_str(spec, "entry_point", JP_REQUIRED | JP_NONEMPTY, &sp->entry_point, err)))
        goto out;
    sep = strstr(sp->entry_point, "::");
    if (!sep || strstr(sep + 2, "::") || sep == sp->entry_point || !sep[2]) {
        rc = kf_err_set(err, KF_EINVAL, "entry_point", "'%s' is not \"<file>::<symbol>\"",
                        sp->entry_point);
        goto out;
    }
    if ((rc = jp_str_list(spec, "dependencies", JP_NULLABLE, &sp->dependencies,
                          &sp->ndependencies, err)) ||
        (rc = jp_bool(spec, "destination_passing_style", JP_NULLABLE, &sp->has_dps,
                      &sp->destination_passing_style, err)) ||
        (rc = jp_str_list(spec, "compile_options", JP_NULLABLE, &sp->compile_options,
                          &sp->ncompile_options, err)))
        goto out;
    if (sp->ncompile_options > 64) {
        rc = kf_err_set(err, KF_EINVAL, "compile_options", "at most 64 flags");
        goto out;
    }
    rc = parse_plan(spec, sp, kf_solution_is_nvrtc(s), err);
out:
    if (rc)
        kf_err_prefix(err, "spec");
    return rc;
}

int kf_solution_from_json(const json_t *j, struct kf_solution **out, struct kf_err *err)
{
    struct kf_solution *s = xcalloc(1, sizeof *s);
    const char *ep;
    size_t flen;
    bool found = false;
    int rc;
    json_t *srcs;
    size_t i;

    *out = NULL;
    if (!json_is_object(j)) {
        rc = kf_err_set(err, KF_EINVAL, "$", "a solution must be a JSON object");
        goto out;
    }
    if ((rc = jp_str(j, "name", JP_REQUIRED | JP_NONEMPTY, &s->name, err)) ||
        (rc = jp_str(j, "definition", JP_REQUIRED | JP_NONEMPTY, &s->definition, err)) ||
        (rc = jp_str(j, "author", JP_REQUIRED | JP_NONEMPTY, &s->author, err)) ||
        (rc = jp_str(j, "description", JP_NULLABLE, &s->description, err)) ||
        (rc = parse_spec(j, s, err)) || (rc = parse_sources(j, s, err)))
        goto out;
    ep = s->spec.entry_point;
    flen = (size_t)(strstr(ep, "::") - ep);
    for (int k = 0; k < s->nsources; k++)
        if (strlen(s->sources[k].path) == flen && strncmp(s->sources[k].path, ep, flen) == 0)
            found = true;
    if (!found) {
        rc = kf_err_set(err, KF_EINVAL, "spec.entry_point", "file '%.*s' is not among the sources",
                        (int)flen, ep);
        goto out;
    }
    s->json = json_deep_copy(j);
    srcs = json_object_get(s->json, "sources");
    for (i = 0; i < json_array_size(srcs); i++)
        json_object_set_new(json_array_get(srcs, i), "content", json_null());
    *out = s;
    s = NULL;
out:
    kf_solution_free(s);
    return rc;
}

/* ---- serialisation --------------------------------------------------------- */

static json_t *lexpr_json(const struct kf_lexpr *e)
{
    if (e->was_int)
        return json_integer(strtoll(e->src, NULL, 10));
    return json_string(e->src);
}

static json_t *dims_json(const struct kf_lexpr *e, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, lexpr_json(&e[i]));
    return a;
}

json_t *kf_solution_to_json(const struct kf_solution *s)
{
    const struct kf_solution_spec *sp = &s->spec;
    json_t *o = json_object(), *spec = json_object(), *src = json_array();

    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "definition", json_string(s->definition));
    json_object_set_new(o, "author", json_string(s->author));
    if (s->description)
        json_object_set_new(o, "description", json_string(s->description));
    json_object_set_new(spec, "language", json_string(sp->language));
    if (sp->binding)
        json_object_set_new(spec, "binding", json_string(sp->binding));
    json_object_set_new(spec, "target_hardware",
                        jp_strv_json(sp->target_hardware, sp->ntarget_hardware));
    json_object_set_new(spec, "entry_point", json_string(sp->entry_point));
    if (sp->dependencies)
        json_object_set_new(spec, "dependencies", jp_strv_json(sp->dependencies, sp->ndependencies));
    if (sp->compile_options)
        json_object_set_new(spec, "compile_options",
                            jp_strv_json(sp->compile_options, sp->ncompile_options));
    if (sp->has_dps)
        json_object_set_new(spec, "destination_passing_style",
                            json_boolean(sp->destination_passing_style));
    if (sp->launch) {
        json_t *l = json_array();
        for (int i = 0; i < sp->nlaunch; i++) {
            const struct kf_launch_step *st = &sp->launch[i];
            json_t *so = json_object(), *args = json_array();
            json_object_set_new(so, "kernel", json_string(st->kernel));
            json_object_set_new(so, "grid", dims_json(st->grid, st->ngrid));
            json_object_set_new(so, "block", dims_json(st->block, st->nblock));
            if (st->shared_mem_bytes.src)
                json_object_set_new(so, "shared_mem_bytes", lexpr_json(&st->shared_mem_bytes));
            if (st->ncluster)
                json_object_set_new(so, "cluster", dims_json(st->cluster, st->ncluster));
            for (int a = 0; a < st->nargs; a++) {
                const struct kf_launch_arg *ar = &st->args[a];
                if (ar->kind == KF_ARG_FLOAT)
                    json_array_append_new(args, json_real(ar->fvalue));
                else if (ar->kind == KF_ARG_INT && ar->value.was_int)
                    json_array_append_new(args, lexpr_json(&ar->value));
                else
                    json_array_append_new(args, json_string(ar->src));
            }
            json_object_set_new(so, "args", args);
            json_array_append_new(l, so);
        }
        json_object_set_new(spec, "launch", l);
    }
    if (sp->workspace) {
        json_t *wl = json_array();
        for (int i = 0; i < sp->nworkspace; i++) {
            json_t *wo = json_object();
            json_object_set_new(wo, "name", json_string(sp->workspace[i].name));
            json_object_set_new(wo, "bytes", lexpr_json(&sp->workspace[i].bytes));
            if (sp->workspace[i].zero)
                json_object_set_new(wo, "zero", json_true());
            json_array_append_new(wl, wo);
        }
        json_object_set_new(spec, "workspace", wl);
    }
    json_object_set_new(o, "spec", spec);
    for (int i = 0; i < s->nsources; i++)
        json_array_append_new(src, json_pack("{s:s,s:s}", "path", s->sources[i].path, "content",
                                             s->sources[i].content));
    json_object_set_new(o, "sources", src);
    return jp_reorder(o, s->json);
}
