/* supervisor.c: supervised evaluation of one task (see supervisor.h).
 *
 * One loop per child: poll its frame pipe and its log pipe with a timeout
 * that ends at the nearest of the workload deadline, the task deadline and
 * the next tick. A child ends in one of these ways, each with a verdict for
 * the workload it was on (the first one without a trace):
 *   done frame, exit 0, every workload traced   -> task finished
 *   yield frame, exit 0, progress made           -> fresh child for the rest
 *   workload deadline passed                     -> TIMEOUT, fresh child for the rest
 *   task deadline passed                         -> TIMEOUT for it and every later one
 *   signal / non-zero exit / silent exit          -> RUNTIME_ERROR with the log tail
 *   bad frame (size, JSON, type, order, trace)    -> RUNTIME_ERROR (protocol)
 *   error frame (the engine cannot work at all)   -> task error, returned
 * The child's whole process group is killed before it is reaped (so the
 * group id cannot have been reused). Not thread-safe (forks, one task at a
 * time).
 */
#include "supervisor.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "trace_build.h"
#include "wire.h"
#include "xalloc.h"

/* ---- helpers ------------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The last `cap` bytes a child wrote to stdout/stderr. */
struct tail {
    char *buf;
    size_t len, cap;
    size_t total;   /* bytes seen */
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
    t->total += n;
    if (n >= t->cap) {
        memcpy(t->buf, p + n - t->cap, t->cap);
        t->len = t->cap;
        return;
    }
    if (t->len + n > t->cap) {
        size_t drop = t->len + n - t->cap;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

/* Printable ASCII copy (valid UTF-8 for JSON, no terminal escapes). New. */
static char *tail_text(const struct tail *t)
{
    char *s = xmalloc(t->len + 64);
    size_t o = 0;
    if (t->total > t->len)
        o = (size_t)sprintf(s, "[... %zu earlier bytes]\n", t->total - t->len);
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->buf[i];
        s[o++] = (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
    }
    s[o] = '\0';
    return s;
}

/* Read whatever the log pipe holds now. Returns 0 at EOF, 1 otherwise. */
static int drain_log(int fd, struct tail *t)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            tail_add(t, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : 0;
    }
}

json_t *wk_make_trace(const struct kf_definition *def, const struct kf_solution *sol,
                      const struct kf_workload *w, const char *status, const char *log,
                      const json_t *environment)
{
    int st = kf_status_from_name(status);
    /* Never ev_environment_json() here: the supervisor touches no CUDA library. */
    json_t *env = environment ? json_deep_copy(environment)
                              : json_pack("{s:s, s:{}}", "hardware", "unknown", "libs");
    return ev_trace_new(def, w, sol->name, st < 0 ? KF_ST_RUNTIME_ERROR : (enum kf_status)st,
                        log, NULL, NULL, env, json_pack("{s:s}", "verdict_by", "supervisor"));
}

int wk_check_trace(const json_t *trace, const struct kf_definition *def,
                   const struct kf_solution *sol, const struct kf_workload *w,
                   struct kf_err *err)
{
    const char *d, *s, *u;
    int rc = kf_trace_validate(trace, err);
    if (rc < 0)
        return KF_EINVAL;
    d = json_string_value(json_object_get(trace, "definition"));
    s = json_string_value(json_object_get(trace, "solution"));
    u = json_string_value(json_object_get(json_object_get(trace, "workload"), "uuid"));
    if (!d || strcmp(d, def->name) != 0)
        return kf_err_set(err, KF_EINVAL, "definition", "trace for definition %s, expected %s",
                          d ? d : "(none)", def->name);
    if (!s || strcmp(s, sol->name) != 0)
        return kf_err_set(err, KF_EINVAL, "solution", "trace for solution %s, expected %s",
                          s ? s : "(none)", sol->name);
    if (!u || strcmp(u, w->uuid) != 0)
        return kf_err_set(err, KF_EINVAL, "workload.uuid", "trace for workload %s, expected %s",
                          u ? u : "(none)", w->uuid);
    /* The whole workload as this worker knows it: axes and inputs too. */
    {
        json_t *want = kf_workload_to_json(w);
        int same = json_equal(want, json_object_get(trace, "workload"));
        json_decref(want);
        if (!same)
            return kf_err_set(err, KF_EINVAL, "workload", "trace's workload %s differs from "
                              "the task's (axes or inputs)", w->uuid);
    }
    return 0;
}

/* ---- one task ------------------------------------------------------------ */

struct run {
    struct wk_super *s;
    const char *task_id;
    const struct ev_request *req;
    const struct wk_hooks *h;
    json_t *traces;
    int next;           /* first workload without a trace */
};

static const char *trace_status(const json_t *t)
{
    const char *st = json_string_value(
        json_object_get(json_object_get(t, "evaluation"), "status"));
    return st ? st : "?";
}

/* Steals trace. */
static void emit(struct run *r, json_t *trace, const char *source)
{
    const struct kf_workload *w = r->req->workloads[r->next];
    log_info("worker", "task=%s workload=%s status=%s index=%d/%d source=%s", r->task_id,
             w->uuid, trace_status(trace), r->next + 1, r->req->nworkloads, source);
    json_array_append_new(r->traces, trace);
    if (r->h && r->h->on_trace)
        r->h->on_trace(r->h->ctx, r->next, json_array_get(r->traces, (size_t)r->next));
    r->next++;
}

static void emit_verdict(struct run *r, const char *status, const char *why,
                         const struct tail *t)
{
    char *tt = t ? tail_text(t) : NULL;
    char *log = tt && tt[0] ? xasprintf("%s\n--- evaluator log (tail) ---\n%s", why, tt)
                            : xstrdup(why);
    const struct kf_workload *w = r->req->workloads[r->next];
    emit(r, wk_make_trace(r->req->def, r->req->sol, w, status, log, r->s->environment),
         "supervisor");
    free(log);
    free(tt);
}

enum outcome { OC_RUNNING, OC_EXITED, OC_WL_TIMEOUT, OC_TOTAL_TIMEOUT, OC_ABANDON, OC_PROTO };

struct attempt {
    struct wk_child c;
    int first;
    int got_hello, got_done, yielded;
    int engine_failed;      /* 0, or KF_ECUDA / KF_EUNSUP from an error frame */
    char why[512];          /* protocol violation or engine error */
    double wl_deadline;
};

/* Handle one frame. Returns 0, or -1 on a protocol violation (a->why set). */
static int on_frame(struct run *r, struct attempt *a, json_t *m, double now)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    int n = r->req->nworkloads;

