/* queue_scale.c: the farm at scale on CPU (issue 12, "proof at scale").
 *
 * Phase A (chaos): W real kf-worker loops (worker/worker.c: claim, evaluator
 * child per task under the supervisor, fenced writes, heartbeats), each in its
 * own process, with the injectable evaluation function replaced by a fake
 * that sleeps --task-ms per workload and returns PASSED traces (no GPU), work
 * through N tasks submitted by T teams against one Redis (AOF, fsync always).
 * Tasks are submitted team by team (all of team 0's first: the worst case for
 * a FIFO queue). Every --kill-every seconds a random worker gets SIGKILL and
 * is restarted with the same id; at 40% progress Redis gets SIGKILL and is
 * restarted from its AOF. Then every task is checked: final state, exactly
 * its workloads' traces, the completion histogram equal to the completed
 * count (nothing counted twice), nothing left queued or running; per team
 * the mean wait (claim time - submit time) is printed and compared.
 *
 * Phase B (capacity, --capacity): the queue alone: W processes claim and
 * complete N fresh tasks as fast as they can (no evaluator) -> claims/s and
 * claim latency percentiles of kfq_worker_claim.
 *
 * Prints claims/s, claim latency p50/p99/max, Redis memory per task, and a
 * last line "RESULT ok" or "RESULT FAIL: ..." (exit status 0/1).
 * Usage: build/bench/queue_scale [--workers 64] [--tasks 10000] [--teams 20]
 *   [--task-ms 20] [--workloads 2] [--kill-every 3] [--lease-ms 3000]
 *   [--restart-redis 1] [--capacity 1] [--redis-url URL --server-auth U:P
 *   --worker-auth U:P (an existing Redis: no restart)] [--timeout 900]
 * Not a test: it prints numbers (make bench; bench/README.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dataset.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "supervisor.h"
#include "worker.h"
#include "xalloc.h"

static int o_workers = 64, o_tasks = 10000, o_teams = 20, o_task_ms = 20, o_nwl = 2;
static double o_kill_every = 3, o_timeout = 900;
static int o_lease_ms = 3000, o_restart_redis = 1, o_capacity = 1;
static const char *o_url, *o_server_auth, *o_worker_auth;

static char dir[128], sock[256], server_url[512], worker_url[512];
static pid_t redis_pid = -1;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *msg)
{
    fprintf(stderr, "queue_scale: %s\n", msg);
    exit(2);
}

/* ---- Redis ---------------------------------------------------------------------- */

static void start_redis(void)
{
    fflush(stdout);
    redis_pid = fork();
    if (redis_pid < 0)
        die("fork");
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir", dir,
               "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--loglevel",
               "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 3000; i++) {
        struct kfq_conn *c = NULL;
        struct kf_err e;
        if (access(sock, F_OK) == 0 && kfq_connect(server_url, NULL, false, &c, &e) == 0) {
            redisReply *r = kfq_command(c, &e, "PING");   /* LOADING while the AOF replays */
            if (r) {
                freeReplyObject(r);
                kfq_close(c);
                return;
            }
            kfq_close(c);
        }
        usleep(10000);
    }
    die("redis-server did not start");
}

static long long used_memory(struct kfq_conn *c)
{
    struct kf_err e;
    redisReply *r = kfq_command(c, &e, "INFO memory");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_memory:");
        if (p)
            v = atoll(p + 12);
    }
    if (r)
        freeReplyObject(r);
    return v;
}

static struct kfq_conn *connect_or_die(const char *url)
{
    struct kfq_conn *c = NULL;
    struct kf_err e;
    if (kfq_connect(url, NULL, false, &c, &e) || kfq_ensure_wait(c, NULL, 30000, &e) ||
        kfq_init(c, &e)) {
        fprintf(stderr, "queue_scale: %s: %s\n", url, e.msg);
        exit(2);
    }
    return c;
}

/* ---- dataset and tasks ---------------------------------------------------------- */

static const char *DEF =
    "{\"name\":\"vadd\",\"op_type\":\"fake\",\"description\":\"copy\","
    "\"axes\":{\"n\":{\"type\":\"var\"}},"
    "\"inputs\":{\"x\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},"
    "\"outputs\":{\"y\":{\"shape\":[\"n\"],\"dtype\":\"float32\"}},"
    "\"reference\":\"def run(x):\\n    return x\\n\"}\n";

