/* main.c: kf-worker, the GPU worker: one supervisor process per GPU. It
 * reads its settings from one table (lib/config.h), loads the dataset,
 * probes its GPU in a short-lived child, and runs the queue loop
 * (worker.h), evaluating every task in fresh evaluator children
 * (supervisor.h) that call the evaluation engine (engine.h). It serves the
 * lanes its host has (hostlanes.h), or those of its `lanes` setting, and says
 * which in its heartbeat. The supervisor
 * itself never initialises CUDA. SIGTERM/SIGINT: the task in progress is
 * abandoned (its evaluator killed) and released, so it stays pending and
 * is reclaimed. Single-threaded.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dataset.h"
#include "engine.h"
#include "evconfig.h"
#include "hostlanes.h"
#include "jsonio.h"
#include "lanes.h"
#include "log.h"
#include "probe.h"
#include "selftest.h"
#include "supervisor.h"
#include "worker.h"
#include "xalloc.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_flag < 100)
        stop_flag++;
}

/* Settings. */
static int64_t c_device, c_lease_ms, c_log_tail, c_max_tasks;
static char *c_redis, *c_redis_password, *c_dataset, *c_cache, *c_kernels, *c_secret,
    *c_worker_id, *c_log_level, *c_config, *c_eval_config, *c_tvm_ffi_root, *c_lanes;
static double c_wl_timeout, c_startup, c_task_timeout, c_heartbeat, c_probe_timeout,
    c_stop_grace;
static bool c_require_gpu, c_self_test, c_startup_self_test;

static struct kf_cfg_opt opts[] = {
    {"config", "KF_WORKER_CONFIG", KF_CFG_STR, NULL, 1, 0,
     "settings file (lines 'name = value')", &c_config, NULL},
    {"device", "KF_DEVICE", KF_CFG_INT, "0", 0, 63, "CUDA device ordinal this worker serves",
     &c_device, NULL},
    {"redis-url", "KF_REDIS_URL", KF_CFG_STR, "redis://127.0.0.1:6379", 1, 0,
     "Redis URL: redis://[[user]:password@]host[:port][/db] or unix:///path", &c_redis, NULL},
    {"redis-password", "KF_REDIS_PASSWORD", KF_CFG_STR, NULL, 1, 0,
     "Redis password (else from the URL)", &c_redis_password, NULL},
    {"dataset", "FIB_DATASET_PATH", KF_CFG_STR, "var/dataset", 1, 0,
     "FlashInfer-Trace dataset directory (definitions, workloads, blobs)", &c_dataset, NULL},
    {"cache", "KF_CACHE_DIR", KF_CFG_STR, "var/cache", 1, 0,
     "compile and reference cache directory (created if missing)", &c_cache, NULL},
    {"kernels", "KF_KERNELS_DIR", KF_CFG_STR, "kernels", 1, 0,
     "reference kernels root (kernels/reference/<definition>/)", &c_kernels, NULL},
    {"seed-secret", "KF_SEED_SECRET", KF_CFG_STR, NULL, 1, 0,
     "server secret for input seeds (shared by all workers; random if empty)", &c_secret,
     NULL},
    {"worker-id", "KF_WORKER_ID", KF_CFG_STR, NULL, 1, 0,
     "queue consumer name; keep it across restarts to reclaim own tasks [default: "
     "<host>-gpu<device>]",
     &c_worker_id, NULL},
    {"eval-config", "KF_EVAL_CONFIG", KF_CFG_STR, NULL, 1, 0,
     "eval config file (JSON layers default/op_type/definition; e.g. "
     "deploy/eval-contest.json) [default: flashinfer-bench defaults]",
     &c_eval_config, NULL},
    {"tvm-ffi-root", "KF_TVM_FFI_ROOT", KF_CFG_STR, NULL, 1, 0,
     "apache-tvm-ffi package root (include/tvm/ffi, lib/libtvm_ffi.so) for the tvm-ffi lane "
     "[default: the path `make deps` wrote to var/tvm-ffi-root]",
     &c_tvm_ffi_root, NULL},
    {"lanes", "KF_LANES", KF_CFG_STR, NULL, 1, 0,
     "lanes to serve, comma-separated, of nvrtc, tvm-ffi, python; each must be one the host "
     "has [default: every lane the host has: nvrtc; tvm-ffi with nvcc and the tvm-ffi root; "
     "python when KF_PYTHON (python3) imports torch and triton]",
     &c_lanes, NULL},
    {"workload-timeout", "KF_WORKLOAD_TIMEOUT", KF_CFG_DOUBLE, "300", 0.1, 86400,
     "upper bound of the per-workload deadline in seconds (the eval config may set less)",
     &c_wl_timeout, NULL},
    {"startup-timeout", "KF_STARTUP_TIMEOUT", KF_CFG_DOUBLE, "120", 0, 86400,
     "extra seconds for each evaluator's first workload (CUDA init, compile, reference)",
     &c_startup, NULL},
    {"task-timeout", "KF_TASK_TIMEOUT", KF_CFG_DOUBLE, "3600", 1, 604800,
     "deadline for a whole task in seconds", &c_task_timeout, NULL},
    {"heartbeat", "KF_HEARTBEAT", KF_CFG_DOUBLE, "5", 0.1, 600,
     "heartbeat period in seconds (TTL 3x, at least 10 s)", &c_heartbeat, NULL},
    {"lease-ms", "KF_LEASE_MS", KF_CFG_INT, "300000", 1000, 86400000,
     "queue lease: tasks idle this long are taken over from dead workers", &c_lease_ms, NULL},
    {"log-tail", "KF_LOG_TAIL", KF_CFG_INT, "8192", 256, 1048576,
     "bytes of an evaluator's output kept in RUNTIME_ERROR/TIMEOUT traces", &c_log_tail, NULL},
    {"probe-timeout", "KF_PROBE_TIMEOUT", KF_CFG_DOUBLE, "60", 1, 3600,
     "seconds allowed for the start-up GPU probe, and for the python lane's import check",
     &c_probe_timeout, NULL},
    {"require-gpu", "KF_REQUIRE_GPU", KF_CFG_BOOL, "true", 1, 0,
     "exit when the GPU probe fails (--no-require-gpu: serve anyway)", &c_require_gpu, NULL},
    {"self-test", "KF_SELF_TEST", KF_CFG_BOOL, "false", 1, 0,
     "run the self-test (every reference kernel compiled for this GPU and evaluated on one "
     "small workload per definition), print the result and exit 0 (passed) or 1",
     &c_self_test, NULL},
    {"startup-self-test", "KF_STARTUP_SELF_TEST", KF_CFG_BOOL, "true", 1, 0,
     "run the self-test at start; a worker that fails it takes no tasks and says why in its "
     "heartbeat (GET /health)", &c_startup_self_test, NULL},
    {"stop-grace", "KF_STOP_GRACE", KF_CFG_DOUBLE, "0", 0, 86400,
     "on SIGTERM, seconds the task in progress may still finish (then, or on a second "
     "signal, it is released and stays pending)", &c_stop_grace, NULL},
    {"max-tasks", "KF_MAX_TASKS", KF_CFG_INT, "0", 0, 1e9,
     "exit after this many tasks (0: run until SIGTERM)", &c_max_tasks, NULL},
    {"log-level", "KF_LOG_LEVEL", KF_CFG_STR, "info", 1, 0, "debug, info, warn or error",
     &c_log_level, NULL},
};

