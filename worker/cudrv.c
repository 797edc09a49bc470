/* cudrv.c: dlopen loader of the CUDA driver API table. See cudrv.h. */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#define EV_CUDRV_IMPL
#include "cudrv.h"

struct ev_cudrv ev_cu;

static const struct { const char *name; size_t off; } entries[] = {
    {"cuCtxResetPersistingL2Cache", offsetof(struct ev_cudrv, cuCtxResetPersistingL2Cache)},
    {"cuCtxSetCurrent", offsetof(struct ev_cudrv, cuCtxSetCurrent)},
    {"cuCtxSynchronize", offsetof(struct ev_cudrv, cuCtxSynchronize)},
    {"cuDeviceGet", offsetof(struct ev_cudrv, cuDeviceGet)},
    {"cuDeviceGetAttribute", offsetof(struct ev_cudrv, cuDeviceGetAttribute)},
    {"cuDeviceGetCount", offsetof(struct ev_cudrv, cuDeviceGetCount)},
    {"cuDeviceGetName", offsetof(struct ev_cudrv, cuDeviceGetName)},
    {"cuDeviceGetPCIBusId", offsetof(struct ev_cudrv, cuDeviceGetPCIBusId)},
    {"cuDevicePrimaryCtxRelease_v2", offsetof(struct ev_cudrv, cuDevicePrimaryCtxRelease_v2)},
    {"cuDevicePrimaryCtxReset_v2", offsetof(struct ev_cudrv, cuDevicePrimaryCtxReset_v2)},
    {"cuDevicePrimaryCtxRetain", offsetof(struct ev_cudrv, cuDevicePrimaryCtxRetain)},
    {"cuDriverGetVersion", offsetof(struct ev_cudrv, cuDriverGetVersion)},
    {"cuEventCreate", offsetof(struct ev_cudrv, cuEventCreate)},
    {"cuEventDestroy_v2", offsetof(struct ev_cudrv, cuEventDestroy_v2)},
    {"cuEventElapsedTime_v2", offsetof(struct ev_cudrv, cuEventElapsedTime_v2)},
    {"cuEventRecord", offsetof(struct ev_cudrv, cuEventRecord)},
    {"cuFuncSetAttribute", offsetof(struct ev_cudrv, cuFuncSetAttribute)},
    {"cuGetErrorName", offsetof(struct ev_cudrv, cuGetErrorName)},
    {"cuGetErrorString", offsetof(struct ev_cudrv, cuGetErrorString)},
    {"cuGraphDestroy", offsetof(struct ev_cudrv, cuGraphDestroy)},
    {"cuGraphExecDestroy", offsetof(struct ev_cudrv, cuGraphExecDestroy)},
    {"cuGraphInstantiateWithFlags", offsetof(struct ev_cudrv, cuGraphInstantiateWithFlags)},
    {"cuGraphLaunch", offsetof(struct ev_cudrv, cuGraphLaunch)},
    {"cuInit", offsetof(struct ev_cudrv, cuInit)},
    {"cuIpcCloseMemHandle", offsetof(struct ev_cudrv, cuIpcCloseMemHandle)},
    {"cuIpcGetMemHandle", offsetof(struct ev_cudrv, cuIpcGetMemHandle)},
    {"cuIpcOpenMemHandle_v2", offsetof(struct ev_cudrv, cuIpcOpenMemHandle_v2)},
    {"cuLaunchKernel", offsetof(struct ev_cudrv, cuLaunchKernel)},
    {"cuLaunchKernelEx", offsetof(struct ev_cudrv, cuLaunchKernelEx)},
    {"cuMemAlloc_v2", offsetof(struct ev_cudrv, cuMemAlloc_v2)},
    {"cuMemFree_v2", offsetof(struct ev_cudrv, cuMemFree_v2)},
    {"cuMemGetInfo_v2", offsetof(struct ev_cudrv, cuMemGetInfo_v2)},
    {"cuMemcpyDtoDAsync_v2", offsetof(struct ev_cudrv, cuMemcpyDtoDAsync_v2)},
    {"cuMemcpyDtoH_v2", offsetof(struct ev_cudrv, cuMemcpyDtoH_v2)},
    {"cuMemcpyDtoHAsync_v2", offsetof(struct ev_cudrv, cuMemcpyDtoHAsync_v2)},
    {"cuMemcpyHtoDAsync_v2", offsetof(struct ev_cudrv, cuMemcpyHtoDAsync_v2)},
    {"cuMemsetD32Async", offsetof(struct ev_cudrv, cuMemsetD32Async)},
    {"cuMemsetD8Async", offsetof(struct ev_cudrv, cuMemsetD8Async)},
    {"cuModuleGetFunction", offsetof(struct ev_cudrv, cuModuleGetFunction)},
    {"cuModuleLoadData", offsetof(struct ev_cudrv, cuModuleLoadData)},
    {"cuModuleUnload", offsetof(struct ev_cudrv, cuModuleUnload)},
    {"cuStreamBeginCapture_v2", offsetof(struct ev_cudrv, cuStreamBeginCapture_v2)},
    {"cuStreamCreate", offsetof(struct ev_cudrv, cuStreamCreate)},
    {"cuStreamDestroy_v2", offsetof(struct ev_cudrv, cuStreamDestroy_v2)},
    {"cuStreamEndCapture", offsetof(struct ev_cudrv, cuStreamEndCapture)},
    {"cuStreamSynchronize", offsetof(struct ev_cudrv, cuStreamSynchronize)},
};

int ev_cudrv_load(struct kf_err *err)
{
    void *h;
    if (ev_cu.loaded)
        return 0;
    h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        h = dlopen("libcuda.so", RTLD_NOW | RTLD_GLOBAL);
    if (!h)
        return kf_err_set(err, KF_ECUDA, "device",
                          "no NVIDIA driver: cannot load libcuda.so.1 (%s); this command needs a GPU",
                          dlerror());
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        void *sym = dlsym(h, entries[i].name);
        if (!sym)
            return kf_err_set(err, KF_ECUDA, "device", "the NVIDIA driver lacks %s (too old?)",
                              entries[i].name);
        memcpy((char *)&ev_cu + entries[i].off, &sym, sizeof sym);
    }
    ev_cu.loaded = 1;
    return 0;
}
