/* queue_int.h: internals shared by the files of the task protocol
 * (lib/queue_*.c); not for use outside lib/queue_*.c. Public API: queue.h.
 *
 *   queue_lua.c      the Lua scripts: scheduling and fenced worker writes
 *   queue_conn.c     connection, one command, MULTI/EXEC helper, reply helpers, ids
 *   queue_task.c     submit, read views, claim, lease, progress, traces, finish,
 *                    dead letter, release, counts
 *   queue_board.c    leaderboard entries and evaluation statistics
 *   queue_workers.c  heartbeats
 *   queue_events.c   the events stream
 *
 * Same thread-safety as queue.h: one struct kfq_conn per thread.
 */
#ifndef KF_QUEUE_INT_H
#define KF_QUEUE_INT_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kf_err.h"
#include "queue.h"

#define KFQ__CMD_TIMEOUT_MS 10000

/* The queue's Lua scripts (queue_lua.c). */
enum kfq__script {
    KFQ__S_ENQUEUE, KFQ__S_CLAIM, KFQ__S_PROGRESS, KFQ__S_TOUCH, KFQ__S_TRACE,
    KFQ__S_COMPLETE, KFQ__S_FAIL, KFQ__S_RELEASE, KFQ__NSCRIPTS
};
#define KFQ__NKEYS 14

struct kfq_conn {
    redisContext *rc;
    char *host;             /* TCP host, or NULL for unix */
    int port;
    char *path;             /* unix socket path */
    char *password;
    char *user;             /* ACL user (redis://user:pw@host), or NULL: AUTH pw */
    int db;
    int64_t next_try_ms;
    int64_t backoff_ms;
    bool was_up;            /* log "connected" / "lost" transitions once */
    char sha[KFQ__NSCRIPTS][41];  /* SCRIPT LOAD results ("" = not loaded) */
};

/* Set the socket timeout of the current context (no-op when broken). */
void kfq__set_timeout_ms(struct kfq_conn *c, int64_t ms);
/* Turn a NULL or error reply into NULL with err set (an I/O error marks
 * the connection broken); returns r otherwise (still owned by the caller). */
redisReply *kfq__check_reply(struct kfq_conn *c, redisReply *r, struct kf_err *err);

/* A MULTI ... EXEC transaction: begin, append commands, finish. */
struct kfq__tx { struct kfq_conn *c; int n; bool failed; };
void kfq__tx_begin(struct kfq__tx *tx, struct kfq_conn *c);
void kfq__tx_add(struct kfq__tx *tx, const char *fmt, ...);
/* Returns the EXEC reply (array of results; free it) or NULL with err. */
redisReply *kfq__tx_exec(struct kfq__tx *tx, struct kf_err *err);
int kfq__tx_run(struct kfq__tx *tx, struct kf_err *err);

/* Field value of a flat [k, v, k, v] reply (HGETALL, stream fields); borrowed. */
const char *kfq__field(const redisReply *r, const char *name);
bool kfq__is_status(const char *s, const char *want);
/* A JSON number from a decimal string; null for ""/NULL, the string if not a number. New. */
json_t *kfq__num_or_null(const char *s, bool integer);

/* Run script s by EVALSHA (SCRIPT LOAD first, and again on NOSCRIPT) with
 * args as ARGV[6..] (lens NULL: C strings). Reply: new, or NULL with err. */
redisReply *kfq__eval(struct kfq_conn *c, enum kfq__script s, int nargs,
                      const char *const *args, const size_t *lens, struct kf_err *err);
/* Queue script s (by EVAL, text included) inside a MULTI. */
void kfq__tx_eval(struct kfq__tx *tx, enum kfq__script s, int nargs, const char *const *args);
/* The script's source (tests). */
const char *kfq__script_text(enum kfq__script s);

/* Leaderboard entry for this task from its summary (new; NULL if no trace). */
json_t *kfq__board_entry(const struct kfq_task *t, const struct kfq_summary *s,
                         double finished);

#endif
