/* subproc.c: a program run with captured output and a deadline (see
 * subproc.h). The child gets its own process group, so a compiler's own
 * children die with it on a timeout.
 */
#include "subproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int ev_subproc_run(char *const argv[], const char *dir, double timeout_s, size_t cap,
                   char **out, int *status, struct kf_err *err)
{
    int fds[2], ws = 0, rc = 0, timed_out = 0, truncated = 0;
    size_t len = 0;
    char *buf = xmalloc(cap + 32), tmp[4096];
    double deadline = now_s() + timeout_s;
    pid_t pid;

    *out = NULL;
    *status = -1;
    buf[0] = 0;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        free(buf);
        return kf_err_set(err, KF_EIO, NULL, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(buf);
        return kf_err_set(err, KF_EIO, NULL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        if (dir && chdir(dir) < 0)
            _exit(126);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(fds[1]);
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        double left = deadline - now_s();
        int n;
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        n = poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < cap - len ? (size_t)r : cap - len;
        memcpy(buf + len, tmp, take);
        len += take;
        truncated |= take < (size_t)r;
    }
    close(fds[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (truncated) {
        memcpy(buf + len, "\n[output truncated]", 19);
        len += 19;
    }
    buf[len] = 0;
    *out = buf;
    if (timed_out) {
        *status = 128 + SIGKILL;
        rc = kf_err_set(err, KF_ETIMEOUT, NULL, "%s took longer than %.0f s", argv[0], timeout_s);
    } else if (WIFEXITED(ws)) {
        *status = WEXITSTATUS(ws);
    } else if (WIFSIGNALED(ws)) {
        *status = 128 + WTERMSIG(ws);
    }
    return rc;
}
