/*
 * pipeline.c - one run of the PostgreSQL -> JetStream pipeline; see pipeline.h.
 *
 * The reader, decoder, encoder and publisher all run on the calling thread;
 * publishing is asynchronous, so the thread only blocks when the sink's
 * in-flight window (cdc.batch_size) is full: that is the backpressure that
 * stops us reading from PostgreSQL. The only other thread is libnats's,
 * which delivers acks to on_ack(), which only records them in the tracker.
 */
#include "pipeline/pipeline.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "checkpoint/ckpt.h"
#include "core/buf.h"
#include "core/breaker.h"
#include "core/clock.h"
#include "core/log.h"
#include "event/json.h"
#include "pipeline/ackt.h"
#include "pipeline/schematrack.h"
#include "pipeline/seen.h"
#include "sink/nats/jssink.h"
#include "sink/nats/schemareg.h"
#include "source/source.h"
#include "transform/envelope.h"
#include "transform/claim.h"
#include "transform/filter.h"
#include "transform/redact.h"
#include "transform/subject.h"

#define MOD "pipeline"

struct pipeline {
    const struct pipeline_opts *o;
    struct cdc_metrics *m; /* never NULL: o->metrics or own_metrics */
    struct cdc_metrics own_metrics;
    uint64_t resent_seen; /* jssink resends already added to the metrics */
    const struct cdc_config *cfg;
    struct ckpt_store *ckpt;
    struct ckpt_record rec; /* the last record written (or loaded) */
    struct jssink *sink;
    struct source *src;
    struct redact_set *redact; /* cdc.sensitive_fields; outlives src (its columns point here) */
    struct ackt *ackt;
    struct schemareg *reg;       /* the schema registry's bucket; NULL: schema evolution off */
    struct schematrack *schemas; /* per-table schema versions; NULL: schema evolution off */
    struct filter *filter; /* cdc.operations (tables are decided by the source, per relation) */
    struct seen seen;      /* events already in the stream past the checkpoint */
    uint64_t skipped;      /* replayed events not published again because the stream has them */
    struct {               /* the per-table metrics row of the last relation published */
        const struct cdc_relation *rel;
        const char *schema, *table;
        uint32_t idx;
    } mrow;
    struct env_ctx env;
    struct subj_tmpl subj;  /* nats.subject_template, compiled */
    struct cdc_buf payload; /* reused for every event */
    struct cdc_buf subject; /* reused for every event */
    struct cdc_buf claim;   /* a claim-check event (rare) */
    size_t max_payload;     /* jssink_max_payload() when the sink was opened */
    struct cdc_buf scratch; /* reused: the key values hashed by {pk_hash:N} */
    char event_id[256];
    cdc_lsn hdr_lsn;                   /* commit LSN that hdr_lsn_text and ce_time spell */
    char hdr_lsn_text[CDC_LSN_STRLEN]; /* Cdc-Commit-Lsn header value */
    struct cdc_buf ce_time;            /* ce-time header value: the commit time */
    struct cdc_buf ce_source;          /* ce-source header value */
    _Atomic uint64_t acked;            /* written by the ack thread */
    _Atomic uint64_t stream_seq;       /* highest stream sequence acked */
    uint64_t published;
    int64_t last_ckpt_ms;
    int64_t last_health_ms;
    int64_t last_heartbeat_ms;
    bool heartbeat_off; /* the source refused one (permission): not tried again */
    int64_t last_data_ms;
    bool in_txn;
    cdc_lsn last_commit_end;
    bool ckpt_failing; /* the last checkpoint write failed: the next tick probes the store */
};

