/* api.h: the HTTP API as plain functions. A handler takes a parsed request
 * (struct api_req) and fills a response (struct api_resp: status + JSON or
 * text body), so every route is testable without sockets. server/http.c
 * turns libmicrohttpd requests into api_req and api_resp into responses;
 * server/router.c maps method + path to a handler.
 *
 * Thread-safety: handlers run concurrently on the HTTP threads; the shared
 * struct api_ctx is read-only after start except for the members guarded by
 * their own locks (leaderboard cache, metrics counters, draining flag).
 */
#ifndef KF_SERVER_API_H
#define KF_SERVER_API_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "kf_err.h"
#include "queue.h"

struct api_auth;     /* server/auth.h */
struct api_board;    /* server/board.h */
struct api_metrics;  /* server/metrics.h */
struct api_health_cache;  /* server/h_ops.c */

/* Server-wide state shared by handlers. */
struct api_ctx {
    const struct kf_dataset *ds;      /* borrowed, immutable */
    char *dataset_id;                 /* sha1 of definitions + workloads */
    char instance_id[33];
    double started_at;
    /* settings */
    size_t max_body;                  /* bytes (413 above) */
    size_t body_budget;               /* bytes of request bodies buffered at once,
                                         all connections together (503 above; 0: none) */
    atomic_size_t body_used;          /* bytes reserved now against body_budget */
    size_t max_response;              /* POST /tasks/batch answer cap in bytes */
    int64_t quota_bytes;              /* per team: bytes of stored solutions (0: none) */
    int64_t quota_tasks;              /* per team: tasks kept in Redis (0: none) */
    const char *archive_dir;          /* tasks past quota_tasks go here as JSONL */
    int64_t health_cache_ms;          /* GET /health view lifetime */
    struct api_health_cache *health;  /* server/h_ops.c; NULL: built per request */
    int max_batch;                    /* POST /tasks/batch ids */
    int max_workloads;                /* workload uuids per submission */
    int64_t rate_limit;               /* submissions per window per caller (0: off) */
    int64_t rate_window;              /* seconds */
    const char *redis_url, *redis_password;
    bool public_sources;              /* the board shows every solution's source */
    /* parts */
    struct api_auth *auth;            /* never NULL; may be disabled */
    struct api_board *board;          /* leaderboard cache */
    struct api_metrics *metrics;
    atomic_bool draining;             /* POST /drain or shutdown: no new tasks */
    atomic_bool shutting_down;        /* answer long-polls with 503 */
    /* per-definition prebuilt JSON text (same order as ds->defs) */
    char **def_json, **def_workloads_json;
    char *defs_list_json;
    /* test hook: use this connection instead of the thread's own */
    struct kfq_conn *redis_override;
};

struct api_kv { const char *key, *value; };

#define API_MAX_PARAMS 4
#define API_MAX_QUERY 32

/* Who is calling (filled by auth). */
struct api_principal {
    bool authenticated;     /* a valid token was presented */
    char name[64];          /* token name, or "ip:<addr>" when auth is off */
    char team[64];          /* "" when auth is off */
    unsigned roles;         /* API_ROLE_* bits */
};
#define API_ROLE_READ 1u
#define API_ROLE_SUBMIT 2u
#define API_ROLE_ADMIN 4u

struct api_req {
    const char *method;               /* "GET", "POST", ... */
    const char *path;                 /* without the query string */
    struct api_kv query[API_MAX_QUERY]; int nquery;
    const char *body; size_t body_len;
    const char *authorization;        /* header value or NULL */
    const char *origin;               /* Origin header or NULL */
    const char *host;                 /* Host header or NULL */
    const char *content_type;         /* Content-Type header or NULL */
    const char *sec_fetch_site;       /* Sec-Fetch-Site header or NULL */
    const char *client;               /* peer address text */
    char params[API_MAX_PARAMS][160]; int nparams;  /* {captures} of the route */
    struct api_principal who;
    /* long-poll: 0 on the first call; the deadline (kfq_now() clock) on
     * calls after a suspension */
    double wait_deadline;
};

struct api_resp {
    int status;
    json_t *json;                 /* owned; the body unless text is set */
    char *text; size_t text_len;  /* owned raw body */
    const char *content_type;     /* for text; JSON otherwise */
    int retry_after;              /* > 0: Retry-After header */
    bool www_authenticate;        /* 401: WWW-Authenticate: Bearer */
    char allow[64];               /* 405: the Allow header ("GET, POST") */
    /* long-poll request: suspend until one of wait_ids finishes or the
     * deadline passes, then call the handler again */
    bool wait;
    json_t *wait_ids;             /* owned array of task ids */
    double wait_deadline;
};

