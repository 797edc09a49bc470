/* engine.c: ev_evaluate, the trusted judge of docs/runner.md: bind,
 * inputs, reference outputs, build, correctness with poison and guards,
 * timing bounds, re-check, trace. Submitted code never runs in this
 * process: a runner process (bin/kf-runner, runner_link.h) loads the
 * solution and makes the calls on buffers this process owns, in one CUDA
 * IPC arena per workload (arena.h); everything the runner says is checked
 * here. Not thread-safe: one evaluation per process at a time (it owns the
 * CUDA context of the calling process).
 */
#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "bind.h"
#include "compare.h"
#include "evconfig.h"
#include "evaluators.h"
#include "evdev.h"
#include "floor.h"
#include "guard.h"
#include "inputs.h"
#include "lane.h"
#include "log.h"
#include "pyref.h"
#include "reference.h"
#include "runner_link.h"
#include "safetensors.h"
#include "stats.h"
#include "timing.h"
#include "trace_build.h"
#include "verdict.h"
#include "xalloc.h"

#define MAX_TENSOR_BYTES ((size_t)48 << 30)
#define LOG_CAP 16384
/* Above this, a workload's arena holds two trial slots, used in turn,
 * instead of one per trial. */
#define ARENA_ALL_TRIALS_MAX ((size_t)16 << 30)

struct eng {
    const struct ev_request *req;
    struct ev_dev dev;
    int dev_open;
    struct ev_timer *timer;       /* the judge's own: times the reference */
    struct ev_ref *ref;
    const struct ev_lane_ops *lane;
    char **arts; int narts;       /* what the lane built (runner loads them) */
    int compiled;                 /* 1 ok, 0 compile error (traces say COMPILE_ERROR) */
    char *compile_log;
    double build_ms;              /* the lane's judge-side build (nvrtc, nvcc; ~0 when cached) */
    struct ev_rl rl;              /* the runner; rl.pid 0 when none is up */
    json_t *runner_info;          /* its "ready" reply (owned) */
    struct ev_pyref *pyref;       /* the PyTorch reference (eval config "reference": "pytorch") */
    int broken;                   /* the judge's own context is lost */
    const struct ev_def_rules *rules;   /* what is special about the definition */
    struct kf_definition def_nc;  /* the definition without constraints (shallow copy) */
};

/* Where a workload's wall time goes (evaluation.kernelfarm.wall_ms; bench/eval_bench.sh). */
enum { PH_BIND, PH_RUNNER, PH_INPUTS, PH_REFERENCE, PH_LAUNCH, PH_CHECKED, PH_CHECK, PH_TIMED,
       PH_TRACE, PH_N };
static const char *const ph_names[PH_N] = {"bind", "runner_start", "inputs", "reference", "launch",
                                           "checked_call", "compare", "timed_calls", "trace"};

struct wl {                       /* per-workload result being assembled */
    const struct kf_workload *wk; /* borrowed */
    char log[LOG_CAP];
    size_t loglen;
    enum kf_status st;
    struct ev_cmp cmp;
    int have_cmp;
    json_t *outputs_extra;        /* per output comparison */
    double *medians; int nmed;
    double *samples; int nsamples;
    double *ref_medians; int nref;
    double *walls; int nwalls;    /* the judge's wall time of each timed batch */
    struct ev_clock clk;
    const char *timer_kind;       /* the runner's timer, as it said */
    int ref_cached_lat;
    double ref_latency;
    json_t *seeds;
    struct ev_topk_scores *tks;   /* this trial's recomputed top-k scores */
    char unranked[512];           /* why the latency cannot be ranked ("" when it can) */
    struct ev_floor floor;        /* speed-of-light floor (from trial 0's inputs) */
    int have_floor;               /* 1 computed, 0 none (no model for this GPU, disabled) */
    char floor_note[160];         /* why there is none */
    char arena_hex[EV_ARENA_HANDLE_HEX + 1];
    double pyref_ms;              /* the PyTorch reference's latency */
    int have_pyref, pyref_cached;
    char pyref_note[300];         /* why there is none ("" when there is, or none asked) */
    double ph[PH_N];              /* ms spent in each phase */
    double ph_t0; int ph_cur;     /* the phase running since ph_t0 */
    /* this trial's state, released by trial_free */
    struct kf_binding *b;
    struct ev_arena arena;
    struct ev_tensors *in, *out;
    struct ev_ref_result rr;
};