void
pipeline_opts_init(struct pipeline_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* Source hook (PostgreSQL Relation, MySQL TABLE_MAP): a relation was (re)defined; mark its
 * sensitive columns. */
static void
on_relation(void *closure, struct cdc_relation *rel)
{
    struct pipeline *p = closure;
    unsigned n = redact_apply(p->redact, rel);

    if (n > 0) /* names only: never a value */
        log_debug(MOD, "%u column(s) of \"%s\".\"%s\" under a sensitive_fields rule", n,
                  rel->schema, rel->table);
    /* its schema version, checked and registered; a failure stops the loop after src_next */
    if (p->schemas != NULL)
        schematrack_on_relation(p->schemas, rel);
    else
        rel->schema_version[0] = '\0';
}

static cdc_rc
reg_get(void *closure, const char *key, struct cdc_buf *val, bool *found, struct cdc_err *err)
{
    return schemareg_get(closure, key, val, found, err);
}

static cdc_rc
reg_put(void *closure, const char *key, const char *data, size_t len, struct cdc_err *err)
{
    return schemareg_put(closure, key, data, len, err);
}

/* cdc.schema_evolution.enabled: the registry (its own NATS connection) and the tracker. */
static cdc_rc
open_schemas(struct pipeline *p, struct cdc_err *err)
{
    struct schematrack_opts to;
    struct jssink_opts so;
    cdc_rc rc;

    if (!p->cfg->cdc.schema_evolution_enabled)
        return CDC_OK;
    jssink_opts_init(&so);
    pipeline_nats_opts(&so, p->cfg);
    rc = schemareg_create(&p->reg, &so, SCHEMAREG_BUCKET, err);
    if (rc != CDC_OK)
        return rc;
    memset(&to, 0, sizeof(to));
    to.database = p->cfg->cdc.source_name;
    to.strict = p->cfg->cdc.schema_evolution_strict;
    to.accept = p->o->accept_schema_change;
    to.store.get = reg_get;
    to.store.put = reg_put;
    to.store.closure = p->reg;
    return schematrack_create(&p->schemas, &to, err);
}

_Static_assert((int) REDACT_PII_N == (int) METRICS_PII_N, "one PII counter per detected kind");

/* The rule set of cdc.sensitive_fields, with the hash key (never kept elsewhere). */
static cdc_rc
open_redact(struct pipeline *p, struct cdc_err *err)
{
    const struct cfg_strlist *l = &p->cfg->cdc.sensitive_fields;
    const char *key = p->cfg->cdc.sensitive_hash_key;
    struct redact_opts ro = {
        .items = (const char *const *) l->items,
        .n = l->n,
        .key = key,
        .key_len = key != NULL ? strlen(key) : 0,
        .key_id = p->cfg->cdc.sensitive_hash_key_id,
        .pii_hits = p->m->pii_redactions_total,
    };

    return redact_set_create(&p->redact, &ro, err);
}

/* libnats thread: a sampled publish's round trip. */
static void
on_latency(void *closure, int64_t us)
{
    struct pipeline *p = closure;

    if (us >= 0)
        metrics_observe_us(&p->m->publish_latency, (uint64_t) us);
}

/* libnats thread: a dead letter was acked. */
static void
on_dlq(void *closure, enum jssink_dlq_kind kind)
{
    struct pipeline *p = closure;

    _Static_assert((int) JSSINK_DLQ_KINDS == (int) METRICS_DLQ_N, "one reason label per kind");
    metrics_inc(&p->m->dlq_events_total[kind]);
}

/* libnats thread: NATS went away or came back; /ready and the gauge follow. */
static void
on_conn(void *closure, bool up)
{
    struct pipeline *p = closure;

    if (up) {
        metrics_dep_up(p->m, METRICS_DEP_NATS);
    } else {
        metrics_dep_down(p->m, METRICS_DEP_NATS, "connection to NATS lost: reconnecting");
        metrics_inc(&p->m->retries_total[METRICS_DEP_NATS]);
    }
}

/* libnats thread: record the ack (and its latency), nothing else. */
static void
on_ack(void *closure, const char *msg_id, size_t id_len, bool ok, bool duplicate,
       uint64_t stream_seq)
{
    struct pipeline *p = closure;
    int64_t commit_time_us = 0;
    cdc_lsn commit_lsn;
    uint32_t seq;

    if (!ok || !env_event_id_parse(msg_id, id_len, &commit_lsn, &seq))
        return;
    if (duplicate)
        metrics_inc(&p->m->publish_duplicates_total);
    if (ackt_ack(p->ackt, commit_lsn, &commit_time_us)) {
        int64_t age = cdc_wall_us() - commit_time_us;

        /* the source's clock against ours: a negative age is clock skew, not a latency */
        if (commit_time_us > 0 && age >= 0)
            metrics_observe_us(&p->m->event_latency, (uint64_t) age);
        atomic_fetch_add(&p->acked, 1);
        metrics_inc(&p->m->events_acked_total);
        uint64_t cur = atomic_load(&p->stream_seq);
        while (stream_seq > cur && !atomic_compare_exchange_weak(&p->stream_seq, &cur, stream_seq))
            ;
    }
}

void
pipeline_nats_opts(struct jssink_opts *so, const struct cdc_config *c)
{
    so->urls = (const char *const *) c->nats.urls.items;
    so->n_urls = c->nats.urls.n;
    so->username = c->nats.username;
    so->password = c->nats.password;
    so->token = c->nats.token;
    so->nkey_seed_file = c->nats.nkey_seed_file;
    so->credentials_file = c->nats.credentials_file;
    so->tls_ca_file = c->nats.tls_ca_file;
    so->tls_cert_file = c->nats.tls_cert_file;
    so->tls_key_file = c->nats.tls_key_file;
    so->name = c->nats.cluster_id;
    so->request_timeout_ms = c->nats.request_timeout_ms;
}

static cdc_rc
open_sink(struct pipeline *p, struct cdc_err *err)
{
    const struct cdc_config *c = p->cfg;
    struct jssink_opts so;

    jssink_opts_init(&so);
    pipeline_nats_opts(&so, c);
    so.stream = c->nats.stream;
    so.subject_prefix = c->nats.subject_prefix;
    so.storage_memory = c->nats.stream_storage == CFG_STORAGE_MEMORY;
    so.replicas = c->nats.stream_replicas;
    so.duplicate_window_ms = c->nats.duplicate_window_ms;
    so.max_pending = c->cdc.batch_size;
    so.max_buffer_bytes = c->cdc.max_buffer_bytes;
    /* the design's "request_timeout": how long a publish waits for its PubAck before a resend */
    so.ack_timeout_ms = c->cdc.batch_timeout_ms; /* the flush timer: acks due by then */
    /* an event the stream refuses goes to the dead-letter queue; one refused with passing
       errors max_retry_attempts times stops the run, or is dead-lettered when so asked */
    so.dlq = true;
    so.max_attempts = c->cdc.max_retry_attempts;
    so.dlq_on_publish_failure = c->cdc.dlq_on_publish_failure;
    so.on_dlq = on_dlq;
    so.stop = p->o->stop;
    so.on_ack = on_ack;
    so.on_latency = on_latency;
    so.on_conn = on_conn;
    so.closure = p;
    return jssink_create(&p->sink, &so, err);
}

/* The checkpoint store, with the NATS servers (nats-kv://) and the encryption key, if any. */
static cdc_rc
open_ckpt(struct pipeline *p, struct cdc_err *err)
{
    const struct cdc_config *c = p->cfg;
    const char *kt = c->cdc.checkpoint_encryption_key, *kf = c->cdc.checkpoint_encryption_key_file;
    unsigned char key[CKPT_KEY_LEN];
    struct ckpt_opts co;
    cdc_rc rc = CDC_OK;

    ckpt_opts_init(&co);
    co.nats_urls = (const char *const *) c->nats.urls.items;
    co.n_nats_urls = c->nats.urls.n;
    co.nats_username = c->nats.username;
    co.nats_password = c->nats.password;
    co.nats_name = c->nats.cluster_id;
    co.nats_timeout_ms = c->nats.request_timeout_ms;
    if (kt != NULL && kt[0] != '\0') {
        rc = ckpt_key_parse(kt, strlen(kt), key, err);
        co.key = key;
    } else if (kf != NULL && kf[0] != '\0') {
        rc = ckpt_key_read_file(kf, key, err);
        co.key = key;
    }
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "cdc.checkpoint_encryption_key");
    rc = ckpt_open(&p->ckpt, c->cdc.checkpoint_storage, &co, err);
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

struct scan_ctx {
    struct pipeline *p;
    cdc_lsn after; /* only events of transactions committing after this are replayed */
    size_t source_len;
    uint64_t found, lo_seq, hi_seq;
    cdc_rc rc;
    struct cdc_err err;
};

/* jssink_scan callback: remember each event of this source past the start. */
static void
scan_one(void *c, const char *subject, const char *data, int len, const char *msg_id, uint64_t seq)
{
    struct scan_ctx *x = c;
    size_t id_len = strlen(msg_id);
    cdc_lsn commit;
    uint32_t n;

    (void) subject, (void) data, (void) len;
    if (x->rc != CDC_OK || id_len != x->source_len + ENV_EVENT_ID_SUFFIX_LEN ||
        memcmp(msg_id, x->p->env.id_prefix, x->source_len) != 0 ||
        !env_event_id_parse(msg_id, id_len, &commit, &n) || commit <= x->after)
        return;
    x->rc = seen_add(&x->p->seen, commit, n, &x->err);
    if (x->found++ == 0)
        x->lo_seq = seq;
    x->hi_seq = seq;
}

/*
 * Reconciliation with the stream: the checkpoint may lag the stream (it is
 * written every checkpoint_interval), and once the duplicate window has
 * passed the broker no longer drops replays. So read back what was stored
 * after the checkpoint's floor and remember this source's events past
 * `start`; the replay does not publish them again.
 */
static cdc_rc
reconcile_stream(struct pipeline *p, bool have_ckpt, cdc_lsn start, struct cdc_err *err)
{
    const int64_t interval = p->cfg->cdc.checkpoint_interval_ms;
    struct jssink_stream_state st;
    struct scan_ctx x;
    uint64_t from;
    cdc_rc rc;

    rc = jssink_stream_state(p->sink, &st, err);
    if (rc != CDC_OK)
        return rc;
    if (st.duplicate_window_ms < 3 * interval)
        log_warn(MOD,
                 "stream \"%s\" has a duplicate window of %" PRId64 " ms, shorter than 3 x "
                 "cdc.checkpoint_interval (%" PRId64 " ms): replays after a crash are deduplicated "
                 "by reading the stream back at start, which takes longer; raise the stream's "
                 "duplicate window",
                 p->cfg->nats.stream, st.duplicate_window_ms, 3 * interval);
    if (!have_ckpt)
        return CDC_OK;
    from = p->rec.stream_seq + 1;
    if (from < st.first_seq)
        from = st.first_seq;
    if (st.last_seq == 0 || from > st.last_seq)
        return CDC_OK;
    memset(&x, 0, sizeof(x));
    x.p = p;
    x.after = start;
    x.source_len = strlen(p->env.id_prefix);
    rc = jssink_scan(p->sink, from, st.last_seq, scan_one, &x, err);
    if (rc == CDC_OK && x.rc != CDC_OK) {
        *err = x.err;
        rc = x.rc;
    }
    if (rc != CDC_OK)
        return rc;
    log_info(MOD,
             "read stream \"%s\" back from sequence %" PRIu64 " to %" PRIu64 ": %" PRIu64
             " events of this source are past the checkpoint and will not be published again",
             p->cfg->nats.stream, from, st.last_seq, x.found);
    return CDC_OK;
}

/* ---- circuit breakers (see pipeline.h) ---- */

static struct breaker *
dep_breaker(struct pipeline *p, enum metrics_dep d)
{
    return p->o->breakers != NULL ? &p->o->breakers[d] : NULL;
}

static void
breaker_publish(struct pipeline *p, enum metrics_dep d)
{
    struct breaker *b = dep_breaker(p, d);

    if (b != NULL)
        metrics_set(&p->m->circuit_state[d], (int64_t) b->state);
}

/* May dependency d be called now? CDC_ERR_RETRY, without calling it, while its breaker is open. */
static cdc_rc
dep_gate(struct pipeline *p, enum metrics_dep d, struct cdc_err *err)
{
    struct breaker *b = dep_breaker(p, d);
    int64_t now = cdc_now_ms();

    if (b == NULL)
        return CDC_OK;
    /* half-open: an earlier run let the probe through but ended before calling d (another
       step failed first); runs do not overlap, so this one is the probe again */
    if (b->state == BREAKER_HALF_OPEN || breaker_allow(b, now)) {
        breaker_publish(p, d);
        return CDC_OK;
    }
    return cdc_err_set(err, CDC_ERR_RETRY,
                       "circuit breaker of %s is %s after %u failures in a row: not calling it "
                       "for %lld ms",
                       metrics_dep_name(d), breaker_state_name(b->state), b->failures,
                       (long long) breaker_wait_ms(b, now));
}

/* A call to d worked: connected for /ready, and its breaker closes. */
static void
dep_ok(struct pipeline *p, enum metrics_dep d)
{
    struct breaker *b = dep_breaker(p, d);

    metrics_dep_up(p->m, d);
    if (b == NULL)
        return;
    if (b->state != BREAKER_CLOSED)
        log_info(MOD, "circuit breaker of %s closed: the probe succeeded", metrics_dep_name(d));
    breaker_success(b);
    breaker_publish(p, d);
}

/* A call to d failed (err says why): not ready, one more failure for its breaker. */
static void
dep_down(struct pipeline *p, enum metrics_dep d, const struct cdc_err *err)
{
    struct breaker *b = dep_breaker(p, d);

    metrics_dep_down(p->m, d, err->msg);
    if (b == NULL)
        return;
    if (breaker_failure(b, cdc_now_ms()))
        log_warn(MOD,
                 "circuit breaker of %s opened after %u failures in a row: next probe in "
                 "%lld ms",
                 metrics_dep_name(d), b->failures, (long long) b->cooldown_ms);
    breaker_publish(p, d);
}

static void
fill_record(struct pipeline *p)
{
    struct ckpt_record *r = &p->rec;

    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "%s", p->cfg->cdc.source_name);
    snprintf(r->stream, sizeof(r->stream), "%s", p->cfg->nats.stream);
}