typedef void (*api_handler_fn)(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

/* ---- helpers (server/api_util.c) ----------------------------------------- */

const char *api_query(const struct api_req *req, const char *key);   /* NULL if absent */
/* Set an error response {"error": {"code", "message", "path"}}. */
void api_error(struct api_resp *resp, int status, const char *code, const char *path,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Error from a kf_err: status from the code (400, 404, 409, 413, 503...). */
void api_error_from(struct api_resp *resp, const struct kf_err *err);
int api_status_of(int kf_code);
void api_json(struct api_resp *resp, int status, json_t *body /* stolen */);
void api_text(struct api_resp *resp, int status, const char *content_type, char *text /* stolen */,
              size_t len);
void api_resp_clear(struct api_resp *resp);
/* This thread's Redis connection (created lazily; ctx->redis_override wins). */
struct kfq_conn *api_redis(struct api_ctx *ctx);
/* The `waiting_for` of a task view (new JSON: a string, or null): why a
 * pending task (kfq_task_get's record) waits, when no live worker serves its
 * lane (kfq_waiting_for). *served caches the lanes served within one
 * request: set it to -1 first; the workers are read once, and only for a
 * pending task. A Redis error reads as "no note" (the note is advice). */
json_t *api_waiting_for(struct api_ctx *ctx, const json_t *task, long *served);

/* Names (solutions) every route can serve back: 1..max of [A-Za-z0-9_.-],
 * not starting with '.' or '-' (server/h_submit.c). */
#define API_MAX_SOLUTION_NAME 100
bool api_valid_name(const char *s, size_t max);

/* ---- handlers --------------------------------------------------------------- */

/* h_dataset.c */
void api_definitions_list(struct api_ctx *, struct api_req *, struct api_resp *);
void api_definition_get(struct api_ctx *, struct api_req *, struct api_resp *);
void api_definition_workloads(struct api_ctx *, struct api_req *, struct api_resp *);
void api_workload_get(struct api_ctx *, struct api_req *, struct api_resp *);
/* h_submit.c */
void api_evaluate(struct api_ctx *, struct api_req *, struct api_resp *);
void api_solutions_post(struct api_ctx *, struct api_req *, struct api_resp *);
/* The kf:solution key of a stored solution name, whichever team stored it
 * (the public board's view): new string (free), or KF_ENOENT / KF_EREDIS. */
int api_solution_key_any(struct api_ctx *ctx, const char *name, char **key, struct kf_err *err);
void api_solution_get(struct api_ctx *, struct api_req *, struct api_resp *);
/* h_tasks.c */
void api_task_get(struct api_ctx *, struct api_req *, struct api_resp *);
void api_tasks_batch(struct api_ctx *, struct api_req *, struct api_resp *);
void api_task_traces(struct api_ctx *, struct api_req *, struct api_resp *);
/* h_ops.c */
void api_health(struct api_ctx *, struct api_req *, struct api_resp *);
/* The cached /health view (ctx->health); NULL ctx->health: built per request. */
struct api_health_cache *api_health_cache_new(void);
void api_health_cache_free(struct api_health_cache *h);
void api_metrics_get(struct api_ctx *, struct api_req *, struct api_resp *);
void api_drain(struct api_ctx *, struct api_req *, struct api_resp *);
void api_shutdown(struct api_ctx *, struct api_req *, struct api_resp *);
/* h_results.c */
void api_results(struct api_ctx *, struct api_req *, struct api_resp *);
/* web.c */
void api_index(struct api_ctx *, struct api_req *, struct api_resp *);
void api_openapi(struct api_ctx *, struct api_req *, struct api_resp *);
/* h_board.c */
void api_board_solution(struct api_ctx *, struct api_req *, struct api_resp *);
void api_board_trace(struct api_ctx *, struct api_req *, struct api_resp *);
void api_board_submissions(struct api_ctx *, struct api_req *, struct api_resp *);
void api_board_history(struct api_ctx *, struct api_req *, struct api_resp *);
void api_resume(struct api_ctx *, struct api_req *, struct api_resp *);

/* ---- context setup (server/context.c) ---------------------------------------- */

/* Prebuild the dataset JSON and dataset id. ds borrowed. */
void api_ctx_init(struct api_ctx *ctx, const struct kf_dataset *ds);
void api_ctx_cleanup(struct api_ctx *ctx);

#endif
