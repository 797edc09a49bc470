/* child.h: the evaluator child process. The supervisor forks one per
 * attempt; the child puts itself in a new process group (so the supervisor
 * can kill everything it started), drops every inherited descriptor except
 * its frame pipe and its log pipe, wipes secrets from its copy of memory and
 * from the environment, then calls the evaluation function and reports
 * through wire.h frames. The evaluation function is a parameter
 * (ev_evaluate in kf-worker, fakes in the unit tests), so the whole
 * protocol is testable without a GPU. The child is the only process of
 * kf-worker that touches CUDA.
 * Thread-safety: call wk_child_spawn from one thread (it forks).
 */
#ifndef KF_CHILD_H
#define KF_CHILD_H

#include <sys/types.h>

#include "engine.h"

/* Same signature as ev_evaluate. */
typedef int (*wk_eval_fn)(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                          json_t **traces_out, struct kf_err *err);

struct wk_child_opts {
    wk_eval_fn eval;
    const struct ev_request *req;  /* the task's full request (borrowed) */
    int first;                     /* this child evaluates workloads[first..nworkloads) */
    char *const *scrub;            /* NUL-terminated strings zeroed in the child (secrets) */
    int nscrub;
};

struct wk_child {
    pid_t pid;       /* also its process group id */
    int frame_fd;    /* read end of the frame pipe (non-blocking, close-on-exec) */
    int log_fd;      /* read end of the child's stdout+stderr (non-blocking) */
};

/* Exit codes of the child besides 0 (done or yield). */
enum { WK_EXIT_PIPE = 70, WK_EXIT_ENGINE = 71, WK_EXIT_SETUP = 72, WK_EXIT_TOOBIG = 73 };

/* Fork the child. On success *out holds its pid and the two read ends
 * (the caller closes them and reaps the child). Returns 0 or KF_EIO. */
int wk_child_spawn(const struct wk_child_opts *o, struct wk_child *out, struct kf_err *err);

/* Zero the values of environment variables that look secret (names
 * containing SECRET, PASSWORD, TOKEN, or starting with KF_REDIS) in place.
 * Exposed for tests. */
void wk_scrub_environ(void);

#endif
