/* queue.c: the Redis task protocol (see queue.h and docs/queue.md).
 * A struct kfq_conn is used by one thread at a time; no global state besides
 * constant tables. */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jsonio.h"
#include "log.h"
#include "xalloc.h"

#define CMD_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

const double kfq_hist_bounds[KFQ_HIST_N] = {1, 2, 5, 10, 30, 60, 120, 300, 600, 1e300};

struct kfq_conn {
    redisContext *rc;
    char *host;             /* TCP host, or NULL for unix */
    int port;
    char *path;             /* unix socket path */
    char *password;
    int db;
    int64_t next_try_ms;
    int64_t backoff_ms;
    bool was_up;            /* log "connected" / "lost" transitions once */
    char own_cursor[64];    /* kfq_reclaim_own history position */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double kfq_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)(tv.tv_usec / 1000) / 1000.0;
}

void kfq_new_id(char buf[33])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            /* no entropy source: fall back to time + address mixing */
            uint64_t x = (uint64_t)now_ms() ^ ((uint64_t)(uintptr_t)buf << 17) ^ (uint64_t)getpid();
            for (size_t i = got; i < sizeof r; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                r[i] = (unsigned char)x;
            }
            break;
        }
        got += (size_t)n;
    }
    for (int i = 0; i < 16; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

bool kfq_valid_task_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > KFQ_TASK_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

/* ---- connection --------------------------------------------------------- */

static int parse_url(struct kfq_conn *c, const char *url, struct kf_err *err)
{
    if (!url || !*url)
        url = "redis://127.0.0.1:6379";
    if (strncmp(url, "unix://", 7) == 0 || url[0] == '/') {
        const char *p = url[0] == '/' ? url : url + 7;
        const char *q = strchr(p, '?');
        c->path = q ? xstrndup(p, (size_t)(q - p)) : xstrdup(p);
        if (q && strncmp(q, "?db=", 4) == 0)
            c->db = atoi(q + 4);
        if (!c->path[0])
            return kf_err_set(err, KF_EINVAL, "redis-url", "empty unix socket path");
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return kf_err_set(err, KF_EINVAL, "redis-url",
                          "expected redis://host:port or unix:///path, got '%s'", url);
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (at > pw)
            c->password = xstrndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    char *hostport = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
    if (slash && slash[1])
        c->db = atoi(slash + 1);
    char *colon = strrchr(hostport, ':');
    c->port = 6379;
    if (colon) {
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) {
            free(hostport);
            return kf_err_set(err, KF_EINVAL, "redis-url", "bad port in '%s'", url);
        }
        c->port = (int)port;
    }
    c->host = hostport[0] ? hostport : (free(hostport), xstrdup("127.0.0.1"));
    return 0;
}

static void mark_broken(struct kfq_conn *c, const char *why)
{
    if (c->rc) {
        if (c->was_up)
            log_warn("queue", "redis connection lost reason=\"%s\"", why);
        redisFree(c->rc);
        c->rc = NULL;
    }
    c->was_up = false;
}

static void set_timeout_ms(struct kfq_conn *c, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (c->rc)
        redisSetTimeout(c->rc, tv);
}

static int try_connect(struct kfq_conn *c, struct kf_err *err)
{
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *rc = c->path ? redisConnectUnixWithTimeout(c->path, tv)
                               : redisConnectWithTimeout(c->host, c->port, tv);
    if (!rc || rc->err) {
        if (c->path)
            kf_err_set(err, KF_EREDIS, "redis", "cannot connect to unix:%s: %s", c->path,
                       rc ? rc->errstr : "out of memory");
        else
            kf_err_set(err, KF_EREDIS, "redis", "cannot connect to %s:%d: %s", c->host,
                       c->port, rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return KF_EREDIS;
    }
    c->rc = rc;
    set_timeout_ms(c, CMD_TIMEOUT_MS);
    if (!c->path)
        redisEnableKeepAlive(rc);
    if (c->password && c->password[0]) {
        redisReply *r = redisCommand(rc, "AUTH %s", c->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            kf_err_set(err, KF_EREDIS, "redis", "AUTH failed: %s",
                       r ? r->str : rc->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(rc);
            c->rc = NULL;
            return KF_EREDIS;
        }
        freeReplyObject(r);
    }
    if (c->db) {
        redisReply *r = redisCommand(rc, "SELECT %d", c->db);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            redisFree(rc);
            c->rc = NULL;
            return kf_err_set(err, KF_EREDIS, "redis", "SELECT %d failed", c->db);
        }
    }
    if (!c->was_up) {
        if (c->path)
            log_info("queue", "redis connected addr=unix:%s", c->path);
        else
            log_info("queue", "redis connected addr=%s:%d", c->host, c->port);
    }
    c->was_up = true;
    c->backoff_ms = 0;
    return 0;
}

int kfq_connect(const char *url, const char *password, bool lazy, struct kfq_conn **out,
                struct kf_err *err)
{
    struct kfq_conn *c = xcalloc(1, sizeof *c);
    int rc;
    *out = NULL;
    snprintf(c->own_cursor, sizeof c->own_cursor, "0");
    rc = parse_url(c, url, err);
    if (rc)
        goto out;
    if (password && *password) {
        free(c->password);
        c->password = xstrdup(password);
    }
    rc = try_connect(c, err);
    if (rc) {
        c->backoff_ms = BACKOFF_MIN_MS;
        c->next_try_ms = now_ms() + c->backoff_ms;
        if (lazy)
            rc = 0;
    }
out:
    if (rc)
        kfq_close(c);
    else
        *out = c;
    return rc;
}

void kfq_close(struct kfq_conn *c)
{
    if (!c)
        return;
    if (c->rc)
        redisFree(c->rc);
    free(c->host);
    free(c->path);
    free(c->password);
    free(c);
}

bool kfq_connected(const struct kfq_conn *c)
{
    return c && c->rc;
}

/* A connection with no command outstanding has nothing to read: if its
 * socket is readable or hung up, Redis closed it (a restart). Noticing it
 * here, before a command is written, lets the caller reconnect at once
 * instead of failing its first command (a pipeline or MULTI is not retried). */
static bool closed_by_peer(const struct kfq_conn *c)
{
    struct pollfd p = {.fd = c->rc->fd, .events = POLLIN | POLLRDHUP};
    return c->rc->fd >= 0 && poll(&p, 1, 0) > 0 &&
           (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

int kfq_ensure(struct kfq_conn *c, struct kf_err *err)
{
    if (c->rc && closed_by_peer(c)) {
        mark_broken(c, "closed by the server");
        c->next_try_ms = 0;
    }
    if (c->rc)
        return 0;
    int64_t t = now_ms();
    if (t < c->next_try_ms)
        return kf_err_set(err, KF_EREDIS, "redis", "redis unavailable (retry in %lld ms)",
                          (long long)(c->next_try_ms - t));
    int rc = try_connect(c, err);
    if (rc) {
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS)
            c->backoff_ms = BACKOFF_MAX_MS;
        c->next_try_ms = now_ms() + c->backoff_ms;
    }
    return rc;
}

int kfq_ensure_wait(struct kfq_conn *c, volatile int *stop, int64_t max_wait_ms,
                    struct kf_err *err)
{
    int64_t start = now_ms();
    for (;;) {
        int rc = kfq_ensure(c, err);
        if (rc == 0)
            return 0;
        if (stop && *stop)
            return rc;
        int64_t t = now_ms();
        if (max_wait_ms >= 0 && t - start >= max_wait_ms)
            return rc;
        int64_t wait = c->next_try_ms - t;
        if (wait < 10)
            wait = 10;
        if (wait > 200)
            wait = 200;  /* wake often enough to notice *stop */
        struct timespec ts = {.tv_sec = 0, .tv_nsec = wait * 1000000};
        nanosleep(&ts, NULL);
    }
}

static redisReply *check_reply(struct kfq_conn *c, redisReply *r, struct kf_err *err)
{
    if (!r && !c->rc)
        return kf_err_set(err, KF_EREDIS, "redis", "redis connection lost"), NULL;
    if (!r) {
        kf_err_set(err, KF_EREDIS, "redis", "redis I/O error: %s",
                   c->rc && c->rc->errstr[0] ? c->rc->errstr : "connection lost");
        mark_broken(c, c->rc && c->rc->errstr[0] ? c->rc->errstr : "I/O error");
        c->next_try_ms = 0;  /* first reconnect attempt right away */
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        kf_err_set(err, KF_EREDIS, "redis", "redis error: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* A connection that was fine until now may be stale (Redis restarted): on
 * an I/O error, reconnect at once and send the command one more time. The
 * write to a dead socket fails before the command reaches any server. */
redisReply *kfq_command(struct kfq_conn *c, struct kf_err *err, const char *fmt, ...)
{
    va_list ap;
    redisReply *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (kfq_ensure(c, err))
            return NULL;
        va_start(ap, fmt);
        r = redisvCommand(c->rc, fmt, ap);
        va_end(ap);
        if (r || attempt == 1)
            break;
        check_reply(c, NULL, err);   /* marks broken; next try reconnects at once */
    }
    return check_reply(c, r, err);
}

redisReply *kfq_commandargv(struct kfq_conn *c, struct kf_err *err, int argc, const char **argv,
                            const size_t *argvlen)
{
    redisReply *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (kfq_ensure(c, err))
            return NULL;
        r = redisCommandArgv(c->rc, argc, argv, argvlen);
        if (r || attempt == 1)
            break;
        check_reply(c, NULL, err);
    }
    return check_reply(c, r, err);
}

/* A MULTI ... EXEC transaction: begin, append commands, finish. */
struct tx { struct kfq_conn *c; int n; bool failed; };

static void tx_begin(struct tx *tx, struct kfq_conn *c)
{
    tx->c = c;
    tx->n = 0;
    tx->failed = !c->rc;
    if (!tx->failed && redisAppendCommand(c->rc, "MULTI") != REDIS_OK)
        tx->failed = true;
}

static void tx_add(struct tx *tx, const char *fmt, ...)
{
    va_list ap;
    if (tx->failed)
        return;
    va_start(ap, fmt);
    if (redisvAppendCommand(tx->c->rc, fmt, ap) != REDIS_OK)
        tx->failed = true;
    va_end(ap);
    tx->n++;
}

/* Returns the EXEC reply (array of results; free it) or NULL with err. */
static redisReply *tx_exec(struct tx *tx, struct kf_err *err)
{
    struct kfq_conn *c = tx->c;
    redisReply *last = NULL;
    if (tx->failed || redisAppendCommand(c->rc, "EXEC") != REDIS_OK) {
        kf_err_set(err, KF_EREDIS, "redis", "redis unavailable");
        mark_broken(c, "append failed");
        return NULL;
    }
    for (int i = 0; i < tx->n + 2; i++) {
        void *r = NULL;
        if (redisGetReply(c->rc, &r) != REDIS_OK) {
            if (last)
                freeReplyObject(last);
            return check_reply(c, NULL, err);
        }
        if (last)
            freeReplyObject(last);
        last = r;
    }
    if (!last || last->type != REDIS_REPLY_ARRAY) {
        kf_err_set(err, KF_EREDIS, "redis", "transaction aborted: %s",
                   last && last->type == REDIS_REPLY_ERROR ? last->str : "no result");
        if (last)
            freeReplyObject(last);
        return NULL;
    }
    return last;
}

static int tx_run(struct tx *tx, struct kf_err *err)
{
    redisReply *r = tx_exec(tx, err);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_init(struct kfq_conn *c, struct kf_err *err)
{
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    redisReply *r = redisCommand(c->rc, "XGROUP CREATE %s %s 0 MKSTREAM", KFQ_STREAM, KFQ_GROUP);
    if (!r)
        return check_reply(c, NULL, err) ? 0 : KF_EREDIS;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
        rc = kf_err_set(err, KF_EREDIS, "redis", "XGROUP CREATE: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* ---- reply helpers ------------------------------------------------------- */

/* Field value of a flat [k, v, k, v] reply (HGETALL, stream fields); borrowed. */
static const char *field(const redisReply *r, const char *name)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str : NULL;
    return NULL;
}

/* Task record JSON from an HGETALL reply (NULL if no such task). */
static json_t *task_json(const redisReply *r);

static bool is_status(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

/* ---- tasks: server side --------------------------------------------------- */

int kfq_submit(struct kfq_conn *c, const struct kfq_submit *s, char task_id_out[65],
               bool *existing, struct kf_err *err)
{
    char idbuf[33];
    char *wl = NULL, *sol = NULL, *cfg = NULL, *idem = NULL;
    const char *team = s->team ? s->team : "";
    const char *id;
    redisReply *r = NULL;
    int rc = 0;
    struct tx tx;
    char now[32];

    *existing = false;
    task_id_out[0] = '\0';
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    if (s->content_hash)
        idem = xasprintf("kf:idem:%s:%s", team, s->content_hash);

    if (s->task_id) {
        /* client-chosen id: claim it atomically, or compare with the holder */
        id = s->task_id;
        if (s->admit) {
            r = kfq_command(c, err, "EXISTS kf:task:%s", id);
            if (!r) { rc = KF_EREDIS; goto out; }
            bool known = r->integer == 1;
            freeReplyObject(r);
            r = NULL;
            if (!known && (rc = s->admit(s->admit_ctx)))
                goto out;
        }
        r = kfq_command(c, err, "HSETNX kf:task:%s id %s", id, id);
        if (!r) { rc = KF_EREDIS; goto out; }
        bool created = r->integer == 1;
        freeReplyObject(r);
        r = NULL;
        if (!created) {
            r = kfq_command(c, err, "HMGET kf:task:%s content_hash team", id);
            if (!r) { rc = KF_EREDIS; goto out; }
            const char *h = r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "";
            const char *t = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "";
            if (s->content_hash && strcmp(h, s->content_hash) == 0 && strcmp(t, team) == 0) {
                snprintf(task_id_out, 65, "%s", id);
                *existing = true;
            } else {
                rc = kf_err_set(err, KF_ECONFLICT, "task_id",
                                "task_id '%s' already exists with a different request", id);
            }
            goto out;
        }
    } else {
        if (idem && !s->rerun) {
            r = kfq_command(c, err, "GET %s", idem);
            if (!r) { rc = KF_EREDIS; goto out; }
            if (r->type == REDIS_REPLY_STRING) {
                char prev[65];
                snprintf(prev, sizeof prev, "%s", r->str);
                freeReplyObject(r);
                /* a task that failed (no verdict) is not worth returning again */
                r = kfq_command(c, err, "HGET kf:task:%s status", prev);
                if (!r) { rc = KF_EREDIS; goto out; }
                if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "failed") != 0) {
                    snprintf(task_id_out, 65, "%s", prev);
                    *existing = true;
                    goto out;
                }
            }
            freeReplyObject(r);
            r = NULL;
        }
        if (s->admit && (rc = s->admit(s->admit_ctx)))
            goto out;
        kfq_new_id(idbuf);
        id = idbuf;
    }

    wl = kf_json_dumps(s->workloads);
    sol = kf_json_dumps(s->solution);
    cfg = s->config ? kf_json_dumps(s->config) : xstrdup("");
    snprintf(now, sizeof now, "%.3f", kfq_now());
    const char *author = json_string_value(json_object_get(s->solution, "author"));
    size_t nwl = json_array_size(s->workloads);

    const char *key = s->solution_key ? s->solution_key : s->solution_name;
    int i_set, i_xadd = -1;
    if (s->stored_bytes)
        *s->stored_bytes = 0;
    tx_begin(&tx, c);
    i_set = tx.n;
    tx_add(&tx, "SET kf:solution:%s %s NX", key, sol);
    tx_add(&tx, "SADD kf:solteams:%s %s", s->solution_name, team);
    if (s->solution_full) {
        tx_add(&tx, "SADD kf:solteams:%s %s", s->solution_full, team);
        tx_add(&tx, "HSETNX kf:solkeys:%s %s %s", team, s->solution_name, key);
        tx_add(&tx, "HSETNX kf:solkeys:%s %s %s", team, s->solution_full, key);
        tx_add(&tx, "HINCRBY kf:team:%s:solrefs %s 1", team, key);
        tx_add(&tx, "ZADD kf:team:%s:tasks %s %s", team, now, id);
    }
    tx_add(&tx,
           "HSET kf:task:%s id %s status %s definition %s solution %s solution_key %s "
           "workloads %s config %s team %s content_hash %s author %s created_at %s "
           "attempts 0 progress_done 0 progress_total %lld",
           id, id, s->fail_reason ? "failed" : "pending", s->definition, s->solution_name,
           key, wl, cfg, team, s->content_hash ? s->content_hash : "",
           author ? author : "", now, (long long)nwl);
    if (s->client_task_id)
        tx_add(&tx, "HSET kf:task:%s client_id %s", id, s->client_task_id);
    if (s->fail_reason) {
        tx_add(&tx, "HSET kf:task:%s error %s finished_at %s", id, s->fail_reason, now);
        tx_add(&tx, "SADD kf:state:failed %s", id);
    } else {
        tx_add(&tx, "SADD kf:state:pending %s", id);
        i_xadd = tx.n;
        tx_add(&tx, "XADD %s * task_id %s definition %s solution %s", KFQ_STREAM, id,
               s->definition, s->solution_name);
    }
    if (idem)
        tx_add(&tx, "SET %s %s", idem, id);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status %s done 0 total %lld", KFQ_EVENTS,
           KFQ_EVENTS_MAXLEN, id, s->fail_reason ? "failed" : "pending", (long long)nwl);
    r = tx_exec(&tx, err);
    if (!r) { rc = KF_EREDIS; goto out; }
    if (s->stored_bytes && (size_t)i_set < r->elements &&
        r->element[i_set]->type == REDIS_REPLY_STATUS)
        *s->stored_bytes = (int64_t)strlen(sol);
    if (i_xadd >= 0 && (size_t)i_xadd < r->elements &&
        r->element[i_xadd]->type == REDIS_REPLY_STRING) {
        char entry[64];
        snprintf(entry, sizeof entry, "%s", r->element[i_xadd]->str);
        freeReplyObject(r);
        r = kfq_command(c, err, "HSET kf:task:%s entry %s", id, entry);
        if (!r) { rc = KF_EREDIS; goto out; }
    }
    snprintf(task_id_out, 65, "%s", id);
out:
    if (r)
        freeReplyObject(r);
    free(wl);
    free(sol);
    free(cfg);
    free(idem);
    return rc;
}

static json_t *num_or_null(const char *s, bool integer)
{
    if (!s || !*s)
        return json_null();
    char *end;
    if (integer) {
        long long v = strtoll(s, &end, 10);
        return *end ? json_string(s) : json_integer(v);
    }
    double d = strtod(s, &end);
    return *end ? json_string(s) : json_real(d);
}

int kfq_task_get(struct kfq_conn *c, const char *id, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "HGETALL kf:task:%s", id);
    if (!r)
        return KF_EREDIS;
    *out = task_json(r);
    freeReplyObject(r);
    if (!*out)
        return kf_err_set(err, KF_ENOENT, "task_id", "unknown task '%s'", id);
    return 0;
}

static json_t *task_json(const redisReply *r)
{
    static const char *const ints[] = {"attempts", "progress_done", "progress_total", NULL};
    static const char *const reals[] = {"created_at", "started_at", "finished_at", NULL};
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || !field(r, "status"))
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        json_t *val = NULL;
        for (int j = 0; ints[j] && !val; j++)
            if (strcmp(k, ints[j]) == 0)
                val = num_or_null(v, true);
        for (int j = 0; reals[j] && !val; j++)
            if (strcmp(k, reals[j]) == 0)
                val = num_or_null(v, false);
        if (!val && (strcmp(k, "workloads") == 0 || strcmp(k, "config") == 0)) {
            val = v[0] ? json_loads(v, 0, NULL) : NULL;
            if (!val)
                val = json_null();
        }
        if (!val && strcmp(k, "error") == 0 && !v[0])
            val = json_null();
        if (!val)
            val = json_string(v);
        json_object_set_new(o, k, val ? val : json_null());
    }
    return o;
}

int kfq_task_get_full(struct kfq_conn *c, const char *id, json_t **task, json_t **traces,
                      struct kf_err *err)
{
    void *v[2] = {NULL, NULL};
    int rc = 0;
    *task = *traces = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (kfq_ensure(c, err))
            return KF_EREDIS;
        redisAppendCommand(c->rc, "HGETALL kf:task:%s", id);
        redisAppendCommand(c->rc, "LRANGE kf:traces:%s 0 -1", id);
        if (redisGetReply(c->rc, &v[0]) == REDIS_OK && redisGetReply(c->rc, &v[1]) == REDIS_OK)
            break;
        if (v[0])
            freeReplyObject(v[0]);
        v[0] = NULL;
        check_reply(c, NULL, err);   /* stale connection: reconnect and retry once */
        if (attempt == 1)
            return KF_EREDIS;
    }
    redisReply *h = v[0], *l = v[1];
    if (h->type == REDIS_REPLY_ERROR || l->type == REDIS_REPLY_ERROR) {
        rc = kf_err_set(err, KF_EREDIS, "redis", "redis error: %s",
                        h->type == REDIS_REPLY_ERROR ? h->str : l->str);
        goto out;
    }
    *task = task_json(h);
    if (!*task) {
        rc = kf_err_set(err, KF_ENOENT, "task_id", "unknown task '%s'", id);
        goto out;
    }
    *traces = json_array();
    for (size_t i = 0; i < l->elements; i++) {
        json_t *t = l->element[i]->type == REDIS_REPLY_STRING
                        ? json_loadb(l->element[i]->str, l->element[i]->len, 0, NULL) : NULL;
        if (t)
            json_array_append_new(*traces, t);
    }
out:
    freeReplyObject(h);
    freeReplyObject(l);
    return rc;
}

