/*
 * jssink.c - asynchronous JetStream publishing with ordered resends; see jssink.h.
 *
 * Threads: the owner calls create/publish/poll/flush/destroy. libnats calls
 * on_pub_ack() on its own thread, once per attempt, and hands us the message
 * (nats.h, jsPubAckHandler: the handler owns it).
 *
 * Every message not yet acknowledged has an entry in `ring`, in publish
 * order: in flight (libnats holds it) or failed (we hold it, for a resend).
 * An ack marks its entry done and the ring's head moves past done entries,
 * so the head is always the oldest unacknowledged message. Acks come back
 * nearly in order, so finding an entry from the head costs a step or two.
 *
 * Order across failures. JetStream stores what reaches it in the order it
 * arrives; a message lost with a connection and resent later would land
 * after messages published after it, and a consumer would see a key's
 * changes out of order. So a failure of any kind (an ack that timed out or
 * failed, the connection lost) raises a barrier:
 *  1. no new message is handed to libnats;
 *  2. we wait until nothing is in flight: every message is acked or failed
 *     (after a reconnect libnats's pending ones are taken back at once: they
 *     went with the old connection);
 *  3. the failed ones are resent oldest first, one at a time, each after
 *     the previous one's ack (a resend that was in fact stored comes back at
 *     once as a duplicate);
 *  4. when none is left, the barrier drops and publishing goes on.
 * The connection's reconnect buffer is off (jsconn.c), so libnats never
 * replays on a new connection what was published during a reconnect: such
 * a publish fails at once, raises the barrier, and waits here instead.
 *
 * A failure a resend cannot fix (the stream rejected the message) is kept as
 * the fatal error for the owner to see.
 *
 * Ack timeouts are ours, not libnats's: jsPubOptions.MaxWait would make
 * libnats 3.4 keep a timer record (two allocations) per publish until its
 * deadline even once it is acked: at 60k publishes/s and a 10 s timeout,
 * 60 MiB (measured with mallinfo2 in bench/run.sh). Instead jssink_poll()
 * looks at the oldest message in flight; when it has waited ack_timeout_ms,
 * everything libnats still holds is taken back (js_PublishAsyncGetPendingList,
 * after which libnats drops late acks) and counts as failed, under the
 * barrier. So each message reaches opts.on_ack exactly once, whatever the
 * number of attempts.
 */
#include "sink/nats/jssink.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/window.h"
#include "sink/nats/jsconn.h"
#include "sink/nats/jsobj.h"

enum ent_state {
    ENT_DONE = 0, /* acked or given up: skipped */
    ENT_INFLIGHT, /* handed to libnats; msg is only an identity */
    ENT_FAILED    /* its last attempt failed: we own msg and resend it */
};

/* One unacknowledged message. */
struct ent {
    natsMsg *msg;
    int64_t due_ms;   /* ENT_FAILED: not resent before */
    int64_t nr_since; /* first "no responders" of its current run of them, 0: none */
    int64_t sent_us;  /* ENT_INFLIGHT: when it was handed to libnats (monotonic) */
    char *dlq_why;    /* to be dead-lettered for this reason (malloc'd); NULL: resend as is */
    int attempts;     /* attempts the server answered with a passing error */
    size_t bytes;     /* payload bytes counted in pending_bytes */
    enum jssink_dlq_kind dlq_kind;
    enum ent_state state;
    bool is_dlq;    /* msg is already the dead-letter message */
    bool drop_body; /* dead-letter it without its payload (the stream found it too large) */
};

/* A sampled publish (see opts.on_latency): which message, sent when. */
#define LAT_SLOTS 32
struct lat_sample {
    _Atomic(const natsMsg *) msg; /* identity only; NULL: free */
    _Atomic int64_t sent_us;
};

struct jssink {
    struct jssink_opts o;
    char *stream;
    char *prefix;
    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    jsPubOptions po;

    pthread_mutex_t lock;       /* guards everything down to last_fail */
    pthread_cond_t progress_cv; /* an ack or a failure arrived, or the connection closed */
    int waiters;                /* threads waiting on progress_cv */
    bool closed;                /* the connection's closed callback ran */
    struct ent *ring;           /* unacknowledged messages, publish order; cap is a power of 2 */
    uint64_t head, tail;        /* ring[head % cap] is the oldest; tail - head entries */
    uint64_t cap;
    size_t inflight;             /* entries ENT_INFLIGHT */
    bool barrier;                /* a failure happened: see the top of this file */
    bool reclaim;                /* take back what libnats still holds (reconnected, timed out) */
    bool reclaim_backoff;        /* ... and resend it after a backoff delay (a timeout) */
    struct backoff bo;           /* delay between attempts of one message */
    struct window win;           /* how many may be in flight now (adaptive, <= max_pending) */
    char fatal[CDC_ERR_MSG_MAX]; /* non-empty once a message has been given up */
    cdc_rc fatal_rc;             /* what jssink_last_error() returns then */
    char last_fail[200];         /* why the last attempt failed, for timeout messages */

    bool async_used; /* libnats built its async-publish state (first publish handed over) */
    struct lat_sample lat[LAT_SLOTS];

    int64_t max_msg_size; /* the stream's max_msg_size; <= 0: none */

    _Atomic uint64_t published;
    _Atomic uint64_t acked;
    _Atomic uint64_t duplicates;
    _Atomic uint64_t resent;
    _Atomic uint64_t pending_bytes; /* payload bytes of the entries in the ring */
};

void
jssink_opts_init(struct jssink_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->request_timeout_ms = 10000;
    o->stream = "CDC";
    o->subject_prefix = "cdc";
    o->replicas = 1;
    o->duplicate_window_ms = 120000;
    o->max_pending = 1000;
    o->ack_timeout_ms = 5000;
    o->publish_deadline_ms = 30000;
    o->retry_base_ms = 100;
    o->retry_cap_ms = 8000;
    o->no_responders_limit_ms = 30000;
}

