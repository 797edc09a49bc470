/* sandbox_probe.c: a stand-in for bin/kf-runner, for test_sandbox.c. It is
 * started by kf_sandbox_spawn, reads one command frame on fd 3, enters the
 * sandbox with the policy the command gives, tries what the command names
 * and answers one frame on fd 4:
 *
 *   {"layers": {...}, "result": {"<attempt>": "ok" | "EPERM" | ..., ...}}
 *   {"enter_error": "...", "layers": {...}}
 *
 * It only reports what happened; test_sandbox.c decides what must have.
 * Checks: state, socket, fs, signal, spawn, forkbomb, syscalls, works,
 * fsize, nofile, cpu. Ends with _exit (no atexit work, no leak checker:
 * LeakSanitizer would need ptrace, which the sandbox refuses).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "wire.h"

extern char **environ;

static json_t *result;

/* Record the outcome of one attempt: "ok" when rc >= 0, else errno's name. */
static void note(const char *what, long rc)
{
    const char *name = rc >= 0 ? "ok" : strerrorname_np(errno);
    json_object_set_new(result, what, json_string(name ? name : "E?"));
}

static const char *arg_str(const json_t *cmd, const char *key)
{
    return json_string_value(json_object_get(cmd, key));
}

/* ---- checks --------------------------------------------------------------- */

static void check_state(void)
{
    json_t *env = json_array(), *fds = json_array();
    int sig = -1;
    for (char **e = environ; *e; e++)
        json_array_append_new(env, json_string(*e));
    json_object_set_new(result, "environ", env);
    for (int fd = 0; fd < 4096; fd++) {
        struct stat st;
        const char *kind;
        if (fcntl(fd, F_GETFD) < 0)
            continue;
        if (fstat(fd, &st) < 0)
            kind = "?";
        else if (S_ISFIFO(st.st_mode))
            kind = "fifo";
        else if (S_ISCHR(st.st_mode))
            kind = "chr";
        else if (S_ISSOCK(st.st_mode))
            kind = "sock";
        else if (S_ISREG(st.st_mode))
            kind = "reg";
        else
            kind = "other";
        json_array_append_new(fds, json_pack("[is]", fd, kind));
    }
    json_object_set_new(result, "fds", fds);
    prctl(PR_GET_PDEATHSIG, &sig);
    json_object_set_new(result, "pdeathsig", json_integer(sig));
    json_object_set_new(result, "no_new_privs", json_integer(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
    json_object_set_new(result, "dumpable", json_integer(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)));
    json_object_set_new(result, "uid", json_integer(getuid()));
    json_object_set_new(result, "euid", json_integer(geteuid()));
    json_object_set_new(result, "gid", json_integer(getgid()));
    json_object_set_new(result, "pgid", json_integer(getpgrp()));
    json_object_set_new(result, "ppid", json_integer(getppid()));
    json_object_set_new(result, "seccomp_mode", json_integer(prctl(PR_GET_SECCOMP, 0, 0, 0, 0)));
    {
        static const struct { const char *name; int res; } lims[] = {
            {"cpu", RLIMIT_CPU}, {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},
            {"fsize", RLIMIT_FSIZE}, {"core", RLIMIT_CORE}, {"as", RLIMIT_AS}};
        json_t *l = json_object();
        for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
            struct rlimit rl;
            getrlimit(lims[i].res, &rl);
            json_object_set_new(l, lims[i].name,
                                rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur != rl.rlim_max
                                    ? json_integer(-1)
                                    : json_integer((json_int_t)rl.rlim_cur));
        }
        json_object_set_new(result, "rlimits", l);
    }
    {
        sigset_t cur;
        int blocked = 0, handled = 0;
        sigprocmask(SIG_SETMASK, NULL, &cur);
        for (int s = 1; s < 32; s++) {
            struct sigaction sa;
            blocked += sigismember(&cur, s) == 1;
            /* SIG_IGN survives execve; handlers do not (and a sanitizer
             * runtime installs its own), so count the ignored ones. */
            if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
                handled++;
        }
        json_object_set_new(result, "blocked_signals", json_integer(blocked));
        json_object_set_new(result, "ignored_signals", json_integer(handled));
    }
}