    if (!type) {
        snprintf(a->why, sizeof a->why, "frame without a type");
        return -1;
    }
    if (!a->got_hello && strcmp(type, "hello") != 0) {
        snprintf(a->why, sizeof a->why, "first frame is '%.32s', not hello", type);
        return -1;
    }
    if (a->got_done || a->yielded || a->engine_failed) {
        snprintf(a->why, sizeof a->why, "frame '%.32s' after the last one", type);
        return -1;
    }
    if (strcmp(type, "hello") == 0) {
        json_t *first = json_object_get(m, "first"), *pid = json_object_get(m, "pid");
        if (a->got_hello || !json_is_integer(first) || json_integer_value(first) != a->first ||
            !json_is_integer(pid) || json_integer_value(pid) != a->c.pid) {
            snprintf(a->why, sizeof a->why, "bad hello frame");
            return -1;
        }
        a->got_hello = 1;
        return 0;
    }
    if (strcmp(type, "trace") == 0) {
        json_t *idx = json_object_get(m, "index"), *trace = json_object_get(m, "trace");
        struct kf_err e;
        const json_t *env;
        if (!json_is_integer(idx) || json_integer_value(idx) != r->next || r->next >= n) {
            snprintf(a->why, sizeof a->why, "trace frame with index %lld, expected %d",
                     json_is_integer(idx) ? (long long)json_integer_value(idx) : -1LL, r->next);
            return -1;
        }
        kf_err_clear(&e);
        if (!json_is_object(trace) ||
            wk_check_trace(trace, r->req->def, r->req->sol, r->req->workloads[r->next], &e) < 0) {
            snprintf(a->why, sizeof a->why, "invalid trace for workload %d: %s%s%s", r->next,
                     e.path, e.path[0] ? ": " : "", e.msg);
            return -1;
        }
        if (kf_status_from_name(trace_status(trace)) < 0) {
            snprintf(a->why, sizeof a->why, "trace with unknown status");
            return -1;
        }
        env = json_object_get(json_object_get(trace, "evaluation"), "environment");
        if (json_is_object(env) && json_is_string(json_object_get(env, "hardware"))) {
            json_decref(r->s->environment);
            r->s->environment = json_deep_copy(env);
        }
        emit(r, json_incref(trace), "engine");
        a->wl_deadline = now + r->s->lim.workload_s;
        return 0;
    }
    if (strcmp(type, "yield") == 0) {
        if (r->next == a->first) {
            snprintf(a->why, sizeof a->why, "yield without progress");
            return -1;
        }
        a->yielded = 1;
        return 0;
    }
    if (strcmp(type, "error") == 0) {
        const char *msg = json_string_value(json_object_get(m, "message"));
        const char *code = json_string_value(json_object_get(m, "code"));
        snprintf(a->why, sizeof a->why, "%s", msg ? msg : "evaluation engine failed");
        /* Keep the one distinction the caller acts on: the device itself. */
        a->engine_failed = code && strcmp(code, kf_strerror(KF_ECUDA)) == 0 ? KF_ECUDA
                                                                             : KF_EUNSUP;
        return 0;
    }
    if (strcmp(type, "done") == 0) {
        json_t *cnt = json_object_get(m, "count");
        if (!json_is_integer(cnt) || json_integer_value(cnt) != n || r->next != n) {
            snprintf(a->why, sizeof a->why, "done after %d of %d workloads", r->next, n);
            return -1;
        }
        a->got_done = 1;
        return 0;
    }
    snprintf(a->why, sizeof a->why, "unknown frame type '%.32s'", type);
    return -1;
}

