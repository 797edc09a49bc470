/* http.h: the libmicrohttpd plumbing: daemon (internal thread pool, poll or epoll,
 * connection limit and timeout, suspend/resume), request body accumulation
 * with a cap (413 before reading when Content-Length says so), conversion
 * to api_req / from api_resp, long-poll suspension, graceful stop.
 * Thread-safe: one server per process; handlers run on the pool threads.
 */
#ifndef KF_SERVER_HTTP_H
#define KF_SERVER_HTTP_H

#include <stdint.h>

#include "api.h"

struct api_http_opts {
    const char *host;        /* "127.0.0.1", "0.0.0.0", "::" */
    int port;                /* 0: any free port */
    int threads;             /* pool size (0: number of cores) */
    int max_connections;
    int max_per_client;      /* connections per client address (0: no cap) */
    int conn_timeout_s;      /* idle keep-alive timeout (suspended ones excluded) */
    const char *event_loop;  /* "poll" (default) or "epoll" (see http.c) */
};

struct api_http;

int api_http_start(struct api_ctx *ctx, const struct api_http_opts *o, struct api_http **out,
                   struct kf_err *err);
int api_http_port(const struct api_http *h);
/* Graceful: stop accepting, answer waiting long-polls 503, finish in-flight
 * requests (up to grace_ms), stop the daemon and free. */
void api_http_stop(struct api_http *h, int grace_ms);

#endif
