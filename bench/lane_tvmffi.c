/* lane_tvmffi.c: the tvm-ffi lane on a GPU, in one process (no judge/runner
 * split yet): builds tests/gpu/solutions/gdn_decode_tvmffi (a starter-kit
 * directory) with the lane's nvcc build for the device's arch, opens it,
 * binds it over device buffers, runs it, and checks output and new_state
 * against a CPU reference of the definition for several batch sizes (and
 * once with the optional state absent); then times it with kernelfarm's
 * timer (CUPTI, L2 flushed). A second, inline solution returns a tensor it
 * allocates with Tensor::FromEnvAlloc (destination_passing_style false), to
 * check the lane's allocator and its cuMemcpyDtoDAsync copy on a device.
 * Prints one line per batch size: B, max errors, median latency in us.
 * Exit 0 only if every check passed. Needs an NVIDIA GPU and `make deps`.
 * Single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cudrv.h"
#include "evdev.h"
#include "jsonio.h"
#include "kf_err.h"
#include "lane.h"
#include "lane_tvmffi.h"
#include "model.h"
#include "pack.h"
#include "stats.h"
#include "timing.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

#define HQ 4
#define HV 8
#define D 128

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double nrand(void)
{
    return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand());
}

struct buf { void *h; CUdeviceptr d; size_t n; };

static int dev_buf(struct buf *b, size_t n, struct kf_err *err)
{
    b->n = n;
    b->h = xcalloc(1, n ? n : 1);
    CUresult r = cuMemAlloc(&b->d, n ? n : 1);
    return r == CUDA_SUCCESS ? 0 : ev_cu_err(err, r, "cuMemAlloc");
}

static float bf(uint16_t v)
{
    return kf_bf16_to_f32(v);
}

/* The definition's reference, in double, for one batch. */
static void reference(int B, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                      const float *state, const float *A_log, const uint16_t *a,
                      const float *dt_bias, const uint16_t *b, double scale, double *out,
                      double *ns)
{
    for (int s = 0; s < B; s++)
        for (int h = 0; h < HV; h++) {
            const uint16_t *qh = q + ((size_t)s * HQ + h / 2) * D, *kh = k + ((size_t)s * HQ + h / 2) * D;
            double x = bf(a[s * HV + h]) + dt_bias[h];
            double sp = x > 20 ? x : log1p(exp(x < 20 ? x : 20));
            double g = exp(-exp(A_log[h]) * sp), beta = 1 / (1 + exp(-(double)bf(b[s * HV + h])));
            size_t head = (size_t)s * HV + h;
            for (int r = 0; r < D; r++) {
                double S[D], rec = 0, o = 0;
                for (int c = 0; c < D; c++) {
                    S[c] = state ? g * state[head * D * D + (size_t)r * D + c] : 0;
                    rec += S[c] * bf(kh[c]);
                }
                double dlt = beta * (bf(v[head * D + r]) - rec);
                for (int c = 0; c < D; c++) {
                    S[c] += dlt * bf(kh[c]);
                    o += S[c] * bf(qh[c]);
                    ns[head * D * D + (size_t)r * D + c] = S[c];
                }
                out[head * D + r] = scale * o;
            }
        }
}

static void fill_bf16(uint16_t *p, size_t n, int normalize_rows)
{
    for (size_t i = 0; i < n; i += D) {
        double row[D], norm = 0;
        for (int j = 0; j < D && i + j < n; j++) {
            row[j] = nrand();
            norm += row[j] * row[j];
        }
        for (int j = 0; j < D && i + j < n; j++)
            p[i + j] = kf_f32_to_bf16((float)(normalize_rows ? row[j] / sqrt(norm) : row[j]));
    }
}

static const char *twice_src =
    "#include <tvm/ffi/container/tensor.h>\n#include <tvm/ffi/extra/c_env_api.h>\n"
    "#include <tvm/ffi/function.h>\nnamespace ffi = tvm::ffi;\n"
    "__global__ void twice_k(const float* x, float* y, int n) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = 2.f * x[i]; }\n"
    "ffi::Tensor twice(ffi::TensorView x) {\n"
    "  ffi::Tensor y = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, "
    "ffi::Shape({x.shape()[0]}), x.dtype(), x.device());\n"
    "  int n = (int)x.shape()[0];\n"
    "  auto s = static_cast<cudaStream_t>(TVMFFIEnvGetStream(kDLCUDA, x.device().device_id));\n"
    "  twice_k<<<(n + 255) / 256, 256, 0, s>>>(static_cast<const float*>(x.data_ptr()),\n"
    "      static_cast<float*>(y.data_ptr()), n);\n"
    "  return y;\n}\n"
    "TVM_FFI_DLL_EXPORT_TYPED_FUNC(twice, twice);\n";

