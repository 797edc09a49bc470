/* http.c: libmicrohttpd plumbing (see http.h). Thread-safe: per-connection
 * state lives in the connection; shared state is the read-mostly ctx. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "jsonio.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "router.h"
#include "xalloc.h"

struct api_http {
    struct MHD_Daemon *d;
    struct api_ctx *ctx;
    struct api_longpoll *lp;
    int port;
};

struct conn_state {
    struct api_http *h;
    struct MHD_Connection *conn;
    char *body; size_t len, cap;   /* cap bytes mapped or allocated (see body_*) */
    size_t reserved;               /* bytes counted against ctx->body_used */
    bool too_big;
    bool over_budget;              /* the body budget was exhausted mid-upload */
    bool answered;                 /* a response was queued before the body */
    const struct api_route *route; /* routed and authenticated on the headers */
    bool waiting;             /* suspended (or about to be resumed) */
    double deadline;
    /* from here on, set before use (not zeroed at allocation) */
    struct api_req req;            /* as parsed on the headers (MHD's strings live as
                                      long as the request) */
    char client[64];
    struct api_lp_waiter w;
};

/* Request bodies: buffers of 64 KiB and more are mapped, so that their
 * memory goes back to the system when the connection ends (malloc keeps
 * freed arena memory; 192 large uploads left ~1 GiB behind). */
#define BODY_MMAP_MIN (64u << 10)

static void body_free(struct conn_state *st)
{
    if (st->body && st->cap >= BODY_MMAP_MIN)
        munmap(st->body, st->cap);
    else
        free(st->body);
    st->body = NULL;
    st->len = st->cap = 0;
}

/* Make room for n bytes in total (plus a NUL). */
static void body_reserve(struct conn_state *st, size_t n)
{
    size_t nc = n + 1;
    if (nc <= st->cap)
        return;
    if (st->cap && nc < st->cap * 2)
        nc = st->cap * 2;   /* chunked bodies: grow geometrically */
    if (nc < BODY_MMAP_MIN) {
        if (nc < 4096)
            nc = 4096;
        st->body = xrealloc(st->body, nc);
        st->cap = nc;
        return;
    }
    nc = (nc + 4095) & ~(size_t)4095;
    void *p;
    if (st->cap >= BODY_MMAP_MIN)
        p = mremap(st->body, st->cap, nc, MREMAP_MAYMOVE);
    else {
        p = mmap(NULL, nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED && st->len)
            memcpy(p, st->body, st->len);
        if (p != MAP_FAILED)
            free(st->body);
    }
    if (p == MAP_FAILED)
        abort();   /* out of memory, as xrealloc */
    st->body = p;
    st->cap = nc;
}

/* Count n more body bytes against the server-wide budget. */
static bool budget_take(struct api_ctx *ctx, struct conn_state *st, size_t n)
{
    if (!ctx->body_budget)
        return true;
    size_t cur = atomic_load(&ctx->body_used);
    do {
        if (cur + n > ctx->body_budget)
            return false;
    } while (!atomic_compare_exchange_weak(&ctx->body_used, &cur, cur + n));
    st->reserved += n;
    return true;
}

static void budget_release(struct api_ctx *ctx, struct conn_state *st)
{
    if (st->reserved)
        atomic_fetch_sub(&ctx->body_used, st->reserved);
    st->reserved = 0;
}

static void resume_conn(void *conn)
{
    MHD_resume_connection(conn);
}

static void client_addr(struct MHD_Connection *conn, char *buf, size_t n);

