/* pack.h: build a solution document from a kernel directory
 * (kernels/reference/<def>/, kernels/examples/<def>/): spec.json holds the
 * solution without sources; every .cu, .cuh and .h file beside it becomes a
 * source {path, content}. Used by `kf pack` and by the evaluator to load the
 * reference kernels. Thread-safe.
 */
#ifndef KF_PACK_H
#define KF_PACK_H

#include <jansson.h>

#include "kf_err.h"

/* Returns 0 and *out (new reference) or a code with err set. */
int kf_pack_dir(const char *dir, json_t **out, struct kf_err *err);

#endif