static void wlog(struct wl *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(struct wl *w, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (w->loglen + 2 >= LOG_CAP)
        return;
    va_start(ap, fmt);
    n = vsnprintf(w->log + w->loglen, LOG_CAP - w->loglen - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->loglen += (size_t)n < LOG_CAP - w->loglen - 1 ? (size_t)n : LOG_CAP - w->loglen - 2;
    w->log[w->loglen++] = '\n';
    w->log[w->loglen] = 0;
}

/* A CUDA failure in the judge's own context (its setup, guards, checks). */
static int judge_cuda_fail(struct eng *E, struct wl *w, CUresult r, const char *what)
{
    w->st = KF_ST_RUNTIME_ERROR;
    wlog(w, "[kernelfarm] %s: %s", what, ev_cu_str(r));
    if (ev_cu_sticky(r))
        E->broken = 1;
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Charge the time since the last switch to the current phase, then switch. */
static void phase(struct wl *w, int next)
{
    double t = now_ms();
    if (w->ph_t0 > 0)
        w->ph[w->ph_cur] += t - w->ph_t0;
    w->ph_t0 = t;
    w->ph_cur = next;
}

/* ---- the runner ---------------------------------------------------------- */

static int str_eq(const json_t *j, const char *s)
{
    return json_is_string(j) && !strcmp(json_string_value(j), s);
}

static void runner_down(struct eng *E, int kill_now)
{
    ev_rl_stop(&E->rl, kill_now);
}

/* A failed runner command: the solution's RUNTIME_ERROR. Whatever went
 * wrong, the next call gets a fresh runner (its context may be lost). */
static int runner_fail(struct eng *E, struct wl *w, int rc, const struct kf_err *err,
                       const char *when)
{
    w->st = KF_ST_RUNTIME_ERROR;
    if (rc == KF_EINVAL)
        wlog(w, "%s: %s", when, err->msg);
    else
        wlog(w, "[kernelfarm] %s: %s", when, err->msg);
    runner_down(E, 1);
    return -1;
}

/* Start a runner and load the solution, unless one is up. */
static int runner_up(struct eng *E, struct wl *w)
{
    const struct ev_request *req = E->req;
    struct ev_rl_opts o = {.runner_path = req->runner_path};
    struct kf_err err = {0};
    json_t *cmd, *arts, *rep = NULL;
    char *py_argv[3] = {NULL, NULL, NULL}, *py_env[3] = {NULL, NULL, NULL};
    int rc;
    if (E->rl.pid)
        return 0;
    if (E->lane->runner && !strcmp(E->lane->runner, "python")) {
        char scope[65];
        ev_rl_python_scope(req->sol, scope);
        ev_rl_python_opts(&o, req->cache_dir, scope, py_argv, py_env);
    }
    rc = ev_rl_start(&E->rl, &o, &err);
    free(py_env[0]);
    free(py_env[1]);
    if (rc)
        return runner_fail(E, w, rc, &err, "cannot start the runner");
    /* The runner reads its own copies of this solution's artifacts, in its
     * private tmp: never the shared cache (other teams' builds), which its
     * uid may not even reach. */
    arts = json_array();
    for (int i = 0; i < E->narts; i++) {
        char *copy = E->rl.tmp[0] ? ev_rl_give_file(&E->rl, E->arts[i], i, &err) : NULL;
        if (E->rl.tmp[0] && !copy) {
            json_decref(arts);
            return runner_fail(E, w, KF_EIO, &err, "runner start-up");
        }
        json_array_append_new(arts, json_string(copy ? copy : E->arts[i]));
        free(copy);
    }
    cmd = json_pack("{s:s, s:s, s:i, s:s, s:o, s:o, s:o, s:s?}", "type", "open", "lane",
                    E->lane->name, "device", req->device, "arch", E->dev.arch, "artifacts", arts,
                    "solution", kf_solution_to_json(req->sol), "definition",
                    kf_definition_to_json(req->def), "cache_dir", req->cache_dir);
    if (E->lane->runner && !strcmp(E->lane->runner, "python"))
        json_object_set_new(cmd, "runner_lib", json_string(ev_rl_runner_lib_path()));
    rc = ev_rl_call(&E->rl, cmd, "ready", -1, &rep, &err);
    if (rc == KF_EINVAL && str_eq(json_object_get(rep, "stage"), "load")) {
        /* The artifacts do not load: the solution's, for every workload. */
        E->compiled = 0;
        free(E->compile_log);
        /* the runner's whole message (a build log's tail), not err's 400 bytes */
        const char *full = json_string_value(json_object_get(rep, "message"));
        E->compile_log = xasprintf("the solution does not load: %s", full ? full : err.msg);
        json_decref(rep);
        runner_down(E, 1);
        w->st = KF_ST_COMPILE_ERROR;
        wlog(w, "%s", E->compile_log);
        return -1;
    }
    if (rc) {
        json_decref(rep);
        return runner_fail(E, w, rc, &err, "runner start-up");
    }
    json_decref(E->runner_info);
    E->runner_info = json_pack("{s:O?, s:O?, s:O?}", "pid", json_object_get(rep, "pid"), "timer",
                               json_object_get(rep, "timer"), "sandbox",
                               json_object_get(rep, "sandbox"));
    json_decref(rep);
    return 0;
}

/* A runner's error reply may name a status its lane knows better than
 * RUNTIME_ERROR: a returned tensor of the wrong shape or dtype. */
static void reply_status(struct wl *w, const json_t *rep)
{
    const json_t *st = json_object_get(rep, "status"), *stage = json_object_get(rep, "stage");
    if (str_eq(st, "COMPILE_ERROR"))
        w->st = KF_ST_COMPILE_ERROR;
    else if (str_eq(st, "INCORRECT_SHAPE") || str_eq(stage, "shape"))
        w->st = KF_ST_INCORRECT_SHAPE;
    else if (str_eq(st, "INCORRECT_DTYPE") || str_eq(stage, "dtype"))
        w->st = KF_ST_INCORRECT_DTYPE;
}

/* One command that expects "ok". */
static int runner_ok(struct eng *E, struct wl *w, json_t *cmd, const char *when)
{
    struct kf_err err = {0};
    json_t *rep = NULL;
    int rc = ev_rl_call(&E->rl, cmd, "ok", -1, &rep, &err);
    if (rc) {
        runner_fail(E, w, rc, &err, when);
        if (rc == KF_EINVAL)
            reply_status(w, rep);
    }
    json_decref(rep);
    return rc ? -1 : 0;
}

/* ---- comparison ------------------------------------------------------------ */

struct cdata { struct ev_dev *d; struct ev_tensors *in; };

static const void *input_data(void *ctx, int i)
{
    struct cdata *c = ctx;
    struct kf_err e = {0};
    return ev_tensor_host(c->d, c->in, i, &e);
}

static int input_index(const struct kf_definition *def, const char *name)
{
    return kf_definition_input_index(def, name);
}

/* The DSA indexer's scores, recomputed on the host from the trial's inputs
 * as they were BEFORE the solution ran: called when the inputs are made, so
 * a kernel that changes an input (and forges its checksum) cannot change
 * what its output is scored against. 0, or -1 with the log written. */
static int topk_prepare(struct eng *E, struct wl *w, const struct kf_binding *b,
                        struct ev_tensors *in)
{
    const struct kf_definition *def = E->req->def;
    struct kf_err e = {0};
    struct ev_topk_in ti;
    int iq = input_index(def, "q_index_fp8"), ik = input_index(def, "k_index_cache_fp8"),
        iw = input_index(def, "weights"), is = input_index(def, "seq_lens"),
        ib = input_index(def, "block_table"), io = kf_definition_output_index(def, E->rules->set_output);
    int64_t v;
    memset(&ti, 0, sizeof ti);
    if (iq < 0 || ik < 0 || iw < 0 || is < 0 || ib < 0 || io < 0) {
        wlog(w, "[kernelfarm] top-k evaluator: definition lacks an expected input");
        return -1;
    }
    ti.q_fp8 = ev_tensor_host(&E->dev, in, iq, &e);
    ti.kcache = ev_tensor_host(&E->dev, in, ik, &e);
    ti.weights = ev_tensor_host(&E->dev, in, iw, &e);
    ti.seq_lens = ev_tensor_host(&E->dev, in, is, &e);
    ti.block_table = ev_tensor_host(&E->dev, in, ib, &e);
    if (!ti.q_fp8 || !ti.kcache || !ti.weights || !ti.seq_lens || !ti.block_table) {
        wlog(w, "[kernelfarm] top-k evaluator: cannot read inputs: %s", e.msg);
        return -1;
    }
    ti.batch = b->inputs[iq].dims[0];
    ti.heads = b->inputs[iq].dims[1];
    ti.dim = b->inputs[iq].dims[2];
    ti.page_size = b->inputs[ik].dims[1];
    ti.num_pages = b->inputs[ik].dims[0];
    ti.max_pages = b->inputs[ib].dims[1];
    ti.topk = b->outputs[io].dims[1];
    if (kf_binding_axis(b, "topk", &v) == 0)
        ti.topk = v;
    ev_topk_scores_free(w->tks);
    w->tks = ev_topk_scores_new(&ti);
    return 0;
}

/* Compare the solution's outputs (downloaded into o) with the reference. */
static int compare_outputs(struct eng *E, struct wl *w, const struct kf_definition *def,
                           const struct kf_binding *b, struct ev_tensors *in, struct ev_tensors *o,
                           void **ref, struct ev_cmp *total, const char *when)
{
    const struct ev_config *cfg = &E->req->cfg;
    int pass = 1;
    memset(total, 0, sizeof *total);
    total->first_fail = -1;
    json_decref(w->outputs_extra);
    w->outputs_extra = json_object();
    for (int i = 0; i < def->noutputs; i++) {
        struct ev_cmp c;
        const char *name = def->outputs[i].name;
        char msg[256] = "";
        if (E->rules->evaluator == EV_EVAL_TOPK_SET && !strcmp(name, E->rules->set_output)) {
            if (!w->tks && topk_prepare(E, w, b, in) < 0)
                return -1;
            ev_topk_check_scores(w->tks, o->buf[i].host, cfg->atol, cfg->rtol, &c, msg, sizeof msg);
        } else {
            ev_compare(def->outputs[i].dtype, o->buf[i].host, ref[i], b->outputs[i].numel, cfg->atol,
                       cfg->rtol, &c);
            if (c.first_fail >= 0)
                snprintf(msg, sizeof msg, "first mismatch at flat index %lld: got %.6g, expected %.6g",
                         (long long)c.first_fail,
                         kf_dtype_load(def->outputs[i].dtype, o->buf[i].host, (size_t)c.first_fail),
                         kf_dtype_load(def->outputs[i].dtype, ref[i], (size_t)c.first_fail));
        }
        json_object_set_new(w->outputs_extra, name,
                            json_pack("{s:f, s:f, s:f, s:I, s:I}", "max_absolute_error",
                                      isfinite(c.max_abs) ? c.max_abs : 0.0, "max_relative_error",
                                      isfinite(c.max_rel) ? c.max_rel : 0.0, "matched_ratio",
                                      c.matched_ratio, "mismatched", (json_int_t)c.nfail,
                                      "non_finite", (json_int_t)c.nonfinite));
        if (!ev_cmp_pass(&c, cfg->required_matched_ratio)) {
            pass = 0;
            wlog(w, "%s: output '%s' mismatched: %lld of %lld elements fail (matched ratio %.6f, "
                    "required %.6f), %lld non-finite; max abs err %.6g, max rel err %.6g%s%s",
                 when, name, (long long)c.nfail, (long long)c.n, c.matched_ratio,
                 cfg->required_matched_ratio, (long long)c.nonfinite, c.max_abs, c.max_rel,
                 msg[0] ? "; " : "", msg);
            if (E->rules->note_output && !strcmp(name, E->rules->note_output))
                wlog(w, "note: %s", E->rules->note);
        }
        ev_cmp_merge(total, &c);
    }
    return pass;
}

/* Trial-0 inputs and reference outputs of a workload as one safetensors file. */
static void dump_io(struct eng *E, struct wl *w, const struct kf_workload *wk,
                    const struct kf_binding *b, struct ev_tensors *in, void **ref)
{
    const struct kf_definition *def = E->req->def;
    struct kf_st_writer *wr = kf_st_writer_new();
    struct kf_err e = {0};
    char *path = xasprintf("%s/%s.safetensors", E->req->dump_dir, wk->uuid), name[256];
    for (int i = 0; i < def->ninputs; i++) {
        const struct kf_tensor_spec *ts = &def->inputs[i];
        snprintf(name, sizeof name, "input.%s", ts->name);
        if (ts->is_scalar) {
            unsigned char v[8] = {0};
            int64_t none = 0;
            if (kf_dtype_is_float(ts->dtype))
                kf_dtype_store(ts->dtype, v, 0, in->scalar_f[i]);
            else
                kf_dtype_store(ts->dtype, v, 0, (double)in->scalar_i[i]);
            kf_st_writer_add(wr, name, ts->dtype, 0, &none, v, kf_dtype_nbytes(ts->dtype, 1));
        } else if (in->present[i]) {
            const void *h = ev_tensor_host(&E->dev, in, i, &e);
            if (h)
                kf_st_writer_add(wr, name, ts->dtype, b->inputs[i].ndim, b->inputs[i].dims, h,
                                 b->inputs[i].nbytes);
        }
    }
    for (int i = 0; i < def->noutputs; i++) {
        snprintf(name, sizeof name, "reference.%s", def->outputs[i].name);
        kf_st_writer_add(wr, name, def->outputs[i].dtype, b->outputs[i].ndim, b->outputs[i].dims,
                         ref[i], b->outputs[i].nbytes);
    }
    if (kf_st_writer_save(wr, path, &e))
        wlog(w, "[kernelfarm] cannot dump inputs to %s: %s", path, e.msg);
    kf_st_writer_free(wr);
    free(path);
}

/* ---- one workload, in steps ------------------------------------------------ */

static void trial_free(struct eng *E, struct wl *w)
{
    ev_ref_result_free(&w->rr);
    memset(&w->rr, 0, sizeof w->rr);
    if (E->broken) {   /* handles are invalid: free host side only */
        if (w->in) for (int i = 0; i < w->in->n; i++) w->in->buf[i].base = 0;
        if (w->out) for (int i = 0; i < w->out->n; i++) w->out->buf[i].base = 0;
    }
    ev_tensors_free(w->in);
    ev_tensors_free(w->out);
    w->in = w->out = NULL;
}

/* Bind axes (constraints reported, not enforced: see kf_bind). */
static int step_bind(struct eng *E, struct wl *w, const struct kf_workload *wk)
{
    struct kf_err err = {0};
    int rc = kf_bind(E->req->def, wk, MAX_TENSOR_BYTES, &w->b, &err);
    if (rc && !strncmp(err.path, "constraints", 11)) {
        /* The contest's own workloads break some constraints (DSA indexer:
         * fewer pages than topk / page_size); flashinfer-bench evaluates
         * them anyway. */
        wlog(w, "[kernelfarm] note: workload violates %s (%s); evaluated as in the contest",
             err.path, err.msg);
        rc = kf_bind(&E->def_nc, wk, MAX_TENSOR_BYTES, &w->b, &err);
    }
    if (rc) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] workload does not bind to the definition: %s: %s", err.path, err.msg);
        return -1;
    }
    return 0;
}

/* The arena the runner sees: one slot per trial (or two, used in turn, for
 * very large workloads), so no address repeats between consecutive trials. */
static int step_arena(struct eng *E, struct wl *w)
{
    const struct kf_definition *def = E->req->def;
    size_t slot = 0;
    int trials = E->req->cfg.trials, nslots;
    char hex[EV_ARENA_HANDLE_HEX + 1];
    struct kf_err err = {0};
    int rc;
    for (int i = 0; i < def->ninputs; i++)
        if (!def->inputs[i].is_scalar)
            slot += ev_arena_tensor_bytes(w->b->inputs[i].nbytes, EV_GUARD_BYTES);
    for (int i = 0; i < def->noutputs; i++)
        slot += ev_arena_tensor_bytes(w->b->outputs[i].nbytes, EV_GUARD_BYTES);
    nslots = slot * (size_t)trials <= ARENA_ALL_TRIALS_MAX ? trials : (trials > 1 ? 2 : 1);
    if ((rc = ev_arena_create(&w->arena, slot, nslots, &err)) ||
        (rc = ev_arena_export(&w->arena, hex, &err))) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] %s", err.msg);
        return -1;
    }
    snprintf(w->arena_hex, sizeof w->arena_hex, "%s", hex);
    phase(w, PH_RUNNER);
    if (runner_up(E, w))
        return -1;
    return runner_ok(E, w,
                     json_pack("{s:s, s:s, s:I}", "type", "arena", "handle", hex, "bytes",
                               (json_int_t)w->arena.bytes),
                     "[kernelfarm] runner arena");
}

