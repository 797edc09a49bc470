/* runner_link.h: the judge's end of docs/runner.md: start a runner process,
 * send it one command at a time and read its reply, validated as untrusted
 * input (frame size and JSON by wire.h; the reply's type here; its values
 * by the judge). Not thread-safe: one link per judge.
 */
#ifndef EV_RUNNER_LINK_H
#define EV_RUNNER_LINK_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>

#include "kf_err.h"
#include "model.h"
#include "wire.h"

/* Replies are small; a timed reply of 100000 samples fits. */
#define EV_RL_FRAME_MAX (4u << 20)

struct ev_rl_opts {
    const char *runner_path;     /* bin/kf-runner; NULL: ev_rl_default_path() */
    char *const *argv;           /* instead of runner_path: a whole command (execvp), e.g.
                                    python3 worker/python/kf_pyrunner.py */
    char *const *env_set;        /* "NAME=VALUE" strings set in the runner (may be NULL) */
    /* Tests: run this in the forked child instead of exec'ing a runner
     * (fds as a real runner gets them). */
    int (*fake_main)(int cmd_fd, int reply_fd);
    const char *tmp_base;        /* parent of the runner's private tmp; NULL: $TMPDIR or /tmp */
};

struct ev_rl {
    pid_t pid;                   /* 0: not running */
    int cmd_fd, reply_fd;        /* judge's ends */
    struct wk_reader rd;
    char tmp[PATH_MAX];          /* the runner's private tmp ("" if none) */
    json_t *layers;              /* sandbox layers in force (owned), or NULL */
};

/* bin/kf-runner beside the running program, or $KF_RUNNER. Static string. */
const char *ev_rl_default_path(void);
/* The Python lane's runner script: $KF_PYRUNNER, else worker/python/
 * kf_pyrunner.py of the source tree, else beside the program's ../ or
 * ../../ . Static string. */
const char *ev_rl_pyrunner_path(void);
/* bin/libkfrunner.so beside bin/kf-runner (the Python runner's C code),
 * or $KF_RUNNER_LIB. Static string. */
const char *ev_rl_runner_lib_path(void);
/* The scope of a Python-lane solution's compile caches: the SHA-256 (hex)
 * of what it runs (definition, spec and sources; not its name, author or
 * description). Two solutions share a scope only when they are the same
 * code. */
void ev_rl_python_scope(const struct kf_solution *sol, char out[65]);
/* The scope of the PyTorch reference's runner (worker/pyref.c). */
#define EV_RL_SCOPE_PYREF "pytorch-reference"
/* Point o at the Python lane's runner: the host's python3 ($KF_PYTHON)
 * running ev_rl_pyrunner_path(), with Triton's and torch extensions'
 * caches in cache_dir/python/<scope>/{triton,torch_ext} (cache_dir may be
 * NULL: no caches). The runner may write there, so one scope per solution:
 * a solution that could write the caches other solutions load (a Triton
 * cubin or an extension of another team's code, by its predictable key)
 * could change their results and timings. scope: hex digits, '-' and
 * lowercase letters only (anything else: no caches). argv and env are the
 * caller's storage (3 slots each); free env[0..1] after ev_rl_start. */
void ev_rl_python_opts(struct ev_rl_opts *o, const char *cache_dir, const char *scope,
                       char *argv[3], char *env[3]);
/* Start the runner. 0, or KF_EIO with err set. Sets SIGPIPE to SIG_IGN in
 * the calling process (a dead runner is an error of the write). */
int ev_rl_start(struct ev_rl *rl, const struct ev_rl_opts *o, struct kf_err *err);
/* Send cmd (stolen) and wait for one reply (timeout_s < 0: no limit; the
 * supervisor's deadline covers a hung runner). Returns 0 with *reply (new)
 * of type want; KF_EINVAL with *reply an "error" reply of the runner (its
 * message in err); KF_EIO when the runner broke the protocol or died (err
 * says how; stop it); KF_ETIMEOUT. */
int ev_rl_call(struct ev_rl *rl, json_t *cmd, const char *want, double timeout_s, json_t **reply,
               struct kf_err *err);
/* Copy file into the runner's private tmp as "artifact-<i>-<basename>",
 * readable by the runner's uid; returns the copy's path (new), or NULL with
 * err set. */
char *ev_rl_give_file(struct ev_rl *rl, const char *file, int i, struct kf_err *err);
/* Say bye (unless kill_now), give it a moment, then SIGKILL and reap; remove
 * its tmp. Safe on a link that is not running. */
void ev_rl_stop(struct ev_rl *rl, int kill_now);
/* Why the runner ended (after KF_EIO): "exited with status 3", "killed by
 * signal 9 (Killed)", or "still running". */
void ev_rl_exit_reason(struct ev_rl *rl, char *buf, size_t n);

#endif