static const char *SOL =
    "{\"name\":\"vadd_copy_0123abcd\",\"definition\":\"vadd\",\"author\":\"bench\","
    "\"spec\":{\"language\":\"cuda\",\"binding\":\"nvrtc\",\"target_hardware\":[\"cuda\"],"
    "\"entry_point\":\"k.cu::copy\",\"destination_passing_style\":true,"
    "\"launch\":[{\"kernel\":\"copy\",\"grid\":[\"cdiv(n, 128)\"],\"block\":[128],"
    "\"args\":[\"x\",\"y\",\"n\"]}]},"
    "\"sources\":[{\"path\":\"k.cu\",\"content\":\"extern \\\"C\\\" __global__ void copy("
    "const float *x, float *y, long long n) { long long i = blockIdx.x * 128 + threadIdx.x; "
    "if (i < n) y[i] = x[i]; }\"}]}";

static void write_dataset(void)
{
    char p[512];
    snprintf(p, sizeof p, "mkdir -p %s/ds/definitions/fake %s/ds/workloads/fake", dir, dir);
    if (system(p) != 0)
        die("mkdir");
    snprintf(p, sizeof p, "%s/ds/definitions/fake/vadd.json", dir);
    FILE *f = fopen(p, "w");
    fputs(DEF, f);
    fclose(f);
    snprintf(p, sizeof p, "%s/ds/workloads/fake/vadd.jsonl", dir);
    f = fopen(p, "w");
    for (int i = 0; i < o_nwl; i++)
        fprintf(f, "{\"definition\":\"vadd\",\"workload\":{\"uuid\":\"w-%d\",\"axes\":{\"n\":16},"
                   "\"inputs\":{\"x\":{\"type\":\"random\"}}},\"solution\":null,\"evaluation\":null}\n",
                i);
    fclose(f);
}

static char (*ids)[65];

/* Submit n tasks, team by team; ids[base..base+n). tag keeps content unique. */
static void submit_all(struct kfq_conn *c, int base, int n, const char *tag)
{
    json_t *sol = json_loads(SOL, 0, NULL), *wl = json_array();
    for (int i = 0; i < o_nwl; i++)
        json_array_append_new(wl, json_sprintf("w-%d", i));
    for (int i = 0; i < n; i++) {
        int team = i / ((n + o_teams - 1) / o_teams);
        char tname[32], hash[64];
        bool ex;
        struct kf_err e;
        snprintf(tname, sizeof tname, "team-%02d", team);
        snprintf(hash, sizeof hash, "%s-%d", tag, base + i);
        struct kfq_submit s = {.definition = "vadd", .solution_name = "vadd_copy_0123abcd",
                               .solution = sol, .workloads = wl, .team = tname,
                               .content_hash = hash};
        if (kfq_submit(c, &s, ids[base + i], &ex, &e)) {
            fprintf(stderr, "submit: %s\n", e.msg);
            exit(2);
        }
    }
    json_decref(sol);
    json_decref(wl);
}

/* ---- phase A: real worker loops with a fake evaluator ------------------------- */

