/* arena.c: the shared device arena. See arena.h. */
#include "arena.h"

#include <string.h>

#include "evdev.h"

static size_t round_up(size_t n)
{
    return (n + EV_ARENA_ALIGN - 1) / EV_ARENA_ALIGN * EV_ARENA_ALIGN;
}

size_t ev_arena_tensor_bytes(size_t nbytes, size_t guard)
{
    return round_up(nbytes + 2 * guard);
}

int ev_arena_create(struct ev_arena *a, size_t slot_bytes, int nslots, struct kf_err *err)
{
    CUresult r;
    memset(a, 0, sizeof *a);
    if (nslots < 1)
        nslots = 1;
    a->slot_bytes = round_up(slot_bytes ? slot_bytes : EV_ARENA_ALIGN);
    a->nslots = nslots;
    a->bytes = a->slot_bytes * (size_t)nslots;
    if ((r = cuMemAlloc(&a->base, a->bytes)) != CUDA_SUCCESS) {
        a->base = 0;
        return kf_err_set(err, KF_ECUDA, "arena", "cannot allocate the %zu-byte arena: %s",
                          a->bytes, ev_cu_str(r));
    }
    ev_arena_slot(a, 0);
    return 0;
}

void ev_arena_slot(struct ev_arena *a, int s)
{
    if (s < 0 || s >= a->nslots)
        s = 0;
    a->used = a->slot_bytes * (size_t)s;
    a->slot_end = a->used + a->slot_bytes;
}

int ev_arena_alloc(struct ev_arena *a, size_t n, CUdeviceptr *p, struct kf_err *err)
{
    size_t need = round_up(n ? n : 1);
    if (!a->base || need > a->slot_end - a->used)
        return kf_err_set(err, KF_ETOOBIG, "arena", "arena slot exhausted: %zu more bytes, %zu left",
                          need, a->base ? a->slot_end - a->used : 0);
    *p = a->base + a->used;
    a->used += need;
    return 0;
}

void ev_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char dig[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = dig[in[i] >> 4];
        out[2 * i + 1] = dig[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ev_hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return KF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return KF_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int ev_arena_export(const struct ev_arena *a, char hex[EV_ARENA_HANDLE_HEX + 1], struct kf_err *err)
{
    CUipcMemHandle h;
    CUresult r;
    if ((r = cuIpcGetMemHandle(&h, a->base)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuIpcGetMemHandle");
    ev_hex_encode((const unsigned char *)h.reserved, CU_IPC_HANDLE_SIZE, hex);
    return 0;
}

void ev_arena_destroy(struct ev_arena *a, int skip_cuda)
{
    if (a->base && !skip_cuda)
        cuMemFree(a->base);
    memset(a, 0, sizeof *a);
}

int ev_arena_open(const char *hex, CUdeviceptr *base, struct kf_err *err)
{
    CUipcMemHandle h;
    CUresult r;
    if (ev_hex_decode(hex, (unsigned char *)h.reserved, CU_IPC_HANDLE_SIZE))
        return kf_err_set(err, KF_EINVAL, "handle", "arena handle is not %d hex digits",
                          EV_ARENA_HANDLE_HEX);
    if ((r = cuIpcOpenMemHandle(base, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS)) != CUDA_SUCCESS)
        return ev_cu_err(err, r, "cuIpcOpenMemHandle");
    return 0;
}

void ev_arena_close(CUdeviceptr base)
{
    if (base)
        cuIpcCloseMemHandle(base);
}
