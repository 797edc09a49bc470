/* queue_lua.c: the Lua scripts that make the queue's scheduling and every
 * worker write atomic (queue_int.h, docs/queue.md "Scheduling and fencing"),
 * and kfq__eval, which runs one by EVALSHA (loading it on NOSCRIPT, e.g.
 * after a Redis restart).
 *
 * Every script gets the same KEYS (the fixed key names, from keys.h) and
 * ARGV[1..5] (the key prefixes and the events cap), then its own arguments
 * from ARGV[6]. A worker write (progress, touch, trace, complete, fail,
 * release) first checks that the task is still running under the caller's
 * attempt token; a stale attempt gets 0 and changes nothing.
 * No state but the per-connection SHA cache in struct kfq_conn. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <string.h>

static const char *const fixed_keys[KFQ__NKEYS] = {
    KFK_RUNNING, KFK_QUEUE_PRIO, KFK_QUEUE_FAIR, KFK_QUEUE_SERVED, KFK_QUEUE_TICK,
    KFK_QUEUE_WAKE, KFK_DEAD, KFK_EVENTS, KFK_STATS, KFK_BOARD_DEFS,
    KFK_STATE_PENDING, KFK_STATE_RUNNING, KFK_STATE_COMPLETED, KFK_STATE_FAILED,
};

/* Shared by every script. K: KEYS in the order of fixed_keys. */
#define PRELUDE                                                                            \
    "local K = KEYS\n"                                                                     \
    "local RUNNING, PRIO, FAIR, SERVED, TICK, WAKE, DEAD, EVENTS, STATS, BDEFS ="          \
    " K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8], K[9], K[10]\n"                       \
    "local ST = {pending = K[11], running = K[12], completed = K[13], failed = K[14]}\n"   \
    "local TP, TRP, QP, BP, MAXLEN = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"        \
    "local function now_ms() local t = redis.call('TIME')\n"                               \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end\n"             \
    "local function now_s() local t = redis.call('TIME')\n"                                \
    "  return string.format('%d.%03d', tonumber(t[1]), math.floor(tonumber(t[2]) / 1000)) end\n" \
    "local function event(id, status, done, total)\n"                                      \
    "  if done then redis.call('XADD', EVENTS, 'MAXLEN', '~', MAXLEN, '*', 'task_id', id,\n" \
    "      'status', status, 'done', done, 'total', total)\n"                              \
    "  else redis.call('XADD', EVENTS, 'MAXLEN', '~', MAXLEN, '*', 'task_id', id,\n"       \
    "      'status', status) end end\n"                                                    \
    "local function set_state(id, status)\n"                                               \
    "  for s, k in pairs(ST) do if s == status then redis.call('SADD', k, id)\n"           \
    "    else redis.call('SREM', k, id) end end end\n"                                     \
    /* a task over: no token, no lease, a final state */                                  \
    "local function finish(id, status, reason, done)\n"                                    \
    "  local tk = TP .. id\n"                                                              \
    "  redis.call('HSET', tk, 'status', status, 'finished_at', now_s())\n"                 \
    "  if reason then redis.call('HSET', tk, 'error', reason) end\n"                       \
    "  if done and done ~= '' then redis.call('HSET', tk, 'progress_done', done) end\n"                   \
    "  redis.call('HDEL', tk, 'token')\n"                                                  \
    "  redis.call('ZREM', RUNNING, id)\n"                                                  \
    "  set_state(id, status)\n"                                                            \
    "  event(id, status) end\n"                                                            \
    /* queue a pending task: the priority list, or its team's list */                     \
    "local function enqueue(id, team, prio, front)\n"                                      \
    "  if prio then\n"                                                                     \
    "    if front then redis.call('LPUSH', PRIO, id) else redis.call('RPUSH', PRIO, id) end\n" \
    "  else\n"                                                                             \
    "    local q = QP .. team\n"                                                           \
    "    if front then redis.call('LPUSH', q, id) else redis.call('RPUSH', q, id) end\n"   \
    "    redis.call('ZADD', FAIR, 'NX', redis.call('HGET', SERVED, team) or 0, team)\n"     \
    "  end\n"                                                                              \
    "  redis.call('RPUSH', WAKE, '1')\n"                                                   \
    "  if redis.call('LLEN', WAKE) > 10000 then redis.call('LTRIM', WAKE, -10000, -1) end\n" \
    "end\n"                                                                                \
    /* still this attempt's task? */                                                      \
    "local function fenced(id, token)\n"                                                   \
    "  local v = redis.call('HMGET', TP .. id, 'token', 'status')\n"                       \
    "  return token ~= '' and v[1] == token and v[2] == 'running' end\n"