static int fake_eval(const struct ev_request *req, ev_progress_fn progress, void *ctx,
                     json_t **traces_out, struct kf_err *err)
{
    (void)err;
    json_t *all = json_array();
    for (int i = 0; i < req->nworkloads; i++) {
        struct timespec ts = {o_task_ms / 1000, (long)(o_task_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        json_t *t = json_pack(
            "{s:s, s:o, s:s, s:{s:s, s:s, s:{s:f, s:f}, s:{s:f, s:f, s:f}, s:{s:s, s:{}}, s:s}}",
            "definition", req->def->name, "workload", kf_workload_to_json(req->workloads[i]),
            "solution", req->sol->name, "evaluation", "status", "PASSED", "log", "",
            "correctness", "max_relative_error", 0.0, "max_absolute_error", 0.0, "performance",
            "latency_ms", 1.0, "reference_latency_ms", 2.0, "speedup_factor", 2.0,
            "environment", "hardware", "FAKE_GPU", "libs", "timestamp",
            "2026-12-06T00:00:00.000000Z");
        if (!t)
            _exit(99);
        progress(ctx, i + 1, req->nworkloads, t);
        json_array_append_new(all, t);
    }
    *traces_out = all;
    return 0;
}

struct lat_sink { int fd; };

static void on_claim(void *ctx, const struct kfq_task *t, double seconds)
{
    struct lat_sink *s = ctx;
    (void)t;
    if (write(s->fd, &seconds, sizeof seconds) != (ssize_t)sizeof seconds) {
        /* a lost sample only */
    }
}

static volatile sig_atomic_t w_stop;
static void on_term(int sig)
{
    (void)sig;
    w_stop = 2;   /* abandon at once: release the task */
}

static void worker_main(int idx)
{
    char p[512], wid[32];
    struct kf_dataset *ds = NULL;
    struct kf_err e;
    struct wk_super sup;
    struct wk_worker_opts o;
    static char *scrub_none[1];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    snprintf(p, sizeof p, "%s/ds", dir);
    if (kf_dataset_load(p, &ds, &e))
        _exit(3);
    snprintf(wid, sizeof wid, "bench-w%03d", idx);
    snprintf(p, sizeof p, "%s/lat/%s-%d", dir, wid, (int)getpid());
    struct lat_sink sink = {open(p, O_WRONLY | O_CREAT | O_APPEND, 0644)};
    memset(&sup, 0, sizeof sup);
    sup.eval = fake_eval;
    sup.scrub = scrub_none;
    sup.lim.workload_s = 30;
    sup.lim.startup_s = 5;
    sup.lim.total_s = 120;
    sup.lim.log_tail = 1024;
    memset(&o, 0, sizeof o);
    o.redis_url = worker_url;
    o.worker_id = wid;
    o.host = "bench";
    o.hardware = "FAKE_GPU";
    o.ds = ds;
    o.cache_dir = dir;
    o.kernels_dir = dir;
    o.seed_secret = "bench-secret";
    o.sup = &sup;
    o.heartbeat_s = 2;
    o.lease_ms = o_lease_ms;
    o.block_ms = 500;
    o.stop = &w_stop;
    o.on_claim = on_claim;
    o.hook_ctx = &sink;
    int rc = wk_worker_run(&o, &e);
    _exit(rc ? 4 : 0);
}

static pid_t spawn_worker(int idx)
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        kf_log_set_level(KF_LOG_ERROR);
        worker_main(idx);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double *read_latencies(const char *sub, size_t *n)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/%s/* 2>/dev/null", dir, sub);
    FILE *f = popen(cmd, "r");
    size_t cap = 1024;
    double *v = xmalloc(cap * sizeof *v), x;
    *n = 0;
    while (f && fread(&x, sizeof x, 1, f) == 1) {
        if (*n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = x;
    }
    if (f)
        pclose(f);
    qsort(v, *n, sizeof *v, cmp_double);
    return v;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static long long scard(struct kfq_conn *c, const char *key)
{
    struct kf_err e;
    redisReply *r = kfq_command(c, &e, "SCARD %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

static char fail_why[2048];
static void fail(const char *fmt, const char *a, long long x)
{
    size_t l = strlen(fail_why);
    snprintf(fail_why + l, sizeof fail_why - l, fmt, a, x);
}

static int phase_a(void)
{
    struct kf_err e;
    struct kfq_conn *c = connect_or_die(server_url);
    long long mem0 = used_memory(c);
    double t_sub = now_s();
    submit_all(c, 0, o_tasks, "a");
    t_sub = now_s() - t_sub;
    long long mem_q = used_memory(c);
    printf("phase A: %d tasks (%d workloads each) from %d teams submitted in %.2f s "
           "(%.0f submits/s)\n", o_tasks, o_nwl, o_teams, t_sub, o_tasks / t_sub);
    printf("  redis memory, queued: %.0f bytes/task\n", (double)(mem_q - mem0) / o_tasks);

    pid_t *pids = xcalloc((size_t)o_workers, sizeof *pids);
    double t0 = now_s(), next_kill = t0 + o_kill_every;
    double start_wall = kfq_now();   /* every task was queued before this */
    int kills = 0, restarted_redis = 0;
    for (int i = 0; i < o_workers; i++)
        pids[i] = spawn_worker(i);
    srand(12345);
    long long done = 0;
    while (now_s() - t0 < o_timeout) {
        usleep(100000);
        long long comp = scard(c, KFK_STATE_COMPLETED), failed = scard(c, KFK_STATE_FAILED);
        if (comp >= 0 && failed >= 0)
            done = comp + failed;
        if (done >= o_tasks)
            break;
        if (o_kill_every > 0 && now_s() >= next_kill) {
            int v = rand() % o_workers;
            kill(pids[v], SIGKILL);
            waitpid(pids[v], NULL, 0);
            pids[v] = spawn_worker(v);   /* same id: takes back its own task */
            kills++;
            next_kill = now_s() + o_kill_every;
        }
        if (o_restart_redis && !restarted_redis && redis_pid > 0 && done >= o_tasks * 4 / 10) {
            double r0 = now_s();
            kill(redis_pid, SIGKILL);
            waitpid(redis_pid, NULL, 0);
            unlink(sock);
            start_redis();
            restarted_redis = 1;
            printf("  redis killed (SIGKILL) at %lld/%d done, restarted from its AOF in %.2f s\n",
                   done, o_tasks, now_s() - r0);
            kfq_ensure_wait(c, NULL, 30000, &e);
        }
    }
    double wall = now_s() - t0;
    for (int i = 0; i < o_workers; i++)
        kill(pids[i], SIGTERM);
    for (int i = 0; i < o_workers; i++)
        waitpid(pids[i], NULL, 0);
    free(pids);
    printf("  %d workers, %d killed with SIGKILL and restarted, %.1f s\n", o_workers, kills, wall);

    /* ---- verify every task */
    long long completed = 0, failed = 0, other = 0, bad_traces = 0, attempts = 0, dead = 0;
    double *team_wait = xcalloc((size_t)o_teams, sizeof *team_wait);
    double *team_max = xcalloc((size_t)o_teams, sizeof *team_max);
    int *team_n = xcalloc((size_t)o_teams, sizeof *team_n);
    for (int i = 0; i < o_tasks; i++) {
        json_t *t = NULL, *tr = NULL;
        if (kfq_task_get_full(c, ids[i], &t, &tr, &e)) {
            other++;
            continue;
        }
        const char *st = json_string_value(json_object_get(t, "status"));
        const char *err = json_string_value(json_object_get(t, "error"));
        attempts += json_integer_value(json_object_get(t, "attempts"));
        if (st && strcmp(st, "completed") == 0) {
            completed++;
            if ((int)json_array_size(tr) != o_nwl)
                bad_traces++;
        } else if (st && strcmp(st, "failed") == 0) {
            failed++;
            dead += err && strstr(err, "dead-lettered") != NULL;
        } else {
            other++;
        }
        int team = i / ((o_tasks + o_teams - 1) / o_teams);
        /* wait from when service began (all tasks were queued before it) */
        double created = json_real_value(json_object_get(t, "created_at"));
        double w = json_real_value(json_object_get(t, "started_at")) -
                   (created > start_wall ? created : start_wall);
        team_wait[team] += w;
        team_n[team]++;
        if (w > team_max[team])
            team_max[team] = w;
        json_decref(t);
        json_decref(tr);
    }
    int64_t hist[KFQ_HIST_N];
    double hsum;
    kfq_eval_hist(c, hist, &hsum, &e);
    long long mem_done = used_memory(c);
    redisReply *r = kfq_command(c, &e, "EVAL %s 0",
                                "local n = 0 for _, k in ipairs({'" KFK_QUEUE_PRIO "', '"
                                KFK_QUEUE_FAIR "', '" KFK_RUNNING "'}) do "
                                "n = n + (redis.call('TYPE', k).ok == 'none' and 0 or 1) end "
                                "return n");
    long long leftover = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);

    size_t nl;
    double *lat = read_latencies("lat", &nl);
    printf("  tasks: %lld completed, %lld failed (%lld dead-lettered after 3 attempts), "
           "%lld in another state\n", completed, failed, dead, other);
    printf("  claims: %zu in %.1f s = %.0f claims/s (%lld attempts recorded; a claim by a "
           "killed worker may be lost from the sample)\n", nl, wall, (double)nl / wall, attempts);
    printf("  claim latency (kfq_worker_claim that returned a task): p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms\n", pct(lat, nl, 0.5) * 1e3, pct(lat, nl, 0.99) * 1e3,
           pct(lat, nl, 1.0) * 1e3);
    printf("  redis memory, done (task record + %d traces each): %.0f bytes/task\n", o_nwl,
           (double)(mem_done - mem0) / o_tasks);
    double mn = 1e30, mx = 0;
    printf("  mean wait per team (s, from the start of service; team 00 submitted first):");
    for (int t = 0; t < o_teams; t++) {
        double m = team_n[t] ? team_wait[t] / team_n[t] : 0;
        printf(" %.1f", m);
        if (m < mn)
            mn = m;
        if (m > mx)
            mx = m;
    }
    printf("\n  team mean waits: min %.2f s, max %.2f s (max/min %.2f); a FIFO queue would "
           "make the last team wait about %.0fx the first\n", mn, mx, mn > 0 ? mx / mn : 0,
           (double)(2 * o_teams - 1));
    free(lat);

    if (completed + failed != o_tasks)
        fail("lost: %s%lld tasks not finished; ", "", o_tasks - completed - failed);
    if (bad_traces)
        fail("%s%lld completed tasks without exactly their traces; ", "", bad_traces);
    if (hist[KFQ_HIST_N - 1] != completed)
        fail("%scompletion histogram %lld != completed; ", "", (long long)hist[KFQ_HIST_N - 1]);
    if (leftover != 0)
        fail("%s%lld queue structures left non-empty; ", "", leftover);
    if (failed != dead)
        fail("%s%lld failed for another reason than dead-lettering; ", "", failed - dead);
    if (mn <= 0 || mx / mn > 1.5)
        fail("unfair%s: max/min team wait x1000 = %lld; ", "", (long long)(mn > 0 ? 1000 * mx / mn : 0));
    free(team_wait);
    free(team_max);
    free(team_n);
    kfq_close(c);
    return fail_why[0] ? 1 : 0;
}

