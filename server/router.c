/* router.c: route table and dispatch (see router.h). Thread-safe. */
#include "router.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

const struct api_route api_routes[] = {
    {"GET", "/", api_index, "index", 0},
    {"GET", "/health", api_health, "health", 0},
    {"GET", "/metrics", api_metrics_get, "metrics", 0},
    {"GET", "/definitions", api_definitions_list, "definitions", 0},
    {"GET", "/definitions/{name}", api_definition_get, "definition", 0},
    {"GET", "/definitions/{name}/workloads", api_definition_workloads, "definition_workloads", 0},
    {"GET", "/workloads/{uuid}", api_workload_get, "workload", 0},
    {"POST", "/evaluate", api_evaluate, "evaluate", API_ROLE_SUBMIT},
    {"POST", "/solutions", api_solutions_post, "solutions_post", API_ROLE_SUBMIT},
    {"GET", "/solutions/{name}", api_solution_get, "solution", API_ROLE_READ},
    {"POST", "/tasks/batch", api_tasks_batch, "tasks_batch", API_ROLE_READ},
    {"GET", "/tasks/{id}", api_task_get, "task", API_ROLE_READ},
    {"GET", "/tasks/{id}/traces", api_task_traces, "task_traces", API_ROLE_READ},
    {"GET", "/results", api_results, "results", 0},
    {"POST", "/drain", api_drain, "drain", API_ROLE_ADMIN},
    {"POST", "/resume", api_resume, "resume", API_ROLE_ADMIN},
    {"POST", "/shutdown", api_shutdown, "shutdown", API_ROLE_ADMIN},
    {"GET", "/openapi.json", api_openapi, "openapi", 0},
    {"GET", "/board/solutions/{name}", api_board_solution, "board_solution", 0},
    {"GET", "/board/traces/{task}/{n}", api_board_trace, "board_trace", 0},
    {"GET", "/board/submissions", api_board_submissions, "board_submissions", API_ROLE_READ},
    {"GET", "/board/history", api_board_history, "board_history", 0},
};
const int api_nroutes = (int)(sizeof api_routes / sizeof api_routes[0]);

/* Match one pattern; captures go to params. */
static bool match(const char *pat, const char *path, struct api_req *req)
{
    int np = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            const char *pe = strchr(pat, '}');
            const char *se = strchr(path, '/');
            size_t len = se ? (size_t)(se - path) : strlen(path);
            if (!pe || len == 0 || len >= sizeof req->params[0] || np >= API_MAX_PARAMS)
                return false;
            memcpy(req->params[np], path, len);
            req->params[np][len] = '\0';
            np++;
            pat = pe + 1;
            path += len;
            continue;
        }
        if (*pat != *path)
            return false;
        pat++;
        path++;
    }
    /* a trailing slash is tolerated ("/definitions/") */
    if (!*pat && (*path == '\0' || (path[0] == '/' && path[1] == '\0' && pat[-1] != '/'))) {
        req->nparams = np;
        return true;
    }
    return false;
}

const struct api_route *api_route_find(struct api_req *req, bool *wrong_method, char *allow,
                                       size_t allow_len)
{
    const char *m = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    *wrong_method = false;
    if (allow_len)
        allow[0] = '\0';
    for (int i = 0; i < api_nroutes; i++) {
        if (!match(api_routes[i].pattern, req->path, req))
            continue;
        if (strcmp(api_routes[i].method, m) == 0)
            return &api_routes[i];
        *wrong_method = true;
        if (allow_len) {
            size_t n = strlen(allow);
            if (!strstr(allow, api_routes[i].method))
                snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "", api_routes[i].method);
        }
    }
    return NULL;
}

/* A request that may have come from a web page of another origin: the
 * browser sends Origin (or Sec-Fetch-Site) with it; only a simple content
 * type (text/plain, form data) or none can be sent cross-origin without a
 * preflight. 0 if the request is same-origin with a JSON body type. */
static int admin_origin_check(const struct api_req *req, struct api_resp *resp)
{
    const char *ct = req->content_type;
    if (req->sec_fetch_site && strcmp(req->sec_fetch_site, "same-origin") != 0 &&
        strcmp(req->sec_fetch_site, "none") != 0) {
        api_error(resp, 403, "forbidden", "Sec-Fetch-Site",
                  "admin routes refuse cross-site requests (Sec-Fetch-Site: %.40s)",
                  req->sec_fetch_site);
        return 1;
    }
    if (req->origin) {
        const char *o = req->origin, *rest = NULL;
        if (strncmp(o, "http://", 7) == 0)
            rest = o + 7;
        else if (strncmp(o, "https://", 8) == 0)
            rest = o + 8;
        if (!rest || !req->host || strcmp(rest, req->host) != 0) {
            api_error(resp, 403, "forbidden", "Origin",
                      "admin routes refuse requests from another origin (Origin: %.80s)", o);
            return 1;
        }
    }
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        api_error(resp, 415, "unsupported_media_type", "Content-Type",
                  "admin routes need 'Content-Type: application/json' (without a token, "
                  "so that no web page can call them)");
        return 1;
    }
    return 0;
}

const struct api_route *api_dispatch_begin(struct api_ctx *ctx, struct api_req *req,
                                           struct api_resp *resp)
{
    bool wrong;
    char allow[64];
    const struct api_route *r = api_route_find(req, &wrong, allow, sizeof allow);
    if (!r) {
        if (wrong) {
            api_error(resp, 405, "method_not_allowed", "", "%s is not allowed on %s (allowed: %s)",
                      req->method, req->path, allow);
            snprintf(resp->allow, sizeof resp->allow, "%s", allow);
        }
        else
            api_error(resp, 404, "not_found", "", "no route for %.16s %.200s", req->method,
                      req->path);
        return NULL;
    }
    if (api_auth_check(ctx, req, r->role, resp))
        return NULL;
    if ((r->role & API_ROLE_ADMIN) && !req->who.authenticated && admin_origin_check(req, resp))
        return NULL;
    return r;
}

const char *api_dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const struct api_route *r = api_dispatch_begin(ctx, req, resp);
    if (!r) {
        bool wrong;
        const struct api_route *m = api_route_find(req, &wrong, NULL, 0);
        return m ? m->name : "unmatched";
    }
    r->fn(ctx, req, resp);
    return r->name;
}
