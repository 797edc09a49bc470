/* h_submit.c: submissions. POST /evaluate (flashinfer-bench: {solution,
 * workload_uuids?, task_id?} -> {task_id, normalized_solution_name}),
 * POST /solutions (body: solution.json; ?workloads=a,b&rerun=1&priority=1 -> 202
 * {task_id, solution, status_url}) and GET /solutions/{name}.
 * Everything is validated before anything is queued. Thread-safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "keys.h"
#include "auth.h"
#include "ratelimit.h"
#include "jsonio.h"
#include "sha1.h"
#include "xalloc.h"

#define MAX_NAME 160

struct prepared {
    struct kf_solution *sol;
    const struct kf_dataset_def *def;
    char name[MAX_NAME + 16];     /* normalized */
    json_t *doc;                  /* normalized document */
    json_t *workloads;            /* selected uuids */
    char content_hash[41];
};

static void prepared_free(struct prepared *p)
{
    kf_solution_free(p->sol);
    json_decref(p->doc);
    json_decref(p->workloads);
}

static void hash_str(struct api_sha1 *h, const char *s)
{
    if (s)
        api_sha1_update(h, s, strlen(s));
}

/* flashinfer-bench Solution.hash(): sha1 over definition, language,
 * entry_point, binding ("" if none), dependencies, then each source's path
 * and content. kernelfarm adds the nvrtc launch plan and compile_options
 * (they change behaviour). */
static void normalized_name(const struct kf_solution *s, const json_t *doc, char *out, size_t n)
{
    struct api_sha1 h;
    char hex[41];
    api_sha1_init(&h);
    hash_str(&h, s->definition);
    hash_str(&h, s->spec.language);
    hash_str(&h, s->spec.entry_point);
    hash_str(&h, s->spec.binding ? s->spec.binding : "");
    for (int i = 0; i < s->spec.ndependencies; i++)
        hash_str(&h, s->spec.dependencies[i]);
    for (int i = 0; i < s->nsources; i++) {
        hash_str(&h, s->sources[i].path);
        hash_str(&h, s->sources[i].content);
    }
    const json_t *spec = json_object_get(doc, "spec");
    const char *extra[] = {"launch", "workspace", "compile_options"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(spec, extra[i]);
        if (v) {
            char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            hash_str(&h, t);
            free(t);
        }
    }
    api_sha1_hex(&h, hex);
    snprintf(out, n, "%.*s_%.8s", MAX_NAME, s->name, hex);
}

/* Validate doc (borrowed) and the workload selection (array of strings or
 * NULL = all). prefix: JSON path of the solution in the request body. */
