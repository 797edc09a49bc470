/* safetensors.c: safetensors reader and writer (see safetensors.h).
 *
 * Reader: the whole file is read (capped), the header is parsed with jansson
 * and every tensor entry is checked: known dtype, shape of non-negative ints,
 * data_offsets inside the data section, size equal to dtype x numel, no two
 * tensors overlapping. Writer: tensors in insertion order, contiguous, the
 * header padded with spaces to a multiple of 8 bytes, written to a temporary
 * file and renamed into place. A loaded file is read-only: safe to share.
 */
#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonio.h"
#include "xalloc.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* as the reference implementation */
#define ST_MAX_TENSORS 100000

void kf_st_free(struct kf_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->ntensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st->data);
    free(st);
}

static int cmp_offset(const void *a, const void *b)
{
    const struct kf_st_tensor *x = *(const struct kf_st_tensor *const *)a;
    const struct kf_st_tensor *y = *(const struct kf_st_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Parse one header entry into t. path is the file (for err->path). */
static int parse_entry(const char *path, const char *key, json_t *v, size_t data_len,
                       struct kf_st_tensor *t, struct kf_err *err)
{
    json_t *jdt, *jshape, *joff, *jx;
    size_t i;
    int64_t numel = 1;
    json_int_t b, e;

    if (!json_is_object(v))
        return kf_err_set(err, KF_EINVAL, path, "header entry '%s' is not an object", key);
    jdt = json_object_get(v, "dtype");
    jshape = json_object_get(v, "shape");
    joff = json_object_get(v, "data_offsets");
    if (!json_is_string(jdt))
        return kf_err_set(err, KF_EINVAL, path, "tensor '%s': dtype missing or not a string", key);
    t->dtype = kf_dtype_from_st_name(json_string_value(jdt));
    if (t->dtype == KF_DT_INVALID)
        return kf_err_set(err, KF_EUNSUP, path, "tensor '%s': unsupported dtype '%s'", key,
                          json_string_value(jdt));
    if (!json_is_array(jshape) || json_array_size(jshape) > KF_MAX_DIMS)
        return kf_err_set(err, KF_EINVAL, path,
                          "tensor '%s': shape must be an array of at most %d ints", key,
                          KF_MAX_DIMS);
    t->ndim = (int)json_array_size(jshape);
    json_array_foreach(jshape, i, jx) {
        json_int_t d;
        if (!json_is_integer(jx) || (d = json_integer_value(jx)) < 0)
            return kf_err_set(err, KF_EINVAL, path,
                              "tensor '%s': shape[%zu] is not a non-negative integer", key, i);
        t->shape[i] = d;
        if (d && numel > INT64_MAX / d)
            return kf_err_set(err, KF_EINVAL, path, "tensor '%s': shape overflows", key);
        numel *= d;
    }
    if (!json_is_array(joff) || json_array_size(joff) != 2 ||
        !json_is_integer(json_array_get(joff, 0)) || !json_is_integer(json_array_get(joff, 1)))
        return kf_err_set(err, KF_EINVAL, path,
                          "tensor '%s': data_offsets must be [begin, end] integers", key);
    b = json_integer_value(json_array_get(joff, 0));
    e = json_integer_value(json_array_get(joff, 1));
    if (b < 0 || e < b || (uint64_t)e > data_len)
        return kf_err_set(err, KF_EINVAL, path,
                          "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                          "] outside the data section of %zu bytes",
                          key, (int64_t)b, (int64_t)e, data_len);
    t->offset = (size_t)b;
    t->nbytes = (size_t)(e - b);
    if (t->nbytes != kf_dtype_nbytes(t->dtype, numel))
        return kf_err_set(err, KF_EINVAL, path,
                          "tensor '%s': %zu data bytes but %s x %" PRId64 " elements needs %zu",
                          key, t->nbytes, kf_dtype_st_name(t->dtype), numel,
                          kf_dtype_nbytes(t->dtype, numel));
    return 0;
}

int kf_st_read(const char *path, size_t max_bytes, struct kf_safetensors **out, struct kf_err *err)
{
    FILE *f = NULL;
    struct stat sb;
    uint8_t lenbuf[8];
    uint64_t hlen = 0;
    char *hdr = NULL;
    json_t *j = NULL;
    struct kf_safetensors *st = NULL;
    struct kf_st_tensor **order = NULL;
    size_t fsize, ntens;
    const char *key;
    json_t *v;
    int rc = 0, n = 0;

    *out = NULL;
    f = fopen(path, "rb");
    if (!f)
        return kf_err_set(err, errno == ENOENT ? KF_ENOENT : KF_EIO, path, "cannot open: %s",
                          strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = kf_err_set(err, KF_EIO, path, "not a regular file");
        goto out;
    }
    fsize = (size_t)sb.st_size;
    if (max_bytes && fsize > max_bytes) {
        rc = kf_err_set(err, KF_ETOOBIG, path, "file of %zu bytes over the cap of %zu", fsize,
                        max_bytes);
        goto out;
    }
    if (fsize < 8 || fread(lenbuf, 1, 8, f) != 8) {
        rc = kf_err_set(err, KF_EINVAL, path, "shorter than the 8-byte header length");
        goto out;
    }
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | lenbuf[i];
    if (hlen > ST_MAX_HEADER || hlen > fsize - 8) {
        rc = kf_err_set(err, KF_EINVAL, path,
                        "header length %" PRIu64 " exceeds the file (%zu bytes) or the cap", hlen,
                        fsize);
        goto out;
    }
    hdr = xmalloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) {
        rc = kf_err_set(err, KF_EIO, path, "short read in header");
        goto out;
    }
    hdr[hlen] = '\0';
    j = kf_json_loadb(hdr, hlen, err);
    if (!j) {
        if (err)
            snprintf(err->path, sizeof err->path, "%s", path);
        rc = KF_EINVAL;
        goto out;
    }
    if (!json_is_object(j)) {
        rc = kf_err_set(err, KF_EINVAL, path, "header is not a JSON object");
        goto out;
    }
    ntens = json_object_size(j);
    if (ntens > ST_MAX_TENSORS) {
        rc = kf_err_set(err, KF_ETOOBIG, path, "too many tensors (%zu)", ntens);
        goto out;
    }
    st = xcalloc(1, sizeof *st);
    st->data_len = fsize - 8 - (size_t)hlen;
    st->tensors = xcalloc(ntens ? ntens : 1, sizeof *st->tensors);
    json_object_foreach(j, key, v) {
        struct kf_st_tensor *t;
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = kf_err_set(err, KF_EINVAL, path, "__metadata__ is not an object");
                goto out;
            }
            continue;
        }
        t = &st->tensors[st->ntensors];
        rc = parse_entry(path, key, v, st->data_len, t, err);
        if (rc)
            goto out;
        t->name = xstrdup(key);
        st->ntensors++;
    }
    /* No two tensors may share bytes. */
    order = xcalloc(st->ntensors ? (size_t)st->ntensors : 1, sizeof *order);
    for (n = 0; n < st->ntensors; n++)
        order[n] = &st->tensors[n];
    qsort(order, (size_t)st->ntensors, sizeof *order, cmp_offset);
    for (n = 1; n < st->ntensors; n++) {
        if (order[n - 1]->offset + order[n - 1]->nbytes > order[n]->offset) {
            rc = kf_err_set(err, KF_EINVAL, path, "tensors '%s' and '%s' overlap",
                            order[n - 1]->name, order[n]->name);
            goto out;
        }
    }
    st->data = xmalloc(st->data_len ? st->data_len : 1);
    if (fread(st->data, 1, st->data_len, f) != st->data_len) {
        rc = kf_err_set(err, KF_EIO, path, "short read in data section");
        goto out;
    }
    *out = st;
    st = NULL;
