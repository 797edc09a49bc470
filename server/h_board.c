/* h_board.c: the routes behind the web board (server/web/index.html):
 *   GET /board/solutions/{name}        a solution's page: metadata, source
 *                                      (when visible), per-hardware results
 *                                      with one row per workload
 *   GET /board/traces/{task}/{n}       the n-th trace of a task (0-based)
 *   GET /board/submissions             the caller's team's recent tasks with
 *                                      the reason of each failure
 *   GET /board/history?definition=D    best score per GPU model over time
 *   POST /resume                       admin: undo POST /drain
 * Visibility: a ranked result (every workload passed) is public with its
 * traces; anything else of a solution (unranked results, pending and failed
 * tasks) only to the teams that submitted it and to admins; the source to
 * them, or to everyone with --public-sources. Thread-safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "board.h"
#include "keys.h"
#include "xalloc.h"

#define SUBMISSIONS_MAX 50
#define FAILURES_MAX 20
#define LOG_MAX 4000

/* Is the caller one of the teams behind this team name? Anonymous callers
 * (auth on, no token) belong to no team. */
static bool in_team(struct api_ctx *ctx, const struct api_principal *who, const char *team)
{
    if (!api_auth_enabled(ctx->auth))
        return true;
    if (!who->authenticated)
        return false;
    return api_can_see(who, team);
}

/* Did the caller's team submit this solution? (admins: yes) */
static int solution_member(struct api_ctx *ctx, const struct api_principal *who, const char *name,
                           bool *member, struct kf_err *err)
{
    *member = false;
    if (!api_auth_enabled(ctx->auth) || (who->roles & API_ROLE_ADMIN)) {
        *member = true;
        return 0;
    }
    if (!who->authenticated)
        return 0;
    redisReply *r = kfq_command(api_redis(ctx), err, "SISMEMBER " KFK_SOLTEAMS " %s", name,
                                who->team);
    if (!r)
        return KF_EREDIS;
    *member = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return 0;
}

static int required_workloads(struct api_ctx *ctx, const char *def)
{
    const struct kf_dataset_def *dd = ctx->ds ? kf_dataset_find(ctx->ds, def) : NULL;
    return dd ? dd->nworkloads : -1;
}

/* A leaderboard entry that passed every workload of its definition. */
static bool ranked(struct api_ctx *ctx, const json_t *e)
{
    json_int_t passed = json_integer_value(json_object_get(e, "workloads_passed"));
    json_int_t total = json_integer_value(json_object_get(e, "workloads_total"));
    const char *def = json_string_value(json_object_get(e, "definition"));
    int req = def ? required_workloads(ctx, def) : -1;
    return total > 0 && passed == total && req >= 0 && total >= req;
}

static const char *trace_status(const json_t *tr)
{
    const char *s = json_string_value(json_object_get(json_object_get(tr, "evaluation"), "status"));
    return s ? s : "";
}

static json_t *get_or_null(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return v ? json_incref(v) : json_null();
}

static json_t *truncated_log(const json_t *ev)
{
    const char *log = json_string_value(json_object_get(ev, "log"));
    if (!log)
        return json_null();
    size_t n = strlen(log);
    if (n <= LOG_MAX)
        return json_string(log);
    char *t = xasprintf("%.*s\n... (%zu more bytes in the trace)", LOG_MAX, log, n - LOG_MAX);
    json_t *j = json_string(t);
    free(t);
    return j;
}