enum ack_fail {
    ACK_FAIL_RESEND,        /* resend until acked */
    ACK_FAIL_NO_RESPONDERS, /* resend, for at most no_responders_limit_ms */
    ACK_FAIL_REJECTED       /* the stream refused this message: a resend would be refused too */
};

/* See the top of jssink.h for why each case is where it is. */
static enum ack_fail
classify_failure(const jsPubAckErr *pae)
{
    if (pae->Err == NATS_NO_RESPONDERS)
        return ACK_FAIL_NO_RESPONDERS;
    switch ((int) pae->ErrCode) {
    case 0: /* no JetStream verdict: ack timeout, unreadable reply */
    case JSClusterNotAvailErr:
    case JSClusterNotLeaderErr:
    case JSInsufficientResourcesErr:
    case JSStreamOfflineErr:
        return ACK_FAIL_RESEND;
    default:
        return ACK_FAIL_REJECTED;
    }
}

static inline struct ent *
ent_at(const struct jssink *s, uint64_t i)
{
    return &s->ring[i & (s->cap - 1)];
}

/* lock held. The entry of a message not yet done, searched from the oldest; NULL if none. */
static struct ent *
ent_find(const struct jssink *s, const natsMsg *msg)
{
    for (uint64_t i = s->head; i < s->tail; i++) {
        struct ent *e = ent_at(s, i);

        if (e->msg == msg && e->state != ENT_DONE)
            return e;
    }
    return NULL;
}

/* lock held. Move the head past done entries. */
static void
ring_trim(struct jssink *s)
{
    while (s->head < s->tail && ent_at(s, s->head)->state == ENT_DONE)
        s->head++;
}

/* lock held. Append msg as in flight; false if out of memory. */
static bool
ring_push(struct jssink *s, natsMsg *msg)
{
    struct ent *e;

    if (s->tail - s->head == s->cap) {
        uint64_t ncap = s->cap ? s->cap * 2 : 1024;
        struct ent *r = malloc(ncap * sizeof(*r));

        if (r == NULL)
            return false;
        for (uint64_t i = s->head; i < s->tail; i++)
            r[i - s->head] = *ent_at(s, i);
        free(s->ring);
        s->ring = r;
        s->tail -= s->head;
        s->head = 0;
        s->cap = ncap;
    }
    e = ent_at(s, s->tail++);
    e->msg = msg;
    e->bytes = (size_t) natsMsg_GetDataLength(msg);
    atomic_fetch_add(&s->pending_bytes, e->bytes);
    e->due_ms = 0;
    e->nr_since = 0;
    e->sent_us = cdc_mono_us();
    e->dlq_why = NULL;
    e->attempts = 0;
    e->is_dlq = false;
    e->drop_body = false;
    e->state = ENT_INFLIGHT;
    s->inflight++;
    return true;
}

/* lock held. Take back the newest entry: its message was not handed over after all. */
static void
ring_pop(struct jssink *s)
{
    atomic_fetch_sub(&s->pending_bytes, ent_at(s, s->tail - 1)->bytes);
    s->tail--;
    s->inflight--;
}

/* lock held. e has its outcome: its slot can go. */
static void
ent_done(struct jssink *s, struct ent *e)
{
    atomic_fetch_sub(&s->pending_bytes, e->bytes);
    e->bytes = 0;
    free(e->dlq_why);
    e->dlq_why = NULL;
    e->msg = NULL;
    e->state = ENT_DONE;
}

/* lock held. Wake the owner if it waits for progress. */
static void
wake(struct jssink *s)
{
    if (s->waiters > 0)
        pthread_cond_broadcast(&s->progress_cv);
}

/* lock held. Give e's message up: keep the reason for the owner, and free it. */
static void
give_up_rc(struct jssink *s, struct ent *e, cdc_rc rc, const char *why)
{
    if (s->fatal[0] == '\0') {
        snprintf(s->fatal, sizeof(s->fatal), "%s", why);
        s->fatal_rc = rc;
    }
    natsMsg_Destroy(e->msg);
    ent_done(s, e);
    ring_trim(s);
}

static void
give_up(struct jssink *s, struct ent *e, const char *why)
{
    give_up_rc(s, e, CDC_ERR_FATAL, why);
}

/* Owner thread, before the message is handed over: maybe sample it. */
static void
lat_mark(struct jssink *s, const natsMsg *m)
{
    uint64_t n = atomic_load(&s->published);
    struct lat_sample *x;

    if (s->o.on_latency == NULL || n % JSSINK_LATENCY_SAMPLE != 0)
        return;
    x = &s->lat[(n / JSSINK_LATENCY_SAMPLE) % LAT_SLOTS];
    atomic_store(&x->sent_us, cdc_mono_us());
    atomic_store(&x->msg, m);
}

/* libnats thread: msg was acked; report its latency if it was sampled. */
static void
lat_acked(struct jssink *s, const natsMsg *msg)
{
    if (s->o.on_latency == NULL)
        return;
    for (int i = 0; i < LAT_SLOTS; i++) {
        const natsMsg *want = msg;

        if (atomic_load(&s->lat[i].msg) == msg &&
            atomic_compare_exchange_strong(&s->lat[i].msg, &want, NULL)) {
            s->o.on_latency(s->o.closure, cdc_mono_us() - atomic_load(&s->lat[i].sent_us));
            return;
        }
    }
}

/* Forget a sample whose message was not handed over (its memory may be reused). */
static void
lat_forget(struct jssink *s, const natsMsg *m)
{
    for (int i = 0; i < LAT_SLOTS; i++) {
        const natsMsg *want = m;

        atomic_compare_exchange_strong(&s->lat[i].msg, &want, NULL);
    }
}

