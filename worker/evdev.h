/* evdev.h: the evaluator's hold on one GPU through the CUDA driver API: the
 * primary context, one stream, the device facts used by launch plans, the
 * built-in kernels and the L2 flush buffer, plus CUDA error helpers.
 * Not thread-safe: one per evaluator process.
 */
#ifndef EV_EVDEV_H
#define EV_EVDEV_H

#include "cudrv.h"
#include <stddef.h>
#include <stdint.h>

#include "kf_err.h"

struct ev_dev {
    int ordinal;
    CUdevice dev;
    CUcontext ctx;          /* retained primary context */
    CUstream stream;
    char name[256];         /* "NVIDIA H100 80GB HBM3" */
    char hardware[128];     /* "NVIDIA_H100" */
    char arch[16];          /* "sm_90a" */
    int cc_major, cc_minor;
    int num_sms, l2_bytes, max_smem_optin, max_smem_block, max_threads_block, warp_size;
    int driver_version;     /* 13000 */
    char pci_bus_id[32];
    CUmodule builtin;
    CUfunction k_fill, k_kcache, k_checksum, k_l2sweep, k_l2fill, k_l2discard;
    CUdeviceptr l2buf; size_t l2buf_bytes;   /* 2x L2, for flushes */
    CUdeviceptr scratch;    /* 8 bytes for checksums */
    const char *cache_dir;  /* borrowed */
};

/* Initialise the driver, retain the primary context of ordinal, create the
 * stream, compile (or load from cache) the built-in kernels. */
int ev_dev_open(struct ev_dev *d, int ordinal, const char *cache_dir, struct kf_err *err);
/* Release everything; safe on a partly opened or closed device. */
void ev_dev_close(struct ev_dev *d);
/* A device fact by name (num_sms, l2_bytes, ...); 0 and *out, or KF_ENOENT. */
int ev_dev_fact(const struct ev_dev *d, const char *name, int64_t *out);
/* "NVIDIA H100 80GB HBM3" -> "NVIDIA_H100" (memory size, memory kind and
 * form factor words dropped, spaces to '_'). Pure. */
void ev_hardware_name(const char *devname, char *out, size_t n);

/* "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered" into a static buffer. */
const char *ev_cu_str(CUresult r);
/* True for errors that leave the context unusable. */
int ev_cu_sticky(CUresult r);
/* kf_err_set(err, KF_ECUDA, what, "<what>: <error>"), returns KF_ECUDA. */
int ev_cu_err(struct kf_err *err, CUresult r, const char *what);

/* Built-in operations on the device stream (enqueued, not synchronised). */
CUresult ev_dev_fill_random(struct ev_dev *d, CUdeviceptr p, int64_t numel, int dtype, uint64_t seed);
CUresult ev_dev_fill_kcache(struct ev_dev *d, CUdeviceptr p, int64_t npages, uint64_t seed);
/* Synchronous checksum of nbytes at p. */
CUresult ev_dev_checksum(struct ev_dev *d, CUdeviceptr p, size_t nbytes, uint64_t *out);

#endif
