/* test_lane_tvmffi.c: the tvm-ffi lane without a GPU. C++ solutions are
 * built with the lane's own build (g++ against apache-tvm-ffi), loaded with
 * its open, bound over host memory (DLPack kCPU) and run through the tvm-ffi
 * C ABI: inputs then outputs in definition order, bf16 and 0-d tensors,
 * float/int scalars, an absent optional input, the stream the solution reads
 * with TVMFFIEnvGetStream, an error the solution raises, and the
 * value-returning style (a tuple, a single tensor, a wrong shape, a wrong
 * dtype). Build failures: a syntax error and an unresolved symbol are
 * KF_EINVAL with the compiler's log; a flag off the allow-list is refused
 * with its path; the cache is hit the second time. A CUDA solution is
 * compiled (not run) for sm_90a with nvcc. Needs `make deps` (tvm-ffi); says
 * so and fails without it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compile_opts.h"
#include "kf_check.h"
#include "lane.h"
#include "lane_tvmffi.h"
#include "model.h"
#include "tvmffi_abi.h"
#include "xalloc.h"

static char cache_dir[] = "/tmp/kf-test-tvmffi-XXXXXX";

#define CPP_PRELUDE                                                                             \
    "#include <tvm/ffi/function.h>\n#include <tvm/ffi/container/tensor.h>\n"                     \
    "#include <tvm/ffi/container/tuple.h>\n#include <tvm/ffi/extra/c_env_api.h>\n"               \
    "#include <cstring>\n#include <cstdint>\nnamespace ffi = tvm::ffi;\n"

/* out[i] = alpha * x[i] + y[i] (bf16) + k; cnt = n; checks what it is given. */
static const char *dps_src =
    CPP_PRELUDE
    "static float bf(uint16_t v) { uint32_t u = (uint32_t)v << 16; float f; "
    "std::memcpy(&f, &u, 4); return f; }\n"
    "void axpy(ffi::TensorView x, ffi::TensorView y, double alpha, int64_t k,\n"
    "          ffi::Optional<ffi::TensorView> z, ffi::TensorView out, ffi::TensorView cnt) {\n"
    "  if (x.dtype().code != kDLFloat || x.dtype().bits != 32) TVM_FFI_THROW(TypeError) << \"x\";\n"
    "  if (y.dtype().code != kDLBfloat || y.dtype().bits != 16) TVM_FFI_THROW(TypeError) << \"y\";\n"
    "  if (cnt.dtype().code != kDLInt || cnt.dtype().bits != 64 || cnt.ndim() != 0)\n"
    "    TVM_FFI_THROW(TypeError) << \"cnt\";\n"
    "  if (z.has_value()) TVM_FFI_THROW(ValueError) << \"z must be absent\";\n"
    "  if (x.device().device_type != kDLCPU) TVM_FFI_THROW(ValueError) << \"device\";\n"
    "  if (TVMFFIEnvGetStream(kDLCPU, 0) != (void*)0x5eed) TVM_FFI_THROW(ValueError) << \"stream\";\n"
    "  if (k == 99) TVM_FFI_THROW(ValueError) << \"boom from the solution\";\n"
    "  int64_t n = x.shape()[0];\n"
    "  if (x.ndim() != 1 || out.shape()[0] != n || x.strides()[0] != 1)\n"
    "    TVM_FFI_THROW(ValueError) << \"shape\";\n"
    "  const float* xp = static_cast<const float*>(x.data_ptr());\n"
    "  const uint16_t* yp = static_cast<const uint16_t*>(y.data_ptr());\n"
    "  float* op = static_cast<float*>(out.data_ptr());\n"
    "  for (int64_t i = 0; i < n; i++) op[i] = (float)alpha * xp[i] + bf(yp[i]) + (float)k;\n"
    "  *static_cast<int64_t*>(cnt.data_ptr()) = n;\n"
    "}\n"
    "TVM_FFI_DLL_EXPORT_TYPED_FUNC(axpy, axpy);\n";

/* The same, value-returning: returns (out, cnt); k 7: out has the wrong
 * shape; k 8: out has the wrong dtype. */
