/* sandbox.c: the spawn half of the runner sandbox (see sandbox.h): fork +
 * execve in a fresh process shape, the private tmp and its removal, and the
 * default path lists. Everything the child needs (environment, paths) is
 * built before fork(); between fork() and execve() the child makes only
 * async-signal-safe calls and reports a failure through a close-on-exec
 * pipe, so kf_sandbox_spawn can say why a runner did not start. Call from
 * one thread.
 */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xalloc.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

#define SPAWN_PATH "/usr/local/bin:/usr/bin:/bin"

/* What the child reports before it dies in setup: the step and errno. */
struct spawn_fail {
    int step;
    int err;
};

enum { STEP_PDEATHSIG = 1, STEP_PARENT, STEP_FDS, STEP_RLIMIT, STEP_SIGNALS, STEP_EXEC };

static const char *step_name(int step)
{
    switch (step) {
    case STEP_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)";
    case STEP_PARENT: return "parent check";
    case STEP_FDS: return "descriptor setup";
    case STEP_RLIMIT: return "setrlimit";
    case STEP_SIGNALS: return "signal reset";
    case STEP_EXEC: return "execve";
    default: return "setup";
    }
}

/* Same rule as wk_scrub_environ: names that must never reach a runner. */
static int name_looks_secret(const char *name)
{
    static const char *const pats[] = {"SECRET", "PASSWORD", "TOKEN", NULL};
    if (strncmp(name, "KF_REDIS", 8) == 0)
        return 1;
    for (int i = 0; pats[i]; i++)
        if (strstr(name, pats[i]))
            return 1;
    return 0;
}

static int env_has_name(char **env, int n, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < n; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return 1;
    return 0;
}

/* The child's environment (new array of new strings). */
static int build_env(const struct kf_sandbox_opts *o, const char *tmp, char ***out,
                     struct kf_err *err)
{
    int nkeep = 0, n = 0;
    char **env;

    for (const char *const *k = o->env_keep; k && *k; k++) {
        if (!**k || strchr(*k, '='))
            return kf_err_set(err, KF_EINVAL, "env_keep", "bad variable name '%s'", *k);
        if (name_looks_secret(*k))
            return kf_err_set(err, KF_EINVAL, "env_keep",
                              "'%s' looks like a secret: it must not reach the runner", *k);
        nkeep++;
    }
    for (const char *const *k = o->env_set; k && *k; k++) {
        const char *eq = strchr(*k, '=');
        if (!eq || eq == *k)
            return kf_err_set(err, KF_EINVAL, "env_set", "'%s' is not NAME=VALUE", *k);
        if (name_looks_secret(*k))
            return kf_err_set(err, KF_EINVAL, "env_set",
                              "'%.*s' looks like a secret: it must not reach the runner",
                              (int)(eq - *k), *k);
        nkeep++;
    }
    env = xcalloc((size_t)nkeep + 5, sizeof *env);
    for (const char *const *k = o->env_set; k && *k; k++)
        env[n++] = xstrdup(*k);
    for (const char *const *k = o->env_keep; k && *k; k++) {
        const char *v = getenv(*k);
        if (v && !env_has_name(env, n, *k))
            env[n++] = xasprintf("%s=%s", *k, v);
    }
    if (!env_has_name(env, n, "PATH"))
        env[n++] = xstrdup("PATH=" SPAWN_PATH);
    /* HOME, TMPDIR and LANG are the sandbox's, whatever env_keep says. */
    for (int i = 0; i < n; i++) {
        if (strncmp(env[i], "HOME=", 5) == 0 || strncmp(env[i], "TMPDIR=", 7) == 0 ||
            strncmp(env[i], "LANG=", 5) == 0) {
            free(env[i]);
            env[i] = env[--n];
            env[n] = NULL;
            i--;
        }
    }
    env[n++] = xasprintf("HOME=%s", tmp);
    env[n++] = xasprintf("TMPDIR=%s", tmp);
    env[n++] = xstrdup("LANG=C");
    env[n] = NULL;
    *out = env;
    return 0;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static _Noreturn void child_fail(int fd, int step)
{
    struct spawn_fail f = {step, errno};
    ssize_t w = write(fd, &f, sizeof f);
    (void)w;
    _exit(127);
}

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {v, v};
    struct rlimit cur;
    /* Never raise a hard limit the caller already lowered. */
    if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
    return setrlimit(res, &rl);
}