/*
 * Make the safe position durable, then (and only then) confirm it to
 * PostgreSQL. A store failure is logged and retried next time; nothing is
 * confirmed past what the store holds.
 */
static cdc_rc
checkpoint(struct pipeline *p, struct cdc_err *err)
{
    const struct breaker *b = dep_breaker(p, METRICS_DEP_CHECKPOINT);
    struct ckpt_record next;
    uint64_t floor;
    cdc_lsn safe;
    cdc_rc rc;

    ackt_position(p->ackt, atomic_load(&p->stream_seq), &safe, &floor);
    p->last_ckpt_ms = cdc_now_ms();
    /* nothing new; but after a failure (or as the breaker's probe) write the same record again
       to learn if the store is back: on an idle database nothing else would tell /ready */
    if (safe <= p->rec.lsn && !p->ckpt_failing && (b == NULL || b->state != BREAKER_HALF_OPEN))
        return CDC_OK;
    next = p->rec;
    if (safe > p->rec.lsn) {
        next.lsn = safe;
        next.stream_seq = floor;
        src_describe_position(p->src, &next);
        next.time_us = cdc_wall_us();
    }
    rc = ckpt_save(p->ckpt, &next, err);
    p->ckpt_failing = rc != CDC_OK;
    if (rc != CDC_OK) {
        metrics_inc(&p->m->checkpoint_failures_total);
        metrics_inc(&p->m->errors_total[METRICS_ERR_CHECKPOINT]);
        dep_down(p, METRICS_DEP_CHECKPOINT, err);
    }
    if (rc == CDC_ERR_FATAL) /* e.g. another writer owns the checkpoint: stop publishing */
        return cdc_err_prefix(err, "could not write checkpoint");
    if (rc != CDC_OK) {
        /* the store is down: keep streaming, confirm nothing more, try again next tick */
        log_error(MOD, "could not write checkpoint: %s", err->msg);
        return CDC_OK;
    }
    log_debug(MOD, "checkpoint at " CDC_LSN_FMT, CDC_LSN_ARGS(next.lsn));
    p->rec = next;
    metrics_inc(&p->m->checkpoint_writes_total);
    dep_ok(p, METRICS_DEP_CHECKPOINT);
    src_confirm(p->src, p->rec.lsn); /* durable: now the source may be told */
    return CDC_OK;
}