/* The request line's query and the headers, gathered in one pass each. */
struct req_scan {
    struct api_req *req;
    int nargs;                   /* all query parameters (only API_MAX_QUERY are kept) */
    int ncontent_length;         /* Content-Length headers */
    const char *content_length;
};

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct req_scan *sc = cls;
    (void)kind;
    if (sc->req->nquery < API_MAX_QUERY)
        sc->req->query[sc->req->nquery++] = (struct api_kv){key, value ? value : ""};
    sc->nargs++;
    return MHD_YES;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct req_scan *sc = cls;
    struct api_req *req = sc->req;
    (void)kind;
    switch (key[0] | 0x20) {
    case 'a':
        if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
            req->authorization = value;
        break;
    case 'c':
        if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
            sc->ncontent_length++;
            sc->content_length = value;
        } else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
            req->content_type = value;
        break;
    case 'h':
        if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
            req->host = value;
        break;
    case 'o':
        if (strcasecmp(key, MHD_HTTP_HEADER_ORIGIN) == 0)
            req->origin = value;
        break;
    case 's':
        if (strcasecmp(key, "Sec-Fetch-Site") == 0)
            req->sec_fetch_site = value;
        break;
    default:
        break;
    }
    return MHD_YES;
}

/* The parts of api_req known from the request line and headers. */
static void fill_req(struct MHD_Connection *conn, const char *url, const char *method,
                     char *client, size_t client_len, struct api_req *req, struct req_scan *sc)
{
    /* all but the query pairs and captures, filled up to nquery / nparams */
    memset(req, 0, offsetof(struct api_req, query));
    req->nquery = 0;
    req->body = NULL;
    req->body_len = 0;
    req->authorization = req->origin = req->host = req->content_type = NULL;
    req->sec_fetch_site = req->client = NULL;
    req->nparams = 0;
    memset(&req->who, 0, sizeof req->who);
    req->wait_deadline = 0;
    memset(sc, 0, sizeof *sc);
    sc->req = req;
    req->method = method;
    req->path = url;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, scan_arg, sc);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, sc);
    client_addr(conn, client, client_len);
    req->client = client;
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct api_resp *resp)
{
    char *body;
    size_t len;
    const char *ctype;
    if (resp->text) {
        body = resp->text;
        len = resp->text_len;
        ctype = resp->content_type ? resp->content_type : "text/plain";
        resp->text = NULL;
    } else {
        body = resp->json ? kf_json_dumps(resp->json) : xstrdup("{}");
        len = strlen(body);
        ctype = "application/json";
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (resp->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->www_authenticate)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"kernelfarm\"");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct api_http *h, struct MHD_Connection *conn,
                                   const char *route, int status, const char *code,
                                   const char *msg)
{
    struct api_resp resp = {0};
    api_error(&resp, status, code, "", "%s", msg);
    if (status == 503)
        resp.retry_after = 1;
    api_metrics_request(h->ctx->metrics, route, status);
    enum MHD_Result r = send_resp(conn, &resp);
    api_resp_clear(&resp);
    return r;
}

static void client_addr(struct MHD_Connection *conn, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, n, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)n);
    else
        snprintf(buf, n, "local");
}

/* A response answered before the body: the route, auth, a header problem or
 * the body budget. resp is cleared. */
static enum MHD_Result answer_early(struct api_http *h, struct conn_state *st,
                                    const char *route, struct api_resp *resp)
{
    st->answered = true;
    api_metrics_request(h->ctx->metrics, route, resp->status);
    enum MHD_Result r = send_resp(st->conn, resp);
    api_resp_clear(resp);
    return r;
}

/* First call of a request: only the headers are known. Everything that can
 * refuse it is decided here, before one body byte is buffered. */