static void
ack_ok(struct jssink *s, natsMsg *msg, const char *id, const jsPubAck *pa)
{
    struct ent *e;

    lat_acked(s, msg);
    if (s->o.on_ack != NULL && id != NULL)
        s->o.on_ack(s->o.closure, id, strlen(id), true, pa->Duplicate, pa->Sequence);
    if (pa->Duplicate)
        atomic_fetch_add(&s->duplicates, 1);
    pthread_mutex_lock(&s->lock);
    e = ent_find(s, msg);
    if (e != NULL) {
        if (e->state == ENT_INFLIGHT) {
            s->inflight--;
            window_ack(&s->win, cdc_mono_us() - e->sent_us);
        }
        if (e->is_dlq && s->o.on_dlq != NULL)
            s->o.on_dlq(s->o.closure, e->dlq_kind);
        ent_done(s, e);
        ring_trim(s);
    }
    if (s->barrier)
        backoff_reset(&s->bo);
    wake(s);
    pthread_mutex_unlock(&s->lock);
    /* counted after on_ack: once jssink_flush() sees nothing pending, every on_ack has returned */
    atomic_fetch_add(&s->acked, 1);
    natsMsg_Destroy(msg);
}

/* lock held. e's attempt failed with a resend in view: keep it for one, and raise the barrier. */
static void
mark_failed(struct jssink *s, struct ent *e, bool now)
{
    if (e->state == ENT_INFLIGHT)
        s->inflight--;
    e->state = ENT_FAILED;
    e->due_ms = cdc_now_ms() + (now ? 0 : backoff_next_ms(&s->bo));
    s->barrier = true;
    window_fail(&s->win);
}

/* lock held. Dead-letter e's message instead of resending it (opts.dlq), for this reason. */
static void
mark_dlq(struct jssink *s, struct ent *e, enum jssink_dlq_kind kind, const char *why)
{
    free(e->dlq_why);
    e->dlq_why = strdup(why);
    e->dlq_kind = kind;
    if (e->dlq_why == NULL) {
        if (e->state == ENT_INFLIGHT)
            s->inflight--;
        give_up(s, e, "out of memory dead-lettering a message");
        return;
    }
    mark_failed(s, e, true);
}

static void
ack_failed(struct jssink *s, natsMsg *msg, const char *id, const jsPubAckErr *pae)
{
    enum ack_fail kind = classify_failure(pae);
    const char *text = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    char why[CDC_ERR_MSG_MAX];
    struct ent *e;

    pthread_mutex_lock(&s->lock);
    snprintf(s->last_fail, sizeof(s->last_fail), "%s", text);
    e = ent_find(s, msg);
    if (e == NULL) { /* not ours (cannot happen): do not leak it */
        natsMsg_Destroy(msg);
    } else if (kind == ACK_FAIL_REJECTED) {
        snprintf(why, sizeof(why), "stream \"%s\" rejected message \"%s\" on \"%s\": %s (error %d)",
                 s->stream, id ? id : "?", natsMsg_GetSubject(msg), text, (int) pae->ErrCode);
        if (s->o.dlq && !e->is_dlq) {
            e->drop_body = pae->ErrCode == JSStreamMessageExceedsMaximumErr;
            mark_dlq(s, e, e->drop_body ? JSSINK_DLQ_TOO_LARGE : JSSINK_DLQ_REJECTED, why);
        } else {
            if (e->state == ENT_INFLIGHT)
                s->inflight--;
            if (e->is_dlq)
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         "; it was the dead-letter message of: %s", e->dlq_why);
            give_up(s, e, why);
        }
    } else {
        if (kind == ACK_FAIL_RESEND)
            e->nr_since = 0; /* the limit is for "no responders" without a break */
        else if (e->nr_since == 0)
            e->nr_since = cdc_now_ms();
        /* the server answered, and not with a timeout: this message has a problem */
        if (pae->ErrCode != 0 || kind == ACK_FAIL_NO_RESPONDERS)
            e->attempts++;
        if (s->o.max_attempts > 0 && e->attempts >= s->o.max_attempts && !e->is_dlq) {
            snprintf(why, sizeof(why), "message \"%s\" on \"%s\" failed %d times: %s",
                     id ? id : "?", natsMsg_GetSubject(msg), e->attempts, text);
            if (s->o.dlq_on_publish_failure) {
                mark_dlq(s, e, JSSINK_DLQ_PUBLISH_FAILED, why);
            } else {
                /* stop this run; the supervisor starts again from the checkpoint: nothing lost */
                if (e->state == ENT_INFLIGHT)
                    s->inflight--;
                give_up_rc(s, e, CDC_ERR_RETRY, why);
            }
        } else {
            mark_failed(s, e, false); /* we own msg now; the owner thread resends it */
        }
    }
    wake(s);
    pthread_mutex_unlock(&s->lock);
}

/*
 * The AckHandler, on a libnats thread, once per attempt. We own msg from here
 * on (nats.h, jsPubAckHandler): it is freed, or kept for a resend.
 */
static void
on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct jssink *s = closure;
    const char *id = NULL;

    (void) js;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    if (pa != NULL)
        ack_ok(s, msg, id, pa);
    else if (pae != NULL)
        ack_failed(s, msg, id, pae);
    else
        natsMsg_Destroy(msg);
}

/* libnats thread: the connection dropped (it reconnects by itself): hold new publishes back. */
static void
on_disconnected(natsConnection *nc, void *closure)
{
    struct jssink *s = closure;

    (void) nc;
    pthread_mutex_lock(&s->lock);
    s->barrier = true;
    window_fail(&s->win);
    pthread_mutex_unlock(&s->lock);
    if (s->o.on_conn != NULL)
        s->o.on_conn(s->o.closure, false);
}

/*
 * libnats's async thread: the connection is closed for good. Callbacks run in
 * order on that thread, so once this one has run no other callback of ours
 * (a disconnected callback posted by the close) can still touch the sink.
 */
