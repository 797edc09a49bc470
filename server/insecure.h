/* insecure.h: kf-server's start-up refusal of placeholder secrets. A tokens
 * file holding the example tokens (deploy/tokens.example: every token that
 * starts with "change-me"), a Redis password from the list of well-known
 * defaults ("change-me", "foobared", ...), or no password at all for a Redis
 * reached over TCP on a non-loopback address, stop the server unless
 * --insecure-dev is given (then each finding is only logged).
 * Stateless; thread-safe.
 */
#ifndef KF_SERVER_INSECURE_H
#define KF_SERVER_INSECURE_H

#include "kf_err.h"

/* The effective Redis password is `password` if set, else the URL's.
 * Returns 0 when nothing insecure was found, else KF_EINVAL with err naming
 * the first finding (path: "tokens-file" or "redis-password"). A tokens
 * file that cannot be read is left to the auth module to report. */
int api_insecure_check(const char *tokens_file, const char *redis_url, const char *password,
                       struct kf_err *err);

#endif