static int prepare(struct api_ctx *ctx, const json_t *doc, const json_t *wsel, const char *prefix,
                   const char *wpath, struct prepared *p, struct kf_err *err)
{
    int rc;
    memset(p, 0, sizeof *p);
    if (!json_is_object(doc))
        return kf_err_set(err, KF_EINVAL, prefix[0] ? prefix : "$",
                          "expected a solution object");
    if ((rc = kf_solution_from_json(doc, &p->sol, err))) {
        if (err->code == 0)
            err->code = rc;
        kf_err_prefix(err, prefix);
        return rc;
    }
    p->def = ctx->ds ? kf_dataset_find(ctx->ds, p->sol->definition) : NULL;
    if (!p->def) {
        rc = kf_err_set(err, KF_EINVAL, "definition", "unknown definition '%s'",
                        p->sol->definition ? p->sol->definition : "");
        kf_err_prefix(err, prefix);
        return rc;
    }
    if ((rc = kf_solution_check(p->sol, p->def->def, err))) {
        if (err->code == 0 || err->code == KF_EUNSUP)
            err->code = KF_EINVAL;
        kf_err_prefix(err, prefix);
        return KF_EINVAL;
    }
    p->workloads = json_array();
    if (wsel && json_array_size(wsel) > 0) {
        size_t i;
        json_t *v;
        if (json_array_size(wsel) > (size_t)ctx->max_workloads)
            return kf_err_set(err, KF_EINVAL, wpath, "more than %d workloads", ctx->max_workloads);
        json_array_foreach(wsel, i, v) {
            char path[64];
            snprintf(path, sizeof path, "%s[%zu]", wpath, i);
            if (!json_is_string(v))
                return kf_err_set(err, KF_EINVAL, path, "expected a workload uuid string");
            const struct kf_dataset_def *wd = NULL;
            const struct kf_workload *w = kf_dataset_workload(ctx->ds, json_string_value(v), &wd);
            if (!w || wd != p->def)
                return kf_err_set(err, KF_EINVAL, path, "workload '%s' is not a workload of %s",
                                  json_string_value(v), p->def->def->name);
            bool dup = false;
            for (size_t k = 0; k < json_array_size(p->workloads) && !dup; k++)
                dup = json_equal(json_array_get(p->workloads, k), v);
            if (!dup)
                json_array_append(p->workloads, v);
        }
    } else {
        for (int i = 0; i < p->def->nworkloads; i++)
            json_array_append_new(p->workloads, json_string(p->def->workloads[i]->uuid));
    }
    normalized_name(p->sol, doc, p->name, sizeof p->name);
    p->doc = json_deep_copy(doc);
    json_object_set_new(p->doc, "name", json_string(p->name));
    /* idempotency: normalized document (sorted keys) + workload set */
    struct api_sha1 h;
    api_sha1_init(&h);
    char *t = json_dumps(p->doc, JSON_COMPACT | JSON_SORT_KEYS);
    hash_str(&h, t);
    free(t);
    t = json_dumps(p->workloads, JSON_COMPACT);
    hash_str(&h, "\n");
    hash_str(&h, t);
    free(t);
    api_sha1_hex(&h, p->content_hash);
    return 0;
}

/* Validate and queue. Returns 0 with task_id filled, or nonzero with resp set. */
static int submit(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp,
                  const json_t *doc, const json_t *wsel, const char *prefix, const char *wpath,
                  const char *client_task_id, bool rerun, char task_id[65], char *name,
                  size_t name_len, bool *existing)
{
    struct prepared p;
    struct kf_err err;
    kf_err_clear(&err);
    if (atomic_load(&ctx->draining)) {
        api_error(resp, 503, "draining", "", "the server is draining and accepts no new tasks");
        resp->retry_after = 30;
        return 1;
    }
    if (client_task_id && !kfq_valid_task_id(client_task_id)) {
        api_error(resp, 400, "invalid", "task_id", "task_id must be 1..64 of [A-Za-z0-9_.-]");
        return 1;
    }
    int rc = prepare(ctx, doc, wsel, prefix, wpath, &p, &err);
    if (rc) {
        api_error_from(resp, &err);
        prepared_free(&p);
        return 1;
    }
    if (api_rate_check(ctx, req, resp)) {
        prepared_free(&p);
        return 1;
    }
    /* ?priority=1: served before every team's queue (a rerun after a
     * deadline); admins only */
    const char *pq = api_query(req, "priority");
    bool priority = pq && (strcmp(pq, "1") == 0 || strcmp(pq, "true") == 0);
    if (priority && !(req->who.roles & API_ROLE_ADMIN)) {
        api_error(resp, 403, "forbidden", "priority", "priority=1 needs an admin token");
        prepared_free(&p);
        return 1;
    }
    struct kfq_submit s = {
        .task_id = client_task_id, .definition = p.def->def->name, .solution_name = p.name,
        .solution = p.doc, .workloads = p.workloads, .team = req->who.team,
        .content_hash = p.content_hash, .rerun = rerun, .priority = priority,
        .fail_reason = json_array_size(p.workloads) == 0
                           ? "no workloads to evaluate: the definition has none"
                           : NULL};
    rc = kfq_submit(api_redis(ctx), &s, task_id, existing, &err);
    if (rc) {
        api_error_from(resp, &err);
        prepared_free(&p);
        return 1;
    }
    snprintf(name, name_len, "%s", p.name);
    prepared_free(&p);
    return 0;
}

