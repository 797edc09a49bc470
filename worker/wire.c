/* wire.c: length-prefixed JSON frames between the evaluator child and the
 * supervisor (protocol in wire.h). No global state: thread-safe as long as
 * one reader is used by one thread.
 */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonio.h"
#include "xalloc.h"

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wk_frame_write_raw(int fd, const void *buf, size_t len, struct kf_err *err)
{
    unsigned char hdr[4];
    if (len > 0xffffffffu)
        return kf_err_set(err, KF_ETOOBIG, NULL, "frame of %zu bytes", len);
    hdr[0] = (unsigned char)(len >> 24);
    hdr[1] = (unsigned char)(len >> 16);
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
    if (write_all(fd, hdr, 4) < 0 || write_all(fd, buf, len) < 0)
        return kf_err_set(err, KF_EIO, NULL, "frame write: %s", strerror(errno));
    return 0;
}

int wk_frame_write(int fd, const json_t *msg, struct kf_err *err)
{
    int rc;
    char *s = kf_json_dumps(msg);
    size_t len;
    if (!s)
        return kf_err_set(err, KF_EINVAL, "$", "message cannot be serialised");
    len = strlen(s);
    if (len == 0 || len > WK_FRAME_MAX)
        rc = kf_err_set(err, KF_ETOOBIG, "$", "frame of %zu bytes (cap %u)", len, WK_FRAME_MAX);
    else
        rc = wk_frame_write_raw(fd, s, len, err);
    free(s);
    return rc;
}

void wk_reader_init(struct wk_reader *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max ? max : WK_FRAME_MAX;
}

void wk_reader_free(struct wk_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    r->buf = NULL;
}

/* One read(2); returns bytes read, 0 at EOF, -1 with errno (EINTR retried). */
static ssize_t read_some(int fd, void *p, size_t n)
{
    for (;;) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        return got;
    }
}

int wk_reader_read(struct wk_reader *r, int fd, json_t **msg, struct kf_err *err)
{
    *msg = NULL;
    for (;;) {
        ssize_t n;
        if (r->hdr_got < 4) {
            n = read_some(fd, r->hdr + r->hdr_got, 4 - r->hdr_got);
            if (n == 0) {
                if (r->hdr_got == 0)
                    return WK_READ_EOF;
                return kf_err_set(err, KF_EINVAL, NULL, "truncated frame header at EOF");
            }
            if (n < 0)
                goto rerr;
            r->hdr_got += (size_t)n;
            if (r->hdr_got < 4)
                continue;
            r->len = (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 |
                     (size_t)r->hdr[2] << 8 | (size_t)r->hdr[3];
            if (r->len == 0 || r->len > r->max)
                return kf_err_set(err, KF_ETOOBIG, NULL, "frame length %zu outside 1..%zu",
                                  r->len, r->max);
            r->buf = xmalloc(r->len);
            r->got = 0;
        }
        n = read_some(fd, r->buf + r->got, r->len - r->got);
        if (n == 0)
            return kf_err_set(err, KF_EINVAL, NULL, "truncated frame at EOF (%zu of %zu bytes)",
                              r->got, r->len);
        if (n < 0)
            goto rerr;
        r->got += (size_t)n;
        if (r->got < r->len)
            continue;
        {
            struct kf_err jerr;
            json_t *j = kf_json_loadb(r->buf, r->len, &jerr);
            free(r->buf);
            r->buf = NULL;
            r->hdr_got = 0;
            if (!j)
                return kf_err_set(err, KF_EINVAL, "$", "frame is not JSON: %s", jerr.msg);
            if (!json_is_object(j)) {
                json_decref(j);
                return kf_err_set(err, KF_EINVAL, "$", "frame is not a JSON object");
            }
            *msg = j;
            return WK_READ_MSG;
        }
    }
rerr:
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return WK_READ_AGAIN;
    return kf_err_set(err, KF_EIO, NULL, "frame read: %s", strerror(errno));
}