/* ---- phase B: the queue alone ---------------------------------------------------- */

static void capacity_worker(int idx, int total)
{
    char p[512], wid[32];
    struct kf_err e;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    kf_log_set_level(KF_LOG_ERROR);
    snprintf(wid, sizeof wid, "cap-w%03d", idx);
    snprintf(p, sizeof p, "%s/lat-b/%s", dir, wid);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    struct kfq_conn *c = connect_or_die(worker_url);
    struct kfq_claim_opts o = {.consumer = wid, .lease_ms = 60000, .block_ms = 0};
    for (;;) {
        struct kfq_task *t = NULL;
        double t0 = now_s();
        if (kfq_worker_claim(c, &o, &t, &e)) {
            usleep(10000);
            continue;
        }
        double dt = now_s() - t0;
        if (!t) {
            if (scard(c, KFK_STATE_COMPLETED) >= total)
                break;
            usleep(1000);
            continue;
        }
        if (write(fd, &dt, sizeof dt) != (ssize_t)sizeof dt) {
            /* a lost sample only */
        }
        struct kfq_summary s;
        kfq_summary_init(&s);
        if (kfq_task_complete(c, t, &s, &e))
            fprintf(stderr, "complete: %s\n", e.msg);
        kfq_summary_free(&s);
        kfq_task_free(t);
    }
    kfq_close(c);
    _exit(0);
}

