/* sandbox.h: the sandbox of the untrusted runner (bin/kf-runner, see
 * docs/runner.md, "The sandbox").
 *
 * Two halves, in two processes:
 *
 *  - kf_sandbox_spawn (worker/sandbox.c), called by the trusted judge before
 *    it initialises CUDA: fork + execve of the runner with a fresh
 *    environment, a private tmp, no descriptors but its two pipes and the
 *    log, rlimits, default signal state, in the caller's process group (the
 *    supervisor kills that group on a deadline) and with a parent-death
 *    SIGKILL.
 *  - kf_sandbox_enter (worker/sandbox_enter.c), called by the runner itself
 *    after its trusted start-up (cuInit, context, CUPTI, loading what it
 *    must) and before any untrusted code runs: uid drop, no_new_privs,
 *    non-dumpable, Landlock, RLIMIT_AS, seccomp. Irreversible.
 *
 * A layer the kernel lacks (Landlock, seccomp) is reported in the layers
 * object, never a hard failure; a layer that fails for another reason is an
 * error. Linux only (x86_64 and aarch64 seccomp filters).
 *
 * Thread-safety: kf_sandbox_spawn forks (call it from one thread; the child
 * only makes async-signal-safe calls). The parent-death signal fires when
 * the spawning *thread* ends, so spawn from a thread that outlives the
 * runner (the judge's main thread). kf_sandbox_enter changes the whole
 * process: the uid drop (glibc applies it to every thread), seccomp (applied
 * to every thread with SECCOMP_FILTER_FLAG_TSYNC), rlimits and dumpable are
 * process-wide; Landlock binds every thread from ABI 8 on
 * (LANDLOCK_RESTRICT_SELF_TSYNC), and before that only the calling thread
 * and the threads it creates later, so threads started before enter (the
 * CUDA driver's) stay outside the Landlock domain: the layers object counts
 * them ("threads_outside").
 */
#ifndef KF_SANDBOX_H
#define KF_SANDBOX_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>

#include "kf_err.h"

/* The unprivileged uid and gid a root judge's runner runs as (nobody). */
#define KF_SANDBOX_UID 65534

/* Library defaults of the spawn rlimits (0 in kf_sandbox_opts). */
#define KF_SANDBOX_CPU_S 900L            /* CPU seconds (the deadline kill comes first) */
#define KF_SANDBOX_NOFILE 1024L          /* CUDA opens dozens of device descriptors */
#define KF_SANDBOX_NPROC 512L            /* tasks of the runner's real uid (threads count) */
#define KF_SANDBOX_FSIZE (1LL << 30)     /* largest file it may write, bytes */

struct kf_sandbox_opts {
    const char *tmp_base;          /* the private tmp is mkdtemp(<tmp_base>/kf-runner-XXXXXX);
                                      must be searchable by KF_SANDBOX_UID when root */
    int cmd_fd, reply_fd, log_fd;  /* become fds 3, 4, and 1+2 of the child; 0 is /dev/null */
    const char *const *env_keep;   /* NULL-terminated names copied from the parent env
                                      (e.g. CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH, CUDA_HOME);
                                      NULL: none. A name that looks secret (SECRET, PASSWORD,
                                      TOKEN, KF_REDIS) or holds '=' is refused (KF_EINVAL). */
    const char *const *env_set;    /* NULL-terminated "NAME=VALUE" strings set in the child
                                      (before env_keep; same secret-name refusal); NULL: none */
    /* rlimits: 0 = library default (KF_SANDBOX_*); soft = hard */
    long cpu_s, nofile, nproc;
    long long fsize_bytes;
};

struct kf_sandbox_child {
    pid_t pid;              /* in the caller's process group */
    char tmp[PATH_MAX];     /* the private tmp ("" once cleaned up) */
};

/* Start argv[0] (a path: no PATH search) with argv in the sandbox's
 * process shape. The child's environment is exactly PATH
 * (/usr/local/bin:/usr/bin:/bin unless env_keep names PATH), HOME and
 * TMPDIR (the private tmp), LANG=C, and the env_keep names the parent has.
 * The private tmp is mode 0700, owned by KF_SANDBOX_UID when the caller is
 * root (the runner drops to that uid in kf_sandbox_enter). RLIMIT_CORE is 0.
 * Returns 0 once the child has exec'd (an exec failure is reported here,
 * KF_EIO naming argv[0], and the child reaped); the caller keeps its fds
 * (close its copies of the child's ends), reaps out->pid and calls
 * kf_sandbox_child_cleanup. Errors: KF_EINVAL (bad opts), KF_EIO. */
int kf_sandbox_spawn(const struct kf_sandbox_opts *o, char *const argv[],
                     struct kf_sandbox_child *out, struct kf_err *err);

/* Remove the private tmp recursively (never following symbolic links, whatever
 * the runner left there: read-only directories, deep trees, links out).
 * Call it once the runner and anything it started are dead. Idempotent. */
void kf_sandbox_child_cleanup(struct kf_sandbox_child *c);