/* Room left for headers and the protocol line in a message of jssink_max_payload() bytes. */
#define PIPELINE_HDR_ROOM 1024

/*
 * An event larger than a message can be: store it in the object store and
 * publish a claim-check event in its place (same subject, same id, header
 * Cdc-Claim-Check). When that cannot be done, dead-letter it with the reason.
 */
static cdc_rc
publish_large(struct pipeline *p, const struct cdc_change *ch, struct jssink_hdr *hdr, int n_hdr,
              struct cdc_err *err)
{
    const char *bucket = p->cfg->cdc.claim_check_bucket;
    char digest[64], where[400], why[CDC_ERR_MSG_MAX];
    struct cdc_err oerr;
    int n;

    n = snprintf(why, sizeof(why),
                 "event of %zu bytes is larger than the largest message (%zu bytes)",
                 p->payload.len, p->max_payload);
    if (bucket != NULL && bucket[0] != '\0') {
        if (jssink_object_put(p->sink, bucket, p->event_id, p->payload.data, p->payload.len, digest,
                              sizeof(digest), &oerr) == CDC_OK) {
            cdc_buf_reset(&p->claim);
            claim_encode(&p->claim, ch, p->event_id, p->cfg->cdc.source_name, bucket,
                         p->payload.len, digest);
            if (!cdc_buf_ok(&p->claim))
                return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
            snprintf(where, sizeof(where), "%s/%s", bucket, p->event_id);
            metrics_inc(&p->m->claim_checks_total);
            log_info(MOD,
                     "event %s (%zu bytes) stored in object store bucket \"%s\"; a claim "
                     "check is published on %s",
                     p->event_id, p->payload.len, bucket, p->subject.data);
            hdr[n_hdr++] = (struct jssink_hdr){"Cdc-Claim-Check", where};
            return jssink_publish(p->sink, p->subject.data, p->event_id, p->claim.data,
                                  p->claim.len, hdr, n_hdr, err);
        }
        if (n > 0 && (size_t) n < sizeof(why))
            snprintf(why + n, sizeof(why) - (size_t) n, ", and the claim check failed: %.300s",
                     oerr.msg);
    }
    log_error(MOD, "event %s on %s dead-lettered: %s", p->event_id, p->subject.data, why);
    return jssink_publish_dlq(p->sink, p->subject.data, p->event_id, JSSINK_DLQ_TOO_LARGE, why,
                              p->payload.data, p->payload.len, hdr, n_hdr, err);
}

/* The headers of one event: Cdc-Commit-Lsn, Cdc-Event-Version, and CloudEvents' if configured. */
static int
fill_headers(struct pipeline *p, const struct cdc_change *ch, struct jssink_hdr *h)
{
    int n = 0;

    /* the same for every event of a transaction: format them once per transaction */
    if (ch->commit_lsn != p->hdr_lsn || p->ce_time.len == 0) {
        p->hdr_lsn = ch->commit_lsn;
        snprintf(p->hdr_lsn_text, sizeof(p->hdr_lsn_text), CDC_LSN_FMT,
                 CDC_LSN_ARGS(ch->commit_lsn));
        cdc_buf_reset(&p->ce_time);
        env_put_time(&p->ce_time, ch->commit_time_us);
    }
    h[n++] = (struct jssink_hdr){"Cdc-Commit-Lsn", p->hdr_lsn_text};
    h[n++] = (struct jssink_hdr){"Cdc-Event-Version", ENV_EVENT_VERSION_STR};
    if (!p->cfg->cdc.cloudevents)
        return n;
    /* CloudEvents binary content mode: the attributes as ce- headers, the event as the data */
    h[n++] = (struct jssink_hdr){"ce-specversion", "1.0"};
    h[n++] = (struct jssink_hdr){"ce-id", p->event_id};
    h[n++] = (struct jssink_hdr){"ce-type", env_event_type(ch->op)};
    h[n++] = (struct jssink_hdr){"ce-source", p->ce_source.data};
    h[n++] = (struct jssink_hdr){"ce-time", p->ce_time.data};
    h[n++] = (struct jssink_hdr){"content-type", "application/json"};
    return n;
}

