/*
 * jssink.c - asynchronous JetStream publishing with resends; see jssink.h.
 *
 * Threads: the owner calls create/publish/poll/flush/destroy. libnats calls
 * on_pub_ack() on its own thread: a success is handed to opts.on_ack; a
 * failure that a resend can fix (ack timeout, no responders while a leader is
 * elected) keeps the message on the retry list, under `lock`, with a due
 * time from the backoff; the owner's next poll resends it under the same
 * Nats-Msg-Id. A failure the server reports for the message itself is kept
 * as the fatal error for the owner to see.
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

struct retry {
    natsMsg *msg;
    int64_t due_ms;
};

struct jssink {
    struct jssink_opts o;
    char *stream;
    char *prefix;
    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    jsPubOptions po;

    pthread_mutex_t lock;  /* guards retries, bo and fatal */
    struct retry *retries; /* failed publishes waiting to be resent */
    size_t n_retries, cap_retries;
    struct backoff bo;
    char fatal[CDC_ERR_MSG_MAX]; /* non-empty once the stream rejected a message */

    _Atomic uint64_t published;
    _Atomic uint64_t acked;
    _Atomic uint64_t duplicates;
    _Atomic uint64_t resent;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
}

/* A URL for messages, with any user:password@ replaced by three asterisks. */
static void
safe_url(const char *url, char *out, size_t n)
{
    const char *at = strrchr(url, '@'), *scheme = strstr(url, "://");

    if (at == NULL) {
        snprintf(out, n, "%s", url);
        return;
    }
    if (scheme != NULL && scheme < at)
        snprintf(out, n, "%.*s***%s", (int) (scheme + 3 - url), url, at);
    else
        snprintf(out, n, "***%s", at);
}

static void
url_list(const struct jssink_opts *o, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < o->n_urls && used + 1 < n; i++) {
        char one[256];

        safe_url(o->urls[i], one, sizeof(one));
        used += (size_t) snprintf(out + used, n - used, "%s%s", i ? "," : "", one);
    }
}

/* Ack timeouts and missing responders are fixed by a resend; a server verdict on the message is
 * not. */
static bool
is_transient(const jsPubAckErr *pae)
{
    return pae->Err == NATS_TIMEOUT || pae->Err == NATS_NO_RESPONDERS ||
           pae->Err == NATS_CONNECTION_CLOSED || pae->Err == NATS_CONNECTION_DISCONNECTED ||
           pae->ErrCode == 0;
}

static void
keep_for_retry(struct jssink *s, natsMsg *msg)
{
    pthread_mutex_lock(&s->lock);
    if (s->n_retries == s->cap_retries) {
        size_t ncap = s->cap_retries ? s->cap_retries * 2 : 64;
        struct retry *r = realloc(s->retries, ncap * sizeof(*r));

        if (r == NULL) {
            snprintf(s->fatal, sizeof(s->fatal), "out of memory keeping a message to resend");
            pthread_mutex_unlock(&s->lock);
            natsMsg_Destroy(msg);
            return;
        }
        s->retries = r;
        s->cap_retries = ncap;
    }
    s->retries[s->n_retries].msg = msg;
    s->retries[s->n_retries].due_ms = now_ms() + backoff_next_ms(&s->bo);
    s->n_retries++;
    pthread_mutex_unlock(&s->lock);
}

/* libnats thread. */
static void
on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct jssink *s = closure;
    const char *id = NULL;

    (void) js;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    if (pa != NULL) {
        atomic_fetch_add(&s->acked, 1);
        if (pa->Duplicate)
            atomic_fetch_add(&s->duplicates, 1);
        if (s->o.on_ack != NULL && id != NULL)
            s->o.on_ack(s->o.closure, id, strlen(id), true, pa->Duplicate, pa->Sequence);
        pthread_mutex_lock(&s->lock);
        backoff_reset(&s->bo);
        pthread_mutex_unlock(&s->lock);
        natsMsg_Destroy(msg);
        return;
    }
    if (pae != NULL && is_transient(pae)) {
        keep_for_retry(s, msg); /* we own msg now; it is resent by the owner thread */
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->fatal[0] == '\0')
        snprintf(s->fatal, sizeof(s->fatal),
                 "stream \"%s\" rejected message \"%s\" on \"%s\": %s (error %d)", s->stream,
                 id ? id : "?", natsMsg_GetSubject(msg),
                 pae && pae->ErrText ? pae->ErrText : "unknown error",
                 pae ? (int) pae->ErrCode : 0);
    pthread_mutex_unlock(&s->lock);
    natsMsg_Destroy(msg);
}