struct kf_sandbox_policy {
    const char *const *read_paths;   /* NULL-terminated: readable trees (Landlock) */
    const char *const *write_paths;  /* NULL-terminated: writable trees; the private tmp,
                                        the GPU device nodes the driver may reopen */
    unsigned long long as_headroom;  /* >0: RLIMIT_AS = current VM size + headroom
                                        (CUDA maps a lot at init, so only after it) */
    int allow_fork;                  /* fork/vfork/clone of processes and execve allowed
                                        (a Python lane's ptxas), and read_paths executable;
                                        default 0. A child keeps the filter, whose "self" is
                                        the runner: it may signal the runner, not itself */
    int drop_uid;                    /* when root: setresgid/setresuid to KF_SANDBOX_UID */
};

/* Enter the sandbox, layer by layer: uid drop (when root and p->drop_uid;
 * open descriptors such as /dev/nvidia* keep working), PR_SET_NO_NEW_PRIVS,
 * PR_SET_DUMPABLE 0, the parent-death signal re-armed (a credential change
 * clears it), Landlock (read_paths read-only, write_paths read-write, nothing
 * else; the highest ABI the kernel offers), RLIMIT_AS, and the seccomp
 * filter (docs/runner.md lists what it refuses). A path in either list that
 * does not exist is skipped and listed in the layers object. Refuses
 * (KF_EINVAL) when the environment still holds a secret-looking variable.
 * *layers gets a new object saying what is in force (the judge copies it
 * into each trace), also on failure when some layers were applied:
 *   {"env":"scrubbed","tmp":"private"|{...},"fds":{"open":N,"sockets":K},
 *    "uid":65534,"uid_drop":true|false,"uid_why":"...",
 *    "no_new_privs":true,"dumpable":false,
 *    "landlock":{"abi":7,"read":R,"write":W,"skipped":["path: why",...],
 *                "tsync":false,"threads_outside":T,"scoped":[...]}
 *      | false with "landlock_why",
 *    "rlimits":{"cpu_s":..,"nofile":..,"nproc":..,"fsize_bytes":..,"core_bytes":0,
 *               "as_bytes":..|null},
 *    "as_limit_bytes":N|null,
 *    "seccomp":true|false with "seccomp_why","seccomp_insns":N,"fork":false}
 * Returns 0, or KF_EINVAL / KF_EIO / KF_EPERM with err set: the process
 * must then exit without running untrusted code. Not reversible. */
int kf_sandbox_enter(const struct kf_sandbox_policy *p, json_t **layers, struct kf_err *err);

/* The default read allow-list of the runner: the system library trees
 * (/usr/lib, /usr/lib64, /lib, /lib64, /usr/local/lib, /usr/share/zoneinfo
 * ... and the dynamic loader's cache and config), /dev (read only: a GPU
 * node the driver reopens read-write goes in write_paths, see
 * kf_sandbox_default_write_paths), /proc/self (the runner's own /proc
 * directory only: never another process's, so not the judge's memory or
 * environment), /proc/meminfo, /proc/cpuinfo, /proc/driver/nvidia, /sys, and
 * cuda_home, cache_dir, kernels_dir when not NULL.
 *
 * Why the tokens file and the seed secret must NOT live under any of these
 * trees: Landlock grants a whole tree, so every file below a read path is
 * readable by the submitted code, and when the judge is not root (no uid
 * drop) nothing else stands between that code and a file the judge itself
 * can read. The tokens file holds every team's credentials and the seed
 * secret lets a solution predict its inputs (and so memoise outputs). Keep
 * both elsewhere (e.g. /etc/kernelfarm/, mode 0600, owned by the service
 * user); kf_sandbox_path_exposed checks a configuration for this.
 *
 * The same holds for other teams' work: a shared compile cache holds every
 * team's built artifacts, and all runners share one uid. Prefer cache_dir
 * NULL and the artifact files of this runner's solution appended to the
 * list (Landlock takes single files too), i.e. enter after the `open`
 * command has named them and before loading them.
 *
 * Returns a new NULL-terminated array of new strings; free with
 * kf_sandbox_paths_free. */
char **kf_sandbox_default_read_paths(const char *cuda_home, const char *cache_dir,
                                     const char *kernels_dir);

/* The default write allow-list: tmp (the private tmp, borrowed), /dev/null,
 * and the NVIDIA device nodes present now (/dev/nvidiactl, /dev/nvidia-uvm,
 * /dev/nvidia-uvm-tools, /dev/nvidia[0-9]*): descriptors the driver opened
 * before enter keep working whatever the list says; these let it reopen
 * them. New array of new strings; free with kf_sandbox_paths_free. */
char **kf_sandbox_default_write_paths(const char *tmp);

/* Free an array from kf_sandbox_default_*_paths. NULL is a no-op. */
void kf_sandbox_paths_free(char **paths);

/* 1 when file (a path; its real path is used) lies in or under one of the
 * NULL-terminated trees in paths, 0 when not or when file does not exist.
 * The judge refuses to start a runner whose read list exposes the tokens
 * file or the seed-secret file. */
int kf_sandbox_path_exposed(const char *const *paths, const char *file);

#endif
