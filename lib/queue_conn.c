/* queue_conn.c: the Redis connection of the task protocol (queue.h): URL
 * parsing, connect/reconnect with backoff, one command, the MULTI/EXEC
 * helper, reply helpers, ids and time. A struct kfq_conn is used by one
 * thread at a time; no global state. */
#include "queue.h"
#include "queue_int.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

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
        if (colon && colon > p)   /* redis://user:pw@host: an ACL user */
            c->user = xstrndup(p, (size_t)(colon - p));
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

void kfq__set_timeout_ms(struct kfq_conn *c, int64_t ms)
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
    kfq__set_timeout_ms(c, KFQ__CMD_TIMEOUT_MS);
    if (!c->path)
        redisEnableKeepAlive(rc);
    if (c->password && c->password[0]) {
        redisReply *r = c->user ? redisCommand(rc, "AUTH %s %s", c->user, c->password)
                                : redisCommand(rc, "AUTH %s", c->password);
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
    free(c->user);
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

redisReply *kfq__check_reply(struct kfq_conn *c, redisReply *r, struct kf_err *err)
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
        kfq__check_reply(c, NULL, err);   /* marks broken; next try reconnects at once */
    }
    return kfq__check_reply(c, r, err);
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
        kfq__check_reply(c, NULL, err);
    }
    return kfq__check_reply(c, r, err);
}

/* A MULTI ... EXEC transaction: begin, append commands, finish. */

void kfq__tx_begin(struct kfq__tx *tx, struct kfq_conn *c)
{
    tx->c = c;
    tx->n = 0;
    tx->failed = !c->rc;
    if (!tx->failed && redisAppendCommand(c->rc, "MULTI") != REDIS_OK)
        tx->failed = true;
}

void kfq__tx_add(struct kfq__tx *tx, const char *fmt, ...)
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
redisReply *kfq__tx_exec(struct kfq__tx *tx, struct kf_err *err)
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
            return kfq__check_reply(c, NULL, err);
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

int kfq__tx_run(struct kfq__tx *tx, struct kf_err *err)
{
    redisReply *r = kfq__tx_exec(tx, err);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_init(struct kfq_conn *c, struct kf_err *err)
{
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    /* Load every script now, so that a Redis without Lua or a script that
     * does not compile is reported at start, not at the first task. */
    for (int s = 0; s < KFQ__NSCRIPTS; s++) {
        redisReply *r = kfq_command(c, err, "SCRIPT LOAD %s", kfq__script_text(s));
        if (!r)
            return KF_EREDIS;
        if (r->type == REDIS_REPLY_STRING)
            snprintf(c->sha[s], sizeof c->sha[s], "%s", r->str);
        freeReplyObject(r);
    }
    return 0;
}

/* ---- reply helpers ------------------------------------------------------- */

/* Field value of a flat [k, v, k, v] reply (HGETALL, stream fields); borrowed. */
const char *kfq__field(const redisReply *r, const char *name)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1]->type == REDIS_REPLY_STRING ? r->element[i + 1]->str : NULL;
    return NULL;
}


bool kfq__is_status(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

json_t *kfq__num_or_null(const char *s, bool integer)
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

