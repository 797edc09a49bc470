/* starter.c: a solution document from a contest starter-kit directory
 * (kf_pack_starter in pack.h): config.toml's [solution] and [build] tables
 * and the sources under solution/<language>/, packed as the starter kit's
 * scripts/pack_solution.py does with flashinfer-bench's
 * pack_solution_from_files. Thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "pack.h"
#include "toml.h"
#include "xalloc.h"

#define CONFIG_MAX (1u << 20)

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The main kind of source of a language: where an entry point lives. */
static bool main_source(const char *lang, const char *path)
{
    if (strcmp(lang, "cuda") == 0)
        return ends_with(path, ".cu");
    if (strcmp(lang, "cpp") == 0)
        return ends_with(path, ".cpp") || ends_with(path, ".cc") || ends_with(path, ".cxx");
    return ends_with(path, ".py");
}

/* Find the line of "key =" inside [table] for error paths: "config.toml:N". */
static void key_line(const char *text, const char *table, const char *key, char *path,
                     size_t n)
{
    int line = 1, in = 0;
    size_t kl = strlen(key);
    snprintf(path, n, "config.toml");
    for (const char *p = text; *p; line++) {
        const char *e = strchr(p, '\n');
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '[') {
            const char *t = q + 1;
            while (*t == ' ')
                t++;
            in = strncmp(t, table, strlen(table)) == 0 &&
                 (t[strlen(table)] == ']' || t[strlen(table)] == ' ');
        } else if (in && strncmp(q, key, kl) == 0 &&
                   (q[kl] == ' ' || q[kl] == '=' || q[kl] == '\t')) {
            snprintf(path, n, "config.toml:%d", line);
            return;
        }
        if (!e)
            break;
        p = e + 1;
    }
}

struct field { const char *key; int type; bool required; };
enum { F_STR, F_BOOL, F_STRLIST };

static const struct field solution_fields[] = {
    {"name", F_STR, true}, {"definition", F_STR, true}, {"author", F_STR, true},
    {"description", F_STR, false}, {NULL, 0, false},
};
static const struct field build_fields[] = {
    {"language", F_STR, true}, {"entry_point", F_STR, true},
    {"destination_passing_style", F_BOOL, false}, {"binding", F_STR, false},
    {"dependencies", F_STRLIST, false}, {"target_hardware", F_STRLIST, false},
    {"compile_options", F_STRLIST, false}, {NULL, 0, false},
};

static int check_table(const json_t *root, const char *text, const char *table,
                       const struct field *fields, struct kf_err *err)
{
    json_t *t = json_object_get(root, table), *v;
    const char *k;
    char path[64];
    if (!json_is_object(t))
        return kf_err_set(err, KF_EINVAL, "config.toml", "no [%s] table", table);
    json_object_foreach(t, k, v) {
        const struct field *f = fields;
        while (f->key && strcmp(f->key, k) != 0)
            f++;
        key_line(text, table, k, path, sizeof path);
        if (!f->key)
            return kf_err_set(err, KF_EINVAL, path, "[%s] %.60s: unknown key", table, k);
        if ((f->type == F_STR && !json_is_string(v)) || (f->type == F_BOOL && !json_is_boolean(v)) ||
            (f->type == F_STRLIST && !json_is_array(v)))
            return kf_err_set(err, KF_EINVAL, path, "[%s] %s: must be %s", table, k,
                              f->type == F_STR ? "a string"
                              : f->type == F_BOOL ? "true or false" : "an array of strings");
        if (f->type == F_STR && json_string_length(v) == 0 && f->required)
            return kf_err_set(err, KF_EINVAL, path, "[%s] %s: must not be empty", table, k);
    }
    for (const struct field *f = fields; f->key; f++)
        if (f->required && !json_object_get(t, f->key))
            return kf_err_set(err, KF_EINVAL, "config.toml", "[%s] %s: required key missing",
                              table, f->key);
    return 0;
}

static int read_text(const char *path, char **out, struct kf_err *err)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    *out = NULL;
    if (!f)
        return kf_err_set(err, KF_ENOENT, path, "cannot open: %s", strerror(errno));
    char *buf = xmalloc(CONFIG_MAX + 1);
    n = fread(buf, 1, CONFIG_MAX + 1, f);
    fclose(f);
    if (n > CONFIG_MAX) {
        free(buf);
        return kf_err_set(err, KF_ETOOBIG, path, "larger than 1 MiB");
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        return kf_err_set(err, KF_EINVAL, path, "holds a NUL byte");
    }
    *out = buf;
    return 0;
}

