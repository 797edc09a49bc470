/* queue.h: the Redis task protocol shared by kf-server and kf-worker
 * (implemented in lib/queue_*.c, one concept per file: see queue_int.h)
 * (docs/queue.md has the full key layout, lib/keys.h every key name;
 * schemas/queue-task.json the task record).
 *
 * Scheduling: each team has a FIFO list of pending tasks; a claim takes the
 * head of the team served longest ago (round-robin that cannot be jumped),
 * after the admin priority list and after tasks whose lease ran out. Each
 * task carries its lane (lib/lanes.h); a claim takes only tasks of the lanes
 * the worker serves, passing over the others (docs/queue.md, Lanes). Every
 * claim hands out a fresh random attempt token; every worker write below
 * (progress, touch, trace, complete, fail, release) carries it and is
 * refused atomically (a Lua script) with KF_ECONFLICT once the task was
 * taken over or finished, so a stalled worker cannot touch a new attempt.
 *
 * A struct kfq_conn wraps one hiredis context: NOT thread-safe, use one per
 * thread. Every call that sees an I/O error marks the connection broken;
 * kfq_ensure() reconnects with exponential backoff (0.1 s doubling to 5 s).
 * Errors: 0 or negative KF_E* (KF_EREDIS when Redis is unreachable or
 * answers an error), with struct kf_err filled. Programs using this must
 * ignore SIGPIPE (a write to a dead Redis socket would otherwise kill them).
 */
#ifndef KF_QUEUE_H
#define KF_QUEUE_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "kf_err.h"

#define KFQ_EVENTS_MAXLEN 10000
#define KFQ_MAX_DELIVERIES 3
#define KFQ_DEFAULT_LEASE_MS 300000
#define KFQ_TASK_ID_MAX 64

/* ---- connection --------------------------------------------------------- */

struct kfq_conn;

/* url: "redis://[[user]:password@]host[:port][/db]" (a user: AUTH user
 * password, a Redis 6+ ACL user) or "unix:///path/to/sock" (also
 * a bare path starting with '/'). password may be NULL/"" (then the URL's is
 * used). Connects now; on failure still returns 0 with a broken connection
 * if lazy is true (kfq_ensure retries), else KF_EREDIS.
 * *out: new, free with kfq_close. */
int kfq_connect(const char *url, const char *password, bool lazy, struct kfq_conn **out,
                struct kf_err *err);
void kfq_close(struct kfq_conn *c);
/* Reconnect if broken, at most once per backoff interval (non-blocking
 * otherwise: returns KF_EREDIS at once while waiting). 0 when usable. */
int kfq_ensure(struct kfq_conn *c, struct kf_err *err);
/* Like kfq_ensure, but sleeps through the backoff until connected or
 * *stop becomes true (stop may be NULL) or max_wait_ms passes (<0: forever). */
int kfq_ensure_wait(struct kfq_conn *c, volatile int *stop, int64_t max_wait_ms,
                    struct kf_err *err);
bool kfq_connected(const struct kfq_conn *c);
/* Run one command (printf-like, hiredis format). Returns a new reply (free
 * with freeReplyObject) or NULL with the connection marked broken / an error
 * reply turned into NULL with err set (KF_EREDIS). */
redisReply *kfq_command(struct kfq_conn *c, struct kf_err *err, const char *fmt, ...);
redisReply *kfq_commandargv(struct kfq_conn *c, struct kf_err *err, int argc, const char **argv,
                            const size_t *argvlen);
/* Load the queue's Lua scripts (idempotent; checks that they compile). */
int kfq_init(struct kfq_conn *c, struct kf_err *err);

/* ---- ids and hashes ----------------------------------------------------- */

/* 32 lowercase hex chars of fresh randomness into buf[33]. */
void kfq_new_id(char buf[33]);
/* Valid task id: 1..64 chars of [A-Za-z0-9_.-]. */
bool kfq_valid_task_id(const char *id);
/* Current time as Unix seconds (ms precision). */
double kfq_now(void);

