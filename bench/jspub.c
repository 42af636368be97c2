/*
 * jspub.c - the broker limit for the benchmark: raw asynchronous JetStream
 * publishing with libnats, the same way cdc-handler publishes (async, a
 * Nats-Msg-Id header on every message, a bounded in-flight window), but with
 * no database and no encoding. Counted to the last PubAck.
 *
 *   jspub URL STREAM SUBJECT COUNT SIZE [MAX_PENDING]   publish, print "msgs secs rate"
 *   jspub --info URL STREAM                             print "msgs bytes" of a stream
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

static _Atomic int64_t acked;
static _Atomic int64_t failed;

static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void) js;
    (void) msg;
    (void) pa;
    (void) closure;
    if (pae != NULL)
        atomic_fetch_add(&failed, 1);
    else
        atomic_fetch_add(&acked, 1);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
die(const char *what, natsStatus s)
{
    fprintf(stderr, "jspub: %s: %s\n", what, natsStatus_GetText(s));
    return 1;
}

static int
info(natsConnection *nc, const char *stream)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    natsStatus s;

    s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, stream, NULL, NULL);
    if (s != NATS_OK)
        return die("stream info", s);
    printf("%" PRIu64 " %" PRIu64 "\n", si->State.Msgs, si->State.Bytes);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    return 0;
}

static int
publish(natsConnection *nc, const char *stream, const char *subject, long count, long size,
        long max_pending)
{
    jsOptions o;
    jsStreamConfig sc;
    jsCtx *js = NULL;
    const char *subjects[1] = {subject};
    char *payload, id[64];
    double t0, t1;
    natsStatus s;

    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = max_pending;
    o.PublishAsync.AckHandler = on_ack;
    s = natsConnection_JetStream(&js, nc, &o);
    if (s != NATS_OK)
        return die("jetstream", s);
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    s = js_AddStream(NULL, js, &sc, NULL, NULL);
    if (s != NATS_OK)
        return die("add stream", s);
    payload = malloc((size_t) size);
    memset(payload, 'x', (size_t) size);
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        natsMsg *m = NULL;

        snprintf(id, sizeof(id), "bench-%ld", i);
        s = natsMsg_Create(&m, subject, NULL, payload, (int) size);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        while (s == NATS_OK) {
            s = js_PublishMsgAsync(js, &m, NULL);
            if (s != NATS_TIMEOUT)
                break;
            s = NATS_OK; /* the in-flight window is full: try again */
        }
        natsMsg_Destroy(m);
        if (s != NATS_OK)
            return die("publish", s);
    }
    {
        jsPubOptions po;

        jsPubOptions_Init(&po);
        po.MaxWait = 120000;
        s = js_PublishAsyncComplete(js, &po);
        if (s != NATS_OK)
            return die("complete", s);
    }
    t1 = now_s();
    printf("%" PRId64 " %.3f %.0f %" PRId64 "\n", atomic_load(&acked), t1 - t0,
           (double) atomic_load(&acked) / (t1 - t0), atomic_load(&failed));
    free(payload);
    jsCtx_Destroy(js);
    return 0;
}

int
main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    natsStatus s;
    int rc;

    if (argc == 4 && strcmp(argv[1], "--info") == 0) {
        if ((s = natsConnection_ConnectTo(&nc, argv[2])) != NATS_OK)
            return die("connect", s);
        rc = info(nc, argv[3]);
    } else if (argc == 6 || argc == 7) {
        if ((s = natsConnection_ConnectTo(&nc, argv[1])) != NATS_OK)
            return die("connect", s);
        rc = publish(nc, argv[2], argv[3], atol(argv[4]), atol(argv[5]),
                     argc == 7 ? atol(argv[6]) : 4000);
    } else {
        fprintf(stderr, "usage: jspub URL STREAM SUBJECT COUNT SIZE [MAX_PENDING]\n"
                        "       jspub --info URL STREAM\n");
        return 2;
    }
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
