/* fuzz_definition.c: libFuzzer target: a Definition document (axes,
 * constraints as expressions, tensors, reference) parsed and serialized
 * back. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kf_definition *d = NULL;
    struct kf_err err;
    json_t *j = fuzz_json(data, size);
    kf_log_set_level(KF_LOG_OFF);
    if (!j)
        return 0;
    if (kf_definition_from_json(j, &d, &err) == 0) {
        json_t *back = kf_definition_to_json(d);
        json_decref(back);
        kf_definition_free(d);
    }
    json_decref(j);
    return 0;
}
