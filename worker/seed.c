/* seed.c: SipHash-2-4 (Aumasson and Bernstein's reference definition) and
 * the task seed derivation (see seed.h). Thread-safe.
 */
#include "seed.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#define SIPROUND                                                                  \
    do {                                                                          \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                 \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                    \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                    \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                 \
    } while (0)

uint64_t wk_siphash(const uint8_t k[16], const void *msg, size_t len)
{
    const uint8_t *in = msg;
    uint64_t k0 = load64(k), k1 = load64(k + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t left = len & 7;
    const uint8_t *end = in + len - left;

    for (; in != end; in += 8) {
        m = load64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t wk_seed_derive(const char *secret, const char *task_id)
{
    static const char label[] = "kernelfarm-task-seed";   /* with its NUL */
    uint8_t fixed[16], key[16], msg[sizeof label + 64];
    size_t slen = secret ? strlen(secret) : 0, tlen = strlen(task_id);
    uint64_t h;

    if (tlen > 64)
        tlen = 64;   /* task ids are at most 64 characters (kfq_valid_task_id) */
    for (int i = 0; i < 16; i++)
        fixed[i] = (uint8_t)i;
    h = wk_siphash(fixed, secret ? secret : "", slen);
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(h >> (8 * i));
    fixed[0] ^= 0x80;
    h = wk_siphash(fixed, secret ? secret : "", slen);
    for (int i = 0; i < 8; i++)
        key[8 + i] = (uint8_t)(h >> (8 * i));
    memcpy(msg, label, sizeof label);
    memcpy(msg + sizeof label, task_id, tlen);
    return wk_siphash(key, msg, sizeof label + tlen);
}
