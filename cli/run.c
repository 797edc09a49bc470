/* run.c: `kf run`: evaluate a solution on this machine's GPU with the same
 * engine as kf-worker (worker/engine.h), no server or Redis: a progress line
 * per workload on stderr, then a table (workload, status, latency, reference
 * latency, speedup, max abs/rel error) on stdout, traces as JSONL to --out.
 * Exit status 0 only if every workload PASSED (1 otherwise, 2 on usage or
 * engine errors). The engine runs under kf-worker's supervisor
 * (worker/supervisor.h): in forked evaluator children (CUDA never starts in
 * this process) with a per-workload deadline (TIMEOUT) and a fresh child for
 * the workloads left after a timeout, a crash or a sticky CUDA error.
 * KF_RUN_INPROCESS=1 runs the engine in-process. Single-threaded.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "dataset.h"
#include "engine.h"
#include "evconfig.h"
#include "jsonio.h"
#include "kf_err.h"
#include "log.h"
#include "model.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "pack.h"
#pragma GCC diagnostic pop
#include "evdev.h"
#include "supervisor.h"
#include "timing.h"
#include "trace_build.h"
#include "xalloc.h"

#ifndef KF_SOURCE_DIR
#define KF_SOURCE_DIR "."
#endif

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: kf run [options] SOLUTION.json|KERNEL_DIR\n\n"
            "Evaluate a solution on this machine's GPU with the kf-worker engine (nvrtc lane):\n"
            "reference outputs, correctness, CUPTI timing, FlashInfer-Trace traces.\n\n"
            "options:\n"
            "  --dataset DIR        dataset root (default: $FIB_DATASET_PATH)\n"
            "  --workloads U1,U2    only these workload uuids (default: all of the definition)\n"
            "  --out FILE           write traces as JSONL to FILE\n"
            "  --config FILE        eval config (default: deploy/eval-contest.json of the source tree)\n"
            "  --no-config          flashinfer-bench defaults only\n"
            "  --device N           CUDA device ordinal (default 0)\n"
            "  --seed N             input seed (default 1)\n"
            "  --kernels DIR        kernels/ root with reference/<definition>/ (default: the source tree's)\n"
            "  --cache DIR          compile and reference cache (default: ~/.cache/kernelfarm)\n"
            "  --tvm-ffi-root DIR   apache-tvm-ffi root for the tvm-ffi lane (default:\n"
            "                       $KF_TVM_FFI_ROOT, else var/tvm-ffi-root written by make deps)\n"
            "  --warmup N, --iterations N, --trials N, --atol X, --rtol X, --matched-ratio X\n"
            "                       override the eval config (request layer)\n"
            "  --timeout S          per-workload deadline in seconds (eval config workload_timeout_s;\n"
            "                       the first workload of each evaluator gets 120 s more,\n"
            "                       KF_RUN_SETUP_GRACE_S): TIMEOUT, then a new evaluator goes on\n"
            "  --check-only         correctness only, no timing\n"
            "  --dump DIR           write each workload's inputs and reference outputs (trial 0) to\n"
            "                       DIR/<uuid>.safetensors (\"input.<name>\", \"reference.<name>\")\n"
            "  --quiet              no progress lines\n"
            "  --json               one JSON object on stdout: {solution, definition, passed, total,\n"
            "                       mean_speedup, traces} instead of the table\n");
}

struct prog_ctx { int quiet; int total; };

static const char *status_of(const json_t *t)
{
    return json_string_value(json_object_get(json_object_get(t, "evaluation"), "status"));
}

static double num_at(const json_t *t, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(json_object_get(t, "evaluation"), obj), key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static void on_progress(void *ctx, int done, int total, const json_t *trace)
{
    struct prog_ctx *p = ctx;
    const char *uuid = json_string_value(json_object_get(json_object_get(trace, "workload"), "uuid"));
    double lat = num_at(trace, "performance", "latency_ms");
    if (p->quiet)
        return;
    if (lat >= 0)
        fprintf(stderr, "[%d/%d] %s %s %.4f ms\n", done, total, uuid ? uuid : "?", status_of(trace),
                lat);
    else
        fprintf(stderr, "[%d/%d] %s %s\n", done, total, uuid ? uuid : "?", status_of(trace));
}

static char *default_cache(void)
{
    const char *c = getenv("KF_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    char *base;
    if (c && *c)
        return xstrdup(c);
    base = x && *x ? xasprintf("%s", x) : xasprintf("%s/.cache", h && *h ? h : "/tmp");
    mkdir(base, 0755);
    c = base;
    {
        char *r = xasprintf("%s/kernelfarm", c);
        free(base);
        mkdir(r, 0755);
        return r;
    }
}

static const char *default_kernels(void)
{
    static char buf[4096];
    struct stat st;
    const char *e = getenv("KF_KERNELS_DIR");
    if (e && *e)
        return e;
    if (stat("kernels/reference", &st) == 0)
        return "kernels";
    snprintf(buf, sizeof buf, "%s/kernels", KF_SOURCE_DIR);
    return buf;
}

static const char *default_config(void)
{
    static char buf[4096];
    if (access("deploy/eval-contest.json", R_OK) == 0)
        return "deploy/eval-contest.json";
    snprintf(buf, sizeof buf, "%s/deploy/eval-contest.json", KF_SOURCE_DIR);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static int load_solution(const char *path, struct kf_solution **sol, struct kf_err *err)
{
    struct stat st;
    json_t *j = NULL;
    int rc;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = kf_pack_dir(path, &j, err);
    else
        rc = (j = kf_json_load_file(path, 64 << 20, err)) ? 0 : KF_EINVAL;
    if (!rc)
        rc = kf_solution_from_json(j, sol, err);
    json_decref(j);
    return rc;
}

/* The solution's definition alone, leniently: workloads that fail the
 * loader's checks (e.g. the contest's DSA indexer workloads with fewer pages
 * than topk / page_size) are kept with a warning; the engine reports
 * constraint violations in the trace log. Used when the whole dataset does
 * not load. */