/* o is the caller's options: urls and password are used here and not kept */
static cdc_rc
connect_nats(struct jssink *s, const struct jssink_opts *o, struct cdc_err *err)
{
    char urls[1024];
    natsStatus st;

    url_list(o, urls, sizeof(urls));
    st = natsOptions_Create(&s->nopts);
    if (st == NATS_OK)
        st = natsOptions_SetServers(s->nopts, (const char **) o->urls, o->n_urls);
    if (st == NATS_OK && o->username != NULL)
        st = natsOptions_SetUserInfo(s->nopts, o->username, o->password ? o->password : "");
    if (st == NATS_OK && o->name != NULL)
        st = natsOptions_SetName(s->nopts, o->name);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(s->nopts, o->request_timeout_ms);
    /* once connected, never give up: reconnect with jitter, buffering publishes meanwhile */
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(s->nopts, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(s->nopts, 1000);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectJitter(s->nopts, 500, 1000);
    if (st != NATS_OK)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid NATS options for %s: %s", urls,
                           natsStatus_GetText(st));
    st = natsConnection_Connect(&s->nc, s->nopts);
    if (st != NATS_OK) {
        cdc_rc rc = st == NATS_NOT_PERMITTED || st == NATS_CONNECTION_AUTH_FAILED ? CDC_ERR_FATAL
                                                                                  : CDC_ERR_RETRY;
        return cdc_err_set(err, rc, "could not connect to NATS at %s: %s", urls,
                           natsStatus_GetText(st));
    }
    return CDC_OK;
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
        return cdc_err_set(err, CDC_ERR_RETRY, "could not look up stream \"%s\": %s (error %d)",
                           s->stream, natsStatus_GetText(st), (int) jerr);
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
    backoff_init(&s->bo, o->retry_base_ms, o->retry_cap_ms,
                 (uint64_t) now_ms() ^ (uint64_t) getpid());
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
    rc = connect_nats(s, o, err);
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

void
jssink_destroy(struct jssink *s)
{
    if (s == NULL)
        return;
    /* closing the connection stops the ack handler before the state it uses goes away */
    if (s->nc != NULL)
        natsConnection_Close(s->nc);
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->nopts);
    for (size_t i = 0; i < s->n_retries; i++)
        natsMsg_Destroy(s->retries[i].msg);
    free(s->retries);
    pthread_mutex_destroy(&s->lock);
    free(s->stream);
    free(s->prefix);
    free(s);
}

cdc_rc
jssink_poll(struct jssink *s, struct cdc_err *err)
{
    int64_t now = now_ms();
    size_t i = 0;

    pthread_mutex_lock(&s->lock);
    if (s->fatal[0] != '\0') {
        cdc_rc rc = cdc_err_set(err, CDC_ERR_FATAL, "%s", s->fatal);

        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    while (i < s->n_retries) {
        natsMsg *m = s->retries[i].msg;
        natsStatus st;

        if (s->retries[i].due_ms > now) {
            i++;
            continue;
        }
        /* publish outside the lock: the ack handler may need it */
        s->retries[i] = s->retries[--s->n_retries];
        pthread_mutex_unlock(&s->lock);
        st = js_PublishMsgAsync(s->js, &m, &s->po);
        if (st == NATS_OK)
            atomic_fetch_add(&s->resent, 1);
        else
            keep_for_retry(s, m); /* window full or disconnected: later */
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return CDC_OK;
}

cdc_rc
jssink_publish(struct jssink *s, const char *subject, const char *msg_id, const void *data,
               size_t len, const struct jssink_hdr *extra, int n_extra, struct cdc_err *err)
{
    int64_t deadline = 0;
    natsMsg *m = NULL;
    natsStatus st;
    cdc_rc rc;

    st = natsMsg_Create(&m, subject, NULL, data, (int) len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    for (int i = 0; st == NATS_OK && i < n_extra; i++)
        st = natsMsgHeader_Set(m, extra[i].name, extra[i].value);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return cdc_err_set(err, CDC_ERR_NOMEM, "could not build message \"%s\": %s", msg_id,
                           natsStatus_GetText(st));
    }
    for (;;) {
        st = js_PublishMsgAsync(s->js, &m, &s->po); /* takes m on success */
        if (st == NATS_OK)
            break;
        if (st != NATS_TIMEOUT) {
            natsMsg_Destroy(m);
            return cdc_err_set(err, st == NATS_MAX_PAYLOAD ? CDC_ERR_FATAL : CDC_ERR_RETRY,
                               "could not publish \"%s\" to \"%s\": %s", msg_id, subject,
                               natsStatus_GetText(st));
        }
        /* the window is full (StallWait passed): resend what is due, then try again */
        if (deadline == 0)
            deadline = now_ms() + s->o.publish_deadline_ms;
        rc = jssink_poll(s, err);
        if (rc == CDC_OK && now_ms() >= deadline)
            rc = cdc_err_set(err, CDC_ERR_RETRY,
                             "no JetStream acks for %" PRId64 " ms: %" PRIu64
                             " publishes outstanding",
                             s->o.publish_deadline_ms, jssink_pending(s));
        if (rc != CDC_OK) {
            natsMsg_Destroy(m);
            return rc;
        }
    }
    atomic_fetch_add(&s->published, 1);
    return CDC_OK;
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
    int64_t deadline = now_ms() + timeout_ms;
    cdc_rc rc;

    while (jssink_pending(s) > 0) {
        rc = jssink_poll(s, err);
        if (rc != CDC_OK)
            return rc;
        if (now_ms() >= deadline)
            return cdc_err_set(err, CDC_ERR_TIMEOUT, "%" PRIu64 " publishes still unacknowledged",
                               jssink_pending(s));
        usleep(2000);
    }
    return CDC_OK;
}
