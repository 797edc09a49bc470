/* builtin.h: the evaluator's own device kernels, as NVRTC source: random
 * fill with flashinfer-bench's distributions (Philox4x32-10), the DSA
 * indexer's page-packed fp8 key cache, an order-independent checksum and
 * the L2 flush kernels (write + discard, or a read sweep) run
 * before timed runs. Poison uses driver
 * memsets. Thread-safe (static text).
 */
#ifndef EV_BUILTIN_H
#define EV_BUILTIN_H

/* The source, with the kf_dtype codes substituted. Static string. */
const char *ev_builtin_source(void);

#define EV_BUILTIN_FILL "kf_fill_random"      /* (void*, u64 numel, int dtype, u64 seed) */
#define EV_BUILTIN_KCACHE "kf_fill_kcache"    /* (u8*, u64 npages, u64 seed) */
#define EV_BUILTIN_CHECKSUM "kf_checksum"     /* (const u8*, u64 nbytes, u64 *out) */
#define EV_BUILTIN_L2SWEEP "kf_l2_sweep"      /* (const u64*, u64 nwords, u64 *sink) */
#define EV_BUILTIN_L2FILL "kf_l2_fill"        /* (u64*, u64 nwords, u64 v) */
#define EV_BUILTIN_L2DISCARD "kf_l2_discard"  /* (const u8*, u64 nlines of 128 B) */

#endif
