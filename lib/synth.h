/* synth.h: the pure generators behind `kf synth` (cli/synth.c): a seeded
 * random stream (xoshiro256** seeded through splitmix64 from a seed, a tag
 * and an index, so every workload and purpose has its own reproducible
 * stream) and the structured inputs of the contest definitions: unique page
 * and slot picks, cu_seqlens partitions, block tables with matching
 * sequence lengths, L2-normalised bf16 vectors. A stream is not thread-safe;
 * separate streams are independent.
 */
#ifndef KF_SYNTH_H
#define KF_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

struct kf_synth_rng {
    uint64_t s[4];
    bool have_spare;
    double spare;
};

/* Seed the stream for (seed, tag, index). */
void kf_synth_rng_init(struct kf_synth_rng *r, uint64_t seed, const char *tag, uint64_t index);
uint64_t kf_synth_next(struct kf_synth_rng *r);
/* Uniform in [0, n) (0 if n <= 1), unbiased. */
uint64_t kf_synth_below(struct kf_synth_rng *r, uint64_t n);
/* Uniform in [lo, hi], lo <= hi. */
int64_t kf_synth_range(struct kf_synth_rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1) with 53 bits. */
double kf_synth_uniform(struct kf_synth_rng *r);
/* Standard normal. */
double kf_synth_normal(struct kf_synth_rng *r);

/* k distinct values of [0, n) in random order into out[k]; 0 <= k <= n. */
void kf_synth_pick_unique(struct kf_synth_rng *r, int64_t n, int64_t k, int64_t *out);
/* cu[0..nseqs]: 0 = cu[0] < cu[1] < ... < cu[nseqs] = total (every
 * sequence non-empty); 1 <= nseqs <= total. */
void kf_synth_cu_seqlens(struct kf_synth_rng *r, int64_t total, int64_t nseqs, int64_t *cu);
/* nvec vectors of dim N(0,1) values, each scaled to unit L2 norm, as bf16. */
void kf_synth_unit_bf16(struct kf_synth_rng *r, int64_t nvec, int64_t dim, uint16_t *out);
/* One row of `width` flat cache slots (page * page_size + offset) for a
 * sequence of seq_len tokens on ceil(seq_len / page_size) distinct pages of
 * 1..num_pages-1 (page 0 stays free): nvalid distinct slots of the sequence
 * (nvalid <= seq_len), then -1 up to width. */
void kf_synth_paged_slots(struct kf_synth_rng *r, int64_t num_pages, int64_t page_size,
                          int64_t seq_len, int64_t nvalid, int64_t width, int32_t *row);
/* A batch of sequences in a paged cache: seq_lens[batch] and
 * table[batch][max_pages]. Sequence b uses npages_b = ceil(seq_lens[b] /
 * page_size) in [1, max_pages] pages (one sequence uses exactly max_pages),
 * listed first in its row; pages are distinct across the batch and drawn
 * from 1..num_pages-1; the rest of a row is 0 (padding, never read).
 * Needs batch * max_pages <= num_pages - 1. */
void kf_synth_block_table(struct kf_synth_rng *r, int64_t batch, int64_t max_pages,
                          int64_t num_pages, int64_t page_size, int32_t *seq_lens,
                          int32_t *table);

#endif