static const char *ret_src =
    CPP_PRELUDE
    "static float bf(uint16_t v) { uint32_t u = (uint32_t)v << 16; float f; "
    "std::memcpy(&f, &u, 4); return f; }\n"
    "ffi::Tuple<ffi::Tensor, ffi::Tensor> axpy_ret(ffi::TensorView x, ffi::TensorView y, "
    "double alpha, int64_t k, ffi::Optional<ffi::TensorView> z) {\n"
    "  int64_t n = x.shape()[0];\n"
    "  DLDataType f32 = x.dtype(), i64{kDLInt, 64, 1};\n"
    "  if (k == 8) f32 = DLDataType{kDLFloat, 16, 1};\n"
    "  ffi::Tensor out = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, "
    "ffi::Shape({k == 7 ? n + 1 : n}), f32, x.device());\n"
    "  ffi::Tensor cnt = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, ffi::Shape({}), i64, "
    "x.device());\n"
    "  const float* xp = static_cast<const float*>(x.data_ptr());\n"
    "  const uint16_t* yp = static_cast<const uint16_t*>(y.data_ptr());\n"
    "  float* op = static_cast<float*>(out.data_ptr());\n"
    "  if (k != 8) for (int64_t i = 0; i < n; i++) op[i] = (float)alpha * xp[i] + bf(yp[i]) + (float)k;\n"
    "  *static_cast<int64_t*>(cnt.data_ptr()) = n;\n"
    "  return ffi::Tuple<ffi::Tensor, ffi::Tensor>(out, cnt);\n"
    "}\n"
    "TVM_FFI_DLL_EXPORT_TYPED_FUNC(axpy_ret, axpy_ret);\n";

/* One output, returned as a single tensor: y = 2 x. */
static const char *one_src =
    CPP_PRELUDE
    "ffi::Tensor twice(ffi::TensorView x) {\n"
    "  ffi::Tensor y = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, "
    "ffi::Shape({x.shape()[0]}), x.dtype(), x.device());\n"
    "  for (int64_t i = 0; i < x.shape()[0]; i++)\n"
    "    static_cast<float*>(y.data_ptr())[i] = 2 * static_cast<const float*>(x.data_ptr())[i];\n"
    "  return y;\n"
    "}\n"
    "TVM_FFI_DLL_EXPORT_TYPED_FUNC(twice, twice);\n";

static const char *cuda_src =
    "#include <tvm/ffi/function.h>\n#include <tvm/ffi/container/tensor.h>\n"
    "#include <tvm/ffi/extra/c_env_api.h>\n#include <cuda_runtime.h>\n"
    "namespace ffi = tvm::ffi;\n"
    "__global__ void scale_k(const float* x, float* y, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = 2.f * x[i]; }\n"
    "void scale(ffi::TensorView x, ffi::TensorView y) {\n"
    "  int n = (int)x.shape()[0];\n"
    "  cudaStream_t s = static_cast<cudaStream_t>(TVMFFIEnvGetStream(kDLCUDA, x.device().device_id));\n"
    "  scale_k<<<(n + 255) / 256, 256, 0, s>>>(static_cast<const float*>(x.data_ptr()),\n"
    "                                         static_cast<float*>(y.data_ptr()), n);\n"
    "}\n"
    "TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, scale);\n";

static struct kf_definition *make_def(const char *which)
{
    json_t *j;
    struct kf_definition *d = NULL;
    struct kf_err err;
    if (strcmp(which, "one") == 0)
        j = json_pack("{s:s,s:s,s:{s:{s:s}},s:{s:{s:[s],s:s}},s:{s:{s:[s],s:s}},s:s}", "name",
                      "twice_f32", "op_type", "toy", "axes", "n", "type", "var", "inputs", "x",
                      "shape", "n", "dtype", "float32", "outputs", "y", "shape", "n", "dtype",
                      "float32", "reference", "def run(x):\n    return 2 * x\n");
    else
        j = json_pack("{s:s,s:s,s:{s:{s:s}},"
                      "s:{s:{s:[s],s:s},s:{s:[s],s:s},s:{s:n,s:s},s:{s:n,s:s},s:{s:[s],s:s,s:b}},"
                      "s:{s:{s:[s],s:s},s:{s:[],s:s}},s:s}",
                      "name", "axpy_tv", "op_type", "toy", "axes", "n", "type", "var", "inputs",
                      "x", "shape", "n", "dtype", "float32", "y", "shape", "n", "dtype",
                      "bfloat16", "alpha", "shape", "dtype", "float32", "k", "shape", "dtype",
                      "int32", "z", "shape", "n", "dtype", "float32", "optional", 1, "outputs",
                      "out", "shape", "n", "dtype", "float32", "cnt", "shape", "dtype", "int64",
                      "reference", "def run(x, y, alpha, k, z):\n    return x\n");
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(kf_definition_from_json(j, &d, &err) == 0, "%s: %s", err.path, err.msg);
    json_decref(j);
    return d;
}

