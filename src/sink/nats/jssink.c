/*
 * jssink.c - asynchronous JetStream publishing with resends; see jssink.h.
 *
 * Threads: the owner calls create/publish/poll/flush/destroy. libnats calls
 * on_pub_ack() on its own thread, once per attempt, and hands us the message
 * (nats.h, jsPubAckHandler: the handler owns it). A success goes to
 * opts.on_ack and the message is freed. A failure a resend can fix puts the
 * message on the retry list, under `lock`, due after the next backoff delay;
 * the owner's next jssink_poll() resends it under the same Nats-Msg-Id (never
 * from the handler: a resend can stall on a full window, and the window only
 * empties when handlers return). A failure a resend cannot fix is kept as the
 * fatal error for the owner to see.
 *
 * With jsPubOptions.MaxWait set, libnats 3.4 fails an unacked async publish
 * with NATS_TIMEOUT (a timer in js.c). An attempt that timed out is removed
 * from libnats's pending map, so its late ack, if any, is dropped there: each
 * message reaches opts.on_ack exactly once, whatever the number of attempts.
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
#include "sink/nats/jsconn.h"

struct retry {
    natsMsg *msg;
    int64_t due_ms;
};

/* A sampled publish (see opts.on_latency): which message, sent when. */
#define LAT_SLOTS 32
struct lat_sample {
    _Atomic(const natsMsg *) msg; /* identity only; NULL: free */
    _Atomic int64_t sent_us;
};

/* A message that got "no responders": since when, to give it up after no_responders_limit_ms. */
struct nr_mark {
    const natsMsg *msg; /* identity only: the message may be inside libnats */
    int64_t since_ms;
};

struct jssink {
    struct jssink_opts o;
    char *stream;
    char *prefix;
    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    jsPubOptions po;

    pthread_mutex_t lock;     /* guards everything down to last_fail */
    pthread_cond_t closed_cv; /* signalled by on_closed */
    bool closed;              /* the connection's closed callback ran (under lock) */
    struct retry *retries;    /* failed publishes waiting to be resent */
    size_t n_retries, cap_retries;
    struct nr_mark *nr; /* messages whose last attempt got "no responders" */
    size_t n_nr, cap_nr;
    struct backoff bo;
    char fatal[CDC_ERR_MSG_MAX]; /* non-empty once a message has been given up */
    char last_fail[200];         /* why the last resent message failed, for timeout messages */

    bool async_used; /* libnats built its async-publish state (first publish handed over) */
    struct lat_sample lat[LAT_SLOTS];