int kfq_task_traces(struct kfq_conn *c, const char *id, bool raw, json_t **out,
                    struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "LRANGE kf:traces:%s 0 -1", id);
    if (!r)
        return KF_EREDIS;
    json_t *a = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        if (raw) {
            json_array_append_new(a, json_stringn(e->str, e->len));
        } else {
            json_t *t = json_loadb(e->str, e->len, 0, NULL);
            if (t)
                json_array_append_new(a, t);
        }
    }
    freeReplyObject(r);
    *out = a;
    return 0;
}

int kfq_solution_get(struct kfq_conn *c, const char *name, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *r = kfq_command(c, err, "GET kf:solution:%s", name);
    if (!r)
        return KF_EREDIS;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return kf_err_set(err, KF_ENOENT, "name", "unknown solution '%s'", name);
    }
    *out = json_loadb(r->str, r->len, 0, NULL);
    freeReplyObject(r);
    if (!*out)
        return kf_err_set(err, KF_EIO, "name", "stored solution '%s' is not JSON", name);
    return 0;
}

int kfq_workers(struct kfq_conn *c, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *m = kfq_command(c, err, "SMEMBERS %s", KFQ_WORKER_SET);
    if (!m)
        return KF_EREDIS;
    json_t *a = json_array();
    for (size_t i = 0; i < m->elements; i++) {
        const char *wid = m->element[i]->str;
        redisReply *h = kfq_command(c, err, "HGETALL kf:worker:%s", wid);
        if (!h) {
            json_decref(a);
            freeReplyObject(m);
            return KF_EREDIS;
        }
        if (h->elements == 0) {
            redisReply *x = kfq_command(c, err, "SREM %s %s", KFQ_WORKER_SET, wid);
            if (x)
                freeReplyObject(x);
        } else {
            json_t *o = json_object();
            for (size_t k = 0; k + 1 < h->elements; k += 2) {
                const char *key = h->element[k]->str, *v = h->element[k + 1]->str;
                json_t *val;
                if (strcmp(key, "device") == 0 || strcmp(key, "pid") == 0)
                    val = num_or_null(v, true);
                else if (strcmp(key, "started_at") == 0 || strcmp(key, "last_seen") == 0)
                    val = num_or_null(v, false);
                else if (strcmp(key, "task") == 0 && !v[0])
                    val = json_null();
                else
                    val = json_string(v);
                json_object_set_new(o, key, val ? val : json_null());
            }
            json_array_append_new(a, o);
        }
        freeReplyObject(h);
    }
    freeReplyObject(m);
    *out = a;
    return 0;
}

