/* runner.c: the runner's command loop. See runner.h and docs/runner.md. */
#include "runner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "bind.h"
#include "evdev.h"
#include "inputs.h"
#include "lane.h"
#include "log.h"
#include "sandbox.h"
#include "timing.h"
#include "wire.h"
#include "xalloc.h"

#define MAX_TENSOR_BYTES ((size_t)48 << 30)

struct rn {
    int reply_fd;
    struct ev_dev dev;
    int dev_open;
    struct ev_timer *timer;
    const struct ev_lane_ops *lane;
    void *lane_st;
    struct kf_definition *def;
    struct kf_definition def_nc;    /* without constraints (shallow copy) */
    struct kf_solution *sol;
    CUdeviceptr arena; size_t arena_bytes;
    struct kf_binding *b;
    struct kf_workload *wk;
    struct ev_tensor_desc *in, *out;
    int bound;
    int lost;                       /* a sticky CUDA error: the context is gone */
};

static void reply(struct rn *R, json_t *m)
{
    int rc = wk_frame_write(R->reply_fd, m, NULL);
    json_decref(m);
    if (rc < 0)
        _exit(EV_RUNNER_EXIT_PIPE);
}

static void reply_ok(struct rn *R)
{
    reply(R, json_pack("{s:s}", "type", "ok"));
}

static void reply_err(struct rn *R, const char *stage, const char *msg, CUresult cu)
{
    int sticky = cu != CUDA_SUCCESS && ev_cu_sticky(cu);
    if (sticky)
        R->lost = 1;
    reply(R, json_pack("{s:s, s:s, s:s, s:b}", "type", "error", "stage", stage, "message",
                       msg ? msg : "failed", "sticky", sticky));
}

static int protocol(const char *what)
{
    log_error("runner", "protocol error: %s", what);
    return EV_RUNNER_EXIT_PROTOCOL;
}

static void unbind(struct rn *R)
{
    if (R->bound && R->lane)
        R->lane->unbind(R->lane_st, R->lost);
    R->bound = 0;
    kf_binding_free(R->b);
    kf_workload_free(R->wk);
    free(R->in);
    free(R->out);
    R->b = NULL;
    R->wk = NULL;
    R->in = R->out = NULL;
}

/* The sandbox is entered after the trusted start-up (driver, context,
 * CUPTI) and before the solution's artifacts are loaded: the artifacts are
 * the only files of the cache it may read. 0, or an error message. */
