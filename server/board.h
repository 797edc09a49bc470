/* board.h: the leaderboard cache behind GET /results. Entries come from
 * Redis (kf:board:*, written by kfq_task_complete); the ranked JSON text
 * per (definition, hardware) query is cached for a TTL and dropped when a
 * task completes (api_board_invalidate from the event thread), so polling
 * costs a lock and a copy. Thread-safe (one mutex).
 */
#ifndef KF_SERVER_BOARD_H
#define KF_SERVER_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct api_board *api_board_new(int64_t ttl_ms);
void api_board_free(struct api_board *b);
void api_board_invalidate(struct api_board *b);
/* Ranked leaderboard JSON for def/hw (NULL = all). *text: new (free()).
 * KF_ENOENT for an unknown definition, KF_EREDIS when Redis is down. */
int api_board_get(struct api_ctx *ctx, const char *def, const char *hw, char **text, size_t *len,
                  struct kf_err *err);
/* Build without the cache (new reference). */
int api_board_build(struct api_ctx *ctx, const char *def, const char *hw, json_t **out,
                    struct kf_err *err);

/* Record the best score of (def, hw) from its ranking (sorted, best first;
 * entries with last_evaluated and score_key) in kf:board:history:*
 * (server/board_history.c). KF_EREDIS on failure. */
int api_board_history_note(struct api_ctx *ctx, const char *def, const char *hw,
                           const json_t *ranking, const char *score_key, struct kf_err *err);
/* [{hardware, points: [{t, score, solution}]}] for def (new reference). */
int api_board_history_get(struct api_ctx *ctx, const char *def, json_t **out, struct kf_err *err);

#endif
