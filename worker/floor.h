/* floor.h: speed-of-light floors. For one bound workload on one GPU model,
 * the least time any kernel that computes the definition could take: the
 * bytes that must cross HBM at least once over the GPU's peak bandwidth, and
 * the arithmetic the definition needs over the peak rate of the fastest unit
 * that could do it; the larger of the two, times a margin (0.8: 20% below
 * the theoretical peak). A measured latency under the floor is impossible for
 * an honest kernel: the judge leaves such a result unranked
 * (docs/runner.md, "What the judge checks"; docs/evaluator.md,
 * "Speed-of-light floors").
 *
 * Every model is a LOWER bound: it counts only traffic and arithmetic that
 * every correct kernel must do. Reads start from a cold L2 (the timer
 * flushes it), but writes may end in L2 (write-back), so up to the L2 size
 * of the output bytes is not charged to HBM. Terms that depend on tensor
 * values (which KV rows a DSA token selects, which experts MoE routes to, how long each
 * indexer sequence is, which GDN decays are 0 and which tokens a GDN
 * sequence covers) are counted from the inputs when the caller gives a host
 * view of them (ev_floor_compute_data) and otherwise take their minimum over
 * all inputs with these axes (often zero: then the floor is small, but
 * still true). The judge should pass its host copies of the inputs.
 *
 * Pure host code (no CUDA); thread-safe: no shared mutable state.
 */
#ifndef EV_FLOOR_H
#define EV_FLOOR_H

#include <jansson.h>
#include <stddef.h>

#include "bind.h"
#include "model.h"

/* Peak rates of one GPU model, dense (no 2:4 sparsity). Where one hardware
 * name covers several boards (evdev drops "SXM5", "NVL", "PCIe"), each rate
 * is the highest of them, so the floor holds on every board of that name. */
struct ev_gpu_peak {
    const char *hardware;      /* "NVIDIA_H100", as worker/evdev.c names devices */
    double hbm_bytes_per_s;
    double bf16_flops;         /* tensor cores */
    double fp8_flops;          /* tensor cores, e4m3 */
    double fp32_flops;         /* CUDA cores, FMA = 2 FLOPs */
    double l2_bytes;           /* L2 size: written lines may still sit there, dirty, when the
                                  timed call ends */
};

/* The table entry for hardware ("NVIDIA_H100", "NVIDIA_H200", "NVIDIA_B200");
 * NULL if unknown or NULL. Borrowed (static). */
const struct ev_gpu_peak *ev_gpu_peak_find(const char *hardware);

struct ev_floor {
    double bytes;       /* bytes that must move, at least once: inputs that must be read +
                           outputs written */
    double flops;       /* arithmetic that must be done, per the definition's cost model */
    double l2_credit;   /* written bytes that need not reach HBM inside the timed call:
                           min(output bytes, the L2 size) (L2 is write-back) */
    double mem_ms, compute_ms;   /* (bytes - l2_credit) / bandwidth, flops / peak (the
                                    model's dtype) */
    double floor_ms;    /* max(mem_ms, compute_ms) * margin; 0 when margin is 0 (disabled) */
    double margin;      /* as given, in [0, 1] */
    const char *model;  /* "gdn_decode", "gdn_prefill", "dsa_sparse_attention",
                           "dsa_topk_indexer", "moe_fp8_block_scale" or "generic_io" (static) */
    const char *hardware;   /* the peak table's name (static); NULL if unknown */
    const char *bound;      /* "bytes/bandwidth" or "FLOPs/peak": the larger term (static) */
    const char *peak;       /* the rate charged for flops: "bf16", "fp8" or "none" (static) */
    int from_data;      /* 1: the workload's inputs (values, which optional inputs are given)
                           were used; 0: the minimum over all inputs with these axes */
};

/* What the caller knows of the workload's inputs, to tighten the floor.
 * Every field may be NULL. */
struct ev_floor_data {
    const struct kf_workload *w;   /* borrowed: which optional inputs are given, scalar
                                      values (MoE local_expert_offset) */
    kf_input_data_fn data_fn;      /* host view of input i (its binding's nbytes, in the
                                      definition's dtype); NULL result = not on the host */
    void *ctx;
};

/* The floor of definition def bound by b, on hardware, with margin in [0, 1]
 * (0 = disabled: floor_ms 0, the other fields still filled). The model is
 * chosen by def->name; any other definition gets "generic_io". Data-dependent
 * terms take their minimum over all inputs (see above).
 * Errors: KF_EINVAL for a margin outside [0, 1] or a NULL argument;
 * KF_ENOENT for hardware not in the table (bytes, flops, model are still
 * filled; the times and hardware are 0 / NULL): the caller records "no floor
 * for this GPU". */
int ev_floor_compute(const struct kf_definition *def, const struct kf_binding *b,
                     const char *hardware, double margin, struct ev_floor *out,
                     struct kf_err *err);
/* The same, counting data-dependent terms from data (may be NULL; a missing
 * host view falls back to the minimum for that term). */
int ev_floor_compute_data(const struct kf_definition *def, const struct kf_binding *b,
                          const struct ev_floor_data *data, const char *hardware, double margin,
                          struct ev_floor *out, struct kf_err *err);

/* Is a timed result rankable? 0 = ranked, 1 = unranked, with why (n bytes,
 * may be NULL) saying each reason:
 *   - median_ms below f->floor_ms (f may be NULL: no floor for this GPU; a
 *     floor of 0 is disabled),
 *   - sum_samples_ms (the GPU time the runner reported for the timed calls)
 *     above judge_wall_ms (the judge's own wall time of those calls; <= 0 or
 *     not finite: not measured, no check),
 *   - median_ms or sum_samples_ms not finite or <= 0.
 * why is "" when ranked. Pure. */
int ev_floor_verdict(double median_ms, double sum_samples_ms, double judge_wall_ms,
                     const struct ev_floor *f, char *why, size_t n);

/* The floor as a JSON object (new reference) for a trace's extra fields:
 * {"model","hardware","bytes","flops","l2_credit","mem_ms","compute_ms",
 *  "floor_ms","margin","bound","peak","from_data"}. */
json_t *ev_floor_to_json(const struct ev_floor *f);

#endif
