/* kf_err.h: project error codes and the error detail record.
 *
 * Every fallible function returns 0 or a negative KF_E* code. Where detail
 * helps the caller (or an HTTP client), it also fills a struct kf_err: the
 * JSON path of the offending field ("spec.launch[0].grid[1]", "$" for the
 * document root) and a human-readable reason. Thread-safe: no shared state.
 */
#ifndef KF_ERR_H
#define KF_ERR_H

#include <stdarg.h>

enum {
    KF_OK = 0,
    KF_EINVAL = -1,    /* malformed or invalid input (HTTP 400) */
    KF_ENOENT = -2,    /* unknown name / missing file (404) */
    KF_EIO = -3,       /* read/write/system failure (500) */
    KF_ETOOBIG = -4,   /* over a size cap (413) */
    KF_EUNSUP = -5,    /* valid but not supported / not evaluable yet */
    KF_ECONFLICT = -6, /* already exists / state conflict (409) */
    KF_ETIMEOUT = -7,  /* deadline passed */
    KF_ECUDA = -8,     /* CUDA driver / NVRTC / CUPTI failure */
    KF_EREDIS = -9,    /* Redis unavailable or protocol error (503) */
    KF_EAUTH = -10,    /* missing/bad credentials (401) */
    KF_EPERM = -11,    /* authenticated but not allowed (403) */
    KF_ELIMIT = -12,   /* rate limited (429) */
};

struct kf_err {
    int code;
    char path[128]; /* JSON path of the offending field, "" if none */
    char msg[256];
};

/* Fill err (if non-NULL) and return code. path may be NULL. */
int kf_err_set(struct kf_err *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int kf_err_vset(struct kf_err *err, int code, const char *path, const char *fmt, va_list ap);

/* Prefix err->path with prefix (joining with '.' or nothing before '['),
 * e.g. kf_err_prefix(e, "spec") turns "launch[0]" into "spec.launch[0]". */
void kf_err_prefix(struct kf_err *err, const char *prefix);

/* Reset to KF_OK with empty path/message. */
void kf_err_clear(struct kf_err *err);

/* Static name of a code: "invalid", "not_found", ... (used as API error codes). */
const char *kf_strerror(int code);

#endif
