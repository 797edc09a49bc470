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
#include "plan_check.h"
#include "quota.h"
#include "ratelimit.h"
#include "jsonio.h"
#include "sha1.h"
#include "xalloc.h"

/* Solution names: one grammar every route can serve back. */
#define MAX_NAME API_MAX_SOLUTION_NAME

struct prepared {
    struct kf_solution *sol;
    const struct kf_dataset_def *def;
    char name[MAX_NAME + 16];     /* normalized: <name>_<sha1[:8]> (flashinfer-bench) */
    char full[MAX_NAME + 48];     /* <name>_<sha1>: the stored identity */
    char key[MAX_NAME + 48 + 80]; /* kf:solution:<key> = <team>/<full> */
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
static void normalized_name(const struct kf_solution *s, const json_t *doc, char *out, size_t n,
                            char *full, size_t full_n)
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
    snprintf(full, full_n, "%.*s_%s", MAX_NAME, s->name, hex);
}

bool api_valid_name(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s || *s == '.' || *s == '-')
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
        if (n >= max)
            return false;
    }
    return true;
}

/* Work a request may cause during validation, in proportion to its size. */
static int64_t work_budget(size_t body_len)
{
    return 64 * (int64_t)body_len + (1 << 20);
}

/* Validate doc (borrowed) and the workload selection (array of strings or
 * NULL = all). prefix: JSON path of the solution in the request body. */
