/* timing.c: CUPTI activity timing with an event fallback, L2 flush and clock
 * ramp. See timing.h. Not thread-safe (CUPTI callbacks are process-wide and
 * write the static window table).
 */
#include "timing.h"

#include <cupti.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"

struct ev_timer {
    int cupti;
    CUevent e0, e1;
};

/* Windows of the runs being timed: records whose start lies in
 * [t0[i], t1[i]] belong to run i. */
static struct {
    uint64_t *t0, *t1, *first, *last;
    int n;
    uint32_t device;
} W;
static int cupti_registered;
/* Records collected by the completion callback (which CUPTI may call from
 * its own thread), assigned to windows once timing is over. */
static pthread_mutex_t R_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint64_t *s, *e; uint8_t *kernel; size_t n, cap; int on; } R;

static void keep(uint32_t dev, uint64_t s, uint64_t e, int is_kernel)
{
    if (dev != W.device)
        return;
    pthread_mutex_lock(&R_lock);
    if (R.on) {
        if (R.n == R.cap) {
            R.cap = R.cap ? R.cap * 2 : 4096;
            R.s = xrealloc(R.s, R.cap * sizeof *R.s);
            R.e = xrealloc(R.e, R.cap * sizeof *R.e);
            R.kernel = xrealloc(R.kernel, R.cap * sizeof *R.kernel);
        }
        R.s[R.n] = s;
        R.e[R.n] = e;
        R.kernel[R.n] = (uint8_t)is_kernel;
        R.n++;
    }
    pthread_mutex_unlock(&R_lock);
}

static void CUPTIAPI buf_request(uint8_t **buf, size_t *size, size_t *maxrec)
{
    *size = 8u << 20;
    *buf = aligned_alloc(64, *size);
    *maxrec = 0;
}

