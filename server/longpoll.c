/* longpoll.c: waiter registry and event thread (see longpoll.h).
 * Thread-safe: every list is guarded by lp->mu; resume callbacks run with
 * the mutex held so a connection cannot complete (and free its waiter)
 * between the lookup and the resume. */
#include "longpoll.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "log.h"
#include "xalloc.h"

#define NBUCKETS 4096
#define RECENT_S 30.0

struct node {                 /* one (task id, waiter) index entry */
    struct api_lp_waiter *w;
    const char *id;
    struct node *next;
};

struct recent {               /* a task that finished recently */
    char id[65];
    double t;
    struct recent *next;      /* bucket chain */
    struct recent *fifo;      /* expiry order */
};

struct api_longpoll {
    struct api_ctx *ctx;
    api_lp_resume_fn resume;
    pthread_mutex_t mu;
    struct api_lp_waiter *all;
    int count;
    struct node *idx[NBUCKETS];
    struct recent *rb[NBUCKETS];
    struct recent *fifo_head, *fifo_tail;
    pthread_t thread;
    bool running;
    atomic_int stop;
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % NBUCKETS;
}

struct api_longpoll *api_lp_new(struct api_ctx *ctx, api_lp_resume_fn resume)
{
    struct api_longpoll *lp = xcalloc(1, sizeof *lp);
    lp->ctx = ctx;
    lp->resume = resume;
    pthread_mutex_init(&lp->mu, NULL);
    return lp;
}