int kf_pack_starter(const char *dir, json_t **out, struct kf_err *err)
{
    char *cfg_path = xasprintf("%s/config.toml", dir), *text = NULL, *srcdir = NULL;
    char path[64];
    json_t *cfg = NULL, *doc = NULL, *spec, *b, *s, *sources = NULL, *v;
    const char *lang, *entry;
    struct kf_solution *sol = NULL;
    struct stat sb;
    int rc;

    *out = NULL;
    if ((rc = read_text(cfg_path, &text, err)) ||
        (rc = kf_toml_parse(text, "config.toml", &cfg, err)) ||
        (rc = check_table(cfg, text, "solution", solution_fields, err)) ||
        (rc = check_table(cfg, text, "build", build_fields, err)))
        goto out;
    s = json_object_get(cfg, "solution");
    b = json_object_get(cfg, "build");
    lang = json_string_value(json_object_get(b, "language"));
    entry = json_string_value(json_object_get(b, "entry_point"));
    srcdir = xasprintf("%s/solution/%s", dir, lang);
    key_line(text, "build", "language", path, sizeof path);
    if (strchr(lang, '/') || strcmp(lang, "..") == 0 || strcmp(lang, ".") == 0) {
        rc = kf_err_set(err, KF_EINVAL, path, "[build] language '%.40s' is not a language", lang);
        goto out;
    }
    if (stat(srcdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = kf_err_set(err, KF_ENOENT, path,
                        "[build] language '%.40s': no directory solution/%.40s beside config.toml",
                        lang, lang);
        goto out;
    }
    if ((rc = kf_pack_sources(srcdir, kf_pack_is_source, &sources, err))) {
        kf_err_prefix(err, "solution");
        goto out;
    }
    if (json_array_size(sources) == 0) {
        char rel[80];
        snprintf(rel, sizeof rel, "solution/%.40s", lang);
        rc = kf_err_set(err, KF_EINVAL, rel, "no source files (.py .cu .cuh .cpp .cc .cxx .c .h "
                                             ".hpp)");
        goto out;
    }

    spec = json_object();
    json_object_set(spec, "language", json_object_get(b, "language"));
    v = json_object_get(b, "target_hardware");
    json_object_set_new(spec, "target_hardware", v ? json_incref(v) : json_pack("[s]", "cuda"));
    if (strstr(entry, "::")) {
        json_object_set(spec, "entry_point", json_object_get(b, "entry_point"));
    } else {
        /* The starter kit's config says entry_point = "kernel": the function
         * of the one main source, or of the main source named after it. */
        const char *file = NULL, *named = NULL;
        int n = 0;
        size_t i;
        json_t *x;
        json_array_foreach(sources, i, x) {
            const char *p = json_string_value(json_object_get(x, "path"));
            const char *dot = strrchr(p, '.');
            if (!main_source(lang, p))
                continue;
            file = p;
            n++;
            if (dot && (size_t)(dot - p) == strlen(entry) && strncmp(p, entry, strlen(entry)) == 0)
                named = p;
        }
        if (n != 1 && named) {
            file = named;
            n = 1;
        }
        if (n != 1) {
            json_decref(spec);
            key_line(text, "build", "entry_point", path, sizeof path);
            rc = kf_err_set(err, KF_EINVAL, path,
                            "[build] entry_point '%.60s': write it as \"<file>::%.60s\" (solution/"
                            "%.20s has %d candidate files)", entry, entry, lang, n);
            goto out;
        }
        char *ep = xasprintf("%s::%s", file, entry);
        json_object_set_new(spec, "entry_point", json_string(ep));
        free(ep);
    }
    v = json_object_get(b, "dependencies");
    json_object_set_new(spec, "dependencies", v ? json_incref(v) : json_array());
    v = json_object_get(b, "destination_passing_style");
    json_object_set_new(spec, "destination_passing_style", v ? json_incref(v) : json_true());
    if ((v = json_object_get(b, "binding")))
        json_object_set(spec, "binding", v);
    if ((v = json_object_get(b, "compile_options")))
        json_object_set(spec, "compile_options", v);

    doc = json_object();
    json_object_set(doc, "name", json_object_get(s, "name"));
    json_object_set(doc, "definition", json_object_get(s, "definition"));
    json_object_set(doc, "author", json_object_get(s, "author"));
    if ((v = json_object_get(s, "description")))
        json_object_set(doc, "description", v);
    json_object_set_new(doc, "spec", spec);
    json_object_set_new(doc, "sources", sources);
    sources = NULL;
    if ((rc = kf_solution_from_json(doc, &sol, err))) {
        /* Point at config.toml where the field came from. */
        char field[64] = "";
        if (strncmp(err->path, "spec.", 5) == 0) {
            snprintf(field, sizeof field, "%s", err->path + 5);
            field[strcspn(field, "[.")] = 0;
            key_line(text, "build", field, path, sizeof path);
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "[build] %.60s: %.180s", err->path + 5, err->msg);
            kf_err_set(err, rc, path, "%s", msg);
        } else if (strchr(err->path, '[') == NULL && err->path[0]) {
            snprintf(field, sizeof field, "%.60s", err->path);
            key_line(text, "solution", field, path, sizeof path);
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "[solution] %.60s: %.180s", field, err->msg);
            kf_err_set(err, rc, path, "%s", msg);
        }
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    kf_solution_free(sol);
    json_decref(sources);
    json_decref(doc);
    json_decref(cfg);
    free(text);
    free(srcdir);
    free(cfg_path);
    return rc;
}
