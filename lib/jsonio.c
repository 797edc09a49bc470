/* jsonio.c: see jsonio.h. Thread-safe. */
#include "jsonio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

json_t *kf_json_loadb(const char *buf, size_t len, struct kf_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j)
        kf_err_set(err, KF_EINVAL, "$", "invalid JSON at line %d column %d: %s", je.line,
                   je.column, je.text);
    return j;
}

json_t *kf_json_load_file(const char *path, size_t max_bytes, struct kf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    json_t *j = NULL;

    if (!max_bytes)
        max_bytes = (size_t)64 << 20;
    if (!f) {
        kf_err_set(err, errno == ENOENT ? KF_ENOENT : KF_EIO, path, "cannot open: %s",
                   strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = xrealloc(buf, cap);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len > max_bytes) {
            kf_err_set(err, KF_ETOOBIG, path, "file larger than %zu bytes", max_bytes);
            goto out;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        kf_err_set(err, KF_EIO, path, "read error");
        goto out;
    }
    j = kf_json_loadb(buf, len, err);
    if (!j && err)
        snprintf(err->path, sizeof err->path, "%s", path);
out:
    free(buf);
    fclose(f);
    return j;
}

char *kf_json_dumps(const json_t *j)
{
    char *s = json_dumps(j, KF_JSON_DUMP_FLAGS);
    if (!s) {
        fprintf(stderr, "fatal: json_dumps failed\n");
        abort();
    }
    return s;
}