/* How a child ended, read from waitid() without reaping it. */
struct exit_info {
    int exited;     /* 1 once it has ended */
    int code;       /* exit status, or -1 */
    int sig;        /* terminating signal, or 0 */
};

static int child_exited(pid_t pid, struct exit_info *x)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* WNOWAIT: leave it a zombie so its process group id stays reserved
     * until the group has been killed. */
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return x->exited = errno == ECHILD;
    if (si.si_pid != pid)
        return 0;
    x->exited = 1;
    if (si.si_code == CLD_EXITED)
        x->code = si.si_status;
    else
        x->sig = si.si_status;
    return 1;
}

static void describe_exit(const struct exit_info *x, char *buf, size_t n)
{
    if (x->code == WK_EXIT_TOOBIG)
        snprintf(buf, n, "evaluator could not send a trace under the %u-byte frame cap",
                 WK_FRAME_MAX);
    else if (x->sig)
        snprintf(buf, n, "evaluator killed by signal %d (%s)", x->sig, strsignal(x->sig));
    else if (x->code >= 0)
        snprintf(buf, n, "evaluator exited with status %d", x->code);
    else
        snprintf(buf, n, "evaluator ended");
}

/* Children killed but not yet reaped (stuck in the driver's teardown). */
static pid_t stuck[32];

static void reap_stuck(void)
{
    for (size_t i = 0; i < sizeof stuck / sizeof stuck[0]; i++)
        if (stuck[i] > 0 && waitpid(stuck[i], NULL, WNOHANG) != 0) {
            log_info("worker", "evaluator pid=%d finally reaped", (int)stuck[i]);
            stuck[i] = 0;
        }
}

/* Reap a killed child, waiting at most `patience` seconds: a process whose
 * GPU context the driver cannot tear down must not stop the worker. */
static void reap(pid_t pid, double patience)
{
    double until = mono_now() + patience;
    for (;;) {
        pid_t k = waitpid(pid, NULL, WNOHANG);
        if (k == pid || (k < 0 && errno != EINTR))
            return;
        if (mono_now() >= until)
            break;
        usleep(5000);
    }
    log_error("worker", "evaluator pid=%d not reaped %.0f s after SIGKILL (GPU teardown stuck?)",
              (int)pid, patience);
    for (size_t i = 0; i < sizeof stuck / sizeof stuck[0]; i++)
        if (stuck[i] <= 0) {
            stuck[i] = pid;
            return;
        }
}