static cdc_rc
publish_change(struct pipeline *p, const struct cdc_change *ch, struct cdc_err *err)
{
    struct jssink_hdr hdr[10]; /* fill_headers() gives at most 8; publish_large() adds one */
    int n_hdr;
    cdc_rc rc;

    if (p->seen.n > 0 && seen_has(&p->seen, ch->commit_lsn, ch->seq)) {
        /* a previous run stored it: count it as acked, publish nothing */
        ackt_sent(p->ackt);
        (void) ackt_ack(p->ackt, ch->commit_lsn, NULL);
        atomic_fetch_add(&p->acked, 1);
        p->skipped++;
        return CDC_OK;
    }
    cdc_buf_reset(&p->payload);
    cdc_buf_reset(&p->subject);
    subj_tmpl_render(&p->subj, &p->subject, p->cfg->nats.subject_prefix, p->cfg->cdc.source_name,
                     ch, &p->scratch);
    env_event_id(&p->env, ch, p->event_id, sizeof(p->event_id));
    n_hdr = fill_headers(p, ch, hdr);
    if (!cdc_buf_ok(&p->subject) || !cdc_buf_ok(&p->scratch) || !cdc_buf_ok(&p->ce_time))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
    rc = env_encode(&p->env, ch, &p->payload, err);
    if (rc == CDC_OK && !cdc_buf_ok(&p->payload))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
    if (rc == CDC_ERR_NOMEM)
        return rc;
    /* count it first: its ack may arrive before the publish returns */
    ackt_sent(p->ackt);
    if (rc != CDC_OK) {
        char why[CDC_ERR_MSG_MAX];

        snprintf(why, sizeof(why), "%s", err->msg);
        log_error(MOD, "event %s on %s could not be encoded, dead-lettered: %s", p->event_id,
                  p->subject.data, why);
        rc = jssink_publish_dlq(p->sink, p->subject.data, p->event_id, JSSINK_DLQ_ENCODE, why, NULL,
                                0, hdr, n_hdr, err);
    } else if (p->payload.len + PIPELINE_HDR_ROOM > p->max_payload) {
        rc = publish_large(p, ch, hdr, n_hdr, err);
    } else {
        rc = jssink_publish(p->sink, p->subject.data, p->event_id, p->payload.data, p->payload.len,
                            hdr, n_hdr, err);
    }
    if (rc != CDC_OK)
        return rc;
    p->published++;
    if (ch->rel != p->mrow.rel || ch->rel == NULL || ch->rel->schema != p->mrow.schema ||
        ch->rel->table != p->mrow.table) {
        p->mrow.rel = ch->rel;
        p->mrow.schema = ch->rel ? ch->rel->schema : NULL;
        p->mrow.table = ch->rel ? ch->rel->table : NULL;
        p->mrow.idx = metrics_table_index(p->m, p->mrow.schema, p->mrow.table);
    }
    metrics_event(p->m, p->mrow.idx, (enum metrics_op) ch->op);
    return CDC_OK;
}

/*
 * cdc.table_filters/table_excludes (the source's verdict, kept on the relation) and
 * cdc.operations. A change left out is simply not sent: its transaction still begins and
 * commits in the ack tracker, so its position becomes safe like any other, and the seq of
 * the changes that are published (their event ids) does not depend on the filters.
 */
static bool
change_wanted(const struct pipeline *p, const struct cdc_change *ch)
{
    return (ch->rel == NULL || !ch->rel->excluded) && filter_op_included(p->filter, ch->op);
}

static cdc_rc
handle(struct pipeline *p, const struct src_out *out, bool *stop, struct cdc_err *err)
{
    cdc_rc rc;

    switch (out->kind) {
    case SRC_BEGIN:
        p->in_txn = true;
        /* the lag jumps with a transaction: do not wait for the tick (a heartbeat may say we
           caught up before it) */
        metrics_set(&p->m->binlog_lag_ms, src_lag_ms(p->src, cdc_wall_us()));
        if (p->seen.n > 0 && out->key > p->seen.max_commit) {
            log_info(MOD,
                     "replay past the stream's last event: %" PRIu64 " events were already "
                     "in the stream and not published again",
                     p->skipped);
            seen_free(&p->seen);
        }
        if (p->schemas != NULL)
            schematrack_begin(p->schemas, out->key);
        return ackt_begin(p->ackt, out->key, atomic_load(&p->stream_seq), out->commit_time_us, err);
    case SRC_CHANGES:
        for (size_t i = 0; i < out->n_changes; i++) {
            if (!change_wanted(p, &out->changes[i]))
                continue;
            rc = publish_change(p, &out->changes[i], err);
            if (rc != CDC_OK)
                return rc;
        }
        return CDC_OK;
    case SRC_COMMIT:
        p->in_txn = false;
        p->last_commit_end = out->end;
        ackt_commit(p->ackt, out->end);
        if (p->schemas != NULL)
            schematrack_commit(p->schemas);
        metrics_inc(&p->m->transactions_total);
        if (p->o->stop_at_lsn != 0 && out->end >= p->o->stop_at_lsn)
            *stop = true;
        return CDC_OK;
    case SRC_IDLE:
        ackt_idle_advance(p->ackt, out->end);
        return CDC_OK;
    default:
        return CDC_OK;
    }
}

/* Stop conditions for tests and tools, like pg_recvlogical's --endpos. */
static bool
should_finish(struct pipeline *p)
{
    const struct pipeline_opts *o = p->o;

    if (o->max_events > 0 && atomic_load(&p->acked) >= (uint64_t) o->max_events)
        return true;
    if (o->exit_when_idle_ms > 0 && !p->in_txn && ackt_unacked(p->ackt) == 0 &&
        cdc_now_ms() - p->last_data_ms >= o->exit_when_idle_ms)
        return true;
    return false;
}

/* Gauges and derived counters, refreshed on the checkpoint tick rather than per event. */
static void
update_gauges(struct pipeline *p)
{
    struct jssink_stats st;
    cdc_lsn received = src_received(p->src);

    int64_t now_us = cdc_wall_us();

    jssink_stats(p->sink, &st);
    metrics_add(&p->m->publish_resent_total, st.resent - p->resent_seen);
    p->resent_seen = st.resent;
    metrics_set(&p->m->buffer_events, (int64_t) jssink_pending(p->sink));
    metrics_set(&p->m->buffer_bytes, (int64_t) st.pending_bytes);
    metrics_set(&p->m->publish_window, (int64_t) st.window);
    metrics_set(&p->m->checkpoint_lag_bytes,
                received > p->rec.lsn ? (int64_t) (received - p->rec.lsn) : 0);
    /* how long the checkpoint has stood still behind the read position; 0 when it holds it all */
    metrics_set(&p->m->checkpoint_lag_ms, received > p->rec.lsn && now_us > p->rec.time_us
                                              ? (now_us - p->rec.time_us) / 1000
                                              : 0);
    metrics_set(&p->m->binlog_lag_ms, src_lag_ms(p->src, now_us));
}

