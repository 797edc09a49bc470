/* runner_link.c: the judge's end of the runner protocol. See runner_link.h. */
#include "runner_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "runner.h"
#include "nvrtc_build.h"
#include "sandbox.h"
#include "sha256.h"
#include "xalloc.h"

const char *ev_rl_default_path(void)
{
    static char path[PATH_MAX + 16];
    char self[PATH_MAX];
    ssize_t n;
    char *slash;
    if (getenv("KF_RUNNER") && *getenv("KF_RUNNER"))
        return getenv("KF_RUNNER");
    if (path[0])
        return path;
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return "kf-runner";
    self[n] = 0;
    slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(path, sizeof path, "%s/kf-runner", self);
    return path;
}

static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

const char *ev_rl_pyrunner_path(void)
{
    static char path[PATH_MAX + 64];
    static const char *const rel[] = {"/../worker/python/kf_pyrunner.py",
                                      "/../../worker/python/kf_pyrunner.py"};
    const char *runner = ev_rl_default_path();   /* <exe dir>/kf-runner */
    size_t dir;
    if (getenv("KF_PYRUNNER") && *getenv("KF_PYRUNNER"))
        return getenv("KF_PYRUNNER");
    snprintf(path, sizeof path, "%s/worker/python/kf_pyrunner.py", KF_SOURCE_DIR);
    if (exists(path))
        return path;
    dir = strrchr(runner, '/') ? (size_t)(strrchr(runner, '/') - runner) : 0;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, sizeof path, "%.*s%s", (int)dir, runner, rel[i]);
        if (exists(path))
            return path;
    }
    return "kf_pyrunner.py";
}

const char *ev_rl_runner_lib_path(void)
{
    static char path[PATH_MAX + 32];
    const char *runner = ev_rl_default_path();
    const char *slash = strrchr(runner, '/');
    if (getenv("KF_RUNNER_LIB") && *getenv("KF_RUNNER_LIB"))
        return getenv("KF_RUNNER_LIB");
    snprintf(path, sizeof path, "%.*slibkfrunner.so", slash ? (int)(slash - runner + 1) : 0, runner);
    return path;
}

void ev_rl_python_scope(const struct kf_solution *sol, char out[65])
{
    json_t *j = kf_solution_to_json(sol);
    struct ev_sha256 h;
    char *text;
    json_object_del(j, "name");
    json_object_del(j, "author");
    json_object_del(j, "description");
    text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    ev_sha256_init(&h);
    ev_sha256_str(&h, "kernelfarm python-lane cache scope 1\n");
    ev_sha256_str(&h, text ? text : "");
    ev_sha256_hex(&h, out);
    free(text);
    json_decref(j);
}

static int scope_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || *s == '-'))
            return 0;
    return 1;
}

void ev_rl_python_opts(struct ev_rl_opts *o, const char *cache_dir, const char *scope,
                       char *argv[3], char *env[3])
{
    argv[0] = getenv("KF_PYTHON") && *getenv("KF_PYTHON") ? getenv("KF_PYTHON") : "python3";
    argv[1] = (char *)ev_rl_pyrunner_path();
    argv[2] = NULL;
    env[0] = env[1] = env[2] = NULL;
    o->argv = argv;
    if (cache_dir && scope_ok(scope)) {
        env[0] = xasprintf("TRITON_CACHE_DIR=%s/python/%s/triton", cache_dir, scope);
        env[1] = xasprintf("TORCH_EXTENSIONS_DIR=%s/python/%s/torch_ext", cache_dir, scope);
        o->env_set = env;
        /* The runner writes them after dropping to the sandbox's uid. */
        for (int i = 0; i < 2; i++) {
            const char *dir = strchr(env[i], '=') + 1;
            ev_mkdirs(dir);
            if (geteuid() == 0 && chown(dir, KF_SANDBOX_UID, KF_SANDBOX_UID) < 0)
                log_warn("runner", "cannot hand %s to uid %d: %s", dir, KF_SANDBOX_UID,
                         strerror(errno));
        }
    }
}

static _Noreturn void child(const struct ev_rl_opts *o, int cmd_r, int reply_w)
{
    int null_fd = open("/dev/null", O_RDONLY);
    struct rlimit no_core = {0, 0};
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL);
    setrlimit(RLIMIT_CORE, &no_core);
    /* cmd_r and reply_w are above 4 (see ev_rl_start), so these dups
     * cannot clobber each other. */
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(cmd_r, EV_RUNNER_CMD_FD) < 0 ||
        dup2(reply_w, EV_RUNNER_REPLY_FD) < 0)
        _exit(127);
    if (close_range(EV_RUNNER_REPLY_FD + 1, ~0u, 0) < 0)
        for (int fd = EV_RUNNER_REPLY_FD + 1; fd < 1024; fd++)
            close(fd);
    if (o->fake_main)
        _exit(o->fake_main(EV_RUNNER_CMD_FD, EV_RUNNER_REPLY_FD));
    for (int i = 0; o->env_set && o->env_set[i]; i++)
        putenv(o->env_set[i]);
    if (o->argv) {
        execvp(o->argv[0], o->argv);
        fprintf(stderr, "kf-runner: cannot exec %s: %s\n", o->argv[0], strerror(errno));
        _exit(127);
    }
    {
        const char *path = o->runner_path ? o->runner_path : ev_rl_default_path();
        char *argv[] = {(char *)path, NULL};
        execv(path, argv);
        fprintf(stderr, "kf-runner: cannot exec %s: %s\n", path, strerror(errno));
    }
    _exit(127);
}

