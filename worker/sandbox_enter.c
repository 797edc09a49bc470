/* sandbox_enter.c: the enter half of the runner sandbox (see sandbox.h and
 * docs/runner.md, "The sandbox"): the runner calls kf_sandbox_enter once,
 * after its trusted start-up and before any submitted code runs. Layers, in
 * order: uid drop, no_new_privs, non-dumpable, parent-death signal,
 * Landlock, RLIMIT_AS, seccomp. Raw kernel interfaces only (no libseccomp):
 * the Landlock and seccomp structures and constants come from the kernel
 * headers, with the few newer than Debian 12's headers defined here.
 * Changes the whole process; call it once, from the thread that will run
 * the untrusted calls.
 */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* ---- Landlock: constants newer than the installed headers -------------- */

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REFER (1ULL << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)  /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)
#define LL_RESTRICT_SELF_TSYNC (1U << 3)  /* ABI 8: every thread of the process */
/* Rights that apply to a file (not a directory) in a path_beneath rule. */
#define LL_FS_FILE_RIGHTS                                                                 \
    (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

/* struct landlock_path_beneath_attr (packed, as the kernel has it). */
struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

/* ---- small helpers ------------------------------------------------------- */

static json_t *rlim_json(int res)
{
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return json_null();
    return json_integer((json_int_t)rl.rlim_cur);
}

/* VmSize of this process in bytes, or 0 when /proc says nothing. */
static unsigned long long vm_size_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024ULL;
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The open descriptors and how many are sockets: from /proc/self/fd (call
 * it before Landlock), else by probing numbers below RLIMIT_NOFILE. */
static json_t *fds_json(void)
{
    DIR *d = opendir("/proc/self/fd");
    int open_n = 0, sockets = 0;
    struct stat st;

    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            int fd;
            if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) == dirfd(d))
                continue;
            open_n++;
            if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
                sockets++;
        }
        closedir(d);
    } else {
        struct rlimit rl;
        long max = 1024;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            max = (long)rl.rlim_cur;
        for (long fd = 0; fd < max && fd < 65536; fd++) {
            if (fcntl((int)fd, F_GETFD) < 0)
                continue;
            open_n++;
            if (fstat((int)fd, &st) == 0 && S_ISSOCK(st.st_mode))
                sockets++;
        }
    }
    return json_pack("{s:i, s:i}", "open", open_n, "sockets", sockets);
}

static int env_secret_name(char *name, size_t cap)
{
    static const char *const pats[] = {"SECRET", "PASSWORD", "TOKEN", NULL};
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        int hit;
        if (!eq || eq[1] == '\0')   /* a value wiped by wk_scrub_environ is fine */
            continue;
        hit = strncmp(*e, "KF_REDIS", 8) == 0;
        for (int i = 0; !hit && pats[i]; i++) {
            const char *p = strstr(*e, pats[i]);
            hit = p && p < eq;
        }
        if (hit) {
            snprintf(name, cap, "%.*s", (int)(eq - *e), *e);
            return 1;
        }
    }
    return 0;
}

/* The tmp check: HOME is the private tmp when the runner was started by
 * kf_sandbox_spawn; after the uid drop it must be ours and usable. */
static int check_tmp(const struct kf_sandbox_policy *p, json_t *layers, struct kf_err *err)
{
    const char *home = getenv("HOME"), *tmpdir = getenv("TMPDIR");
    struct stat st;
    int listed = 0;

    for (const char *const *w = p->write_paths; home && w && *w; w++)
        listed |= strcmp(*w, home) == 0;
    if (!home || !tmpdir || strcmp(home, tmpdir) != 0 || !listed) {
        json_object_set_new(layers, "tmp",
                            json_pack("{s:b, s:s}", "private", 0, "why",
                                      "HOME/TMPDIR is not a write path (not started by "
                                      "kf_sandbox_spawn?)"));
        return 0;
    }
    errno = 0;
    if (stat(home, &st) < 0 || !S_ISDIR(st.st_mode) || access(home, R_OK | W_OK | X_OK) < 0)
        return kf_err_set(err, KF_EPERM, "tmp",
                          "private tmp %s is not usable as uid %d: %s (tmp_base must be "
                          "searchable by others)",
                          home, (int)getuid(), strerror(errno ? errno : ENOTDIR));
    if (st.st_uid != getuid() || (st.st_mode & 077) != 0) {
        json_object_set_new(layers, "tmp",
                            json_pack("{s:b, s:s}", "private", 0, "why",
                                      "not owned by the runner, or open to others"));
        return 0;
    }
    json_object_set_new(layers, "tmp", json_string("private"));
    return 0;
}

