/* h_results.c: GET /results[?definition=D&hardware=H], the leaderboard
 * (ranked by mean speedup over all workloads, only solutions that passed
 * every workload), served from the board cache. Thread-safe. */
#include "api.h"
#include "board.h"

void api_results(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    struct kf_err err;
    char *text;
    size_t len;
    const char *def = api_query(req, "definition");
    const char *hw = api_query(req, "hardware");
    if (def && !*def)
        def = NULL;
    if (hw && !*hw)
        hw = NULL;
    if (api_board_get(ctx, def, hw, &text, &len, &err)) {
        api_error_from(resp, &err);
        return;
    }
    api_text(resp, 200, "application/json", text, len);
}
