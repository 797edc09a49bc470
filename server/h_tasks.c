/* h_tasks.c: task reads. GET /tasks/{id}?timeout=S (long-poll, 0..3600),
 * POST /tasks/batch {task_ids, timeout} (fail-fast 404), GET
 * /tasks/{id}/traces (JSONL). A long-poll handler answers resp->wait; the
 * HTTP layer suspends the connection and calls it again on a wake-up or at
 * the deadline (req->wait_deadline). Thread-safe. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "jsonio.h"
#include "sha1.h"
#include "xalloc.h"

#define MAX_TIMEOUT 3600.0

static bool terminal(const char *st)
{
    return st && (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0);
}

/* The stored id of a client-chosen task_id of this caller's team (see
 * h_submit.c: sha1 of team and id); false when auth is off. */
static bool team_task_id(const struct api_req *req, const char *id, char out[65])
{
    struct api_sha1 h;
    char hex[41];
    if (!req->who.team[0])
        return false;
    api_sha1_init(&h);
    api_sha1_update(&h, req->who.team, strlen(req->who.team));
    api_sha1_update(&h, "\n", 1);
    api_sha1_update(&h, id, strlen(id));
    api_sha1_hex(&h, hex);
    snprintf(out, 65, "c%s", hex);
    return true;
}

static int get_task(struct api_ctx *ctx, const char *id, json_t **t, json_t **traces,
                    struct kf_err *err)
{
    return traces ? kfq_task_get_full(api_redis(ctx), id, t, traces, err)
                  : kfq_task_get(api_redis(ctx), id, t, err);
}

/* Load one task visible to the caller. Returns the task record or NULL with
 * resp set (404 / 503). A task of another team is 404, as if absent; an id
 * the caller's team chose on POST /evaluate is found under its team's name. */
static json_t *load_task(struct api_ctx *ctx, struct api_req *req, const char *id,
                         const char *path, struct api_resp *resp, json_t **traces)
{
    struct kf_err err;
    json_t *t = NULL;
    char own[65];
    if (traces)
        *traces = NULL;
    if (!kfq_valid_task_id(id)) {
        api_error(resp, 404, "not_found", path, "unknown task '%.80s'", id);
        return NULL;
    }
    int rc = get_task(ctx, id, &t, traces, &err);
    if (rc == 0 && !api_can_see(&req->who, json_string_value(json_object_get(t, "team")))) {
        json_decref(t);
        t = NULL;
        if (traces) {
            json_decref(*traces);
            *traces = NULL;
        }
        rc = KF_ENOENT;
    }
    if (rc == KF_ENOENT && team_task_id(req, id, own))
        rc = get_task(ctx, own, &t, traces, &err);
    if (rc) {
        if (rc == KF_ENOENT)
            api_error(resp, 404, "not_found", path, "unknown task '%s'", id);
        else
            api_error_from(resp, &err);
        return NULL;
    }
    return t;
}

static json_t *field_or_null(const json_t *t, const char *k)
{
    json_t *v = json_object_get(t, k);
    return v ? v : json_null();
}

/* The flashinfer-bench TaskResponse, plus kernelfarm's extra fields.
 * all_traces (borrowed) are shown only once the task is finished;
 * waiting_for (stolen): api_waiting_for's note. */
static json_t *task_view(const json_t *t, json_t *all_traces, json_t *waiting_for)
{
    const char *st = json_string_value(json_object_get(t, "status"));
    const char *id = json_string_value(json_object_get(t, "client_id"));
    if (!id)
        id = json_string_value(json_object_get(t, "id"));
    json_t *traces = terminal(st) && all_traces ? json_incref(all_traces) : json_null();
    json_t *o = json_object();
    json_object_set_new(o, "task_id", json_string(id ? id : ""));
    json_object_set_new(o, "status", json_string(st ? st : ""));
    json_object_set(o, "definition", field_or_null(t, "definition"));
    json_object_set(o, "solution", field_or_null(t, "solution"));
    json_object_set_new(o, "traces", traces);
    json_object_set(o, "error", field_or_null(t, "error"));
    json_t *pr = json_object();
    json_object_set(pr, "done", field_or_null(t, "progress_done"));
    json_object_set(pr, "total", field_or_null(t, "progress_total"));
    json_object_set_new(o, "progress", pr);
    static const char *const extra[] = {"workloads", "created_at", "started_at", "finished_at",
                                        "attempts", "worker", "lane", NULL};
    for (int i = 0; extra[i]; i++) {
        json_t *v = json_object_get(t, extra[i]);
        json_object_set(o, extra[i], v ? v : json_null());
    }
    json_object_set_new(o, "waiting_for", waiting_for);
    return o;
}

