/* fuzz_trace.c: libFuzzer target: a FlashInfer-Trace document validated as
 * kf-server and the CLI do, and its kind detected. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kf_err err;
    json_t *j = fuzz_json(data, size);
    if (!j)
        return 0;
    kf_trace_validate(j, &err);
    kf_model_detect_kind(j);
    json_decref(j);
    return 0;
}
