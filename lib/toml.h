/* toml.h: a minimal TOML reader for exactly what the contest starter kit's
 * config.toml uses: [table] headers (bare or dotted names), key = value
 * lines with bare or quoted keys, basic "strings" (escapes \" \\ \b \t \n
 * \f \r \uXXXX \UXXXXXXXX) and literal 'strings', decimal integers (sign
 * and '_' separators), true/false, arrays of strings (which may span lines
 * and hold comments), and # comments. Anything else (floats, dates, inline
 * tables, arrays of tables, multi-line strings) is refused with a clear
 * error, never misread.
 *
 * The document becomes a JSON object: {"table": {"key": value}}, keys
 * before the first header at the top level; a dotted header [a.b] nests.
 * Errors fill err->path with "<name>:<line>" and err->msg with the key when
 * there is one. Pure; thread-safe.
 */
#ifndef KF_TOML_H
#define KF_TOML_H

#include <jansson.h>

#include "kf_err.h"

/* Parse text (NUL-terminated); name is used in error paths ("config.toml").
 * Returns 0 and *out (new reference) or KF_EINVAL. */
int kf_toml_parse(const char *text, const char *name, json_t **out, struct kf_err *err);

#endif