/* ---- uid ----------------------------------------------------------------- */

static int drop_uid(const struct kf_sandbox_policy *p, json_t *layers, struct kf_err *err)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;

    if (geteuid() != 0 || !p->drop_uid) {
        json_object_set_new(layers, "uid", json_integer((json_int_t)getuid()));
        json_object_set_new(layers, "uid_drop", json_false());
        json_object_set_new(layers, "uid_why",
                            json_string(geteuid() != 0 ? "not root: nothing to drop"
                                                       : "policy: drop_uid is 0"));
        return 0;
    }
    /* glibc applies each of these to every thread of the process. */
    if (setgroups(0, NULL) < 0 ||
        setresgid(KF_SANDBOX_UID, KF_SANDBOX_UID, KF_SANDBOX_UID) < 0 ||
        setresuid(KF_SANDBOX_UID, KF_SANDBOX_UID, KF_SANDBOX_UID) < 0)
        return kf_err_set(err, KF_EIO, "drop_uid", "cannot drop to uid %d: %s", KF_SANDBOX_UID,
                          strerror(errno));
    if (getresuid(&r, &e, &s) < 0 || getresgid(&gr, &ge, &gs) < 0 || r != KF_SANDBOX_UID ||
        e != KF_SANDBOX_UID || s != KF_SANDBOX_UID || gr != KF_SANDBOX_UID ||
        ge != KF_SANDBOX_UID || gs != KF_SANDBOX_UID)
        return kf_err_set(err, KF_EIO, "drop_uid", "uid drop did not hold");
    json_object_set_new(layers, "uid", json_integer(KF_SANDBOX_UID));
    json_object_set_new(layers, "uid_drop", json_true());
    return 0;
}

/* ---- Landlock ------------------------------------------------------------ */

static uint64_t ll_fs_all(int abi)
{
    uint64_t all = (1ULL << 13) - 1;   /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        all |= LL_FS_REFER;
    if (abi >= 3)
        all |= LL_FS_TRUNCATE;
    if (abi >= 5)
        all |= LL_FS_IOCTL_DEV;
    return all;
}

static int ll_add_paths(int ruleset, const char *const *paths, uint64_t rights, json_t *skipped,
                        int *added, struct kf_err *err)
{
    for (const char *const *pp = paths; pp && *pp; pp++) {
        struct ll_path_beneath pb;
        struct stat st;
        int fd = open(*pp, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) {
                char *s = NULL;
                if (asprintf(&s, "%s: %s", *pp, strerror(errno)) >= 0) {
                    json_array_append_new(skipped, json_string(s));
                    free(s);
                }
                continue;
            }
            return kf_err_set(err, KF_EIO, "landlock", "cannot open %s: %s", *pp,
                              strerror(errno));
        }
        if (fstat(fd, &st) < 0) {
            int e = errno;
            close(fd);
            return kf_err_set(err, KF_EIO, "landlock", "cannot stat %s: %s", *pp, strerror(e));
        }
        pb.allowed_access = S_ISDIR(st.st_mode) ? rights : (rights & LL_FS_FILE_RIGHTS);
        pb.parent_fd = fd;
        if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
            int e = errno;
            close(fd);
            return kf_err_set(err, KF_EIO, "landlock", "landlock_add_rule %s: %s", *pp,
                              strerror(e));
        }
        close(fd);
        (*added)++;
    }
    return 0;
}

static int apply_landlock(const struct kf_sandbox_policy *p, int threads_before, json_t *layers,
                          struct kf_err *err)
{
    struct ll_ruleset_attr attr;
    size_t attr_size;
    uint64_t all, rd, wr;
    int abi, rs = -1, rc = 0, nread = 0, nwrite = 0;
    json_t *skipped = json_array(), *ll;

