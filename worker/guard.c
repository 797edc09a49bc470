/* guard.c: poison, guard bytes and input checksums. See guard.h.
 * Not thread-safe.
 */
#include "guard.h"

#include <stdio.h>

CUresult ev_poison_outputs(struct ev_dev *d, const struct kf_definition *def, struct ev_tensors *o)
{
    for (int i = 0; i < o->n; i++) {
        enum kf_dtype dt = def->outputs[i].dtype;
        /* 0xFF is NaN in every float format with NaN; integers get 0x5A
         * (not -1, which the top-k outputs use as padding). */
        unsigned char pat = kf_dtype_is_float(dt) && dt != KF_DT_F4E2M1 ? 0xFF : 0x5A;
        CUresult r;
        if (!o->present[i] || !o->buf[i].nbytes)
            continue;
        if ((r = cuMemsetD8Async(o->buf[i].ptr, pat, o->buf[i].nbytes, d->stream)) != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

static CUresult guards(struct ev_dev *d, struct ev_buf *b, uint64_t *lo, uint64_t *hi)
{
    CUresult r = ev_dev_checksum(d, b->base, EV_GUARD_BYTES, lo);
    if (r == CUDA_SUCCESS)
        r = ev_dev_checksum(d, b->ptr + b->nbytes, EV_GUARD_BYTES, hi);
    return r;
}

CUresult ev_guard_snapshot(struct ev_dev *d, struct ev_tensors *in, struct ev_tensors *o)
{
    CUresult r;
    if ((r = cuStreamSynchronize(d->stream)) != CUDA_SUCCESS)
        return r;
    for (int i = 0; i < in->n; i++)
        if (in->present[i] && (r = ev_dev_checksum(d, in->buf[i].base, in->buf[i].alloc,
                                                   &in->buf[i].sum)) != CUDA_SUCCESS)
            return r;
    for (int i = 0; i < o->n; i++)
        if (o->present[i] && (r = guards(d, &o->buf[i], &o->buf[i].sum_lo, &o->buf[i].sum_hi)) !=
                                 CUDA_SUCCESS)
            return r;
    return CUDA_SUCCESS;
}

CUresult ev_guard_check(struct ev_dev *d, const struct kf_definition *def, struct ev_tensors *in,
                        struct ev_tensors *o, int *violations, char *msg, size_t msgn)
{
    CUresult r;
    *violations = 0;
    if (msgn)
        msg[0] = 0;
    for (int i = 0; i < in->n; i++) {
        uint64_t s;
        if (!in->present[i])
            continue;
        if ((r = ev_dev_checksum(d, in->buf[i].base, in->buf[i].alloc, &s)) != CUDA_SUCCESS)
            return r;
        if (s != in->buf[i].sum) {
            if (!*violations)
                snprintf(msg, msgn, "input '%s' (or the guard bytes around it) was modified",
                         def->inputs[i].name);
            (*violations)++;
        }
    }
    for (int i = 0; i < o->n; i++) {
        uint64_t lo, hi;
        if (!o->present[i])
            continue;
        if ((r = guards(d, &o->buf[i], &lo, &hi)) != CUDA_SUCCESS)
            return r;
        if (lo != o->buf[i].sum_lo || hi != o->buf[i].sum_hi) {
            if (!*violations)
                snprintf(msg, msgn, "write outside output '%s' (%s its bounds)", def->outputs[i].name,
                         lo != o->buf[i].sum_lo ? "before" : "after");
            (*violations)++;
        }
    }
    return CUDA_SUCCESS;
}