#define HEALTH_INTERVAL_MS 10000

static cdc_rc dep_failed(struct pipeline *p, enum metrics_dep d, enum metrics_errtype t, cdc_rc rc,
                         const struct cdc_err *err);

/*
 * The WAL budget (cdc.slot_lag_warn_bytes, cdc.slot_lag_error_bytes): a
 * warning, or an error, when the slot retains more WAL than the threshold,
 * or when less than it is left before max_slot_wal_keep_size invalidates the
 * slot. Said on every health poll while it lasts (the log rate-limits).
 */
static void
check_wal_budget(struct pipeline *p, const struct src_health *h)
{
    const int64_t warn = p->cfg->cdc.slot_lag_warn_bytes, error = p->cfg->cdc.slot_lag_error_bytes;
    const char *slot = p->cfg->cdc.slot_name;

    if (error > 0 && h->retained_bytes > error)
        log_error(
            MOD,
            "replication slot \"%s\" retains %lld bytes of WAL, over "
            "cdc.slot_lag_error_bytes (%lld): the primary keeps it on disk until we confirm it",
            slot, (long long) h->retained_bytes, (long long) error);
    else if (warn > 0 && h->retained_bytes > warn)
        log_warn(MOD,
                 "replication slot \"%s\" retains %lld bytes of WAL, over "
                 "cdc.slot_lag_warn_bytes (%lld)",
                 slot, (long long) h->retained_bytes, (long long) warn);
    if (h->safe_wal_bytes < 0)
        return;
    if (error > 0 && h->safe_wal_bytes < error)
        log_error(MOD,
                  "replication slot \"%s\" is invalidated after %lld more bytes of WAL "
                  "(max_slot_wal_keep_size), under cdc.slot_lag_error_bytes (%lld)",
                  slot, (long long) h->safe_wal_bytes, (long long) error);
    else if (warn > 0 && h->safe_wal_bytes < warn)
        log_warn(MOD,
                 "replication slot \"%s\" is invalidated after %lld more bytes of WAL "
                 "(max_slot_wal_keep_size), under cdc.slot_lag_warn_bytes (%lld)",
                 slot, (long long) h->safe_wal_bytes, (long long) warn);
}

/* Every HEALTH_INTERVAL_MS: the source's view of our position (PostgreSQL: the slot). */
static cdc_rc
poll_health(struct pipeline *p, struct cdc_err *err)
{
    struct src_health h;
    struct cdc_err herr;
    cdc_rc rc;

    if (cdc_now_ms() - p->last_health_ms < HEALTH_INTERVAL_MS)
        return CDC_OK;
    p->last_health_ms = cdc_now_ms();
    rc = src_health(p->src, &h, &herr);
    metrics_set(&p->m->slot_lag_bytes, h.retained_bytes);
    metrics_set(&p->m->slot_wal_status, h.wal_status);
    metrics_set(&p->m->slot_safe_wal_bytes, h.safe_wal_bytes);
    if (rc == CDC_ERR_FATAL || rc == CDC_ERR_LOST) {
        *err = herr;
        return dep_failed(p, METRICS_DEP_SOURCE, METRICS_ERR_SOURCE, rc, err);
    }
    if (rc != CDC_OK)
        log_debug(MOD, "could not read the slot's state: %s", herr.msg);
    else
        check_wal_budget(p, &h);
    if (rc == CDC_OK && h.wal_status == 2)
        log_warn(MOD,
                 "replication slot \"%s\" is unreserved: PostgreSQL will remove the WAL it "
                 "needs at the next checkpoint unless we catch up (%lld bytes retained)",
                 p->cfg->cdc.slot_name, (long long) h.retained_bytes);
    return CDC_OK;
}

/*
 * cdc.heartbeat_topic: say that a heartbeat was written at lsn on
 * {prefix}.heartbeat.{database}, a core publish: it carries no change and
 * gates no position, so it stays out of the ack window. A failure is only
 * logged (the next heartbeat will try again).
 */
static void
publish_heartbeat(struct pipeline *p, cdc_lsn lsn)
{
    const struct cdc_config *c = p->cfg;
    const char *db = c->rds.database != NULL ? c->rds.database : "";
    const char *src = c->cdc.source_name != NULL ? c->cdc.source_name : "";
    struct cdc_buf subject = CDC_BUF_INIT, msg = CDC_BUF_INIT;
    struct cdc_err perr;

    if (c->nats.subject_prefix != NULL && c->nats.subject_prefix[0] != '\0')
        cdc_buf_printf(&subject, "%s.", c->nats.subject_prefix);
    cdc_buf_puts(&subject, "heartbeat.");
    subj_put_token(&subject, db, strlen(db));
    cdc_buf_putc(&msg, '{');
    json_put_key(&msg, "database");
    json_put_str(&msg, db, strlen(db));
    cdc_buf_putc(&msg, ',');
    json_put_key(&msg, "source");
    json_put_str(&msg, src, strlen(src));
    cdc_buf_printf(&msg, ",\"lsn\":\"" CDC_LSN_FMT "\",\"ts_ms\":%lld}", CDC_LSN_ARGS(lsn),
                   (long long) (cdc_wall_us() / 1000));
    if (!cdc_buf_ok(&subject) || !cdc_buf_ok(&msg))
        log_debug(MOD, "could not publish a heartbeat: out of memory");
    else if (jssink_publish_core(p->sink, subject.data, msg.data, msg.len, &perr) != CDC_OK)
        log_debug(MOD, "could not publish a heartbeat: %s", perr.msg);
    cdc_buf_free(&subject);
    cdc_buf_free(&msg);
}

/*
 * No change for cdc.heartbeat_interval and nothing open: write a heartbeat,
 * so the source's position advances on an idle or filtered database. A
 * refusal (permission) is logged once and heartbeats stop; nothing else.
 * With cdc.heartbeat_topic, each one written is also announced on NATS.
 */
