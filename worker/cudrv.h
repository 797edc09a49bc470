/* cudrv.h: the CUDA driver API through dlopen("libcuda.so.1"), so that
 * programs linking the evaluation engine (bin/kf, the unit tests) still start
 * on machines without an NVIDIA driver; only ev_dev_open needs one. Include
 * this instead of <cuda.h> in evaluator code: it redirects the driver calls
 * the engine uses to a table filled by ev_cudrv_load. Thread-safe after the
 * first successful load.
 */
#ifndef EV_CUDRV_H
#define EV_CUDRV_H

#include <cuda.h>

#include "kf_err.h"

struct ev_cudrv {
    int loaded;
    __typeof__(cuCtxResetPersistingL2Cache) *cuCtxResetPersistingL2Cache;
    __typeof__(cuCtxSetCurrent) *cuCtxSetCurrent;
    __typeof__(cuCtxSynchronize) *cuCtxSynchronize;
    __typeof__(cuDeviceGet) *cuDeviceGet;
    __typeof__(cuDeviceGetAttribute) *cuDeviceGetAttribute;
    __typeof__(cuDeviceGetCount) *cuDeviceGetCount;
    __typeof__(cuDeviceGetName) *cuDeviceGetName;
    __typeof__(cuDeviceGetPCIBusId) *cuDeviceGetPCIBusId;
    __typeof__(cuDevicePrimaryCtxRelease_v2) *cuDevicePrimaryCtxRelease_v2;
    __typeof__(cuDevicePrimaryCtxReset_v2) *cuDevicePrimaryCtxReset_v2;
    __typeof__(cuDevicePrimaryCtxRetain) *cuDevicePrimaryCtxRetain;
    __typeof__(cuDriverGetVersion) *cuDriverGetVersion;
    __typeof__(cuEventCreate) *cuEventCreate;
    __typeof__(cuEventDestroy_v2) *cuEventDestroy_v2;
    __typeof__(cuEventElapsedTime_v2) *cuEventElapsedTime_v2;
    __typeof__(cuEventRecord) *cuEventRecord;
    __typeof__(cuFuncSetAttribute) *cuFuncSetAttribute;
    __typeof__(cuGetErrorName) *cuGetErrorName;
    __typeof__(cuGetErrorString) *cuGetErrorString;
    __typeof__(cuGraphDestroy) *cuGraphDestroy;
    __typeof__(cuGraphExecDestroy) *cuGraphExecDestroy;
    __typeof__(cuGraphInstantiateWithFlags) *cuGraphInstantiateWithFlags;
    __typeof__(cuGraphLaunch) *cuGraphLaunch;
    __typeof__(cuInit) *cuInit;
    __typeof__(cuIpcCloseMemHandle) *cuIpcCloseMemHandle;
    __typeof__(cuIpcGetMemHandle) *cuIpcGetMemHandle;
    __typeof__(cuIpcOpenMemHandle_v2) *cuIpcOpenMemHandle_v2;
    __typeof__(cuLaunchKernel) *cuLaunchKernel;
    __typeof__(cuLaunchKernelEx) *cuLaunchKernelEx;
    __typeof__(cuMemAlloc_v2) *cuMemAlloc_v2;
    __typeof__(cuMemFree_v2) *cuMemFree_v2;
    __typeof__(cuMemGetInfo_v2) *cuMemGetInfo_v2;
    __typeof__(cuMemcpyDtoDAsync_v2) *cuMemcpyDtoDAsync_v2;
    __typeof__(cuMemcpyDtoH_v2) *cuMemcpyDtoH_v2;
    __typeof__(cuMemcpyDtoHAsync_v2) *cuMemcpyDtoHAsync_v2;
    __typeof__(cuMemcpyHtoDAsync_v2) *cuMemcpyHtoDAsync_v2;
    __typeof__(cuMemsetD32Async) *cuMemsetD32Async;
    __typeof__(cuMemsetD8Async) *cuMemsetD8Async;
    __typeof__(cuModuleGetFunction) *cuModuleGetFunction;
    __typeof__(cuModuleLoadData) *cuModuleLoadData;
    __typeof__(cuModuleUnload) *cuModuleUnload;
    __typeof__(cuStreamBeginCapture_v2) *cuStreamBeginCapture_v2;
    __typeof__(cuStreamCreate) *cuStreamCreate;
    __typeof__(cuStreamDestroy_v2) *cuStreamDestroy_v2;
    __typeof__(cuStreamEndCapture) *cuStreamEndCapture;
    __typeof__(cuStreamSynchronize) *cuStreamSynchronize;
};

