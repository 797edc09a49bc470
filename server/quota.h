/* quota.h: per-team storage quotas and task retention. Each team (one
 * shared team "" when auth is off) may keep ctx->quota_bytes bytes of
 * stored solution documents and ctx->quota_tasks tasks in Redis. A new
 * submission past the task count first archives the team's oldest finished
 * tasks to <archive_dir>/<team>.jsonl (one JSON line per task: the record,
 * its traces and, when no kept task uses it any more, its solution
 * document) and deletes them from Redis; past the bytes quota, or with
 * quota_tasks unfinished tasks, it is refused (413 quota_exceeded /
 * 429 quota_exceeded). Redis keys: kf:team:<team> (hash: bytes),
 * kf:team:<team>:tasks (zset by creation time), kf:team:<team>:solrefs
 * (hash: solution key -> tasks using it). Thread-safe (archive writes are
 * serialized by a mutex).
 */
#ifndef KF_SERVER_QUOTA_H
#define KF_SERVER_QUOTA_H

#include <stdint.h>

#include "api.h"

/* Before queuing a task whose solution document is doc_bytes long: archive
 * old tasks if the team is at quota_tasks, then check both quotas. 0, or
 * nonzero with resp set (413 / 429 quota_exceeded, 503). */
int api_quota_check(struct api_ctx *ctx, const char *team, int64_t doc_bytes,
                    struct api_resp *resp);
/* After a task was queued: stored_bytes of a newly stored document. */
void api_quota_account(struct api_ctx *ctx, const char *team, int64_t stored_bytes);
/* Archive up to n of the team's oldest finished tasks; returns how many
 * were archived, or a negative KF_E* code. */
int api_archive_oldest(struct api_ctx *ctx, const char *team, int n, struct kf_err *err);

#endif
