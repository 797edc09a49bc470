/* tvmffi_abi.h: the parts of the tvm-ffi C ABI (apache-tvm-ffi 0.1.x,
 * tvm/ffi/c_api.h and extra/c_env_api.h) and of DLPack 1.x that the tvm-ffi
 * lane uses, declared here so that kernelfarm builds without the package's
 * headers: the runner reaches libtvm_ffi.so only through dlsym on the
 * solution's shared object. Layouts are facts of the ABI; the lane's unit
 * test (tests/unit/test_lane_tvmffi.c) checks them end to end against a
 * solution compiled with the real headers. Types only; thread-safe.
 */
#ifndef EV_TVMFFI_ABI_H
#define EV_TVMFFI_ABI_H

#include <stddef.h>
#include <stdint.h>

/* ---- DLPack ---------------------------------------------------------------- */

enum { EV_DL_CPU = 1, EV_DL_CUDA = 2 };

enum {   /* DLDataTypeCode */
    EV_DL_INT = 0, EV_DL_UINT = 1, EV_DL_FLOAT = 2, EV_DL_BFLOAT = 4, EV_DL_BOOL = 6,
    EV_DL_FLOAT8_E4M3FN = 10, EV_DL_FLOAT8_E5M2 = 12, EV_DL_FLOAT4_E2M1FN = 17,
};

struct ev_dl_device { int32_t device_type; int32_t device_id; };
struct ev_dl_dtype { uint8_t code; uint8_t bits; uint16_t lanes; };

struct ev_dl_tensor {
    void *data;
    struct ev_dl_device device;
    int32_t ndim;
    struct ev_dl_dtype dtype;
    int64_t *shape;
    int64_t *strides;       /* NULL: compact row-major */
    uint64_t byte_offset;
};

struct ev_dl_version { uint32_t major; uint32_t minor; };

struct ev_dl_managed {      /* DLManagedTensorVersioned */
    struct ev_dl_version version;
    void *manager_ctx;
    void (*deleter)(struct ev_dl_managed *self);
    uint64_t flags;
    struct ev_dl_tensor dl_tensor;
};

/* DLPackManagedTensorAllocator */
typedef int (*ev_dl_allocator)(struct ev_dl_tensor *prototype, struct ev_dl_managed **out,
                               void *error_ctx,
                               void (*set_error)(void *error_ctx, const char *kind,
                                                 const char *message));

/* ---- tvm-ffi ---------------------------------------------------------------- */

enum {   /* TVMFFITypeIndex (the static ones the lane meets) */
    EV_FFI_NONE = 0, EV_FFI_INT = 1, EV_FFI_BOOL = 2, EV_FFI_FLOAT = 3,
    EV_FFI_DLTENSOR_PTR = 7, EV_FFI_STATIC_OBJECT_BEGIN = 64, EV_FFI_ERROR = 67,
    EV_FFI_TENSOR = 70, EV_FFI_ARRAY = 71, EV_FFI_LIST = 75,
};

struct ev_ffi_object {      /* TVMFFIObject: the header of every object */
    uint64_t combined_ref_count;
    int32_t type_index;
    uint32_t padding;
    void (*deleter)(void *self, int flags);
};

struct ev_ffi_any {         /* TVMFFIAny: 16 bytes */
    int32_t type_index;
    uint32_t zero_padding;
    union {
        int64_t v_int64;
        double v_float64;
        void *v_ptr;
        struct ev_ffi_object *v_obj;
    } v;
};

struct ev_ffi_bytes { const char *data; size_t size; };   /* TVMFFIByteArray */

struct ev_ffi_error_cell {  /* follows the header of an Error object */
    struct ev_ffi_bytes kind;
    struct ev_ffi_bytes message;
    struct ev_ffi_bytes backtrace;
};

struct ev_ffi_seq_cell {    /* follows the header of an Array/List object */
    void *data;             /* struct ev_ffi_any[size] */
    int64_t size;
    int64_t capacity;
};

/* The exported symbol __tvm_ffi_<name> (TVMFFISafeCallType): 0, or -1 with
 * the error raised in thread-local state. */
typedef int (*ev_ffi_safe_call)(void *self, const struct ev_ffi_any *args, int32_t num_args,
                                struct ev_ffi_any *result);

/* The object's payload: DLTensor for Tensor, cells for Error/Array. */
#define EV_FFI_PAYLOAD(obj) ((void *)((char *)(obj) + sizeof(struct ev_ffi_object)))

#endif