static void phase_b(void)
{
    struct kfq_conn *c = connect_or_die(server_url);
    struct kf_err e;
    redisReply *r = kfq_command(c, &e, "FLUSHALL");
    if (r)
        freeReplyObject(r);
    else
        printf("phase B: cannot FLUSHALL (%s): skipped\n", e.msg);
    if (!r) {
        kfq_close(c);
        return;
    }
    kfq_init(c, &e);
    submit_all(c, 0, o_tasks, "b");
    double t0 = now_s();
    pid_t *pids = xcalloc((size_t)o_workers, sizeof *pids);
    fflush(stdout);
    for (int i = 0; i < o_workers; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            capacity_worker(i, o_tasks);
    }
    for (int i = 0; i < o_workers; i++)
        waitpid(pids[i], NULL, 0);
    double wall = now_s() - t0;
    size_t nl;
    double *lat = read_latencies("lat-b", &nl);
    printf("phase B (queue alone, %d processes claim + complete, no evaluator): %zu claims in "
           "%.1f s = %.0f claims/s; claim latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           o_workers, nl, wall, (double)nl / wall, pct(lat, nl, 0.5) * 1e3,
           pct(lat, nl, 0.99) * 1e3, pct(lat, nl, 1.0) * 1e3);
    if ((int)nl != o_tasks)
        fail("phase B: %s%lld claims for the tasks; ", "", (long long)nl);
    free(lat);
    free(pids);
    kfq_close(c);
}