static struct kf_config cfg = {
    "kf-worker",
    "GPU worker: takes evaluation tasks from Redis and runs each in a fresh evaluator "
    "process on one GPU.",
    opts, (int)(sizeof opts / sizeof opts[0])};

/* The start-up self-test, run by the worker loop once connected. */
struct st_ctx { struct wk_super *sup; const struct kf_dataset *ds; const json_t *evcfg; };

static int startup_self_test(void *ctx, const struct wk_hooks *hooks, char *why, size_t n)
{
    struct st_ctx *c = ctx;
    struct wk_selftest st;
    int rc = wk_self_test(c->sup, c->ds, c_kernels, c_cache, (int)c_device, c->evcfg, hooks, &st);
    log_info("worker", "self-test: %d of %d definitions passed%s%s", st.passed, st.ndefs,
             st.why[0] ? ": " : "", st.why);
    snprintf(why, n, "%s", st.why);
    return rc;
}

static const char *opts_kernels_source(void)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(opts[i].name, "kernels") == 0)
            return opts[i].source ? opts[i].source : "default";
    return "default";
}

static int reprobe(int device, struct kf_err *err)
{
    json_t *env = NULL;
    int rc = wk_probe_gpu(device, c_probe_timeout, &env, NULL, err);
    json_decref(env);
    return rc;
}

/* mkdir -p; 0 or -1. */
static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc == 0 && access(path, W_OK) == 0 ? 0 : -1;
}

static bool has_references(const char *kernels)
{
    char *p = xasprintf("%s/reference", kernels);
    bool ok = access(p, R_OK | X_OK) == 0;
    free(p);
    return ok;
}

static int random_secret(char out[65])
{
    unsigned char b[32];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    return 0;
}