static struct kf_solution *make_sol(const char *def, const char *lang, const char *file,
                                    const char *entry, const char *src, int dps,
                                    json_t *copts /* stolen, may be NULL */)
{
    char ep[128];
    struct kf_solution *s = NULL;
    struct kf_err err;
    snprintf(ep, sizeof ep, "%s::%s", file, entry);
    json_t *spec = json_pack("{s:s,s:[s],s:s,s:b}", "language", lang, "target_hardware", "cuda",
                             "entry_point", ep, "destination_passing_style", dps);
    if (copts)
        json_object_set_new(spec, "compile_options", copts);
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:[{s:s,s:s}]}", "name", "t", "definition", def,
                          "author", "me", "spec", spec, "sources", "path", file, "content", src);
    ck_assert_msg(kf_solution_from_json(j, &s, &err) == 0, "%s: %s", err.path, err.msg);
    json_decref(j);
    return s;
}

static void need_tvmffi(void)
{
    char root[1024];
    struct kf_err err;
    ck_assert_msg(ev_tvmffi_root(root, sizeof root, &err) == 0,
                  "tvm-ffi not installed (run make deps): %s", err.msg);
}

/* Build; on success one artifact. rc returned, log kept in *log. */
static int build(const struct kf_solution *s, const struct kf_definition *d, const char *arch,
                 char ***art, int *nart, char **log, struct kf_err *err)
{
    need_tvmffi();
    return ev_lane_tvmffi.build(s, d, arch, cache_dir, art, nart, log, err);
}

/* Host buffers for the axpy definition, n = 5. */
struct axpy_bufs {
    float x[5], out[8];
    uint16_t y[5];
    int64_t cnt;
    struct ev_tensor_desc in[5], outd[2];
};

static void axpy_desc(struct axpy_bufs *b, int k)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 5; i++) {
        b->x[i] = (float)i;
        b->y[i] = kf_f32_to_bf16(0.25f * (float)i);
        b->out[i] = -1;
    }
    b->cnt = -1;
    b->in[0] = (struct ev_tensor_desc){"x", KF_DT_F32, 1, {5}, (CUdeviceptr)(uintptr_t)b->x, 20, 0, 0, 0};
    b->in[1] = (struct ev_tensor_desc){"y", KF_DT_BF16, 1, {5}, (CUdeviceptr)(uintptr_t)b->y, 10, 0, 0, 0};
    b->in[2] = (struct ev_tensor_desc){"alpha", KF_DT_F32, 0, {0}, 0, 0, 1, 1.5, 1};
    b->in[3] = (struct ev_tensor_desc){"k", KF_DT_I32, 0, {0}, 0, 0, 1, (double)k, k};
    b->in[4] = (struct ev_tensor_desc){"z", KF_DT_F32, 1, {5}, 0, 0, 0, 0, 0};   /* absent */
    b->outd[0] = (struct ev_tensor_desc){"out", KF_DT_F32, 1, {5}, (CUdeviceptr)(uintptr_t)b->out, 20, 0, 0, 0};
    b->outd[1] = (struct ev_tensor_desc){"cnt", KF_DT_I64, 0, {0}, (CUdeviceptr)(uintptr_t)&b->cnt, 8, 0, 0, 0};
}

