/* sha1.h: SHA-1 for content names (flashinfer-bench's Solution.hash() uses
 * SHA-1, so normalized names match its with_unique_name()) and ids. Not for
 * security. Thread-safe (no shared state).
 */
#ifndef KF_SERVER_SHA1_H
#define KF_SERVER_SHA1_H

#include <stddef.h>
#include <stdint.h>

struct api_sha1 { uint32_t h[5]; uint64_t len; unsigned char buf[64]; size_t nbuf; };

void api_sha1_init(struct api_sha1 *s);
void api_sha1_update(struct api_sha1 *s, const void *data, size_t len);
void api_sha1_final(struct api_sha1 *s, unsigned char out[20]);
/* Final digest as 40 lowercase hex chars + NUL. */
void api_sha1_hex(struct api_sha1 *s, char out[41]);

#endif