/* The bind command: every tensor as an offset into the arena. */
static json_t *tensors_msg(const struct kf_tensor_spec *specs, int n,
                           const struct kf_shape *shapes, const struct ev_tensors *t,
                           const struct ev_arena *a, int inputs)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const struct kf_tensor_spec *ts = &specs[i];
        json_t *o = json_pack("{s:s}", "name", ts->name);
        if (inputs && ts->is_scalar) {
            json_object_set_new(o, "dtype", json_string(kf_dtype_name(ts->dtype)));
            json_object_set_new(o, "scalar", kf_dtype_is_float(ts->dtype)
                                                 ? json_real(t->scalar_f[i])
                                                 : json_integer(t->scalar_i[i]));
        } else if (!t->present[i]) {
            json_object_set_new(o, "absent", json_true());
        } else {
            json_t *shape = json_array();
            for (int d = 0; d < shapes[i].ndim; d++)
                json_array_append_new(shape, json_integer(shapes[i].dims[d]));
            json_object_set_new(o, "dtype", json_string(kf_dtype_name(ts->dtype)));
            json_object_set_new(o, "shape", shape);
            json_object_set_new(o, "offset", json_integer((json_int_t)(t->buf[i].ptr - a->base)));
            json_object_set_new(o, "nbytes", json_integer((json_int_t)t->buf[i].nbytes));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Inputs, reference outputs (judge-private), poisoned and guarded outputs. */
static int trial_prepare(struct eng *E, struct wl *w, const struct kf_workload *wk, int t,
                         uint64_t seed)
{
    const struct ev_request *req = E->req;
    const struct kf_definition *def = req->def;
    struct kf_err err = {0};
    struct cdata cd;
    CUresult cu;
    json_t *bind;
    int need_ref_lat = !req->cfg.check_only && !w->ref_cached_lat;

    phase(w, PH_INPUTS);
    ev_arena_slot(&w->arena, t % w->arena.nslots);
    if (ev_inputs_make(&E->dev, req->ds, def, wk, w->b, seed, &w->arena, &w->in, &err)) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] cannot prepare inputs: %s: %s", err.path, err.msg);
        if (err.code == KF_ECUDA)
            E->broken = 1;
        return -1;
    }
    cd.d = &E->dev;
    cd.in = w->in;
    if (t == 0 && w->b->def == def && kf_binding_check_constraints(w->b, input_data, &cd, &err))
        wlog(w, "[kernelfarm] note: inputs violate %s: %s", err.path, err.msg);
    if (E->rules->evaluator == EV_EVAL_TOPK_SET && topk_prepare(E, w, w->b, w->in) < 0) {
        w->st = KF_ST_RUNTIME_ERROR;
        return -1;
    }
    /* Reference first, on the same inputs; its outputs leave the GPU. */
    phase(w, PH_REFERENCE);
    if (ev_ref_run(E->ref, &E->dev, need_ref_lat ? E->timer : NULL, def, wk, w->b, w->in, seed,
                   &req->cfg, req->cache_dir, &w->rr, &err)) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] reference kernel failed: %s: %s", err.path, err.msg);
        if (err.code == KF_ECUDA)
            E->broken = 1;
        return -1;
    }
    if (t == 0 && req->dump_dir)
        dump_io(E, w, wk, w->b, w->in, w->rr.out);
    if (w->rr.timed) {
        struct ev_stats s;
        ev_stats_compute(w->rr.samples_ms, w->rr.nsamples, &s);
        w->ref_medians[w->nref++] = s.median;
    }
    phase(w, PH_LAUNCH);
    if (ev_outputs_make(&E->dev, def, w->b, &w->arena, &w->out, &err)) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] cannot allocate outputs: %s", err.msg);
        return -1;
    }
    bind = json_pack("{s:s, s:o, s:o, s:o}", "type", "bind", "workload", kf_workload_to_json(wk),
                     "inputs",
                     tensors_msg(def->inputs, def->ninputs, w->b->inputs, w->in, &w->arena, 1),
                     "outputs",
                     tensors_msg(def->outputs, def->noutputs, w->b->outputs, w->out,
                                 &w->arena, 0));
    if (E->pyref && t == 0 && !w->have_pyref && !w->pyref_note[0]) {
        /* The contest's reference, on the same buffers, before the poison. */
        phase(w, PH_REFERENCE);
        if (ev_pyref_time(E->pyref, wk, w->arena_hex, w->arena.bytes, bind, &w->pyref_ms, &err) == 0)
            w->have_pyref = 1;
        else
            snprintf(w->pyref_note, sizeof w->pyref_note, "the PyTorch reference was not timed: %.240s",
                     err.msg);
        phase(w, PH_LAUNCH);
    }
    if ((cu = ev_poison_outputs(&E->dev, def, w->out)) != CUDA_SUCCESS ||
        (cu = ev_guard_snapshot(&E->dev, w->in, w->out)) != CUDA_SUCCESS ||
        (cu = cuStreamSynchronize(E->dev.stream)) != CUDA_SUCCESS) {
        json_decref(bind);
        return judge_cuda_fail(E, w, cu, "guard setup");
    }
    return runner_ok(E, w, bind, "launch");
}

