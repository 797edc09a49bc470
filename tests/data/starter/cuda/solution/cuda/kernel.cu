// Starter-kit packing fixture: a tvm-ffi CUDA entry point named "kernel".
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

__global__ void twice(const float* x, float* y, int n) {
  int i = blockIdx.x * KF_BLOCK + threadIdx.x;
  if (i < n) y[i] = 2.f * x[i];
}

void kernel(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  int n = (int)x.shape()[0];
  auto s = static_cast<cudaStream_t>(TVMFFIEnvGetStream(kDLCUDA, x.device().device_id));
  twice<<<(n + KF_BLOCK - 1) / KF_BLOCK, KF_BLOCK, 0, s>>>(
      static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()), n);
}

TVM_FFI_DLL_EXPORT_TYPED_FUNC(kernel, kernel);