int kfq_counts(struct kfq_conn *c, struct kfq_counts *out, struct kf_err *err)
{
    static const char *const names[] = {"pending", "running", "completed", "failed"};
    int64_t *dst[] = {&out->pending, &out->running, &out->completed, &out->failed};
    memset(out, 0, sizeof *out);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    for (int i = 0; i < 4; i++)
        redisAppendCommand(c->rc, "SCARD kf:state:%s", names[i]);
    redisAppendCommand(c->rc, "XLEN %s", KFQ_DEAD);
    for (int i = 0; i < 5; i++) {
        void *v = NULL;
        if (redisGetReply(c->rc, &v) != REDIS_OK) {
            check_reply(c, NULL, err);
            return KF_EREDIS;
        }
        redisReply *r = v;
        if (r->type == REDIS_REPLY_INTEGER) {
            if (i < 4)
                *dst[i] = r->integer;
            else
                out->dead = r->integer;
        }
        freeReplyObject(r);
    }
    json_t *w = NULL;
    int rc = kfq_workers(c, &w, err);
    if (rc)
        return rc;
    out->workers = (int64_t)json_array_size(w);
    json_decref(w);
    return 0;
}

int kfq_board(struct kfq_conn *c, const char *def, json_t **out, struct kf_err *err)
{
    *out = NULL;
    redisReply *defs = NULL;
    json_t *o = json_object();
    int rc = 0;
    if (!def) {
        defs = kfq_command(c, err, "SMEMBERS kf:board:defs");
        if (!defs) { rc = KF_EREDIS; goto out; }
    }
    size_t n = def ? 1 : defs->elements;
    for (size_t i = 0; i < n; i++) {
        const char *d = def ? def : defs->element[i]->str;
        redisReply *h = kfq_command(c, err, "HVALS kf:board:%s", d);
        if (!h) { rc = KF_EREDIS; goto out; }
        json_t *a = json_array();
        for (size_t k = 0; k < h->elements; k++) {
            json_t *e = json_loadb(h->element[k]->str, h->element[k]->len, 0, NULL);
            if (e)
                json_array_append_new(a, e);
        }
        freeReplyObject(h);
        json_object_set_new(o, d, a);
    }
out:
    if (defs)
        freeReplyObject(defs);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int kfq_eval_hist(struct kfq_conn *c, int64_t counts[KFQ_HIST_N], double *sum,
                  struct kf_err *err)
{
    memset(counts, 0, sizeof(int64_t) * KFQ_HIST_N);
    *sum = 0;
    redisReply *r = kfq_command(c, err, "HGETALL kf:stats");
    if (!r)
        return KF_EREDIS;
    int64_t acc = 0;
    for (int i = 0; i < KFQ_HIST_N; i++) {
        char k[16];
        snprintf(k, sizeof k, "eval_b%d", i);
        const char *v = field(r, k);
        acc += v ? atoll(v) : 0;
        counts[i] = acc;
    }
    const char *s = field(r, "eval_sum");
    *sum = s ? atof(s) : 0;
    freeReplyObject(r);
    return 0;
}

/* ---- events -------------------------------------------------------------- */

int kfq_event(struct kfq_conn *c, const char *task_id, const char *status, int done, int total,
              struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XADD %s MAXLEN ~ %d * task_id %s status %s done %d total %d",
                                KFQ_EVENTS, KFQ_EVENTS_MAXLEN, task_id, status, done, total);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_events_read(struct kfq_conn *c, char last_id[64], int64_t block_ms, kfq_event_fn cb,
                    void *ctx, struct kf_err *err)
{
    if (strcmp(last_id, "$") == 0) {
        redisReply *r = kfq_command(c, err, "XREVRANGE %s + - COUNT 1", KFQ_EVENTS);
        if (!r)
            return KF_EREDIS;
        if (r->elements == 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
            snprintf(last_id, 64, "%s", r->element[0]->element[0]->str);
        else
            snprintf(last_id, 64, "0-0");
        freeReplyObject(r);
    }
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    set_timeout_ms(c, block_ms + CMD_TIMEOUT_MS);
    redisReply *r = kfq_command(c, err, "XREAD COUNT 1000 BLOCK %lld STREAMS %s %s",
                                (long long)block_ms, KFQ_EVENTS, last_id);
    set_timeout_ms(c, CMD_TIMEOUT_MS);
    if (!r)
        return KF_EREDIS;
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            snprintf(last_id, 64, "%s", e->element[0]->str);
            const char *tid = field(e->element[1], "task_id");
            const char *st = field(e->element[1], "status");
            if (tid && cb)
                cb(ctx, tid, st ? st : "");
            n++;
        }
    }
    freeReplyObject(r);
    return n;
}