/* ---- task record -------------------------------------------------------- */

/* A task as handed to a worker by kfq_worker_claim / kfq_reclaim_own. */
struct kfq_task {
    char *id;             /* task id */
    char token[33];       /* this attempt's fencing token (secret to the worker) */
    char *definition;
    char *solution_name;  /* normalized name */
    json_t *solution;     /* the normalized solution document (owned) */
    json_t *workloads;    /* array of workload uuid strings (owned) */
    json_t *config;       /* eval config overrides object, or NULL (owned) */
    char *team;           /* "" when auth is off */
    int64_t deliveries;   /* attempts so far, this one included (1 = first) */
    double created_at;
    double started_at;    /* when this attempt was claimed (Redis clock, Unix s) */
};
void kfq_task_free(struct kfq_task *t);

/* ---- server side: submit and read ---------------------------------------- */

struct kfq_submit {
    const char *task_id;          /* client-chosen id (POST /evaluate task_id) or NULL;
                                     the server passes a per-team id here (docs/queue.md) */
    const char *client_task_id;   /* the id as the client wrote it (field client_id), or NULL */
    const char *definition;
    const char *solution_name;    /* normalized */
    const char *solution_key;     /* kf:solution:<key> (written SET NX, never replaced);
                                     NULL: the normalized name */
    const char *solution_full;    /* the name with the full content hash, or NULL; with a
                                     key, both names index it in kf:solkeys:<team> */
    const json_t *solution;       /* normalized document (borrowed) */
    const json_t *workloads;      /* array of uuid strings (borrowed) */
    const json_t *config;         /* eval config overrides or NULL */
    const char *team;             /* "" or NULL when auth is off */
    const char *content_hash;     /* hex: solution content + workload set (idempotency) */
    bool rerun;                   /* ignore an existing task with the same content */
    bool priority;                /* admin: served before every team's queue */
    const char *fail_reason;      /* non-NULL: create the task already failed, not queued */
    const char *lane;             /* the lane that runs it (lanes.h); NULL: the rule of
                                     kf_solution_doc_lane on solution */
    int64_t *stored_bytes;        /* out, may be NULL: bytes of the solution document when
                                     this call stored it (0: the key already held one) */
    /* may be NULL: called once it is known that a new task will be created
     * (after the idempotency lookup; before a client task_id is claimed);
     * nonzero refuses it, and kfq_submit returns that value (quotas) */
    int (*admit)(void *ctx);
    void *admit_ctx;
};

/* Queue a task (or find the existing one). task_id_out[65] receives the id;
 * *existing is set when an earlier task with the same content (or the
 * same client task_id and content) was returned instead; a failed earlier
 * task is not returned (a new one is queued). KF_ECONFLICT if a
 * client task_id exists with a different request. */
int kfq_submit(struct kfq_conn *c, const struct kfq_submit *s, char task_id_out[65],
               bool *existing, struct kf_err *err);
/* The task hash as a JSON object of strings/numbers (new reference); fields
 * as in docs/queue.md. KF_ENOENT if unknown. */
int kfq_task_get(struct kfq_conn *c, const char *id, json_t **out, struct kf_err *err);
/* Task record and its traces so far (new array) in one round trip. */
int kfq_task_get_full(struct kfq_conn *c, const char *id, json_t **task, json_t **traces,
                      struct kf_err *err);
/* Traces of a task as a new JSON array (parsed), or as raw strings when raw
 * is true (array of JSON strings). */
int kfq_task_traces(struct kfq_conn *c, const char *id, bool raw, json_t **out,
                    struct kf_err *err);
