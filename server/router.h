/* router.h: the route table (method + path pattern -> handler, route name
 * for metrics, role required) and the dispatcher used by the HTTP layer and
 * by tests: auth, route lookup (404 / 405 with Allow), handler.
 * Thread-safe: the table is constant.
 */
#ifndef KF_SERVER_ROUTER_H
#define KF_SERVER_ROUTER_H

#include "api.h"

struct api_route {
    const char *method;     /* "GET" (also answers HEAD), "POST" */
    const char *pattern;    /* "/tasks/{id}/traces": {x} captures one segment */
    api_handler_fn fn;
    const char *name;       /* metrics label */
    unsigned role;          /* API_ROLE_* needed when auth is on; 0 = public */
};

extern const struct api_route api_routes[];
extern const int api_nroutes;

/* Match req->method/path; fills req->params. NULL if none: *wrong_method
 * tells 405 from 404 and allow receives the allowed methods. */
const struct api_route *api_route_find(struct api_req *req, bool *wrong_method, char *allow,
                                       size_t allow_len);
/* Route and authenticate without running the handler: the route, or NULL
 * with resp set (404, 405, 401, 403). The HTTP layer calls this on the
 * headers, before any body byte is buffered. Admin routes called without a
 * token (auth off) must also come from the same origin with a non-simple
 * content type (a web page cannot send that cross-origin without a CORS
 * preflight, which kf-server never grants). */
const struct api_route *api_dispatch_begin(struct api_ctx *ctx, struct api_req *req,
                                           struct api_resp *resp);
/* Authenticate, route and run. Returns the route name ("unmatched" for
 * 404/405) for metrics; resp is filled. */
const char *api_dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

#endif