/* After the runner says it wrote the outputs: guards, inputs, then the
 * comparison, all in the judge's own context. 1 pass, 0 mismatch, -1 error. */
static int trial_check(struct eng *E, struct wl *w, int t, const char *when)
{
    const struct kf_definition *def = E->req->def;
    struct ev_cmp c;
    struct kf_err err = {0};
    char msg[256], label[80];
    int viol = 0, pass;
    CUresult cu;
    phase(w, PH_CHECK);
    if ((cu = ev_guard_check(&E->dev, def, w->in, w->out, &viol, msg, sizeof msg)) != CUDA_SUCCESS)
        return judge_cuda_fail(E, w, cu, "guard check");
    if (viol) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "trial %d (%s): %s", t, when, msg);
        return -1;
    }
    if (ev_tensors_download(&E->dev, w->out, &err)) {
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] %s", err.msg);
        E->broken = 1;
        return -1;
    }
    snprintf(label, sizeof label, "trial %d, %s", t, when);
    pass = compare_outputs(E, w, def, w->b, w->in, w->out, w->rr.out, &c, label);
    if (pass < 0) {
        w->st = KF_ST_RUNTIME_ERROR;
        return -1;
    }
    ev_cmp_fold(&w->cmp, &w->have_cmp, &c);
    if (!pass)
        w->st = KF_ST_INCORRECT_NUMERICAL;
    return pass;
}

