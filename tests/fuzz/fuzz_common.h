/* fuzz_common.h: helpers shared by the libFuzzer targets in tests/fuzz/
 * (one target per parser; `make fuzz` builds them with clang and runs each
 * for a fixed time, see tests/fuzz/run.sh). A definition from the repo's
 * dataset is loaded once for the targets that check against one.
 */
#ifndef KF_FUZZ_COMMON_H
#define KF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jsonio.h"
#include "log.h"
#include "model.h"

#define FUZZ_DEF_PATH KF_SOURCE_DIR "/dataset/definitions/gdn/gdn_decode_qk4_v8_d128_k_last.json"

static inline struct kf_definition *fuzz_definition(void)
{
    static struct kf_definition *d;
    if (!d) {
        struct kf_err err;
        json_t *j = json_load_file(FUZZ_DEF_PATH, 0, NULL);
        if (!j || kf_definition_from_json(j, &d, &err)) {
            fprintf(stderr, "fuzz: cannot load %s\n", FUZZ_DEF_PATH);
            abort();
        }
        json_decref(j);
        kf_log_set_level(KF_LOG_OFF);
    }
    return d;
}

/* The input as JSON (NULL if it is not); inputs over 1 MiB are skipped. */
static inline json_t *fuzz_json(const uint8_t *data, size_t size)
{
    struct kf_err err;
    if (size > (1u << 20))
        return NULL;
    return kf_json_loadb((const char *)data, size, &err);
}

#endif