/* Remove w from the lists; mutex held. */
static void unlink_waiter(struct api_longpoll *lp, struct api_lp_waiter *w)
{
    if (!w->registered)
        return;
    for (int i = 0; i < w->nids; i++) {
        struct node **pp = &lp->idx[hash(w->ids[i])];
        while (*pp) {
            if ((*pp)->w == w) {
                struct node *n = *pp;
                *pp = n->next;
                free(n);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    if (w->prev)
        w->prev->next = w->next;
    else
        lp->all = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->registered = false;
    lp->count--;
}

static void expire_recent(struct api_longpoll *lp, double now)
{
    while (lp->fifo_head && now - lp->fifo_head->t > RECENT_S) {
        struct recent *r = lp->fifo_head;
        struct recent **pp = &lp->rb[hash(r->id)];
        while (*pp && *pp != r)
            pp = &(*pp)->next;
        if (*pp)
            *pp = r->next;
        lp->fifo_head = r->fifo;
        if (!lp->fifo_head)
            lp->fifo_tail = NULL;
        free(r);
    }
}

static bool is_recent(struct api_longpoll *lp, const char *id)
{
    for (struct recent *r = lp->rb[hash(id)]; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return true;
    return false;
}

int api_lp_add(struct api_longpoll *lp, struct api_lp_waiter *w)
{
    if (atomic_load(&lp->ctx->shutting_down))
        return 1;
    pthread_mutex_lock(&lp->mu);
    expire_recent(lp, kfq_now());
    for (int i = 0; i < w->nids; i++) {
        if (is_recent(lp, w->ids[i])) {
            pthread_mutex_unlock(&lp->mu);
            return 1;
        }
    }
    for (int i = 0; i < w->nids; i++) {
        struct node *n = xmalloc(sizeof *n);
        unsigned h = hash(w->ids[i]);
        n->w = w;
        n->id = w->ids[i];
        n->next = lp->idx[h];
        lp->idx[h] = n;
    }
    w->prev = NULL;
    w->next = lp->all;
    if (lp->all)
        lp->all->prev = w;
    lp->all = w;
    w->registered = true;
    lp->count++;
    pthread_mutex_unlock(&lp->mu);
    return 0;
}

void api_lp_remove(struct api_longpoll *lp, struct api_lp_waiter *w)
{
    pthread_mutex_lock(&lp->mu);
    unlink_waiter(lp, w);
    pthread_mutex_unlock(&lp->mu);
}

void api_lp_task_done(struct api_longpoll *lp, const char *task_id)
{
    double now = kfq_now();
    pthread_mutex_lock(&lp->mu);
    expire_recent(lp, now);
    if (!is_recent(lp, task_id)) {
        struct recent *r = xcalloc(1, sizeof *r);
        unsigned h = hash(task_id);
        snprintf(r->id, sizeof r->id, "%s", task_id);
        r->t = now;
        r->next = lp->rb[h];
        lp->rb[h] = r;
        if (lp->fifo_tail)
            lp->fifo_tail->fifo = r;
        else
            lp->fifo_head = r;
        lp->fifo_tail = r;
    }
    for (;;) {
        struct node *n = lp->idx[hash(task_id)];
        while (n && strcmp(n->id, task_id) != 0)
            n = n->next;
        if (!n)
            break;
        struct api_lp_waiter *w = n->w;
        unlink_waiter(lp, w);
        lp->resume(w->conn);
    }
    pthread_mutex_unlock(&lp->mu);
}

void api_lp_wake_all(struct api_longpoll *lp)
{
    pthread_mutex_lock(&lp->mu);
    while (lp->all) {
        struct api_lp_waiter *w = lp->all;
        unlink_waiter(lp, w);
        lp->resume(w->conn);
    }
    pthread_mutex_unlock(&lp->mu);
}

/* Resume waiters past their deadline; returns ms until the next one (cap). */
static int64_t wake_expired(struct api_longpoll *lp, int64_t cap_ms)
{
    double now = kfq_now(), next = now + (double)cap_ms / 1000.0;
    pthread_mutex_lock(&lp->mu);
    struct api_lp_waiter *w = lp->all;
    while (w) {
        struct api_lp_waiter *nx = w->next;
        if (w->deadline <= now) {
            unlink_waiter(lp, w);
            lp->resume(w->conn);
        } else if (w->deadline < next) {
            next = w->deadline;
        }
        w = nx;
    }
    pthread_mutex_unlock(&lp->mu);
    int64_t ms = (int64_t)((next - now) * 1000.0) + 1;
    return ms < 1 ? 1 : ms > cap_ms ? cap_ms : ms;
}

static void on_event(void *cls, const char *task_id, const char *status)
{
    struct api_longpoll *lp = cls;
    if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0) {
        api_lp_task_done(lp, task_id);
        if (strcmp(status, "completed") == 0)
            api_board_invalidate(lp->ctx->board);
    }
}

static void *event_thread(void *arg)
{
    struct api_longpoll *lp = arg;
    struct kfq_conn *c = NULL;
    struct kf_err err;
    char last[64] = "$";
    bool was_down = false;

    kfq_connect(lp->ctx->redis_url, lp->ctx->redis_password, true, &c, &err);
    while (!atomic_load(&lp->stop)) {
        int64_t block = wake_expired(lp, 250);
        if (!c || kfq_ensure(c, &err)) {
            was_down = true;
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (was_down) {
            /* events may have been missed: let every waiter re-check */
            was_down = false;
            api_lp_wake_all(lp);
            api_board_invalidate(lp->ctx->board);
        }
        if (kfq_events_read(c, last, block, on_event, lp, &err) < 0) {
            log_warn("longpoll", "event stream read failed: %s", err.msg);
            was_down = true;
        }
    }
    kfq_close(c);
    return NULL;
}

int api_lp_start(struct api_longpoll *lp, struct kf_err *err)
{
    atomic_store(&lp->stop, 0);
    if (pthread_create(&lp->thread, NULL, event_thread, lp))
        return kf_err_set(err, KF_EIO, "longpoll", "cannot start the event thread");
    lp->running = true;
    return 0;
}

void api_lp_stop(struct api_longpoll *lp)
{
    if (!lp || !lp->running)
        return;
    atomic_store(&lp->stop, 1);
    pthread_join(lp->thread, NULL);
    lp->running = false;
}

void api_lp_free(struct api_longpoll *lp)
{
    if (!lp)
        return;
    api_lp_stop(lp);
    pthread_mutex_lock(&lp->mu);
    while (lp->all)
        unlink_waiter(lp, lp->all);
    while (lp->fifo_head) {
        struct recent *r = lp->fifo_head;
        lp->fifo_head = r->fifo;
        free(r);
    }
    pthread_mutex_unlock(&lp->mu);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}

int api_lp_count(struct api_longpoll *lp)
{
    pthread_mutex_lock(&lp->mu);
    int n = lp->count;
    pthread_mutex_unlock(&lp->mu);
    return n;
}