    abi = (int)syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        const char *why = errno == ENOSYS ? "the kernel lacks Landlock (needs Linux 5.13+ "
                                            "with CONFIG_SECURITY_LANDLOCK)"
                          : errno == EOPNOTSUPP ? "Landlock is built but disabled at boot "
                                                  "(not in the lsm= list)"
                                                : strerror(errno);
        json_object_set_new(layers, "landlock", json_false());
        json_object_set_new(layers, "landlock_why", json_string(why));
        json_decref(skipped);
        return 0;
    }
    all = ll_fs_all(abi);
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = all;
    attr_size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;   /* no rule: none */
        attr_size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        attr_size = sizeof attr;
    }
    rs = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        rc = kf_err_set(err, KF_EIO, "landlock", "landlock_create_ruleset (ABI %d): %s", abi,
                        strerror(errno));
        goto out;
    }
    /* Read trees: read only; execute only where processes may be started.
     * Write trees: everything but execute (nothing written there runs). */
    rd = LL_FS_READ_FILE | LL_FS_READ_DIR | (p->allow_fork ? LL_FS_EXECUTE : 0);
    wr = all & ~LL_FS_EXECUTE;
    rc = ll_add_paths(rs, p->read_paths, rd, skipped, &nread, err);
    if (rc == 0)
        rc = ll_add_paths(rs, p->write_paths, wr, skipped, &nwrite, err);
    if (rc < 0)
        goto out;
    /* Before ABI 8 Landlock binds the calling thread (and threads it starts
     * later) only: threads already running stay outside; say how many. */
    if (syscall(__NR_landlock_restrict_self, rs, abi >= 8 ? LL_RESTRICT_SELF_TSYNC : 0) < 0) {
        rc = kf_err_set(err, KF_EIO, "landlock", "landlock_restrict_self: %s", strerror(errno));
        goto out;
    }
    ll = json_pack("{s:i, s:i, s:i, s:o, s:b, s:i}", "abi", abi, "read", nread, "write", nwrite,
                   "skipped", skipped, "tsync", abi >= 8, "threads_outside",
                   abi < 8 && threads_before > 1 ? threads_before - 1 : 0);
    skipped = NULL;
    if (abi >= 6)
        json_object_set_new(ll, "scoped", json_pack("[ss]", "signal", "abstract_unix_socket"));
    json_object_set_new(layers, "landlock", ll);
out:
    if (rs >= 0)
        close(rs);
    json_decref(skipped);
    return rc;
}

/* ---- seccomp ------------------------------------------------------------- */

#if defined(__x86_64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define SB_MAX_INSNS 512
#define SB_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define SB_ENOSYS (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
/* "Done" without doing it: the call returns 0 and nothing changes. */
#define SB_PRETEND (SECCOMP_RET_ERRNO | 0)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define ARG_HI(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + 4))
#else
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + 4))
#define ARG_HI(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#endif

struct sb_prog {
    struct sock_filter f[SB_MAX_INSNS];
    int n;
};

static void emit(struct sb_prog *b, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
    if (b->n < SB_MAX_INSNS)
        b->f[b->n] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
    b->n++;   /* an overflow is caught before install */
}

/* A holds the syscall number on entry and on fall-through of every block.
 * nr gets action (a refusal, or SECCOMP_RET_ALLOW for the hot list). */
static void match_nr(struct sb_prog *b, long nr, uint32_t action)
{
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1);
    emit(b, BPF_RET | BPF_K, action, 0, 0);
}

/* nr is allowed only when the low 32 bits of argument i equal v (the
 * kernel reads these arguments as int, so the high half is ignored too). */
static void allow_nr_if_arg(struct sb_prog *b, long nr, int i, uint32_t v)
{
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 4);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(i), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, v, 0, 1);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
}

/* nr is allowed only when the low 32 bits of argument i are 0 (this
 * process or thread) or v (this process). */
static void allow_nr_if_arg_self(struct sb_prog *b, long nr, int i, uint32_t v)
{
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 5);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(i), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, v, 0, 1);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
}

/* nr is refused when the low 32 bits of argument i are one of vals. */
static void deny_nr_if_arg_in(struct sb_prog *b, long nr, int i, const uint32_t *vals, int m)
{
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, (uint8_t)(m + 3));
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(i), 0, 0);
    for (int j = 0; j < m; j++)
        emit(b, BPF_JMP | BPF_JEQ | BPF_K, vals[j], (uint8_t)(m - j), 0);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
}