static void check_axpy(const struct axpy_bufs *b, int k)
{
    for (int i = 0; i < 5; i++)
        ck_assert_msg(b->out[i] == 1.5f * (float)i + 0.25f * (float)i + (float)k,
                      "out[%d] = %g", i, b->out[i]);
    ck_assert_int_eq(b->cnt, 5);
}

static void *open_cpu(const struct kf_solution *s, const struct kf_definition *d, char **art,
                      int nart)
{
    void *lane = NULL;
    struct kf_err err = {0};
    ck_assert_msg(ev_tvmffi_open_on(EV_DL_CPU, 0, s, d, art, nart, &lane, &err) == 0, "open: %s",
                  err.msg);
    return lane;
}

#define FAKE_STREAM ((CUstream)(uintptr_t)0x5eed)

START_TEST(test_dps_cpp)
{
    struct kf_definition *d = make_def("axpy");
    struct kf_solution *s = make_sol("axpy_tv", "cpp", "axpy.cpp", "axpy", dps_src, 1, NULL);
    char **art = NULL, *log = NULL;
    int nart = 0, st = -1;
    struct kf_err err = {0};
    struct axpy_bufs b;
    CUresult cu;
    ck_assert_msg(build(s, d, "sm_90a", &art, &nart, &log, &err) == 0, "%s: %s\n%s", err.path,
                  err.msg, log ? log : "");
    ck_assert_int_eq(nart, 1);
    ck_assert_msg(strstr(art[0], "/so/") && strstr(art[0], ".so"), "%s", art[0]);
    void *lane = open_cpu(s, d, art, nart);
    axpy_desc(&b, 3);
    struct ev_call_desc c = {d, NULL, b.in, b.outd};
    ck_assert_msg(ev_lane_tvmffi.bind(lane, &c, &cu, &err) == 0, "bind: %s", err.msg);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert_int_eq(ev_lane_tvmffi.collect(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert_ptr_null(ev_lane_tvmffi.last_error(lane, &st));
    check_axpy(&b, 3);

    /* A raised error comes back with its kind and message; not sticky. */
    axpy_desc(&b, 99);
    ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c, &cu, &err), 0);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_ERROR_INVALID_VALUE);
    const char *msg = ev_lane_tvmffi.last_error(lane, &st);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "ValueError") && strstr(msg, "boom from the solution"), "%s", msg);
    ck_assert_int_eq(st, KF_ST_RUNTIME_ERROR);

    /* The stream is the one run was given: another one is refused by the
     * solution's own check. */
    axpy_desc(&b, 1);
    ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c, &cu, &err), 0);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, (CUstream)(uintptr_t)0x1), CUDA_ERROR_INVALID_VALUE);
    msg = ev_lane_tvmffi.last_error(lane, &st);
    ck_assert_msg(msg && strstr(msg, "stream"), "%s", msg ? msg : "");
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
    check_axpy(&b, 1);
    ev_lane_tvmffi.close(lane, 0);

    /* The second build is the cache's. */
    char **art2 = NULL, *log2 = NULL;
    int nart2 = 0;
    ck_assert_int_eq(build(s, d, "sm_90a", &art2, &nart2, &log2, &err), 0);
    ck_assert_str_eq(art2[0], art[0]);
    ck_assert_ptr_null(log2);
    ev_lane_artifacts_free(art2, nart2);
    ev_lane_artifacts_free(art, nart);
    free(log);
    kf_solution_free(s);
    kf_definition_free(d);
}
END_TEST

