/* h_dataset.c: the read-only dataset routes (flashinfer-bench serve
 * compatible): GET /definitions, /definitions/{name},
 * /definitions/{name}/workloads, /workloads/{uuid}. Bodies are prebuilt at
 * start (context.c). Thread-safe: reads immutable data. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonio.h"
#include "xalloc.h"

static void text_copy(struct api_resp *resp, const char *s)
{
    size_t n = strlen(s);
    api_text(resp, 200, "application/json", xstrndup(s, n), n);
}

static int def_index(struct api_ctx *ctx, const char *name)
{
    const struct kf_dataset_def *d = ctx->ds ? kf_dataset_find(ctx->ds, name) : NULL;
    return d ? (int)(d - ctx->ds->defs) : -1;
}

void api_definitions_list(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void)req;
    text_copy(resp, ctx->defs_list_json);
}

void api_definition_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    int i = def_index(ctx, req->params[0]);
    if (i < 0) {
        api_error(resp, 404, "not_found", "name", "unknown definition '%s'", req->params[0]);
        return;
    }
    text_copy(resp, ctx->def_json[i]);
}

void api_definition_workloads(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    int i = def_index(ctx, req->params[0]);
    if (i < 0) {
        api_error(resp, 404, "not_found", "name", "unknown definition '%s'", req->params[0]);
        return;
    }
    text_copy(resp, ctx->def_workloads_json[i]);
}

void api_workload_get(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    const struct kf_workload *w =
        ctx->ds ? kf_dataset_workload(ctx->ds, req->params[0], NULL) : NULL;
    if (!w) {
        api_error(resp, 404, "not_found", "uuid", "unknown workload '%s'", req->params[0]);
        return;
    }
    api_json(resp, 200, kf_workload_to_json(w));
}