    _Atomic uint64_t published;
    _Atomic uint64_t acked;
    _Atomic uint64_t duplicates;
    _Atomic uint64_t resent;
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

/* lock held */
static ssize_t
nr_find(const struct jssink *s, const natsMsg *msg)
{
    for (size_t i = 0; i < s->n_nr; i++)
        if (s->nr[i].msg == msg)
            return (ssize_t) i;
    return -1;
}

/* lock held */
static void
nr_forget(struct jssink *s, const natsMsg *msg)
{
    ssize_t i = s->n_nr > 0 ? nr_find(s, msg) : -1;

    if (i >= 0)
        s->nr[i] = s->nr[--s->n_nr];
}

/* lock held. Remember since when msg gets "no responders"; false if out of memory. */
static bool
nr_note(struct jssink *s, const natsMsg *msg)
{
    if (nr_find(s, msg) >= 0)
        return true;
    if (s->n_nr == s->cap_nr) {
        size_t ncap = s->cap_nr ? s->cap_nr * 2 : 16;
        struct nr_mark *r = realloc(s->nr, ncap * sizeof(*r));

        if (r == NULL)
            return false;
        s->nr = r;
        s->cap_nr = ncap;
    }
    s->nr[s->n_nr].msg = msg;
    s->nr[s->n_nr].since_ms = cdc_now_ms();
    s->n_nr++;
    return true;
}

/* lock held. Give msg up: keep the reason for the owner, and free it. */
static void
give_up(struct jssink *s, natsMsg *msg, const char *why)
{
    if (s->fatal[0] == '\0')
        snprintf(s->fatal, sizeof(s->fatal), "%s", why);
    nr_forget(s, msg);
    natsMsg_Destroy(msg);
}

/* lock held. Queue msg for a resend after the next backoff delay (or at once when !backoff). */
static void
queue_resend(struct jssink *s, natsMsg *msg, bool backoff)
{
    if (s->n_retries == s->cap_retries) {
        size_t ncap = s->cap_retries ? s->cap_retries * 2 : 64;
        struct retry *r = realloc(s->retries, ncap * sizeof(*r));

        if (r == NULL) {
            give_up(s, msg, "out of memory keeping a message to resend");
            return;
        }
        s->retries = r;
        s->cap_retries = ncap;
    }
    s->retries[s->n_retries].msg = msg;
    s->retries[s->n_retries].due_ms = cdc_now_ms() + (backoff ? backoff_next_ms(&s->bo) : 0);
    s->n_retries++;
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
    lat_acked(s, msg);
    if (s->o.on_ack != NULL && id != NULL)
        s->o.on_ack(s->o.closure, id, strlen(id), true, pa->Duplicate, pa->Sequence);
    if (pa->Duplicate)
        atomic_fetch_add(&s->duplicates, 1);
    /* counted after on_ack: once jssink_flush() sees nothing pending, every on_ack has returned */
    atomic_fetch_add(&s->acked, 1);
    pthread_mutex_lock(&s->lock);
    backoff_reset(&s->bo);
    nr_forget(s, msg);
    pthread_mutex_unlock(&s->lock);
    natsMsg_Destroy(msg);
}

static void
ack_failed(struct jssink *s, natsMsg *msg, const char *id, const jsPubAckErr *pae)
{
    enum ack_fail kind = classify_failure(pae);
    const char *text = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    char why[CDC_ERR_MSG_MAX];

    pthread_mutex_lock(&s->lock);
    snprintf(s->last_fail, sizeof(s->last_fail), "%s", text);
    if (kind == ACK_FAIL_REJECTED) {
        snprintf(why, sizeof(why), "stream \"%s\" rejected message \"%s\" on \"%s\": %s (error %d)",
                 s->stream, id ? id : "?", natsMsg_GetSubject(msg), text, (int) pae->ErrCode);
        give_up(s, msg, why);
    } else if (kind == ACK_FAIL_NO_RESPONDERS && !nr_note(s, msg)) {
        give_up(s, msg, "out of memory keeping a message to resend");
    } else {
        if (kind == ACK_FAIL_RESEND)
            nr_forget(s, msg);      /* the limit is for "no responders" without a break */
        queue_resend(s, msg, true); /* we own msg now; the owner thread resends it */
    }
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

/* libnats thread: the connection dropped (it reconnects by itself) or came back. */
static void
on_disconnected(natsConnection *nc, void *closure)
{
    struct jssink *s = closure;

    (void) nc;
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
    pthread_cond_broadcast(&s->closed_cv);
    pthread_mutex_unlock(&s->lock);
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
    struct jssink *s = closure;

    (void) nc;
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
    pthread_cond_init(&s->closed_cv, NULL);
    backoff_init(&s->bo, o->retry_base_ms, o->retry_cap_ms,
                 (uint64_t) cdc_now_ms() ^ (uint64_t) getpid());
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
    jsPubOptions_Init(&s->po);
    s->po.MaxWait =
        o->ack_timeout_ms; /* an unacked publish fails with NATS_TIMEOUT, then is resent */
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
        while (!s->closed && pthread_cond_timedwait(&s->closed_cv, &s->lock, &until) == 0)
            ;
        pthread_mutex_unlock(&s->lock);
    }
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->nopts);
    for (size_t i = 0; i < s->n_retries; i++)
        natsMsg_Destroy(s->retries[i].msg);
    free(s->retries);
    free(s->nr);
    pthread_cond_destroy(&s->closed_cv);
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
        rc = cdc_err_set(err, CDC_ERR_FATAL, "%s", m->fatal);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* lock held. Has msg had "no responders" for too long? Then give it up and say so. */
static bool
given_up_no_stream(struct jssink *s, natsMsg *msg, int64_t now)
{
    ssize_t i = s->n_nr > 0 ? nr_find(s, msg) : -1;
    char why[CDC_ERR_MSG_MAX];
    int64_t waited;

    if (i < 0 || (waited = now - s->nr[i].since_ms) < s->o.no_responders_limit_ms)
        return false;
    snprintf(why, sizeof(why),
             "no stream matches subject \"%s\" (no responders for %" PRId64
             " ms): was stream \"%s\" deleted, or its subjects changed?",
             natsMsg_GetSubject(msg), waited, s->stream);
    give_up(s, msg, why);
    return true;
}

/* lock held. Take the first message due for a resend off the list, or NULL. */
static natsMsg *
next_due(struct jssink *s, int64_t now)
{
    size_t i = 0;

    while (i < s->n_retries) {
        natsMsg *m = s->retries[i].msg;

        if (s->retries[i].due_ms > now) {
            i++;
            continue;
        }
        s->retries[i] = s->retries[--s->n_retries];
        if (!given_up_no_stream(s, m, now))
            return m;
    }
    return NULL;
}

cdc_rc
jssink_poll(struct jssink *s, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();

    for (;;) {
        natsMsg *m;
        natsStatus st;

        pthread_mutex_lock(&s->lock);
        m = s->fatal[0] == '\0' ? next_due(s, now) : NULL;
        pthread_mutex_unlock(&s->lock);
        if (m == NULL)
            break;
        /* outside the lock: a stalled publish waits for the AckHandler, which takes it */
        st = js_PublishMsgAsync(s->js, &m, &s->po);
        if (st == NATS_OK) {
            atomic_fetch_add(&s->resent, 1);
            s->async_used = true;
            continue;
        }
        /* window full, or the reconnect buffer is: try again at the next poll, not now */
        pthread_mutex_lock(&s->lock);
        queue_resend(s, m, false);
        pthread_mutex_unlock(&s->lock);
        break;
    }
    return jssink_last_error(s, err);
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

cdc_rc
jssink_publish(struct jssink *s, const char *subject, const char *msg_id, const void *data,
               size_t len, const struct jssink_hdr *extra, int n_extra, struct cdc_err *err)
{
    int64_t deadline = 0;
    natsMsg *m = NULL;
    natsStatus st;
    cdc_rc rc;

    st = build_msg(&m, subject, msg_id, data, len, extra, n_extra);
    if (st != NATS_OK)
        return st == NATS_NO_MEMORY ? cdc_err_set(err, CDC_ERR_NOMEM, "out of memory")
                                    : publish_failed(s, st, subject, msg_id, len, err);
    lat_mark(s, m); /* before: the ack may come back before js_PublishMsgAsync returns */
    for (;;) {
        st = js_PublishMsgAsync(s->js, &m, &s->po); /* takes m on success */
        if (st == NATS_OK)
            break;
        /* window full (after the stall wait), or reconnect buffer full: wait for acks */
        if (st != NATS_TIMEOUT && st != NATS_INSUFFICIENT_BUFFER) {
            rc = publish_failed(s, st, subject, msg_id, len, err);
            goto fail;
        }
        if (deadline == 0)
            deadline = cdc_now_ms() + s->o.publish_deadline_ms;
        rc = jssink_poll(s, err); /* resends due messages; reports a given-up one */
        if (rc == CDC_OK && cdc_now_ms() >= deadline)
            rc = publish_stuck(s, err);
        if (rc != CDC_OK)
            goto fail;
        if (st == NATS_INSUFFICIENT_BUFFER)
            usleep(10000); /* this one does not wait inside libnats */
    }
    s->async_used = true;
    atomic_fetch_add(&s->published, 1);
    return CDC_OK;
fail:
    lat_forget(s, m);
    natsMsg_Destroy(m);
    return rc;
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
        usleep(2000);
    }
    return CDC_OK;
}