static void
on_closed(natsConnection *nc, void *closure)
{
    struct jssink *s = closure;

    (void) nc;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    pthread_cond_broadcast(&s->progress_cv);
    pthread_mutex_unlock(&s->lock);
}

/* libnats thread: reconnected. What is still in flight went with the old connection. */
static void
on_reconnected(natsConnection *nc, void *closure)
{
    struct jssink *s = closure;

    (void) nc;
    pthread_mutex_lock(&s->lock);
    s->barrier = true;
    s->reclaim = true;
    wake(s);
    pthread_mutex_unlock(&s->lock);
    if (s->o.on_conn != NULL)
        s->o.on_conn(s->o.closure, true);
}

bool
jssink_subject_covers(const char *pat, const char *ours)
{
    for (;;) {
        size_t pl = strcspn(pat, "."), ol = strcspn(ours, ".");

        if (pl == 1 && pat[0] == '>')
            return true;
        if (ol == 1 && ours[0] == '>')
            return false; /* ours spans any number of tokens; pat does not */
        if (!(pl == 1 && pat[0] == '*') && (pl != ol || strncmp(pat, ours, pl) != 0))
            return false;
        if (pat[pl] == '\0' || ours[ol] == '\0')
            return pat[pl] == '\0' && ours[ol] == '\0';
        pat += pl + 1;
        ours += ol + 1;
    }
}

static cdc_rc
ensure_stream(struct jssink *s, struct cdc_err *err)
{
    char ours[256], have[512];
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st;
    size_t used = 0;

    snprintf(ours, sizeof(ours), "%s.>", s->prefix);
    st = js_GetStreamInfo(&si, s->js, s->stream, NULL, &jerr);
    if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        const char *subjects[1] = {ours};
        jsStreamConfig sc;

        jsStreamConfig_Init(&sc);
        sc.Name = s->stream;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = s->o.storage_memory ? js_MemoryStorage : js_FileStorage;
        sc.Replicas = s->o.replicas > 0 ? s->o.replicas : 1;
        sc.Duplicates = s->o.duplicate_window_ms * 1000000;
        st = js_AddStream(NULL, s->js, &sc, NULL, &jerr);
        if (st != NATS_OK)
            return cdc_err_set(err, st == NATS_TIMEOUT ? CDC_ERR_RETRY : CDC_ERR_FATAL,
                               "could not create stream \"%s\" for \"%s\": %s (error %d)",
                               s->stream, ours, natsStatus_GetText(st), (int) jerr);
        return CDC_OK;
    }
    if (st != NATS_OK)
        return cdc_err_set(err, CDC_ERR_RETRY, "could not look up stream \"%s\": %s (error %d)%s",
                           s->stream, natsStatus_GetText(st), (int) jerr,
                           st == NATS_NO_RESPONDERS ? ": is JetStream enabled on the server?" : "");
    have[0] = '\0';
    for (int i = 0; i < si->Config->SubjectsLen; i++) {
        if (jssink_subject_covers(si->Config->Subjects[i], ours)) {
            s->max_msg_size = si->Config->MaxMsgSize;
            jsStreamInfo_Destroy(si);
            return CDC_OK;
        }
        if (used < sizeof(have))
            used += (size_t) snprintf(have + used, sizeof(have) - used, "%s\"%s\"", i ? ", " : "",
                                      si->Config->Subjects[i]);
    }
    jsStreamInfo_Destroy(si);
    return cdc_err_set(err, CDC_ERR_FATAL,
                       "stream \"%s\" exists with subjects [%s], which do not cover \"%s\": add "
                       "\"%s\" to the stream's subjects, or set nats.stream or nats.subject_prefix",
                       s->stream, have, ours, ours);
}

cdc_rc
jssink_stream_state(struct jssink *s, struct jssink_stream_state *out, struct cdc_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    st = js_GetStreamInfo(&si, s->js, s->stream, NULL, &jerr);
    if (st != NATS_OK)
        return cdc_err_set(err, CDC_ERR_RETRY, "could not look up stream \"%s\": %s (error %d)",
                           s->stream, natsStatus_GetText(st), (int) jerr);
    out->first_seq = si->State.FirstSeq;
    out->last_seq = si->State.LastSeq;
    out->duplicate_window_ms = si->Config->Duplicates / 1000000;
    jsStreamInfo_Destroy(si);
    return CDC_OK;
}

cdc_rc
jssink_scan(struct jssink *s, uint64_t from_seq, uint64_t to_seq, jssink_msg_fn cb, void *c,
            struct cdc_err *err)
{
    natsSubscription *sub = NULL;
    char filter[256];
    jsSubOptions so;
    jsErrCode jerr = 0;
    uint64_t seq = 0;
    natsStatus st;

    if (from_seq > to_seq)
        return CDC_OK;
    snprintf(filter, sizeof(filter), "%s.>", s->prefix); /* every subject we publish to */
    jsSubOptions_Init(&so);
    so.Stream = s->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from_seq;
    so.Config.HeadersOnly = true;
    st = js_SubscribeSync(&sub, s->js, filter, NULL, &so, &jerr);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(sub, -1, -1);
    while (st == NATS_OK && seq < to_seq) {
        jsMsgMetaData *meta = NULL;
        const char *id = NULL;
        natsMsg *m = NULL;

        st = natsSubscription_NextMsg(&m, sub, s->o.request_timeout_ms);
        if (st != NATS_OK)
            break;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            seq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        }
        if (seq <= to_seq && natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK)
            cb(c, natsMsg_GetSubject(m), NULL, 0, id, seq);
        natsMsg_Destroy(m);
    }
    /*
     * libnats 3.4 can crash its read loop if a subscription is destroyed while a message for it
     * is being processed (nats.c #637, fixed in 3.6): unsubscribe first, so the server stops
     * sending. (A drain here made a restart hang now and then under ASan: not used.)
     */
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    if (st != NATS_OK)
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "reading stream \"%s\" back from sequence %llu: %s at sequence %llu "
                           "of %llu (error %d)",
                           s->stream, (unsigned long long) from_seq, natsStatus_GetText(st),
                           (unsigned long long) seq, (unsigned long long) to_seq, (int) jerr);
    return CDC_OK;
}

