/* queue_events.c: the events stream (kf:events) that wakes long-polls
 * (queue.h, docs/queue.md). A struct kfq_conn is used by one thread at a
 * time. */
#include "queue.h"
#include "queue_int.h"

#include <stdio.h>
#include <string.h>

int kfq_event(struct kfq_conn *c, const char *task_id, const char *status, int done, int total,
              struct kf_err *err)
{
    redisReply *r = kfq_command(c, err, "XADD %s MAXLEN ~ %d * task_id %s status %s done %d total %d",
                                KFK_EVENTS, KFQ_EVENTS_MAXLEN, task_id, status, done, total);
    if (!r)
        return KF_EREDIS;
    freeReplyObject(r);
    return 0;
}

int kfq_events_read(struct kfq_conn *c, char last_id[64], int64_t block_ms, kfq_event_fn cb,
                    void *ctx, struct kf_err *err)
{
    if (strcmp(last_id, "$") == 0) {
        redisReply *r = kfq_command(c, err, "XREVRANGE %s + - COUNT 1", KFK_EVENTS);
        if (!r)
            return KF_EREDIS;
        if (r->elements == 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
            snprintf(last_id, 64, "%s", r->element[0]->element[0]->str);
        else
            snprintf(last_id, 64, "0-0");
        freeReplyObject(r);
    }
    if (kfq_ensure(c, err))
        return KF_EREDIS;
    kfq__set_timeout_ms(c, block_ms + KFQ__CMD_TIMEOUT_MS);
    redisReply *r = kfq_command(c, err, "XREAD COUNT 1000 BLOCK %lld STREAMS %s %s",
                                (long long)block_ms, KFK_EVENTS, last_id);
    kfq__set_timeout_ms(c, KFQ__CMD_TIMEOUT_MS);
    if (!r)
        return KF_EREDIS;
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            snprintf(last_id, 64, "%s", e->element[0]->str);
            const char *tid = kfq__field(e->element[1], "task_id");
            const char *st = kfq__field(e->element[1], "status");
            if (tid && cb)
                cb(ctx, tid, st ? st : "");
            n++;
        }
    }
    freeReplyObject(r);
    return n;
}
