/* fuzz_expr.c: libFuzzer target: a launch-plan / constraint expression
 * parsed, its references walked and evaluated with every name bound to a
 * value taken from the input (so division by zero and overflow paths run). */
#include <string.h>

#include "expr.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t seed;

static int resolve(void *ctx, const struct kf_expr_ref *ref, int64_t *out)
{
    (void)ctx;
    if (ref->name[0] == 'z')
        return KF_EUNSUP;
    *out = seed * (int64_t)(strlen(ref->name) + 1) + ref->index;
    return 0;
}

static int walk(void *ctx, const struct kf_expr_ref *ref)
{
    (void)ctx;
    return ref->name[0] == 'q';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kf_expr *e = NULL;
    struct kf_err err;
    char *src;
    int64_t v;
    if (size < 1 || size > 4096)
        return 0;
    seed = (int64_t)(int8_t)data[0] * 1000003;
    src = malloc(size);
    memcpy(src, data + 1, size - 1);
    src[size - 1] = '\0';
    if (kf_expr_parse(src, &e, &err) == 0) {
        kf_expr_walk_refs(e, walk, NULL);
        kf_expr_eval(e, resolve, NULL, &v, &err);
        kf_expr_free(e);
    }
    free(src);
    return 0;
}