static int parse_timeout(const char *s, double *out)
{
    char *end;
    if (!s || !*s) {
        *out = 0;
        return 0;
    }
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || v < 0 || v > MAX_TIMEOUT)
        return -1;
    *out = v;
    return 0;
}

/* Common long-poll decision: true if the handler should answer now. */
static bool answer_now(struct api_ctx *ctx, struct api_req *req, double timeout, bool all_done,
                       double *deadline)
{
    double now = kfq_now();
    *deadline = req->wait_deadline > 0 ? req->wait_deadline : now + timeout;
    if (all_done || timeout <= 0)
        return true;
    if (atomic_load(&ctx->shutting_down))
        return true;
    return now >= *deadline - 0.0005;
}

static void shutdown_reply(struct api_resp *resp)
{
    api_error(resp, 503, "shutting_down", "", "the server is shutting down; retry");
    resp->retry_after = 2;
}

void api_task_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    double timeout, deadline;
    if (parse_timeout(api_query(req, "timeout"), &timeout)) {
        api_error(resp, 400, "invalid", "timeout", "timeout must be a number in 0..3600");
        return;
    }
    json_t *traces = NULL;
    json_t *t = load_task(ctx, req, req->params[0], "task_id", resp, &traces);
    if (!t)
        return;
    bool done = terminal(json_string_value(json_object_get(t, "status")));
    if (!answer_now(ctx, req, timeout, done, &deadline)) {
        resp->wait = true;
        resp->wait_ids = json_pack("[O]", json_object_get(t, "id"));
        resp->wait_deadline = deadline;
    } else if (!done && atomic_load(&ctx->shutting_down) && timeout > 0) {
        shutdown_reply(resp);
    } else {
        long served = -1;
        api_json(resp, 200, task_view(t, traces, api_waiting_for(ctx, t, &served)));
    }
    json_decref(traces);
    json_decref(t);
}

/* POST /tasks/batch. Each distinct id is loaded and rendered once; the
 * answer is assembled as text from those pieces, and refused (413) before
 * it is built when it would pass ctx->max_response: 1,000 copies of one
 * large task cost one load, not 1,000. */
