/* timing.h: GPU timing of one run (a whole launch plan) the way DESIGN.md
 * step 6 says: CUPTI activity records (kernels, memcpys, memsets, every
 * stream) with a run's time = last end - first start, plus each kernel's own
 * duration; the L2 flushed (2x L2 written, then discarded without
 * write-back; a persisting-L2 reset) and the context synchronised before
 * each timed run, outside its window; warm-up until the SM clock has ramped (NVML
 * through dlopen when present). CUDA events only if CUPTI cannot be enabled.
 * Not thread-safe: CUPTI's activity buffers are process-wide.
 */
#ifndef EV_TIMING_H
#define EV_TIMING_H

#include "cudrv.h"

#include "evdev.h"
#include "kf_err.h"

struct ev_timer;

/* One run enqueued on s; returns its launch result. */
typedef CUresult (*ev_run_fn)(void *ctx, CUstream s);

#define EV_MAX_KERNELS 16

struct ev_clock {
    int sm_mhz_before, sm_mhz_after;   /* -1 if NVML is unavailable */
    int sm_mhz_max;
    int warmup_runs;                   /* runs done before timing */
    /* CUPTI only: the median duration of the k-th kernel of a run, in start
     * order, over the timed runs; nkernels 0 when runs differ in their
     * kernel count, with CUDA events, or past EV_MAX_KERNELS. */
    int nkernels;
    double kernel_ms[EV_MAX_KERNELS];
};

/* force_events: skip CUPTI (tests, or KF_TIMER=events). */
int ev_timer_open(struct ev_dev *d, int force_events, struct ev_timer **out, struct kf_err *err);
void ev_timer_close(struct ev_timer *t);
/* "cupti" or "cuda_events". */
const char *ev_timer_kind(const struct ev_timer *t);

/* Warm up, then time iters runs into samples_ms[iters]. A failing run stops
 * with *run_err set (and KF_ECUDA returned); the caller turns it into
 * RUNTIME_ERROR. */
int ev_timer_measure(struct ev_timer *t, struct ev_dev *d, ev_run_fn run, void *ctx, int warmup,
                     int iters, double *samples_ms, struct ev_clock *clk, CUresult *run_err,
                     struct kf_err *err);

/* The L2 flush before timed runs: "discard" (default), "read" or "write",
 * from KF_L2_FLUSH (read once; an unknown value warns and gives discard). */
const char *ev_l2_flush_mode(void);

/* Name of the GPU with NVML index `index` ("NVIDIA H100 80GB HBM3"); 0, or -1
 * without NVML. Creates no CUDA context and leaves NVML uninitialised: safe
 * in a supervisor that forks evaluators afterwards. */
int ev_nvml_device_name(int index, char *buf, size_t n);
/* Current SM clock in MHz via NVML, -1 if unavailable. */
int ev_sm_clock_mhz(const struct ev_dev *d, int max_clock);

#endif