/* The run whose window holds start time s, or -1. */
static int window_of(uint64_t s)
{
    int lo = 0, hi = W.n - 1;
    while (lo <= hi) {   /* windows are sorted and disjoint */
        int mid = (lo + hi) / 2;
        if (s < W.t0[mid])
            hi = mid - 1;
        else if (s > W.t1[mid])
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

static void note(uint64_t s, uint64_t e)
{
    int i = window_of(s);
    if (i < 0)
        return;
    if (s < W.first[i])
        W.first[i] = s;
    if (e > W.last[i])
        W.last[i] = e;
}

static int cmp_u64_by_start(const void *a, const void *b)
{
    uint64_t x = R.s[*(const size_t *)a], y = R.s[*(const size_t *)b];
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Per-kernel medians: the k-th kernel (in start order) of every run. Call
 * with R_lock held, after the windows are complete. */
static void kernel_medians(struct ev_clock *clk)
{
    size_t *order = xcalloc(R.n + 1, sizeof *order);
    int *count = xcalloc((size_t)W.n + 1, sizeof *count);
    double *dur = xcalloc((size_t)W.n * EV_MAX_KERNELS + 1, sizeof *dur), *col;
    int nk;

    clk->nkernels = 0;
    for (size_t k = 0; k < R.n; k++)
        order[k] = k;
    qsort(order, R.n, sizeof *order, cmp_u64_by_start);
    for (size_t k = 0; k < R.n; k++) {
        size_t r = order[k];
        int i = R.kernel[r] ? window_of(R.s[r]) : -1;
        if (i < 0)
            continue;
        if (count[i] < EV_MAX_KERNELS)
            dur[(size_t)i * EV_MAX_KERNELS + (size_t)count[i]] = (double)(R.e[r] - R.s[r]) * 1e-6;
        count[i]++;
    }
    nk = W.n > 0 ? count[0] : 0;
    for (int i = 1; i < W.n; i++)
        if (count[i] != nk)
            nk = 0;   /* runs launched different kernel counts: no per-kernel view */
    if (nk > EV_MAX_KERNELS)
        nk = 0;
    col = xcalloc((size_t)W.n + 1, sizeof *col);
    for (int p = 0; p < nk; p++) {
        for (int i = 0; i < W.n; i++)
            col[i] = dur[(size_t)i * EV_MAX_KERNELS + (size_t)p];
        qsort(col, (size_t)W.n, sizeof *col, cmp_double);
        clk->kernel_ms[p] = W.n % 2 ? col[W.n / 2] : 0.5 * (col[W.n / 2 - 1] + col[W.n / 2]);
    }
    clk->nkernels = nk;
    free(col);
    free(dur);
    free(count);
    free(order);
}

static void CUPTIAPI buf_complete(CUcontext ctx, uint32_t sid, uint8_t *buf, size_t size,
                                  size_t valid)
{
    CUpti_Activity *rec = NULL;
    (void)ctx; (void)sid; (void)size;
    while (valid && cuptiActivityGetNextRecord(buf, valid, &rec) == CUPTI_SUCCESS) {
        switch (rec->kind) {
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
        case CUPTI_ACTIVITY_KIND_KERNEL: {
            CUpti_ActivityKernel10 *k = (CUpti_ActivityKernel10 *)rec;
            keep(k->deviceId, k->start, k->end, 1);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
            CUpti_ActivityMemcpy6 *m = (CUpti_ActivityMemcpy6 *)rec;
            keep(m->deviceId, m->start, m->end, 0);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
            CUpti_ActivityMemset4 *m = (CUpti_ActivityMemset4 *)rec;
            keep(m->deviceId, m->start, m->end, 0);
            break;
        }
        default:
            break;
        }
    }
    free(buf);
}

/* ---- NVML (optional, dlopen) -------------------------------------------- */

typedef int (*nvml_init_t)(void);
typedef int (*nvml_by_pci_t)(const char *, void **);
typedef int (*nvml_clock_t)(void *, int, unsigned *);
typedef int (*nvml_by_index_t)(unsigned, void **);
typedef int (*nvml_name_t)(void *, char *, unsigned);
static struct {
    int tried, ok;
    nvml_by_pci_t by_pci;
    nvml_clock_t clock, max_clock;
    nvml_by_index_t by_index;
    nvml_name_t name;
    nvml_init_t shutdown;
    int warned_pci;
} NV;

static void *nvml_handle(const struct ev_dev *d)
{
    void *h = NULL;
    if (!NV.tried) {
        void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        nvml_init_t init;
        int irc = -1;
        Dl_info di;
        NV.tried = 1;
        /* not on the loader's path (some container hosts): the driver
         * installs NVML next to libcuda, which is loaded by now */
        if (!lib && ev_cu.loaded && dladdr((void *)cuInit, &di) && di.dli_fname &&
            strrchr(di.dli_fname, '/')) {
            const char *slash = strrchr(di.dli_fname, '/');
            char *path = xasprintf("%.*s/libnvidia-ml.so.1", (int)(slash - di.dli_fname), di.dli_fname);
            lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            free(path);
        }
        if (!lib) {
            log_warn("timing", "NVML unavailable (no SM clock readings): %s", dlerror());
            return NULL;
        }
        init = (nvml_init_t)dlsym(lib, "nvmlInit_v2");
        NV.by_pci = (nvml_by_pci_t)dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
        NV.clock = (nvml_clock_t)dlsym(lib, "nvmlDeviceGetClockInfo");
        NV.max_clock = (nvml_clock_t)dlsym(lib, "nvmlDeviceGetMaxClockInfo");
        NV.by_index = (nvml_by_index_t)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
        NV.name = (nvml_name_t)dlsym(lib, "nvmlDeviceGetName");
        NV.shutdown = (nvml_init_t)dlsym(lib, "nvmlShutdown");
        NV.ok = init && NV.by_pci && NV.clock && NV.max_clock && (irc = init()) == 0;
        if (!NV.ok)
            log_warn("timing", "NVML unusable (no SM clock readings): nvmlInit_v2=%d symbols=%d", irc,
                     !!(init && NV.by_pci && NV.clock && NV.max_clock));
    }
    if (!d || !NV.ok)
        return NULL;
    if (NV.by_pci(d->pci_bus_id, &h) != 0) {
        /* CUDA writes a 4-digit PCI domain ("0000:3b:00.0"), NVML's own
         * form has 8 ("00000000:3b:00.0") */
        char id[48];
        int prc;
        snprintf(id, sizeof id, "0000%s", d->pci_bus_id);
        if ((prc = NV.by_pci(id, &h)) != 0) {
            if (!NV.warned_pci)
                log_warn("timing", "NVML has no device at PCI %s (rc=%d): no SM clock readings",
                         d->pci_bus_id, prc);
            NV.warned_pci = 1;
            return NULL;
        }
    }
    return h;
}

int ev_nvml_device_name(int index, char *buf, size_t n)
{
    void *h = NULL;
    int rc = 0;
    nvml_handle(NULL);
    if (!NV.ok || !NV.by_index || !NV.name || NV.by_index((unsigned)index, &h) != 0 ||
        NV.name(h, buf, (unsigned)n) != 0)
        rc = -1;
    /* A supervisor asks this, then forks evaluators: NVML's state does not
     * survive fork (every later query in the child fails), so leave NVML
     * uninitialised here and let whoever needs clocks initialise it anew. */
    if (NV.ok && NV.shutdown)
        NV.shutdown();
    NV.tried = NV.ok = 0;
    return rc;
}

int ev_sm_clock_mhz(const struct ev_dev *d, int max_clock)
{
    void *h = nvml_handle(d);
    unsigned mhz = 0;
    if (!h)
        return -1;
    /* NVML_CLOCK_SM = 1 */
    if ((max_clock ? NV.max_clock : NV.clock)(h, 1, &mhz) != 0)
        return -1;
    return (int)mhz;
}

/* ------------------------------------------------------------------------- */

int ev_timer_open(struct ev_dev *d, int force_events, struct ev_timer **out, struct kf_err *err)
{
    struct ev_timer *t = xcalloc(1, sizeof *t);
    CUresult r;
    (void)d;
    if (!force_events) {
        CUptiResult cr = CUPTI_SUCCESS;
        if (!cupti_registered)
            cr = cuptiActivityRegisterCallbacks(buf_request, buf_complete);
        if (cr == CUPTI_SUCCESS) {
            cupti_registered = 1;
            t->cupti = 1;
        } else {
            const char *s = NULL;
            cuptiGetResultString(cr, &s);
            log_warn("timing", "CUPTI unavailable, falling back to CUDA events err=%s", s ? s : "?");
        }
    }
    if ((r = cuEventCreate(&t->e0, CU_EVENT_DEFAULT)) != CUDA_SUCCESS ||
        (r = cuEventCreate(&t->e1, CU_EVENT_DEFAULT)) != CUDA_SUCCESS) {
        free(t);
        return ev_cu_err(err, r, "cuEventCreate");
    }
    *out = t;
    return 0;
}

void ev_timer_close(struct ev_timer *t)
{
    if (!t)
        return;
    if (t->e0)
        cuEventDestroy(t->e0);
    if (t->e1)
        cuEventDestroy(t->e1);
    free(t);
}

const char *ev_timer_kind(const struct ev_timer *t)
{
    return t->cupti ? "cupti" : "cuda_events";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *ev_l2_flush_mode(void)
{
    static const char *const modes[] = {"discard", "read", "write"};
    static const char *mode;
    if (!mode) {
        const char *e = getenv("KF_L2_FLUSH");
        for (size_t i = 0; e && i < sizeof modes / sizeof modes[0]; i++)
            if (!strcmp(e, modes[i]))
                mode = modes[i];
        if (!mode && e && *e)
            log_warn("timing", "KF_L2_FLUSH=%s is not discard, read or write: using discard", e);
        if (!mode)
            mode = modes[0];
    }
    return mode;
}

/* Flush L2 outside the timed region (the caller synchronises before the
 * timed run), then reset persisting L2. discard (the default): write a
 * buffer of 2x L2, evicting everything else, then drop its lines without
 * write-back, so the timed run starts cold with no dirty lines to evict, as
 * under Nsight Compute's --cache-control all. read: read the buffer
 * (clean, but hot lines may survive the replacement policy). write: write
 * it (the timed run pays for the dirty lines). */
static CUresult flush_l2(struct ev_dev *d)
{
    unsigned long long nw = d->l2buf_bytes / 8, nlines = d->l2buf_bytes / 128, v = 0x5a5a5a5a5a5a5a5aull;
    CUdeviceptr sink = d->scratch + 56;
    unsigned grid = (unsigned)(d->num_sms > 0 ? d->num_sms * 4 : 512);
    const char *mode = ev_l2_flush_mode();
    CUresult r;
    if (mode[0] == 'r') {
        void *args[] = {&d->l2buf, &nw, &sink};
        r = cuLaunchKernel(d->k_l2sweep, grid, 1, 1, 512, 1, 1, 0, d->stream, args, NULL);
    } else {
        void *args[] = {&d->l2buf, &nw, &v};
        r = cuLaunchKernel(d->k_l2fill, grid, 1, 1, 512, 1, 1, 0, d->stream, args, NULL);
        if (r == CUDA_SUCCESS && mode[0] == 'd') {
            void *dargs[] = {&d->l2buf, &nlines};
            r = cuLaunchKernel(d->k_l2discard, grid, 1, 1, 512, 1, 1, 0, d->stream, dargs, NULL);
        }
    }
    if (r == CUDA_SUCCESS)
        cuCtxResetPersistingL2Cache();   /* not supported everywhere: ignore */
    return r;
}

static int cupti_set(int on)
{
    static const CUpti_ActivityKind kinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
                                               CUPTI_ACTIVITY_KIND_MEMCPY,
                                               CUPTI_ACTIVITY_KIND_MEMSET};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        CUptiResult r = on ? cuptiActivityEnable(kinds[i]) : cuptiActivityDisable(kinds[i]);
        if (r != CUPTI_SUCCESS && on)
            return -1;
    }
    return 0;
}

int ev_timer_measure(struct ev_timer *t, struct ev_dev *d, ev_run_fn run, void *ctx, int warmup,
                     int iters, double *samples_ms, struct ev_clock *clk, CUresult *run_err,
                     struct kf_err *err)
{
    CUresult r = CUDA_SUCCESS;
    int rc = 0, use_cupti = t->cupti;
    double t_start;
    *run_err = CUDA_SUCCESS;
    memset(clk, 0, sizeof *clk);
    clk->sm_mhz_max = ev_sm_clock_mhz(d, 1);
    clk->sm_mhz_before = ev_sm_clock_mhz(d, 0);

    /* Warm-up: the configured runs, then on until the SM clock has ramped,
     * when NVML can tell: within 90% of its maximum, or no higher than the
     * best reading for 3 polls in a row (a power cap holds it lower), at
     * most 0.5 s. */
    t_start = now_s();
    for (int i = 0, best = -1, flat = 0;; i++) {
        int mhz;
        if (i >= warmup) {
            if (clk->sm_mhz_max <= 0 || now_s() - t_start > 0.5)
                break;
            mhz = ev_sm_clock_mhz(d, 0);
            if (mhz < 0 || mhz * 10 >= clk->sm_mhz_max * 9)
                break;
            flat = mhz > best ? 0 : flat + 1;
            if (mhz > best)
                best = mhz;
            if (flat >= 3)
                break;
        }
        if ((r = run(ctx, d->stream)) != CUDA_SUCCESS || (r = cuCtxSynchronize()) != CUDA_SUCCESS) {
            *run_err = r;
            return ev_cu_err(err, r, "warm-up run");
        }
        clk->warmup_runs++;
    }

    if (use_cupti) {
        W.t0 = xcalloc((size_t)iters, sizeof *W.t0);
        W.t1 = xcalloc((size_t)iters, sizeof *W.t1);
        W.first = xcalloc((size_t)iters, sizeof *W.first);
        W.last = xcalloc((size_t)iters, sizeof *W.last);
        W.n = 0;
        W.device = (uint32_t)d->ordinal;
        cuptiActivityFlushAll(1);   /* drop anything recorded before */
        pthread_mutex_lock(&R_lock);
        R.n = 0;
        R.on = 1;
        pthread_mutex_unlock(&R_lock);
        if (cupti_set(1) != 0) {
            log_warn("timing", "cuptiActivityEnable failed, using CUDA events");
            cupti_set(0);
            use_cupti = 0;
            t->cupti = 0;
        }
    }
    for (int i = 0; i < iters; i++) {
        float ms = 0;
        if ((r = flush_l2(d)) != CUDA_SUCCESS || (r = cuCtxSynchronize()) != CUDA_SUCCESS) {
            rc = ev_cu_err(err, r, "L2 flush");
            *run_err = r;
            break;
        }
        if (use_cupti) {
            cuptiGetTimestamp(&W.t0[i]);
            W.first[i] = UINT64_MAX;
            W.last[i] = 0;
        } else {
            cuEventRecord(t->e0, d->stream);
        }
        if ((r = run(ctx, d->stream)) != CUDA_SUCCESS) {
            rc = ev_cu_err(err, r, "timed run");
            *run_err = r;
            break;
        }
        if (!use_cupti)
            cuEventRecord(t->e1, d->stream);
        if ((r = cuCtxSynchronize()) != CUDA_SUCCESS) {
            rc = ev_cu_err(err, r, "timed run");
            *run_err = r;
            break;
        }
        if (use_cupti) {
            cuptiGetTimestamp(&W.t1[i]);
            W.n = i + 1;
        } else {
            cuEventElapsedTime(&ms, t->e0, t->e1);
            samples_ms[i] = ms;
        }
    }
    if (use_cupti) {
        cuptiActivityFlushAll(1);
        cupti_set(0);
        cuptiActivityFlushAll(1);
        pthread_mutex_lock(&R_lock);
        R.on = 0;
        for (size_t k = 0; k < R.n; k++)
            note(R.s[k], R.e[k]);
        kernel_medians(clk);
        R.n = 0;
        pthread_mutex_unlock(&R_lock);
        for (int i = 0; i < W.n; i++) {
            if (W.last[i] > W.first[i] && W.first[i] != UINT64_MAX)
                samples_ms[i] = (double)(W.last[i] - W.first[i]) * 1e-6;
            else   /* no GPU activity recorded (an empty plan): the host window */
                samples_ms[i] = (double)(W.t1[i] - W.t0[i]) * 1e-6;
        }
        free(W.t0); free(W.t1); free(W.first); free(W.last);
        memset(&W, 0, sizeof W);
    }
    clk->sm_mhz_after = ev_sm_clock_mhz(d, 0);
    return rc;
}