static int prepare(struct api_ctx *ctx, const struct api_req *req, const json_t *doc,
                   const json_t *wsel, const char *prefix, const char *wpath, struct prepared *p,
                   struct kf_err *err)
{
    int rc;
    int64_t budget = work_budget(req->body_len);
    const struct kf_workload **sel = NULL;
    bool *picked = NULL;
    int nsel = 0;
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
    if (!api_valid_name(p->sol->name, API_MAX_SOLUTION_NAME)) {
        rc = kf_err_set(err, KF_EINVAL, "name",
                        "solution name must be 1..%d of [A-Za-z0-9_.-], starting with a letter, "
                        "digit or '_' (got '%.40s%s')", API_MAX_SOLUTION_NAME,
                        p->sol->name ? p->sol->name : "",
                        p->sol->name && strlen(p->sol->name) > 40 ? "..." : "");
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
    /* the workload set, in dataset order (so a,b and b,a are one set) */
    p->workloads = json_array();
    sel = xcalloc((size_t)p->def->nworkloads + 1, sizeof *sel);
    picked = xcalloc((size_t)p->def->nworkloads + 1, sizeof *picked);
    if (wsel && json_array_size(wsel) > 0) {
        size_t i;
        json_t *v;
        if (json_array_size(wsel) > (size_t)ctx->max_workloads) {
            rc = kf_err_set(err, KF_EINVAL, wpath, "more than %d workloads", ctx->max_workloads);
            goto out;
        }
        json_array_foreach(wsel, i, v) {
            char path[64];
            snprintf(path, sizeof path, "%s[%zu]", wpath, i);
            if (!json_is_string(v)) {
                rc = kf_err_set(err, KF_EINVAL, path, "expected a workload uuid string");
                goto out;
            }
            int k = 0;
            while (k < p->def->nworkloads && strcmp(p->def->workloads[k]->uuid,
                                                    json_string_value(v)) != 0)
                k++;
            if (k == p->def->nworkloads) {
                rc = kf_err_set(err, KF_EINVAL, path, "workload '%.80s' is not a workload of %s",
                                json_string_value(v), p->def->def->name);
                goto out;
            }
            picked[k] = true;
        }
    } else {
        for (int k = 0; k < p->def->nworkloads; k++)
            picked[k] = true;
    }
    for (int k = 0; k < p->def->nworkloads; k++)
        if (picked[k]) {
            sel[nsel++] = p->def->workloads[k];
            json_array_append_new(p->workloads, json_string(p->def->workloads[k]->uuid));
        }
    if ((rc = kf_plan_check(p->sol, p->def->def, sel, nsel, &budget, err))) {
        kf_err_prefix(err, prefix);
        goto out;
    }
    normalized_name(p->sol, doc, p->name, sizeof p->name, p->full, sizeof p->full);
    snprintf(p->key, sizeof p->key, "%s/%s", req->who.team, p->full);
    p->doc = json_deep_copy(doc);
    json_object_set_new(p->doc, "name", json_string(p->name));
    /* the author is who submitted it, not what the body claims */
    if (req->who.authenticated && req->who.team[0])
        json_object_set_new(p->doc, "author", json_string(req->who.team));
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
out:
    free(sel);
    free(picked);
    return rc;
}

/* A client task_id is kept per team: stored as sha1(team, id) so that one
 * team cannot learn which ids another team used (auth off: as written). */
static void team_task_id(const struct api_req *req, const char *client_id, char out[65])
{
    if (!req->who.team[0]) {
        snprintf(out, 65, "%s", client_id);
        return;
    }
    struct api_sha1 h;
    char hex[41];
    api_sha1_init(&h);
    hash_str(&h, req->who.team);
    hash_str(&h, "\n");
    hash_str(&h, client_id);
    api_sha1_hex(&h, hex);
    snprintf(out, 65, "c%s", hex);
}

/* The quota check, run by kfq_submit only when a new task will be created
 * (a resubmission of a known task costs no extra round trip). The stored
 * document is about the request's size; exact bytes are counted once stored. */
struct quota_admit_ctx {
    struct api_ctx *ctx;
    struct api_req *req;
    struct api_resp *resp;
};

static int quota_admit(void *p)
{
    struct quota_admit_ctx *q = p;
    return api_quota_check(q->ctx, q->req->who.team, (int64_t)q->req->body_len, q->resp)
               ? KF_ELIMIT : 0;
}

/* Validate and queue. Returns 0 with task_id filled, or nonzero with resp set.
 * The caller has counted the request against the rate limit. */
static int submit(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp,
                  const json_t *doc, const json_t *wsel, const char *prefix, const char *wpath,
                  const char *client_task_id, bool rerun, char task_id[65], char *name,
                  size_t name_len, bool *existing)
{
    struct prepared p;
    struct kf_err err;
    char internal_id[65];
    int64_t stored = 0;
    struct quota_admit_ctx qa = {ctx, req, resp};
    kf_err_clear(&err);
    if (client_task_id && !kfq_valid_task_id(client_task_id)) {
        api_error(resp, 400, "invalid", "task_id", "task_id must be 1..64 of [A-Za-z0-9_.-]");
        return 1;
    }
    int rc = prepare(ctx, req, doc, wsel, prefix, wpath, &p, &err);
    if (rc) {
        api_error_from(resp, &err);
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
    if (client_task_id)
        team_task_id(req, client_task_id, internal_id);
    struct kfq_submit s = {
        .task_id = client_task_id ? internal_id : NULL,
        .client_task_id = client_task_id && strcmp(internal_id, client_task_id) ? client_task_id
                                                                                : NULL,
        .definition = p.def->def->name, .solution_name = p.name, .solution_key = p.key,
        .solution_full = p.full, .solution = p.doc, .workloads = p.workloads,
        .team = req->who.team, .content_hash = p.content_hash, .rerun = rerun,
        .priority = priority, .fail_reason = json_array_size(p.workloads) == 0
                           ? "no workloads to evaluate: the definition has none"
                           : NULL,
        .stored_bytes = &stored, .admit = quota_admit, .admit_ctx = &qa};
    rc = kfq_submit(api_redis(ctx), &s, task_id, existing, &err);
    if (rc && resp->status) {   /* refused by the quota check */
        prepared_free(&p);
        return 1;
    }
    if (rc) {
        if (rc == KF_ECONFLICT)
            snprintf(err.msg, sizeof err.msg,
                     "task_id '%s' was already used with a different request", client_task_id);
        api_error_from(resp, &err);
        prepared_free(&p);
        return 1;
    }
    if (client_task_id)
        snprintf(task_id, 65, "%s", client_task_id);
    if (!*existing)
        api_quota_account(ctx, req->who.team, stored);
    snprintf(name, name_len, "%s", p.name);
    prepared_free(&p);
    return 0;
}

/* Refusals that come before the body is parsed: draining, then the rate
 * limit (every submission counts, valid or not). 0 to go on. */
static int admit(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    if (atomic_load(&ctx->draining)) {
        api_error(resp, 503, "draining", "", "the server is draining and accepts no new tasks");
        resp->retry_after = 30;
        return 1;
    }
    return api_rate_check(ctx, req, resp);
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
    char task_id[65], name[MAX_NAME + 16];
    bool existing;
    if (admit(ctx, req, resp))
        return;
    json_t *body = parse_body(req, resp);
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
    json_t *body = NULL, *wsel = NULL;
    char task_id[65], name[MAX_NAME + 16];
    bool existing, rerun = false;
    if (admit(ctx, req, resp))
        return;
    const char *q = api_query(req, "workloads");
    if (q) {
        /* a,b,c: every item a uuid; an empty one is a mistake, not "all" */
        wsel = json_array();
        const char *p = q;
        for (size_t i = 0;; i++) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == 0) {
                api_error(resp, 400, "invalid", "workloads",
                          "workloads must be a comma-separated list of uuids; item %zu is empty", i);
                goto out;
            }
            json_array_append_new(wsel, json_stringn(p, n));
            if (!e)
                break;
            p = e + 1;
        }
    }
    const char *rr = api_query(req, "rerun");
    if (rr) {
        if (strcmp(rr, "1") == 0 || strcmp(rr, "true") == 0)
            rerun = true;
        else if (strcmp(rr, "0") != 0 && strcmp(rr, "false") != 0) {
            api_error(resp, 400, "invalid", "rerun", "rerun must be 1, true, 0 or false (got '%.40s')",
                      rr);
            goto out;
        }
    }
    if (!(body = parse_body(req, resp)))
        goto out;
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

int api_solution_key_any(struct api_ctx *ctx, const char *name, char **key, struct kf_err *err)
{
    struct kfq_conn *c = api_redis(ctx);
    redisReply *r = kfq_command(c, err, "SRANDMEMBER " KFK_SOLTEAMS, name);
    *key = NULL;
    if (!r)
        return KF_EREDIS;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return kf_err_set(err, KF_ENOENT, "name", "unknown solution '%s'", name);
    }
    char *team = xstrdup(r->str);
    freeReplyObject(r);
    r = kfq_command(c, err, "HGET " KFK_SOLKEYS " %s", team, name);
    free(team);
    if (!r)
        return KF_EREDIS;
    /* written before per-team keys: the document is under the name itself */
    *key = xstrdup(r->type == REDIS_REPLY_STRING ? r->str : name);
    freeReplyObject(r);
    return 0;
}