/* One row per trace: workload, axes, status, latencies, speedup, log, link. */
static json_t *workload_rows(struct api_ctx *ctx, const char *task_id, const json_t *traces)
{
    json_t *rows = json_array();
    size_t i;
    json_t *tr;
    json_array_foreach(traces, i, tr) {
        const json_t *ev = json_object_get(tr, "evaluation");
        const json_t *perf = json_object_get(ev, "performance");
        const char *uuid = json_string_value(json_object_get(json_object_get(tr, "workload"), "uuid"));
        const struct kf_workload *w = uuid && ctx->ds ? kf_dataset_workload(ctx->ds, uuid, NULL) : NULL;
        json_t *axes = json_object_get(json_object_get(tr, "workload"), "axes");
        if (!axes && w)
            axes = json_object_get(w->json, "axes");
        char *url = xasprintf("/board/traces/%s/%zu", task_id, i);
        json_t *row = json_pack("{s:s?, s:O?, s:s, s:o, s:o, s:o, s:o, s:s}", "workload", uuid,
                                "axes", axes, "status", trace_status(tr), "latency_ms",
                                get_or_null(perf, "latency_ms"), "reference_latency_ms",
                                get_or_null(perf, "reference_latency_ms"), "speedup_factor",
                                get_or_null(perf, "speedup_factor"), "log",
                                strcmp(trace_status(tr), "PASSED") ? truncated_log(ev) : json_null(),
                                "trace_url", url);
        free(url);
        /* which reference the speedup is against (performance.extra.reference,
         * "kernelfarm-native" today) and the PyTorch one once the contest
         * lanes write it */
        const json_t *px = json_object_get(perf, "extra");
        const json_t *ref = json_object_get(px, "reference");
        const json_t *unr = json_object_get(json_object_get(ev, "kernelfarm"), "unranked");
        json_object_set_new(row, "reference", get_or_null(px, "reference"));
        if (json_is_string(ref) && !strcmp(json_string_value(ref), "pytorch")) {
            /* the judge scored it against the PyTorch reference: the row keeps
             * the native speedup first and the contest's beside it */
            json_object_set_new(row, "speedup_factor_pytorch", get_or_null(perf, "speedup_factor"));
            json_object_set_new(row, "speedup_factor", get_or_null(px, "native_speedup_factor"));
        } else {
            json_object_set_new(row, "speedup_factor_pytorch", json_null());
        }
        /* a timing outside the judge's bounds: not ranked, shown as under review */
        json_object_set_new(row, "under_review", json_is_string(unr) ? json_incref((json_t *)unr)
                                                                      : json_null());
        json_array_append_new(rows, row);
    }
    return rows;
}

static const char *trace_hardware(const json_t *tr)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(tr, "evaluation"), "environment"),
                        "hardware"));
}

/* rank of name on (def, hw), or 0 */
static int rank_of(struct api_ctx *ctx, const char *def, const char *hw, const char *name)
{
    struct kf_err err;
    json_t *b = NULL;
    int rank = 0;
    if (api_board_build(ctx, def, hw, &b, &err))
        return 0;
    json_t *boards = json_object_get(json_array_get(json_object_get(b, "definitions"), 0), "boards");
    json_t *ranking = json_object_get(json_array_get(boards, 0), "ranking");
    size_t i;
    json_t *e;
    json_array_foreach(ranking, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "solution")), name) == 0) {
            rank = (int)json_integer_value(json_object_get(e, "rank"));
            break;
        }
    }
    json_decref(b);
    return rank;
}

void api_board_solution(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *doc = NULL, *board = NULL, *results = json_array();
    const char *name = req->params[0];
    struct kfq_conn *c = api_redis(ctx);
    bool member;
    char *key = NULL;
    int rc = api_solution_key_any(ctx, name, &key, &err);
    if (rc == 0)
        rc = kfq_solution_get(c, key, &doc, &err);
    free(key);
    if (rc) {
        if (rc == KF_ENOENT)
            api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
        else
            api_error_from(resp, &err);
        goto out;
    }
    if (solution_member(ctx, &req->who, name, &member, &err)) {
        api_error_from(resp, &err);
        goto out;
    }
    const char *def = json_string_value(json_object_get(doc, "definition"));
    if (!def || kfq_board(c, def, &board, &err)) {
        if (!def)
            api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
        else
            api_error_from(resp, &err);
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(board, def), i, e) {
        const char *sol = json_string_value(json_object_get(e, "solution"));
        if (!sol || strcmp(sol, name) != 0)
            continue;
        bool is_ranked = ranked(ctx, e);
        if (!is_ranked && !member)
            continue;
        const char *tid = json_string_value(json_object_get(e, "task_id"));
        const char *hw = json_string_value(json_object_get(e, "hardware"));
        json_t *traces = NULL;
        if (!tid || !hw)
            continue;
        if (kfq_task_traces(c, tid, false, &traces, &err) && err.code != KF_ENOENT) {
            api_error_from(resp, &err);
            goto out;
        }
        json_t *r = json_pack("{s:s, s:s, s:b, s:i}", "hardware", hw, "task_id", tid, "ranked",
                              is_ranked, "rank", is_ranked ? rank_of(ctx, def, hw, name) : 0);
        static const char *const copy[] = {"workloads_passed", "workloads_total", "mean_speedup",
                                           "mean_speedup_pytorch", "mean_latency_ms",
                                           "last_evaluated"};
        for (size_t k = 0; k < sizeof copy / sizeof copy[0]; k++)
            json_object_set_new(r, copy[k], get_or_null(e, copy[k]));
        json_object_set_new(r, "workloads", workload_rows(ctx, tid, traces ? traces : json_null()));
        json_decref(traces);
        json_array_append_new(results, r);
    }
    if (!member && json_array_size(results) == 0) {
        api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
        goto out;
    }
    const json_t *spec = json_object_get(doc, "spec");
    bool show_src = member || ctx->public_sources;
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "solution", name,
                          "definition", def, "author", get_or_null(doc, "author"), "description",
                          get_or_null(doc, "description"), "language",
                          get_or_null(spec, "language"), "binding", get_or_null(spec, "binding"),
                          "sources_visible", show_src, "sources",
                          show_src ? get_or_null(doc, "sources") : json_null(), "results",
                          json_incref(results));
    api_json(resp, 200, o);