/* A pipe whose ends are both above fd 4 (the runner's fixed fds). */
static int high_pipe(int p[2])
{
    int q[2];
    if (pipe2(q, O_CLOEXEC) < 0)
        return -1;
    p[0] = fcntl(q[0], F_DUPFD_CLOEXEC, 10);
    p[1] = fcntl(q[1], F_DUPFD_CLOEXEC, 10);
    close(q[0]);
    close(q[1]);
    return p[0] < 0 || p[1] < 0 ? -1 : 0;
}

/* What a runner may inherit from the judge's environment (never a secret:
 * kf_sandbox_spawn refuses secret-looking names). */
static const char *const env_keep[] = {
    "PATH", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
    "PYTHONPATH", "KF_RUNNER_LIB", "KF_TIMER", "KF_L2_FLUSH", "KF_LOG_LEVEL", "KF_TVM_FFI_ROOT",
    NULL,
};

/* argv[0] as a path: execve does not search PATH. */
static char *resolve(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (strchr(prog, '/') || !path)
        return xstrdup(prog);
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n && access(buf, X_OK) == 0)
            return xstrdup(buf);
        p += n + (p[n] == ':');
    }
    return xstrdup(prog);
}

int ev_rl_start(struct ev_rl *rl, const struct ev_rl_opts *o, struct kf_err *err)
{
    int cp[2] = {-1, -1}, rp[2] = {-1, -1}, rc;
    pid_t pid;
    memset(rl, 0, sizeof *rl);
    rl->cmd_fd = rl->reply_fd = -1;
    /* A runner that died must show up as an error of the write, not kill
     * the judge. */
    signal(SIGPIPE, SIG_IGN);
    if (high_pipe(cp) < 0 || high_pipe(rp) < 0)
        goto fail;
    if (o->fake_main) {
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            goto fail;
        if (pid == 0)
            child(o, cp[0], rp[1]);
    } else {
        /* The real runner: exec'd in the sandbox's process shape (fresh
         * environment, private tmp, only its pipes, rlimits; sandbox.h). */
        struct kf_sandbox_opts so = {0};
        struct kf_sandbox_child sc;
        const char *tmp = o->tmp_base ? o->tmp_base : getenv("TMPDIR");
        char *path = resolve(o->argv ? o->argv[0] : o->runner_path ? o->runner_path
                                                                   : ev_rl_default_path());
        char *one[] = {path, NULL}, **argv = one;
        int n = 0;
        if (o->argv) {
            for (; o->argv[n]; n++)
                ;
            argv = xcalloc((size_t)n + 1, sizeof *argv);
            for (int i = 0; i < n; i++)
                argv[i] = i ? o->argv[i] : path;
        }
        so.tmp_base = tmp && *tmp ? tmp : "/tmp";
        so.cmd_fd = cp[0];
        so.reply_fd = rp[1];
        so.log_fd = 2;
        so.env_keep = env_keep;
        so.env_set = (const char *const *)o->env_set;
        rc = kf_sandbox_spawn(&so, argv, &sc, err);
        if (argv != one)
            free(argv);
        free(path);
        if (rc) {
            for (int i = 0; i < 2; i++) {
                close(cp[i]);
                close(rp[i]);
            }
            return rc;
        }
        pid = sc.pid;
        snprintf(rl->tmp, sizeof rl->tmp, "%s", sc.tmp);
    }
    close(cp[0]);
    close(rp[1]);
    rl->pid = pid;
    rl->cmd_fd = cp[1];
    rl->reply_fd = rp[0];
    wk_reader_init(&rl->rd, EV_RL_FRAME_MAX);
    return 0;
fail:
    {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (cp[i] >= 0)
                close(cp[i]);
            if (rp[i] >= 0)
                close(rp[i]);
        }
        return kf_err_set(err, KF_EIO, "runner", "cannot start the runner: %s", strerror(e));
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ev_rl_exit_reason(struct ev_rl *rl, char *buf, size_t n)
{
    int st;
    pid_t r;
    if (!rl->pid) {
        snprintf(buf, n, "not running");
        return;
    }
    /* A runner that closed its pipe is about to exit: give it a moment. */
    for (int i = 0; i < 50 && (r = waitpid(rl->pid, &st, WNOHANG)) == 0; i++)
        usleep(10000);
    if (r != rl->pid) {
        snprintf(buf, n, "still running");
        return;
    }
    rl->pid = 0;
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "ended (status 0x%x)", st);
}