/* ---- tasks: worker side --------------------------------------------------- */

void kfq_task_free(struct kfq_task *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->entry);
    free(t->definition);
    free(t->solution_name);
    free(t->team);
    json_decref(t->solution);
    json_decref(t->workloads);
    json_decref(t->config);
    free(t);
}

static void opts_defaults(const struct kfq_claim_opts *o, struct kfq_claim_opts *d)
{
    *d = *o;
    if (d->lease_ms <= 0)
        d->lease_ms = KFQ_DEFAULT_LEASE_MS;
    if (d->block_ms < 0)
        d->block_ms = 0;
    if (d->max_deliveries <= 0)
        d->max_deliveries = KFQ_MAX_DELIVERIES;
}

static int ack(struct kfq_conn *c, const char *entry, struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XACK %s %s %s", KFQ_STREAM, KFQ_GROUP, entry);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

static int64_t deliveries_of(struct kfq_conn *c, const char *entry, struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XPENDING %s %s %s %s 1", KFQ_STREAM, KFQ_GROUP, entry,
                                entry);
    if (!r)
        return KF_EREDIS;
    int64_t n = 1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements >= 4)
        n = r->element[0]->element[3]->integer;
    freeReplyObject(r);
    return n;
}

static int finish(struct kfq_conn *c, const char *id, const char *entry, const char *status,
                  const char *reason, struct kf_err *err)
{
    struct tx tx;
    char now[32];
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    snprintf(now, sizeof now, "%.3f", kfq_now());
    tx_begin(&tx, c);
    if (reason)
        tx_add(&tx, "HSET kf:task:%s status %s finished_at %s error %s", id, status, now, reason);
    else
        tx_add(&tx, "HSET kf:task:%s status %s finished_at %s", id, status, now);
    tx_add(&tx, "SREM kf:state:pending %s", id);
    tx_add(&tx, "SREM kf:state:running %s", id);
    tx_add(&tx, "SADD kf:state:%s %s", status, id);
    if (entry && *entry)
        tx_add(&tx, "XACK %s %s %s", KFQ_STREAM, KFQ_GROUP, entry);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status %s", KFQ_EVENTS, KFQ_EVENTS_MAXLEN, id,
           status);
    return tx_run(&tx, err);
}