/* In the child, from fork() to execve(): async-signal-safe calls only. */
static _Noreturn void child_exec(const struct kf_sandbox_opts *o, char *const argv[],
                                 char *const envp[], pid_t parent, int errfd)
{
    int hi[4], moved;
    struct sigaction dfl;
    sigset_t none;

    /* The error pipe may have a number among 0-4 (a caller with stdin
     * closed): move it out of the way before anything lands there. */
    if ((moved = fcntl(errfd, F_DUPFD_CLOEXEC, 10)) >= 0)
        errfd = moved;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(errfd, STEP_PDEATHSIG);
    if (getppid() != parent) {
        errno = ESRCH;
        child_fail(errfd, STEP_PARENT);
    }
    /* Move every descriptor the child keeps above the targets first, so
     * that any arrangement of the caller's numbers works and dup2 always
     * clears close-on-exec on the result. */
    if ((hi[0] = fcntl(o->cmd_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
        (hi[1] = fcntl(o->reply_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
        (hi[2] = fcntl(o->log_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
        (hi[3] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
        (hi[3] = fcntl(hi[3], F_DUPFD_CLOEXEC, 10)) < 0)
        child_fail(errfd, STEP_FDS);
    if (dup2(hi[3], 0) < 0 || dup2(hi[2], 1) < 0 || dup2(hi[2], 2) < 0 || dup2(hi[0], 3) < 0 ||
        dup2(hi[1], 4) < 0)
        child_fail(errfd, STEP_FDS);
    /* Everything else (the judge's files, any socket) goes at execve; the
     * error pipe too, which is how the parent learns the exec worked. */
    if (syscall(SYS_close_range, 5u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 5; fd < (max > 0 ? max : 65536); fd++)
            if (fd != errfd)
                close((int)fd);
    }

    if (set_limit(RLIMIT_CPU, (rlim_t)(o->cpu_s > 0 ? o->cpu_s : KF_SANDBOX_CPU_S)) < 0 ||
        set_limit(RLIMIT_NOFILE, (rlim_t)(o->nofile > 0 ? o->nofile : KF_SANDBOX_NOFILE)) < 0 ||
        set_limit(RLIMIT_NPROC, (rlim_t)(o->nproc > 0 ? o->nproc : KF_SANDBOX_NPROC)) < 0 ||
        set_limit(RLIMIT_FSIZE,
                  (rlim_t)(o->fsize_bytes > 0 ? o->fsize_bytes : KF_SANDBOX_FSIZE)) < 0 ||
        set_limit(RLIMIT_CORE, 0) < 0)
        child_fail(errfd, STEP_RLIMIT);

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)sigaction(s, &dfl, NULL);   /* EINVAL for glibc's internal ones */
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        child_fail(errfd, STEP_SIGNALS);

    execve(argv[0], argv, envp);
    child_fail(errfd, STEP_EXEC);
}

int kf_sandbox_spawn(const struct kf_sandbox_opts *o, char *const argv[],
                     struct kf_sandbox_child *out, struct kf_err *err)
{
    char **envp = NULL;
    char tmpl[PATH_MAX];
    int ep[2] = {-1, -1}, rc = 0, made_tmp = 0;
    pid_t parent = getpid(), pid;
    struct spawn_fail f;
    ssize_t got;

    out->pid = -1;
    out->tmp[0] = '\0';
    if (!o || !argv || !argv[0] || argv[0][0] == '\0')
        return kf_err_set(err, KF_EINVAL, "argv", "no program to start");
    if (!o->tmp_base || !o->tmp_base[0])
        return kf_err_set(err, KF_EINVAL, "tmp_base", "no tmp base directory");
    if (o->cmd_fd < 0 || o->reply_fd < 0 || o->log_fd < 0)
        return kf_err_set(err, KF_EINVAL, "fds", "cmd_fd, reply_fd and log_fd must be open");
    if (o->cpu_s < 0 || o->nofile < 0 || o->nproc < 0 || o->fsize_bytes < 0)
        return kf_err_set(err, KF_EINVAL, "rlimits", "negative rlimit");
    if (o->nofile > 0 && o->nofile < 5)
        return kf_err_set(err, KF_EINVAL, "nofile", "nofile %ld leaves no room for fds 0-4",
                          o->nofile);
    if ((size_t)snprintf(tmpl, sizeof tmpl, "%s/kf-runner-XXXXXX", o->tmp_base) >= sizeof tmpl)
        return kf_err_set(err, KF_EINVAL, "tmp_base", "tmp base path too long");
    if (!mkdtemp(tmpl))
        return kf_err_set(err, KF_EIO, "tmp_base", "cannot create the runner's tmp in %s: %s",
                          o->tmp_base, strerror(errno));
    made_tmp = 1;
    snprintf(out->tmp, sizeof out->tmp, "%s", tmpl);
    /* The runner drops to KF_SANDBOX_UID in kf_sandbox_enter: its tmp must be its own. */
    if (geteuid() == 0 && chown(tmpl, KF_SANDBOX_UID, KF_SANDBOX_UID) < 0) {
        rc = kf_err_set(err, KF_EIO, "tmp_base", "cannot chown %s: %s", tmpl, strerror(errno));
        goto out;
    }
    rc = build_env(o, tmpl, &envp, err);
    if (rc < 0)
        goto out;
    if (pipe2(ep, O_CLOEXEC) < 0) {
        rc = kf_err_set(err, KF_EIO, NULL, "pipe: %s", strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        rc = kf_err_set(err, KF_EIO, NULL, "cannot start %s: fork: %s", argv[0],
                        strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(ep[0]);
        child_exec(o, argv, envp, parent, ep[1]);
    }
    close(ep[1]);
    ep[1] = -1;
    do
        got = read(ep[0], &f, sizeof f);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof f) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        rc = kf_err_set(err, KF_EIO, "argv", "cannot start %s: %s: %s", argv[0],
                        step_name(f.step), strerror(f.err));
        goto out;
    }
    out->pid = pid;
out:
    if (ep[0] >= 0)
        close(ep[0]);
    if (ep[1] >= 0)
        close(ep[1]);
    free_strv(envp);
    if (rc < 0 && made_tmp) {
        kf_sandbox_child_cleanup(out);
        out->pid = -1;
    }
    return rc;
}

/* ---- removal of the private tmp ---------------------------------------- */

#define RM_MAX_DEPTH 64   /* descriptors held at once; deeper trees are moved up */
#define RM_MAX_PASSES 1000

/* Remove name in dir dfd. A directory deeper than RM_MAX_DEPTH is renamed
 * into top (the tmp itself) and handled by a later pass. No symbolic link
 * is followed: entries are reached by descriptor with O_NOFOLLOW. */
static void rm_entry(int top, int dfd, const char *name, int depth, unsigned *moved)
{
    int fd;
    DIR *d;
    struct dirent *de;

    if (unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
        return;
    if (depth >= RM_MAX_DEPTH) {
        char nm[32];
        snprintf(nm, sizeof nm, ".kf-deep-%u", (*moved)++);
        (void)renameat(dfd, name, top, nm);
        return;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fchmod(fd, 0700);   /* a read-only directory's entries can go */
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rm_entry(top, dirfd(d), de->d_name, depth + 1, moved);
    }
    closedir(d);
    (void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void kf_sandbox_child_cleanup(struct kf_sandbox_child *c)
{
    unsigned moved = 0;
    int top;

    if (!c || !c->tmp[0])
        return;
    top = open(c->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (top >= 0) {
        (void)fchmod(top, 0700);
        for (int pass = 0; pass < RM_MAX_PASSES; pass++) {
            DIR *d;
            struct dirent *de;
            int any = 0, dup = fcntl(top, F_DUPFD_CLOEXEC, 0);
            if (dup < 0 || !(d = fdopendir(dup))) {
                if (dup >= 0)
                    close(dup);
                break;
            }
            rewinddir(d);   /* the dup shares the offset the last pass left at the end */
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                any = 1;
                rm_entry(top, top, de->d_name, 1, &moved);
            }
            closedir(d);
            if (!any)
                break;
        }
        close(top);
    }
    (void)rmdir(c->tmp);
    c->tmp[0] = '\0';
}

/* ---- path lists --------------------------------------------------------- */

struct strv {
    char **v;
    size_t n, cap;
};

static void strv_add(struct strv *s, const char *p)
{
    if (!p || !*p)
        return;
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = xstrdup(p);
    s->v[s->n] = NULL;
}

char **kf_sandbox_default_read_paths(const char *cuda_home, const char *cache_dir,
                                     const char *kernels_dir)
{
    static const char *const sys[] = {
        "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib",
        "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
        "/usr/share/zoneinfo", "/etc/localtime",
        "/dev", "/proc/self", "/proc/meminfo", "/proc/cpuinfo", "/proc/stat",
        "/proc/sys/vm/overcommit_memory", "/proc/driver/nvidia", "/sys",
        NULL};
    struct strv s = {0};
    for (int i = 0; sys[i]; i++)
        strv_add(&s, sys[i]);
    strv_add(&s, cuda_home);
    strv_add(&s, cache_dir);
    strv_add(&s, kernels_dir);
    return s.v;
}

char **kf_sandbox_default_write_paths(const char *tmp)
{
    static const char *const dev[] = {"/dev/null", "/dev/nvidiactl", "/dev/nvidia-uvm",
                                      "/dev/nvidia-uvm-tools", NULL};
    struct strv s = {0};
    glob_t g;

    strv_add(&s, tmp);
    for (int i = 0; dev[i]; i++)
        strv_add(&s, dev[i]);
    if (glob("/dev/nvidia[0-9]*", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            strv_add(&s, g.gl_pathv[i]);
        globfree(&g);
    }
    return s.v;
}

void kf_sandbox_paths_free(char **paths)
{
    free_strv(paths);
}

int kf_sandbox_path_exposed(const char *const *paths, const char *file)
{
    char real[PATH_MAX], tree[PATH_MAX];

    if (!file || !realpath(file, real))
        return 0;
    for (const char *const *p = paths; p && *p; p++) {
        size_t n;
        if (!realpath(*p, tree))
            continue;
        n = strlen(tree);
        if (strcmp(tree, "/") == 0 ||
            (strncmp(real, tree, n) == 0 && (real[n] == '\0' || real[n] == '/')))
            return 1;
    }
    return 0;
}