extern struct ev_cudrv ev_cu;

/* Load libcuda.so.1 and resolve every entry (once). 0, or KF_ECUDA with a
 * message saying that no NVIDIA driver is installed. */
int ev_cudrv_load(struct kf_err *err);

#ifndef EV_CUDRV_IMPL   /* cudrv.c needs the plain names */
#define cuCtxResetPersistingL2Cache (ev_cu.cuCtxResetPersistingL2Cache)
#define cuCtxSetCurrent (ev_cu.cuCtxSetCurrent)
#define cuCtxSynchronize (ev_cu.cuCtxSynchronize)
#define cuDeviceGet (ev_cu.cuDeviceGet)
#define cuDeviceGetAttribute (ev_cu.cuDeviceGetAttribute)
#define cuDeviceGetCount (ev_cu.cuDeviceGetCount)
#define cuDeviceGetName (ev_cu.cuDeviceGetName)
#define cuDeviceGetPCIBusId (ev_cu.cuDeviceGetPCIBusId)
#define cuDevicePrimaryCtxRelease_v2 (ev_cu.cuDevicePrimaryCtxRelease_v2)
#define cuDevicePrimaryCtxReset_v2 (ev_cu.cuDevicePrimaryCtxReset_v2)
#define cuDevicePrimaryCtxRetain (ev_cu.cuDevicePrimaryCtxRetain)
#define cuDriverGetVersion (ev_cu.cuDriverGetVersion)
#define cuEventCreate (ev_cu.cuEventCreate)
#define cuEventDestroy_v2 (ev_cu.cuEventDestroy_v2)
#define cuEventElapsedTime_v2 (ev_cu.cuEventElapsedTime_v2)
#define cuEventRecord (ev_cu.cuEventRecord)
#define cuFuncSetAttribute (ev_cu.cuFuncSetAttribute)
#define cuGetErrorName (ev_cu.cuGetErrorName)
#define cuGetErrorString (ev_cu.cuGetErrorString)
#define cuGraphDestroy (ev_cu.cuGraphDestroy)
#define cuGraphExecDestroy (ev_cu.cuGraphExecDestroy)
#define cuGraphInstantiateWithFlags (ev_cu.cuGraphInstantiateWithFlags)
#define cuGraphLaunch (ev_cu.cuGraphLaunch)
#define cuInit (ev_cu.cuInit)
#define cuIpcCloseMemHandle (ev_cu.cuIpcCloseMemHandle)
#define cuIpcGetMemHandle (ev_cu.cuIpcGetMemHandle)
#define cuIpcOpenMemHandle_v2 (ev_cu.cuIpcOpenMemHandle_v2)
#define cuLaunchKernel (ev_cu.cuLaunchKernel)
#define cuLaunchKernelEx (ev_cu.cuLaunchKernelEx)
#define cuMemAlloc_v2 (ev_cu.cuMemAlloc_v2)
#define cuMemFree_v2 (ev_cu.cuMemFree_v2)
#define cuMemGetInfo_v2 (ev_cu.cuMemGetInfo_v2)
#define cuMemcpyDtoDAsync_v2 (ev_cu.cuMemcpyDtoDAsync_v2)
#define cuMemcpyDtoH_v2 (ev_cu.cuMemcpyDtoH_v2)
#define cuMemcpyDtoHAsync_v2 (ev_cu.cuMemcpyDtoHAsync_v2)
#define cuMemcpyHtoDAsync_v2 (ev_cu.cuMemcpyHtoDAsync_v2)
#define cuMemsetD32Async (ev_cu.cuMemsetD32Async)
#define cuMemsetD8Async (ev_cu.cuMemsetD8Async)
#define cuModuleGetFunction (ev_cu.cuModuleGetFunction)
#define cuModuleLoadData (ev_cu.cuModuleLoadData)
#define cuModuleUnload (ev_cu.cuModuleUnload)
#define cuStreamBeginCapture_v2 (ev_cu.cuStreamBeginCapture_v2)
#define cuStreamCreate (ev_cu.cuStreamCreate)
#define cuStreamDestroy_v2 (ev_cu.cuStreamDestroy_v2)
#define cuStreamEndCapture (ev_cu.cuStreamEndCapture)
#define cuStreamSynchronize (ev_cu.cuStreamSynchronize)
#endif

#endif
