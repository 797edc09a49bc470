/* quota.c: per-team quotas and task retention (see quota.h). */
#include "quota.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonio.h"
#include "log.h"
#include "xalloc.h"

static pthread_mutex_t archive_mu = PTHREAD_MUTEX_INITIALIZER;

/* Delete a solution document no kept task uses any more, atomically with
 * the reference count (a concurrent submit of the same content either
 * comes before, and keeps it, or after, and stores it anew). Returns the
 * freed bytes or -1 when still referenced. */
static const char *const drop_solution_lua =
    "local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')\n"
    "if n > 0 then return -1 end\n"
    "local len = redis.call('STRLEN', KEYS[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('HDEL', KEYS[3], ARGV[2], ARGV[3])\n"
    "redis.call('SREM', KEYS[4], ARGV[4])\n"
    "redis.call('SREM', KEYS[5], ARGV[4])\n"
    "redis.call('HINCRBY', KEYS[6], 'bytes', -len)\n"
    "return len\n";

static char *archive_path(struct api_ctx *ctx, const char *team)
{
    char safe[80];
    size_t n = 0;
    for (const char *p = team; *p && n + 1 < sizeof safe; p++)
        safe[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                               ? *p : '_');
    safe[n] = '\0';
    return xasprintf("%s/%s.jsonl", ctx->archive_dir && *ctx->archive_dir ? ctx->archive_dir
                                                                          : "var/archive",
                     n ? safe : "_default");
}