/* ARGV[6..]: id, team, priority (1/0). Submit (inside MULTI). */
static const char s_enqueue[] = PRELUDE
    "enqueue(ARGV[6], ARGV[7], ARGV[8] == '1', false)\n"
    "return 1\n";

/* ARGV[6..]: consumer, token, lease_ms, max_attempts, mode ("any" | "own"),
 * lanes (the worker's, comma-separated; "*": every lane).
 * Returns {id, attempts, started_at} or nil.
 * The lane filter: a worker takes only a task whose `lane` it serves (a task
 * stored without one goes to any worker). Within a list (the priority list,
 * a team's queue) it takes the first such task, passing over the others,
 * which keep their place; a team is served (its tick moves) only when one of
 * its tasks is taken, so fairness between teams holds among the teams that
 * have a task this worker can run. */
static const char s_claim[] = PRELUDE
    "local consumer, token = ARGV[6], ARGV[7]\n"
    "local lease, maxatt, mode = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]\n"
    "local any_lane, lanes = ARGV[11] == '*', {}\n"
    "for l in string.gmatch(ARGV[11], '[^,]+') do lanes[l] = true end\n"
    "local now = now_ms()\n"
    "local function serves(lane)\n"
    "  return any_lane or not lane or lane == '' or lanes[lane] == true end\n"
    "local function take(id)\n"
    "  local tk = TP .. id\n"
    "  local att = redis.call('HINCRBY', tk, 'attempts', 1)\n"
    "  local started = now_s()\n"
    "  redis.call('HSET', tk, 'status', 'running', 'worker', consumer, 'token', token,\n"
    "    'started_at', started, 'progress_done', 0)\n"
    "  redis.call('DEL', TRP .. id)\n"
    "  redis.call('ZADD', RUNNING, now + lease, id)\n"
    "  set_state(id, 'running')\n"
    "  event(id, 'running', 0, redis.call('HGET', tk, 'progress_total') or '0')\n"
    "  return {id, att, started}\n"
    "end\n"
    /* a lease that ran out: dead-letter the task (whatever its lane), or
     * take it over when this worker serves its lane (else it waits, expired,
     * for a worker that does) */
    "local function expired(id)\n"
    "  local v = redis.call('HMGET', TP .. id, 'status', 'attempts', 'lane')\n"
    "  if v[1] ~= 'running' then redis.call('ZREM', RUNNING, id) return nil end\n"
    "  local att = tonumber(v[2] or '0') or 0\n"
    "  if att < maxatt then\n"
    "    if serves(v[3]) then return take(id) end\n"
    "    return nil\n"
    "  end\n"
    "  local reason = 'dead-lettered after ' .. att .. ' attempts: the workers that took it '\n"
    "    .. 'stopped before finishing (lease ' .. lease .. ' ms expired)'\n"
    "  redis.call('XADD', DEAD, '*', 'task_id', id, 'attempts', att, 'reason', reason)\n"
    "  finish(id, 'failed', reason)\n"
    "  return nil\n"
    "end\n"
    /* the first task of list q this worker may run, removed from q; ids of
     * tasks no longer pending are dropped on the way, others stay in place */
    "local function pick(q)\n"
    "  local start = 0\n"
    "  while true do\n"
    "    local ids = redis.call('LRANGE', q, start, start + 99)\n"
    "    if #ids == 0 then return nil end\n"
    "    local kept = 0\n"
    "    for _, id in ipairs(ids) do\n"
    "      local v = redis.call('HMGET', TP .. id, 'status', 'lane')\n"
    "      if v[1] ~= 'pending' then redis.call('LREM', q, 1, id)\n"
    "      elseif serves(v[2]) then redis.call('LREM', q, 1, id) return id\n"
    "      else kept = kept + 1 end\n"
    "    end\n"
    "    start = start + kept\n"
    "  end\n"
    "end\n"
    "if mode == 'own' then\n"
    "  for _, id in ipairs(redis.call('ZRANGE', RUNNING, 0, -1)) do\n"
    "    local v = redis.call('HMGET', TP .. id, 'worker', 'status', 'attempts', 'lane')\n"
    "    if v[1] == consumer and v[2] == 'running' then\n"
    "      local att = tonumber(v[3] or '0') or 0\n"
    "      if att < maxatt and serves(v[4]) then return take(id) end\n"
    /* expired now: dead-lettered below, or left to a worker of its lane */
    "      redis.call('ZADD', RUNNING, 0, id)\n"
    "      expired(id)\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', RUNNING, '-inf', now)) do\n"
    "  local r = expired(id)\n"
    "  if r then return r end\n"
    "end\n"
    "local id = pick(PRIO)\n"
    "if id then return take(id) end\n"
    /* the team served longest ago (lowest tick) first: round-robin that a team
     * cannot jump by emptying and refilling its queue */
    "for _, team in ipairs(redis.call('ZRANGE', FAIR, 0, -1)) do\n"
    "  local q = QP .. team\n"
    "  id = pick(q)\n"
    "  if id then\n"
    "    local tick = redis.call('INCR', TICK)\n"
    "    redis.call('HSET', SERVED, team, tick)\n"
    "    if redis.call('LLEN', q) == 0 then redis.call('ZREM', FAIR, team)\n"
    "    else redis.call('ZADD', FAIR, tick, team) end\n"
    "    return take(id)\n"
    "  end\n"
    "  if redis.call('LLEN', q) == 0 then redis.call('ZREM', FAIR, team) end\n"
    "end\n"
    "return nil\n";