out:
    json_decref(results);
    json_decref(board);
    json_decref(doc);
}

/* Is task id the task of a ranked leaderboard entry of def? */
static int task_is_ranked(struct api_ctx *ctx, const char *def, const char *id, bool *yes,
                          struct kf_err *err)
{
    json_t *board = NULL;
    *yes = false;
    int rc = kfq_board(api_redis(ctx), def, &board, err);
    if (rc)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(board, def), i, e) {
        const char *t = json_string_value(json_object_get(e, "task_id"));
        if (t && strcmp(t, id) == 0 && ranked(ctx, e))
            *yes = true;
    }
    json_decref(board);
    return 0;
}

void api_board_trace(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *task = NULL, *traces = NULL;
    const char *id = req->params[0], *ns = req->params[1];
    char *end;
    long n = strtol(ns, &end, 10);
    if (!*ns || *end || n < 0) {
        api_error(resp, 404, "not_found", "n", "'%s' is not a trace index", ns);
        return;
    }
    int rc = kfq_valid_task_id(id) ? kfq_task_get_full(api_redis(ctx), id, &task, &traces, &err)
                                   : KF_ENOENT;
    if (rc) {
        if (rc == KF_ENOENT)
            api_error(resp, 404, "not_found", "task", "unknown task '%.80s'", id);
        else
            api_error_from(resp, &err);
        goto out;
    }
    bool ok = in_team(ctx, &req->who, json_string_value(json_object_get(task, "team")));
    if (!ok) {
        const char *def = json_string_value(json_object_get(task, "definition"));
        if (def && task_is_ranked(ctx, def, id, &ok, &err)) {
            api_error_from(resp, &err);
            goto out;
        }
    }
    if (!ok) {
        api_error(resp, 404, "not_found", "task", "unknown task '%s'", id);
        goto out;
    }
    json_t *tr = json_array_get(traces, (size_t)n);
    if (!tr) {
        api_error(resp, 404, "not_found", "n", "task '%s' has %zu traces, no trace %ld", id,
                  json_array_size(traces), n);
        goto out;
    }
    api_json(resp, 200, json_incref(tr));
out:
    json_decref(task);
    json_decref(traces);
}

/* The caller's team's newest task ids (all teams for admins), newest first. */
static const char submissions_lua[] =
    "local out = {}\n"
    "for _, st in ipairs({'pending', 'running', 'completed', 'failed'}) do\n"
    "  for _, id in ipairs(redis.call('SMEMBERS', 'kf:state:' .. st)) do\n"
    "    local h = redis.call('HMGET', 'kf:task:' .. id, 'team', 'created_at')\n"
    "    if ARGV[2] == '1' or h[1] == ARGV[1] then\n"
    "      table.insert(out, {id, tonumber(h[2]) or 0})\n"
    "    end\n"
    "  end\n"
    "end\n"
    "table.sort(out, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end "
    "return a[1] < b[1] end)\n"
    "local ids = {}\n"
    "for i = 1, math.min(tonumber(ARGV[3]), #out) do ids[i] = out[i][1] end\n"
    "return ids\n";

/* One submission with its outcome: the task-level error, or a summary of
 * the workloads that did not pass with their logs; waiting_for (stolen):
 * why it waits, from api_waiting_for. */
