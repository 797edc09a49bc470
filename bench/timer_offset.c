/* timer_offset.c: kernelfarm's timer (worker/timing.c: CUPTI kernel records,
 * the L2 flushed before every run) on calibration kernels whose cost is
 * known, so that bench/eval_bench.sh can set it against Nsight Compute's
 * gpu__time_duration on the same kernels and separate the two tools'
 * timestamp methods from what the reference kernels themselves do:
 *   kf_cal_empty1  an empty kernel, one block       (launch cost only)
 *   kf_cal_emptyw  an empty kernel, 8 blocks per SM (block scheduling)
 *   kf_cal_spin    dependent FMAs, one block per SM (SM clock bound)
 *   kf_cal_read    a cold read of 64 MiB            (HBM bound)
 * Prints one line per kernel: name, grid, block, median duration in us
 * (CUPTI, or CUDA events with KF_TIMER=events). Needs an NVIDIA GPU.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cudrv.h"
#include "evdev.h"
#include "kf_err.h"
#include "log.h"
#include "nvrtc_build.h"
#include "stats.h"
#include "timing.h"

static const char cal_src[] =
    "typedef unsigned long long u64;\n"
    "extern \"C\" __global__ void kf_cal_empty1() {}\n"
    "extern \"C\" __global__ void kf_cal_emptyw() {}\n"
    "extern \"C\" __global__ void kf_cal_spin(int n, float a, float b, float *sink) {\n"
    "  float x = threadIdx.x * 1e-3f;\n"
    "  for (int i = 0; i < n; i++) x = fmaf(x, a, b);\n"
    "  if (x == 1234.5f) *sink = x;\n"
    "}\n"
    "extern \"C\" __global__ void kf_cal_read(const u64 *p, u64 nw, u64 *sink) {\n"
    "  u64 stride = (u64)gridDim.x * blockDim.x, acc = 0;\n"
    "  for (u64 w = (u64)blockIdx.x * blockDim.x + threadIdx.x; w < nw; w += stride)\n"
    "    acc ^= __ldcg(p + w);\n"
    "  if (acc == 0x0123456789abcdefull) *sink = acc;\n"
    "}\n";

struct cal {
    const char *name;
    CUfunction f;
    unsigned grid, block;
    void **args;
};

static CUresult run_cal(void *ctx, CUstream s)
{
    struct cal *c = ctx;
    return cuLaunchKernel(c->f, c->grid, 1, 1, c->block, 1, 1, 0, s, c->args, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: timer_offset [--device N] [--warmup N] [--iters N] [--spin N]\n"
               "Times calibration kernels with kernelfarm's timer (CUPTI; KF_TIMER=events for CUDA\n"
               "events; KF_L2_FLUSH picks the L2 flush) and prints: kernel grid block median_us.\n"
               "  --device N   GPU ordinal (default 0)\n"
               "  --warmup N   warm-up runs per kernel (default 10)\n"
               "  --iters N    timed runs per kernel (default 50)\n"
               "  --spin N     dependent FMAs per thread in kf_cal_spin (default 8000)\n");
}

int main(int argc, char **argv)
{
    int dev_ord = 0, warmup = 10, iters = 50, spin = 8000, rc = 0;
    struct ev_dev d;
    struct ev_timer *t = NULL;
    struct kf_err err = {0};
    void *cubin = NULL;
    char *log = NULL;
    size_t size = 0;
    CUmodule mod;
    CUdeviceptr buf = 0;
    CUresult r;

    for (int i = 1; i < argc; i++) {
        int *v = !strcmp(argv[i], "--device") ? &dev_ord : !strcmp(argv[i], "--warmup") ? &warmup
               : !strcmp(argv[i], "--iters") ? &iters : !strcmp(argv[i], "--spin") ? &spin : NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v || i + 1 >= argc || (*v = atoi(argv[i + 1])) < (v == &warmup ? 0 : 1)) {
            fprintf(stderr, "timer_offset: bad or incomplete option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
        i++;
    }
    kf_log_set_level(KF_LOG_WARN);
    if (ev_dev_open(&d, dev_ord, NULL, &err) ||
        ev_timer_open(&d, getenv("KF_TIMER") && !strcmp(getenv("KF_TIMER"), "events"), &t, &err)) {
        fprintf(stderr, "timer_offset: %s\n", err.msg);
        ev_dev_close(&d);
        return 1;
    }
    if (ev_nvrtc_compile_src("kf_cal.cu", cal_src, d.arch, &cubin, &size, &log, &err) ||
        (r = cuModuleLoadData(&mod, cubin)) != CUDA_SUCCESS) {
        fprintf(stderr, "timer_offset: calibration kernels: %s %s\n", err.msg, log ? log : "");
        rc = 1;
        goto out;
    }
    {
        unsigned long long nw = (64ull << 20) / 8;
        float a = 0.999f, b = 1e-3f;
        CUdeviceptr sink = d.scratch;
        void *spin_args[] = {&spin, &a, &b, &sink};
        void *read_args[] = {&buf, &nw, &sink};
        struct cal cals[] = {
            {"kf_cal_empty1", NULL, 1, 32, NULL},
            {"kf_cal_emptyw", NULL, (unsigned)d.num_sms * 8, 256, NULL},
            {"kf_cal_spin", NULL, (unsigned)d.num_sms, 128, spin_args},
            {"kf_cal_read", NULL, (unsigned)d.num_sms * 4, 512, read_args},
        };
        double *samples = calloc((size_t)iters, sizeof *samples);
        if (!samples || (r = cuMemAlloc(&buf, nw * 8)) != CUDA_SUCCESS ||
            (r = cuMemsetD8Async(buf, 1, nw * 8, d.stream)) != CUDA_SUCCESS ||
            (r = cuStreamSynchronize(d.stream)) != CUDA_SUCCESS) {
            fprintf(stderr, "timer_offset: 64 MiB read buffer: out of memory\n");
            free(samples);
            rc = 1;
            goto out;
        }
        printf("# timer_offset on %s (%s), timer %s, L2 flush %s, %d warm-up + %d timed runs each\n",
               d.name, d.arch, ev_timer_kind(t), ev_l2_flush_mode(), warmup, iters);
        printf("# SM clock (NVML, -1: unavailable): %d MHz now, %d MHz max\n", ev_sm_clock_mhz(&d, 0),
               ev_sm_clock_mhz(&d, 1));
        printf("# kernel\tgrid\tblock\tmedian_us\n");
        for (size_t k = 0; k < sizeof cals / sizeof cals[0]; k++) {
            struct cal *c = &cals[k];
            struct ev_clock clk;
            CUresult run_err;
            double us;
            if ((r = cuModuleGetFunction(&c->f, mod, c->name)) != CUDA_SUCCESS) {
                fprintf(stderr, "timer_offset: %s: %s\n", c->name, ev_cu_str(r));
                rc = 1;
                break;
            }
            if (!c->args)
                c->args = (void *[]){NULL};
            if (ev_timer_measure(t, &d, run_cal, c, warmup, iters, samples, &clk, &run_err, &err)) {
                fprintf(stderr, "timer_offset: %s: %s\n", c->name, err.msg);
                rc = 1;
                break;
            }
            if (clk.nkernels == 1) {
                us = clk.kernel_ms[0] * 1e3;
            } else {   /* CUDA events: the median of the run windows */
                struct ev_stats st;
                ev_stats_compute(samples, iters, &st);
                us = st.median * 1e3;
            }
            printf("%s\t%u\t%u\t%.3f\n", c->name, c->grid, c->block, us);
        }
        free(samples);
    }
out:
    if (buf)
        cuMemFree(buf);
    free(cubin);
    free(log);
    ev_timer_close(t);
    ev_dev_close(&d);
    return rc;
}