cdc_rc
jssink_create(struct jssink **out, const struct jssink_opts *o, struct cdc_err *err)
{
    struct jssink *s;
    jsOptions jo;
    natsStatus st;
    cdc_rc rc;

    if (o->n_urls <= 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "no NATS server URL");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    s->o = *o;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->progress_cv, NULL);
    backoff_init(&s->bo, o->retry_base_ms, o->retry_cap_ms,
                 (uint64_t) cdc_now_ms() ^ (uint64_t) getpid());
    window_init(&s->win, o->max_pending > 0 ? (uint32_t) o->max_pending : 1000, o->ack_timeout_ms);
    s->stream = strdup(o->stream);
    s->prefix = strdup(o->subject_prefix);
    if (s->stream == NULL || s->prefix == NULL) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->o.stream = s->stream;
    s->o.subject_prefix = s->prefix;
    s->o.urls = NULL; /* borrowed for the call only */
    s->o.password = NULL;
    s->o.token = NULL;
    {
        const struct jsconn_events ev = {on_disconnected, on_reconnected, on_closed, s};

        rc = jsconn_open(&s->nc, &s->nopts, o, true, &ev, err);
    }
    if (rc != CDC_OK)
        goto fail;
    jsOptions_Init(&jo);
    jo.Wait = o->request_timeout_ms;
    jo.PublishAsync.MaxPending = o->max_pending > 0 ? o->max_pending : 1000;
    jo.PublishAsync.AckHandler = on_pub_ack;
    jo.PublishAsync.AckHandlerClosure = s;
    jo.PublishAsync.StallWait = 100;
    st = natsConnection_JetStream(&s->js, s->nc, &jo);
    if (st != NATS_OK) {
        rc = cdc_err_set(err, CDC_ERR_RETRY, "could not get a JetStream context: %s",
                         natsStatus_GetText(st));
        goto fail;
    }
    jsPubOptions_Init(&s->po); /* no MaxWait: the ack timeout is ours (top of this file) */
    rc = ensure_stream(s, err);
    if (rc != CDC_OK)
        goto fail;
    *out = s;
    return CDC_OK;
fail:
    jssink_destroy(s);
    return rc;
}

/* Take back what libnats still holds, then wait for a running AckHandler to return. */
static void
drain_acks(struct jssink *s)
{
    natsMsgList pending = {NULL, 0};
    jsPubOptions po;

    /* acks that arrive after this find nothing to match and are not handed to us */
    if (js_PublishAsyncGetPendingList(&pending, s->js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    /* libnats counts a handler that is running as pending until it returns */
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    js_PublishAsyncComplete(s->js, &po);
}

void
jssink_destroy(struct jssink *s)
{
    if (s == NULL)
        return;
    if (s->async_used)
        drain_acks(s); /* libnats 3.4 crashes on a context that never published async */
    if (s->nc != NULL) {
        struct timespec until;

        natsConnection_Close(s->nc);
        /* wait for the closed callback: the disconnected one it follows must not find s freed */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&s->lock);
        while (!s->closed && pthread_cond_timedwait(&s->progress_cv, &s->lock, &until) == 0)
            ;
        pthread_mutex_unlock(&s->lock);
    }
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->nopts);
    /* in-flight messages were freed with libnats's pending list; failed ones are ours */
    for (uint64_t i = s->head; i < s->tail; i++)
        if (ent_at(s, i)->state == ENT_FAILED)
            natsMsg_Destroy(ent_at(s, i)->msg);
    free(s->ring);
    pthread_cond_destroy(&s->progress_cv);
    pthread_mutex_destroy(&s->lock);
    free(s->stream);
    free(s->prefix);
    free(s);
}

