/*
 * jsread.c - reading a stream back: every message now in it
 * (jssink_read_stream, for tests and tools), or following it
 * (jssink_tail, for `cdc-handler tail` and the demo). An ordered, ephemeral
 * consumer delivers in stream order with no acks to manage.
 */
#include "sink/nats/jssink.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "sink/nats/jsconn.h"

struct reader {
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    uint64_t last_seq; /* the stream's last sequence when we started */
};

static void
reader_close(struct reader *r)
{
    /*
     * Close the connection first: it joins libnats's read loop, which in 3.4 may still be
     * handing a message to the subscription (fixed in nats.c 3.6, #638); destroying the
     * subscription under it crashed test processes now and then.
     */
    if (r->nc != NULL)
        natsConnection_Close(r->nc);
    natsSubscription_Destroy(r->sub);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    natsOptions_Destroy(r->opts);
}

static cdc_rc
reader_open(struct reader *r, const struct jssink_opts *o, const char *stream, const char *filter,
            bool from_start, struct cdc_err *err)
{
    jsStreamInfo *si = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    const char *subject;
    natsStatus st;
    cdc_rc rc;

    memset(r, 0, sizeof(*r));
    rc = jsconn_open(&r->nc, &r->opts, o, false, NULL, err);
    if (rc != CDC_OK)
        return rc;
    st = natsConnection_JetStream(&r->js, r->nc, NULL);
    if (st == NATS_OK)
        st = js_GetStreamInfo(&si, r->js, stream, NULL, &jerr);
    if (st != NATS_OK) {
        reader_close(r);
        return cdc_err_set(err, CDC_ERR_RETRY, "could not look up stream \"%s\": %s (error %d)",
                           stream, natsStatus_GetText(st), (int) jerr);
    }
    r->last_seq = si->State.LastSeq;
    /* a consumer needs a subject: the stream's only one, or all of them */
    subject = filter ? filter : (si->Config->SubjectsLen == 1 ? si->Config->Subjects[0] : ">");
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = from_start ? js_DeliverAll : js_DeliverNew;
    st = js_SubscribeSync(&r->sub, r->js, subject, NULL, &so, &jerr);
    jsStreamInfo_Destroy(si);
    /* we may read slower than the server pushes (a test under ASan): never drop, buffer */
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(r->sub, -1, -1);
    if (st != NATS_OK) {
        reader_close(r);
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "could not subscribe to stream \"%s\": %s (error %d)", stream,
                           natsStatus_GetText(st), (int) jerr);
    }
    return CDC_OK;
}

/* Deliver one message; returns its stream sequence (0 if unknown). */
static uint64_t
deliver(natsMsg *m, jssink_msg_fn cb, void *c)
{
    jsMsgMetaData *meta = NULL;
    const char *id = NULL;
    uint64_t seq = 0;

    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
    }
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    cb(c, natsMsg_GetSubject(m), natsMsg_GetData(m), natsMsg_GetDataLength(m), id, seq);
    return seq;
}

cdc_rc
jssink_read_stream(const char *url, const char *stream, const char *filter_subject,
                   jssink_msg_fn cb, void *c, int64_t timeout_ms, struct cdc_err *err)
{
    struct jssink_opts o;

    jssink_opts_init(&o);
    o.urls = &url;
    o.n_urls = 1;
    o.request_timeout_ms = 0; /* the library's default connect timeout, as before */
    return jssink_read_stream_with(&o, stream, filter_subject, cb, c, timeout_ms, err);
}

cdc_rc
jssink_read_stream_with(const struct jssink_opts *o, const char *stream, const char *filter_subject,
                        jssink_msg_fn cb, void *c, int64_t timeout_ms, struct cdc_err *err)
{
    struct reader r;
    uint64_t seq = 0;
    cdc_rc rc;

    rc = reader_open(&r, o, stream, filter_subject, true, err);
    if (rc != CDC_OK)
        return rc;
    /* with a filter we cannot know the last matching sequence: stop at the first quiet spell */
    while (filter_subject != NULL || seq < r.last_seq) {
        natsMsg *m = NULL;
        natsStatus st = natsSubscription_NextMsg(&m, r.sub, filter_subject ? 500 : timeout_ms);

        if (st == NATS_TIMEOUT && filter_subject != NULL)
            break;
        if (st != NATS_OK) {
            reader_close(&r);
            return cdc_err_set(err, CDC_ERR_TIMEOUT,
                               "reading stream \"%s\": %s after sequence %llu of %llu", stream,
                               natsStatus_GetText(st), (unsigned long long) seq,
                               (unsigned long long) r.last_seq);
        }
        seq = deliver(m, cb, c);
        natsMsg_Destroy(m);
    }
    reader_close(&r);
    return CDC_OK;
}

cdc_rc
jssink_tail(const struct jssink_opts *o, const char *stream, const char *filter_subject,
            bool from_start, jssink_msg_fn cb, void *c, volatile sig_atomic_t *stop,
            struct cdc_err *err)
{
    struct reader r;
    cdc_rc rc;

    rc = reader_open(&r, o, stream, filter_subject, from_start, err);
    if (rc != CDC_OK)
        return rc;
    while (!*stop) {
        natsMsg *m = NULL;
        natsStatus st = natsSubscription_NextMsg(&m, r.sub, 200);

        if (st == NATS_TIMEOUT)
            continue;
        if (st != NATS_OK) {
            reader_close(&r);
            return cdc_err_set(err, CDC_ERR_RETRY, "following stream \"%s\": %s", stream,
                               natsStatus_GetText(st));
        }
        deliver(m, cb, c);
        natsMsg_Destroy(m);
    }
    reader_close(&r);
    return CDC_OK;
}
