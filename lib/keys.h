/* keys.h: every Redis key name kernelfarm uses, in one place (kf-server,
 * kf-worker, the queue in lib/queue_*.c, tests and benches). docs/queue.md
 * describes each key; deploy/k8s/redis.yaml's ACL users are written from
 * the prefixes below (KFK_ACL_* lists the worker's and the server's).
 *
 * Names with a variable part are hiredis/printf formats with one %s per
 * part (KFK_RL also one %lld), meant to be pasted into a command format by
 * string-literal concatenation:
 *     kfq_command(c, &e, "HGET " KFK_TASK " status", id);
 * so that a key is spelled only here. Header only; no state.
 */
#ifndef KF_KEYS_H
#define KF_KEYS_H

/* ---- the queue (lib/queue_task.c) ---------------------------------------- */
#define KFK_TASK_PREFIX   "kf:task:"
#define KFK_TASK          KFK_TASK_PREFIX "%s"  /* hash: the task record */
#define KFK_SOLUTION      "kf:solution:%s"      /* string: normalized solution JSON */
#define KFK_SOLTEAMS      "kf:solteams:%s"      /* set: teams that submitted a solution */
#define KFK_TRACES_PREFIX "kf:traces:"
#define KFK_TRACES        KFK_TRACES_PREFIX "%s" /* list: trace JSON per evaluated workload */
#define KFK_IDEM          "kf:idem:%s:%s"       /* string: task id per (team, content hash) */
#define KFK_STATE         "kf:state:%s"         /* set: task ids per status: */
#define KFK_STATE_PENDING   "kf:state:pending"
#define KFK_STATE_RUNNING   "kf:state:running"
#define KFK_STATE_COMPLETED "kf:state:completed"
#define KFK_STATE_FAILED    "kf:state:failed"

/* scheduling (lib/queue_lua.c): fair between teams, fenced by a token per attempt */
#define KFK_QUEUE_PREFIX  "kf:queue:team:"
#define KFK_QUEUE         KFK_QUEUE_PREFIX "%s" /* list: a team's pending task ids, FIFO */
#define KFK_QUEUE_PRIO    "kf:queue:prio"       /* list: admin-priority task ids, served first */
#define KFK_QUEUE_FAIR    "kf:queue:fair"       /* zset: team with queued tasks -> last-served tick */
#define KFK_QUEUE_SERVED  "kf:queue:served"     /* hash: team -> last-served tick (all teams) */
#define KFK_QUEUE_TICK    "kf:queue:tick"       /* counter: the scheduler's clock */
#define KFK_QUEUE_WAKE    "kf:queue:wake"       /* list: one element per enqueue; idle workers BLPOP */
#define KFK_RUNNING       "kf:queue:running"    /* zset: running task id -> lease deadline (ms) */
#define KFK_DEAD          "kf:tasks:dead"       /* stream: dead-lettered tasks */

/* ---- events (lib/queue_events.c) ----------------------------------------- */
#define KFK_EVENTS        "kf:events"           /* stream (capped): wakes long-polls */

/* ---- workers (lib/queue_workers.c) --------------------------------------- */
#define KFK_WORKER        "kf:worker:%s"        /* hash with TTL: heartbeat */
#define KFK_WORKER_SET    "kf:workers:set"      /* set: worker ids seen */

/* ---- board and statistics (lib/queue_board.c) ---------------------------- */
#define KFK_BOARD_PREFIX  "kf:board:"
#define KFK_BOARD         KFK_BOARD_PREFIX "%s"         /* hash: "<solution>|<hardware>" -> entry */
#define KFK_BOARD_DEFS    "kf:board:defs"       /* set: definitions with entries */
#define KFK_STATS         "kf:stats"            /* hash: counters, duration histogram */

/* ---- server only ---------------------------------------------------------- */
#define KFK_TOKENS        "kf:tokens"           /* hash: token -> "name team roles" */
#define KFK_RL            "kf:rl:%s:%lld"       /* string, TTL: rate-limit window count */
#define KFK_SOLKEYS       "kf:solkeys:%s"       /* hash per team: solution name -> its
                                                   kf:solution key (docs/queue.md) */
#define KFK_TEAM          "kf:team:%s"          /* hash per team: bytes stored (quota) */
#define KFK_TEAM_SOLREFS  "kf:team:%s:solrefs"  /* hash per team: solution key -> tasks using it */
#define KFK_TEAM_TASKS    "kf:team:%s:tasks"    /* zset per team: task id -> created_at (retention) */

/* ---- Redis ACL key patterns (deploy/k8s/redis.yaml; tests/deploy checks them) ----
 * The worker touches the queue, task records, traces, events, heartbeats, the
 * board and statistics, and reads solutions; never tokens, rate limits,
 * idempotency or solution ownership keys. */
#define KFK_ACL_WORKER "~kf:queue:* ~kf:task:* ~kf:traces:* ~kf:state:* ~kf:tasks:dead " \
                       "~kf:events ~kf:worker:* ~kf:workers:set ~kf:board:* ~kf:stats " \
                       "%R~kf:solution:*"
#define KFK_ACL_SERVER "~kf:*"

#endif
