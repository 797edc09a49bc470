/* inputs.h: device buffers of one trial. Inputs come from the workload:
 * `random` (flashinfer-bench distributions, generated on the GPU by the
 * built-in Philox kernel from a per-trial, per-input seed), `scalar` (by
 * value), `safetensors` (the dataset's blob, shape and dtype checked); a
 * per-definition hook replaces random tensors that need structure (the DSA
 * indexer's page-packed fp8 key cache). Outputs are allocated fresh per
 * trial. Every tensor sits between guard bytes (see guard.h).
 * Not thread-safe (one evaluation per process; the blob cache is static).
 */
#ifndef EV_INPUTS_H
#define EV_INPUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "bind.h"
#include "dataset.h"
#include "arena.h"
#include "evdev.h"
#include "model.h"

#define EV_GUARD_BYTES 4096
#define EV_GUARD_BYTE 0xA5

struct ev_buf {
    CUdeviceptr base; size_t alloc;     /* the whole allocation, guards included */
    CUdeviceptr ptr; size_t nbytes;     /* the tensor */
    uint64_t sum, sum_lo, sum_hi;       /* checksums: whole (inputs) or guards (outputs) */
    void *host;                         /* host copy (owned) or NULL */
};

struct ev_tensors {
    int n;
    struct ev_buf *buf;
    bool *present;                      /* false: absent optional input or scalar */
    double *scalar_f; int64_t *scalar_i;
    int hooked;                         /* index of a hook-filled input or -1 */
    struct ev_arena *arena;             /* buffers sub-allocated from it (borrowed), or NULL */
};

/* Per-trial seed for input i. Pure. */
uint64_t ev_input_seed(uint64_t trial_seed, int i);
/* Seed of trial t of workload uuid under the request seed. Pure. */
uint64_t ev_trial_seed(uint64_t req_seed, const char *uuid, int trial);

/* Allocate and fill the inputs, in arena's current slot (the buffers a
 * runner sees) or, with arena NULL, in buffers of their own. Errors (bad
 * blob, OOM) return a code with err set. */
int ev_inputs_make(struct ev_dev *d, const struct kf_dataset *ds, const struct kf_definition *def,
                   const struct kf_workload *w, const struct kf_binding *b, uint64_t seed,
                   struct ev_arena *arena, struct ev_tensors **out, struct kf_err *err);
/* Allocate outputs (guards set, data uninitialised), in arena as above. */
int ev_outputs_make(struct ev_dev *d, const struct kf_definition *def, const struct kf_binding *b,
                    struct ev_arena *arena, struct ev_tensors **out, struct kf_err *err);
void ev_tensors_free(struct ev_tensors *t);
/* Host copy of tensor i (downloaded once; borrowed). NULL if absent. */
const void *ev_tensor_host(struct ev_dev *d, struct ev_tensors *t, int i, struct kf_err *err);
/* Download every tensor to fresh host memory (replacing earlier copies). */
int ev_tensors_download(struct ev_dev *d, struct ev_tensors *t, struct kf_err *err);
/* Drop cached safetensors files. */
void ev_inputs_cache_clear(void);

#endif