int main(int argc, char **argv)
{
    struct kf_err err;
    struct kf_dataset *ds = NULL;
    struct wk_super sup;
    struct wk_worker_opts wo;
    struct sigaction sa;
    char host[HOST_NAME_MAX + 1] = "localhost", idbuf[HOST_NAME_MAX + 32], rnd[65];
    char *devname = NULL, *hardware = NULL, *scrub[3], lanes[KF_LANES_BUF];
    json_t *env = NULL, *evcfg = NULL;
    int rc, lvl, ret = 1, gpu_rc = 0;
    unsigned lane_set = 0;
    struct wk_host_lanes hl;
    struct wk_selftest st;
    struct st_ctx st_ctx;
    memset(&st, 0, sizeof st);
    memset(&st_ctx, 0, sizeof st_ctx);

    kf_err_clear(&err);
    rc = kf_config_load(&cfg, argc, argv, NULL, &err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "kf-worker: %s\n", err.msg);
        return 2;
    }
    lvl = kf_log_level_parse(c_log_level);
    if (lvl < 0) {
        fprintf(stderr, "kf-worker: --log-level: unknown level '%s'\n", c_log_level);
        return 2;
    }
    kf_log_set_level((enum kf_log_level)lvl);
    gethostname(host, sizeof host - 1);
    if (!c_worker_id || !*c_worker_id) {
        snprintf(idbuf, sizeof idbuf, "%s-gpu%d", host, (int)c_device);
        free(c_worker_id);
        c_worker_id = xstrdup(idbuf);
    }
    kf_log_add_secret(c_redis_password);
    kf_log_add_url_secret(c_redis);
    kf_log_add_secret(c_secret);
    kf_config_log(&cfg, "worker");
    /* The judge children read the tvm-ffi root from the environment
     * (worker/lane_tvmffi.c): pass a file or flag setting on. */
    if (c_tvm_ffi_root && *c_tvm_ffi_root)
        setenv("KF_TVM_FFI_ROOT", c_tvm_ffi_root, 1);
    if (c_lanes && *c_lanes && kf_lanes_parse(c_lanes, "lanes", &lane_set, &err) != 0) {
        fprintf(stderr, "kf-worker: --lanes: %s\n", err.msg);
        return 2;
    }
    /* Which lanes: what the host has (the python check imports torch in a
     * child, once), restricted by the setting. */
    wk_host_lanes_probe(NULL, c_probe_timeout, &hl);
    if (hl.set & (1u << kf_lane_index(KF_LANE_TVMFFI)))
        log_info("worker", "tvm-ffi lane: root %s", hl.tvmffi);
    else
        log_warn("worker", "tvm-ffi lane unavailable: %s", hl.tvmffi);
    if (hl.set & (1u << kf_lane_index(KF_LANE_PYTHON)))
        log_info("worker", "python lane: %s", hl.python);
    else
        log_warn("worker", "python lane unavailable: %s", hl.python);
    if (wk_host_lanes_select(&hl, c_lanes, &lane_set, &err) != 0) {
        log_error("worker", "--lanes %s: %s", c_lanes, err.msg);
        goto out;
    }
    kf_lanes_format(lane_set, lanes, sizeof lanes);
    log_info("worker", "lanes: %s%s", lanes, c_lanes && *c_lanes ? " (the lanes setting)" : "");
    if (!c_secret || !*c_secret) {
        if (random_secret(rnd) < 0) {
            log_error("worker", "cannot read /dev/urandom for a seed secret");
            goto out;
        }
        free(c_secret);
        c_secret = xstrdup(rnd);
        log_warn("worker", "no seed-secret set: using a random one (input seeds differ "
                           "between workers and restarts)");
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mkdir_p(c_cache) < 0) {
        log_error("worker", "cache directory %s is not usable: %s", c_cache, strerror(errno));
        goto out;
    }
    /* Without reference kernels every task would fail: say so now. A build
     * run from elsewhere finds its own source tree's kernels/. */
    if (!has_references(c_kernels)) {
        char *own = xasprintf("%s/kernels", KF_SOURCE_DIR);
        if (strcmp(opts_kernels_source(), "default") == 0 && has_references(own)) {
            log_info("worker", "kernels: %s/reference not found, using %s", c_kernels, own);
            free(c_kernels);
            c_kernels = own;
        } else {
            free(own);
            log_error("worker", "no reference kernels under %s/reference (set --kernels)",
                      c_kernels);
            goto out;
        }
    }
    rc = kf_dataset_load(c_dataset, &ds, &err);
    if (rc < 0) {
        log_error("worker", "cannot load dataset %s: %s%s%s", c_dataset, err.path,
                  err.path[0] ? ": " : "", err.msg);
        goto out;
    }
    log_info("worker", "dataset %s: %d definitions", ds->root, ds->ndefs);

    if (c_eval_config && *c_eval_config) {
        evcfg = kf_json_load_file(c_eval_config, 0, &err);
        if (!evcfg) {
            log_error("worker", "eval config %s: %s", err.path, err.msg);
            goto out;
        }
        if (!json_is_object(evcfg)) {
            log_error("worker", "eval config %s: not a JSON object", c_eval_config);
            goto out;
        }
    }
    /* A broken layer would fail every task: refuse to start instead. */
    for (int i = 0; i < ds->ndefs; i++) {
        struct ev_config ec;
        if (ev_config_resolve(evcfg, ds->defs[i].def, NULL, &ec, &err) < 0) {
            log_error("worker", "eval config %s: %s: %s", c_eval_config ? c_eval_config : "",
                      err.path, err.msg);
            goto out;
        }
    }

    rc = wk_probe_gpu((int)c_device, c_probe_timeout, &env, &devname, &err);
    gpu_rc = rc;
    if (rc < 0) {
        if (c_require_gpu) {
            log_error("worker", "no GPU: %s (this worker needs CUDA device %d)", err.msg,
                      (int)c_device);
            goto out;
        }
        log_warn("worker", "GPU probe failed: %s; serving anyway (--no-require-gpu)", err.msg);
    } else {
        log_info("worker", "device %d: %s (%s)", (int)c_device, devname,
                 json_string_value(json_object_get(env, "hardware")));
    }

    memset(&sup, 0, sizeof sup);
    sup.eval = ev_evaluate;
    sup.environment = env;
    env = NULL;
    /* The evaluator child gets no copy of these. */
    scrub[0] = c_secret;
    scrub[1] = c_redis_password;
    scrub[2] = c_redis;
    sup.scrub = scrub;
    sup.nscrub = 3;
    sup.lim.workload_s = c_wl_timeout;
    sup.lim.startup_s = c_startup;
    sup.lim.total_s = c_task_timeout;
    sup.lim.log_tail = (size_t)c_log_tail;

    if (c_self_test) {
        /* --self-test: run it here, print, exit (no Redis needed) */
        int src = wk_self_test(&sup, ds, c_kernels, c_cache, (int)c_device, evcfg, NULL, &st);
        printf("self-test %s: %d of %d definitions passed (%d without workloads)%s%s\n",
               src ? "FAILED" : "passed", st.passed, st.ndefs, st.skipped,
               st.why[0] ? "\n  first failure: " : "", st.why);
        json_decref(sup.environment);
        ret = src ? 1 : 0;
        goto out;
    }

    memset(&wo, 0, sizeof wo);
    if (c_startup_self_test && gpu_rc < 0)
        log_warn("worker", "no GPU: skipping the start-up self-test (--no-require-gpu)");
    else if (c_startup_self_test) {
        st_ctx.sup = &sup;
        st_ctx.ds = ds;
        st_ctx.evcfg = evcfg;
        wo.self_test = startup_self_test;
        wo.self_test_ctx = &st_ctx;
    }
    wo.redis_url = c_redis;
    wo.redis_password = c_redis_password && *c_redis_password ? c_redis_password : NULL;
    wo.worker_id = c_worker_id;
    wo.host = host;
    wo.device = (int)c_device;
    hardware = xstrdup(json_string_value(json_object_get(sup.environment, "hardware")));
    wo.hardware = hardware;
    wo.lanes = lanes;
    wo.ds = ds;
    wo.cache_dir = c_cache;
    wo.kernels_dir = c_kernels;
    wo.seed_secret = c_secret;
    wo.sup = &sup;
    wo.eval_config = evcfg;
    wo.probe = c_require_gpu ? reprobe : NULL;
    wo.heartbeat_s = c_heartbeat;
    wo.lease_ms = c_lease_ms;
    wo.block_ms = 1000;
    wo.max_tasks = (int)c_max_tasks;
    wo.stop = &stop_flag;
    wo.stop_grace_s = c_stop_grace;

    rc = wk_worker_run(&wo, &err);
    if (rc < 0) {
        log_error("worker", "cannot serve: %s", err.msg);
        json_decref(sup.environment);
        goto out;
    }
    json_decref(sup.environment);
    ret = 0;
out:
    free(devname);
    free(hardware);
    json_decref(env);
    json_decref(evcfg);
    kf_dataset_free(ds);
    kf_config_free(&cfg);
    return ret;
}
