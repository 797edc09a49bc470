/* lane_tvmffi.h: the tvm-ffi lane (language cuda/cpp, binding absent or
 * "tvm-ffi"), flashinfer-bench's default for CUDA and C++ (docs/lanes.md).
 *
 * Judge side: `build` compiles the sources against apache-tvm-ffi's headers
 * (nvcc for .cu files, g++ for .cpp, .cc and .cxx, gcc for .c) into one shared
 * object for the device's arch, linked with -Wl,--no-undefined against
 * libtvm_ffi and libcudart, cached under <cache>/so/<sha256>.so.
 *
 * Runner side: `open` dlopens it (RTLD_NOW | RTLD_LOCAL) and finds
 * __tvm_ffi_<entry symbol>; `bind` wraps the judge's buffers as tvm-ffi
 * Tensors (DLPack, no copies) and passes them inputs first, in definition
 * order, then outputs (destination-passing style) as flashinfer-bench does;
 * `run` sets the stream the solution reads with TVMFFIEnvGetStream and
 * calls; `collect` copies returned tensors (destination_passing_style
 * false) into the output buffers. Not thread-safe: one lane per process.
 */
#ifndef EV_LANE_TVMFFI_H
#define EV_LANE_TVMFFI_H

#include <stddef.h>

#include "lane.h"

extern const struct ev_lane_ops ev_lane_tvmffi;

/* The apache-tvm-ffi package root (holding include/tvm/ffi/c_api.h and
 * lib/libtvm_ffi.so): $KF_TVM_FFI_ROOT, else the first line of
 * <source tree>/var/tvm-ffi-root (written by `make deps`). 0 and buf, or
 * KF_ENOENT with err saying what is missing and how to set it. */
int ev_tvmffi_root(char *buf, size_t n, struct kf_err *err);

/* `open` on an explicit DLPack device (EV_DL_CPU or EV_DL_CUDA of
 * tvmffi_abi.h) and id. The lane's ops then treat the pointers of bind as
 * addresses on that device: EV_DL_CPU is for the CPU unit test (host
 * memory, memcpy instead of cuMemcpyDtoDAsync, no stream). */
int ev_tvmffi_open_on(int device_type, int device_id, const struct kf_solution *sol,
                      const struct kf_definition *def, char *const *artifacts, int nartifacts,
                      void **lane, struct kf_err *err);

#endif
