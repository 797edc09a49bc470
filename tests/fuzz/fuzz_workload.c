/* fuzz_workload.c: libFuzzer target: a Workload (bare or a dataset line)
 * parsed, checked against a definition (axes, inputs, constraints) and
 * serialized back. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kf_definition *d = fuzz_definition();
    struct kf_workload *w = NULL;
    struct kf_err err;
    char *defname = NULL;
    json_t *j = fuzz_json(data, size);
    if (!j)
        return 0;
    if (kf_workload_from_json(j, &w, &defname, &err) == 0) {
        if (kf_workload_check(w, d, &err) == 0)
            kf_workload_check_constraints(w, d, &err);
        json_t *back = kf_workload_to_json(w);
        json_decref(back);
        kf_workload_free(w);
    }
    free(defname);
    json_decref(j);
    return 0;
}