static json_t *parse_body(struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    if (!req->body || req->body_len == 0) {
        api_error(resp, 400, "invalid", "$", "empty request body: expected JSON");
        return NULL;
    }
    json_t *j = kf_json_loadb(req->body, req->body_len, &err);
    if (!j)
        api_error_from(resp, &err);
    return j;
}

void api_evaluate(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    json_t *body = parse_body(req, resp);
    char task_id[65], name[MAX_NAME + 16];
    bool existing;
    if (!body)
        return;
    if (!json_is_object(body)) {
        api_error(resp, 400, "invalid", "$", "expected an object {solution, workload_uuids?}");
        goto out;
    }
    const json_t *sol = json_object_get(body, "solution");
    const json_t *wl = json_object_get(body, "workload_uuids");
    const json_t *tid = json_object_get(body, "task_id");
    if (!sol) {
        api_error(resp, 400, "invalid", "solution", "missing field 'solution'");
        goto out;
    }
    if (wl && !json_is_null(wl) && !json_is_array(wl)) {
        api_error(resp, 400, "invalid", "workload_uuids", "expected an array of uuids");
        goto out;
    }
    if (tid && !json_is_null(tid) && !json_is_string(tid)) {
        api_error(resp, 400, "invalid", "task_id", "expected a string");
        goto out;
    }
    if (submit(ctx, req, resp, sol, json_is_array(wl) ? wl : NULL, "solution", "workload_uuids",
               json_string_value(tid), false, task_id, name, sizeof name, &existing))
        goto out;
    api_json(resp, 200, json_pack("{s:s, s:s}", "task_id", task_id, "normalized_solution_name",
                                  name));
out:
    json_decref(body);
}

void api_solutions_post(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    json_t *body = parse_body(req, resp), *wsel = NULL;
    char task_id[65], name[MAX_NAME + 16];
    bool existing;
    if (!body)
        return;
    const char *q = api_query(req, "workloads");
    if (q && *q) {
        wsel = json_array();
        char *copy = xstrdup(q);
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (*t)
                json_array_append_new(wsel, json_string(t));
        free(copy);
    }
    const char *rr = api_query(req, "rerun");
    bool rerun = rr && (strcmp(rr, "1") == 0 || strcmp(rr, "true") == 0);
    if (submit(ctx, req, resp, body, wsel, "", "workloads", NULL, rerun, task_id, name,
               sizeof name, &existing))
        goto out;
    char *url = xasprintf("/tasks/%s", task_id);
    /* the task's own status word: pending for a new task, the current one
     * (pending, running, completed) for an existing task */
    json_t *task = NULL;
    struct kf_err terr;
    if (existing && kfq_task_get(api_redis(ctx), task_id, &task, &terr) == 0 &&
        json_is_string(json_object_get(task, "status")))
        api_json(resp, 200,
                 json_pack("{s:s, s:s, s:s, s:O, s:b}", "task_id", task_id, "solution", name,
                           "status_url", url, "status", json_object_get(task, "status"),
                           "existing", 1));
    else
        api_json(resp, existing ? 200 : 202,
                 json_pack("{s:s, s:s, s:s, s:s, s:b}", "task_id", task_id, "solution", name,
                           "status_url", url, "status", "pending", "existing", existing));
    json_decref(task);
    free(url);
out:
    json_decref(wsel);
    json_decref(body);
}

void api_solution_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *doc = NULL;
    const char *name = req->params[0];
    struct kfq_conn *c = api_redis(ctx);
    if (!(req->who.roles & API_ROLE_ADMIN)) {
        redisReply *r = kfq_command(c, &err, "SISMEMBER " KFK_SOLTEAMS " %s", name, req->who.team);
        if (!r) {
            api_error_from(resp, &err);
            return;
        }
        bool ok = r->integer == 1;
        freeReplyObject(r);
        if (!ok) {
            api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
            return;
        }
    }
    if (kfq_solution_get(c, name, &doc, &err)) {
        api_error_from(resp, &err);
        return;
    }
    api_json(resp, 200, doc);
}