START_TEST(test_value_returning)
{
    struct kf_definition *d = make_def("axpy");
    struct kf_solution *s =
        make_sol("axpy_tv", "cpp", "r.cc", "axpy_ret", ret_src, 0, json_pack("[s]", "-O1"));
    char **art = NULL, *log = NULL;
    int nart = 0, st = -1;
    struct kf_err err = {0};
    struct axpy_bufs b;
    CUresult cu;
    ck_assert_msg(build(s, d, "sm_90a", &art, &nart, &log, &err) == 0, "%s: %s\n%s", err.path,
                  err.msg, log ? log : "");
    ck_assert_msg(log && strstr(log, " -O1 "), "the flag reaches g++: %s", log ? log : "");
    void *lane = open_cpu(s, d, art, nart);
    struct ev_call_desc c = {d, NULL, b.in, b.outd};
    for (int round = 0; round < 3; round++) {   /* the allocator's blocks are reused */
        axpy_desc(&b, 2 + round);
        ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c, &cu, &err), 0);
        ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
        ck_assert(b.out[0] == -1);   /* nothing written before collect */
        ck_assert_int_eq(ev_lane_tvmffi.collect(lane, FAKE_STREAM), CUDA_SUCCESS);
        check_axpy(&b, 2 + round);
    }
    axpy_desc(&b, 7);
    ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c, &cu, &err), 0);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert_int_eq(ev_lane_tvmffi.collect(lane, FAKE_STREAM), CUDA_ERROR_INVALID_VALUE);
    const char *msg = ev_lane_tvmffi.last_error(lane, &st);
    ck_assert_int_eq(st, KF_ST_INCORRECT_SHAPE);
    ck_assert_msg(strstr(msg, "'out'") && strstr(msg, "[6]") && strstr(msg, "[5]"), "%s", msg);
    axpy_desc(&b, 8);
    ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c, &cu, &err), 0);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert_int_eq(ev_lane_tvmffi.collect(lane, FAKE_STREAM), CUDA_ERROR_INVALID_VALUE);
    msg = ev_lane_tvmffi.last_error(lane, &st);
    ck_assert_int_eq(st, KF_ST_INCORRECT_DTYPE);
    ck_assert_msg(strstr(msg, "float16") && strstr(msg, "float32"), "%s", msg);
    ev_lane_tvmffi.close(lane, 0);
    ev_lane_artifacts_free(art, nart);
    free(log);
    kf_solution_free(s);
    kf_definition_free(d);

    /* One output returned as a bare tensor. */
    d = make_def("one");
    s = make_sol("twice_f32", "cpp", "t.cpp", "twice", one_src, 0, NULL);
    log = NULL;
    ck_assert_msg(build(s, d, "sm_90a", &art, &nart, &log, &err) == 0, "%s: %s\n%s", err.path,
                  err.msg, log ? log : "");
    lane = open_cpu(s, d, art, nart);
    float x[3] = {1, 2, 3}, y[3] = {0, 0, 0};
    struct ev_tensor_desc in = {"x", KF_DT_F32, 1, {3}, (CUdeviceptr)(uintptr_t)x, 12, 0, 0, 0};
    struct ev_tensor_desc out = {"y", KF_DT_F32, 1, {3}, (CUdeviceptr)(uintptr_t)y, 12, 0, 0, 0};
    struct ev_call_desc c1 = {d, NULL, &in, &out};
    ck_assert_int_eq(ev_lane_tvmffi.bind(lane, &c1, &cu, &err), 0);
    ck_assert_int_eq(ev_lane_tvmffi.run(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert_int_eq(ev_lane_tvmffi.collect(lane, FAKE_STREAM), CUDA_SUCCESS);
    ck_assert(y[0] == 2 && y[1] == 4 && y[2] == 6);
    ev_lane_tvmffi.close(lane, 0);
    ev_lane_artifacts_free(art, nart);
    free(log);
    kf_solution_free(s);
    kf_definition_free(d);
}
END_TEST

START_TEST(test_build_errors)
{
    struct kf_definition *d = make_def("one");
    char **art = NULL, *log = NULL;
    int nart = 0;
    struct kf_err err = {0};
    struct kf_solution *s;

    s = make_sol("twice_f32", "cpp", "bad.cpp", "twice", CPP_PRELUDE "int f( { return 0; }\n", 1,
                 NULL);
    ck_assert_int_eq(build(s, d, "sm_90a", &art, &nart, &log, &err), KF_EINVAL);
    ck_assert_int_eq(nart, 0);
    ck_assert_msg(log && strstr(log, "bad.cpp") && strstr(log, "error"), "%s", log ? log : "");
    ck_assert_str_eq(err.path, "sources[0]");
    free(log);
    kf_solution_free(s);

    /* Unresolved symbols fail the link, not the runner. */
    s = make_sol("twice_f32", "cpp", "u.cpp", "twice",
                 CPP_PRELUDE "extern \"C\" int kf_no_such_symbol(int);\n"
                             "int64_t twice(ffi::TensorView x) { return kf_no_such_symbol(1); }\n"
                             "TVM_FFI_DLL_EXPORT_TYPED_FUNC(twice, twice);\n",
                 1, NULL);
    log = NULL;
    ck_assert_int_eq(build(s, d, "sm_90a", &art, &nart, &log, &err), KF_EINVAL);
    ck_assert_msg(log && strstr(log, "kf_no_such_symbol"), "%s", log ? log : "");
    ck_assert_msg(strstr(err.msg, "link"), "%s", err.msg);
    free(log);
    kf_solution_free(s);

    /* A flag off the allow-list, named with its path. */
    s = make_sol("twice_f32", "cpp", "t.cpp", "twice", one_src, 0,
                 json_pack("[s,s]", "-O3", "-fplugin=/tmp/x.so"));
    log = NULL;
    ck_assert_int_eq(build(s, d, "sm_90a", &art, &nart, &log, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.compile_options[1]");
    ck_assert_msg(strstr(err.msg, "-fplugin"), "%s", err.msg);
    ck_assert_msg(log && strstr(log, "-fplugin"), "%s", log ? log : "");
    free(log);
    kf_solution_free(s);

    /* An entry point that is not exported: a load error naming the symbol. */
    s = make_sol("twice_f32", "cpp", "t.cpp", "thrice", one_src, 0, NULL);
    log = NULL;
    ck_assert_int_eq(build(s, d, "sm_90a", &art, &nart, &log, &err), 0);
    void *lane = NULL;
    ck_assert_int_eq(ev_tvmffi_open_on(EV_DL_CPU, 0, s, d, art, nart, &lane, &err), KF_EINVAL);
    ck_assert_msg(strstr(err.msg, "__tvm_ffi_thrice"), "%s", err.msg);
    ck_assert_ptr_null(lane);
    free(log);
    ev_lane_artifacts_free(art, nart);
    kf_solution_free(s);
    kf_definition_free(d);
}
END_TEST

START_TEST(test_cuda_compiles)
{
    struct kf_definition *d = make_def("one");
    struct kf_solution *s = make_sol("twice_f32", "cuda", "scale.cu", "scale", cuda_src, 1,
                                     json_pack("[s,s,s]", "-use_fast_math", "-DKF_T=1",
                                               "--maxrregcount=64"));
    char **art = NULL, *log = NULL;
    int nart = 0;
    struct kf_err err = {0};
    struct stat st;
    ck_assert_msg(build(s, d, "sm_90a", &art, &nart, &log, &err) == 0, "%s: %s\n%s", err.path,
                  err.msg, log ? log : "");
    ck_assert_int_eq(nart, 1);
    ck_assert(stat(art[0], &st) == 0 && st.st_size > 0);
    ck_assert_msg(strstr(log, "nvcc") && strstr(log, "compute_90a,code=sm_90a") &&
                      strstr(log, "-use_fast_math") && strstr(log, "-lcudart"),
                  "%s", log);
    ev_lane_artifacts_free(art, nart);
    free(log);
    kf_solution_free(s);
    kf_definition_free(d);
}
END_TEST

START_TEST(test_lane_table)
{
    struct kf_solution *s = make_sol("twice_f32", "cuda", "scale.cu", "scale", cuda_src, 1, NULL);
    const char *why = NULL;
    ck_assert_ptr_eq(ev_lane_for(s, &why), &ev_lane_tvmffi);
    ck_assert_ptr_eq(ev_lane_find("tvm-ffi"), &ev_lane_tvmffi);
    ck_assert_ptr_null(ev_lane_find("nope"));
    kf_solution_free(s);
    s = make_sol("twice_f32", "triton", "k.py", "run", "def run(x):\n    return x\n", 1, NULL);
    ck_assert_ptr_eq(ev_lane_for(s, &why), ev_lane_find("python"));
    kf_solution_free(s);
    /* the parser allows no other language; a binding no lane knows is refused here */
    s = make_sol("twice_f32", "cuda", "scale.cu", "scale", cuda_src, 1, NULL);
    free(s->spec.binding);
    s->spec.binding = strdup("pybind11");
    ck_assert_ptr_null(ev_lane_for(s, &why));
    ck_assert_msg(why && strstr(why, "no lane serves"), "%s", why ? why : "");
    kf_solution_free(s);
}
END_TEST

START_TEST(test_copt_allow_list)
{
    enum kf_copt_kind k;
    const char *why;
    static const char *ok[] = {"-O0", "-O3", "-use_fast_math", "--use_fast_math", "-lineinfo",
                               "-DFOO", "-DFOO=1", "-D_X=a.b-c+1", "--maxrregcount=64",
                               "-maxrregcount=255", "-std=c++20", "-Xptxas=-v",
                               "--ptxas-options=-O2", "-ftz=true", "-fmad=false",
                               "--expt-relaxed-constexpr", NULL};
    static const char *bad[] = {"", "-O4", "-Ofast", "-D", "-D1X", "-DX=a b", "-DX=$(id)",
                                "-DX=\"s\"", "--maxrregcount=8", "--maxrregcount=999",
                                "--maxrregcount=6x", "-std=c++11", "-Xptxas=-w",
                                "-I/etc", "-include/etc/passwd", "-o", "-fplugin=x.so",
                                "--compiler-bindir=/tmp", "-ftz=maybe", "-Xcompiler", NULL};
    for (int i = 0; ok[i]; i++)
        ck_assert_msg(kf_copt_check(ok[i], KF_COPT_TVMFFI, &k, &why) == 0, "%s refused", ok[i]);
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(kf_copt_check(bad[i], KF_COPT_TVMFFI, &k, &why) == KF_EINVAL,
                      "%s allowed", bad[i]);
    ck_assert_int_eq(kf_copt_check("-O3", KF_COPT_NVRTC, &k, &why), KF_EINVAL);
    ck_assert_int_eq(kf_copt_check("--expt-relaxed-constexpr", KF_COPT_NVRTC, &k, &why),
                     KF_EINVAL);
    ck_assert_int_eq(kf_copt_check("-use_fast_math", KF_COPT_NVRTC, &k, &why), 0);

    /* At submit: kf_solution_check names the flag; the Python lanes take none. */
    struct kf_definition *d = make_def("one");
    struct kf_err err = {0};
    struct kf_solution *s = make_sol("twice_f32", "cuda", "scale.cu", "scale", cuda_src, 1,
                                     json_pack("[s,s]", "-lineinfo", "-I/etc"));
    ck_assert_int_eq(kf_solution_check(s, d, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.compile_options[1]");
    kf_solution_free(s);
    s = make_sol("twice_f32", "triton", "k.py", "run", "def run(x):\n    return x\n", 1,
                 json_pack("[s]", "-O3"));
    ck_assert_int_eq(kf_solution_check(s, d, &err), KF_EINVAL);
    ck_assert_str_eq(err.path, "spec.compile_options");
    kf_solution_free(s);
    s = make_sol("twice_f32", "cuda", "scale.cu", "scale", cuda_src, 1, json_pack("[s]", "-O2"));
    ck_assert_int_eq(kf_solution_check(s, d, &err), 0);
    json_t *back = kf_solution_to_json(s);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(back, "spec"), "compile_options"), 0)),
                     "-O2");
    json_decref(back);
    kf_solution_free(s);
    kf_definition_free(d);
}
END_TEST

static void setup(void)
{
    static int made;
    if (!made) {
        ck_assert_ptr_nonnull(mkdtemp(cache_dir));
        made = 1;
    }
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (strncmp(cache_dir, "/tmp/kf-test-tvmffi-", 20) == 0 && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", cache_dir);
}

static Suite *make_suite(void)
{
    Suite *s = suite_create("lane_tvmffi");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_copt_allow_list);
    tcase_add_test(tc, test_lane_table);
    tcase_add_test(tc, test_dps_cpp);
    tcase_add_test(tc, test_value_returning);
    tcase_add_test(tc, test_build_errors);
    tcase_add_test(tc, test_cuda_compiles);
    suite_add_tcase(s, tc);
    return s;
}

KF_CHECK_MAIN
