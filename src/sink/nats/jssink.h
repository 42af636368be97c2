/*
 * jssink.h - the NATS JetStream publisher (libnats 3.4).
 *
 * Publishes asynchronously with a bounded in-flight window: when the window
 * is full jssink_publish() blocks, which is the backpressure that stops the
 * reader. The window adapts (core/window.h): it starts at 16, doubles while
 * acks come back within a hundredth of ack_timeout_ms, up to max_pending,
 * halves when they take over a tenth of it, and starts over at 16 after any
 * failure. Every message carries Nats-Msg-Id, so a resend after
 * a timed-out or failed ack is deduplicated by the stream.
 *
 * Acks arrive on a libnats thread: they are handed to opts.on_ack, which
 * must only record them. Failed publishes are kept and resent with
 * exponential backoff and full jitter by jssink_poll()/jssink_flush() on the
 * owner's thread, until acked.
 *
 * Order is kept across failures: after a failed or timed-out ack, or a lost
 * connection, jssink_publish() sends nothing new (it blocks, as on a full
 * window) until the failed messages have been resent, oldest first, and
 * acknowledged. So the stream stores messages in publish order, whatever
 * happened to the connection (jssink.c explains how).
 *
 * What is resent, and what is not:
 * - resent until acked: an ack that times out (ack_timeout_ms, also while the
 *   connection is down), a reply that cannot be read, and the JetStream errors
 *   that describe a passing state of the server (cluster or stream leader not
 *   available, stream offline, insufficient resources);
 * - resent for at most no_responders_limit_ms: "no responders", which is what
 *   a publish gets while a stream leader is being elected but also when no
 *   stream matches the subject any more (stream deleted, subjects changed);
 * - never resent: any other JetStream error about the message (message larger
 *   than the stream's max_msg_size, stream limits with discard=new, sealed
 *   stream, ...), and a message larger than the server's max_payload, which
 *   jssink_publish() refuses at once.
 * With opts.dlq, a message the stream rejects is published instead as a
 * dead letter (jssink_dlq_subject(), the reason in headers, the same id) and
 * counts as acked once that is. Otherwise, and for a dead letter rejected
 * too, a message that is not resent any more makes jssink_poll(),
 * jssink_flush() and jssink_last_error() return CDC_ERR_FATAL with the
 * reason; the message stays counted as pending (never acked). The supervisor
 * decides what next.
 *
 * Knows libnats, streams, subjects and acks; knows nothing of SQL or pgoutput.
 * One owner thread calls everything but the callbacks.
 */
#ifndef CDC_SINK_NATS_JSSINK_H
#define CDC_SINK_NATS_JSSINK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define JSSINK_LATENCY_SAMPLE 64

/* Why an event went to the dead-letter queue (the cdc_dlq_events_total reason label). */
enum jssink_dlq_kind {
    JSSINK_DLQ_TOO_LARGE =
        0,               /* larger than the server's max_payload or the stream's max_msg_size */
    JSSINK_DLQ_REJECTED, /* the stream refused it (any other JetStream error) */
    JSSINK_DLQ_ENCODE,   /* it could not be encoded */
    JSSINK_DLQ_PUBLISH_FAILED /* max_attempts passing errors, with dlq_on_publish_failure */
};
#define JSSINK_DLQ_KINDS 4

/* Called once per message, when it is finally acknowledged (on a libnats thread). */
typedef void (*jssink_ack_fn)(void *closure, const char *msg_id, size_t id_len, bool ok,
                              bool duplicate, uint64_t stream_seq);