/* Syscalls refused outright (EPERM). */
static const long sb_denied[] = {
    /* networking: the runner talks through its pipes only */
    __NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen, __NR_accept,
    __NR_accept4,
    /* io_uring performs socket and file operations outside this filter */
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
    /* other processes' memory and state */
    __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
    __NR_pidfd_open, __NR_pidfd_send_signal, __NR_pidfd_getfd, __NR_process_madvise,
    __NR_perf_event_open, __NR_userfaultfd,
    __NR_personality, __NR_keyctl, __NR_add_key, __NR_request_key,
    /* the filesystem view */
    __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_open_tree, __NR_move_mount,
    __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_mount_setattr,
    __NR_name_to_handle_at, __NR_open_by_handle_at, __NR_quotactl, __NR_quotactl_fd,
    __NR_unshare, __NR_setns,
    /* the kernel itself */
    __NR_kexec_load, __NR_kexec_file_load, __NR_bpf, __NR_init_module, __NR_finit_module,
    __NR_delete_module, __NR_reboot, __NR_swapon, __NR_swapoff, __NR_acct, __NR_syslog,
    __NR_settimeofday, __NR_clock_settime, __NR_adjtimex, __NR_clock_adjtime,
    __NR_sethostname, __NR_setdomainname, __NR_vhangup,
    /* leaving the supervisor's process group (its deadline kill); setpgid
     * is answered without being done, below */
    __NR_setsid,
    /* identity and limits */
    __NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid, __NR_setresuid, __NR_setresgid,
    __NR_setfsuid, __NR_setfsgid, __NR_setgroups, __NR_capset, __NR_setrlimit,
    __NR_ioprio_set,
#ifdef __NR_iopl
    __NR_iopl,
#endif
#ifdef __NR_ioperm
    __NR_ioperm,
#endif
#ifdef __NR_uselib
    __NR_uselib,
#endif
};

/* Hot syscalls that are always allowed, tested first so that a CUDA
 * runtime's ioctl/futex/poll traffic walks a few instructions, not the
 * whole deny list. None of them is in sb_denied. */
static const long sb_hot[] = {
    __NR_read, __NR_write, __NR_futex, __NR_ppoll, __NR_mmap, __NR_munmap, __NR_mprotect,
    __NR_madvise, __NR_mremap, __NR_brk, __NR_close, __NR_lseek, __NR_pread64, __NR_pwrite64,
    __NR_readv, __NR_writev, __NR_sched_yield, __NR_clock_nanosleep, __NR_getpid, __NR_gettid,
    __NR_epoll_pwait,
#ifdef __NR_poll
    __NR_poll,
#endif
#ifdef __NR_epoll_wait
    __NR_epoll_wait,
#endif
#ifdef __NR_nanosleep
    __NR_nanosleep,
#endif
};

/* Syscalls refused unless the policy allows starting processes. */
static const long sb_spawning[] = {
#ifdef __NR_fork
    __NR_fork,
#endif
#ifdef __NR_vfork
    __NR_vfork,
#endif
    __NR_execve, __NR_execveat,
};

#define SB_NS_FLAGS                                                                       \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |        \
     CLONE_NEWPID | CLONE_NEWNET | CLONE_PARENT)

static int build_filter(struct sb_prog *b, int allow_fork, pid_t self)
{
#ifdef SB_AUDIT_ARCH
    static const uint32_t prctl_denied[] = {PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_PTRACER,
                                            PR_SET_SECUREBITS, PR_SET_MM};
    static const uint32_t fcntl_denied[] = {F_SETOWN, F_SETSIG, F_SETOWN_EX};
    static const uint32_t ioctl_denied[] = {FIOSETOWN, SIOCSPGRP, TIOCSTI};
    uint32_t me = (uint32_t)self;

    b->n = 0;
    /* Another ABI (i386 through int 0x80) has other numbers: kill. */
    emit(b, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, arch), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SB_AUDIT_ARCH, 1, 0);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    emit(b, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, nr), 0, 0);