static enum MHD_Result on_headers(struct api_http *h, struct conn_state *st, const char *url,
                                  const char *method)
{
    struct api_ctx *ctx = h->ctx;
    struct MHD_Connection *conn = st->conn;
    struct api_req *req = &st->req;
    struct api_resp resp;
    struct req_scan sc;
    memset(&resp, 0, sizeof resp);
    fill_req(conn, url, method, st->client, sizeof st->client, req, &sc);
    if (sc.ncontent_length > 1) {
        api_error(&resp, 400, "invalid", "Content-Length", "%d Content-Length headers (one at most)",
                  sc.ncontent_length);
        return answer_early(h, st, "unmatched", &resp);
    }
    if (sc.nargs > API_MAX_QUERY) {
        api_error(&resp, 400, "invalid", "query", "%d query parameters (at most %d)", sc.nargs,
                  API_MAX_QUERY);
        return answer_early(h, st, "unmatched", &resp);
    }
    st->route = api_dispatch_begin(ctx, req, &resp);
    if (!st->route) {
        bool wrong;
        const struct api_route *m = api_route_find(req, &wrong, NULL, 0);
        return answer_early(h, st, m ? m->name : "unmatched", &resp);
    }
    const char *cl = sc.content_length;
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long len = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || errno) {
            api_error(&resp, 400, "invalid", "Content-Length", "not a byte count: '%.40s'", cl);
            return answer_early(h, st, st->route->name, &resp);
        }
        if (len > ctx->max_body) {
            st->too_big = true;
            api_error(&resp, 413, "too_large", "", "request body of %llu bytes is over the %zu "
                      "byte cap", len, ctx->max_body);
            return answer_early(h, st, st->route->name, &resp);
        }
        if (len > 0 && !budget_take(ctx, st, (size_t)len)) {
            api_error(&resp, 503, "unavailable", "", "too many request bodies in flight (%zu "
                      "bytes buffered at most); retry", ctx->body_budget);
            resp.retry_after = 1;
            return answer_early(h, st, st->route->name, &resp);
        }
        if (len > 0)
            body_reserve(st, (size_t)len);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct api_http *h = cls;
    struct api_ctx *ctx = h->ctx;
    struct conn_state *st = *con_cls;
    (void)version;

    if (!st) {
        /* zero all but the large arrays (waiter ids, query pairs, captures),
         * which are written before they are read: a full calloc per request
         * showed in the profile */
        st = xmalloc(sizeof *st);
        memset(st, 0, offsetof(struct conn_state, req));
        memset(&st->w, 0, offsetof(struct api_lp_waiter, ids));
        st->w.nids = 0;
        st->w.deadline = 0;
        st->w.registered = false;
        st->w.prev = st->w.next = NULL;
        st->h = h;
        st->conn = conn;
        *con_cls = st;
        return on_headers(h, st, url, method);
    }
    if (st->answered) {
        *upload_size = 0;   /* already answered: the rest is discarded */
        return MHD_YES;
    }
    if (*upload_size) {
        size_t add = *upload_size;
        if (!st->too_big && !st->over_budget) {
            if (st->len + add > ctx->max_body) {
                st->too_big = true;
            } else if (st->len + add > st->reserved && !budget_take(ctx, st, st->len + add -
                                                                               st->reserved)) {
                st->over_budget = true;
            } else {
                body_reserve(st, st->len + add);
                memcpy(st->body + st->len, upload_data, add);
                st->len += add;
            }
            if (st->too_big || st->over_budget) {
                body_free(st);
                budget_release(ctx, st);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is over the %zu byte cap", ctx->max_body);
        return reply_error(h, conn, st->route->name, 413, "too_large", msg);
    }
    if (st->over_budget) {
        char msg[160];
        snprintf(msg, sizeof msg, "too many request bodies in flight (%zu bytes buffered at "
                 "most); retry", ctx->body_budget);
        return reply_error(h, conn, st->route->name, 503, "unavailable", msg);
    }

    struct api_req *req = &st->req;   /* route captures and caller from the headers */
    struct api_resp resp;
    memset(&resp, 0, sizeof resp);
    req->body = st->body;
    req->body_len = st->len;
    req->wait_deadline = 0;
    if (st->waiting) {
        st->waiting = false;
        req->wait_deadline = st->deadline;
        api_metrics_waiting(ctx->metrics, -1);
    }
    const char *route = st->route->name;
    st->route->fn(ctx, req, &resp);
    if (resp.wait) {
        st->deadline = resp.wait_deadline;
        st->waiting = true;
        st->w.conn = conn;
        st->w.deadline = resp.wait_deadline;
        st->w.nids = 0;
        for (size_t i = 0; i < json_array_size(resp.wait_ids) && i < API_LP_MAX_IDS; i++)
            snprintf(st->w.ids[st->w.nids++], sizeof st->w.ids[0], "%s",
                     json_string_value(json_array_get(resp.wait_ids, i)));
        /* more ids than a waiter indexes: also re-check every second */
        if (json_array_size(resp.wait_ids) > API_LP_MAX_IDS && st->w.deadline > kfq_now() + 1.0)
            st->w.deadline = kfq_now() + 1.0;
        api_resp_clear(&resp);
        api_metrics_waiting(ctx->metrics, 1);
        /* suspend first, then register: a wake-up can only find a suspended
         * connection */
        MHD_suspend_connection(conn);
        if (api_lp_add(h->lp, &st->w))
            MHD_resume_connection(conn);
        return MHD_YES;
    }
    /* the body is parsed: its memory goes back before the answer is sent */
    body_free(st);
    budget_release(ctx, st);
    api_metrics_request(ctx->metrics, route, resp.status);
    log_debug("http", "request method=%s path=%s status=%d route=%s", method, url, resp.status,
              route);
    enum MHD_Result r = send_resp(conn, &resp);
    api_resp_clear(&resp);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_http *h = cls;
    struct conn_state *st = *con_cls;
    (void)conn;
    (void)toe;
    if (!st)
        return;
    api_lp_remove(h->lp, &st->w);
    if (st->waiting)
        api_metrics_waiting(h->ctx->metrics, -1);
    body_free(st);
    budget_release(h->ctx, st);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_warn("http", "libmicrohttpd: %s", buf);
}

int api_http_start(struct api_ctx *ctx, const struct api_http_opts *o, struct api_http **out,
                   struct kf_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* libmicrohttpd 0.9.75's epoll mode stalls keep-alive connections whose
     * next request arrives while a slow handler (a Redis round trip) runs:
     * their data sits unread until the connection times out (reproduced with
     * a bare MHD program and a 300 us handler at 256 connections). poll()
     * over each pool thread's own connections does not; suspended long-polls
     * are not in the polled set, so it stays cheap with 10,000 of them. */
    bool use_epoll = o->event_loop && strcmp(o->event_loop, "epoll") == 0;
    if (o->event_loop && !use_epoll && strcmp(o->event_loop, "poll") != 0)
        return kf_err_set(err, KF_EINVAL, "event-loop", "event-loop must be poll or epoll");
    unsigned flags = (use_epoll ? MHD_USE_EPOLL_INTERNAL_THREAD : MHD_USE_POLL_INTERNAL_THREAD) |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct api_http *h = xcalloc(1, sizeof *h);
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            goto bad_host;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            goto bad_host;
    }
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    h->ctx = ctx;
    h->lp = api_lp_new(ctx, resume_conn);
    if (api_lp_start(h->lp, err)) {
        api_lp_free(h->lp);
        free(h);
        return KF_EIO;
    }
    h->d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->conn_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_client,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!h->d) {
        api_lp_free(h->lp);
        free(h);
        return kf_err_set(err, KF_EIO, "listen",
                          "cannot listen on %s:%d (address in use or not permitted?)", host,
                          o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    log_info("http", "listening addr=%s port=%d threads=%d event_loop=%s max_connections=%d "
             "max_connections_per_client=%d", host, h->port, threads,
             use_epoll ? "epoll" : "poll", o->max_connections, o->max_per_client);
    *out = h;
    return 0;
bad_host:
    free(h);
    return kf_err_set(err, KF_EINVAL, "host", "not an IP address: '%s'", host);
}

int api_http_port(const struct api_http *h)
{
    return h->port;
}

void api_http_stop(struct api_http *h, int grace_ms)
{
    if (!h)
        return;
    atomic_store(&h->ctx->draining, true);
    atomic_store(&h->ctx->shutting_down, true);
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* waiting long-polls answer 503 + Retry-After */
    for (int waited = 0; waited <= grace_ms; waited += 20) {
        api_lp_wake_all(h->lp);
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (api_metrics_waiting_now(h->ctx->metrics) <= 0 &&
            (waited >= 200 || (di && di->num_connections == 0)))
            break;   /* idle keep-alive connections are just closed */
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    api_lp_stop(h->lp);
    api_lp_wake_all(h->lp);
    MHD_stop_daemon(h->d);
    api_lp_free(h->lp);
    free(h);
}
