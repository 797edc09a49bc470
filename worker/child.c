/* child.c: the evaluator child (see child.h). Everything after fork() runs
 * in the child only and ends in _exit(): no atexit handlers and no stdio
 * buffers inherited from the supervisor are flushed twice. Not thread-safe:
 * fork from a single-threaded supervisor (kf-worker is one).
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"
#include "xalloc.h"

#define FRAME_FD 3

extern char **environ;

struct child_ctx {
    int first;      /* index of the child's first workload in the task */
    int count;      /* workloads in this child */
    int sent;       /* traces sent so far */
};

static void send_or_die(const json_t *msg)
{
    if (wk_frame_write(FRAME_FD, msg, NULL) < 0)
        _exit(WK_EXIT_PIPE);
}

static void send_trace(struct child_ctx *c, const json_t *trace)
{
    json_t *m = json_pack("{s:s, s:i, s:O}", "type", "trace", "index",
                          (json_int_t)(c->first + c->sent), "trace", trace);
    int rc;
    if (!m)
        _exit(WK_EXIT_ENGINE);
    rc = wk_frame_write(FRAME_FD, m, NULL);
    if (rc == KF_ETOOBIG) {
        /* Only a log (a compiler's) can make a trace this big: keep its head. */
        json_t *t = json_deep_copy(trace);
        json_t *ev = json_object_get(t, "evaluation");
        const char *log = json_string_value(json_object_get(ev, "log"));
        if (log) {
            char *cut = xasprintf("%.65536s\n[log truncated: %zu bytes in all]", log,
                                  strlen(log));
            json_object_set_new(ev, "log", json_string(cut));
            free(cut);
        }
        json_object_set_new(m, "trace", t);
        rc = wk_frame_write(FRAME_FD, m, NULL);
    }
    if (rc < 0)
        _exit(rc == KF_ETOOBIG ? WK_EXIT_TOOBIG : WK_EXIT_PIPE);
    json_decref(m);
    c->sent++;
}

/* A workload whose error ended the judge's own CUDA context
 * (evaluation.kernelfarm.judge_context_lost): the rest needs a fresh judge.
 * Errors of the solution end only its runner, which the judge replaces. */
static int is_runtime_error(const json_t *trace)
{
    const json_t *ev = json_object_get(trace, "evaluation");
    const json_t *st = json_object_get(ev, "status");
    return json_is_string(st) && strcmp(json_string_value(st), "RUNTIME_ERROR") == 0 &&
           json_is_true(json_object_get(json_object_get(ev, "kernelfarm"), "judge_context_lost"));
}

static void on_progress(void *ctx, int done, int total, const json_t *trace)
{
    struct child_ctx *c = ctx;
    (void)done;
    (void)total;
    if (!trace || c->sent >= c->count)
        return;
    send_trace(c, trace);
    /* The judge's own context is lost: the remaining workloads get a fresh
     * process. */
    if (is_runtime_error(trace) && c->sent < c->count) {
        json_t *m = json_pack("{s:s, s:s}", "type", "yield", "reason",
                              "runtime error: remaining workloads run in a fresh process");
        send_or_die(m);
        _exit(0);
    }
}

void wk_scrub_environ(void)
{
    static const char *const pats[] = {"SECRET", "PASSWORD", "TOKEN", NULL};
    for (char **e = environ; e && *e; e++) {
        char *eq = strchr(*e, '=');
        int hit;
        if (!eq)
            continue;
        hit = strncmp(*e, "KF_REDIS", 8) == 0;
        for (int i = 0; !hit && pats[i]; i++) {
            char *p = strstr(*e, pats[i]);
            hit = p && p < eq;
        }
        if (hit)
            explicit_bzero(eq + 1, strlen(eq + 1));
    }
}