static void check_socket(void)
{
    int sv[2];
    note("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
    note("socket_inet6", socket(AF_INET6, SOCK_DGRAM, 0));
    note("socket_unix", socket(AF_UNIX, SOCK_STREAM, 0));
    note("socket_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
    note("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    note("io_uring_setup", syscall(__NR_io_uring_setup, 4, calloc(1, 256)));
}

/* Paths from the command: "read" (read each), "write" (create each). */
static void check_fs(const json_t *cmd)
{
    size_t i;
    json_t *v;
    char buf[64];
    json_array_foreach(json_object_get(cmd, "try_read"), i, v) {
        int fd = open(json_string_value(v), O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && read(fd, buf, sizeof buf) < 0)
            fd = -1;
        note(json_string_value(v), fd);
        if (fd >= 0)
            close(fd);
    }
    json_array_foreach(json_object_get(cmd, "try_write"), i, v) {
        int fd = open(json_string_value(v), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd >= 0 && write(fd, "x", 1) != 1)
            fd = -1;
        note(json_string_value(v), fd);
        if (fd >= 0)
            close(fd);
    }
    json_array_foreach(json_object_get(cmd, "try_mkdir"), i, v)
        note(json_string_value(v), mkdir(json_string_value(v), 0755));
    json_array_foreach(json_object_get(cmd, "try_unlink"), i, v)
        note(json_string_value(v), unlink(json_string_value(v)));
}

static volatile sig_atomic_t self_sigs;

static void on_usr1(int s)
{
    (void)s;
    self_sigs++;
}

static void check_signal(void)
{
    pid_t pp = getppid();
    siginfo_t si;
    int fd;

    memset(&si, 0, sizeof si);
    si.si_code = SI_QUEUE;
    si.si_signo = SIGUSR1;
    note("kill_parent", kill(pp, SIGUSR1));
    note("kill_group", kill(0, SIGUSR1));
    note("kill_parent_group", kill(-getpgrp(), SIGUSR1));
    note("kill_all_probe", kill(-1, 0));   /* signal 0: a permission probe only */
    note("tgkill_parent", syscall(SYS_tgkill, pp, pp, SIGUSR1));
    note("tkill_parent", syscall(SYS_tkill, pp, SIGUSR1));
    note("sigqueue_parent", syscall(SYS_rt_sigqueueinfo, pp, SIGUSR1, &si));
    note("tgsigqueue_parent", syscall(SYS_rt_tgsigqueueinfo, pp, pp, SIGUSR1, &si));
    fd = (int)syscall(SYS_pidfd_open, pp, 0);
    note("pidfd_open_parent", fd);
    note("pidfd_send_signal", syscall(SYS_pidfd_send_signal, fd >= 0 ? fd : 0, SIGUSR1, NULL, 0));
    note("fcntl_setown_parent", fcntl(4, F_SETOWN, pp));
    note("fcntl_setown_group", fcntl(4, F_SETOWN, -getpgrp()));
    note("ioctl_fiosetown", ioctl(4, FIOSETOWN, &pp));
    /* and to itself, which abort() and pthread_kill need */
    signal(SIGUSR1, on_usr1);
    note("raise_self", raise(SIGUSR1));
    note("kill_self", kill(getpid(), SIGUSR1));
    json_object_set_new(result, "self_signals", json_integer(self_sigs));
}

static void *idle_thread(void *p)
{
    return p;
}

static void check_spawn(void)
{
    pid_t pid;
    struct clone_args {
        unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
            tls;
    } ca;
    pthread_t t;
    char *argv[] = {"/bin/true", NULL};

    pid = fork();
    if (pid == 0)
        _exit(0);
    note("fork", pid);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    note("clone_process", pid);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        _exit(0);
    note("clone3", pid);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    note("unshare_user", unshare(CLONE_NEWUSER));
    note("execve", execve(argv[0], argv, environ));
    errno = pthread_create(&t, NULL, idle_thread, NULL);
    note("pthread_create", errno ? -1 : 0);
    if (errno == 0)
        pthread_join(t, NULL);
}

/* Fork until it fails; every child waits on a pipe that closes when the
 * probe is done, so the count is how many can live at once. */
static void check_forkbomb(void)
{
    int p[2], n = 0, e = 0;
    if (pipe(p) < 0) {
        note("pipe", -1);
        return;
    }
    for (int i = 0; i < 4096; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        if (pid < 0) {
            e = errno;
            break;
        }
        n++;
    }
    close(p[1]);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    json_object_set_new(result, "forks", json_integer(n));
    json_object_set_new(result, "fork_errno", json_string(e ? strerrorname_np(e) : "none"));
}

static void check_syscalls(void)
{
    struct iovec lo = {NULL, 0}, re = {NULL, 0};
    union bpf_attr ba;
    struct rlimit rl;
    pid_t pp = getppid();
    char *argv[] = {"/bin/true", NULL};
    const char *tmp = getenv("TMPDIR");

    memset(&ba, 0, sizeof ba);
    note("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    note("ptrace_attach_parent", ptrace(PTRACE_ATTACH, pp, NULL, NULL));
    note("process_vm_readv", syscall(SYS_process_vm_readv, pp, &lo, 1, &re, 1, 0));
    note("personality_query", personality(0xffffffff));
    note("personality_set", personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    note("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
    note("add_key", syscall(SYS_add_key, "user", "kf", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    note("request_key", syscall(SYS_request_key, "user", "kf", NULL, 0));
    /* Arguments that make each call harmless should a filter be missing
     * (a made-up filesystem type, paths that are not mount points, bad
     * flags): only a refusal before the kernel looks at them gives EPERM. */
    note("mount", mount("none", tmp, "kf-no-such-fs", 0, NULL));
    note("umount2", umount2(tmp, 0));
    note("chroot", chroot(tmp));
    note("pivot_root", syscall(SYS_pivot_root, tmp, tmp));
    note("unshare_mount", unshare(CLONE_NEWNS));
    note("setns", setns(0, 0));
    note("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &ba, sizeof ba));
    note("setsid", setsid());
    {
        /* answered 0 without effect: still in the supervisor's group */
        pid_t before = getpgrp();
        note("setpgid", setpgid(0, 0));
        json_object_set_new(result, "setpgid_group_kept",
                            json_string(getpgrp() == before ? "yes" : "no"));
    }
    note("setuid_root", setuid(0));
    note("setresuid", setresuid(getuid(), getuid(), getuid()));
    note("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL));
    note("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    note("userfaultfd", syscall(SYS_userfaultfd, 0));
    note("prctl_dumpable", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    note("prctl_pdeathsig", prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0));
    note("prctl_set_name", prctl(PR_SET_NAME, "kf-probe", 0, 0, 0));
    {
        cpu_set_t cs;
        CPU_ZERO(&cs);
        CPU_SET(0, &cs);
        note("setpriority_parent", setpriority(PRIO_PROCESS, (id_t)pp, 5));
        note("setpriority_group", setpriority(PRIO_PGRP, 0, 5));
        note("setpriority_user", setpriority(PRIO_USER, getuid(), 5));
        /* one step nicer than now: allowed without privilege wherever the
         * tests run (make under nice included) */
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, 0);
        note("setpriority_self", setpriority(PRIO_PROCESS, 0, cur < 19 ? cur + 1 : 19));
        note("sched_setaffinity_parent", sched_setaffinity(pp, sizeof cs, &cs));
        note("sched_getaffinity_self", sched_getaffinity(0, sizeof cs, &cs));
        note("sched_setaffinity_self", sched_setaffinity(0, sizeof cs, &cs));
        note("ioprio_set", syscall(SYS_ioprio_set, 1, 0, 0));
    }
    note("getrlimit", getrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = rl.rlim_max;
    note("setrlimit", setrlimit(RLIMIT_NOFILE, &rl));
    note("execve", execve(argv[0], argv, environ));
}

struct worker_arg {
    int in, out;
};

static void *square(void *p)
{
    struct worker_arg *a = p;
    a->out = a->in * a->in;
    return NULL;
}

/* What the runner must still do after entering. */
static void check_works(const json_t *cmd)
{
    const char *tmp = getenv("TMPDIR"), *readable = arg_str(cmd, "readable");
    pthread_t t[4];
    struct worker_arg a[4];
    int ok = 1, fd;
    char path[PATH_MAX], path2[PATH_MAX], buf[64];
    size_t big = 64u << 20;
    unsigned char *m;
    struct wk_reader rd;
    json_t *ping = NULL;
    struct kf_err err;
    ssize_t got;

    for (int i = 0; i < 4; i++) {
        a[i].in = i + 2;
        if (pthread_create(&t[i], NULL, square, &a[i]) != 0)
            ok = 0;
    }
    for (int i = 0; ok && i < 4; i++)
        ok = pthread_join(t[i], NULL) == 0 && a[i].out == (i + 2) * (i + 2);
    note("threads", ok ? 0 : -1);

    m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
        memset(m, 0x5a, big);
        ok = m[big - 1] == 0x5a;
        munmap(m, big);
    }
    note("mmap_64MiB", m != MAP_FAILED && ok ? 0 : -1);
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    note("mprotect_exec", m == MAP_FAILED ? -1 : mprotect(m, 4096, PROT_READ | PROT_EXEC));
    note("dlopen_libz", dlopen("libz.so.1", RTLD_NOW) ? 0 : -1);

    fd = readable ? open(readable, O_RDONLY | O_CLOEXEC) : -1;
    got = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (got >= 0)
        buf[got] = '\0';
    note("read_allowed", got > 0 ? 0 : -1);
    if (fd >= 0)
        close(fd);
    fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    note("read_proc_self", fd >= 0 && read(fd, buf, sizeof buf) > 0 ? 0 : -1);
    if (fd >= 0)
        close(fd);

    snprintf(path, sizeof path, "%s/a.txt", tmp ? tmp : "/nonexistent");
    snprintf(path2, sizeof path2, "%s/sub", tmp ? tmp : "/nonexistent");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    note("tmp_create", fd >= 0 && write(fd, "hello", 5) == 5 ? 0 : -1);
    if (fd >= 0)
        close(fd);
    note("tmp_mkdir", mkdir(path2, 0700));
    snprintf(path2, sizeof path2, "%s/sub/b.txt", tmp ? tmp : "/nonexistent");
    note("tmp_rename", rename(path, path2));
    fd = open(path2, O_RDONLY | O_CLOEXEC);
    note("tmp_read_back", fd >= 0 && read(fd, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : -1);
    if (fd >= 0)
        close(fd);
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    note("devnull_write", fd >= 0 && write(fd, "x", 1) == 1 ? 0 : -1);
    if (fd >= 0)
        close(fd);

    /* The command pipe still reads: a second frame, echoed in the reply. */
    wk_reader_init(&rd, 0);
    if (wk_reader_read(&rd, 3, &ping, &err) == WK_READ_MSG) {
        json_object_set(result, "echo", ping);
        json_decref(ping);
    }
    wk_reader_free(&rd);
    note("stdout_write", write(1, "probe: stdout ok\n", 17));

    {
        unsigned long long as = strtoull(arg_str(cmd, "as_try") ? arg_str(cmd, "as_try") : "0",
                                         NULL, 10);
        if (as > 0) {
            void *q = mmap(NULL, as, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            note("mmap_over_as", q == MAP_FAILED ? -1 : 0);
        }
    }
}

static void check_fsize(void)
{
    char path[PATH_MAX], blk[65536];
    int fd;
    long total = 0;
    ssize_t w = 0;
    signal(SIGXFSZ, SIG_IGN);
    memset(blk, 'z', sizeof blk);
    snprintf(path, sizeof path, "%s/big", getenv("TMPDIR"));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        note("open", -1);
        return;
    }
    while (total < (64L << 20) && (w = write(fd, blk, sizeof blk)) > 0)
        total += w;
    note("write_big", w < 0 ? -1 : 0);
    json_object_set_new(result, "written", json_integer(total));
    close(fd);
}

static void check_nofile(void)
{
    int n = 0, e = 0;
    for (int i = 0; i < 100000; i++) {
        if (open("/dev/null", O_RDONLY) < 0) {
            e = errno;
            break;
        }
        n++;
    }
    json_object_set_new(result, "opened", json_integer(n));
    json_object_set_new(result, "errno", json_string(e ? strerrorname_np(e) : "none"));
}

/* ---- a thread started before enter (as the CUDA driver's are) ---------------- */

static int pre_pipe[2] = {-1, -1};
static const json_t *pre_cmd;

/* Waits for the go from main (after enter), then tries what the command's
 * "thread_try_read" names, a socket and a signal to the parent. */
static void *pre_thread(void *p)
{
    char c, key[PATH_MAX + 16], buf[16];
    size_t i;
    json_t *v;
    (void)p;
    while (read(pre_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    json_array_foreach(json_object_get(pre_cmd, "thread_try_read"), i, v) {
        int fd = open(json_string_value(v), O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && read(fd, buf, sizeof buf) < 0)
            fd = -1;
        snprintf(key, sizeof key, "thread:%s", json_string_value(v));
        note(key, fd);
        if (fd >= 0)
            close(fd);
    }
    note("thread:socket", socket(AF_INET, SOCK_STREAM, 0));
    note("thread:kill_parent", kill(getppid(), 0));
    note("thread:ptrace_traceme", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    return NULL;
}

/* ---- main ------------------------------------------------------------------ */

static const char **strv_of(const json_t *a)
{
    size_t n = json_array_size(a), i;
    const char **v = calloc(n + 1, sizeof *v);
    json_t *s;
    json_array_foreach(a, i, s)
        v[i] = json_string_value(s);
    return v;
}

int main(void)
{
    struct wk_reader rd;
    struct kf_err err;
    json_t *cmd = NULL, *layers = NULL, *reply;
    struct kf_sandbox_policy pol;
    const char *check, *tmp = getenv("TMPDIR");
    const char *wdefault[] = {tmp, "/dev/null", NULL};
    int rc;
    pthread_t pre;

    wk_reader_init(&rd, 0);
    if (wk_reader_read(&rd, 3, &cmd, &err) != WK_READ_MSG) {
        fprintf(stderr, "probe: no command on fd 3\n");
        _exit(2);
    }
    wk_reader_free(&rd);
    check = arg_str(cmd, "check");
    result = json_object();
    if (check && strcmp(check, "state_before") == 0) {
        check_state();   /* the spawn side alone, no enter */
        reply = json_pack("{s:o}", "result", result);
        wk_frame_write(4, reply, NULL);
        _exit(0);
    }
    pre_cmd = cmd;
    if (json_is_true(json_object_get(cmd, "thread_before"))) {
        if (pipe(pre_pipe) < 0 || pthread_create(&pre, NULL, pre_thread, NULL) != 0)
            _exit(5);
    }
    memset(&pol, 0, sizeof pol);
    pol.read_paths = strv_of(json_object_get(cmd, "read"));
    pol.write_paths = json_object_get(cmd, "write") ? strv_of(json_object_get(cmd, "write"))
                                                    : wdefault;
    pol.as_headroom = (unsigned long long)json_integer_value(json_object_get(cmd, "headroom"));
    pol.allow_fork = json_is_true(json_object_get(cmd, "allow_fork"));
    pol.drop_uid = !json_is_false(json_object_get(cmd, "drop_uid"));
    kf_err_clear(&err);
    rc = kf_sandbox_enter(&pol, &layers, &err);
    if (rc < 0) {
        reply = json_pack("{s:s, s:o*}", "enter_error", err.msg, "layers", layers);
        wk_frame_write(4, reply, NULL);
        _exit(3);
    }
    if (pre_pipe[1] >= 0) {
        if (write(pre_pipe[1], "g", 1) != 1 || pthread_join(pre, NULL) != 0)
            _exit(6);
    }
    if (!check || strcmp(check, "state") == 0)
        check_state();
    else if (strcmp(check, "socket") == 0)
        check_socket();
    else if (strcmp(check, "fs") == 0)
        check_fs(cmd);
    else if (strcmp(check, "signal") == 0)
        check_signal();
    else if (strcmp(check, "spawn") == 0)
        check_spawn();
    else if (strcmp(check, "forkbomb") == 0)
        check_forkbomb();
    else if (strcmp(check, "syscalls") == 0)
        check_syscalls();
    else if (strcmp(check, "works") == 0)
        check_works(cmd);
    else if (strcmp(check, "fsize") == 0)
        check_fsize();
    else if (strcmp(check, "nofile") == 0)
        check_nofile();
    else if (strcmp(check, "cpu") == 0)
        for (volatile unsigned long i = 0;; i++)
            ;
    reply = json_pack("{s:o, s:o}", "layers", layers, "result", result);
    if (wk_frame_write(4, reply, &err) < 0)
        _exit(4);
    _exit(0);
}
