/*
 * ackt.c - ack tracker; see ackt.h for the contract.
 *
 * The transactions live in a ring in commit order. Acks find their
 * transaction by binary search on commit_lsn, which increases along the ring.
 * Whenever the head transaction is committed and fully acked it is popped and
 * its end_lsn becomes the safe position.
 */
#include "pipeline/ackt.h"

#include <pthread.h>
#include <stdlib.h>

struct ackt_txn {
    cdc_lsn commit_lsn; /* the key acks are matched on */
    cdc_lsn end_lsn;    /* safe position once complete */
    uint64_t sent;      /* events handed to the publisher */
    uint64_t acked;     /* events acknowledged */
    bool committed;     /* the Commit was seen: sent is final */
    uint64_t floor;     /* highest acked stream sequence when it began (see ackt_position) */
    int64_t commit_time_us;
};

struct ackt {
    pthread_mutex_t lock;
    struct ackt_txn *ring; /* capacity cap, a power of two */
    size_t cap;
    size_t head; /* index of the oldest transaction */
    size_t n;    /* transactions tracked */
    cdc_lsn safe;
    uint64_t unacked;
};

#define RING(t, i) ((t)->ring[((t)->head + (i)) & ((t)->cap - 1)])

cdc_rc
ackt_create(struct ackt **out, cdc_lsn start, struct cdc_err *err)
{
    struct ackt *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    t->cap = 64;
    t->ring = calloc(t->cap, sizeof(*t->ring));
    if (t->ring == NULL) {
        free(t);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&t->lock, NULL);
    t->safe = start;
    *out = t;
    return CDC_OK;
}

void
ackt_destroy(struct ackt *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->ring);
    free(t);
}

void
ackt_reset(struct ackt *t, cdc_lsn start)
{
    pthread_mutex_lock(&t->lock);
    t->head = t->n = 0;
    t->unacked = 0;
    t->safe = start;
    pthread_mutex_unlock(&t->lock);
}

/* Pop every complete transaction at the head. Lock held. */
static void
advance(struct ackt *t)
{
    while (t->n > 0) {
        struct ackt_txn *x = &RING(t, 0);

        if (!x->committed || x->acked < x->sent)
            break;
        if (x->end_lsn > t->safe)
            t->safe = x->end_lsn;
        t->head = (t->head + 1) & (t->cap - 1);
        t->n--;
    }
}

static bool
grow(struct ackt *t)
{
    struct ackt_txn *nr = calloc(t->cap * 2, sizeof(*nr));

    if (nr == NULL)
        return false;
    for (size_t i = 0; i < t->n; i++)
        nr[i] = RING(t, i);
    free(t->ring);
    t->ring = nr;
    t->cap *= 2;
    t->head = 0;
    return true;
}

cdc_rc
ackt_begin(struct ackt *t, cdc_lsn commit_lsn, uint64_t floor, int64_t commit_time_us,
           struct cdc_err *err)
{
    struct ackt_txn *x;

    pthread_mutex_lock(&t->lock);
    if (t->n == t->cap && !grow(t)) {
        pthread_mutex_unlock(&t->lock);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory tracking transactions");
    }
    x = &RING(t, t->n);
    x->commit_lsn = commit_lsn;
    x->end_lsn = CDC_LSN_INVALID;
    x->sent = x->acked = 0;
    x->committed = false;
    x->floor = floor;
    x->commit_time_us = commit_time_us;
    t->n++;
    pthread_mutex_unlock(&t->lock);
    return CDC_OK;
}

void
ackt_sent(struct ackt *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->n > 0) {
        RING(t, t->n - 1).sent++;
        t->unacked++;
    }
    pthread_mutex_unlock(&t->lock);
}

void
ackt_commit(struct ackt *t, cdc_lsn end_lsn)
{
    pthread_mutex_lock(&t->lock);
    if (t->n > 0) {
        struct ackt_txn *x = &RING(t, t->n - 1);

        x->end_lsn = end_lsn;
        x->committed = true;
        advance(t);
    }
    pthread_mutex_unlock(&t->lock);
}

bool
ackt_ack(struct ackt *t, cdc_lsn commit_lsn, int64_t *commit_time_us)
{
    size_t lo = 0, hi;
    bool found = false;

    pthread_mutex_lock(&t->lock);
    hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (RING(t, mid).commit_lsn < commit_lsn)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n && RING(t, lo).commit_lsn == commit_lsn && RING(t, lo).acked < RING(t, lo).sent) {
        RING(t, lo).acked++;
        t->unacked--;
        found = true;
        if (commit_time_us != NULL)
            *commit_time_us = RING(t, lo).commit_time_us;
        if (lo == 0)
            advance(t);
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

void
ackt_idle_advance(struct ackt *t, cdc_lsn lsn)
{
    pthread_mutex_lock(&t->lock);
    if (t->n == 0 && lsn > t->safe)
        t->safe = lsn;
    pthread_mutex_unlock(&t->lock);
}

cdc_lsn
ackt_safe(struct ackt *t)
{
    cdc_lsn s;

    pthread_mutex_lock(&t->lock);
    s = t->safe;
    pthread_mutex_unlock(&t->lock);
    return s;
}

void
ackt_position(struct ackt *t, uint64_t floor_now, cdc_lsn *safe, uint64_t *floor)
{
    pthread_mutex_lock(&t->lock);
    *safe = t->safe;
    *floor = t->n > 0 && RING(t, 0).floor < floor_now ? RING(t, 0).floor : floor_now;
    pthread_mutex_unlock(&t->lock);
}

uint64_t
ackt_unacked(struct ackt *t)
{
    uint64_t u;

    pthread_mutex_lock(&t->lock);
    u = t->unacked;
    pthread_mutex_unlock(&t->lock);
    return u;
}