void api_tasks_batch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *body = NULL, *tasks = NULL, *tlist = NULL, *texts = NULL, *uniq = NULL;
    size_t *slot = NULL;
    double timeout = 0, deadline;
    if (!req->body || !req->body_len) {
        api_error(resp, 400, "invalid", "$", "empty request body: expected {task_ids, timeout}");
        return;
    }
    body = kf_json_loadb(req->body, req->body_len, &err);
    if (!body) {
        api_error_from(resp, &err);
        return;
    }
    const json_t *ids = json_object_get(body, "task_ids");
    const json_t *to = json_object_get(body, "timeout");
    if (!json_is_object(body) || !json_is_array(ids)) {
        api_error(resp, 400, "invalid", "task_ids", "expected {\"task_ids\": [...], \"timeout\": S}");
        goto out;
    }
    if (json_array_size(ids) > (size_t)ctx->max_batch) {
        api_error(resp, 400, "invalid", "task_ids", "at most %d task ids", ctx->max_batch);
        goto out;
    }
    if (to && !json_is_null(to)) {
        timeout = json_is_number(to) ? json_number_value(to) : -1;
        if (!json_is_number(to) || !isfinite(timeout) || timeout < 0 || timeout > MAX_TIMEOUT) {
            api_error(resp, 400, "invalid", "timeout", "timeout must be a number in 0..3600");
            goto out;
        }
    }
    tasks = json_array();   /* distinct tasks, in first-seen order */
    tlist = json_array();
    uniq = json_object();   /* id -> index in tasks */
    slot = xcalloc(json_array_size(ids) + 1, sizeof *slot);
    bool all_done = true;
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) {
        char path[48];
        json_t *tr = NULL;
        snprintf(path, sizeof path, "task_ids[%zu]", i);
        if (!json_is_string(idv)) {
            api_error(resp, 400, "invalid", path, "expected a task id string");
            goto out;
        }
        json_t *seen = json_object_get(uniq, json_string_value(idv));
        if (seen) {
            slot[i] = (size_t)json_integer_value(seen);
            continue;
        }
        json_t *t = load_task(ctx, req, json_string_value(idv), path, resp, &tr);
        if (!t)
            goto out;   /* fail-fast: 404 for the first unknown id */
        all_done = all_done && terminal(json_string_value(json_object_get(t, "status")));
        slot[i] = json_array_size(tasks);
        json_object_set_new(uniq, json_string_value(idv), json_integer((json_int_t)slot[i]));
        json_array_append_new(tasks, t);
        json_array_append_new(tlist, tr);
    }
    if (!answer_now(ctx, req, timeout, all_done, &deadline)) {
        resp->wait = true;
        resp->wait_ids = json_array();
        json_array_foreach(tasks, i, idv) {
            if (!terminal(json_string_value(json_object_get(idv, "status"))))
                json_array_append(resp->wait_ids, json_object_get(idv, "id"));
        }
        resp->wait_deadline = deadline;
        goto out;
    }
    if (!all_done && atomic_load(&ctx->shutting_down) && timeout > 0) {
        shutdown_reply(resp);
        goto out;
    }
    /* render each distinct task once; size the answer before building it */
    texts = json_array();
    size_t total = 2;
    long served = -1;
    json_array_foreach(tasks, i, idv) {
        json_t *v = task_view(idv, json_array_get(tlist, i), api_waiting_for(ctx, idv, &served));
        char *t = kf_json_dumps(v);
        json_decref(v);
        json_array_append_new(texts, json_string(t));
        free(t);
    }
    json_array_foreach(ids, i, idv) {
        total += json_string_length(json_array_get(texts, slot[i])) + 1;
        if (ctx->max_response && total > ctx->max_response) {
            api_error(resp, 413, "too_large", "task_ids",
                      "the answer would pass %zu bytes (--max-response): ask for fewer or "
                      "distinct task ids", ctx->max_response);
            goto out;
        }
    }
    char *buf = xmalloc(total + 1);
    size_t len = 0;
    buf[len++] = '[';
    json_array_foreach(ids, i, idv) {
        const json_t *t = json_array_get(texts, slot[i]);
        if (i)
            buf[len++] = ',';
        memcpy(buf + len, json_string_value(t), json_string_length(t));
        len += json_string_length(t);
    }
    buf[len++] = ']';
    buf[len] = '\0';
    api_text(resp, 200, "application/json", buf, len);
out:
    free(slot);
    json_decref(uniq);
    json_decref(texts);
    json_decref(tasks);
    json_decref(tlist);
    json_decref(body);
}

void api_task_traces(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *raw = NULL;
    json_t *t = load_task(ctx, req, req->params[0], "task_id", resp, NULL);
    if (!t)
        return;
    json_decref(t);
    if (kfq_task_traces(api_redis(ctx), req->params[0], true, &raw, &err)) {
        api_error_from(resp, &err);
        return;
    }
    size_t len = 0, cap = 1, i;
    json_t *v;
    json_array_foreach(raw, i, v) cap += json_string_length(v) + 1;
    char *buf = xmalloc(cap);
    json_array_foreach(raw, i, v) {
        memcpy(buf + len, json_string_value(v), json_string_length(v));
        len += json_string_length(v);
        buf[len++] = '\n';
    }
    buf[len] = '\0';
    json_decref(raw);
    api_text(resp, 200, "application/x-ndjson", buf, len);
}
