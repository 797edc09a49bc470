/* fuzz_solution.c: libFuzzer target: a Solution document as POST /solutions
 * receives it: parse, check against a definition (kernel names, launch-plan
 * names), then the submit-time launch-plan check over every workload axis
 * value 1..64, with the server's work budget. Serializes a valid one back. */
#include <string.h>

#include "fuzz_common.h"
#include "plan_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kf_definition *d = fuzz_definition();
    struct kf_solution *s = NULL;
    struct kf_err err;
    json_t *j = fuzz_json(data, size);
    if (!j)
        return 0;
    if (kf_solution_from_json(j, &s, &err) == 0) {
        json_t *back = kf_solution_to_json(s);
        json_decref(back);
        kf_solution_free(s);
        s = NULL;
        json_t *doc = json_deep_copy(j);
        json_object_set_new(doc, "definition", json_string(d->name));
        if (kf_solution_from_json(doc, &s, &err) == 0 && kf_solution_check(s, d, &err) == 0) {
            json_t *wj = json_pack("{s:s, s:{s:i}, s:{}}", "uuid", "fuzz", "axes", "batch_size",
                                   (int)(size % 64) + 1, "inputs");
            struct kf_workload *w = NULL;
            if (kf_workload_from_json(wj, &w, NULL, &err) == 0) {
                const struct kf_workload *ws[1] = {w};
                int64_t budget = 64 * (int64_t)size + (1 << 20);
                kf_plan_check(s, d, ws, 1, &budget, &err);
            }
            kf_workload_free(w);
            json_decref(wj);
        }
        json_decref(doc);
        kf_solution_free(s);
    }
    json_decref(j);
    return 0;
}
