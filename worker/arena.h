/* arena.h: the device memory the judge shares with the runner (docs/runner.md).
 * One cuMemAlloc block per workload, exported once with cuIpcGetMemHandle
 * and opened once by the runner; tensors are sub-allocated from it by a
 * bump pointer, per trial "slot", so consecutive trials get different
 * addresses (no memoisation by pointer) without a new handle each trial.
 * Judge side: create/alloc/export/destroy. Runner side: open/close.
 * Not thread-safe.
 */
#ifndef EV_ARENA_H
#define EV_ARENA_H

#include <stddef.h>

#include "cudrv.h"
#include "kf_err.h"

#define EV_ARENA_ALIGN 512
#define EV_ARENA_HANDLE_HEX (2 * CU_IPC_HANDLE_SIZE)

struct ev_arena {
    CUdeviceptr base;
    size_t bytes;          /* whole block */
    size_t slot_bytes;     /* bytes of one trial slot */
    int nslots;
    size_t used;           /* bump pointer (absolute offset) */
    size_t slot_end;       /* end of the current slot */
};

/* Bytes a tensor of nbytes takes in a slot, guards and alignment included. Pure. */
size_t ev_arena_tensor_bytes(size_t nbytes, size_t guard);
/* Allocate nslots slots of slot_bytes each (rounded up to the alignment). */
int ev_arena_create(struct ev_arena *a, size_t slot_bytes, int nslots, struct kf_err *err);
/* Start slot s (0 <= s < nslots): later allocations come from it. */
void ev_arena_slot(struct ev_arena *a, int s);
/* Sub-allocate n bytes (aligned) from the current slot: 0 and *p, or KF_ETOOBIG. */
int ev_arena_alloc(struct ev_arena *a, size_t n, CUdeviceptr *p, struct kf_err *err);
/* The IPC handle as EV_ARENA_HANDLE_HEX lower-case hex digits plus NUL. */
int ev_arena_export(const struct ev_arena *a, char hex[EV_ARENA_HANDLE_HEX + 1], struct kf_err *err);
/* Free the block (skip_cuda: the context is gone); safe on a zeroed arena. */
void ev_arena_destroy(struct ev_arena *a, int skip_cuda);

/* Runner side: open a handle exported by the judge. */
int ev_arena_open(const char *hex, CUdeviceptr *base, struct kf_err *err);
void ev_arena_close(CUdeviceptr base);

/* Hex <-> bytes for handles; 0, or KF_EINVAL on a malformed string. Pure. */
int ev_hex_decode(const char *hex, unsigned char *out, size_t n);
void ev_hex_encode(const unsigned char *in, size_t n, char *out);

#endif
