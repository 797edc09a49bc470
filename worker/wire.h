/* wire.h: the evaluator-child wire protocol. The child sends the supervisor
 * length-prefixed JSON frames over a pipe: a 4-byte big-endian length
 * (1..WK_FRAME_MAX), then that many bytes of one JSON object. Messages:
 *
 *   {"type":"hello","pid":N,"first":I,"count":C}    first frame of a child
 *   {"type":"trace","index":I,"trace":{...}}        one workload finished;
 *                                                   I indexes the task's list
 *   {"type":"yield","reason":"..."}                 child stops early on purpose
 *                                                   (after a RUNTIME_ERROR: the
 *                                                   rest goes to a fresh process)
 *   {"type":"error","code":"...","message":"..."}   the engine itself failed
 *   {"type":"done","count":C}                       every workload reported
 *
 * Nothing else crosses the boundary: no pointers, no binary blobs. The
 * supervisor treats every frame as untrusted input (see supervisor.c).
 * Thread-safety: a reader is owned by one thread; functions keep no globals.
 */
#ifndef KF_WIRE_H
#define KF_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kf_err.h"

#define WK_FRAME_MAX (16u << 20)   /* a trace with a long compiler log fits */

/* Write one frame (blocking; retries on EINTR and short writes). Returns 0,
 * KF_ETOOBIG if the dump exceeds WK_FRAME_MAX, KF_EIO on a write error. */
int wk_frame_write(int fd, const json_t *msg, struct kf_err *err);
/* Write raw bytes as one frame (tests use it to build odd frames). */
int wk_frame_write_raw(int fd, const void *buf, size_t len, struct kf_err *err);

/* Incremental frame reader for a non-blocking (or blocking) fd. */
struct wk_reader {
    unsigned char hdr[4];
    size_t hdr_got;
    char *buf;          /* body being assembled (owned) */
    size_t len, got;
    size_t max;         /* cap, WK_FRAME_MAX when 0 at init */
};

void wk_reader_init(struct wk_reader *r, size_t max);
void wk_reader_free(struct wk_reader *r);

enum { WK_READ_AGAIN = 0, WK_READ_MSG = 1, WK_READ_EOF = 2 };

/* Read from fd until one frame is complete or the fd has no more data.
 * Returns WK_READ_MSG with *msg a new JSON object, WK_READ_AGAIN (EAGAIN,
 * nothing complete yet), WK_READ_EOF (clean end between frames), or a
 * negative code: KF_ETOOBIG (length 0 or over the cap), KF_EINVAL (not a
 * JSON object / truncated frame at EOF), KF_EIO (read error). After a
 * negative return the stream is unusable. */
int wk_reader_read(struct wk_reader *r, int fd, json_t **msg, struct kf_err *err);

#endif
