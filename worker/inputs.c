/* inputs.c: trial inputs and outputs on the device. See inputs.h.
 * Not thread-safe.
 */
#include "inputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluators.h"
#include "log.h"
#include "safetensors.h"
#include "xalloc.h"

#define MAX_BLOB_BYTES ((size_t)16 << 30)

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t ev_input_seed(uint64_t trial_seed, int i)
{
    return mix64(trial_seed ^ mix64(0x1000 + (uint64_t)i));
}

uint64_t ev_trial_seed(uint64_t req_seed, const char *uuid, int trial)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = uuid ? uuid : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    return mix64(req_seed ^ mix64(h) ^ mix64(0x7F4A7C15ULL + (uint64_t)trial));
}

/* ---- safetensors blob cache (one evaluation reads each file once) ------- */

static struct { char *path; struct kf_safetensors *st; } blob_cache[8];

void ev_inputs_cache_clear(void)
{
    for (int i = 0; i < 8; i++) {
        free(blob_cache[i].path);
        kf_st_free(blob_cache[i].st);
        blob_cache[i].path = NULL;
        blob_cache[i].st = NULL;
    }
}

static int blob_get(const char *path, struct kf_safetensors **st, struct kf_err *err)
{
    int rc, slot = -1;
    for (int i = 0; i < 8; i++) {
        if (blob_cache[i].path && !strcmp(blob_cache[i].path, path)) {
            *st = blob_cache[i].st;
            return 0;
        }
        if (!blob_cache[i].path && slot < 0)
            slot = i;
    }
    if ((rc = kf_st_read(path, MAX_BLOB_BYTES, st, err)))
        return rc;
    if (slot < 0) {   /* evict the first entry */
        free(blob_cache[0].path);
        kf_st_free(blob_cache[0].st);
        slot = 0;
    }
    blob_cache[slot].path = xstrdup(path);
    blob_cache[slot].st = *st;
    return 0;
}

/* ------------------------------------------------------------------------- */

static struct ev_tensors *tensors_new(int n, struct ev_arena *arena)
{
    struct ev_tensors *t = xcalloc(1, sizeof *t);
    t->arena = arena;
    t->n = n;
    t->buf = xcalloc((size_t)n + 1, sizeof *t->buf);
    t->present = xcalloc((size_t)n + 1, sizeof *t->present);
    t->scalar_f = xcalloc((size_t)n + 1, sizeof *t->scalar_f);
    t->scalar_i = xcalloc((size_t)n + 1, sizeof *t->scalar_i);
    t->hooked = -1;
    return t;
}

void ev_tensors_free(struct ev_tensors *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++) {
        if (t->buf[i].base && !t->arena)
            cuMemFree(t->buf[i].base);
        free(t->buf[i].host);
    }
    free(t->buf);
    free(t->present);
    free(t->scalar_f);
    free(t->scalar_i);
    free(t);
}