/* ARGV[6..]: id, token, done, total, lease_ms. */
static const char s_progress[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "redis.call('HSET', TP .. id, 'progress_done', ARGV[8], 'progress_total', ARGV[9])\n"
    "redis.call('ZADD', RUNNING, 'XX', now_ms() + tonumber(ARGV[10]), id)\n"
    "event(id, 'running', ARGV[8], ARGV[9])\n"
    "return 1\n";

/* ARGV[6..]: id, token, lease_ms. */
static const char s_touch[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "redis.call('ZADD', RUNNING, 'XX', now_ms() + tonumber(ARGV[8]), id)\n"
    "return 1\n";

/* ARGV[6..]: id, token, trace JSON. */
static const char s_trace[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "redis.call('RPUSH', TRP .. id, ARGV[8])\n"
    "return 1\n";

/* ARGV[6..]: id, token, traces stored, histogram field, seconds, definition,
 * board field ("" for none), board entry JSON, its workloads_total.
 * The board keeps the entry over more workloads (read and written here, so
 * two finishing workers cannot interleave). */
static const char s_complete[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "finish(id, 'completed', nil, ARGV[8])\n"
    "if ARGV[12] ~= '' then\n"
    "  local bk = BP .. ARGV[11]\n"
    "  local old = redis.call('HGET', bk, ARGV[12])\n"
    "  local keep = false\n"
    "  if old then\n"
    "    local ok, o = pcall(cjson.decode, old)\n"
    "    if ok and type(o) == 'table' and\n"
    "       (tonumber(o.workloads_total) or 0) > (tonumber(ARGV[14]) or 0) then keep = true end\n"
    "  end\n"
    "  if not keep then\n"
    "    redis.call('HSET', bk, ARGV[12], ARGV[13])\n"
    "    redis.call('SADD', BDEFS, ARGV[11])\n"
    "  end\n"
    "end\n"
    "redis.call('HINCRBY', STATS, ARGV[9], 1)\n"
    "redis.call('HINCRBYFLOAT', STATS, 'eval_sum', ARGV[10])\n"
    "return 1\n";

/* ARGV[6..]: id, token, reason. */
static const char s_fail[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "finish(id, 'failed', ARGV[8])\n"
    "return 1\n";

/* ARGV[6..]: id, token. Back to the front of its team's queue. */
static const char s_release[] = PRELUDE
    "local id = ARGV[6]\n"
    "if not fenced(id, ARGV[7]) then return 0 end\n"
    "local tk = TP .. id\n"
    "redis.call('HSET', tk, 'status', 'pending', 'worker', '')\n"
    "redis.call('HDEL', tk, 'token')\n"
    "redis.call('ZREM', RUNNING, id)\n"
    "set_state(id, 'pending')\n"
    "enqueue(id, redis.call('HGET', tk, 'team') or '', redis.call('HGET', tk, 'priority') == '1',\n"
    "  true)\n"
    "event(id, 'pending')\n"
    "return 1\n";

static const char *const scripts[KFQ__NSCRIPTS] = {
    [KFQ__S_ENQUEUE] = s_enqueue, [KFQ__S_CLAIM] = s_claim, [KFQ__S_PROGRESS] = s_progress,
    [KFQ__S_TOUCH] = s_touch, [KFQ__S_TRACE] = s_trace, [KFQ__S_COMPLETE] = s_complete,
    [KFQ__S_FAIL] = s_fail, [KFQ__S_RELEASE] = s_release,
};

const char *kfq__script_text(enum kfq__script s)
{
    return scripts[s];
}

/* argv for EVAL/EVALSHA: cmd, script/sha, numkeys, KEYS, ARGV[1..5], args. */
#define MAX_ARGS 16
static int build_argv(const char *cmd, const char *body, int nargs, const char *const *args,
                      const size_t *lens, const char **argv, size_t *argvlen, char numkeys[8],
                      char maxlen[16])
{
    static const char *const prefixes[4] = {KFK_TASK_PREFIX, KFK_TRACES_PREFIX,
                                            KFK_QUEUE_PREFIX, KFK_BOARD_PREFIX};
    int n = 0;
    snprintf(numkeys, 8, "%d", KFQ__NKEYS);
    snprintf(maxlen, 16, "%d", KFQ_EVENTS_MAXLEN);
    argv[n] = cmd; argvlen[n++] = strlen(cmd);
    argv[n] = body; argvlen[n++] = strlen(body);
    argv[n] = numkeys; argvlen[n++] = strlen(numkeys);
    for (int i = 0; i < KFQ__NKEYS; i++) {
        argv[n] = fixed_keys[i];
        argvlen[n++] = strlen(fixed_keys[i]);
    }
    for (int i = 0; i < 4; i++) {
        argv[n] = prefixes[i];
        argvlen[n++] = strlen(prefixes[i]);
    }
    argv[n] = maxlen; argvlen[n++] = strlen(maxlen);
    for (int i = 0; i < nargs && i < MAX_ARGS; i++) {
        argv[n] = args[i];
        argvlen[n++] = lens ? lens[i] : strlen(args[i]);
    }
    return n;
}

void kfq__tx_eval(struct kfq__tx *tx, enum kfq__script s, int nargs, const char *const *args)
{
    const char *argv[3 + KFQ__NKEYS + 5 + MAX_ARGS];
    size_t argvlen[3 + KFQ__NKEYS + 5 + MAX_ARGS];
    char numkeys[8], maxlen[16];
    if (tx->failed)
        return;
    int n = build_argv("EVAL", scripts[s], nargs, args, NULL, argv, argvlen, numkeys, maxlen);
    if (redisAppendCommandArgv(tx->c->rc, n, argv, argvlen) != REDIS_OK)
        tx->failed = true;
    tx->n++;
}

redisReply *kfq__eval(struct kfq_conn *c, enum kfq__script s, int nargs,
                      const char *const *args, const size_t *lens, struct kf_err *err)
{
    const char *argv[3 + KFQ__NKEYS + 5 + MAX_ARGS];
    size_t argvlen[3 + KFQ__NKEYS + 5 + MAX_ARGS];
    char numkeys[8], maxlen[16];
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!c->sha[s][0]) {
            redisReply *r = kfq_command(c, err, "SCRIPT LOAD %s", scripts[s]);
            if (!r)
                return NULL;
            if (r->type == REDIS_REPLY_STRING)
                snprintf(c->sha[s], sizeof c->sha[s], "%s", r->str);
            freeReplyObject(r);
            if (!c->sha[s][0])
                return kf_err_set(err, KF_EREDIS, "redis", "SCRIPT LOAD gave no SHA"), NULL;
        }
        int n = build_argv("EVALSHA", c->sha[s], nargs, args, lens, argv, argvlen, numkeys,
                           maxlen);
        struct kf_err e2;
        redisReply *r = kfq_commandargv(c, &e2, n, (const char **)argv, argvlen);
        if (r)
            return r;
        if (strstr(e2.msg, "NOSCRIPT")) {   /* Redis restarted or SCRIPT FLUSH */
            c->sha[s][0] = '\0';
            continue;
        }
        if (err)
            *err = e2;
        return NULL;
    }
    return kf_err_set(err, KF_EREDIS, "redis", "script %d could not be loaded", (int)s), NULL;
}
