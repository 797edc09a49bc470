// GDN decode (gdn_decode_qk4_v8_d128_k_last) in CUDA with the torch binding: a
// test solution of kernelfarm's Python lane, written for kernelfarm. The runner
// builds it with torch.utils.cpp_extension.load (as flashinfer-bench's
// TorchBuilder does) and calls the module's gdn_decode.
//
// The device code is that of the tvm-ffi lane's solution
// (tests/gpu/solutions/gdn_decode_tvmffi/solution/cuda/kernel.cu): one block of
// 128 threads per (sequence, value head); the [V=128, K=128] float state of a
// value head (k-last) is read row by row, 4 warps taking rows v = warp,
// warp + 4, ..., each lane K elements lane, lane + 32, lane + 64, lane + 96.
// Per row:
//   s = g * S[v, :];  r = s . k;  s += beta * (v_in[v] - r) * k;
//   out[v] = scale * (s . q);  new_state[v, :] = s
// with g = exp(-exp(A_log) * softplus(a + dt_bias)) and beta = sigmoid(b).
// Value head h reads query/key head h / 2 (num_v_heads / num_q_heads = 2).
//
// Arguments in flashinfer-bench's order, positionally: the inputs of the
// definition (state None when absent: zeros; scale None or 0: 1/sqrt(128)),
// then the outputs (destination-passing style). The launch is on torch's
// current stream of the tensors' device, which the runner sets to its own.
#include <torch/extension.h>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include <vector>

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

// t must be a contiguous CUDA tensor of dtype dt on q's device, shaped
// [batch, tail...] (batch >= 0) or [tail...] (batch < 0).
void check(const torch::Tensor& t, const char* name, at::ScalarType dt,
           std::initializer_list<int64_t> tail, int64_t batch, const torch::Tensor& q) {
  TORCH_CHECK_TYPE(t.scalar_type() == dt, name, ": dtype ", t.scalar_type(), ", expected ", dt);
  TORCH_CHECK_VALUE(t.is_cuda(), name, ": on ", t.device(), ", expected a CUDA tensor");
  TORCH_CHECK_VALUE(t.device() == q.device(), name, ": on ", t.device(), ", q on ", q.device());
  std::vector<int64_t> want;
  if (batch >= 0) want.push_back(batch);
  want.insert(want.end(), tail.begin(), tail.end());
  TORCH_CHECK_VALUE(t.sizes() == at::IntArrayRef(want), name, ": shape ", t.sizes(),
                    ", expected ", at::IntArrayRef(want));
  TORCH_CHECK_VALUE(t.is_contiguous(), name, ": not contiguous (strides ", t.strides(), ")");
}

template <typename T>
const T* cptr(const torch::Tensor& t) {
  return reinterpret_cast<const T*>(t.data_ptr());
}

template <typename T>
T* mptr(const torch::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

void gdn_decode(torch::Tensor q, torch::Tensor k, torch::Tensor v,
                c10::optional<torch::Tensor> state, torch::Tensor A_log, torch::Tensor a,
                torch::Tensor dt_bias, torch::Tensor b, c10::optional<double> scale,
                torch::Tensor output, torch::Tensor new_state) {
  TORCH_CHECK_VALUE(q.dim() == 4, "q: ", q.dim(), " dims, expected 4 [batch, 1, ", kHQ, ", ",
                    kD, "]");
  const int64_t B = q.size(0);
  check(q, "q", at::kBFloat16, {1, kHQ, kD}, B, q);
  check(k, "k", at::kBFloat16, {1, kHQ, kD}, B, q);
  check(v, "v", at::kBFloat16, {1, kHV, kD}, B, q);
  if (state.has_value()) check(*state, "state", at::kFloat, {kHV, kD, kD}, B, q);
  check(A_log, "A_log", at::kFloat, {kHV}, -1, q);
  check(a, "a", at::kBFloat16, {1, kHV}, B, q);
  check(dt_bias, "dt_bias", at::kFloat, {kHV}, -1, q);
  check(b, "b", at::kBFloat16, {1, kHV}, B, q);
  check(output, "output", at::kBFloat16, {1, kHV, kD}, B, q);
  check(new_state, "new_state", at::kFloat, {kHV, kD, kD}, B, q);
  if (B == 0) return;
  const double sc_in = scale.has_value() ? *scale : 0.0;
  const float sc = sc_in == 0.0 ? 1.f / sqrtf((float)kD) : (float)sc_in;
  const c10::cuda::CUDAGuard guard(q.device());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(q.get_device()).stream();
  dim3 grid((unsigned)B, kHV);
  gdn_decode_kernel<<<grid, kWarps * 32, 0, stream>>>(
      cptr<__nv_bfloat16>(q), cptr<__nv_bfloat16>(k), cptr<__nv_bfloat16>(v),
      state.has_value() ? cptr<float>(*state) : nullptr, cptr<float>(A_log),
      cptr<__nv_bfloat16>(a), cptr<float>(dt_bias), cptr<__nv_bfloat16>(b), sc,
      mptr<__nv_bfloat16>(output), mptr<float>(new_state));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "GDN decode (gdn_decode_qk4_v8_d128_k_last), kernelfarm's torch-binding test solution";
  m.def("gdn_decode", &gdn_decode,
        "GDN decode step, destination-passing style: writes output and new_state",
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("state").none(true), py::arg("A_log"),
        py::arg("a"), py::arg("dt_bias"), py::arg("b"), py::arg("scale").none(true),
        py::arg("output"), py::arg("new_state"));
}