#ifdef __x86_64__
    /* x32 numbers reach the same table with a high bit: kill. */
    emit(b, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
#endif
    for (size_t i = 0; i < sizeof sb_hot / sizeof sb_hot[0]; i++)
        match_nr(b, sb_hot[i], SECCOMP_RET_ALLOW);
    /* No signal by descriptor ownership (SIGIO/SIGURG to a pid or group). */
    deny_nr_if_arg_in(b, __NR_ioctl, 1, ioctl_denied, 3);
    for (size_t i = 0; i < sizeof sb_denied / sizeof sb_denied[0]; i++)
        match_nr(b, sb_denied[i], SB_EPERM);
    if (!allow_fork)
        for (size_t i = 0; i < sizeof sb_spawning / sizeof sb_spawning[0]; i++)
            match_nr(b, sb_spawning[i], SB_EPERM);
    /* setpgid: 0 without effect. Build tools start their children in a new
     * process group (ninja's posix_spawn with POSIX_SPAWN_SETPGROUP, under
     * torch.utils.cpp_extension and tvm_ffi.cpp), and fail on a refusal;
     * pretending keeps every process in the supervisor's group, where its
     * deadline kill(-pgid) reaches it. */
    match_nr(b, __NR_setpgid, SB_PRETEND);
    /* clone3 passes its flags in memory a filter cannot read: ENOSYS, and
     * glibc falls back to clone, whose flags it can. */
    match_nr(b, __NR_clone3, SB_ENOSYS);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, allow_fork ? 4 : 5);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0), 0, 0);
    if (allow_fork) {
        emit(b, BPF_JMP | BPF_JSET | BPF_K, SB_NS_FLAGS, 0, 1);
        emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
        emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    } else {
        emit(b, BPF_JMP | BPF_JSET | BPF_K, SB_NS_FLAGS, 2, 0);
        emit(b, BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
        emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
    }
    /* Signals: to this process only (raise, abort, pthread_kill). */
    allow_nr_if_arg(b, __NR_kill, 0, me);
    allow_nr_if_arg(b, __NR_tkill, 0, me);
    allow_nr_if_arg(b, __NR_tgkill, 0, me);
    allow_nr_if_arg(b, __NR_rt_sigqueueinfo, 0, me);
    allow_nr_if_arg(b, __NR_rt_tgsigqueueinfo, 0, me);
    deny_nr_if_arg_in(b, __NR_fcntl, 1, fcntl_denied, 3);
    /* Keep the death signal, non-dumpable and the tracer setting as set. */
    deny_nr_if_arg_in(b, __NR_prctl, 0, prctl_denied, 5);
    /* Scheduling and memory placement of this process only: runners share
     * uid 65534, and one must not renice or pin another team's runner. */
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_setpriority, 0, 7);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, PRIO_PROCESS, 0, 4);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, me, 0, 1);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
    allow_nr_if_arg_self(b, __NR_sched_setaffinity, 0, me);
    allow_nr_if_arg_self(b, __NR_sched_setscheduler, 0, me);
    allow_nr_if_arg_self(b, __NR_sched_setparam, 0, me);
    allow_nr_if_arg_self(b, __NR_sched_setattr, 0, me);
    allow_nr_if_arg_self(b, __NR_migrate_pages, 0, me);
    allow_nr_if_arg_self(b, __NR_move_pages, 0, me);
    /* prlimit64 may read limits, not set them. */
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, __NR_prlimit64, 0, 6);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3);
    emit(b, BPF_LD | BPF_W | BPF_ABS, ARG_HI(2), 0, 0);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    emit(b, BPF_RET | BPF_K, SB_EPERM, 0, 0);
    emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    return b->n <= SB_MAX_INSNS ? 0 : -1;
#else
    (void)b;
    (void)allow_fork;
    (void)self;
    return -1;
#endif
}

static int apply_seccomp(const struct kf_sandbox_policy *p, json_t *layers, struct kf_err *err)
{
    static struct sb_prog b;   /* 4 KiB: off the stack */
    struct sock_fprog prog;
    long r;

#ifndef SB_AUDIT_ARCH
    json_object_set_new(layers, "seccomp", json_false());
    json_object_set_new(layers, "seccomp_why", json_string("no filter for this architecture"));
    (void)p;
    (void)err;
    (void)b;
    (void)prog;
    (void)r;
    return 0;
#else
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
        json_object_set_new(layers, "seccomp", json_false());
        json_object_set_new(layers, "seccomp_why",
                            json_string("the kernel lacks seccomp (CONFIG_SECCOMP)"));
        return 0;
    }
    if (build_filter(&b, p->allow_fork, getpid()) < 0)
        return kf_err_set(err, KF_EIO, "seccomp", "filter longer than %d instructions",
                          SB_MAX_INSNS);
    prog.len = (unsigned short)b.n;
    prog.filter = b.f;
    /* TSYNC: every thread (the CUDA driver's too) gets the filter. */
    r = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (r < 0 && errno == ENOSYS) {
        json_object_set_new(layers, "seccomp", json_false());
        json_object_set_new(layers, "seccomp_why",
                            json_string("the kernel lacks seccomp(2) with filters"));
        return 0;
    }
    if (r != 0)
        return kf_err_set(err, KF_EIO, "seccomp",
                          r > 0 ? "thread %ld could not take the filter"
                                : "seccomp(SET_MODE_FILTER, TSYNC): error %ld",
                          r > 0 ? r : (long)errno);
    json_object_set_new(layers, "seccomp", json_true());
    json_object_set_new(layers, "seccomp_insns", json_integer(b.n));
    return 0;
