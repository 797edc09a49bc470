/* main.c: kf-server, the HTTP front end (DESIGN.md "HTTP API"). Reads the
 * config table, loads the dataset, checks Redis, starts the HTTP daemon and
 * waits for SIGTERM/SIGINT, then shuts down gracefully. The signal mask is
 * set before any thread starts; only this thread takes the signals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "board.h"
#include "config.h"
#include "dataset.h"
#include "http.h"
#include "insecure.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

static char *o_event_loop;
static char *o_config, *o_host, *o_port_file, *o_redis_url, *o_redis_password, *o_dataset,
    *o_auth, *o_tokens_file, *o_log_level, *o_log_file, *o_archive_dir;
static int64_t o_port, o_threads, o_max_conn, o_conn_timeout, o_max_body, o_max_batch,
    o_max_workloads, o_rate_limit, o_rate_window, o_cache_ms, o_grace_ms, o_max_per_client,
    o_body_memory, o_max_response, o_quota_bytes, o_quota_tasks, o_health_cache_ms;
static bool o_redis_tokens, o_insecure_dev, o_public_sources;

static struct kf_cfg_opt opts[] = {
    {"config", "KF_SERVER_CONFIG", KF_CFG_STR, NULL, 0, -1, "config file (name = value lines)", &o_config, NULL},
    {"host", "KF_HOST", KF_CFG_STR, "127.0.0.1", 0, -1, "listen address (IPv4 or IPv6)", &o_host, NULL},
    {"port", "KF_PORT", KF_CFG_INT, "8080", 0, 65535, "listen port (0: any free port)", &o_port, NULL},
    {"port-file", "KF_PORT_FILE", KF_CFG_STR, NULL, 0, -1, "write the bound port to this file", &o_port_file, NULL},
    {"threads", "KF_THREADS", KF_CFG_INT, "0", 0, 256, "HTTP threads (0: one per core)", &o_threads, NULL},
    {"event-loop", "KF_EVENT_LOOP", KF_CFG_STR, "poll", 0, -1, "poll or epoll (libmicrohttpd 0.9.75's epoll stalls under load: docs/server.md)", &o_event_loop, NULL},
    {"max-connections", "KF_MAX_CONNECTIONS", KF_CFG_INT, "16384", 16, 1000000, "connection limit", &o_max_conn, NULL},
    {"max-connections-per-client", "KF_MAX_CONNECTIONS_PER_CLIENT", KF_CFG_INT, "1024", 0, 1000000, "connections per client address, at most max-connections/4 (0: no cap)", &o_max_per_client, NULL},
    {"connection-timeout", "KF_CONNECTION_TIMEOUT", KF_CFG_INT, "60", 1, 3600, "idle connection timeout, seconds (not for long-polls)", &o_conn_timeout, NULL},
    {"redis-url", "KF_REDIS_URL", KF_CFG_STR, "redis://127.0.0.1:6379", 0, -1, "redis://host:port[/db] or unix:///path", &o_redis_url, NULL},
    {"redis-password", "KF_REDIS_PASSWORD", KF_CFG_STR, NULL, 0, -1, "Redis password", &o_redis_password, NULL},
    {"dataset", "FIB_DATASET_PATH", KF_CFG_STR, "var/dataset", 0, -1, "FlashInfer-Trace dataset root", &o_dataset, NULL},
    {"max-body", "KF_MAX_BODY", KF_CFG_INT, "8388608", 1024, 1073741824, "request body cap in bytes (413 above)", &o_max_body, NULL},
    {"body-memory", "KF_BODY_MEMORY", KF_CFG_INT, "268435456", 0, 68719476736.0, "request body bytes buffered at once, all connections (503 above; 0: no cap)", &o_body_memory, NULL},
    {"max-response", "KF_MAX_RESPONSE", KF_CFG_INT, "67108864", 65536, 4294967296.0, "POST /tasks/batch answer cap in bytes (413 above)", &o_max_response, NULL},
    {"max-batch", "KF_MAX_BATCH", KF_CFG_INT, "1000", 1, 100000, "task ids per POST /tasks/batch", &o_max_batch, NULL},
    {"max-workloads", "KF_MAX_WORKLOADS", KF_CFG_INT, "4096", 1, 1000000, "workload uuids per submission", &o_max_workloads, NULL},
    {"auth", "KF_AUTH", KF_CFG_STR, "auto", 0, -1, "auto|on|off (auto: on unless loopback without tokens file)", &o_auth, NULL},
    {"tokens-file", "KF_TOKENS_FILE", KF_CFG_STR, NULL, 0, -1, "bearer tokens: 'TOKEN NAME TEAM ROLES' lines", &o_tokens_file, NULL},
    {"redis-tokens", "KF_REDIS_TOKENS", KF_CFG_BOOL, "false", 0, -1, "also accept tokens from the Redis hash kf:tokens", &o_redis_tokens, NULL},
    {"insecure-dev", "KF_INSECURE_DEV", KF_CFG_BOOL, "false", 0, -1, "start even with the example tokens or a default Redis password (development only)", &o_insecure_dev, NULL},
    {"public-sources", "KF_PUBLIC_SOURCES", KF_CFG_BOOL, "false", 0, -1, "the web board shows every solution's source (else only to its team and admins)", &o_public_sources, NULL},
    {"rate-limit", "KF_RATE_LIMIT", KF_CFG_INT, "60", 0, 1000000, "submissions per token per window (0: off)", &o_rate_limit, NULL},
    {"rate-window", "KF_RATE_WINDOW", KF_CFG_INT, "60", 1, 86400, "rate-limit window, seconds", &o_rate_window, NULL},
    {"quota-bytes", "KF_QUOTA_BYTES", KF_CFG_INT, "1073741824", 0, 1099511627776.0, "per team: bytes of stored solutions (0: no quota)", &o_quota_bytes, NULL},
    {"quota-tasks", "KF_QUOTA_TASKS", KF_CFG_INT, "10000", 0, 100000000, "per team: tasks kept in Redis; older finished ones are archived (0: no quota)", &o_quota_tasks, NULL},
    {"archive-dir", "KF_ARCHIVE_DIR", KF_CFG_STR, "var/archive", 0, -1, "archived tasks, one JSONL file per team", &o_archive_dir, NULL},
    {"health-cache-ms", "KF_HEALTH_CACHE_MS", KF_CFG_INT, "250", 0, 60000, "GET /health view lifetime", &o_health_cache_ms, NULL},
    {"results-cache-ms", "KF_RESULTS_CACHE_MS", KF_CFG_INT, "1000", 0, 3600000, "leaderboard cache lifetime", &o_cache_ms, NULL},
    {"shutdown-grace-ms", "KF_SHUTDOWN_GRACE_MS", KF_CFG_INT, "3000", 0, 600000, "time to finish in-flight requests at shutdown", &o_grace_ms, NULL},
    {"log-level", "KF_LOG_LEVEL", KF_CFG_STR, "info", 0, -1, "debug|info|warn|error", &o_log_level, NULL},
    {"log-file", "KF_LOG_FILE", KF_CFG_STR, NULL, 0, -1, "append logs here instead of stderr", &o_log_file, NULL},
};

static struct kf_config cfg = {"kf-server", "kernelfarm HTTP API server (flashinfer-bench serve compatible)",
                               opts, (int)(sizeof opts / sizeof opts[0])};

static bool is_loopback(const char *h)
{
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct kf_err err;
    struct kf_dataset *ds = NULL;
    struct api_ctx ctx;
    struct api_http *http = NULL;
    struct kfq_conn *rc0 = NULL;
    int status = 1;

    memset(&ctx, 0, sizeof ctx);
    kf_err_clear(&err);
    int r = kf_config_load(&cfg, argc, argv, NULL, &err);
    if (r == 1)
        return 0;
    if (r) {
        fprintf(stderr, "kf-server: %s: %s\n", err.path, err.msg);
        return 2;
    }
    int lvl = kf_log_level_parse(o_log_level);
    if (lvl < 0) {
        fprintf(stderr, "kf-server: --log-level: unknown level '%s'\n", o_log_level);
        goto out;
    }
    kf_log_set_level((enum kf_log_level)lvl);
    if (o_log_file && *o_log_file && kf_log_open(o_log_file)) {
        fprintf(stderr, "kf-server: cannot open log file %s\n", o_log_file);
        goto out;
    }
    kf_log_add_secret(o_redis_password);
    kf_log_add_url_secret(o_redis_url);
    kf_config_log(&cfg, "server");
    if (api_insecure_check(o_tokens_file, o_redis_url, o_redis_password, &err)) {
        if (!o_insecure_dev) {
            log_error("server", "refusing to start: %s: %s (--insecure-dev overrides, for "
                      "development only)", err.path, err.msg);
            goto out;
        }
        log_warn("server", "insecure-dev: %s: %s", err.path, err.msg);
    }

    /* signals: handled by sigwait below, in this thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    if (kf_dataset_load(o_dataset, &ds, &err)) {
        log_error("server", "cannot load dataset root=%s: %s: %s", o_dataset, err.path, err.msg);
        goto out;
    }
    log_info("server", "dataset loaded root=%s definitions=%d", ds->root, ds->ndefs);

    if (kfq_connect(o_redis_url, o_redis_password, true, &rc0, &err)) {
        log_error("server", "bad --redis-url: %s", err.msg);
        goto out;
    }
    if (kfq_init(rc0, &err))
        log_warn("server", "redis not reachable yet (requests get 503 until it is): %s", err.msg);

    api_ctx_init(&ctx, ds);
    ctx.max_body = (size_t)o_max_body;
    ctx.body_budget = (size_t)o_body_memory;
    ctx.max_response = (size_t)o_max_response;
    ctx.quota_bytes = o_quota_bytes;
    ctx.quota_tasks = o_quota_tasks;
    ctx.archive_dir = o_archive_dir;
    ctx.health_cache_ms = o_health_cache_ms;
    ctx.max_batch = (int)o_max_batch;
    ctx.max_workloads = (int)o_max_workloads;
    ctx.redis_url = o_redis_url;
    ctx.public_sources = o_public_sources;
    ctx.redis_password = o_redis_password;
    ctx.rate_limit = o_rate_limit;
    ctx.rate_window = o_rate_window;
    if (api_auth_new(o_auth, o_tokens_file, is_loopback(o_host), o_redis_tokens, &ctx.auth,
                     &err)) {
        log_error("server", "auth: %s: %s", err.path, err.msg);
        goto out;
    }
    log_info("server", "auth %s", api_auth_enabled(ctx.auth) ? "on" : "off (loopback)");
    ctx.board = api_board_new(o_cache_ms);
    ctx.metrics = api_metrics_new();
    ctx.health = api_health_cache_new();

    /* one client never holds more than a quarter of all connections */
    if (o_max_per_client > 0 && o_max_per_client > o_max_conn / 4)
        o_max_per_client = o_max_conn / 4 > 0 ? o_max_conn / 4 : 1;
    struct api_http_opts ho = {o_host, (int)o_port, (int)o_threads, (int)o_max_conn,
                               (int)o_max_per_client, (int)o_conn_timeout, o_event_loop};
    if (api_http_start(&ctx, &ho, &http, &err)) {
        log_error("server", "%s: %s", err.path, err.msg);
        goto out;
    }
    if (o_port_file && *o_port_file) {
        FILE *f = fopen(o_port_file, "w");
        if (f) {
            fprintf(f, "%d\n", api_http_port(http));
            fclose(f);
        }
    }
    log_info("server", "ready url=http://%s:%d/", o_host, api_http_port(http));

    int sig = 0;
    sigwait(&set, &sig);
    log_info("server", "shutting down signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    api_http_stop(http, (int)o_grace_ms);
    http = NULL;
    log_info("server", "stopped");
    status = 0;
out:
    if (http)
        api_http_stop(http, 0);
    api_auth_free(ctx.auth);
    api_board_free(ctx.board);
    api_metrics_free(ctx.metrics);
    api_health_cache_free(ctx.health);
    api_ctx_cleanup(&ctx);
    kfq_close(rc0);
    kf_dataset_free(ds);
    kf_config_free(&cfg);
    return status;
}