static const char *enter_sandbox(const json_t *open, char *const *arts, int narts, json_t **layers,
                                 struct kf_err *err)
{
    const json_t *cfg = json_object_get(open, "sandbox");
    const char *cuda = getenv("CUDA_HOME") && *getenv("CUDA_HOME") ? getenv("CUDA_HOME")
                                                                    : "/usr/local/cuda";
    struct kf_sandbox_policy pol = {0};
    char **rd, **wr;
    size_t n = 0;
    int rc;
    *layers = NULL;
    rd = kf_sandbox_default_read_paths(cuda, NULL, NULL);
    while (rd[n])
        n++;
    rd = xrealloc(rd, (n + (size_t)narts + 2) * sizeof *rd);
    if (getenv("KF_TVM_FFI_ROOT") && *getenv("KF_TVM_FFI_ROOT"))   /* libtvm_ffi.so */
        rd[n++] = xstrdup(getenv("KF_TVM_FFI_ROOT"));
    for (int i = 0; i < narts; i++)
        rd[n++] = xstrdup(arts[i]);
    rd[n] = NULL;
    wr = kf_sandbox_default_write_paths(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    pol.read_paths = (const char *const *)rd;
    pol.write_paths = (const char *const *)wr;
    pol.as_headroom = json_is_integer(json_object_get(cfg, "as_headroom"))
                          ? (unsigned long long)json_integer_value(json_object_get(cfg, "as_headroom"))
                          : EV_RUNNER_AS_HEADROOM;
    pol.drop_uid = 1;
    rc = kf_sandbox_enter(&pol, layers, err);
    kf_sandbox_paths_free(rd);
    kf_sandbox_paths_free(wr);
    return rc ? err->msg : NULL;
}

static int do_open(struct rn *R, const json_t *m)
{
    const char *lane = json_string_value(json_object_get(m, "lane"));
    const json_t *arts = json_object_get(m, "artifacts");
    json_int_t device = json_integer_value(json_object_get(m, "device"));
    const char *cache = json_string_value(json_object_get(m, "cache_dir"));
    char **av = NULL;
    int na = 0, rc;
    struct kf_err err = {0};
    json_t *layers;

    if (R->lane)
        return protocol("a second open");
    if (!lane || !json_is_array(arts) || json_array_size(arts) > 64 ||
        !json_is_object(json_object_get(m, "solution")) ||
        !json_is_object(json_object_get(m, "definition")))
        return protocol("open needs lane, artifacts, solution, definition");
    if (!(R->lane = ev_lane_find(lane))) {
        reply_err(R, "load", "this runner has no such lane", CUDA_SUCCESS);
        return 0;
    }
    /* kf_solution_check also resolves the launch plan's names against the
     * definition, as the judge did before building. */
    if (kf_definition_from_json(json_object_get(m, "definition"), &R->def, &err) ||
        kf_solution_from_json(json_object_get(m, "solution"), &R->sol, &err) ||
        kf_solution_check(R->sol, R->def, &err)) {
        reply_err(R, "load", err.msg, CUDA_SUCCESS);
        R->lane = NULL;
        return 0;
    }
    R->def_nc = *R->def;
    R->def_nc.nconstraints = 0;
    R->def_nc.constraints = NULL;
    R->def_nc.constraint_exprs = NULL;
    if ((rc = ev_dev_open(&R->dev, (int)device, cache, &err))) {
        reply_err(R, "device", err.msg, CUDA_SUCCESS);
        R->lane = NULL;
        return 0;
    }
    R->dev_open = 1;
    if ((rc = ev_timer_open(&R->dev, getenv("KF_TIMER") && !strcmp(getenv("KF_TIMER"), "events"),
                            &R->timer, &err))) {
        reply_err(R, "device", err.msg, CUDA_SUCCESS);
        R->lane = NULL;
        return 0;
    }
    av = xcalloc(json_array_size(arts) + 1, sizeof *av);
    for (size_t i = 0; i < json_array_size(arts); i++) {
        const char *s = json_string_value(json_array_get(arts, i));
        if (!s) {
            free(av);
            return protocol("artifacts must be strings");
        }
        av[na++] = (char *)s;
    }
    if (enter_sandbox(m, av, na, &layers, &err)) {
        /* Untrusted code must not run outside it: say why, and end. */
        free(av);
        reply(R, json_pack("{s:s, s:s, s:s, s:b, s:o*}", "type", "error", "stage", "sandbox",
                           "message", err.msg, "sticky", 0, "sandbox", layers));
        return EV_RUNNER_EXIT_SANDBOX;
    }
    rc = R->lane->open(&R->dev, R->sol, R->def, av, na, &R->lane_st, &err);
    free(av);
    if (rc) {
        json_decref(layers);
        reply_err(R, "load", err.msg, CUDA_SUCCESS);
        R->lane = NULL;
        return 0;
    }
    reply(R, json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "type", "ready", "pid", (json_int_t)getpid(),
                       "lane", R->lane->name, "timer", ev_timer_kind(R->timer), "arch", R->dev.arch,
                       "sandbox", layers));
    return 0;
}

static int do_arena(struct rn *R, const json_t *m)
{
    const char *hex = json_string_value(json_object_get(m, "handle"));
    json_t *jb = json_object_get(m, "bytes");
    struct kf_err err = {0};
    if (!R->lane || !R->lane_st)
        return protocol("arena before a successful open");
    if (!hex || !json_is_integer(jb) || json_integer_value(jb) <= 0)
        return protocol("arena needs handle and bytes");
    unbind(R);
    ev_arena_close(R->arena);
    R->arena = 0;
    if (ev_arena_open(hex, &R->arena, &err)) {
        R->arena = 0;
        reply_err(R, "arena", err.msg, CUDA_SUCCESS);
        return 0;
    }
    R->arena_bytes = (size_t)json_integer_value(jb);
    reply_ok(R);
    return 0;
}

/* One tensor entry of bind against the binding's shape. 0, or a message. */
static const char *tensor_desc(struct rn *R, const json_t *j, const struct kf_tensor_spec *ts,
                               const struct kf_shape *sh, struct ev_tensor_desc *d)
{
    json_t *off = json_object_get(j, "offset"), *nb = json_object_get(j, "nbytes");
    const char *name = json_string_value(json_object_get(j, "name"));
    memset(d, 0, sizeof *d);
    d->name = ts->name;
    d->dtype = ts->dtype;
    d->ndim = sh->ndim;
    memcpy(d->dims, sh->dims, sizeof d->dims);
    if (!name || strcmp(name, ts->name))
        return "tensor names out of definition order";
    if (json_is_true(json_object_get(j, "absent")))
        return ts->optional ? NULL : "a required input marked absent";
    if (json_object_get(j, "scalar")) {
        json_t *v = json_object_get(j, "scalar");
        if (!ts->is_scalar || !json_is_number(v))
            return "scalar value for a tensor";
        d->is_scalar = 1;
        d->scalar_f = json_number_value(v);
        d->scalar_i = json_is_integer(v) ? json_integer_value(v) : (int64_t)d->scalar_f;
        return NULL;
    }
    if (!json_is_integer(off) || !json_is_integer(nb) || json_integer_value(off) < 0 ||
        (size_t)json_integer_value(nb) != sh->nbytes ||
        (size_t)json_integer_value(off) > R->arena_bytes ||
        (size_t)json_integer_value(nb) > R->arena_bytes - (size_t)json_integer_value(off))
        return "tensor offset or size does not fit the arena and the binding";
    d->ptr = R->arena + (CUdeviceptr)json_integer_value(off);
    d->nbytes = sh->nbytes;
    return NULL;
}