struct jssink_opts {
    const char *const *urls; /* server URLs (the design's nats.urls) */
    int n_urls;
    const char *username;         /* NULL: none */
    const char *password;         /* secret: never in an error message */
    const char *token;            /* secret: token authentication; NULL: none */
    const char *nkey_seed_file;   /* a user NKey seed file (nkey authentication); NULL: none */
    const char *credentials_file; /* a .creds file (JWT + seed); NULL: none */
    const char *tls_ca_file;      /* CA bundle (PEM) to verify servers; setting it requires TLS */
    const char *tls_cert_file;    /* client certificate chain (PEM) for mutual TLS */
    const char *tls_key_file;     /* its private key (PEM) */
    const char *name;             /* connection name (the design's nats.cluster_id) */
    int64_t request_timeout_ms;   /* connect and JetStream API timeout, default 10000 */
    const char *stream;           /* stream name, default "CDC" */
    const char *subject_prefix;   /* the stream must cover "{prefix}.>", default "cdc" */
    bool storage_memory;          /* memory storage instead of file (new streams only) */
    int replicas;                 /* new streams only, default 1 */
    int64_t duplicate_window_ms;  /* new streams only, default 120000 */
    int max_pending;              /* the largest in-flight window (it adapts below), default 1000 */
    int64_t max_buffer_bytes;     /* payload bytes unacknowledged before jssink_publish blocks (a
                                     message still goes when nothing is in flight); 0: no bound */
    int64_t ack_timeout_ms;       /* a publish not acked by then is resent, default 5000 */
    int64_t
        publish_deadline_ms; /* jssink_publish gives up (CDC_ERR_RETRY) after this, default 30000 */
    int64_t retry_base_ms;   /* resend backoff: first ceiling, default 100 */
    int64_t retry_cap_ms;    /* resend backoff: largest ceiling, default 8000 */
    int64_t no_responders_limit_ms; /* give a message up after "no responders" for this long,
                                       default 30000 (longer than a leader election) */
    /* Dead-letter queue: a message the stream rejects is published instead to the DLQ
       subject (jssink_dlq_subject()) with the reason in headers, under the same Nats-Msg-Id,
       and counts as acked once that is; off: the rejection is fatal. */
    bool dlq;
    /* A message the server answered with a passing error (no responders, cluster or leader
       unavailable, ...) max_attempts times (0: no limit) is dead-lettered when
       dlq_on_publish_failure, else given up with CDC_ERR_RETRY (the run stops, nothing is
       confirmed past it). Timeouts and a lost connection do not count: they are the broker's
       state, not the message's. */
    int max_attempts;
    bool dlq_on_publish_failure;
    /* a dead letter was acked (libnats thread); may be NULL */
    void (*on_dlq)(void *closure, enum jssink_dlq_kind kind);
    /* set by a signal handler: a publish waiting for room gives up at once (CDC_ERR_CLOSED),
       so that a shutdown is not held up by an outage; may be NULL */
    volatile sig_atomic_t *stop;
    jssink_ack_fn on_ack; /* may be NULL */
    void *closure;        /* passed to on_ack and on_latency */
    /* publish -> PubAck time of one publish in JSSINK_LATENCY_SAMPLE (first attempt to the
       successful ack), on the libnats thread; may be NULL */
    void (*on_latency)(void *closure, int64_t us);
    /* the connection was lost (up=false; libnats reconnects by itself, publishes wait) or is
       back (up=true), on a libnats thread; may be NULL */
    void (*on_conn)(void *closure, bool up);
};

struct jssink_hdr {
    const char *name;
    const char *value;
};

struct jssink_stats {
    uint64_t published;     /* messages handed to libnats (first attempts) */
    uint64_t acked;         /* acknowledged */
    uint64_t duplicates;    /* acks with duplicate=true */
    uint64_t resent;        /* resends after a failed or timed-out ack */
    uint64_t pending_bytes; /* payload bytes of the messages not yet acknowledged */
    uint32_t window;        /* publishes allowed in flight now (adapts up to max_pending) */
};

struct jssink;

void jssink_opts_init(struct jssink_opts *o);

/*
 * Connect and make sure the stream exists (created with subjects
 * ["{prefix}.>"] when missing). CDC_ERR_RETRY when no server can be reached;
 * CDC_ERR_FATAL when a stream of that name exists and does not cover our
 * subjects. *out is written only on success.
 */
cdc_rc jssink_create(struct jssink **out, const struct jssink_opts *o,
                     struct cdc_err *err) CDC_MUST_CHECK;
/*
 * Drop what is still unacknowledged and close the connection; no on_ack call
 * happens after it returns (it waits up to 5 s for a running one). NULL: nothing.
 */
void jssink_destroy(struct jssink *s);

/*
 * Publish data (copied) to subject with header Nats-Msg-Id: msg_id and
 * n_extra more headers. Blocks while the in-flight window is full or failed
 * messages wait for their resend (see the top of this file), resending them
 * meanwhile; CDC_ERR_RETRY if it cannot publish for publish_deadline_ms,
 * CDC_ERR_CLOSED at once when *opts.stop is set while it waits (the message
 * is not published).
 */