static int alloc_guarded(struct ev_dev *d, struct ev_arena *arena, struct ev_buf *b, size_t nbytes,
                         const char *name, struct kf_err *err)
{
    CUresult r;
    int rc;
    b->nbytes = nbytes;
    b->alloc = nbytes + 2 * EV_GUARD_BYTES;
    if (arena) {
        if ((rc = ev_arena_alloc(arena, b->alloc, &b->base, err))) {
            b->base = 0;
            return rc;
        }
    } else if ((r = cuMemAlloc(&b->base, b->alloc)) != CUDA_SUCCESS) {
        b->base = 0;
        return kf_err_set(err, KF_ECUDA, name, "cannot allocate %zu bytes for '%s': %s", b->alloc,
                          name, ev_cu_str(r));
    }
    b->ptr = b->base + EV_GUARD_BYTES;
    if ((r = cuMemsetD8Async(b->base, EV_GUARD_BYTE, b->alloc, d->stream)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "guard memset");
    return 0;
}

/* A normal draw on the host for random scalars. */
static double host_normal(uint64_t seed)
{
    double u1 = ((double)(mix64(seed) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(mix64(seed ^ 0xABCDEF) >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static int is_kcache_hook(const struct kf_definition *def, const struct kf_tensor_spec *ts,
                          const struct kf_shape *sh)
{
    const char *hook = ev_def_rules_for(def)->hook_input;
    return hook && !strcmp(ts->name, hook) && sh->ndim == 4 && sh->dims[1] == 64 && sh->dims[3] == 132;
}

int ev_inputs_make(struct ev_dev *d, const struct kf_dataset *ds, const struct kf_definition *def,
                   const struct kf_workload *w, const struct kf_binding *b, uint64_t seed,
                   struct ev_arena *arena, struct ev_tensors **out, struct kf_err *err)
{
    struct ev_tensors *t = tensors_new(def->ninputs, arena);
    CUresult r;
    int rc = 0;
    for (int i = 0; i < def->ninputs && !rc; i++) {
        const struct kf_tensor_spec *ts = &def->inputs[i];
        const struct kf_workload_input *wi = kf_workload_input(w, ts->name);
        const struct kf_shape *sh = &b->inputs[i];
        uint64_t s = ev_input_seed(seed, i);
        if (!wi) {
            if (!ts->optional)
                rc = kf_err_set(err, KF_EINVAL, ts->name, "input '%s' is not described by the workload",
                                ts->name);
            continue;   /* absent optional input: NULL pointer */
        }
        if (ts->is_scalar) {
            if (wi->kind == KF_IN_SCALAR) {
                t->scalar_f[i] = wi->scalar_is_int ? (double)wi->scalar_int : wi->scalar_real;
                t->scalar_i[i] = wi->scalar_is_int ? wi->scalar_int : (int64_t)wi->scalar_real;
            } else if (wi->kind == KF_IN_RANDOM) {
                double v = host_normal(s);
                if (kf_dtype_is_float(ts->dtype)) {
                    t->scalar_f[i] = v;
                    t->scalar_i[i] = (int64_t)v;
                } else {
                    int64_t iv = (int64_t)(mix64(s) % 2048) - 1024;
                    if (ts->dtype == KF_DT_I8)
                        iv = (int64_t)(mix64(s) % 256) - 128;
                    if (ts->dtype == KF_DT_BOOL)
                        iv = (int64_t)(mix64(s) & 1);
                    t->scalar_f[i] = (double)iv;
                    t->scalar_i[i] = iv;
                }
            } else {
                rc = kf_err_set(err, KF_EINVAL, ts->name, "scalar input '%s' from safetensors is not supported",
                                ts->name);
            }
            continue;
        }
        if ((rc = alloc_guarded(d, arena, &t->buf[i], sh->nbytes, ts->name, err)))
            break;
        t->present[i] = true;
        if (wi->kind == KF_IN_RANDOM) {
            if (is_kcache_hook(def, ts, sh)) {
                r = ev_dev_fill_kcache(d, t->buf[i].ptr, sh->dims[0], s);
                t->hooked = i;
            } else {
                r = ev_dev_fill_random(d, t->buf[i].ptr, sh->numel, (int)ts->dtype, s);
            }
            if (r != CUDA_SUCCESS)
                rc = ev_cu_err(err, r, "random fill");
        } else if (wi->kind == KF_IN_SAFETENSORS) {
            struct kf_safetensors *st = NULL;
            const struct kf_st_tensor *tt;
            char *path = ds ? kf_dataset_blob_path(ds, wi->path) : NULL;
            if (!path) {
                rc = kf_err_set(err, KF_ENOENT, ts->name, "blob '%s' not found in the dataset",
                                wi->path ? wi->path : "?");
                break;
            }
            rc = blob_get(path, &st, err);
            free(path);
            if (rc)
                break;
            tt = kf_st_find(st, wi->tensor_key ? wi->tensor_key : ts->name);
            if (!tt) {
                rc = kf_err_set(err, KF_ENOENT, ts->name, "tensor '%s' not in %s",
                                wi->tensor_key ? wi->tensor_key : ts->name, wi->path);
                break;
            }
            /* int8 blobs may be stored as U8 (the packed key cache) */
            if (tt->dtype != ts->dtype && !(ts->dtype == KF_DT_I8 && tt->nbytes == sh->nbytes)) {
                rc = kf_st_check(tt, ts->dtype, sh, err);
                if (!rc)
                    rc = kf_err_set(err, KF_EINVAL, ts->name, "dtype mismatch");
                break;
            }
            if (tt->nbytes != sh->nbytes) {
                rc = kf_st_check(tt, ts->dtype, sh, err);
                if (!rc)
                    rc = kf_err_set(err, KF_EINVAL, ts->name, "%zu bytes, expected %zu", tt->nbytes,
                                    sh->nbytes);
                break;
            }
            if ((r = cuMemcpyHtoDAsync(t->buf[i].ptr, kf_st_data(st, tt), tt->nbytes, d->stream)) !=
                    CUDA_SUCCESS ||
                (r = cuStreamSynchronize(d->stream)) != CUDA_SUCCESS)
                rc = ev_cu_err(err, r, "upload");
        } else {
            rc = kf_err_set(err, KF_EINVAL, ts->name, "tensor input '%s' given as a scalar", ts->name);
        }
    }
    if (!rc && (r = cuStreamSynchronize(d->stream)) != CUDA_SUCCESS)
        rc = ev_cu_err(err, r, "input generation");
    if (rc) {
        ev_tensors_free(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

int ev_outputs_make(struct ev_dev *d, const struct kf_definition *def, const struct kf_binding *b,
                    struct ev_arena *arena, struct ev_tensors **out, struct kf_err *err)
{
    struct ev_tensors *t = tensors_new(def->noutputs, arena);
    int rc = 0;
    for (int i = 0; i < def->noutputs && !rc; i++) {
        rc = alloc_guarded(d, arena, &t->buf[i], b->outputs[i].nbytes, def->outputs[i].name, err);
        t->present[i] = rc == 0;
    }
    if (rc) {
        ev_tensors_free(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

const void *ev_tensor_host(struct ev_dev *d, struct ev_tensors *t, int i, struct kf_err *err)
{
    struct ev_buf *b = &t->buf[i];
    CUresult r;
    if (!t->present[i])
        return NULL;
    if (b->host)
        return b->host;
    b->host = xmalloc(b->nbytes ? b->nbytes : 1);
    if ((r = cuStreamSynchronize(d->stream)) != CUDA_SUCCESS ||
        (b->nbytes && (r = cuMemcpyDtoH(b->host, b->ptr, b->nbytes)) != CUDA_SUCCESS)) {
        free(b->host);
        b->host = NULL;
        ev_cu_err(err, r, "download");
        return NULL;
    }
    return b->host;
}

int ev_tensors_download(struct ev_dev *d, struct ev_tensors *t, struct kf_err *err)
{
    for (int i = 0; i < t->n; i++) {
        free(t->buf[i].host);
        t->buf[i].host = NULL;
        if (t->present[i] && !ev_tensor_host(d, t, i, err))
            return KF_ECUDA;
    }
    return 0;
}