/* Handle one delivered entry. Returns 0 with *out set (a task to run), 0
 * with *out NULL (skipped: dead-lettered, finished or vanished), or <0. */
static int take_entry(struct kfq_conn *c, const struct kfq_claim_opts *o, const char *entry,
                      const redisReply *fields, int64_t deliveries, struct kfq_task **out,
                      struct kf_err *err)
{
    const char *tid = field(fields, "task_id");
    redisReply *h = NULL, *s = NULL;
    struct tx tx;
    char now[32];
    int rc = 0;

    *out = NULL;
    if (!tid) {
        log_warn("queue", "stream entry without a task entry=%s: acknowledged", entry);
        return ack(c, entry, err);
    }
    if (deliveries > o->max_deliveries) {
        char reason[256];
        snprintf(reason, sizeof reason,
                 "dead-lettered after %lld deliveries: the workers that took it stopped "
                 "before finishing (lease %lld ms expired)",
                 (long long)(deliveries - 1), (long long)o->lease_ms);
        redisReply *r = kfq_command(c, err, "XADD %s * task_id %s entry %s deliveries %lld reason %s",
                                    KFQ_DEAD, tid, entry, (long long)(deliveries - 1), reason);
        if (!r)
            return KF_EREDIS;
        freeReplyObject(r);
        log_warn("queue", "task dead-lettered task=%s entry=%s deliveries=%lld", tid, entry,
                 (long long)(deliveries - 1));
        return finish(c, tid, entry, "failed", reason, err);
    }
    h = kfq_command(c, err, "HGETALL kf:task:%s", tid);
    if (!h)
        return KF_EREDIS;
    const char *status = field(h, "status");
    if (!status || is_status(status, "completed") || is_status(status, "failed")) {
        log_info("queue", "skipping entry of a %s task task=%s entry=%s",
                 status ? status : "vanished", tid, entry);
        rc = ack(c, entry, err);
        goto out;
    }
    const char *key = field(h, "solution_key");
    s = kfq_command(c, err, "GET kf:solution:%s", key ? key : "");
    if (!s) { rc = KF_EREDIS; goto out; }
    json_t *sol = s->type == REDIS_REPLY_STRING ? json_loadb(s->str, s->len, 0, NULL) : NULL;
    if (!sol) {
        rc = finish(c, tid, entry, "failed", "stored solution document is missing", err);
        goto out;
    }
    struct kfq_task *t = xcalloc(1, sizeof *t);
    t->id = xstrdup(tid);
    t->entry = xstrdup(entry);
    t->definition = xstrdup(field(h, "definition") ? field(h, "definition") : "");
    t->solution_name = xstrdup(field(h, "solution") ? field(h, "solution") : "");
    t->team = xstrdup(field(h, "team") ? field(h, "team") : "");
    t->solution = sol;
    const char *wl = field(h, "workloads");
    t->workloads = wl ? json_loads(wl, 0, NULL) : NULL;
    if (!json_is_array(t->workloads)) {
        json_decref(t->workloads);
        t->workloads = json_array();
    }
    const char *cfg = field(h, "config");
    t->config = cfg && cfg[0] ? json_loads(cfg, 0, NULL) : NULL;
    t->deliveries = deliveries;
    t->created_at = field(h, "created_at") ? atof(field(h, "created_at")) : 0;