cdc_rc
jssink_last_error(const struct jssink *s, struct cdc_err *err)
{
    struct jssink *m = (struct jssink *) s; /* the lock is not part of the value */
    cdc_rc rc = CDC_OK;

    pthread_mutex_lock(&m->lock);
    if (m->fatal[0] != '\0')
        rc = cdc_err_set(err, m->fatal_rc, "%s", m->fatal);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* lock held. Has e had "no responders" for too long? Then give it up and say so. */
static bool
given_up_no_stream(struct jssink *s, struct ent *e, int64_t now)
{
    char why[CDC_ERR_MSG_MAX];
    int64_t waited;

    if (e->nr_since == 0 || (waited = now - e->nr_since) < s->o.no_responders_limit_ms)
        return false;
    snprintf(why, sizeof(why),
             "no stream matches subject \"%s\" (no responders for %" PRId64
             " ms): was stream \"%s\" deleted, or its subjects changed?",
             natsMsg_GetSubject(e->msg), waited, s->stream);
    give_up(s, e, why);
    return true;
}

/*
 * lock held. After a reconnect or an ack timeout: take back from libnats what
 * it still holds. Their acks, if any, would be dropped by libnats from now on.
 * They are failed, to be resent at once after a reconnect (they went with the
 * old connection), after a backoff delay after a timeout.
 */
static void
reclaim_inflight(struct jssink *s)
{
    natsMsgList pending = {NULL, 0};
    bool backoff = s->reclaim_backoff;

    s->reclaim = false;
    s->reclaim_backoff = false;
    if (s->inflight == 0 || js_PublishAsyncGetPendingList(&pending, s->js) != NATS_OK)
        return;
    for (int i = 0; i < pending.Count; i++) {
        struct ent *e = ent_find(s, pending.Msgs[i]);

        if (e != NULL)
            mark_failed(s, e, !backoff);
        else
            natsMsg_Destroy(pending.Msgs[i]); /* not ours (cannot happen): do not leak it */
    }
    free(pending.Msgs); /* the messages are ours now; only the array goes */
}

static const char *const dlq_kind_names[] = {"too_large", "rejected", "encode", "publish_failed"};

const char *
jssink_dlq_kind_name(enum jssink_dlq_kind k)
{
    return (unsigned) k < sizeof(dlq_kind_names) / sizeof(dlq_kind_names[0]) ? dlq_kind_names[k]
                                                                             : "unknown";
}

void
jssink_dlq_subject(const char *prefix, const char *subject, char *out, size_t cap)
{
    size_t pl = strlen(prefix);

    if (strncmp(subject, prefix, pl) == 0 && subject[pl] == '.')
        snprintf(out, cap, "%s.dlq.%s", prefix, subject + pl + 1);
    else
        snprintf(out, cap, "%s.dlq.%s", prefix, subject);
}

/*
 * The dead-letter message of orig (or of subject/id/data when orig is NULL):
 * to the DLQ subject, with orig's headers (Nats-Msg-Id included: the dead
 * letter stands for the event, and a replay of the event is a duplicate of
 * it) and Cdc-Dlq-Reason, -Kind, -Subject, -Size. The payload is kept unless
 * drop_body.
 */
static natsStatus
dlq_build(struct jssink *s, natsMsg **out, const char *subject, const void *data, int len,
          natsMsg *orig, enum jssink_dlq_kind kind, const char *why, bool drop_body)
{
    char dsub[512], size[24];
    const char **keys = NULL;
    natsMsg *m = NULL;
    int nkeys = 0;
    natsStatus st;

    jssink_dlq_subject(s->prefix, subject, dsub, sizeof(dsub));
    st = natsMsg_Create(&m, dsub, NULL, drop_body ? NULL : data, drop_body ? 0 : len);
    if (st == NATS_OK && orig != NULL && natsMsgHeader_Keys(orig, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; st == NATS_OK && i < nkeys; i++) {
            const char *v = NULL;

            if (natsMsgHeader_Get(orig, keys[i], &v) == NATS_OK)
                st = natsMsgHeader_Set(m, keys[i], v);
        }
        free((void *) keys);
    }
    snprintf(size, sizeof(size), "%d", len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Cdc-Dlq-Reason", why);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Cdc-Dlq-Kind", jssink_dlq_kind_name(kind));
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Cdc-Dlq-Subject", subject);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Cdc-Dlq-Size", size);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return st;
    }
    *out = m;
    return NATS_OK;
}

static natsStatus
dlq_msg(struct jssink *s, natsMsg **out, natsMsg *orig, enum jssink_dlq_kind kind, const char *why,
        bool drop_body)
{
    return dlq_build(s, out, natsMsg_GetSubject(orig), natsMsg_GetData(orig),
                     natsMsg_GetDataLength(orig), orig, kind, why, drop_body);
}

/*
 * lock held, owner thread. Under the barrier: the oldest failed message, taken
 * for a resend (marked in flight), when nothing is in flight and it is due;
 * else NULL. Drops the barrier when nothing is left to resend.
 */
static natsMsg *
next_resend(struct jssink *s, int64_t now, uint64_t *at)
{
    struct ent *e;

    if (!s->barrier || s->fatal[0] != '\0')
        return NULL;
    if (s->reclaim)
        reclaim_inflight(s);
    if (s->inflight > 0)
        return NULL; /* wait until every attempt has an outcome */
    ring_trim(s);
    if (s->head == s->tail) {
        s->barrier = false; /* everything is acknowledged: publish again */
        backoff_reset(&s->bo);
        return NULL;
    }
    e = ent_at(s, s->head); /* not done (trimmed), not in flight: failed */
    if (e->due_ms > now || given_up_no_stream(s, e, now))
        return NULL;
    if (e->dlq_why != NULL && !e->is_dlq) {
        natsMsg *d = NULL;
        natsStatus st = dlq_msg(s, &d, e->msg, e->dlq_kind, e->dlq_why, e->drop_body);

        if (st != NATS_OK) {
            give_up(s, e, "out of memory building a dead-letter message");
            return NULL;
        }
        natsMsg_Destroy(e->msg);
        e->msg = d;
        e->is_dlq = true;
    }
    e->state = ENT_INFLIGHT;
    e->sent_us = now * 1000;
    s->inflight++;
    *at = s->head;
    return e->msg;
}

/*
 * lock held. Has the oldest message in flight waited ack_timeout_ms for its
 * ack? Then everything in flight is taken back and failed, under the barrier.
 */
static void
check_ack_timeout(struct jssink *s, int64_t now)
{
    if (s->inflight == 0 || s->reclaim || s->o.ack_timeout_ms <= 0)
        return;
    for (uint64_t i = s->head; i < s->tail; i++) {
        const struct ent *e = ent_at(s, i);

        if (e->state != ENT_INFLIGHT)
            continue;
        if (now - e->sent_us / 1000 >= s->o.ack_timeout_ms) {
            snprintf(s->last_fail, sizeof(s->last_fail), "no PubAck within %" PRId64 " ms",
                     s->o.ack_timeout_ms);
            s->barrier = true;
            s->reclaim = true;
            s->reclaim_backoff = true;
        }
        return; /* the oldest one decides */
    }
}

