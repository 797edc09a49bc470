/* kf_err.c: error records (see kf_err.h). Thread-safe. */
#include "kf_err.h"

#include <stdio.h>
#include <string.h>

int kf_err_vset(struct kf_err *err, int code, const char *path, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

int kf_err_set(struct kf_err *err, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kf_err_vset(err, code, path, fmt, ap);
    va_end(ap);
    return code;
}

void kf_err_prefix(struct kf_err *err, const char *prefix)
{
    char tmp[sizeof err->path + 160];
    if (!err || !prefix || !*prefix || strlen(prefix) > 150)
        return;
    if (!err->path[0] || strcmp(err->path, "$") == 0)
        snprintf(tmp, sizeof tmp, "%s", prefix);
    else if (err->path[0] == '[')
        snprintf(tmp, sizeof tmp, "%s%s", prefix, err->path);
    else
        snprintf(tmp, sizeof tmp, "%s.%s", prefix, err->path);
    snprintf(err->path, sizeof err->path, "%.*s", (int)sizeof err->path - 1, tmp);
}

void kf_err_clear(struct kf_err *err)
{
    if (!err)
        return;
    err->code = KF_OK;
    err->path[0] = '\0';
    err->msg[0] = '\0';
}

const char *kf_strerror(int code)
{
    switch (code) {
    case KF_OK: return "ok";
    case KF_EINVAL: return "invalid";
    case KF_ENOENT: return "not_found";
    case KF_EIO: return "io_error";
    case KF_ETOOBIG: return "too_large";
    case KF_EUNSUP: return "unsupported";
    case KF_ECONFLICT: return "conflict";
    case KF_ETIMEOUT: return "timeout";
    case KF_ECUDA: return "cuda_error";
    case KF_EREDIS: return "unavailable";
    case KF_EAUTH: return "unauthorized";
    case KF_EPERM: return "forbidden";
    case KF_ELIMIT: return "rate_limited";
    default: return "error";
    }
}