    snprintf(now, sizeof now, "%.3f", kfq_now());
    tx_begin(&tx, c);
    tx_add(&tx,
           "HSET kf:task:%s status running started_at %s worker %s attempts %lld "
           "progress_done 0 progress_total %lld entry %s",
           tid, now, o->consumer, (long long)deliveries, (long long)json_array_size(t->workloads),
           entry);
    tx_add(&tx, "DEL kf:traces:%s", tid);
    tx_add(&tx, "SREM kf:state:pending %s", tid);
    tx_add(&tx, "SADD kf:state:running %s", tid);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status running done 0 total %lld", KFQ_EVENTS,
           KFQ_EVENTS_MAXLEN, tid, (long long)json_array_size(t->workloads));
    rc = tx_run(&tx, err);
    if (rc) {
        kfq_task_free(t);
        goto out;
    }
    log_info("queue", "task claimed task=%s entry=%s worker=%s delivery=%lld", tid, entry,
             o->consumer, (long long)deliveries);
    *out = t;
out:
    if (h)
        freeReplyObject(h);
    if (s)
        freeReplyObject(s);
    return rc;
}

int kfq_worker_claim(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                     struct kf_err *err)
{
    struct kfq_claim_opts o;
    char cursor[64] = "0-0";
    int rc;

    *out = NULL;
    opts_defaults(opts, &o);
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    /* 1. entries of dead consumers, idle longer than the lease */
    for (int iter = 0; iter < 64; iter++) {
        redisReply *r = kfq_command(c, err, "XAUTOCLAIM %s %s %s %lld %s COUNT 1", KFQ_STREAM,
                                    KFQ_GROUP, o.consumer, (long long)o.lease_ms, cursor);
        if (!r) {
            if (err && strstr(err->msg, "NOGROUP")) {
                if ((rc = kfq_init(c, err)))
                    return rc;
                continue;
            }
            return KF_EREDIS;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *entries = r->element[1];
        rc = 0;
        bool got = false;
        for (size_t i = 0; i < entries->elements && !*out; i++) {
            redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
                continue;   /* deleted entry (Redis 6.2 shape) */
            got = true;
            int64_t d = deliveries_of(c, e->element[0]->str, err);
            if (d < 0) {
                rc = (int)d;
                break;
            }
            rc = take_entry(c, &o, e->element[0]->str, e->element[1], d, out, err);
            if (rc)
                break;
        }
        freeReplyObject(r);
        if (rc || *out)
            return rc;
        (void)got;  /* skipped entries were acknowledged or dead-lettered */
        if (strcmp(cursor, "0-0") == 0)
            break;  /* the whole pending list was scanned */
    }
    /* 2. a new entry */
    set_timeout_ms(c, o.block_ms + CMD_TIMEOUT_MS);
    redisReply *r = o.block_ms > 0
        ? kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 BLOCK %lld STREAMS %s >", KFQ_GROUP,
                      o.consumer, (long long)o.block_ms, KFQ_STREAM)
        : kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s >", KFQ_GROUP,
                      o.consumer, KFQ_STREAM);
    set_timeout_ms(c, CMD_TIMEOUT_MS);
    if (!r) {
        if (err && strstr(err->msg, "NOGROUP"))
            return kfq_init(c, err);
        return KF_EREDIS;
    }
    rc = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements && !*out && !rc; i++) {
            redisReply *e = entries->element[i];
            rc = take_entry(c, &o, e->element[0]->str, e->element[1], 1, out, err);
        }
    }
    freeReplyObject(r);
    return rc;
}

