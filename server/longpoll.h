/* longpoll.h: suspended long-poll requests and the thread that wakes them.
 * The HTTP layer suspends a connection and registers a waiter (task ids +
 * deadline); one event thread reads kf:events (blocking XREAD) and resumes
 * the waiters of a task when it completes or fails, and every waiter whose
 * deadline (kept here, by the application) has passed. Suspended connections
 * never time out by themselves. Thread-safe (one mutex).
 */
#ifndef KF_SERVER_LONGPOLL_H
#define KF_SERVER_LONGPOLL_H

#include <stdbool.h>

#include "api.h"

#define API_LP_MAX_IDS 64

struct api_lp_waiter {
    void *conn;                          /* handed to the resume callback */
    char ids[API_LP_MAX_IDS][65]; int nids;
    double deadline;                     /* kfq_now() clock */
    bool registered;
    struct api_lp_waiter *prev, *next;   /* all waiters */
};

typedef void (*api_lp_resume_fn)(void *conn);

struct api_longpoll;

/* New registry; ctx borrowed (board invalidation, Redis URL). */
struct api_longpoll *api_lp_new(struct api_ctx *ctx, api_lp_resume_fn resume);
/* Start / stop the event thread. */
int api_lp_start(struct api_longpoll *lp, struct kf_err *err);
void api_lp_stop(struct api_longpoll *lp);
void api_lp_free(struct api_longpoll *lp);
/* Register a waiter whose connection is ALREADY suspended. Returns 1 if one
 * of its tasks finished moments ago (the caller resumes it at once, nothing
 * registered), else 0. */
int api_lp_add(struct api_longpoll *lp, struct api_lp_waiter *w);
/* Unregister (idempotent; no resume). */
void api_lp_remove(struct api_longpoll *lp, struct api_lp_waiter *w);
/* Resume every waiter (shutdown, or Redis came back). */
void api_lp_wake_all(struct api_longpoll *lp);
/* Wake waiters of one task id (the event thread; exposed for tests). */
void api_lp_task_done(struct api_longpoll *lp, const char *task_id);
int api_lp_count(struct api_longpoll *lp);

#endif
