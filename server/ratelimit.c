/* ratelimit.c: the per-caller submission rate limit (see ratelimit.h). A
 * fixed window counted in Redis (INCR kf:rl:<caller>:<window>), so every
 * server behind a load balancer shares it. Thread-safe. */
#include "ratelimit.h"
#include "keys.h"

#include <stdio.h>

int api_rate_check(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    if (ctx->rate_limit <= 0)
        return 0;
    if ((req->who.roles & API_ROLE_ADMIN) && req->who.authenticated)
        return 0;   /* admin tokens are not limited */
    double now = kfq_now();
    int64_t win = (int64_t)now / ctx->rate_window;
    struct kf_err e;
    struct kfq_conn *c = api_redis(ctx);
    redisReply *r = kfq_command(c, &e, "INCR " KFK_RL, req->who.name, (long long)win);
    if (!r) {
        api_error_from(resp, &e);
        resp->retry_after = 1;
        return 1;
    }
    long long n = r->integer;
    freeReplyObject(r);
    if (n == 1) {
        r = kfq_command(c, &e, "EXPIRE " KFK_RL " %lld", req->who.name, (long long)win,
                        (long long)ctx->rate_window * 2);
        if (r)
            freeReplyObject(r);
    }
    if (n > ctx->rate_limit) {
        int retry = (int)((win + 1) * ctx->rate_window - (int64_t)now);
        api_error(resp, 429, "rate_limited", "",
                  "more than %lld submissions in %lld s for '%s'", (long long)ctx->rate_limit,
                  (long long)ctx->rate_window, req->who.name);
        resp->retry_after = retry > 0 ? retry : 1;
        return 1;
    }
    return 0;
}