int kfq_reclaim_own(struct kfq_conn *c, const struct kfq_claim_opts *opts, struct kfq_task **out,
                    struct kf_err *err)
{
    struct kfq_claim_opts o;
    *out = NULL;
    opts_defaults(opts, &o);
    for (;;) {
        redisReply *r = kfq_command(c, err, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s %s",
                                    KFQ_GROUP, o.consumer, KFQ_STREAM, c->own_cursor);
        if (!r)
            return KF_EREDIS;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->element[1]->elements == 0) {
            freeReplyObject(r);
            return 0;
        }
        redisReply *e = r->element[0]->element[1]->element[0];
        char entry[64];
        snprintf(entry, sizeof entry, "%s", e->element[0]->str);
        snprintf(c->own_cursor, sizeof c->own_cursor, "%s", entry);
        int rc;
        if (e->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = ack(c, entry, err);   /* deleted from the stream */
        } else {
            int64_t d = deliveries_of(c, entry, err);
            rc = d < 0 ? (int)d : take_entry(c, &o, entry, e->element[1], d, out, err);
        }
        freeReplyObject(r);
        if (rc || *out)
            return rc;
    }
}

int kfq_task_touch(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                   struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XCLAIM %s %s %s 0 %s JUSTID", KFQ_STREAM, KFQ_GROUP,
                                consumer, t->entry);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_task_progress(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                      int done, int total, struct kf_err *err)
{
    struct tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    tx_begin(&tx, c);
    tx_add(&tx, "HSET kf:task:%s progress_done %d progress_total %d", t->id, done, total);
    tx_add(&tx, "XCLAIM %s %s %s 0 %s JUSTID", KFQ_STREAM, KFQ_GROUP, consumer, t->entry);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status running done %d total %d", KFQ_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id, done, total);
    return tx_run(&tx, err);
}

int kfq_task_add_trace(struct kfq_conn *c, const struct kfq_task *t, const json_t *trace,
                       struct kf_err *err)
{
    char *s = kf_json_dumps(trace);
    redisReply *r = kfq_command(c, err, "RPUSH kf:traces:%s %s", t->id, s);
    free(s);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

/* Still the holder? A task whose lease was stolen is finished by the thief. */
static int owner_check(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                       struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "HMGET kf:task:%s worker status", t->id);
    if (!r)
        return KF_EREDIS;
    int rc = 0;
    if (r->element[0]->type == REDIS_REPLY_STRING && consumer &&
        strcmp(r->element[0]->str, consumer) != 0)
        rc = kf_err_set(err, KF_ECONFLICT, "worker", "task %s was taken over by worker %s",
                        t->id, r->element[0]->str);
    else if (r->element[1]->type == REDIS_REPLY_STRING &&
             (is_status(r->element[1]->str, "completed") || is_status(r->element[1]->str, "failed")))
        rc = kf_err_set(err, KF_ECONFLICT, "status", "task %s is already %s", t->id,
                        r->element[1]->str);
    freeReplyObject(r);
    return rc;
}

/* Leaderboard entry for this task from its traces (NULL if no trace). */
static json_t *board_entry(const struct kfq_task *t, const json_t *traces, double finished)
{
    size_t n = json_array_size(traces), passed = 0, nspeed = 0, nlat = 0;
    double speed = 0, lat = 0;
    const char *hw = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *ev = json_object_get(json_array_get(traces, i), "evaluation");
        const char *st = json_string_value(json_object_get(ev, "status"));
        const char *h = json_string_value(
            json_object_get(json_object_get(ev, "environment"), "hardware"));
        if (h && !hw)
            hw = h;
        if (!is_status(st, "PASSED"))
            continue;
        passed++;
        const json_t *perf = json_object_get(ev, "performance");
        const json_t *sp = json_object_get(perf, "speedup_factor");
        const json_t *la = json_object_get(perf, "latency_ms");
        if (json_is_number(sp)) {
            speed += json_number_value(sp);
            nspeed++;
        }
        if (json_is_number(la)) {
            lat += json_number_value(la);
            nlat++;
        }
    }
    if (!n)
        return NULL;
    json_t *wl = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *w = json_object_get(json_array_get(traces, i), "workload");
        const json_t *u = json_object_get(w, "uuid");
        if (json_is_string(u))
            json_array_append(wl, (json_t *)u);
    }
    const char *author = json_string_value(json_object_get(t->solution, "author"));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:f, s:o}",
                     "definition", t->definition, "solution", t->solution_name, "author",
                     author ? author : "", "hardware", hw ? hw : "unknown", "team",
                     t->team ? t->team : "", "task_id", t->id, "workloads_total", (json_int_t)n,
                     "workloads_passed", (json_int_t)passed, "mean_speedup",
                     nspeed ? json_real(speed / (double)nspeed) : json_null(), "mean_latency_ms",
                     nlat ? json_real(lat / (double)nlat) : json_null(), "last_evaluated",
                     finished, "workload_uuids", wl);
}

