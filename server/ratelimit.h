/* ratelimit.h: per-caller submission rate limit: ctx->rate_limit
 * submissions per ctx->rate_window seconds for each token (each client
 * address when auth is off); admin tokens are exempt. Thread-safe.
 */
#ifndef KF_SERVER_RATELIMIT_H
#define KF_SERVER_RATELIMIT_H

#include "api.h"

/* Count one submission against the caller's window: 0, or nonzero with
 * resp set to 429 + Retry-After (or 503 if Redis is down). */
int api_rate_check(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

#endif