/* dps=false on the device: 3 calls, each copied out by collect. */
static int check_value_returning(struct ev_dev *d, const char *cache)
{
    json_t *dj = json_pack("{s:s,s:s,s:{s:{s:s}},s:{s:{s:[s],s:s}},s:{s:{s:[s],s:s}},s:s}", "name",
                           "twice_f32", "op_type", "toy", "axes", "n", "type", "var", "inputs",
                           "x", "shape", "n", "dtype", "float32", "outputs", "y", "shape", "n",
                           "dtype", "float32", "reference", "def run(x):\n    return 2 * x\n");
    json_t *sj = json_pack("{s:s,s:s,s:s,s:{s:s,s:[s],s:s,s:b},s:[{s:s,s:s}]}", "name", "twice",
                           "definition", "twice_f32", "author", "kf", "spec", "language", "cuda",
                           "target_hardware", "cuda", "entry_point", "t.cu::twice",
                           "destination_passing_style", 0, "sources", "path", "t.cu", "content",
                           twice_src);
    struct kf_definition *def = NULL;
    struct kf_solution *sol = NULL;
    struct kf_err err = {0};
    char **art = NULL, *log = NULL;
    int nart = 0, ok = 0, st;
    void *lane = NULL;
    struct buf x = {0}, y = {0};
    const int n = 100000;
    CUresult cu;
    if (kf_definition_from_json(dj, &def, &err) || kf_solution_from_json(sj, &sol, &err) ||
        ev_lane_tvmffi.build(sol, def, d->arch, cache, &art, &nart, &log, &err) ||
        ev_lane_tvmffi.open(d, sol, def, art, nart, &lane, &err) ||
        dev_buf(&x, n * 4, &err) || dev_buf(&y, n * 4, &err)) {
        fprintf(stderr, "value-returning: %s: %s\n%s", err.path, err.msg, log ? log : "");
        goto out;
    }
    for (int i = 0; i < n; i++)
        ((float *)x.h)[i] = (float)i;
    cuMemcpyHtoDAsync(x.d, x.h, x.n, d->stream);
    struct ev_tensor_desc in = {"x", KF_DT_F32, 1, {n}, x.d, x.n, 0, 0, 0};
    struct ev_tensor_desc out = {"y", KF_DT_F32, 1, {n}, y.d, y.n, 0, 0, 0};
    struct ev_call_desc c = {def, NULL, &in, &out};
    if (ev_lane_tvmffi.bind(lane, &c, &cu, &err)) {
        fprintf(stderr, "value-returning: bind: %s\n", err.msg);
        goto out;
    }
    for (int round = 0; round < 3; round++) {
        cuMemsetD8Async(y.d, 0xff, y.n, d->stream);
        if ((cu = ev_lane_tvmffi.run(lane, d->stream)) != CUDA_SUCCESS ||
            (cu = ev_lane_tvmffi.collect(lane, d->stream)) != CUDA_SUCCESS ||
            (cu = cuStreamSynchronize(d->stream)) != CUDA_SUCCESS) {
            const char *m = ev_lane_tvmffi.last_error(lane, &st);
            fprintf(stderr, "value-returning: %s %s\n", ev_cu_str(cu), m ? m : "");
            goto out;
        }
        cuMemcpyDtoH(y.h, y.d, y.n);
        for (int i = 0; i < n; i++)
            if (((float *)y.h)[i] != 2.f * (float)i) {
                fprintf(stderr, "value-returning: y[%d] = %g\n", i, ((float *)y.h)[i]);
                goto out;
            }
    }
    printf("value-returning (FromEnvAlloc, collect with cuMemcpyDtoDAsync): ok\n");
    ok = 1;
out:
    if (lane)
        ev_lane_tvmffi.close(lane, 0);
    if (x.d)
        cuMemFree(x.d);
    if (y.d)
        cuMemFree(y.d);
    free(x.h);
    free(y.h);
    ev_lane_artifacts_free(art, nart);
    free(log);
    kf_solution_free(sol);
    kf_definition_free(def);
    json_decref(dj);
    json_decref(sj);
    return ok;
}