int kfq_task_complete(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                      struct kf_err *err)
{
    json_t *traces = NULL, *entry = NULL;
    redisReply *r = NULL;
    char now[32], *es = NULL;
    struct tx tx;
    int rc;

    if ((rc = owner_check(c, t, consumer, err)))
        return rc;
    if ((rc = kfq_task_traces(c, t->id, false, &traces, err)))
        return rc;
    double fin = kfq_now();
    snprintf(now, sizeof now, "%.3f", fin);
    entry = board_entry(t, traces, fin);

    r = kfq_command(c, err, "HGET kf:task:%s started_at", t->id);
    if (!r) { rc = KF_EREDIS; goto out; }
    double started = r->type == REDIS_REPLY_STRING ? atof(r->str) : fin;
    freeReplyObject(r);
    r = NULL;
    double dur = fin - started;
    if (dur < 0)
        dur = 0;
    int b = 0;
    while (b < KFQ_HIST_N - 1 && dur > kfq_hist_bounds[b])
        b++;

    if (entry) {
        /* a run over fewer workloads does not replace a fuller one */
        r = kfq_command(c, err, "HGET kf:board:%s %s|%s", t->definition, t->solution_name,
                        json_string_value(json_object_get(entry, "hardware")));
        if (!r) { rc = KF_EREDIS; goto out; }
        if (r->type == REDIS_REPLY_STRING) {
            json_t *old = json_loadb(r->str, r->len, 0, NULL);
            if (json_integer_value(json_object_get(old, "workloads_total")) >
                json_integer_value(json_object_get(entry, "workloads_total"))) {
                json_decref(entry);
                entry = NULL;
            }
            json_decref(old);
        }
        freeReplyObject(r);
        r = NULL;
    }
    tx_begin(&tx, c);
    tx_add(&tx, "HSET kf:task:%s status completed finished_at %s progress_done %lld", t->id, now,
           (long long)json_array_size(traces));
    tx_add(&tx, "SREM kf:state:pending %s", t->id);
    tx_add(&tx, "SREM kf:state:running %s", t->id);
    tx_add(&tx, "SADD kf:state:completed %s", t->id);
    tx_add(&tx, "XACK %s %s %s", KFQ_STREAM, KFQ_GROUP, t->entry);
    if (entry) {
        es = kf_json_dumps(entry);
        tx_add(&tx, "HSET kf:board:%s %s|%s %s", t->definition, t->solution_name,
               json_string_value(json_object_get(entry, "hardware")), es);
        tx_add(&tx, "SADD kf:board:defs %s", t->definition);
    }
    tx_add(&tx, "HINCRBY kf:stats eval_b%d 1", b);
    tx_add(&tx, "HINCRBYFLOAT kf:stats eval_sum %.3f", dur);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status completed", KFQ_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id);
    rc = tx_run(&tx, err);
    if (!rc)
        log_info("queue", "task completed task=%s traces=%zu seconds=%.3f", t->id,
                 json_array_size(traces), dur);
out:
    free(es);
    json_decref(entry);
    json_decref(traces);
    return rc;
}

int kfq_task_fail(struct kfq_conn *c, const struct kfq_task *t, const char *consumer,
                  const char *reason, struct kf_err *err)
{
    int rc = owner_check(c, t, consumer, err);
    if (rc)
        return rc;
    rc = finish(c, t->id, t->entry, "failed", reason ? reason : "failed", err);
    if (!rc)
        log_info("queue", "task failed task=%s reason=\"%s\"", t->id, reason ? reason : "");
    return rc;
}

int kfq_task_release(struct kfq_conn *c, const struct kfq_task *t, struct kf_err *err)
{
    struct tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    tx_begin(&tx, c);
    tx_add(&tx, "HSET kf:task:%s status pending worker %s", t->id, "");
    tx_add(&tx, "SREM kf:state:running %s", t->id);
    tx_add(&tx, "SADD kf:state:pending %s", t->id);
    tx_add(&tx, "XADD %s MAXLEN ~ %d * task_id %s status pending", KFQ_EVENTS,
           KFQ_EVENTS_MAXLEN, t->id);
    return tx_run(&tx, err);
}

int kfq_heartbeat(struct kfq_conn *c, const struct kfq_worker_info *w, int ttl_s,
                  struct kf_err *err)
{
    struct tx tx;
    char now[32], start[32];
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    snprintf(now, sizeof now, "%.3f", kfq_now());
    snprintf(start, sizeof start, "%.3f", w->started_at);
    tx_begin(&tx, c);
    tx_add(&tx,
           "HSET kf:worker:%s id %s host %s device %d hardware %s state %s task %s pid %lld "
           "started_at %s last_seen %s",
           w->id, w->id, w->host ? w->host : "", w->device, w->hardware ? w->hardware : "",
           w->state ? w->state : "idle", w->task_id ? w->task_id : "", (long long)w->pid, start,
           now);
    tx_add(&tx, "EXPIRE kf:worker:%s %d", w->id, ttl_s > 0 ? ttl_s : 30);
    tx_add(&tx, "SADD %s %s", KFQ_WORKER_SET, w->id);
    return tx_run(&tx, err);
}

int kfq_worker_gone(struct kfq_conn *c, const char *id, struct kf_err *err)
{
    struct tx tx;
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    tx_begin(&tx, c);
    tx_add(&tx, "DEL kf:worker:%s", id);
    tx_add(&tx, "SREM %s %s", KFQ_WORKER_SET, id);
    return tx_run(&tx, err);
}