/* The stored solution document by normalized name (new reference), KF_ENOENT. */
int kfq_solution_get(struct kfq_conn *c, const char *name, json_t **out, struct kf_err *err);
/* Counts: tasks per status (pending, running, completed, failed) and live workers. */
struct kfq_counts { int64_t pending, running, completed, failed, dead, workers; };
int kfq_counts(struct kfq_conn *c, struct kfq_counts *out, struct kf_err *err);
/* Live workers: new JSON array of heartbeat objects; prunes expired ids. */
int kfq_workers(struct kfq_conn *c, json_t **out, struct kf_err *err);
/* Leaderboard entries: new object {definition: [entry, ...]} for one
 * definition (def non-NULL) or all. Entries are the JSON written by
 * kfq_task_complete (see docs/queue.md), unranked. */
int kfq_board(struct kfq_conn *c, const char *def, json_t **out, struct kf_err *err);
/* Evaluation duration histogram: upper bounds in seconds (KFQ_HIST_N, last
 * +Inf) and cumulative counts, sum of seconds. */
#define KFQ_HIST_N 10
extern const double kfq_hist_bounds[KFQ_HIST_N];
int kfq_eval_hist(struct kfq_conn *c, int64_t counts[KFQ_HIST_N], double *sum,
                  struct kf_err *err);

/* ---- worker side --------------------------------------------------------- */

struct kfq_claim_opts {
    const char *consumer;   /* worker id */
    int64_t lease_ms;       /* a task not touched for this long is taken over (default 300000) */
    int64_t block_ms;       /* wait this long for a submit when idle (0 = do not block) */
    int max_deliveries;     /* dead-letter a lapsed task after this many attempts (default 3) */
    const char *lanes;      /* the lanes this worker serves, comma-separated ("nvrtc,python",
                               lanes.h); NULL: every lane. Tasks of other lanes are left for
                               the workers that serve them (a task without a lane: any). */
};

/* Take one task, atomically (one Lua script): first a task whose lease ran
 * out (taken over with a new attempt, or dead-lettered to kf:tasks:dead and
 * failed once it had max_deliveries attempts), then the admin priority
 * list, then the head of the queue of the team served longest ago, each
 * time the first task of a lane in o->lanes (a lapsed task of another lane
 * is left for a worker of its lane; it is still dead-lettered here). The task
 * is marked running under a fresh token, its earlier partial traces are
 * cleared, and its lease runs lease_ms. When nothing is queued, waits up to
 * block_ms for a submit (BLPOP on the wake list) and tries once more.
 * *out: new task (kfq_task_free) or NULL when nothing arrived in block_ms. */
int kfq_worker_claim(struct kfq_conn *c, const struct kfq_claim_opts *o, struct kfq_task **out,
                     struct kf_err *err);
/* At worker start: take over, one at a time, tasks still running under
 * this consumer's id (left by an earlier run with the same worker id that
 * died), with a new attempt token; *out NULL when none is left. A task
 * out of attempts is dead-lettered instead; one of a lane no longer in
 * o->lanes gets its lease ended now, for a worker of its lane. */
int kfq_reclaim_own(struct kfq_conn *c, const struct kfq_claim_opts *o, struct kfq_task **out,
                    struct kf_err *err);
/* The worker writes. Each is refused with KF_ECONFLICT (and changes
 * nothing) unless the task is still running under t->token. */

/* Keep the lease: its deadline becomes now + lease_ms. Called by
 * kfq_task_progress; call it at least every lease/2 during long work. */
int kfq_task_touch(struct kfq_conn *c, const struct kfq_task *t, int64_t lease_ms,
                   struct kf_err *err);
/* Progress: done of total workloads; renews the lease and emits an event. */
int kfq_task_progress(struct kfq_conn *c, const struct kfq_task *t, int64_t lease_ms, int done,
                      int total, struct kf_err *err);
/* Append one trace (borrowed JSON object) to kf:traces:<id>. */
int kfq_task_add_trace(struct kfq_conn *c, const struct kfq_task *t, const json_t *trace,
                       struct kf_err *err);