int main(int argc, char **argv)
{
    int device = 0, warmup = 10, iters = 50, failed = 0, nart = 0;
    int batches[] = {1, 16, 64, 256};
    const char *cache = "/tmp/kf-lane-tvmffi-cache";
    char *dir = xasprintf("%s/tests/gpu/solutions/gdn_decode_tvmffi", KF_SOURCE_DIR);
    char *defp = xasprintf("%s/dataset/definitions/gdn/gdn_decode_qk4_v8_d128_k_last.json",
                           KF_SOURCE_DIR);
    char **art = NULL, *log = NULL;
    json_t *sj = NULL, *dj = NULL;
    struct kf_solution *sol = NULL;
    struct kf_definition *def = NULL;
    struct kf_err err = {0};
    struct ev_dev d;
    struct ev_timer *timer = NULL;
    void *lane = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            cache = argv[++i];
        else {
            fprintf(stderr, "usage: lane_tvmffi [--device N] [--iters N] [--cache DIR]\n"
                            "The tvm-ffi lane on a GPU: GDN decode (tests/gpu/solutions/"
                            "gdn_decode_tvmffi) checked against a CPU reference and timed.\n");
            return 2;
        }
    }
    memset(&d, 0, sizeof d);
    if (kf_pack_dir(dir, &sj, &err) || kf_solution_from_json(sj, &sol, &err) ||
        !(dj = kf_json_load_file(defp, 0, &err)) || kf_definition_from_json(dj, &def, &err)) {
        fprintf(stderr, "lane_tvmffi: %s: %s\n", err.path, err.msg);
        return 1;
    }
    if (ev_dev_open(&d, device, cache, &err)) {
        fprintf(stderr, "lane_tvmffi: no GPU: %s\n", err.msg);
        return 1;
    }
    printf("device %s (%s), timer ", d.name, d.arch);
    if (ev_lane_tvmffi.build(sol, def, d.arch, cache, &art, &nart, &log, &err)) {
        fprintf(stderr, "lane_tvmffi: build: %s: %s\n%s", err.path, err.msg, log ? log : "");
        return 1;
    }
    if (ev_lane_tvmffi.open(&d, sol, def, art, nart, &lane, &err) ||
        ev_timer_open(&d, 0, &timer, &err)) {
        fprintf(stderr, "lane_tvmffi: open: %s\n", err.msg);
        return 1;
    }
    printf("%s\n%8s %12s %12s %12s\n", ev_timer_kind(timer), "batch", "out_maxerr", "state_maxerr",
           "median_us");
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0] + 1; bi++) {
        int last = bi == sizeof batches / sizeof batches[0], B = last ? 3 : batches[bi];
        struct buf q, k, v, st, Al, a, dtb, bb, out, ns;
        size_t nqk = (size_t)B * HQ * D, nv = (size_t)B * HV * D, nst = (size_t)B * HV * D * D;
        CUresult cu;
        if (dev_buf(&q, nqk * 2, &err) || dev_buf(&k, nqk * 2, &err) || dev_buf(&v, nv * 2, &err) ||
            dev_buf(&st, nst * 4, &err) || dev_buf(&Al, HV * 4, &err) ||
            dev_buf(&a, (size_t)B * HV * 2, &err) || dev_buf(&dtb, HV * 4, &err) ||
            dev_buf(&bb, (size_t)B * HV * 2, &err) || dev_buf(&out, nv * 2, &err) ||
            dev_buf(&ns, nst * 4, &err)) {
            fprintf(stderr, "lane_tvmffi: %s\n", err.msg);
            return 1;
        }
        fill_bf16(q.h, nqk, 1);
        fill_bf16(k.h, nqk, 1);
        fill_bf16(v.h, nv, 0);
        fill_bf16(a.h, (size_t)B * HV, 0);
        fill_bf16(bb.h, (size_t)B * HV, 0);
        for (size_t i = 0; i < nst; i++)
            ((float *)st.h)[i] = (float)(0.1 * nrand());
        for (int i = 0; i < HV; i++) {
            ((float *)Al.h)[i] = (float)(0.5 * nrand());
            ((float *)dtb.h)[i] = (float)(0.5 * nrand());
        }
        struct buf *ins[] = {&q, &k, &v, &st, &Al, &a, &dtb, &bb};
        for (int i = 0; i < 8; i++)
            cuMemcpyHtoDAsync(ins[i]->d, ins[i]->h, ins[i]->n, d.stream);
        struct ev_tensor_desc in[9] = {
            {"q", KF_DT_BF16, 4, {B, 1, HQ, D}, q.d, q.n, 0, 0, 0},
            {"k", KF_DT_BF16, 4, {B, 1, HQ, D}, k.d, k.n, 0, 0, 0},
            {"v", KF_DT_BF16, 4, {B, 1, HV, D}, v.d, v.n, 0, 0, 0},
            {"state", KF_DT_F32, 4, {B, HV, D, D}, last ? 0 : st.d, st.n, 0, 0, 0},
            {"A_log", KF_DT_F32, 1, {HV}, Al.d, Al.n, 0, 0, 0},
            {"a", KF_DT_BF16, 3, {B, 1, HV}, a.d, a.n, 0, 0, 0},
            {"dt_bias", KF_DT_F32, 1, {HV}, dtb.d, dtb.n, 0, 0, 0},
            {"b", KF_DT_BF16, 3, {B, 1, HV}, bb.d, bb.n, 0, 0, 0},
            {"scale", KF_DT_F32, 0, {0}, 0, 0, 1, 0.0, 0},
        };
        struct ev_tensor_desc od[2] = {
            {"output", KF_DT_BF16, 4, {B, 1, HV, D}, out.d, out.n, 0, 0, 0},
            {"new_state", KF_DT_F32, 4, {B, HV, D, D}, ns.d, ns.n, 0, 0, 0},
        };
        struct ev_call_desc c = {def, NULL, in, od};
        if (ev_lane_tvmffi.bind(lane, &c, &cu, &err) ||
            (cu = ev_lane_tvmffi.run(lane, d.stream)) != CUDA_SUCCESS ||
            (cu = cuStreamSynchronize(d.stream)) != CUDA_SUCCESS) {
            int s;
            const char *m = ev_lane_tvmffi.last_error(lane, &s);
            fprintf(stderr, "lane_tvmffi: B=%d: %s %s %s\n", B, err.msg, ev_cu_str(cu), m ? m : "");
            return 1;
        }
        cuMemcpyDtoH(out.h, out.d, out.n);
        cuMemcpyDtoH(ns.h, ns.d, ns.n);
        double *ro = xmalloc(nv * sizeof *ro), *rs = xmalloc(nst * sizeof *rs), eo = 0, es = 0;
        int bad = 0;
        reference(B, q.h, k.h, v.h, last ? NULL : st.h, Al.h, a.h, dtb.h, bb.h, 1 / sqrt(128.0),
                  ro, rs);
        for (size_t i = 0; i < nv; i++) {
            double e = fabs(bf(((uint16_t *)out.h)[i]) - ro[i]);
            eo = e > eo ? e : eo;
            bad |= !(e <= 1e-2 + 1e-2 * fabs(ro[i]));
        }
        for (size_t i = 0; i < nst; i++) {
            double e = fabs(((float *)ns.h)[i] - rs[i]);
            es = e > es ? e : es;
            bad |= !(e <= 1e-3 + 1e-3 * fabs(rs[i]));
        }
        free(ro);
        free(rs);
        double med = -1;
        if (!last) {
            double *samples = xcalloc((size_t)iters, sizeof *samples);
            struct ev_clock clk;
            CUresult re = CUDA_SUCCESS;
            if (ev_timer_measure(timer, &d, ev_lane_tvmffi.run, lane, warmup, iters, samples, &clk,
                                 &re, &err) == 0) {
                struct ev_stats s;
                ev_stats_compute(samples, iters, &s);
                med = s.median;
            } else {
                fprintf(stderr, "lane_tvmffi: timing: %s\n", err.msg);
                bad = 1;
            }
            free(samples);
        }
        printf("%8d %12.3g %12.3g %12.2f%s%s\n", B, eo, es, med * 1e3,
               last ? "  (state absent)" : "", bad ? "  MISMATCH" : "");
        failed |= bad;
        ev_lane_tvmffi.unbind(lane, 0);
        struct buf *all[] = {&q, &k, &v, &st, &Al, &a, &dtb, &bb, &out, &ns};
        for (int i = 0; i < 10; i++) {
            cuMemFree(all[i]->d);
            free(all[i]->h);
        }
    }
    ev_lane_tvmffi.close(lane, 0);
    failed |= !check_value_returning(&d, cache);
    ev_timer_close(timer);
    ev_lane_artifacts_free(art, nart);
    free(log);
    ev_dev_close(&d);
    kf_solution_free(sol);
    kf_definition_free(def);
    json_decref(sj);
    json_decref(dj);
    free(dir);
    free(defp);
    printf("%s\n", failed ? "FAILED" : "all checks passed");
    return failed ? 1 : 0;
}
