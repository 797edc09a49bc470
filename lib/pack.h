/* pack.h: build a solution document from a directory.
 *
 * A kernel directory (kernels/reference/DEF, kernels/examples/DEF):
 * spec.json holds the solution without sources; every file beside it with
 * an extension flashinfer-bench packs (.py .cu .cuh .cpp .cc .cxx .c .h
 * .hpp) becomes a source {path, content}, so CUDA, Triton and PyTorch
 * solutions pack alike. Used by `kf pack` and by the evaluator to load the
 * reference kernels.
 *
 * A contest starter-kit directory (no spec.json, a config.toml): see
 * kf_pack_starter. Thread-safe.
 */
#ifndef KF_PACK_H
#define KF_PACK_H

#include <jansson.h>
#include <stdbool.h>

#include "kf_err.h"

/* Returns 0 and *out (new reference) or a code with err set. */
int kf_pack_dir(const char *dir, json_t **out, struct kf_err *err);

/* The starter kit's layout: config.toml with [solution] (name, definition,
 * author, optional description) and [build] (language, entry_point,
 * optional destination_passing_style, binding, dependencies,
 * target_hardware, compile_options), sources in solution/LANGUAGE (the
 * regular files directly in it with the extensions flashinfer-bench packs,
 * kf_pack_is_source, sorted by name). An entry_point without "::" (the kit's template says "kernel") names a function of the
 * only source of the language's main kind (.py for triton/python/tilelang,
 * .cu for cuda, .cpp/.cc/.cxx for cpp), or else of the one such source
 * named after it (kernel.py). Errors name config.toml's line and key. Returns 0 and *out (a
 * validated solution document, new reference) or a code with err set. */
int kf_pack_starter(const char *dir, json_t **out, struct kf_err *err);

/* Whether a file name has one of the source extensions above. */
bool kf_pack_is_source(const char *name);

/* Every regular, non-hidden file directly in dir for which want(name) is
 * true, sorted by name, as a JSON array of {path, content} (new
 * reference). Files must be UTF-8 text without NUL bytes, at most 16 MiB,
 * at most 256 of them. */
int kf_pack_sources(const char *dir, bool (*want)(const char *name), json_t **out,
                    struct kf_err *err);

#endif