static int load_one_definition(const char *root, const char *name, struct kf_dataset **out,
                               struct kf_err *err)
{
    char *base = NULL, *defp = NULL, *wlp = NULL, *cmd;
    struct kf_dataset *ds;
    struct kf_dataset_def *e;
    json_t *j;
    FILE *f;
    char line[1 << 16];
    int rc = 0, ln = 0, nwarn = 0;
    const char *r = root ? root : getenv("FIB_DATASET_PATH");
    if (!r)
        return kf_err_set(err, KF_ENOENT, "dataset", "no dataset (--dataset or FIB_DATASET_PATH)");
    base = realpath(r, NULL);
    if (!base)
        return kf_err_set(err, KF_ENOENT, r, "no such dataset directory");
    /* definitions/<op_type>/<name>.json and workloads/<op_type>/<name>.jsonl */
    cmd = xasprintf("ls -d '%s'/definitions/*/'%s'.json '%s'/definitions/'%s'.json 2>/dev/null", base,
                    name, base, name);
    if ((f = popen(cmd, "r"))) {
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            defp = xstrdup(line);
        }
        pclose(f);
    }
    free(cmd);
    cmd = xasprintf("ls -d '%s'/workloads/*/'%s'.jsonl '%s'/workloads/'%s'.jsonl 2>/dev/null", base,
                    name, base, name);
    if ((f = popen(cmd, "r"))) {
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            wlp = xstrdup(line);
        }
        pclose(f);
    }
    free(cmd);
    if (!defp) {
        free(base);
        free(wlp);
        return kf_err_set(err, KF_ENOENT, name, "definition %s not found under %s", name, r);
    }
    ds = xcalloc(1, sizeof *ds);
    ds->root = base;
    ds->defs = xcalloc(1, sizeof *ds->defs);
    ds->ndefs = 1;
    e = &ds->defs[0];
    e->path = defp;
    e->workloads_path = wlp;
    if (!(j = kf_json_load_file(defp, 0, err)) || (rc = kf_definition_from_json(j, &e->def, err))) {
        json_decref(j);
        kf_dataset_free(ds);
        return rc ? rc : KF_EINVAL;
    }
    json_decref(j);
    if (wlp && (f = fopen(wlp, "r"))) {
        while (fgets(line, sizeof line, f)) {
            struct kf_workload *w = NULL;
            struct kf_err e2 = {0};
            ln++;
            if (line[strspn(line, " \t\r\n")] == 0)
                continue;
            if (!(j = kf_json_loadb(line, strlen(line), &e2)) ||
                kf_workload_from_json(j, &w, NULL, &e2)) {
                fprintf(stderr, "kf run: warning: %s:%d skipped: %s\n", wlp, ln, e2.msg);
                json_decref(j);
                continue;
            }
            json_decref(j);
            if (kf_workload_check(w, e->def, &e2) && ++nwarn <= 3)
                fprintf(stderr, "kf run: warning: %s:%d: %s: %s (kept)\n", wlp, ln, e2.path, e2.msg);
            e->workloads = xrealloc(e->workloads, sizeof *e->workloads * (size_t)(e->nworkloads + 1));
            e->workloads[e->nworkloads++] = w;
        }
        fclose(f);
        if (nwarn > 3)
            fprintf(stderr, "kf run: warning: %d more workloads fail the checks (kept)\n", nwarn - 3);
    }
    *out = ds;
    return 0;
}