/* The workload's speed-of-light floor, from the inputs on the judge's side. */
static void floor_compute(struct eng *E, struct wl *w)
{
    const struct ev_request *req = E->req;
    struct cdata cd = {&E->dev, w->in};
    struct ev_floor_data fd = {w->wk, input_data, &cd};
    struct kf_err err = {0};
    int rc;
    rc = ev_floor_compute_data(req->def, w->b, &fd, E->dev.hardware, req->cfg.floor_margin,
                               &w->floor, &err);
    w->have_floor = rc == 0 && req->cfg.floor_margin > 0;
    if (rc == KF_ENOENT)
        snprintf(w->floor_note, sizeof w->floor_note, "no speed-of-light floor for %s",
                 E->dev.hardware);
    else if (rc)
        snprintf(w->floor_note, sizeof w->floor_note, "floor: %.150s", err.msg);
    else if (!w->have_floor)
        snprintf(w->floor_note, sizeof w->floor_note, "floor disabled (floor_margin 0)");
}

/* Warm-up and timed calls in the runner, bounded by the judge's wall time. */
static int trial_time(struct eng *E, struct wl *w, int t)
{
    const struct ev_config *cfg = &E->req->cfg;
    double *smp = w->samples + (size_t)w->nsamples, t0, wall;
    struct kf_err err = {0};
    struct ev_stats s;
    json_t *rep = NULL;
    char why[256];
    CUresult cu;
    int rc;
    phase(w, PH_TIMED);
    /* Poison again: the timed calls must produce the outputs re-checked after. */
    if ((cu = ev_poison_outputs(&E->dev, E->req->def, w->out)) != CUDA_SUCCESS ||
        (cu = cuStreamSynchronize(E->dev.stream)) != CUDA_SUCCESS)
        return judge_cuda_fail(E, w, cu, "poison");
    t0 = now_ms();
    rc = ev_rl_call(&E->rl,
                    json_pack("{s:s, s:i, s:i}", "type", "time", "warmup", cfg->warmup, "iterations",
                              cfg->iterations),
                    "timed", -1, &rep, &err);
    wall = now_ms() - t0;
    if (rc) {
        runner_fail(E, w, rc, &err, "timed run");
        if (rc == KF_EINVAL)
            reply_status(w, rep);
        json_decref(rep);
        return -1;
    }
    if (ev_timed_reply_parse(rep, cfg->iterations, smp, &w->clk, why, sizeof why)) {
        json_decref(rep);
        w->st = KF_ST_RUNTIME_ERROR;
        wlog(w, "[kernelfarm] runner protocol error: %s", why);
        runner_down(E, 1);
        return -1;
    }
    /* the runner's word for its timer, mapped onto the two known ones */
    w->timer_kind = str_eq(json_object_get(rep, "timer"), "cupti") ? "cupti" : "cuda_events";
    json_decref(rep);
    w->walls[w->nwalls++] = wall;
    ev_stats_compute(smp, cfg->iterations, &s);
    w->medians[w->nmed++] = s.median;
    w->nsamples += cfg->iterations;
    /* Bounds the runner cannot move: the judge's wall time above, the
     * speed-of-light floor below. */
    if (t == 0)
        floor_compute(E, w);
    if (!w->unranked[0] &&
        ev_floor_verdict(s.median, s.mean * s.n, wall, w->have_floor ? &w->floor : NULL, why,
                         sizeof why))
        snprintf(w->unranked, sizeof w->unranked, "trial %d: %s", t, why);
    return 0;
}

