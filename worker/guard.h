/* guard.h: tamper checks around a solution's run: outputs poisoned before
 * each checked run (NaN bytes for floats, 0x5A for integers), guard bytes
 * around every input and output, checksums of every input (guards included)
 * and of every output's guards before and after. Not thread-safe.
 */
#ifndef EV_GUARD_H
#define EV_GUARD_H

#include <stddef.h>

#include "inputs.h"

/* Poison every output's data bytes (enqueued on the device stream). */
CUresult ev_poison_outputs(struct ev_dev *d, const struct kf_definition *def, struct ev_tensors *o);
/* Record checksums: inputs whole, outputs' guards. */
CUresult ev_guard_snapshot(struct ev_dev *d, struct ev_tensors *in, struct ev_tensors *o);
/* Compare with the snapshot. Returns CUDA_SUCCESS and *violations (0 if
 * clean) with msg naming the first ("input 'q' was modified", "write
 * outside output 'output' (after its end)"). */
CUresult ev_guard_check(struct ev_dev *d, const struct kf_definition *def, struct ev_tensors *in,
                        struct ev_tensors *o, int *violations, char *msg, size_t msgn);

#endif
