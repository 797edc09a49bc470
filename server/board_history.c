/* board_history.c: the best score per (definition, GPU model) over time
 * (see board.h). Redis keys, written only here:
 *   kf:board:history:<def>        set of GPU models with a history
 *   kf:board:history:<def>:<hw>   list of point JSON {t, score, solution},
 *                                 oldest first, capped at HISTORY_MAX
 * Points are derived from the ranked entries whenever a board is built:
 * the running best over the entries in order of evaluation time, then the
 * current best. A Lua script appends only points newer than the last one
 * that change the score or the solution, so several servers building the
 * same board record each change once. Thread-safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "jsonio.h"
#include "xalloc.h"

#define HISTORY_MAX 1000
#define KF_STR2(x) #x
#define KF_STR(x) KF_STR2(x)

static const char append_lua[] =
    "local last = redis.call('LINDEX', KEYS[1], -1)\n"
    "if last then last = cjson.decode(last) end\n"
    "local added = 0\n"
    "for i = 2, #ARGV do\n"
    "  local p = cjson.decode(ARGV[i])\n"
    "  if not last or (p.t > last.t and (p.score ~= last.score or p.solution ~= last.solution))"
    " then\n"
    "    redis.call('RPUSH', KEYS[1], ARGV[i])\n"
    "    last = p\n"
    "    added = added + 1\n"
    "  end\n"
    "end\n"
    "if added > 0 then\n"
    "  redis.call('SADD', KEYS[2], ARGV[1])\n"
    "  redis.call('LTRIM', KEYS[1], -" KF_STR(HISTORY_MAX) ", -1)\n"
    "end\n"
    "return added\n";

static double num(const json_t *e, const char *k)
{
    const json_t *v = json_object_get(e, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static int cmp_time(const void *a, const void *b)
{
    double x = num(*(json_t *const *)a, "last_evaluated");
    double y = num(*(json_t *const *)b, "last_evaluated");
    return x < y ? -1 : x > y;
}

static json_t *point(const json_t *e, const char *score_key)
{
    /* rounded so that a float round trip through Lua compares equal */
    double s = (double)(long long)(num(e, score_key) * 1e6 + 0.5) / 1e6;
    return json_pack("{s:f, s:f, s:s}", "t", num(e, "last_evaluated"), "score", s, "solution",
                     json_string_value(json_object_get(e, "solution")));
}

int api_board_history_note(struct api_ctx *ctx, const char *def, const char *hw,
                           const json_t *ranking, const char *score_key, struct kf_err *err)
{
    size_t n = json_array_size(ranking);
    if (n == 0)
        return 0;
    json_t **v = xmalloc(sizeof *v * n);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(ranking, i);
    qsort(v, n, sizeof *v, cmp_time);
    json_t *pts = json_array();
    double best = -1;
    for (size_t i = 0; i < n; i++) {
        if (num(v[i], score_key) > best) {
            best = num(v[i], score_key);
            json_array_append_new(pts, point(v[i], score_key));
        }
    }
    /* the current best (a rerun may have lowered the old best) */
    json_t *top = point(json_array_get(ranking, 0), score_key);
    json_object_set_new(top, "t", json_real(num(v[n - 1], "last_evaluated")));
    json_array_append_new(pts, top);
    free(v);

    size_t np = json_array_size(pts);
    int argc = 6 + (int)np;
    const char **argv = xcalloc((size_t)argc, sizeof *argv);
    size_t *lens = xcalloc((size_t)argc, sizeof *lens);
    char *key = xasprintf("kf:board:history:%s:%s", def, hw);
    char *set = xasprintf("kf:board:history:%s", def);
    argv[0] = "EVAL";
    argv[1] = append_lua;
    argv[2] = "2";
    argv[3] = key;
    argv[4] = set;
    argv[5] = hw;
    for (size_t i = 0; i < np; i++)
        argv[6 + i] = kf_json_dumps(json_array_get(pts, i));
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = kfq_commandargv(api_redis(ctx), err, argc, argv, lens);
    int rc = r ? 0 : KF_EREDIS;
    if (r)
        freeReplyObject(r);
    for (size_t i = 0; i < np; i++)
        free((char *)argv[6 + i]);
    free(argv);
    free(lens);
    free(key);
    free(set);
    json_decref(pts);
    return rc;
}

int api_board_history_get(struct api_ctx *ctx, const char *def, json_t **out, struct kf_err *err)
{
    struct kfq_conn *c = api_redis(ctx);
    *out = NULL;
    redisReply *hws = kfq_command(c, err, "SMEMBERS kf:board:history:%s", def);
    if (!hws)
        return KF_EREDIS;
    json_t *boards = json_array();
    for (size_t i = 0; hws->type == REDIS_REPLY_ARRAY && i < hws->elements; i++) {
        const char *hw = hws->element[i]->str;
        redisReply *r = kfq_command(c, err, "LRANGE kf:board:history:%s:%s 0 -1", def, hw);
        if (!r) {
            freeReplyObject(hws);
            json_decref(boards);
            return KF_EREDIS;
        }
        json_t *pts = json_array();
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            json_t *p = r->element[k]->str ? json_loads(r->element[k]->str, 0, NULL) : NULL;
            if (p)
                json_array_append_new(pts, p);
        }
        freeReplyObject(r);
        json_array_append_new(boards, json_pack("{s:s, s:o}", "hardware", hw, "points", pts));
    }
    freeReplyObject(hws);
    *out = boards;
    return 0;
}
