/* runner.h: the untrusted side of docs/runner.md. bin/kf-runner is a thin
 * main around ev_runner_serve: it reads the judge's commands on one fd and
 * answers on another, loading the solution through its lane, opening the
 * judge's arena, and running and timing calls with the CUPTI timer of
 * timing.h. It holds nothing secret: no seeds, no reference outputs, no
 * Redis. Not thread-safe: one per process.
 */
#ifndef EV_RUNNER_H
#define EV_RUNNER_H

/* Serve commands until "bye" or the end of the command stream. Returns the
 * process exit code: 0 after "bye", EV_RUNNER_EXIT_* otherwise. */
int ev_runner_serve(int cmd_fd, int reply_fd);

enum {
    EV_RUNNER_EXIT_EOF = 0,        /* the judge closed the pipe between commands */
    EV_RUNNER_EXIT_PROTOCOL = 80,  /* a malformed command */
    EV_RUNNER_EXIT_PIPE = 81,      /* cannot write a reply */
    EV_RUNNER_EXIT_SANDBOX = 82,   /* the sandbox could not be entered */
};

/* Address space the runner may still map after its CUDA start-up
 * (RLIMIT_AS = size then + this); open's "sandbox": {"as_headroom": N}
 * overrides. */
#define EV_RUNNER_AS_HEADROOM (64ULL << 30)

/* Fds of bin/kf-runner (set up by the judge's spawn). */
#define EV_RUNNER_CMD_FD 3
#define EV_RUNNER_REPLY_FD 4

#endif