/* One trial: prepare, the checked call, then the timed calls and their re-check. */
static int step_trial(struct eng *E, struct wl *w, const struct kf_workload *wk, int t)
{
    uint64_t seed = ev_trial_seed(E->req->seed, wk->uuid, t);
    char sb[24];
    int rc;
    ev_topk_scores_free(w->tks);   /* new inputs, new scores */
    w->tks = NULL;
    snprintf(sb, sizeof sb, "%016llx", (unsigned long long)seed);
    json_array_append_new(w->seeds, json_string(sb));
    if (trial_prepare(E, w, wk, t, seed) || (phase(w, PH_CHECKED), 0) ||
        runner_ok(E, w, json_pack("{s:s}", "type", "run"), "solution run"))
        rc = -1;
    else if ((rc = trial_check(E, w, t, "checked call")) == 1 && !E->req->cfg.check_only) {
        rc = trial_time(E, w, t);
        if (rc == 0)
            rc = trial_check(E, w, t, "output of the last timed call");
    }
    trial_free(E, w);
    return rc == 1 || rc == 0 ? (w->st == KF_ST_PASSED ? 0 : -1) : -1;
}

static json_t *perf_json(struct eng *E, struct wl *w, const struct kf_workload *wk)
{
    const struct ev_request *req = E->req;
    const struct ev_config *cfg = &req->cfg;
    struct ev_stats s;
    double lat = 0, ref = w->ref_latency;
    json_t *px, *med = json_array(), *walls = json_array();
    if (cfg->check_only)
        return ev_performance_json(0, 0, json_pack("{s:b}", "check_only", 1));
    for (int i = 0; i < w->nmed; i++) {
        lat += w->medians[i];
        json_array_append_new(med, json_real(w->medians[i]));
    }
    for (int i = 0; i < w->nwalls; i++)
        json_array_append_new(walls, json_real(w->walls[i]));
    lat = w->nmed ? lat / w->nmed : 0;
    if (!w->ref_cached_lat && w->nref) {
        ref = 0;
        for (int i = 0; i < w->nref; i++)
            ref += w->ref_medians[i];
        ref /= w->nref;
        ev_ref_latency_put(E->ref, req->cache_dir, req->def, wk, E->dev.hardware, cfg, ref);
    }
    ev_stats_compute(w->samples, w->nsamples, &s);
    px = json_object();
    json_object_set_new(px, "timer", json_string(w->timer_kind ? w->timer_kind : "cupti"));
    json_object_set_new(px, "trial_medians_ms", med);
    json_object_set_new(px, "judge_wall_ms", walls);
    json_object_set_new(px, "n", json_integer(s.n));
    json_object_set_new(px, "min_ms", json_real(s.min));
    json_object_set_new(px, "median_ms", json_real(s.median));
    json_object_set_new(px, "mean_ms", json_real(s.mean));
    json_object_set_new(px, "stdev_ms", json_real(s.stdev));
    json_object_set_new(px, "p20_ms", json_real(s.p20));
    json_object_set_new(px, "p80_ms", json_real(s.p80));
    json_object_set_new(px, "sm_clock_mhz_before", json_integer(w->clk.sm_mhz_before));
    json_object_set_new(px, "sm_clock_mhz_after", json_integer(w->clk.sm_mhz_after));
    json_object_set_new(px, "sm_clock_mhz_max", json_integer(w->clk.sm_mhz_max));
    json_object_set_new(px, "warmup_runs", json_integer(w->clk.warmup_runs));
    json_object_set_new(px, "l2_flush_bytes", json_integer((json_int_t)E->dev.l2buf_bytes));
    json_object_set_new(px, "l2_flush", json_string(ev_l2_flush_mode()));
    if (w->clk.nkernels > 0) {
        /* each kernel's median duration in the last trial, in launch order */
        json_t *km = json_array();
        for (int k = 0; k < w->clk.nkernels; k++)
            json_array_append_new(km, json_real(w->clk.kernel_ms[k]));
        json_object_set_new(px, "kernel_ms", km);
    }
    json_object_set_new(px, "reference_version", json_string(E->ref->version));
    json_object_set_new(px, "reference_latency_cached", json_boolean(w->ref_cached_lat));
    if (w->have_pyref) {
        /* The contest's score: against the definition's PyTorch reference. */
        json_object_set_new(px, "reference", json_string("pytorch"));
        json_object_set_new(px, "torch_version", json_string(ev_pyref_torch(E->pyref)));
        json_object_set_new(px, "pytorch_reference_latency_cached", json_boolean(w->pyref_cached));
        json_object_set_new(px, "native_reference_latency_ms", json_real(ref));
        json_object_set_new(px, "native_speedup_factor", json_real(lat > 0 ? ref / lat : 0));
        return ev_performance_json(lat, w->pyref_ms, px);
    }
    json_object_set_new(px, "reference", json_string("kernelfarm-native"));
    if (w->pyref_note[0])
        json_object_set_new(px, "pytorch_reference_note", json_string(w->pyref_note));
    return ev_performance_json(lat, ref, px);
}