static void
maybe_heartbeat(struct pipeline *p)
{
    const int64_t every = p->cfg->cdc.heartbeat_interval_ms;
    int64_t now = cdc_now_ms();
    struct cdc_err herr;
    cdc_lsn lsn = 0;
    cdc_rc rc;

    if (every <= 0 || p->heartbeat_off || p->in_txn || now - p->last_data_ms < every ||
        now - p->last_heartbeat_ms < every)
        return;
    p->last_heartbeat_ms = now;
    rc = src_heartbeat(p->src, &lsn, &herr);
    if (rc == CDC_ERR_FATAL) {
        p->heartbeat_off = true;
        log_warn(MOD, "heartbeats are off: %s", herr.msg);
    } else if (rc != CDC_OK) {
        log_debug(MOD, "could not write a heartbeat: %s", herr.msg);
    } else {
        log_debug(MOD, "heartbeat written after %lld ms without changes, at " CDC_LSN_FMT,
                  (long long) (now - p->last_data_ms), CDC_LSN_ARGS(lsn));
        if (p->cfg->cdc.heartbeat_topic)
            publish_heartbeat(p, lsn);
    }
}

static cdc_rc
stream(struct pipeline *p, struct pipeline_result *res, struct cdc_err *err)
{
    const int64_t interval = p->cfg->cdc.checkpoint_interval_ms;
    bool finish = false;
    cdc_rc rc = CDC_OK;

    p->last_ckpt_ms = p->last_data_ms = cdc_now_ms();
    while (!*p->o->stop && !finish) {
        struct src_out out;

        metrics_heartbeat(p->m);
        rc = src_next(p->src, 100, &out, err);
        if (rc == CDC_ERR_PROTO) {
            char why[CDC_ERR_MSG_MAX];

            metrics_inc(&p->m->errors_total[METRICS_ERR_DECODE]);
            snprintf(why, sizeof(why), "%s", err->msg); /* never format err into itself */
            rc = cdc_err_set(err, CDC_ERR_FATAL, "%s", why);
            break;
        }
        if (rc != CDC_OK) {
            dep_down(p, METRICS_DEP_SOURCE, err);
            metrics_inc(&p->m->errors_total[METRICS_ERR_SOURCE]);
            break;
        }
        /* a relation met in that read may refuse to go on (strict mode): before publishing */
        rc = schematrack_check(p->schemas, err);
        if (rc != CDC_OK)
            break;
        if (out.kind != SRC_NONE && out.kind != SRC_IDLE)
            p->last_data_ms = cdc_now_ms();
        rc = handle(p, &out, &finish, err);
        if (rc == CDC_ERR_CLOSED && *p->o->stop) {
            /* a publish gave up on the stop: shut down as asked; what it held is not
               acknowledged, so the checkpoint stays before it */
            log_warn(MOD, "%s", err->msg);
            rc = CDC_OK;
            break;
        }
        if (rc != CDC_OK)
            break;
        rc = jssink_poll(p->sink, err);
        if (rc != CDC_OK) {
            dep_down(p, METRICS_DEP_NATS, err);
            metrics_inc(&p->m->errors_total[METRICS_ERR_SINK]);
            break;
        }
        rc = poll_health(p, err);
        if (rc != CDC_OK)
            break;
        maybe_heartbeat(p);
        if (cdc_now_ms() - p->last_ckpt_ms >= interval) {
            struct cdc_err gerr;

            /* an open breaker skips the write (streaming goes on, nothing is confirmed) */
            if (dep_gate(p, METRICS_DEP_CHECKPOINT, &gerr) == CDC_OK) {
                rc = checkpoint(p, err);
                if (rc != CDC_OK)
                    break;
            } else {
                p->last_ckpt_ms = cdc_now_ms();
            }
            update_gauges(p);
        }
        if (should_finish(p))
            finish = true;
    }
    res->finished = finish;
    return rc;
}

/* Drain acks within the grace period, write the final checkpoint, tell PostgreSQL. */
static cdc_rc
shutdown_gracefully(struct pipeline *p, struct cdc_err *err)
{
    struct cdc_err ferr;
    cdc_rc rc;

    rc = jssink_flush(p->sink, p->cfg->server.grace_period_ms, &ferr);
    if (checkpoint(p, err) != CDC_OK)
        return err->code;
    src_stop(p->src);
    if (rc != CDC_OK)
        return cdc_err_set(err, CDC_ERR_TIMEOUT,
                           "shutting down with %" PRIu64 " events unacknowledged after %" PRId64
                           " ms: %s",
                           ackt_unacked(p->ackt), p->cfg->server.grace_period_ms, ferr.msg);
    log_info(MOD, "stopped at " CDC_LSN_FMT " after %" PRIu64 " events", CDC_LSN_ARGS(p->rec.lsn),
             p->published);
    return CDC_OK;
}

/* A dependency could not be reached: say so to /ready and the error counter, pass rc on. */
static cdc_rc
dep_failed(struct pipeline *p, enum metrics_dep d, enum metrics_errtype t, cdc_rc rc,
           const struct cdc_err *err)
{
    dep_down(p, d, err);
    metrics_inc(&p->m->errors_total[t]);
    return rc;
}