static void child_setup(const struct wk_child_opts *o, int frame_w, int log_w, pid_t parent)
{
    struct rlimit no_core = {0, 0};
    sigset_t all;
    int null_fd;

    setpgid(0, 0);
    /* Die with the supervisor: an orphaned evaluator must not keep the GPU. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(WK_EXIT_SETUP);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);   /* a write to a dead supervisor fails instead */
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    setrlimit(RLIMIT_CORE, &no_core);

    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_w, 1) < 0 || dup2(log_w, 2) < 0 ||
        dup2(frame_w, FRAME_FD) < 0)
        _exit(WK_EXIT_SETUP);
    fcntl(FRAME_FD, F_SETFD, 0);
    /* Drop every other inherited descriptor (the Redis socket above all). */
    if (close_range(FRAME_FD + 1, ~0u, 0) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = FRAME_FD + 1; fd < (max > 0 ? max : 1024); fd++)
            close((int)fd);
    }
    /* If the supervisor logs to a file, that descriptor is closed now and
     * its number may be reused by the engine: log to the pipe instead. */
    if (kf_log_open("/dev/stderr") < 0)
        kf_log_set_level(KF_LOG_OFF);
    for (int i = 0; i < o->nscrub; i++)
        if (o->scrub[i])
            explicit_bzero(o->scrub[i], strlen(o->scrub[i]));
    wk_scrub_environ();
}

static _Noreturn void child_main(const struct wk_child_opts *o)
{
    struct ev_request req = *o->req;
    struct child_ctx c = {o->first, o->req->nworkloads - o->first, 0};
    struct kf_err err;
    json_t *traces = NULL, *m;
    int rc;

    req.workloads = o->req->workloads + o->first;
    req.nworkloads = c.count;
    m = json_pack("{s:s, s:I, s:i, s:i}", "type", "hello", "pid", (json_int_t)getpid(),
                  "first", o->first, "count", c.count);
    send_or_die(m);
    json_decref(m);

    kf_err_clear(&err);
    rc = o->eval(&req, on_progress, &c, &traces, &err);
    if (rc != 0) {
        m = json_pack("{s:s, s:s, s:s}", "type", "error", "code", kf_strerror(rc), "message",
                      err.msg[0] ? err.msg : "evaluation engine failed");
        send_or_die(m);
        _exit(WK_EXIT_ENGINE);
    }
    /* Traces the engine returned without reporting them through progress. */
    for (size_t i = (size_t)c.sent; json_is_array(traces) && i < json_array_size(traces) &&
                                    c.sent < c.count; i++) {
        const json_t *t = json_array_get(traces, i);
        send_trace(&c, t);
        if (is_runtime_error(t) && c.sent < c.count) {
            m = json_pack("{s:s, s:s}", "type", "yield", "reason",
                          "runtime error: remaining workloads run in a fresh process");
            send_or_die(m);
            _exit(0);
        }
    }
    m = json_pack("{s:s, s:i}", "type", "done", "count", o->first + c.sent);
    send_or_die(m);
    _exit(0);
}

int wk_child_spawn(const struct wk_child_opts *o, struct wk_child *out, struct kf_err *err)
{
    int fp[2] = {-1, -1}, lp[2] = {-1, -1};
    pid_t parent = getpid(), pid;

    if (pipe2(fp, O_CLOEXEC) < 0 || pipe2(lp, O_CLOEXEC) < 0)
        goto fail;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        close(fp[0]);
        close(lp[0]);
        child_setup(o, fp[1], lp[1], parent);
        child_main(o);
    }
    /* Also here, so the group exists before the supervisor may kill it. */
    (void)setpgid(pid, pid);   /* EACCES after its exec-free setup is fine */
    close(fp[1]);
    close(lp[1]);
    fcntl(fp[0], F_SETFL, fcntl(fp[0], F_GETFL) | O_NONBLOCK);
    fcntl(lp[0], F_SETFL, fcntl(lp[0], F_GETFL) | O_NONBLOCK);
    out->pid = pid;
    out->frame_fd = fp[0];
    out->log_fd = lp[0];
    return 0;
fail:
    {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (fp[i] >= 0)
                close(fp[i]);
            if (lp[i] >= 0)
                close(lp[i]);
        }
        return kf_err_set(err, KF_EIO, NULL, "cannot start evaluator: %s", strerror(e));
    }
}
