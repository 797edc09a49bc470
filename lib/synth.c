/* synth.c: generators for synthetic dataset inputs (see synth.h). No global
 * state; each function touches only its stream and outputs.
 */
#include <math.h>
#include <stdlib.h>

#include "dtype.h"
#include "synth.h"
#include "xalloc.h"

/* ---- random streams --------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t kf_synth_next(struct kf_synth_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

void kf_synth_rng_init(struct kf_synth_rng *r, uint64_t seed, const char *tag, uint64_t index)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a of the tag */
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    uint64_t x = seed ^ rotl(h, 17) ^ (index * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->have_spare = false;
}

uint64_t kf_synth_below(struct kf_synth_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t x = kf_synth_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            x = kf_synth_next(r);
            m = (__uint128_t)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int64_t kf_synth_range(struct kf_synth_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)kf_synth_below(r, (uint64_t)(hi - lo) + 1);
}

double kf_synth_uniform(struct kf_synth_rng *r)
{
    return (double)(kf_synth_next(r) >> 11) * 0x1.0p-53;
}

double kf_synth_normal(struct kf_synth_rng *r)
{
    if (r->have_spare) {
        r->have_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {   /* Marsaglia's polar method */
        u = 2.0 * kf_synth_uniform(r) - 1.0;
        v = 2.0 * kf_synth_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->have_spare = true;
    return u * f;
}

void kf_synth_pick_unique(struct kf_synth_rng *r, int64_t n, int64_t k, int64_t *out)
{
    /* Partial Fisher-Yates over 0..n-1 for dense picks; rejection against a
     * bitmap when k is small next to n (sparse sets in a large pool). */
    if (k <= 0)
        return;
    if (k * 8 >= n) {
        int64_t *a = xmalloc((size_t)n * sizeof *a);
        for (int64_t i = 0; i < n; i++)
            a[i] = i;
        for (int64_t i = 0; i < k; i++) {
            int64_t j = i + (int64_t)kf_synth_below(r, (uint64_t)(n - i));
            int64_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            out[i] = a[i];
        }
        free(a);
        return;
    }
    uint8_t *seen = xcalloc((size_t)(n + 7) / 8, 1);
    for (int64_t i = 0; i < k;) {
        int64_t v = (int64_t)kf_synth_below(r, (uint64_t)n);
        if (seen[v >> 3] & (1u << (v & 7)))
            continue;
        seen[v >> 3] |= (uint8_t)(1u << (v & 7));
        out[i++] = v;
    }
    free(seen);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void kf_synth_cu_seqlens(struct kf_synth_rng *r, int64_t total, int64_t nseqs, int64_t *cu)
{
    /* nseqs - 1 distinct cut points in 1..total-1: every sequence non-empty. */
    cu[0] = 0;
    cu[nseqs] = total;
    if (nseqs > 1) {
        kf_synth_pick_unique(r, total - 1, nseqs - 1, cu + 1);
        for (int64_t i = 1; i < nseqs; i++)
            cu[i] += 1;
        qsort(cu + 1, (size_t)(nseqs - 1), sizeof *cu, cmp_i64);
    }
}

void kf_synth_unit_bf16(struct kf_synth_rng *r, int64_t nvec, int64_t dim, uint16_t *out)
{
    float *v = xmalloc((size_t)dim * sizeof *v);
    for (int64_t i = 0; i < nvec; i++) {
        double ss = 0;
        for (int64_t d = 0; d < dim; d++) {
            v[d] = (float)kf_synth_normal(r);
            ss += (double)v[d] * v[d];
        }
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (int64_t d = 0; d < dim; d++)
            out[i * dim + d] = kf_f32_to_bf16((float)(v[d] * inv));
    }
    free(v);
}

void kf_synth_paged_slots(struct kf_synth_rng *r, int64_t num_pages, int64_t page_size,
                          int64_t seq_len, int64_t nvalid, int64_t width, int32_t *row)
{
    int64_t npages = (seq_len + page_size - 1) / page_size;
    int64_t *pages = xmalloc((size_t)(npages ? npages : 1) * sizeof *pages);
    int64_t *pos = xmalloc((size_t)(nvalid ? nvalid : 1) * sizeof *pos);
    /* page 0 is kept free, as serving engines reserve it for padding */
    kf_synth_pick_unique(r, num_pages - 1, npages, pages);
    kf_synth_pick_unique(r, seq_len, nvalid, pos);
    for (int64_t i = 0; i < nvalid; i++)
        row[i] = (int32_t)((pages[pos[i] / page_size] + 1) * page_size + pos[i] % page_size);
    for (int64_t i = nvalid; i < width; i++)
        row[i] = -1;
    free(pages);
    free(pos);
}

void kf_synth_block_table(struct kf_synth_rng *r, int64_t batch, int64_t max_pages,
                          int64_t num_pages, int64_t page_size, int32_t *seq_lens,
                          int32_t *table)
{
    int64_t *npages = xmalloc((size_t)batch * sizeof *npages), total = 0;
    int64_t widest = (int64_t)kf_synth_below(r, (uint64_t)batch);
    for (int64_t b = 0; b < batch; b++) {
        /* max_num_pages is the width of the table: the longest sequence fills it */
        npages[b] = b == widest ? max_pages : kf_synth_range(r, 1, max_pages);
        seq_lens[b] = (int32_t)((npages[b] - 1) * page_size + kf_synth_range(r, 1, page_size));
        total += npages[b];
    }
    /* sequences never share a page; page 0 is padding and never allocated */
    int64_t *ids = xmalloc((size_t)total * sizeof *ids), k = 0;
    kf_synth_pick_unique(r, num_pages - 1, total, ids);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < max_pages; i++)
            table[b * max_pages + i] = i < npages[b] ? (int32_t)(ids[k++] + 1) : 0;
    free(ids);
    free(npages);
}