/* ---- supervised evaluation ---------------------------------------------- */

/* Extra time for the first workload of each evaluator (compilation, device setup). */
static double setup_grace_s(void)
{
    const char *e = getenv("KF_RUN_SETUP_GRACE_S");
    return e && *e ? atof(e) : 120;
}

/* environment for traces the supervisor writes before any evaluator has
 * reported one: the GPU's name from NVML (no CUDA in this process). */
static json_t *nvml_environment(int device)
{
    char name[256], hw[128];
    if (ev_nvml_device_name(device, name, sizeof name) != 0)
        return ev_environment_json("unknown", 0);
    ev_hardware_name(name, hw, sizeof hw);
    return ev_environment_json(hw, 0);
}

static void on_trace(void *ctx, int index, const json_t *trace)
{
    struct prog_ctx *p = ctx;
    on_progress(p, index + 1, p->total, trace);
}

/* Evaluate every workload under the same supervisor as kf-worker
 * (worker/supervisor.h): fresh evaluator children, a deadline per workload
 * (TIMEOUT), a fresh child after a crash or a sticky CUDA error. */
static int eval_supervised(const struct ev_request *req, struct prog_ctx *pc, json_t **traces_out,
                           struct kf_err *err)
{
    struct wk_super s = {0};
    struct wk_hooks h = {0};
    int rc;
    s.eval = ev_evaluate;
    s.environment = nvml_environment(req->device);
    s.lim.workload_s = req->cfg.workload_timeout_s;
    s.lim.startup_s = setup_grace_s();
    /* every workload may need a fresh evaluator, each with its start-up allowance */
    s.lim.total_s = req->nworkloads * (s.lim.workload_s + s.lim.startup_s) + 60;
    s.lim.log_tail = 16384;
    h.on_trace = on_trace;
    h.ctx = pc;
    pc->total = req->nworkloads;
    rc = wk_run_task(&s, "kf-run", req, &h, traces_out, err);
    json_decref(s.environment);
    return rc;
}

static int in_list(const char *list, const char *uuid)
{
    size_t n = strlen(uuid);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && !strncmp(p, uuid, n))
            return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

int kf_cmd_run(int argc, char **argv)
{
    const char *dataset = NULL, *wl = NULL, *outp = NULL, *config = NULL, *kernels = NULL,
               *solpath = NULL, *dump = NULL;
    char *cache = NULL;
    int device = 0, no_config = 0, rc = 2, npass = 0, js = 0;
    unsigned long long seed = 1;
    struct prog_ctx pc = {0};
    json_t *reqcfg = json_object(), *cfgfile = NULL, *traces = NULL;
    struct kf_err err = {0};
    struct kf_dataset *ds = NULL;
    struct kf_solution *sol = NULL;
    const struct kf_dataset_def *dd;
    const struct kf_workload **wls = NULL;
    struct ev_request req;
    int nw = 0;

    if (kf_cli_wants_help(argc, argv)) {
        run_usage(stdout);
        json_decref(reqcfg);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
        if (OPT("--dataset")) dataset = v;
        else if (OPT("--workloads")) wl = v;
        else if (OPT("--out") || OPT("-o")) outp = v;
        else if (OPT("--config")) config = v;
        else if (!strcmp(a, "--no-config")) no_config = 1;
        else if (OPT("--device")) device = atoi(v);
        else if (OPT("--seed")) seed = strtoull(v, NULL, 0);
        else if (OPT("--kernels")) kernels = v;
        else if (OPT("--cache")) cache = xstrdup(v);
        else if (OPT("--tvm-ffi-root")) setenv("KF_TVM_FFI_ROOT", v, 1);
        else if (OPT("--warmup")) json_object_set_new(reqcfg, "warmup", json_integer(atoi(v)));
        else if (OPT("--iterations")) json_object_set_new(reqcfg, "iterations", json_integer(atoi(v)));
        else if (OPT("--trials")) json_object_set_new(reqcfg, "trials", json_integer(atoi(v)));
        else if (OPT("--atol")) json_object_set_new(reqcfg, "atol", json_real(atof(v)));
        else if (OPT("--rtol")) json_object_set_new(reqcfg, "rtol", json_real(atof(v)));
        else if (OPT("--dump")) dump = v;
        else if (OPT("--timeout"))
            json_object_set_new(reqcfg, "workload_timeout_s", json_real(atof(v)));
        else if (OPT("--matched-ratio"))
            json_object_set_new(reqcfg, "required_matched_ratio", json_real(atof(v)));
        else if (!strcmp(a, "--check-only")) json_object_set_new(reqcfg, "check_only", json_true());
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) pc.quiet = 1;
        else if (!strcmp(a, "--json")) js = 1;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kf run: unknown option or missing value '%s'\n", a);
            run_usage(stderr);
            goto out;
        } else if (!solpath) solpath = a;
        else {
            fprintf(stderr, "kf run: one solution only\n");
            goto out;
        }