static json_t *submission_view(const char *id, const json_t *t, const json_t *traces,
                               json_t *waiting_for)
{
    json_t *o = json_pack("{s:s}", "task_id", id);
    static const char *const copy[] = {"status", "definition", "solution", "author", "created_at",
                                       "started_at", "finished_at", "error", "worker", "lane"};
    for (size_t k = 0; k < sizeof copy / sizeof copy[0]; k++)
        json_object_set_new(o, copy[k], get_or_null(t, copy[k]));
    json_object_set_new(o, "progress",
                        json_pack("{s:o, s:o}", "done", get_or_null(t, "progress_done"), "total",
                                  get_or_null(t, "progress_total")));
    json_t *failures = json_array();
    size_t i, passed = 0, nfail = 0;
    json_t *tr;
    const char *hw = NULL;
    json_array_foreach(traces, i, tr) {
        if (!hw)
            hw = trace_hardware(tr);
        if (strcmp(trace_status(tr), "PASSED") == 0) {
            passed++;
            continue;
        }
        nfail++;
        if (json_array_size(failures) < FAILURES_MAX) {
            char *url = xasprintf("/board/traces/%s/%zu", id, i);
            json_array_append_new(
                failures,
                json_pack("{s:O?, s:s, s:o, s:s}", "workload",
                          json_object_get(json_object_get(tr, "workload"), "uuid"), "status",
                          trace_status(tr), "log", truncated_log(json_object_get(tr, "evaluation")),
                          "trace_url", url));
            free(url);
        }
    }
    json_object_set_new(o, "hardware", hw ? json_string(hw) : json_null());
    json_object_set_new(o, "workloads_passed", json_integer((json_int_t)passed));
    json_object_set_new(o, "workloads_failed", json_integer((json_int_t)nfail));
    json_object_set_new(o, "failures", failures);
    /* the reason in one line */
    const char *st = json_string_value(json_object_get(t, "status"));
    const char *terr = json_string_value(json_object_get(t, "error"));
    char *reason = NULL;
    if (st && strcmp(st, "failed") == 0)
        reason = xasprintf("task failed: %s", terr && *terr ? terr : "no reason recorded");
    else if (nfail)
        reason = xasprintf("%zu of %zu workloads did not pass (first: %s)", nfail,
                           json_array_size(traces),
                           json_string_value(json_object_get(json_array_get(failures, 0),
                                                             "status")));
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(o, "waiting_for", waiting_for);
    free(reason);
    return o;
}

void api_board_submissions(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_conn *c = api_redis(ctx);
    bool all = !api_auth_enabled(ctx->auth) || (req->who.roles & API_ROLE_ADMIN);
    redisReply *r = kfq_command(c, &err, "EVAL %s 0 %s %s %d", submissions_lua, req->who.team,
                                all ? "1" : "0", SUBMISSIONS_MAX);
    if (!r) {
        api_error_from(resp, &err);
        return;
    }
    json_t *list = json_array();
    long served = -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *id = r->element[i]->str;
        json_t *t = NULL, *traces = NULL;
        if (!id || kfq_task_get_full(c, id, &t, &traces, &err)) {
            if (err.code == KF_ENOENT)
                continue;   /* deleted in between */
            freeReplyObject(r);
            json_decref(list);
            api_error_from(resp, &err);
            return;
        }
        json_array_append_new(list, submission_view(id, t, traces,
                                                    api_waiting_for(ctx, t, &served)));
        json_decref(t);
        json_decref(traces);
    }
    freeReplyObject(r);
    api_json(resp, 200,
             json_pack("{s:s, s:b, s:o}", "team", req->who.team, "all_teams", all, "submissions",
                       list));
}

void api_board_history(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *out = NULL;
    const char *def = api_query(req, "definition");
    if (!def || !*def) {
        api_error(resp, 400, "invalid", "definition", "query parameter 'definition' is required");
        return;
    }
    if (!ctx->ds || !kf_dataset_find(ctx->ds, def)) {
        api_error(resp, 404, "not_found", "definition", "unknown definition '%s'", def);
        return;
    }
    /* building the board records any new best point first */
    json_t *b = NULL;
    if (api_board_build(ctx, def, NULL, &b, &err) ||
        api_board_history_get(ctx, def, &out, &err)) {
        json_decref(b);
        api_error_from(resp, &err);
        return;
    }
    json_decref(b);
    api_json(resp, 200, json_pack("{s:s, s:o}", "definition", def, "boards", out));
}

void api_resume(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_counts n = {0};
    (void)req;
    if (atomic_load(&ctx->shutting_down)) {
        api_error(resp, 503, "shutting_down", "", "the server is shutting down; resume refused");
        resp->retry_after = 2;
        return;
    }
    atomic_store(&ctx->draining, false);
    kfq_counts(api_redis(ctx), &n, &err);
    api_json(resp, 200, json_pack("{s:s, s:I, s:I}", "status", "accepting", "active_tasks",
                                  (json_int_t)(n.pending + n.running), "queue_size",
                                  (json_int_t)n.pending));
}
