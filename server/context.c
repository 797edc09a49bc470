/* context.c: server-wide context setup: prebuilt JSON text for the
 * immutable dataset routes and the dataset id. Called once at start. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonio.h"
#include "sha1.h"
#include "xalloc.h"

void api_ctx_init(struct api_ctx *ctx, const struct kf_dataset *ds)
{
    struct api_sha1 h;
    char hex[41];
    json_t *list = json_array();
    int n = ds ? ds->ndefs : 0;

    ctx->ds = ds;
    kfq_new_id(ctx->instance_id);
    ctx->started_at = kfq_now();
    ctx->def_json = xcalloc((size_t)n + 1, sizeof(char *));
    ctx->def_workloads_json = xcalloc((size_t)n + 1, sizeof(char *));
    api_sha1_init(&h);
    for (int i = 0; i < n; i++) {
        const struct kf_dataset_def *dd = &ds->defs[i];
        json_t *d = kf_definition_to_json(dd->def);
        ctx->def_json[i] = kf_json_dumps(d);
        json_decref(d);
        json_t *wl = json_array();
        for (int k = 0; k < dd->nworkloads; k++)
            json_array_append_new(wl, kf_workload_to_json(dd->workloads[k]));
        ctx->def_workloads_json[i] = kf_json_dumps(wl);
        json_decref(wl);
        api_sha1_update(&h, ctx->def_json[i], strlen(ctx->def_json[i]));
        api_sha1_update(&h, ctx->def_workloads_json[i], strlen(ctx->def_workloads_json[i]));
        json_t *sum = json_pack("{s:s, s:o, s:s, s:i}", "name", dd->def->name, "description",
                                dd->def->description ? json_string(dd->def->description)
                                                     : json_null(),
                                "op_type", dd->def->op_type ? dd->def->op_type : "",
                                "num_workloads", dd->nworkloads);
        json_array_append_new(list, sum);
    }
    ctx->defs_list_json = kf_json_dumps(list);
    json_decref(list);
    api_sha1_hex(&h, hex);
    ctx->dataset_id = xstrdup(hex);
}

void api_ctx_cleanup(struct api_ctx *ctx)
{
    int n = ctx->ds ? ctx->ds->ndefs : 0;
    for (int i = 0; i < n; i++) {
        free(ctx->def_json[i]);
        free(ctx->def_workloads_json[i]);
    }
    free(ctx->def_json);
    free(ctx->def_workloads_json);
    free(ctx->defs_list_json);
    free(ctx->dataset_id);
    ctx->def_json = ctx->def_workloads_json = NULL;
    ctx->defs_list_json = ctx->dataset_id = NULL;
}