out:
    free(order);
    kf_st_free(st);
    json_decref(j);
    free(hdr);
    if (f)
        fclose(f);
    return rc;
}

const struct kf_st_tensor *kf_st_find(const struct kf_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

static void fmt_dims(char *buf, size_t n, int ndim, const int64_t *dims)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%" PRId64, i ? ", " : "", dims[i]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
}

int kf_st_check(const struct kf_st_tensor *t, enum kf_dtype dtype, const struct kf_shape *shape,
                struct kf_err *err)
{
    char a[160], b[160];
    int same = t->ndim == shape->ndim;

    if (t->dtype != dtype)
        return kf_err_set(err, KF_EINVAL, NULL, "tensor '%s' has dtype %s, expected %s",
                          t->name, kf_dtype_name(t->dtype), kf_dtype_name(dtype));
    for (int i = 0; same && i < t->ndim; i++)
        same = t->shape[i] == shape->dims[i];
    if (!same) {
        fmt_dims(a, sizeof a, t->ndim, t->shape);
        fmt_dims(b, sizeof b, shape->ndim, shape->dims);
        return kf_err_set(err, KF_EINVAL, NULL, "tensor '%s' has shape %s, expected %s", t->name,
                          a, b);
    }
    return 0;
}

/* ---- writer ---------------------------------------------------------------- */