static int do_bind(struct rn *R, const json_t *m)
{
    const json_t *ji = json_object_get(m, "inputs"), *jo = json_object_get(m, "outputs");
    struct kf_err err = {0};
    struct ev_call_desc c;
    const char *bad = NULL;
    CUresult cu = CUDA_SUCCESS;
    char *dn = NULL;
    int rc;
    if (!R->lane_st || !R->arena)
        return protocol("bind before open and arena");
    unbind(R);
    if (kf_workload_from_json(json_object_get(m, "workload"), &R->wk, &dn, &err) ||
        kf_bind(&R->def_nc, R->wk, MAX_TENSOR_BYTES, &R->b, &err)) {
        free(dn);
        return protocol(err.msg);
    }
    free(dn);
    if (!json_is_array(ji) || !json_is_array(jo) ||
        json_array_size(ji) != (size_t)R->def->ninputs ||
        json_array_size(jo) != (size_t)R->def->noutputs)
        return protocol("bind: inputs and outputs must match the definition");
    R->in = xcalloc((size_t)R->def->ninputs + 1, sizeof *R->in);
    R->out = xcalloc((size_t)R->def->noutputs + 1, sizeof *R->out);
    for (int i = 0; i < R->def->ninputs && !bad; i++)
        bad = tensor_desc(R, json_array_get(ji, (size_t)i), &R->def->inputs[i], &R->b->inputs[i],
                          &R->in[i]);
    for (int i = 0; i < R->def->noutputs && !bad; i++)
        bad = tensor_desc(R, json_array_get(jo, (size_t)i), &R->def->outputs[i], &R->b->outputs[i],
                          &R->out[i]);
    if (bad)
        return protocol(bad);
    c.def = R->def;
    c.b = R->b;
    c.in = R->in;
    c.out = R->out;
    R->bound = 1;
    if ((rc = R->lane->bind(R->lane_st, &c, &cu, &err))) {
        /* A launch plan naming a kernel the sources lack is a build error, as
         * NVRTC's own would be; the message names the field. */
        char msg[600];
        snprintf(msg, sizeof msg, "%s%s%s", err.path[0] ? err.path : "", err.path[0] ? ": " : "",
                 err.msg);
        if (rc == KF_ENOENT)
            reply(R, json_pack("{s:s, s:s, s:s, s:b, s:s}", "type", "error", "stage", "bind",
                               "message", msg, "sticky", 0, "status", "COMPILE_ERROR"));
        else
            reply_err(R, "bind", msg, cu);
        return 0;
    }
    reply_ok(R);
    return 0;
}

/* A failed call: the lane's own reason (and the status it deserves) when it
 * has one, else the CUDA error. */
static void call_failed(struct rn *R, const char *stage, CUresult cu)
{
    char msg[1024];
    int st = KF_ST_RUNTIME_ERROR;
    const char *why = R->lane->last_error ? R->lane->last_error(R->lane_st, &st) : NULL;
    /* the judge prefixes what the call was ("solution run: ...") */
    if (why && cu == CUDA_ERROR_INVALID_VALUE) {
        snprintf(msg, sizeof msg, "%s", why);
        reply(R, json_pack("{s:s, s:s, s:s, s:b, s:s}", "type", "error", "stage", stage, "message",
                           msg, "sticky", 0, "status", kf_status_name((enum kf_status)st)));
        return;
    }
    snprintf(msg, sizeof msg, "%s", ev_cu_str(cu));
    reply_err(R, stage, msg, cu);
}

/* Outputs a value-returning lane still holds, into the judge's buffers. */
static CUresult collect(struct rn *R)
{
    return R->lane->collect ? R->lane->collect(R->lane_st, R->dev.stream) : CUDA_SUCCESS;
}