cdc_rc
jssink_poll(struct jssink *s, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();
    uint64_t at = 0;
    natsMsg *m;
    natsStatus st;

    pthread_mutex_lock(&s->lock);
    check_ack_timeout(s, now);
    m = next_resend(s, now, &at);
    pthread_mutex_unlock(&s->lock);
    if (m != NULL) {
        /* outside the lock: the AckHandler takes it */
        st = js_PublishMsgAsync(s->js, &m, &s->po);
        if (st == NATS_OK) {
            atomic_fetch_add(&s->resent, 1);
            s->async_used = true;
        } else {
            /* not handed over (reconnecting, most likely): try again after a delay */
            pthread_mutex_lock(&s->lock);
            snprintf(s->last_fail, sizeof(s->last_fail), "%s", natsStatus_GetText(st));
            mark_failed(s, ent_at(s, at), false);
            pthread_mutex_unlock(&s->lock);
        }
    }
    return jssink_last_error(s, err);
}

/* Owner thread: wait up to ms for an ack or a failure (or less). */
static void
wait_progress(struct jssink *s, int64_t ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long) (ms % 1000) * 1000000L;
    until.tv_sec += (time_t) (ms / 1000) + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s->lock);
    s->waiters++;
    pthread_cond_timedwait(&s->progress_cv, &s->lock, &until);
    s->waiters--;
    pthread_mutex_unlock(&s->lock);
}

/* The publish could not be handed over; what it means for the caller. */
static cdc_rc
publish_failed(struct jssink *s, natsStatus st, const char *subject, const char *msg_id, size_t len,
               struct cdc_err *err)
{
    switch (st) {
    case NATS_MAX_PAYLOAD:
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not publish \"%s\" to \"%s\": %zu bytes exceed the server's "
                           "max_payload of %" PRId64 " bytes",
                           msg_id, subject, len, natsConnection_GetMaxPayload(s->nc));
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_ARG:
        return cdc_err_set(err, CDC_ERR_FATAL, "could not publish \"%s\" to \"%s\": %s", msg_id,
                           subject, natsStatus_GetText(st));
    default:
        return cdc_err_set(err, CDC_ERR_RETRY, "could not publish \"%s\" to \"%s\": %s", msg_id,
                           subject, natsStatus_GetText(st));
    }
}

/* Still no room after publish_deadline_ms: say how much is outstanding and why. */
static cdc_rc
publish_stuck(struct jssink *s, struct cdc_err *err)
{
    char why[sizeof(s->last_fail)];

    pthread_mutex_lock(&s->lock);
    memcpy(why, s->last_fail, sizeof(why));
    pthread_mutex_unlock(&s->lock);
    return cdc_err_set(
        err, CDC_ERR_RETRY,
        "no room to publish for %" PRId64 " ms: %" PRIu64 " publishes unacknowledged%s%s",
        s->o.publish_deadline_ms, jssink_pending(s), why[0] ? ", last failure: " : "", why);
}

static natsStatus
build_msg(natsMsg **out, const char *subject, const char *msg_id, const void *data, size_t len,
          const struct jssink_hdr *extra, int n_extra)
{
    natsMsg *m = NULL;
    natsStatus st;

    if (len > INT32_MAX)
        return NATS_MAX_PAYLOAD;
    st = natsMsg_Create(&m, subject, NULL, data, (int) len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    for (int i = 0; st == NATS_OK && i < n_extra; i++)
        st = natsMsgHeader_Set(m, extra[i].name, extra[i].value);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return st;
    }
    *out = m;
    return NATS_OK;
}

/*
 * Hand m to libnats unless the barrier is up. NATS_OK: taken. NATS_ILLEGAL_STATE:
 * the barrier is up (m kept). Else libnats's refusal (m kept).
 */
static natsStatus
try_publish(struct jssink *s, natsMsg **m, bool is_dlq, enum jssink_dlq_kind kind)
{
    natsStatus st;

    pthread_mutex_lock(&s->lock);
    /* the barrier is up, or the window is full: wait for acks */
    if (s->barrier || s->inflight >= s->win.cur) {
        pthread_mutex_unlock(&s->lock);
        return NATS_ILLEGAL_STATE;
    }
    /* the byte bound: wait for acks, unless nothing is in flight (one large event still goes) */
    if (s->o.max_buffer_bytes > 0 && s->inflight > 0 &&
        atomic_load(&s->pending_bytes) + (uint64_t) natsMsg_GetDataLength(*m) >
            (uint64_t) s->o.max_buffer_bytes) {
        pthread_mutex_unlock(&s->lock);
        return NATS_ILLEGAL_STATE;
    }
    if (!ring_push(s, *m)) {
        pthread_mutex_unlock(&s->lock);
        return NATS_NO_MEMORY;
    }
    ent_at(s, s->tail - 1)->is_dlq = is_dlq;
    ent_at(s, s->tail - 1)->dlq_kind = kind;
    pthread_mutex_unlock(&s->lock);
    st = js_PublishMsgAsync(s->js, m, &s->po); /* takes *m on success */
    if (st != NATS_OK) {
        /* libnats did not take it, so no ack of it can come: the entry is still the newest */
        pthread_mutex_lock(&s->lock);
        ring_pop(s);
        if (st == NATS_INSUFFICIENT_BUFFER) /* reconnecting: what is in flight may be lost */
            s->barrier = true;
        pthread_mutex_unlock(&s->lock);
    }
    return st;
}