/* The kf:solution key of a name this caller may read, or NULL with resp set. */
static char *solution_key_for(struct api_ctx *ctx, struct api_req *req, const char *name,
                              struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_conn *c = api_redis(ctx);
    const char *team = req->who.team;
    char *key = NULL, *owner = NULL;
    redisReply *r = NULL;
    if (req->who.roles & API_ROLE_ADMIN) {
        /* admin: any team that has it (auth off: the one team "") */
        r = kfq_command(c, &err, "SRANDMEMBER " KFK_SOLTEAMS, name);
        if (!r)
            goto redis_err;
        if (r->type != REDIS_REPLY_STRING)
            goto not_found;
        owner = xstrdup(r->str);
        team = owner;
        freeReplyObject(r);
    }
    r = kfq_command(c, &err, "HGET " KFK_SOLKEYS " %s", team, name);
    if (!r)
        goto redis_err;
    if (r->type == REDIS_REPLY_STRING) {
        key = xstrdup(r->str);
    } else {
        /* written before per-team keys: kf:solution:<name>, kf:solteams */
        freeReplyObject(r);
        r = kfq_command(c, &err, "SISMEMBER " KFK_SOLTEAMS " %s", name, team);
        if (!r)
            goto redis_err;
        if (r->integer != 1)
            goto not_found;
        key = xstrdup(name);
    }
    freeReplyObject(r);
    free(owner);
    return key;
redis_err:
    free(owner);
    api_error_from(resp, &err);
    return NULL;
not_found:
    freeReplyObject(r);
    free(owner);
    api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
    return NULL;
}

void api_solution_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    json_t *doc = NULL;
    const char *name = req->params[0];
    /* <name>_<8 or 40 hex digits> */
    if (!api_valid_name(name, API_MAX_SOLUTION_NAME + 41)) {
        api_error(resp, 404, "not_found", "name", "unknown solution '%.80s'", name);
        return;
    }
    char *key = solution_key_for(ctx, req, name, resp);
    if (!key)
        return;
    int rc = kfq_solution_get(api_redis(ctx), key, &doc, &err);
    free(key);
    if (rc) {
        if (rc == KF_ENOENT)
            api_error(resp, 404, "not_found", "name", "unknown solution '%s'", name);
        else
            api_error_from(resp, &err);
        return;
    }
    api_json(resp, 200, doc);
}
