/* pack.c: a solution document from a kernel directory (see pack.h):
 * spec.json (a solution without sources, or with "sources": []) plus every
 * regular file in the directory with an extension flashinfer-bench packs
 * (kf_pack_is_source), sorted by name, as {path, content}; or, without
 * spec.json but with config.toml, a starter-kit directory (lib/starter.c). The result is validated with
 * kf_solution_from_json. Thread-safe.
 */
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonio.h"
#include "model.h"
#include "xalloc.h"

#define PACK_MAX_FILE ((size_t)16 << 20)
#define PACK_MAX_FILES 256

bool kf_pack_is_source(const char *name)
{
    static const char *const ext[] = {".py", ".cu", ".cuh", ".cpp", ".cc", ".cxx", ".c", ".h",
                                      ".hpp", NULL};
    size_t l = strlen(name);
    for (int i = 0; ext[i]; i++) {
        size_t e = strlen(ext[i]);
        if (l > e && strcmp(name + l - e, ext[i]) == 0)
            return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a whole file (capped). New buffer in *out, length in *len. */
static int read_file(const char *path, char **out, size_t *len, struct kf_err *err)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    char *buf;
    *out = NULL;
    if (!f)
        return kf_err_set(err, KF_EIO, path, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size > PACK_MAX_FILE) {
        fclose(f);
        return kf_err_set(err, KF_ETOOBIG, path, "larger than %zu bytes", PACK_MAX_FILE);
    }
    buf = xmalloc((size_t)sb.st_size + 1);
    *len = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    if (*len != (size_t)sb.st_size) {
        free(buf);
        return kf_err_set(err, KF_EIO, path, "short read");
    }
    buf[*len] = '\0';
    *out = buf;
    return 0;
}

int kf_pack_sources(const char *dir, bool (*want)(const char *name), json_t **out,
                    struct kf_err *err)
{
    json_t *arr = NULL;
    char **names = NULL;
    int nnames = 0, rc = 0;
    DIR *d = NULL;
    struct dirent *e;

    *out = NULL;
    if (!(d = opendir(dir))) {
        rc = kf_err_set(err, KF_ENOENT, dir, "cannot open directory: %s", strerror(errno));
        goto out;
    }
    names = xcalloc(PACK_MAX_FILES + 1, sizeof *names);
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat sb;
        if (e->d_name[0] == '.' || !want(e->d_name))
            continue;
        p = xasprintf("%s/%s", dir, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(p);
            continue;
        }
        free(p);
        if (nnames == PACK_MAX_FILES) {
            rc = kf_err_set(err, KF_ETOOBIG, dir, "more than %d source files", PACK_MAX_FILES);
            goto out;
        }
        names[nnames++] = xstrdup(e->d_name);
    }
    qsort(names, (size_t)nnames, sizeof *names, cmp_str);
    arr = json_array();
    for (int i = 0; i < nnames; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]), *buf = NULL;
        size_t len = 0;
        json_t *content;
        rc = read_file(p, &buf, &len, err);
        free(p);
        if (rc)
            goto out;
        content = json_stringn(buf, len);
        free(buf);
        if (!content || strlen(json_string_value(content)) != len) {
            json_decref(content);
            rc = kf_err_set(err, KF_EINVAL, names[i], "not UTF-8 text without NUL bytes");
            goto out;
        }
        json_array_append_new(arr, json_pack("{s:s,s:o}", "path", names[i], "content", content));
    }
    *out = arr;
    arr = NULL;
out:
    if (d)
        closedir(d);
    for (int i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    json_decref(arr);
    return rc;
}

int kf_pack_dir(const char *dir, json_t **out, struct kf_err *err)
{
    char *spec_path = xasprintf("%s/spec.json", dir), *toml_path = xasprintf("%s/config.toml", dir);
    json_t *doc = NULL, *sources, *arr = NULL;
    struct kf_solution *sol = NULL;
    struct stat sb;
    int rc = 0;

    *out = NULL;
    if (stat(spec_path, &sb) != 0 && stat(toml_path, &sb) == 0) {
        rc = kf_pack_starter(dir, out, err);
        goto out;
    }
    doc = kf_json_load_file(spec_path, 0, err);
    if (!doc) {
        rc = err ? err->code : KF_EINVAL;
        goto out;
    }
    if (!json_is_object(doc)) {
        rc = kf_err_set(err, KF_EINVAL, spec_path, "$: spec.json must hold a JSON object");
        goto out;
    }
    sources = json_object_get(doc, "sources");
    if (sources && !(json_is_array(sources) && json_array_size(sources) == 0)) {
        rc = kf_err_set(err, KF_EINVAL, spec_path,
                        "sources: spec.json lists no sources (they are read from the directory)");
        goto out;
    }
    if ((rc = kf_pack_sources(dir, kf_pack_is_source, &arr, err)))
        goto out;
    json_object_set_new(doc, "sources", arr);
    arr = NULL;
    if ((rc = kf_solution_from_json(doc, &sol, err)))
        goto out;
    *out = doc;
    doc = NULL;
out:
    kf_solution_free(sol);
    json_decref(arr);
    json_decref(doc);
    free(spec_path);
    free(toml_path);
    return rc;
}
