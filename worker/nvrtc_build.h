/* nvrtc_build.h: the nvrtc lane's compiler. Every *.cu source of a solution
 * is its own translation unit; every other source (*.cuh, *.h, ...) is a
 * header visible to all of them by its path. Options: -std=c++17,
 * --gpu-architecture=<arch> (sm_90a, sm_100a: SASS for the device's own
 * chip), --include-path=$CUDA_HOME/include (and include/cccl if present).
 * Compiled cubins are cached under <cache_dir>/cubin/ by the SHA-256 of the
 * sources, spec, arch, options and NVRTC version. Needs no GPU.
 * Thread-safe (NVRTC is; cache files are written via rename).
 */
#ifndef EV_NVRTC_BUILD_H
#define EV_NVRTC_BUILD_H

#include <stddef.h>

#include "kf_err.h"
#include "model.h"

struct ev_cubin {
    char *tu;          /* source path of the translation unit */
    char *path;        /* its file in the cache (new), or NULL without a cache */
    void *data; size_t size;
};

struct ev_build {
    struct ev_cubin *cubins; int ncubins;
    char *log;         /* compiler log of every TU (new; may be "") */
    int cached;        /* 1 if every cubin came from the cache */
};

/* "sm_90a" for cc 9.0, "sm_100a" for 10.0 (and 10.3, 12.0 with "a"),
 * "sm_XY" otherwise. buf >= 16 bytes. */
void ev_arch_name(int major, int minor, char *buf, size_t n);

/* NVRTC version as "13.0". Static string. */
const char *ev_nvrtc_version(void);

/* Compile every TU of sol for arch. Returns 0 and fills *out (free with
 * ev_build_free), or KF_EINVAL when a TU fails to compile: then out->log
 * holds the compiler log (the caller reports COMPILE_ERROR) and err says
 * which TU. cache_dir may be NULL. */
int ev_nvrtc_build(const struct kf_solution *sol, const char *arch, const char *cache_dir,
                   struct ev_build *out, struct kf_err *err);
void ev_build_free(struct ev_build *b);

/* mkdir -p (errors ignored: the next open reports them). */
void ev_mkdirs(const char *dir);
/* Write a file through a temporary name and rename; 0 or KF_EIO (logged). */
int ev_file_write_atomic(const char *path, const void *data, size_t size);

/* Compile one source string (no headers) for arch into a cubin (new,
 * free()); *log_out new string (may be NULL). For the built-in kernels. */
int ev_nvrtc_compile_src(const char *name, const char *src, const char *arch, void **cubin,
                         size_t *size, char **log_out, struct kf_err *err);

#endif