struct st_wtensor {
    char *name;
    enum kf_dtype dtype;
    int ndim;
    int64_t shape[KF_MAX_DIMS];
    uint8_t *data;
    size_t nbytes;
};

struct kf_st_writer {
    struct st_wtensor *t;
    int n, cap;
};

struct kf_st_writer *kf_st_writer_new(void)
{
    return xcalloc(1, sizeof(struct kf_st_writer));
}

void kf_st_writer_add(struct kf_st_writer *w, const char *name, enum kf_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, size_t nbytes)
{
    struct st_wtensor *t;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->t = xrealloc(w->t, (size_t)w->cap * sizeof *w->t);
    }
    t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dtype;
    t->ndim = ndim < 0 ? 0 : ndim > KF_MAX_DIMS ? KF_MAX_DIMS : ndim;
    for (int i = 0; i < t->ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = nbytes;
    t->data = xmalloc(nbytes ? nbytes : 1);
    if (nbytes)
        memcpy(t->data, data, nbytes);
}

void kf_st_writer_free(struct kf_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w);
}

int kf_st_writer_save(const struct kf_st_writer *w, const char *path, struct kf_err *err)
{
    json_t *hdr = json_object();
    char *hs = NULL, *tmp = NULL;
    size_t hlen, padded, off = 0;
    uint8_t lenbuf[8];
    FILE *f = NULL;
    int rc = 0;

    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    for (int i = 0; i < w->n; i++) {
        const struct st_wtensor *t = &w->t[i];
        json_t *shape = json_array();
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            json_array_append_new(shape, json_integer(t->shape[d]));
            numel *= t->shape[d];
        }
        if (t->nbytes != kf_dtype_nbytes(t->dtype, numel)) {
            json_decref(shape);
            rc = kf_err_set(err, KF_EINVAL, path, "tensor '%s': %zu bytes for %" PRId64
                            " elements of %s", t->name, t->nbytes, numel,
                            kf_dtype_st_name(t->dtype));
            goto out;
        }
        if (json_object_get(hdr, t->name)) {
            json_decref(shape);
            rc = kf_err_set(err, KF_EINVAL, path, "duplicate tensor name '%s'", t->name);
            goto out;
        }
        json_object_set_new(hdr, t->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", kf_dtype_st_name(t->dtype),
                                      "shape", shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + t->nbytes)));
        off += t->nbytes;
    }
    hs = kf_json_dumps(hdr);
    hlen = strlen(hs);
    padded = (hlen + 7) & ~(size_t)7;
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        rc = kf_err_set(err, KF_EIO, path, "cannot create: %s", strerror(errno));
        goto out;
    }
    if (fwrite(lenbuf, 1, 8, f) != 8 || fwrite(hs, 1, hlen, f) != hlen)
        goto werr;
    for (size_t i = hlen; i < padded; i++)
        if (fputc(' ', f) == EOF)
            goto werr;
    for (int i = 0; i < w->n; i++)
        if (w->t[i].nbytes && fwrite(w->t[i].data, 1, w->t[i].nbytes, f) != w->t[i].nbytes)
            goto werr;
    if (fclose(f) != 0) {
        f = NULL;
        goto werr;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        rc = kf_err_set(err, KF_EIO, path, "cannot rename into place: %s", strerror(errno));
        unlink(tmp);
    }
    goto out;
werr:
    rc = kf_err_set(err, KF_EIO, path, "write failed: %s", strerror(errno));
    if (f)
        fclose(f);
    f = NULL;
    unlink(tmp);
out:
    free(tmp);
    free(hs);
    json_decref(hdr);
    return rc;
}