#endif
}

/* ---- enter ---------------------------------------------------------------- */

int kf_sandbox_enter(const struct kf_sandbox_policy *p, json_t **layers, struct kf_err *err)
{
    json_t *l = json_object(), *fds = NULL;
    char name[128];
    unsigned long long vm;
    pid_t parent = getppid();
    int rc = 0, threads;

    if (layers)
        *layers = NULL;
    if (!p) {
        rc = kf_err_set(err, KF_EINVAL, NULL, "no sandbox policy");
        goto out;
    }
    if (env_secret_name(name, sizeof name)) {
        rc = kf_err_set(err, KF_EINVAL, "env",
                        "the environment holds %s: start the runner with kf_sandbox_spawn",
                        name);
        goto out;
    }
    json_object_set_new(l, "env", json_string("scrubbed"));
    /* Measured before Landlock hides /proc from a policy that leaves it out
     * (enter opens no descriptor that outlives it). */
    vm = vm_size_bytes();
    threads = count_threads();
    fds = fds_json();

    rc = drop_uid(p, l, err);
    if (rc < 0)
        goto out;
    rc = check_tmp(p, l, err);
    if (rc < 0)
        goto out;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        rc = kf_err_set(err, KF_EIO, "no_new_privs", "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        goto out;
    }
    json_object_set_new(l, "no_new_privs", json_true());
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        rc = kf_err_set(err, KF_EIO, "dumpable", "PR_SET_DUMPABLE: %s", strerror(errno));
        goto out;
    }
    json_object_set_new(l, "dumpable", json_false());
    /* A credential change cleared the parent-death signal: set it again,
     * then make sure the parent did not die in between. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) {
        rc = kf_err_set(err, KF_EIO, "pdeathsig", "parent-death signal: %s",
                        getppid() != parent ? "the parent is gone" : strerror(errno));
        goto out;
    }

    rc = apply_landlock(p, threads, l, err);
    if (rc < 0)
        goto out;

    if (p->as_headroom > 0) {
        struct rlimit rl;
        unsigned long long lim;
        if (vm == 0) {
            rc = kf_err_set(err, KF_EIO, "as_headroom", "cannot read VmSize from /proc/self");
            goto out;
        }
        lim = vm + p->as_headroom;
        if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            rl.rlim_max < lim)
            lim = rl.rlim_max;
        rl.rlim_cur = rl.rlim_max = (rlim_t)lim;
        if (setrlimit(RLIMIT_AS, &rl) < 0) {
            rc = kf_err_set(err, KF_EIO, "as_headroom", "setrlimit(RLIMIT_AS): %s",
                            strerror(errno));
            goto out;
        }
        json_object_set_new(l, "as_limit_bytes", json_integer((json_int_t)lim));
    } else {
        json_object_set_new(l, "as_limit_bytes", json_null());
    }

    rc = apply_seccomp(p, l, err);
    if (rc < 0)
        goto out;
    json_object_set_new(l, "fork", json_boolean(p->allow_fork));
    json_object_set_new(l, "rlimits",
                        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "cpu_s", rlim_json(RLIMIT_CPU),
                                  "nofile", rlim_json(RLIMIT_NOFILE), "nproc",
                                  rlim_json(RLIMIT_NPROC), "fsize_bytes",
                                  rlim_json(RLIMIT_FSIZE), "core_bytes",
                                  rlim_json(RLIMIT_CORE), "as_bytes", rlim_json(RLIMIT_AS)));
    json_object_set_new(l, "fds", fds);
    fds = NULL;
out:
    json_decref(fds);
    if (layers)
        *layers = l;
    else
        json_decref(l);
    return rc;
}