#undef OPT
    }
    if (!solpath) {
        run_usage(stderr);
        goto out;
    }
    if (load_solution(solpath, &sol, &err)) {
        fprintf(stderr, "kf run: %s: %s: %s\n", solpath, err.path[0] ? err.path : "$", err.msg);
        goto out;
    }
    if (kf_dataset_load(dataset, &ds, &err)) {
        struct kf_err e2 = {0};
        fprintf(stderr, "kf run: warning: dataset %s does not load as a whole (%s: %s); loading %s "
                        "alone\n", dataset ? dataset : "$FIB_DATASET_PATH", err.path, err.msg,
                sol->definition);
        if (load_one_definition(dataset, sol->definition, &ds, &e2)) {
            fprintf(stderr, "kf run: dataset: %s: %s\n", e2.path, e2.msg);
            goto out;
        }
    }
    if (!(dd = kf_dataset_find(ds, sol->definition))) {
        fprintf(stderr, "kf run: definition '%s' is not in the dataset %s\n", sol->definition, ds->root);
        goto out;
    }
    wls = xcalloc((size_t)dd->nworkloads + 1, sizeof *wls);
    for (int i = 0; i < dd->nworkloads; i++)
        if (!wl || in_list(wl, dd->workloads[i]->uuid))
            wls[nw++] = dd->workloads[i];
    if (nw == 0) {
        fprintf(stderr, "kf run: no workloads to run for %s\n", dd->def->name);
        goto out;
    }
    if (!no_config && !config)
        config = default_config();
    if (!no_config && config && !(cfgfile = kf_json_load_file(config, 1 << 20, &err))) {
        fprintf(stderr, "kf run: config %s: %s\n", config, err.msg);
        goto out;
    }
    memset(&req, 0, sizeof req);
    if (ev_config_resolve(cfgfile, dd->def, reqcfg, &req.cfg, &err)) {
        fprintf(stderr, "kf run: config %s: %s: %s\n", config ? config : "(flags)", err.path, err.msg);
        goto out;
    }
    if (!cache)
        cache = default_cache();
    req.ds = ds;
    req.def = dd->def;
    req.sol = sol;
    req.workloads = wls;
    req.nworkloads = nw;
    req.seed = seed;
    req.cache_dir = cache;
    req.kernels_dir = kernels ? kernels : default_kernels();
    req.device = device;
    if (dump) {
        mkdir(dump, 0755);
        req.dump_dir = dump;
    }
    if (!pc.quiet)
        fprintf(stderr, "kf run: %s on %s, %d workload(s), warmup %d, iterations %d, trials %d%s\n",
                sol->name, dd->def->name, nw, req.cfg.warmup, req.cfg.iterations, req.cfg.trials,
                req.cfg.check_only ? ", check only" : "");
    if ((getenv("KF_RUN_INPROCESS") ? ev_evaluate(&req, on_progress, &pc, &traces, &err)
                                     : eval_supervised(&req, &pc, &traces, &err))) {
        fprintf(stderr, "kf run: evaluation failed: %s%s%s\n", err.path, err.path[0] ? ": " : "",
                err.msg);
        goto out;
    }
    if (outp) {
        FILE *f = fopen(outp, "w");
        if (!f) {
            fprintf(stderr, "kf run: cannot write %s\n", outp);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(traces); i++) {
            char *s = json_dumps(json_array_get(traces, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
            fprintf(f, "%s\n", s);
            free(s);
        }
        if (fclose(f) != 0) {
            fprintf(stderr, "kf run: cannot write %s\n", outp);
            goto out;
        }
    }
    if (js) {
        /* one JSON object on stdout: the summary and every trace */
        double sum = 0;
        int n = 0;
        for (size_t i = 0; i < json_array_size(traces); i++) {
            json_t *t = json_array_get(traces, i);
            double sp = num_at(t, "performance", "speedup_factor");
            if (sp > 0) {
                sum += sp;
                n++;
            }
            if (status_of(t) && !strcmp(status_of(t), "PASSED"))
                npass++;
        }
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:o, s:O}", "solution", sol->name,
                              "definition", sol->definition, "passed", npass, "total",
                              (int)json_array_size(traces), "mean_speedup",
                              n ? json_real(sum / n) : json_null(), "traces", traces);
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(txt);
        free(txt);
        json_decref(o);
        rc = npass == (int)json_array_size(traces) ? 0 : 1;
        goto out;
    }
    printf("%-36s  %-19s  %12s  %12s  %8s  %10s  %10s\n", "workload", "status", "latency_ms",
           "ref_ms", "speedup", "max_abs", "max_rel");
    for (size_t i = 0; i < json_array_size(traces); i++) {
        json_t *t = json_array_get(traces, i);
        const char *st = status_of(t);
        const char *uuid = json_string_value(json_object_get(json_object_get(t, "workload"), "uuid"));
        double lat = num_at(t, "performance", "latency_ms"), ref = num_at(t, "performance",
                                                                          "reference_latency_ms");
        double sp = num_at(t, "performance", "speedup_factor");
        double ma = num_at(t, "correctness", "max_absolute_error"),
               mr = num_at(t, "correctness", "max_relative_error");
        char l[32] = "-", r[32] = "-", s[32] = "-", a[32] = "-", m[32] = "-";
        if (lat >= 0) snprintf(l, sizeof l, "%.4f", lat);
        if (ref > 0) snprintf(r, sizeof r, "%.4f", ref);
        if (sp > 0) snprintf(s, sizeof s, "%.2fx", sp);
        if (ma >= 0) snprintf(a, sizeof a, "%.3g", ma);
        if (mr >= 0) snprintf(m, sizeof m, "%.3g", mr);
        printf("%-36s  %-19s  %12s  %12s  %8s  %10s  %10s\n", uuid ? uuid : "?", st ? st : "?", l, r,
               s, a, m);
        if (st && !strcmp(st, "PASSED"))
            npass++;
    }
    for (size_t i = 0; i < json_array_size(traces); i++) {
        json_t *t = json_array_get(traces, i);
        const char *st = status_of(t), *log;
        if (st && strcmp(st, "PASSED")) {
            log = json_string_value(json_object_get(json_object_get(t, "evaluation"), "log"));
            if (log && *log) {
                fprintf(stderr, "--- %s %s:\n%s", json_string_value(json_object_get(
                                                      json_object_get(t, "workload"), "uuid")),
                        st, log);
                break;   /* the first failure's log; all logs are in the traces */
            }
        }
    }
    {
        double sum = 0;
        int n = 0;
        for (size_t i = 0; i < json_array_size(traces); i++) {
            double sp = num_at(json_array_get(traces, i), "performance", "speedup_factor");
            if (sp > 0) {
                sum += sp;
                n++;
            }
        }
        if (n)
            printf("%d/%d workloads passed; mean speedup %.3fx over %d timed workload(s)\n", npass,
                   (int)json_array_size(traces), sum / n, n);
        else
            printf("%d/%d workloads passed\n", npass, (int)json_array_size(traces));
    }
    rc = npass == (int)json_array_size(traces) ? 0 : 1;
out:
    json_decref(traces);
    json_decref(reqcfg);
    json_decref(cfgfile);
    free(wls);
    free(cache);
    kf_solution_free(sol);
    kf_dataset_free(ds);
    return rc;
}