static int append_line(struct api_ctx *ctx, const char *team, const char *line,
                       struct kf_err *err)
{
    char *path = archive_path(ctx, team);
    int rc = 0;
    const char *dir = ctx->archive_dir && *ctx->archive_dir ? ctx->archive_dir : "var/archive";
    pthread_mutex_lock(&archive_mu);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        rc = kf_err_set(err, KF_EIO, "archive-dir", "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kf_err_set(err, KF_EIO, "archive-dir", "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t w = write(fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = kf_err_set(err, KF_EIO, "archive-dir", "cannot write %s: %s", path,
                            strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!rc && fdatasync(fd))
        rc = kf_err_set(err, KF_EIO, "archive-dir", "cannot sync %s: %s", path, strerror(errno));
    close(fd);
out:
    pthread_mutex_unlock(&archive_mu);
    free(path);
    return rc;
}

/* Archive one task if finished: 1 archived, 0 skipped (unfinished or gone), <0 error. */
static int archive_one(struct api_ctx *ctx, struct kfq_conn *c, const char *team, const char *id,
                       struct kf_err *err)
{
    json_t *task = NULL, *traces = NULL, *line = NULL;
    char *text = NULL;
    redisReply *r = NULL;
    int rc = kfq_task_get_full(c, id, &task, &traces, err);
    if (rc == KF_ENOENT) {
        r = kfq_command(c, err, "ZREM " KFK_TEAM_TASKS " %s", team, id);
        if (r)
            freeReplyObject(r);
        return 0;
    }
    if (rc)
        return rc;
    const char *st = json_string_value(json_object_get(task, "status"));
    if (!st || (strcmp(st, "completed") != 0 && strcmp(st, "failed") != 0)) {
        rc = 0;
        goto out;
    }
    /* claim it: of two servers archiving at once, one wins */
    r = kfq_command(c, err, "ZREM " KFK_TEAM_TASKS " %s", team, id);
    if (!r) {
        rc = KF_EREDIS;
        goto out;
    }
    bool claimed = r->integer == 1;
    freeReplyObject(r);
    r = NULL;
    if (!claimed) {
        rc = 0;
        goto out;
    }
    const char *key = json_string_value(json_object_get(task, "solution_key"));
    const char *sname = json_string_value(json_object_get(task, "solution"));
    json_t *doc = NULL;
    if (key) {
        r = kfq_command(c, err, "HINCRBY " KFK_TEAM_SOLREFS " %s -1", team, key);
        if (!r) {
            rc = KF_EREDIS;
            goto out;
        }
        long long refs = r->integer;
        freeReplyObject(r);
        r = NULL;
        if (refs <= 0)
            kfq_solution_get(c, key, &doc, err);   /* kept with its last task */
    }
    line = json_pack("{s:f, s:O, s:O, s:o}", "archived_at", kfq_now(), "task", task, "traces",
                     traces, "solution", doc ? doc : json_null());
    char *t = kf_json_dumps(line);
    text = xasprintf("%s\n", t);
    free(t);
    if ((rc = append_line(ctx, team, text, err))) {
        /* not archived: give the claim and the reference back */
        struct kf_err e2;
        double created = json_number_value(json_object_get(task, "created_at"));
        r = kfq_command(c, &e2, "ZADD " KFK_TEAM_TASKS " %.3f %s", team, created, id);
        if (r)
            freeReplyObject(r);
        r = NULL;
        if (key) {
            r = kfq_command(c, &e2, "HINCRBY " KFK_TEAM_SOLREFS " %s 1", team, key);
            if (r)
                freeReplyObject(r);
            r = NULL;
        }
        goto out;
    }
    r = kfq_command(c, err, "DEL " KFK_TASK " " KFK_TRACES, id, id);
    if (r)
        freeReplyObject(r);
    r = kfq_command(c, err, "SREM " KFK_STATE " %s", st, id);
    if (r)
        freeReplyObject(r);
    r = NULL;
    if (key && doc) {
        /* the full name is the key after "<team>/" */
        const char *full = strchr(key, '/') ? strchr(key, '/') + 1 : key;
        char *k1 = xasprintf(KFK_TEAM_SOLREFS, team), *k2 = xasprintf(KFK_SOLUTION, key),
             *k3 = xasprintf(KFK_SOLKEYS, team),
             *k4 = xasprintf(KFK_SOLTEAMS, sname ? sname : ""),
             *k5 = xasprintf(KFK_SOLTEAMS, full), *k6 = xasprintf(KFK_TEAM, team);
        const char *argv[] = {"EVAL", drop_solution_lua, "6", k1, k2, k3, k4, k5, k6, key,
                              sname ? sname : "", full, team};
        r = kfq_commandargv(c, err, 14, argv, NULL);
        if (r)
            freeReplyObject(r);
        r = NULL;
        free(k1), free(k2), free(k3), free(k4), free(k5), free(k6);
    }
    log_info("quota", "archived task=%s team=%s", id, team);
    rc = 1;
out:
    json_decref(line);
    json_decref(task);
    json_decref(traces);
    free(text);
    return rc;
}

int api_archive_oldest(struct api_ctx *ctx, const char *team, int n, struct kf_err *err)
{
    struct kfq_conn *c = api_redis(ctx);
    int done = 0;
    /* scan the oldest tasks in pages; unfinished ones are skipped */
    for (long long start = 0; done < n;) {
        redisReply *r = kfq_command(c, err, "ZRANGE " KFK_TEAM_TASKS " %lld %lld", team, start,
                                    start + 63);
        if (!r)
            return KF_EREDIS;
        if (r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        int skipped = 0;
        for (size_t i = 0; i < r->elements && done < n; i++) {
            int rc = archive_one(ctx, c, team, r->element[i]->str, err);
            if (rc < 0) {
                freeReplyObject(r);
                return rc;
            }
            if (rc == 1)
                done++;
            else
                skipped++;
        }
        size_t got = r->elements;
        freeReplyObject(r);
        if (got < 64)
            break;
        start += skipped;   /* archived ones left the set */
    }
    return done;
}

/* Tasks kept and bytes stored, in one round trip. */
static const char *const usage_lua =
    "return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')}";

static int usage(struct kfq_conn *c, const char *team, long long *kept, long long *bytes,
                 struct kf_err *err)
{
    char *k1 = xasprintf(KFK_TEAM_TASKS, team), *k2 = xasprintf(KFK_TEAM, team);
    const char *argv[] = {"EVAL", usage_lua, "2", k1, k2};
    redisReply *r = kfq_commandargv(c, err, 5, argv, NULL);
    free(k1);
    free(k2);
    if (!r)
        return KF_EREDIS;
    *kept = r->elements > 0 ? r->element[0]->integer : 0;
    *bytes = r->elements > 1 ? r->element[1]->integer : 0;
    freeReplyObject(r);
    return 0;
}

int api_quota_check(struct api_ctx *ctx, const char *team, int64_t doc_bytes,
                    struct api_resp *resp)
{
    struct kf_err err;
    struct kfq_conn *c = api_redis(ctx);
    long long kept = 0, used = 0;
    if (ctx->quota_tasks <= 0 && ctx->quota_bytes <= 0)
        return 0;
    if (usage(c, team, &kept, &used, &err))
        goto redis_err;
    if (ctx->quota_tasks > 0 && kept >= ctx->quota_tasks) {
        int rc = api_archive_oldest(ctx, team, (int)(kept - ctx->quota_tasks + 1), &err);
        if (rc < 0) {
            if (rc == KF_EREDIS)
                goto redis_err;
            log_error("quota", "archive failed team=%s: %s", team, err.msg);
            api_error(resp, 503, "unavailable", "", "cannot archive old tasks; retry later");
            resp->retry_after = 5;
            return 1;
        }
        if (kept - rc >= ctx->quota_tasks) {
            api_error(resp, 429, "quota_exceeded", "",
                      "the team keeps %lld unfinished tasks (quota %lld); wait for some to "
                      "finish", kept - rc, (long long)ctx->quota_tasks);
            resp->retry_after = 30;
            return 1;
        }
        if (usage(c, team, &kept, &used, &err))   /* archiving may have freed bytes */
            goto redis_err;
    }
    if (ctx->quota_bytes > 0 && used + doc_bytes > ctx->quota_bytes) {
        api_error(resp, 413, "quota_exceeded", "",
                  "the team stores %lld bytes of solutions; this one (%lld bytes) would pass "
                  "the quota of %lld bytes", used, (long long)doc_bytes,
                  (long long)ctx->quota_bytes);
        return 1;
    }
    return 0;
redis_err:
    api_error_from(resp, &err);
    return 1;
}

void api_quota_account(struct api_ctx *ctx, const char *team, int64_t stored_bytes)
{
    struct kf_err err;
    if (stored_bytes <= 0)
        return;
    redisReply *r = kfq_command(api_redis(ctx), &err, "HINCRBY " KFK_TEAM " bytes %lld", team,
                                (long long)stored_bytes);
    if (r)
        freeReplyObject(r);
}
