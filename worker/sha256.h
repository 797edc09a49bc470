/* sha256.h: SHA-256 (FIPS 180-4) for content-addressed caches (compiled
 * cubins, reference outputs). Pure code; thread-safe (state is the caller's).
 */
#ifndef EV_SHA256_H
#define EV_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct ev_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
};

void ev_sha256_init(struct ev_sha256 *s);
void ev_sha256_update(struct ev_sha256 *s, const void *data, size_t n);
/* Feed a string with its length first, so concatenations cannot collide. */
void ev_sha256_str(struct ev_sha256 *s, const char *str);
void ev_sha256_final(struct ev_sha256 *s, uint8_t out[32]);
/* Final digest as 64 lowercase hex characters plus NUL. */
void ev_sha256_hex(struct ev_sha256 *s, char out[65]);

#endif