static void make_url(char *out, size_t n, const char *base, const char *auth)
{
    if (!auth) {
        snprintf(out, n, "%s", base);
        return;
    }
    if (strncmp(base, "redis://", 8) != 0)
        die("--server-auth/--worker-auth need a redis:// URL");
    const char *at = strrchr(base + 8, '@');
    snprintf(out, n, "redis://%s@%s", auth, at ? at + 1 : base + 8);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--workers")) o_workers = atoi(v);
        else if (!strcmp(k, "--tasks")) o_tasks = atoi(v);
        else if (!strcmp(k, "--teams")) o_teams = atoi(v);
        else if (!strcmp(k, "--task-ms")) o_task_ms = atoi(v);
        else if (!strcmp(k, "--workloads")) o_nwl = atoi(v);
        else if (!strcmp(k, "--kill-every")) o_kill_every = atof(v);
        else if (!strcmp(k, "--lease-ms")) o_lease_ms = atoi(v);
        else if (!strcmp(k, "--restart-redis")) o_restart_redis = atoi(v);
        else if (!strcmp(k, "--capacity")) o_capacity = atoi(v);
        else if (!strcmp(k, "--timeout")) o_timeout = atof(v);
        else if (!strcmp(k, "--redis-url")) o_url = v;
        else if (!strcmp(k, "--server-auth")) o_server_auth = v;
        else if (!strcmp(k, "--worker-auth")) o_worker_auth = v;
        else {
            fprintf(stderr, "queue_scale: unknown option %s (see the file comment)\n", k);
            return 2;
        }
    }
    if (o_workers < 1 || o_tasks < 1 || o_teams < 1 || o_teams > o_tasks || o_nwl < 1)
        die("bad --workers/--tasks/--teams/--workloads");
    signal(SIGPIPE, SIG_IGN);
    kf_log_set_level(KF_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof dir, "/tmp/kf-queue-scale-XXXXXX");
    if (!mkdtemp(dir))
        die("mkdtemp");
    char p[300];
    snprintf(p, sizeof p, "mkdir -p %s/lat %s/lat-b", dir, dir);
    if (system(p) != 0)
        die("mkdir");
    write_dataset();
    ids = xcalloc((size_t)o_tasks, sizeof *ids);
    if (o_url) {
        make_url(server_url, sizeof server_url, o_url, o_server_auth);
        make_url(worker_url, sizeof worker_url, o_url, o_worker_auth);
        o_restart_redis = 0;
        o_capacity = 0;   /* it would FLUSHALL someone's Redis */
    } else {
        snprintf(sock, sizeof sock, "%s/redis.sock", dir);
        snprintf(server_url, sizeof server_url, "unix://%s", sock);
        snprintf(worker_url, sizeof worker_url, "unix://%s", sock);
        start_redis();
    }
    int rc = phase_a();
    if (o_capacity)
        phase_b();
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    snprintf(p, sizeof p, "rm -rf %s", dir);
    if (system(p) != 0) {
        /* leftover temp dir only */
    }
    free(ids);
    if (fail_why[0] || rc) {
        printf("RESULT FAIL: %s\n", fail_why);
        return 1;
    }
    printf("RESULT ok\n");
    return 0;
}