static cdc_rc
run(struct pipeline *p, struct pipeline_result *res, struct cdc_err *err)
{
    const struct cdc_config *c = p->cfg;
    struct src_start start;
    bool have_ckpt = false;
    cdc_rc rc;

    rc = filter_create(&p->filter, NULL, 0, NULL, 0, (const char *const *) c->cdc.operations.items,
                       c->cdc.operations.n, err);
    if (rc != CDC_OK)
        return rc;
    if ((rc = dep_gate(p, METRICS_DEP_CHECKPOINT, err)) != CDC_OK)
        return rc;
    rc = open_ckpt(p, err);
    if (rc == CDC_OK)
        rc = ckpt_load(p->ckpt, &p->rec, &have_ckpt, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_CHECKPOINT, METRICS_ERR_CHECKPOINT, rc, err);
    dep_ok(p, METRICS_DEP_CHECKPOINT);
    if ((rc = dep_gate(p, METRICS_DEP_NATS, err)) != CDC_OK)
        return rc;
    rc = open_sink(p, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_NATS, METRICS_ERR_SINK, rc, err);
    p->max_payload = jssink_max_payload(p->sink);
    dep_ok(p, METRICS_DEP_NATS);
    if ((rc = dep_gate(p, METRICS_DEP_SOURCE, err)) != CDC_OK)
        return rc;
    rc = open_schemas(p, err);
    if (rc != CDC_OK)
        return rc;
    rc = src_create(&p->src, p->cfg, err);
    if (rc != CDC_OK)
        return rc;
    src_set_relation_hook(p->src, on_relation, p);
    {
        struct ckpt_record loaded = p->rec;

        rc = src_prepare(p->src, have_ckpt ? &loaded : NULL, ckpt_describe(p->ckpt),
                         p->o->accept_slot_position, &p->rec, &start, err);
    }
    if (rc == CDC_ERR_FATAL)
        return rc;
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_SOURCE, METRICS_ERR_SOURCE, rc, err);
    dep_ok(p, METRICS_DEP_SOURCE); /* connected and checked; streaming starts below */
    if (start.note[0] != '\0') {
        if (start.warn)
            log_warn(MOD, "%s", start.note);
        else
            log_info(MOD, "%s", start.note);
    }
    rc = reconcile_stream(p, have_ckpt, start.pos, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_NATS, METRICS_ERR_SINK, rc, err);
    fill_record(p);
    if (!have_ckpt) {
        /*
         * Record the start at once: a binlog keeps no position for us (unlike a slot), so a
         * crash before the first checkpoint must not restart from the server's position then.
         */
        p->rec.lsn = start.pos;
        p->rec.time_us = cdc_wall_us();
        rc = ckpt_save(p->ckpt, &p->rec, err);
        if (rc != CDC_OK) {
            (void) cdc_err_prefix(err, "could not write the first checkpoint");
            return dep_failed(p, METRICS_DEP_CHECKPOINT, METRICS_ERR_CHECKPOINT, rc, err);
        }
    }
    rc = ackt_create(&p->ackt, start.pos, err);
    if (rc != CDC_OK)
        return rc;
    rc = src_start(p->src, start.pos, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_SOURCE, METRICS_ERR_SOURCE, rc, err);
    dep_ok(p, METRICS_DEP_SOURCE);
    res->streamed = true;
    log_info(MOD,
             "streaming from " CDC_LSN_FMT " (slot \"%s\", publication \"%s\") to stream \"%s\"",
             CDC_LSN_ARGS(start.pos), p->cfg->cdc.slot_name, p->cfg->cdc.publication,
             p->cfg->nats.stream);
    rc = stream(p, res, err);
    if (rc != CDC_OK)
        return rc;
    return shutdown_gracefully(p, err);
}

/* The envelope's format and enrichment, the subject template and ce-source, from the config. */
static cdc_rc
prepare_events(struct pipeline *p, struct cdc_err *err)
{
    static const char *const engines[] = {[CFG_ENGINE_POSTGRES] = "postgres",
                                          [CFG_ENGINE_MYSQL] = "mysql",
                                          [CFG_ENGINE_MARIADB] = "mariadb"};
    const struct cdc_config *c = p->cfg;
    struct env_opts eo;
    cdc_rc rc;

    env_ctx_init(&p->env, c->cdc.source_name);
    env_opts_init(&eo);
    eo.format = c->cdc.format == CFG_FORMAT_DEBEZIUM ? ENV_FORMAT_DEBEZIUM : ENV_FORMAT_NATIVE;
    eo.engine = (unsigned) c->rds.engine <= CFG_ENGINE_MARIADB ? engines[c->rds.engine] : NULL;
    eo.host = c->rds.endpoint;
    eo.database = c->rds.database;
    eo.handler_version = CDC_VERSION;
    eo.label_keys = (const char *const *) c->cdc.metadata.keys;
    eo.label_values = (const char *const *) c->cdc.metadata.values;
    eo.n_labels = c->cdc.metadata.n;
    rc = env_ctx_configure(&p->env, &eo, err);
    if (rc != CDC_OK)
        return rc;
    rc = subj_tmpl_compile(&p->subj, c->nats.subject_template, c->nats.subject_prefix, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "nats.subject_template");
    cdc_buf_puts(&p->ce_source, "/cdc-handler/");
    subj_put_token(&p->ce_source, p->env.source, p->env.source_len);
    if (!cdc_buf_ok(&p->ce_source))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    return CDC_OK;
}

cdc_rc
pipeline_run(const struct pipeline_opts *o, struct pipeline_result *res, struct cdc_err *err)
{
    struct pipeline p;
    cdc_rc rc;

    memset(&p, 0, sizeof(p));
    memset(res, 0, sizeof(*res));
    seen_init(&p.seen);
    p.o = o;
    p.cfg = o->cfg;
    if (o->metrics != NULL) {
        p.m = o->metrics;
    } else {
        metrics_init(&p.own_metrics);
        p.m = &p.own_metrics;
    }
    rc = prepare_events(&p, err);
    if (rc == CDC_OK)
        rc = open_redact(&p, err);
    if (rc == CDC_OK)
        rc = run(&p, res, err);
    if (rc != CDC_OK && res->streamed) {
        struct cdc_err cerr; /* keep what was acked before the failure; err keeps the cause */

        (void) checkpoint(&p, &cerr);
    }
    res->events_published = p.published;
    res->events_acked = atomic_load(&p.acked);
    /* the sink goes first: no ack callback may run once the tracker is gone */
    jssink_destroy(p.sink);
    src_destroy(p.src);
    redact_set_destroy(p.redact);
    ackt_destroy(p.ackt);
    schematrack_destroy(p.schemas);
    schemareg_destroy(p.reg);
    filter_destroy(p.filter);
    ckpt_close(p.ckpt);
    seen_free(&p.seen);
    cdc_buf_free(&p.payload);
    cdc_buf_free(&p.subject);
    cdc_buf_free(&p.claim);
    cdc_buf_free(&p.scratch);
    cdc_buf_free(&p.ce_time);
    cdc_buf_free(&p.ce_source);
    env_ctx_free(&p.env);
    return rc;
}