static json_t *step_trace(struct eng *E, struct wl *w, const struct kf_workload *wk)
{
    const struct ev_request *req = E->req;
    const struct ev_config *cfg = &req->cfg;
    json_t *corr = NULL, *perf = NULL, *kfx, *trace, *ph;
    struct kf_err err = {0};
    phase(w, PH_TRACE);
    if (w->have_cmp) {
        json_t *cx = json_object();
        json_object_set_new(cx, "evaluator", json_string(ev_evaluator_name(E->rules->evaluator)));
        json_object_set_new(cx, "atol", json_real(cfg->atol));
        json_object_set_new(cx, "rtol", json_real(cfg->rtol));
        json_object_set_new(cx, "required_matched_ratio", json_real(cfg->required_matched_ratio));
        if (w->outputs_extra)
            json_object_set(cx, "outputs", w->outputs_extra);
        corr = ev_correctness_json(&w->cmp, cx);
    }
    if (w->st == KF_ST_PASSED)
        perf = perf_json(E, w, wk);
    if (w->st == KF_ST_PASSED && w->unranked[0])
        wlog(w, "[kernelfarm] not ranked: %s", w->unranked);
    kfx = json_object();
    json_object_set_new(kfx, "lane", json_string(E->lane ? E->lane->name : "none"));
    json_object_set_new(kfx, "arch", json_string(E->dev.arch));
    json_object_set_new(kfx, "device_name", json_string(E->dev.name));
    json_object_set_new(kfx, "trial_seeds", json_incref(w->seeds));
    json_object_set_new(kfx, "config", ev_config_to_json(cfg));
    if (E->runner_info)
        json_object_set(kfx, "runner", E->runner_info);
    if (w->pyref_note[0] && w->st == KF_ST_PASSED)
        wlog(w, "[kernelfarm] note: %s; the speedup is against the native reference", w->pyref_note);
    if (E->broken)   /* this workload's error ended the judge's context */
        json_object_set_new(kfx, "judge_context_lost", json_true());
    if (w->st == KF_ST_PASSED && w->unranked[0])
        json_object_set_new(kfx, "unranked", json_string(w->unranked));
    if (w->have_floor)
        json_object_set_new(kfx, "floor", ev_floor_to_json(&w->floor));
    else if (w->floor_note[0])
        json_object_set_new(kfx, "floor", json_pack("{s:s}", "none", w->floor_note));
    phase(w, PH_TRACE);   /* the trace's own time so far */
    ph = json_object();
    for (int i = 0; i < PH_N; i++)
        json_object_set_new(ph, ph_names[i], json_real(round(w->ph[i] * 1000) / 1000));
    json_object_set_new(kfx, "wall_ms", ph);
    json_object_set_new(kfx, "build_ms", json_real(round(E->build_ms * 1000) / 1000));
    trace = ev_trace_new(req->def, wk, req->sol->name, w->st, w->log, corr, perf,
                         ev_environment_json(E->dev.hardware, E->dev.driver_version), kfx);
    if (kf_trace_validate(trace, &err))
        log_error("engine", "built an invalid trace path=%s msg=%s", err.path, err.msg);
    return trace;
}

static void wl_free(struct eng *E, struct wl *w)
{
    trial_free(E, w);
    ev_arena_destroy(&w->arena, E->broken);
    kf_binding_free(w->b);
    ev_topk_scores_free(w->tks);
    json_decref(w->outputs_extra);
    json_decref(w->seeds);
    free(w->medians);
    free(w->ref_medians);
    free(w->samples);
    free(w->walls);
    free(w);
}

