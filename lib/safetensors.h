/* safetensors.h: reader and writer for the safetensors format: 8-byte
 * little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {...}}, then raw
 * little-endian data. Offsets are checked to lie inside the file, not to
 * overlap, and to match dtype x shape. Objects are not thread-safe to mutate;
 * a loaded file is read-only and safe to share.
 */
#ifndef KF_SAFETENSORS_H
#define KF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "bind.h"
#include "dtype.h"
#include "kf_err.h"

struct kf_st_tensor {
    char *name;
    enum kf_dtype dtype;
    int ndim;
    int64_t shape[KF_MAX_DIMS];
    size_t offset;      /* into the data section */
    size_t nbytes;
};

struct kf_safetensors {
    struct kf_st_tensor *tensors; int ntensors;
    uint8_t *data; size_t data_len;   /* the data section (owned) */
};

/* Read a file, at most max_bytes (0 = no cap; over it KF_ETOOBIG). Errors
 * name the file in err->path and the reason in err->msg. */
int kf_st_read(const char *path, size_t max_bytes, struct kf_safetensors **out, struct kf_err *err);
void kf_st_free(struct kf_safetensors *st);
const struct kf_st_tensor *kf_st_find(const struct kf_safetensors *st, const char *name);
static inline const void *kf_st_data(const struct kf_safetensors *st, const struct kf_st_tensor *t)
{
    return st->data + t->offset;
}
/* Check a tensor against an expected dtype and bound shape. */
int kf_st_check(const struct kf_st_tensor *t, enum kf_dtype dtype, const struct kf_shape *shape,
                struct kf_err *err);

struct kf_st_writer;
struct kf_st_writer *kf_st_writer_new(void);
/* Add a tensor; data is copied. */
void kf_st_writer_add(struct kf_st_writer *w, const char *name, enum kf_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, size_t nbytes);
int kf_st_writer_save(const struct kf_st_writer *w, const char *path, struct kf_err *err);
void kf_st_writer_free(struct kf_st_writer *w);

#endif
