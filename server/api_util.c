/* api_util.c: response builders, query lookup and the per-thread Redis
 * connection used by handlers. Thread-safe (the connection is thread-local). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "xalloc.h"

const char *api_query(const struct api_req *req, const char *key)
{
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value ? req->query[i].value : "";
    return NULL;
}

void api_resp_clear(struct api_resp *resp)
{
    json_decref(resp->json);
    json_decref(resp->wait_ids);
    free(resp->text);
    memset(resp, 0, sizeof *resp);
}

void api_json(struct api_resp *resp, int status, json_t *body)
{
    json_decref(resp->json);
    free(resp->text);
    resp->text = NULL;
    resp->status = status;
    resp->json = body;
}

void api_text(struct api_resp *resp, int status, const char *content_type, char *text, size_t len)
{
    json_decref(resp->json);
    resp->json = NULL;
    free(resp->text);
    resp->status = status;
    resp->text = text;
    resp->text_len = len;
    resp->content_type = content_type;
}

void api_error(struct api_resp *resp, int status, const char *code, const char *path,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_json(resp, status, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "message", msg,
                                     "path", path ? path : ""));
}

int api_status_of(int kf_code)
{
    switch (kf_code) {
    case KF_EINVAL: return 400;
    case KF_EUNSUP: return 400;
    case KF_ENOENT: return 404;
    case KF_ECONFLICT: return 409;
    case KF_ETOOBIG: return 413;
    case KF_EAUTH: return 401;
    case KF_EPERM: return 403;
    case KF_ELIMIT: return 429;
    case KF_EREDIS: return 503;
    case KF_ETIMEOUT: return 504;
    default: return 500;
    }
}

void api_error_from(struct api_resp *resp, const struct kf_err *err)
{
    int st = api_status_of(err->code);
    api_error(resp, st, kf_strerror(err->code), err->path, "%s", err->msg);
    if (st == 503)
        resp->retry_after = 1;
}

static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static void conn_free(void *p)
{
    kfq_close(p);
}

static void conn_key_init(void)
{
    pthread_key_create(&conn_key, conn_free);
}

struct kfq_conn *api_redis(struct api_ctx *ctx)
{
    if (ctx->redis_override)
        return ctx->redis_override;
    pthread_once(&conn_once, conn_key_init);
    struct kfq_conn *c = pthread_getspecific(conn_key);
    if (!c) {
        struct kf_err e;
        if (kfq_connect(ctx->redis_url, ctx->redis_password, true, &c, &e)) {
            /* only a malformed URL fails here; main() checked it already */
            log_error("server", "redis url rejected: %s", e.msg);
            abort();
        }
        pthread_setspecific(conn_key, c);
    }
    return c;
}

json_t *api_waiting_for(struct api_ctx *ctx, const json_t *task, long *served)
{
    const char *st = json_string_value(json_object_get(task, "status"));
    if (!st || strcmp(st, "pending") != 0)
        return json_null();
    if (*served < 0) {
        unsigned set = 0;
        struct kf_err e;
        if (kfq_lanes_served(api_redis(ctx), &set, &e) != 0)
            return json_null();
        *served = (long)set;
    }
    char *why = kfq_waiting_for(task, (unsigned)*served);
    json_t *v = why ? json_string(why) : json_null();
    free(why);
    return v;
}