/* Read every complete frame the pipe holds now. */
static enum outcome read_frames(struct run *r, struct attempt *a, struct wk_reader *rd,
                                int *frame_open)
{
    for (;;) {
        json_t *m = NULL;
        struct kf_err fe;
        int k = wk_reader_read(rd, a->c.frame_fd, &m, &fe);
        if (k == WK_READ_AGAIN)
            return OC_RUNNING;
        if (k == WK_READ_EOF) {
            *frame_open = 0;
            return OC_RUNNING;
        }
        if (k < 0) {
            snprintf(a->why, sizeof a->why, "bad frame: %s", fe.msg);
            return OC_PROTO;
        }
        k = on_frame(r, a, m, mono_now());
        json_decref(m);
        if (k < 0)
            return OC_PROTO;
    }
}

/* One child from r->next. Returns 0 to go on, WK_ABANDONED, or a negative
 * code (engine failure / spawn failure). */
static int run_child(struct run *r, double task_deadline, struct kf_err *err)
{
    struct wk_child_opts o = {r->s->eval, r->req, r->next, r->s->scrub, r->s->nscrub};
    struct attempt a;
    struct wk_reader rd;
    struct tail t = {0};
    enum outcome oc = OC_RUNNING;
    int frame_open = 1, log_open = 1, rc = 0;
    struct exit_info x = {0, -1, 0};
    double tick = r->h && r->h->tick_s > 0 ? r->h->tick_s : 1.0, next_tick;
    double now = mono_now();

    memset(&a, 0, sizeof a);
    a.first = r->next;
    reap_stuck();
    if (wk_child_spawn(&o, &a.c, err) < 0)
        return err ? err->code : KF_EIO;
    log_debug("worker", "task=%s evaluator pid=%d first=%d", r->task_id, (int)a.c.pid, a.first);
    t.cap = r->s->lim.log_tail >= 256 ? r->s->lim.log_tail : 256;
    t.buf = xmalloc(t.cap);
    wk_reader_init(&rd, WK_FRAME_MAX);
    a.wl_deadline = now + r->s->lim.startup_s + r->s->lim.workload_s;
    next_tick = now + tick;

    while (oc == OC_RUNNING) {
        struct pollfd pf[2];
        int np = 0, fi = -1, li = -1;
        double until;
        int ms;

        now = mono_now();
        if (child_exited(a.c.pid, &x)) {
            /* Everything it wrote is in the pipes now. */
            if (frame_open)
                oc = read_frames(r, &a, &rd, &frame_open);
            if (oc == OC_RUNNING)
                oc = OC_EXITED;
            break;
        }
        if (now >= task_deadline) {
            oc = OC_TOTAL_TIMEOUT;
            break;
        }
        if (now >= a.wl_deadline) {
            oc = OC_WL_TIMEOUT;
            break;
        }
        if (now >= next_tick) {
            next_tick = now + tick;
            if (r->h && r->h->on_tick && r->h->on_tick(r->h->ctx)) {
                oc = OC_ABANDON;
                break;
            }
        }
        until = a.wl_deadline < task_deadline ? a.wl_deadline : task_deadline;
        if (next_tick < until)
            until = next_tick;
        if (!frame_open && now + 0.02 < until)
            until = now + 0.02;   /* the pipe closed: poll for the exit */
        ms = (int)((until - now) * 1000.0) + 1;
        if (frame_open) {
            pf[np] = (struct pollfd){a.c.frame_fd, POLLIN, 0};
            fi = np++;
        }
        if (log_open) {
            pf[np] = (struct pollfd){a.c.log_fd, POLLIN, 0};
            li = np++;
        }
        if (np == 0) {
            usleep((useconds_t)ms * 1000);
            continue;
        }
        if (poll(pf, (nfds_t)np, ms) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(a.why, sizeof a.why, "poll: %s", strerror(errno));
            oc = OC_PROTO;
            break;
        }
        if (li >= 0 && pf[li].revents)
            log_open = drain_log(a.c.log_fd, &t);
        if (fi >= 0 && pf[fi].revents)
            oc = read_frames(r, &a, &rd, &frame_open);
    }
    /* Kill the whole group (the leader may be a zombie: the id is still
     * reserved) and collect the output written so far (non-blocking). The
     * verdict is out before the reap: tearing down a GPU context that runs
     * an endless kernel can take a while, and the deadline is the deadline. */
    kill(-a.c.pid, SIGKILL);
    kill(a.c.pid, SIGKILL);
    if (log_open)
        drain_log(a.c.log_fd, &t);

    /* It had said its last word: a slow exit is no verdict. */
    if ((oc == OC_WL_TIMEOUT || oc == OC_EXITED) &&
        (a.got_done || a.yielded || a.engine_failed)) {
        oc = OC_EXITED;
        x = (struct exit_info){1, 0, 0};
    }

    switch (oc) {
    case OC_ABANDON:
        log_warn("worker", "task=%s abandoned (evaluator pid=%d killed)", r->task_id,
                 (int)a.c.pid);
        rc = WK_ABANDONED;
        break;
    case OC_TOTAL_TIMEOUT: {
        char why[256];
        snprintf(why, sizeof why,
                 "TIMEOUT: the task deadline of %.1f s passed; evaluator process group killed",
                 r->s->lim.total_s);
        if (r->next < r->req->nworkloads)
            emit_verdict(r, "TIMEOUT", why, &t);
        snprintf(why, sizeof why, "TIMEOUT: not run, the task deadline of %.1f s had passed",
                 r->s->lim.total_s);
        while (r->next < r->req->nworkloads)
            emit_verdict(r, "TIMEOUT", why, NULL);
        break;
    }
    case OC_WL_TIMEOUT: {
        char why[256];
        snprintf(why, sizeof why,
                 "TIMEOUT: the workload deadline of %.1f s%s passed; evaluator process group "
                 "killed",
                 r->s->lim.workload_s, r->next == a.first ? " (plus start-up allowance)" : "");
        emit_verdict(r, "TIMEOUT", why, &t);
        break;
    }
    case OC_PROTO: {
        char why[700];
        snprintf(why, sizeof why, "evaluator protocol error: %s", a.why);
        log_warn("worker", "task=%s %s", r->task_id, why);
        if (r->next < r->req->nworkloads)
            emit_verdict(r, "RUNTIME_ERROR", why, &t);
        break;
    }
    case OC_EXITED:
    case OC_RUNNING: {
        char why[700];
        int clean = x.sig == 0 && x.code == 0;
        if (a.engine_failed) {
            char *tt = tail_text(&t);
            log_error("worker", "task=%s evaluation engine failed: %s", r->task_id, a.why);
            if (tt[0])
                log_error("worker", "task=%s evaluator log tail: %s", r->task_id, tt);
            free(tt);
            rc = kf_err_set(err, a.engine_failed, NULL, "evaluation engine failed: %s", a.why);
            break;
        }
        if (clean && (a.got_done || a.yielded))
            break;
        describe_exit(&x, why, sizeof why);
        if (clean)
            snprintf(why, sizeof why, "evaluator exited before reporting workload %d",
                     r->next);
        log_warn("worker", "task=%s %s", r->task_id, why);
        if (r->next < r->req->nworkloads)
            emit_verdict(r, "RUNTIME_ERROR", why, &t);
        break;
    }
    }
    reap(a.c.pid, 30.0);
    close(a.c.frame_fd);
    close(a.c.log_fd);
    wk_reader_free(&rd);
    free(t.buf);
    return rc;
}

int wk_run_task(struct wk_super *s, const char *task_id, const struct ev_request *req,
                const struct wk_hooks *h, json_t **traces_out, struct kf_err *err)
{
    struct run r = {s, task_id, req, h, json_array(), 0};
    double deadline = mono_now() + s->lim.total_s;
    int rc = 0;

    if (traces_out)
        *traces_out = NULL;
    while (r.next < req->nworkloads) {
        rc = run_child(&r, deadline, err);
        if (rc != 0)
            break;
    }
    if (rc == 0 && traces_out)
        *traces_out = json_incref(r.traces);
    json_decref(r.traces);
    return rc;
}