static int do_run(struct rn *R)
{
    CUresult cu;
    if (!R->bound)
        return protocol("run before bind");
    if ((cu = R->lane->run(R->lane_st, R->dev.stream)) != CUDA_SUCCESS ||
        (cu = collect(R)) != CUDA_SUCCESS || (cu = cuCtxSynchronize()) != CUDA_SUCCESS) {
        call_failed(R, "run", cu);
        return 0;
    }
    reply_ok(R);
    return 0;
}

static int do_time(struct rn *R, const json_t *m)
{
    json_int_t warm = json_integer_value(json_object_get(m, "warmup"));
    json_int_t iters = json_integer_value(json_object_get(m, "iterations"));
    struct ev_clock clk;
    struct kf_err err = {0};
    CUresult re = CUDA_SUCCESS;
    double *smp;
    json_t *js, *km;
    char msg[320];
    if (!R->bound)
        return protocol("time before bind");
    if (warm < 0 || warm > 100000 || iters < 1 || iters > 100000)
        return protocol("time: warmup or iterations out of range");
    smp = xcalloc((size_t)iters, sizeof *smp);
    memset(&clk, 0, sizeof clk);
    if (ev_timer_measure(R->timer, &R->dev, R->lane->run, R->lane_st, (int)warm, (int)iters, smp,
                         &clk, &re, &err)) {
        free(smp);
        if (re != CUDA_SUCCESS) {
            call_failed(R, "timed run", re);
        } else {
            snprintf(msg, sizeof msg, "timed run: %s", err.msg);
            reply_err(R, "time", msg, CUDA_SUCCESS);
        }
        return 0;
    }
    /* After the timed window: the last call's returned outputs. */
    if ((re = collect(R)) != CUDA_SUCCESS || (re = cuCtxSynchronize()) != CUDA_SUCCESS) {
        free(smp);
        call_failed(R, "timed run", re);
        return 0;
    }
    js = json_array();
    for (json_int_t i = 0; i < iters; i++)
        json_array_append_new(js, json_real(isfinite(smp[i]) ? smp[i] : -1.0));
    km = json_array();
    for (int k = 0; k < clk.nkernels; k++)
        json_array_append_new(km, json_real(clk.kernel_ms[k]));
    free(smp);
    reply(R, json_pack("{s:s, s:o, s:s, s:{s:i, s:i, s:i, s:i}, s:o}", "type", "timed", "samples_ms",
                       js, "timer", ev_timer_kind(R->timer), "clock", "sm_mhz_before",
                       clk.sm_mhz_before, "sm_mhz_after", clk.sm_mhz_after, "sm_mhz_max",
                       clk.sm_mhz_max, "warmup_runs", clk.warmup_runs, "kernel_ms", km));
    return 0;
}

int ev_runner_serve(int cmd_fd, int reply_fd)
{
    struct rn R;
    struct wk_reader rd;
    int code = EV_RUNNER_EXIT_EOF;
    memset(&R, 0, sizeof R);
    R.reply_fd = reply_fd;
    wk_reader_init(&rd, 0);
    for (;;) {
        json_t *m = NULL;
        struct kf_err err = {0};
        const char *type;
        int rc = wk_reader_read(&rd, cmd_fd, &m, &err);
        if (rc == WK_READ_EOF) {
            code = EV_RUNNER_EXIT_EOF;
            break;
        }
        if (rc == WK_READ_AGAIN)
            continue;
        if (rc < 0) {
            code = protocol(err.msg);
            break;
        }
        type = json_string_value(json_object_get(m, "type"));
        if (!type)
            rc = protocol("a command without a type");
        else if (!strcmp(type, "open"))
            rc = do_open(&R, m);
        else if (!strcmp(type, "arena"))
            rc = do_arena(&R, m);
        else if (!strcmp(type, "bind"))
            rc = do_bind(&R, m);
        else if (!strcmp(type, "run"))
            rc = do_run(&R);
        else if (!strcmp(type, "time"))
            rc = do_time(&R, m);
        else if (!strcmp(type, "bye"))
            rc = -1;
        else
            rc = protocol("unknown command");
        json_decref(m);
        if (rc) {
            code = rc < 0 ? 0 : rc;
            break;
        }
    }
    wk_reader_free(&rd);
    /* Process exit releases the context; a lost one is not touched again. */
    unbind(&R);
    if (R.lane && R.lane_st)
        R.lane->close(R.lane_st, R.lost);
    if (!R.lost) {
        ev_arena_close(R.arena);
        ev_timer_close(R.timer);
        if (R.dev_open)
            ev_dev_close(&R.dev);
    }
    kf_solution_free(R.sol);
    kf_definition_free(R.def);
    return code;
}