static json_t *eval_workload(struct eng *E, const struct kf_workload *wk)
{
    const struct ev_config *cfg = &E->req->cfg;
    struct wl *w = xcalloc(1, sizeof *w);
    json_t *trace;

    w->wk = wk;
    w->st = KF_ST_PASSED;
    w->seeds = json_array();
    w->medians = xcalloc((size_t)cfg->trials + 1, sizeof *w->medians);
    w->ref_medians = xcalloc((size_t)cfg->trials + 1, sizeof *w->ref_medians);
    w->walls = xcalloc((size_t)cfg->trials + 1, sizeof *w->walls);
    w->samples = xcalloc((size_t)cfg->trials * (size_t)cfg->iterations + 1, sizeof *w->samples);

    if (!E->compiled) {
        w->st = KF_ST_COMPILE_ERROR;
        wlog(w, "%s", E->compile_log ? E->compile_log : "compilation failed");
    } else if ((phase(w, PH_BIND), step_bind(E, w, wk)) == 0) {
        if (!cfg->check_only &&
            ev_ref_latency_get(E->ref, E->req->cache_dir, E->req->def, wk, E->dev.hardware, cfg,
                               &w->ref_latency) == 0)
            w->ref_cached_lat = 1;
        if (E->pyref) {
            struct kf_err err = {0};
            phase(w, PH_REFERENCE);   /* its runner starts on first use */
            int rc = ev_pyref_cached(E->pyref, wk, &w->pyref_ms, &err);
            if (rc == 0)
                w->have_pyref = w->pyref_cached = 1;
            else if (rc != KF_ENOENT)
                snprintf(w->pyref_note, sizeof w->pyref_note,
                         "the PyTorch reference was not timed: %.240s", err.msg);
        }
        if (step_arena(E, w) == 0)
            for (int t = 0; t < cfg->trials && step_trial(E, w, wk, t) == 0; t++)
                ;
    }
    trace = step_trace(E, w, wk);
    wl_free(E, w);
    return trace;
}

/* ---- the evaluation ---------------------------------------------------------- */

/* Build the solution with its lane (judge side: nothing of it runs here). */
static void build_solution(struct eng *E)
{
    const struct ev_request *req = E->req;
    struct kf_err e2 = {0};
    const char *why = NULL;
    char *log = NULL;
    double t0;
    int rc;
    E->compiled = 0;
    if (!(E->lane = ev_lane_for(req->sol, &why))) {
        E->compile_log = xasprintf("%s; got language \"%s\", binding \"%s\"", why,
                                   req->sol->spec.language ? req->sol->spec.language : "",
                                   req->sol->spec.binding ? req->sol->spec.binding : "");
        return;
    }
    if (kf_solution_check(req->sol, req->def, &e2)) {
        E->compile_log = xasprintf("solution does not fit the definition: %s: %s", e2.path, e2.msg);
        return;
    }
    t0 = now_ms();
    rc = E->lane->build(req->sol, req->def, E->dev.arch, req->cache_dir, &E->arts, &E->narts, &log,
                        &e2);
    E->build_ms = now_ms() - t0;
    if (rc)
        E->compile_log = xasprintf("%s compilation for %s failed (%s)\n%s", E->lane->name,
                                   E->dev.arch, e2.msg, log ? log : "");
    else
        E->compiled = 1;
    free(log);
}

static void device_down(struct eng *E, int lost)
{
    ev_timer_close(E->timer);
    E->timer = NULL;
    if (E->ref)
        ev_prog_unload(&E->ref->prog, lost);
    if (E->dev_open && !lost)
        ev_dev_close(&E->dev);
    E->dev_open = 0;
}

static json_t *not_evaluated_trace(struct eng *E, const struct kf_workload *wk)
{
    return ev_trace_new(E->req->def, wk, E->req->sol->name, KF_ST_RUNTIME_ERROR,
                        "[kernelfarm] not evaluated: an earlier workload's error ended the judge's "
                        "CUDA context; evaluate it in a fresh process\n",
                        NULL, NULL, ev_environment_json(E->dev.hardware, E->dev.driver_version),
                        json_pack("{s:b}", "not_evaluated", 1));
}

int ev_evaluate(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                json_t **traces_out, struct kf_err *err)
{
    struct eng *E = xcalloc(1, sizeof *E);
    json_t *traces = json_array();
    int rc = 0;

    *traces_out = NULL;
    E->req = req;
    E->rl.cmd_fd = E->rl.reply_fd = -1;
    E->rules = ev_def_rules_for(req->def);
    E->def_nc = *req->def;
    E->def_nc.nconstraints = 0;
    E->def_nc.constraints = NULL;
    E->def_nc.constraint_exprs = NULL;
    if (req->cfg.trials < 1 || req->cfg.iterations < 1 || req->cfg.warmup < 0) {
        rc = kf_err_set(err, KF_EINVAL, "config", "trials and iterations must be >= 1");
        goto out;
    }
    /* Device facts (arch) first: the build targets this GPU. */
    if ((rc = ev_dev_open(&E->dev, req->device, req->cache_dir, err)))
        goto out;
    E->dev_open = 1;
    if ((rc = ev_ref_open(req->kernels_dir, req->def, E->dev.arch, req->cache_dir, &E->ref, err)))
        goto out;
    build_solution(E);
    if (req->cfg.pytorch_reference && !req->cfg.check_only)
        E->pyref = ev_pyref_new(req, E->dev.hardware);
    log_info("engine", "evaluating solution=%s definition=%s workloads=%d lane=%s compiled=%d arch=%s",
             req->sol->name, req->def->name, req->nworkloads, E->lane ? E->lane->name : "none",
             E->compiled, E->dev.arch);
    if ((rc = ev_prog_load(&E->ref->prog, err)))
        goto out;
    if ((rc = ev_timer_open(&E->dev, getenv("KF_TIMER") && !strcmp(getenv("KF_TIMER"), "events"),
                            &E->timer, err)))
        goto out;

    for (int i = 0; i < req->nworkloads; i++) {
        json_t *t = E->broken ? not_evaluated_trace(E, req->workloads[i])
                              : eval_workload(E, req->workloads[i]);
        json_array_append_new(traces, t);
        if (progress)
            progress(ctx, i + 1, req->nworkloads, t);
    }
out:
    runner_down(E, 0);
    ev_pyref_free(E->pyref);
    json_decref(E->runner_info);
    ev_inputs_cache_clear();
    device_down(E, E->broken);
    ev_ref_close(E->ref, 1);
    ev_lane_artifacts_free(E->arts, E->narts);
    free(E->compile_log);
    free(E);
    if (rc)
        json_decref(traces);
    else
        *traces_out = traces;
    return rc;
}