/* Hand m over (blocking as jssink_publish() says); m is taken in every case. */
static cdc_rc
publish_msg(struct jssink *s, natsMsg *m, bool is_dlq, enum jssink_dlq_kind kind,
            const char *subject, const char *msg_id, size_t len, struct cdc_err *err)
{
    int64_t deadline = 0;
    natsStatus st;
    cdc_rc rc;

    lat_mark(s, m); /* before: the ack may come back before js_PublishMsgAsync returns */
    for (;;) {
        st = try_publish(s, &m, is_dlq, kind);
        if (st == NATS_OK)
            break;
        if (st == NATS_NO_MEMORY) {
            rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        /* barrier up, window full (after libnats's stall wait), or reconnecting: wait */
        if (st != NATS_ILLEGAL_STATE && st != NATS_TIMEOUT && st != NATS_INSUFFICIENT_BUFFER) {
            rc = publish_failed(s, st, subject, msg_id, len, err);
            goto fail;
        }
        if (deadline == 0)
            deadline = cdc_now_ms() + s->o.publish_deadline_ms;
        if (s->o.stop != NULL && *s->o.stop) {
            rc = cdc_err_set(err, CDC_ERR_CLOSED,
                             "stopping: %" PRIu64 " publishes unacknowledged, no room for more",
                             jssink_pending(s));
            goto fail;
        }
        rc = jssink_poll(s, err); /* resends what is due; reports a given-up message */
        if (rc == CDC_OK && cdc_now_ms() >= deadline)
            rc = publish_stuck(s, err);
        if (rc != CDC_OK)
            goto fail;
        if (st != NATS_TIMEOUT) /* that one already waited inside libnats */
            wait_progress(s, 10);
    }
    s->async_used = true;
    atomic_fetch_add(&s->published, 1);
    return CDC_OK;
fail:
    lat_forget(s, m);
    natsMsg_Destroy(m);
    return rc;
}

cdc_rc
jssink_publish(struct jssink *s, const char *subject, const char *msg_id, const void *data,
               size_t len, const struct jssink_hdr *extra, int n_extra, struct cdc_err *err)
{
    natsMsg *m = NULL;
    natsStatus st;

    st = build_msg(&m, subject, msg_id, data, len, extra, n_extra);
    if (st != NATS_OK)
        return st == NATS_NO_MEMORY ? cdc_err_set(err, CDC_ERR_NOMEM, "out of memory")
                                    : publish_failed(s, st, subject, msg_id, len, err);
    return publish_msg(s, m, false, JSSINK_DLQ_TOO_LARGE, subject, msg_id, len, err);
}

cdc_rc
jssink_publish_dlq(struct jssink *s, const char *subject, const char *msg_id,
                   enum jssink_dlq_kind kind, const char *why, const void *data, size_t len,
                   const struct jssink_hdr *extra, int n_extra, struct cdc_err *err)
{
    natsMsg *orig = NULL, *m = NULL;
    natsStatus st;

    /* the original's headers, without its payload: a dead letter always fits */
    st = build_msg(&orig, subject, msg_id, NULL, 0, extra, n_extra);
    if (st == NATS_OK)
        st = dlq_build(s, &m, subject, data, len > INT32_MAX ? INT32_MAX : (int) len, orig, kind,
                       why, len > jssink_max_payload(s) / 2);
    natsMsg_Destroy(orig);
    if (st != NATS_OK)
        return st == NATS_NO_MEMORY ? cdc_err_set(err, CDC_ERR_NOMEM, "out of memory")
                                    : publish_failed(s, st, subject, msg_id, 0, err);
    return publish_msg(s, m, true, kind, natsMsg_GetSubject(m), msg_id, 0, err);
}

cdc_rc
jssink_object_put(struct jssink *s, const char *bucket, const char *name, const void *data,
                  size_t len, char *digest, size_t digest_cap, struct cdc_err *err)
{
    struct jsobj_ref ref;
    cdc_rc rc = jsobj_put(s->js, bucket, s->o.replicas, name, data, len, s->o.request_timeout_ms,
                          &ref, err);

    if (rc == CDC_OK)
        snprintf(digest, digest_cap, "%s", ref.digest);
    return rc;
}

size_t
jssink_max_payload(const struct jssink *s)
{
    int64_t mp = natsConnection_GetMaxPayload(s->nc);

    if (s->max_msg_size > 0 && s->max_msg_size < mp)
        mp = s->max_msg_size;
    return mp > 0 ? (size_t) mp : 0;
}

uint64_t
jssink_pending(const struct jssink *s)
{
    uint64_t p = atomic_load(&((struct jssink *) s)->published);
    uint64_t a = atomic_load(&((struct jssink *) s)->acked);

    return p > a ? p - a : 0;
}

void
jssink_stats(const struct jssink *s, struct jssink_stats *out)
{
    struct jssink *m = (struct jssink *) s;

    out->published = atomic_load(&m->published);
    out->acked = atomic_load(&m->acked);
    out->duplicates = atomic_load(&m->duplicates);
    out->resent = atomic_load(&m->resent);
    out->pending_bytes = atomic_load(&m->pending_bytes);
    pthread_mutex_lock(&m->lock);
    out->window = m->win.cur;
    pthread_mutex_unlock(&m->lock);
}

cdc_rc
jssink_flush(struct jssink *s, int64_t timeout_ms, struct cdc_err *err)
{
    int64_t deadline = cdc_now_ms() + timeout_ms;
    cdc_rc rc;

    while (jssink_pending(s) > 0) {
        rc = jssink_poll(s, err);
        if (rc != CDC_OK)
            return rc;
        if (cdc_now_ms() >= deadline)
            return cdc_err_set(err, CDC_ERR_TIMEOUT,
                               "%" PRIu64 " publishes still unacknowledged after %" PRId64 " ms",
                               jssink_pending(s), timeout_ms);
        wait_progress(s, 5);
    }
    return CDC_OK;
}

cdc_rc
jssink_publish_core(struct jssink *s, const char *subject, const void *data, size_t len,
                    struct cdc_err *err)
{
    natsStatus st;

    if (len > (size_t) INT32_MAX)
        return cdc_err_set(err, CDC_ERR_PROTO, "message of %zu bytes for \"%s\" is too large", len,
                           subject);
    st = natsConnection_Publish(s->nc, subject, data, (int) len);
    if (st != NATS_OK)
        return cdc_err_set(err, CDC_ERR_RETRY, "could not publish on \"%s\": %s", subject,
                           natsStatus_GetText(st));
    return CDC_OK;
}