/* The typed summary of a task's traces, kept by the worker as each trace
 * arrives (kfq_summary_add reads a trace once) and turned into the
 * leaderboard entry at completion: the traces are never read back. */
struct kfq_summary {
    int total;            /* traces */
    int passed;           /* PASSED and not unranked */
    int unranked;         /* marked evaluation.kernelfarm.unranked (the judge's bounds) */
    int nspeed, nlat;
    double speed_sum, lat_sum;   /* speed: against the native reference */
    int npyt;
    double pyt_sum;              /* against the definition's PyTorch reference, where timed */
    char hardware[64];    /* the first trace's environment.hardware, "" if none */
    json_t *uuids;        /* workload uuids in order (owned) */
};
void kfq_summary_init(struct kfq_summary *s);
void kfq_summary_add(struct kfq_summary *s, const json_t *trace);
void kfq_summary_free(struct kfq_summary *s);

/* Finish: status completed, leaderboard entry from sum (NULL or no trace:
 * none; an entry over fewer workloads does not replace a fuller one, read
 * and written in the same script), duration histogram, event. */
int kfq_task_complete(struct kfq_conn *c, const struct kfq_task *t,
                      const struct kfq_summary *sum, struct kf_err *err);
/* Finish as failed with a task-level reason (traces added so far stay). */
int kfq_task_fail(struct kfq_conn *c, const struct kfq_task *t, const char *reason,
                  struct kf_err *err);
/* Give a task back without finishing it (shutdown mid-task): status
 * pending again, at the front of its team's queue. */
int kfq_task_release(struct kfq_conn *c, const struct kfq_task *t, struct kf_err *err);

struct kfq_worker_info {
    const char *id;         /* worker id, e.g. "host-gpu0" */
    const char *host;
    int device;             /* CUDA ordinal, -1 if none */
    const char *hardware;   /* "NVIDIA_H100" or NULL */
    const char *state;      /* "idle", "busy", "starting", "draining" */
    const char *task_id;    /* current task or NULL */
    int64_t pid;
    double started_at;
    const char *self_test;  /* NULL: passed; else why it failed (field self_test) */
    const char *lanes;      /* lanes served, comma-separated (lanes.h); NULL: every lane */
};
/* Write kf:worker:<id> with a TTL of ttl_s seconds and add to the set. */
int kfq_heartbeat(struct kfq_conn *c, const struct kfq_worker_info *w, int ttl_s,
                  struct kf_err *err);
/* The lanes (a lanes.h set) that the live workers able to take tasks serve:
 * every heartbeat without a failed self-test, by its `lanes` (a heartbeat
 * without the field, from a worker older than lanes, takes any task: every
 * lane). 0 when no such worker is connected. */
int kfq_lanes_served(struct kfq_conn *c, unsigned *set, struct kf_err *err);
/* Why a task waits (the `waiting_for` note of the task views): for a
 * pending task (kfq_task_get's record, borrowed) whose lane is not in
 * served, "no connected worker serves lane python"; else NULL. New string
 * (free it). Pure. */
char *kfq_waiting_for(const json_t *task, unsigned served);
/* Remove the heartbeat at clean shutdown. */
int kfq_worker_gone(struct kfq_conn *c, const char *id, struct kf_err *err);

/* ---- events -------------------------------------------------------------- */

/* Append {task_id, status[, done, total]} to kf:events (capped). */
int kfq_event(struct kfq_conn *c, const char *task_id, const char *status, int done, int total,
              struct kf_err *err);
/* Read events after *last_id (updated; "$" to start from now), blocking up
 * to block_ms. For each, cb(ctx, task_id, status). Returns the number read
 * or a negative code. */
typedef void (*kfq_event_fn)(void *ctx, const char *task_id, const char *status);
int kfq_events_read(struct kfq_conn *c, char last_id[64], int64_t block_ms, kfq_event_fn cb,
                    void *ctx, struct kf_err *err);

#endif
