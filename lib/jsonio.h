/* jsonio.h: small jansson helpers shared by every module: load a file or
 * buffer with a capped size and errors that name the line and column, and
 * dump with the project's canonical flags. Thread-safe.
 */
#ifndef KF_JSONIO_H
#define KF_JSONIO_H

#include <jansson.h>
#include <stddef.h>

#include "kf_err.h"

#define KF_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Parse a buffer (exactly len bytes, no NUL needed). err->path "$",
 * err->msg "line L column C: reason". */
json_t *kf_json_loadb(const char *buf, size_t len, struct kf_err *err);
/* Read and parse a file of at most max_bytes (0 = 64 MiB). err->path = the file. */
json_t *kf_json_load_file(const char *path, size_t max_bytes, struct kf_err *err);
/* Dump with KF_JSON_DUMP_FLAGS; new string, free(). */
char *kf_json_dumps(const json_t *j);

#endif
