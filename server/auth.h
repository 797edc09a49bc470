/* auth.h: bearer tokens with roles (read, submit, admin) and teams (the
 * rate limit is server/ratelimit.h). Tokens come from a file (one per line:
 * "TOKEN NAME TEAM ROLES", roles comma-separated; '#' comments) or from the
 * Redis hash kf:tokens (field TOKEN, value "NAME TEAM ROLES"). Mode "auto"
 * turns auth on when a tokens file is given or the listen address is not
 * loopback; "off" gives every caller every role in team "". Thread-safe
 * after api_auth_new (read-only table).
 */
#ifndef KF_SERVER_AUTH_H
#define KF_SERVER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

/* New auth table; free with api_auth_free. KF_EINVAL with err for a bad mode
 * or tokens file, or "on" without any token source. */
int api_auth_new(const char *mode, const char *tokens_file, bool loopback, bool redis_tokens,
                 struct api_auth **out, struct kf_err *err);
void api_auth_free(struct api_auth *a);
bool api_auth_enabled(const struct api_auth *a);
/* Fill req->who; 0 if the caller may use a route needing `role` (0 =
 * public), else nonzero with resp set to 401 or 403. */
int api_auth_check(struct api_ctx *ctx, struct api_req *req, unsigned role, struct api_resp *resp);
/* May who read data of this team? (admin: any; auth off: all) */
bool api_can_see(const struct api_principal *who, const char *team);

#endif