cdc_rc jssink_publish(struct jssink *s, const char *subject, const char *msg_id, const void *data,
                      size_t len, const struct jssink_hdr *extra, int n_extra,
                      struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Publish a dead letter for an event that cannot be published as it is
 * (too large for the server, or not encodable): to jssink_dlq_subject(subject),
 * with header Nats-Msg-Id: msg_id, the extra headers, and Cdc-Dlq-Reason: why,
 * Cdc-Dlq-Kind, Cdc-Dlq-Subject (the original subject), Cdc-Dlq-Size (len).
 * The payload data/len is included only when it is at most half of
 * jssink_max_payload() (pass NULL, 0 for none). Blocks as jssink_publish().
 * Its ack reaches opts.on_ack under msg_id, like the event's would have.
 */
cdc_rc jssink_publish_dlq(struct jssink *s, const char *subject, const char *msg_id,
                          enum jssink_dlq_kind kind, const char *why, const void *data, size_t len,
                          const struct jssink_hdr *extra, int n_extra,
                          struct cdc_err *err) CDC_MUST_CHECK;

/* The largest payload that can be published: the server's max_payload, or the stream's
   max_msg_size when smaller (headers count too: leave room for them). */
size_t jssink_max_payload(const struct jssink *s);

/*
 * Store data as object `name` of Object Store bucket `bucket` (created when
 * missing) over the sink's connection, for a claim check (sink/nats/jsobj.h);
 * its digest ("SHA-256=...") into digest. Synchronous: owner thread, rare.
 */
cdc_rc jssink_object_put(struct jssink *s, const char *bucket, const char *name, const void *data,
                         size_t len, char *digest, size_t digest_cap,
                         struct cdc_err *err) CDC_MUST_CHECK;

/* `{prefix}.dlq.{rest}` for subject `{prefix}.{rest}` (else `{prefix}.dlq.{subject}`). */
void jssink_dlq_subject(const char *prefix, const char *subject, char *out, size_t cap);

/* "too_large", "rejected", "encode", "publish_failed". */
const char *jssink_dlq_kind_name(enum jssink_dlq_kind k);

/*
 * Resend what is due (owner thread; call it regularly, e.g. every loop turn):
 * at most one message, the oldest failed one, once nothing is in flight.
 * Never blocks for more than the library's stall wait (100 ms). CDC_ERR_FATAL
 * once a message has been given up (see the top of this file).
 */
cdc_rc jssink_poll(struct jssink *s, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * CDC_ERR_FATAL with the reason if a message has been given up, else CDC_OK.
 * Does no I/O; any thread.
 */
cdc_rc jssink_last_error(const struct jssink *s, struct cdc_err *err);

/* Wait until every published message is acked; CDC_ERR_TIMEOUT with the count if not in time. */
cdc_rc jssink_flush(struct jssink *s, int64_t timeout_ms, struct cdc_err *err) CDC_MUST_CHECK;

/* Messages published and not yet acknowledged. */
uint64_t jssink_pending(const struct jssink *s);
void jssink_stats(const struct jssink *s, struct jssink_stats *out);

/* Called for each message read back from a stream. data is not NUL-terminated. */
typedef void (*jssink_msg_fn)(void *c, const char *subject, const char *data, int len,
                              const char *msg_id, uint64_t seq);

/*
 * Deliver every message now in `stream` (optionally only `filter_subject`),
 * in stream order, then return. For tests and tools. jssink_read_stream()
 * connects to one URL without authentication; jssink_read_stream_with()
 * connects as o says (its urls, authentication and TLS; o->stream is ignored).
 */
cdc_rc jssink_read_stream(const char *url, const char *stream, const char *filter_subject,
                          jssink_msg_fn cb, void *c, int64_t timeout_ms,
                          struct cdc_err *err) CDC_MUST_CHECK;
cdc_rc jssink_read_stream_with(const struct jssink_opts *o, const char *stream,
                               const char *filter_subject, jssink_msg_fn cb, void *c,
                               int64_t timeout_ms, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Follow `stream` (from its first message when from_start, else from new
 * ones), delivering each message, until *stop is set. Connects as o says
 * (urls, authentication, TLS; o->stream is ignored).
 */
cdc_rc jssink_tail(const struct jssink_opts *o, const char *stream, const char *filter_subject,
                   bool from_start, jssink_msg_fn cb, void *c, volatile sig_atomic_t *stop,
                   struct cdc_err *err) CDC_MUST_CHECK;

/* What jssink_stream_state() reports. */
struct jssink_stream_state {
    uint64_t first_seq; /* 0 when empty */
    uint64_t last_seq;  /* 0 when nothing was ever stored */
    int64_t duplicate_window_ms;
};

/* The stream's sequences and duplicate window, now. CDC_ERR_RETRY if it cannot be asked. */
cdc_rc jssink_stream_state(struct jssink *s, struct jssink_stream_state *out,
                           struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Read the stream back over the sink's connection, headers only, from
 * sequence from_seq to to_seq (inclusive; messages stored later are not
 * read), calling cb(c, subject, NULL, 0, msg_id, seq) for each message that
 * has a Nats-Msg-Id. For the reconciliation at start; owner thread.
 * CDC_ERR_RETRY when the server stops answering.
 */
cdc_rc jssink_scan(struct jssink *s, uint64_t from_seq, uint64_t to_seq, jssink_msg_fn cb, void *c,
                   struct cdc_err *err) CDC_MUST_CHECK;

/* Does the subject pattern `pat` match every subject that `ours` matches? Exposed for tests. */
bool jssink_subject_covers(const char *pat, const char *ours);

/*
 * A plain core NATS publish of data[0..len) on subject over the sink's
 * connection: no Nats-Msg-Id, no ack awaited, not in the in-flight window or
 * the resend order (for messages that carry no change and gate no position,
 * such as heartbeats; a stream whose subjects cover `subject` still stores
 * it). Borrowed arguments; owner thread. CDC_ERR_RETRY when libnats refuses
 * it (no connection: nothing is buffered for a reconnect).
 */
cdc_rc jssink_publish_core(struct jssink *s, const char *subject, const void *data, size_t len,
                           struct cdc_err *err) CDC_MUST_CHECK;

#endif