int ev_rl_call(struct ev_rl *rl, json_t *cmd, const char *want, double timeout_s, json_t **reply,
               struct kf_err *err)
{
    double deadline = timeout_s >= 0 ? now_s() + timeout_s : 0;
    const char *type;
    json_t *m = NULL;
    int rc;
    char why[128];

    *reply = NULL;
    if (!rl->pid) {
        json_decref(cmd);
        return kf_err_set(err, KF_EIO, "runner", "the runner is not running");
    }
    rc = wk_frame_write(rl->cmd_fd, cmd, err);
    json_decref(cmd);
    if (rc < 0) {
        ev_rl_exit_reason(rl, why, sizeof why);
        return kf_err_set(err, KF_EIO, "runner", "runner died (%s)", why);
    }
    for (;;) {
        struct pollfd p = {rl->reply_fd, POLLIN, 0};
        int ms = -1, pr;
        if (timeout_s >= 0) {
            double left = deadline - now_s();
            if (left <= 0)
                return kf_err_set(err, KF_ETIMEOUT, "runner", "no reply from the runner within %.0f s",
                                  timeout_s);
            ms = (int)(left * 1000) + 1;
        }
        pr = poll(&p, 1, ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        rc = wk_reader_read(&rl->rd, rl->reply_fd, &m, err);
        if (rc == WK_READ_AGAIN)
            continue;
        break;
    }
    if (rc == WK_READ_EOF) {
        ev_rl_exit_reason(rl, why, sizeof why);
        return kf_err_set(err, KF_EIO, "runner", "runner died (%s)", why);
    }
    if (rc < 0) {
        char m2[256];
        snprintf(m2, sizeof m2, "%s", err->msg);
        return kf_err_set(err, KF_EIO, "runner", "runner protocol error: %s", m2);
    }
    type = json_string_value(json_object_get(m, "type"));
    if (type && !strcmp(type, "error")) {
        const char *msg = json_string_value(json_object_get(m, "message"));
        kf_err_set(err, KF_EINVAL, "runner", "%.400s", msg ? msg : "runner error");
        *reply = m;
        return KF_EINVAL;
    }
    if (!type || strcmp(type, want)) {
        kf_err_set(err, KF_EIO, "runner", "runner protocol error: expected a '%s' reply, got '%.64s'",
                   want, type ? type : "(no type)");
        json_decref(m);
        return KF_EIO;
    }
    *reply = m;
    return 0;
}

char *ev_rl_give_file(struct ev_rl *rl, const char *file, int i, struct kf_err *err)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    char *dst = xasprintf("%s/artifact-%d-%s", rl->tmp, i, base), buf[65536];
    int in = open(file, O_RDONLY | O_CLOEXEC), out = -1, ok = in >= 0;
    ssize_t n = 0;
    if (ok)
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    ok = ok && out >= 0;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(out, buf, (size_t)n) == n;
    ok = ok && n == 0;
    if (ok && geteuid() == 0 && fchown(out, KF_SANDBOX_UID, KF_SANDBOX_UID) < 0)
        ok = 0;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0)
        ok = 0;
    if (!ok) {
        kf_err_set(err, KF_EIO, "artifacts", "cannot give %s to the runner: %s", file,
                   strerror(errno));
        free(dst);
        return NULL;
    }
    return dst;
}

void ev_rl_stop(struct ev_rl *rl, int kill_now)
{
    if (rl->pid) {
        int st;
        if (!kill_now) {
            json_t *bye = json_pack("{s:s}", "type", "bye");
            if (wk_frame_write(rl->cmd_fd, bye, NULL) == 0)
                for (int i = 0; i < 100 && waitpid(rl->pid, &st, WNOHANG) == 0; i++)
                    usleep(5000);
            json_decref(bye);
        }
        if (rl->pid && waitpid(rl->pid, &st, WNOHANG) == 0) {
            kill(rl->pid, SIGKILL);
            waitpid(rl->pid, &st, 0);
        }
        rl->pid = 0;
    }
    if (rl->cmd_fd >= 0)
        close(rl->cmd_fd);
    if (rl->reply_fd >= 0)
        close(rl->reply_fd);
    rl->cmd_fd = rl->reply_fd = -1;
    wk_reader_free(&rl->rd);
    json_decref(rl->layers);
    rl->layers = NULL;
    if (rl->tmp[0]) {   /* the runner is dead: its private tmp goes */
        struct kf_sandbox_child sc = {0, ""};
        snprintf(sc.tmp, sizeof sc.tmp, "%s", rl->tmp);
        kf_sandbox_child_cleanup(&sc);
        rl->tmp[0] = 0;
    }
}
