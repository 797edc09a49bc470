/* jpath.h: small helpers shared by the data-layer parsers (definition,
 * workload, solution, trace): typed field access with errors that name the
 * field's JSON path, string lists, and key-order preservation for round
 * trips. Internal to lib/ (prefix jp_). Thread-safe: no shared state.
 */
#ifndef KF_JPATH_H
#define KF_JPATH_H

#include <jansson.h>
#include <stdbool.h>

#include "kf_err.h"

enum {
    JP_REQUIRED = 1,   /* missing key is an error */
    JP_NULLABLE = 2,   /* JSON null is accepted (as absent) */
    JP_NONEMPTY = 4,   /* strings (and list items) must not be empty */
};

/* A string field. *out: new string or NULL if absent/null. Errors: path key. */
int jp_str(const json_t *obj, const char *key, int flags, char **out, struct kf_err *err);
/* A list of strings. *out: new array (non-NULL even when empty, NULL when
 * absent/null), *n its length; free with jp_strv_free. Errors: key or key[i]. */
int jp_str_list(const json_t *obj, const char *key, int flags, char ***out, int *n,
                struct kf_err *err);
/* A bool field. *present false if absent (or null with JP_NULLABLE). */
int jp_bool(const json_t *obj, const char *key, int flags, bool *present, bool *out,
            struct kf_err *err);
/* A string value is usable: no embedded NUL. */
bool jp_string_ok(const json_t *s);
void jp_strv_free(char **v, int n);
/* New JSON array of strings. */
json_t *jp_strv_json(char *const *v, int n);

/* Return built (stolen) re-ordered to follow orig's key order, recursively;
 * keys of orig missing from built (unknown keys, explicit nulls) are copied
 * from orig; keys only in built follow at the end. orig may be NULL. */
json_t *jp_reorder(json_t *built, const json_t *orig);
/* Fill err with "<prefix>.<key>" style paths: prefix err->path with fmt. */
void jp_prefix(struct kf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Valid C identifier (kernel, workspace names). */
bool jp_is_ident(const char *s);

#endif
