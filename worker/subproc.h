/* subproc.h: run a program (no shell) with its stdout and stderr captured
 * together, a byte cap on what is kept, and a deadline. For the judge's
 * compiler calls (nvcc, g++). Thread-safe (no shared state; fork + exec).
 */
#ifndef EV_SUBPROC_H
#define EV_SUBPROC_H

#include <stddef.h>

#include "kf_err.h"

/* Run argv[0] (searched in PATH) with argv, in dir (NULL: the current
 * directory). *out gets a new NUL-terminated string of its output (at most
 * cap bytes kept, then "\n[output truncated]"). *status: the exit status,
 * 128+signal when killed, -1 if it could not start. Returns 0 when it ran
 * (whatever its status), KF_ETIMEOUT after killing it at timeout_s, KF_EIO
 * when it could not be started. */
int ev_subproc_run(char *const argv[], const char *dir, double timeout_s, size_t cap,
                   char **out, int *status, struct kf_err *err);

#endif
