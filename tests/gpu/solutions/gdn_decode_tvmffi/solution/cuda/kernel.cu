// GDN decode (gdn_decode_qk4_v8_d128_k_last) for the tvm-ffi lane.
//
// One block of 128 threads per (sequence, value head). The state of a value
// head is a [V=128, K=128] float matrix (k-last); each of the 4 warps takes
// state rows v = warp, warp + 4, ..., and its 32 lanes read a row's K
// elements lane, lane + 32, lane + 64, lane + 96 (coalesced). Per row:
//   s = g * S[v, :];  r = s . k;  s += beta * (v_in[v] - r) * k;
//   out[v] = scale * (s . q);  new_state[v, :] = s
// with g = exp(-exp(A_log) * softplus(a + dt_bias)) and beta = sigmoid(b).
// Value head h reads query/key head h / 2 (num_v_heads / num_q_heads = 2).
// Arguments in flashinfer-bench's order: the inputs of the definition, then
// the outputs (destination-passing style); the stream is the caller's
// (TVMFFIEnvGetStream).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/optional.h>

namespace ffi = tvm::ffi;

namespace {

constexpr int kHQ = 4, kHV = 8, kD = 128, kWarps = 4;

__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

__global__ void __launch_bounds__(kWarps * 32)
gdn_decode_kernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                  const __nv_bfloat16* __restrict__ v, const float* __restrict__ state,
                  const float* __restrict__ A_log, const __nv_bfloat16* __restrict__ a,
                  const float* __restrict__ dt_bias, const __nv_bfloat16* __restrict__ b,
                  float scale, __nv_bfloat16* __restrict__ out, float* __restrict__ new_state) {
  const int seq = blockIdx.x, h = blockIdx.y, qh = h / (kHV / kHQ);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __shared__ float sq[kD], sk[kD];
  const size_t qk_off = ((size_t)seq * kHQ + qh) * kD;
  for (int i = threadIdx.x; i < kD; i += blockDim.x) {
    sq[i] = __bfloat162float(q[qk_off + i]);
    sk[i] = __bfloat162float(k[qk_off + i]);
  }
  __syncthreads();

  const float x = __bfloat162float(a[(size_t)seq * kHV + h]) + dt_bias[h];
  const float softplus = x > 20.f ? x : log1pf(expf(fminf(x, 20.f)));
  const float g = expf(-expf(A_log[h]) * softplus);
  const float beta = 1.f / (1.f + expf(-__bfloat162float(b[(size_t)seq * kHV + h])));

  const size_t head = (size_t)seq * kHV + h;
  const float* S = state ? state + head * kD * kD : nullptr;
  float* NS = new_state + head * kD * kD;
  float kk[4], qq[4];
#pragma unroll
  for (int t = 0; t < 4; t++) {
    kk[t] = sk[lane + 32 * t];
    qq[t] = sq[lane + 32 * t];
  }
  for (int row = warp; row < kD; row += kWarps) {
    float s[4], r = 0.f;
#pragma unroll
    for (int t = 0; t < 4; t++) {
      s[t] = S ? g * S[(size_t)row * kD + lane + 32 * t] : 0.f;
      r += s[t] * kk[t];
    }
    r = warp_sum(r);
    const float d = beta * (__bfloat162float(v[head * kD + row]) - r);
    float o = 0.f;
#pragma unroll
    for (int t = 0; t < 4; t++) {
      s[t] += d * kk[t];
      o += s[t] * qq[t];
      NS[(size_t)row * kD + lane + 32 * t] = s[t];
    }
    o = warp_sum(o);
    if (lane == 0) out[head * kD + row] = __float2bfloat16(scale * o);
  }
}

void check(const ffi::TensorView& t, const char* name, DLDataTypeCode code, int bits,
           std::initializer_list<int64_t> dims_tail, int64_t batch) {
  if (t.dtype().code != code || t.dtype().bits != bits || t.dtype().lanes != 1)
    TVM_FFI_THROW(TypeError) << name << ": unexpected dtype";
  if (t.device().device_type != kDLCUDA) TVM_FFI_THROW(ValueError) << name << ": not on CUDA";
  int64_t want = (int64_t)dims_tail.size() + (batch >= 0 ? 1 : 0);
  if (t.ndim() != want) TVM_FFI_THROW(ValueError) << name << ": expected " << want << " dims";
  int i = 0;
  if (batch >= 0 && t.shape()[i++] != batch) TVM_FFI_THROW(ValueError) << name << ": batch";
  for (int64_t d : dims_tail)
    if (t.shape()[i++] != d) TVM_FFI_THROW(ValueError) << name << ": shape";
}

void gdn_decode(ffi::TensorView q, ffi::TensorView k, ffi::TensorView v,
                ffi::Optional<ffi::TensorView> state, ffi::TensorView A_log, ffi::TensorView a,
                ffi::TensorView dt_bias, ffi::TensorView b, double scale, ffi::TensorView output,
                ffi::TensorView new_state) {
  const int64_t B = q.shape()[0];
  check(q, "q", kDLBfloat, 16, {1, kHQ, kD}, B);
  check(k, "k", kDLBfloat, 16, {1, kHQ, kD}, B);
  check(v, "v", kDLBfloat, 16, {1, kHV, kD}, B);
  if (state.has_value()) check(*state, "state", kDLFloat, 32, {kHV, kD, kD}, B);
  check(A_log, "A_log", kDLFloat, 32, {kHV}, -1);
  check(a, "a", kDLBfloat, 16, {1, kHV}, B);
  check(dt_bias, "dt_bias", kDLFloat, 32, {kHV}, -1);
  check(b, "b", kDLBfloat, 16, {1, kHV}, B);
  check(output, "output", kDLBfloat, 16, {1, kHV, kD}, B);
  check(new_state, "new_state", kDLFloat, 32, {kHV, kD, kD}, B);
  if (B == 0) return;
  const float sc = scale == 0.0 ? 1.f / sqrtf((float)kD) : (float)scale;
  cudaStream_t stream =
      static_cast<cudaStream_t>(TVMFFIEnvGetStream(kDLCUDA, q.device().device_id));
  dim3 grid((unsigned)B, kHV);
  gdn_decode_kernel<<<grid, kWarps * 32, 0, stream>>>(
      static_cast<const __nv_bfloat16*>(q.data_ptr()), static_cast<const __nv_bfloat16*>(k.data_ptr()),
      static_cast<const __nv_bfloat16*>(v.data_ptr()),
      state.has_value() ? static_cast<const float*>((*state).data_ptr()) : nullptr,
      static_cast<const float*>(A_log.data_ptr()), static_cast<const __nv_bfloat16*>(a.data_ptr()),
      static_cast<const float*>(dt_bias.data_ptr()), static_cast<const __nv_bfloat16*>(b.data_ptr()),
      sc, static_cast<__nv_bfloat16*>(output.data_ptr()), static_cast<float*>(new_state.data_ptr()));
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) TVM_FFI_THROW(RuntimeError) << "launch: " << cudaGetErrorString(e);
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(gdn_decode, gdn_decode);
