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

#include "aws/awscreds.h"
#include "checkpoint/ckpt.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "pipeline/ackt.h"
#include "pipeline/seen.h"
#include "sink/nats/jssink.h"
#include "source/pg/pgdecode.h"
#include "source/pg/pgsrc.h"
#include "transform/envelope.h"
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
    struct pgsrc *src;
    struct pgd *dec;
    struct ackt *ackt;
    struct seen seen; /* events already in the stream past the checkpoint */
    uint64_t skipped; /* replayed events not published again because the stream has them */
    struct env_ctx env;
    struct cdc_buf payload; /* reused for every event */
    struct cdc_buf subject; /* reused for every event */
    char event_id[256];
    cdc_lsn hdr_lsn;                   /* commit LSN that hdr_lsn_text spells */
    char hdr_lsn_text[CDC_LSN_STRLEN]; /* Cdc-Commit-Lsn header value */
    _Atomic uint64_t acked;            /* written by the ack thread */
    _Atomic uint64_t stream_seq;       /* highest stream sequence acked */
    uint64_t published;
    int64_t last_ckpt_ms;
    int64_t last_data_ms;
    bool in_txn;
    cdc_lsn last_commit_end;
};

void
pipeline_opts_init(struct pipeline_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* Decoder hook: a relation was (re)defined; mark its sensitive columns. */
static void
on_relation(void *closure, struct cdc_relation *rel)
{
    struct pipeline *p = closure;
    const struct cfg_strlist *rules = &p->cfg->cdc.sensitive_fields;
    unsigned n = redact_mark(rel, (const char *const *) rules->items, rules->n);

    if (n > 0)
        log_debug(MOD, "%u sensitive column(s) of \"%s\".\"%s\" left out of events", n, rel->schema,
                  rel->table);
}

/* libnats thread: record the ack, nothing else. */
static void
on_ack(void *closure, const char *msg_id, size_t id_len, bool ok, bool duplicate,
       uint64_t stream_seq)
{
    struct pipeline *p = closure;
    cdc_lsn commit_lsn;
    uint32_t seq;

    if (!ok || !env_event_id_parse(msg_id, id_len, &commit_lsn, &seq))
        return;
    if (duplicate)
        metrics_inc(&p->m->publish_duplicates_total);
    if (ackt_ack(p->ackt, commit_lsn)) {
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
    /* the design's "request_timeout": how long a publish waits for its PubAck before a resend */
    so.ack_timeout_ms = c->nats.request_timeout_ms;
    so.on_ack = on_ack;
    so.closure = p;
    return jssink_create(&p->sink, &so, err);
}

static cdc_rc
open_source(struct pipeline *p, struct pgsrc_slot_info *slot, bool have_ckpt, struct cdc_err *err)
{
    const struct cdc_config *c = p->cfg;
    struct pgsrc_opts po;
    cdc_rc rc;

    pgsrc_opts_init(&po);
    po.host = c->rds.endpoint;
    po.port = c->rds.port;
    po.user = c->rds.username;
    po.password = c->rds.password;
    po.dbname = c->rds.database;
    po.sslmode = c->rds.ssl_mode;
    po.sslrootcert = c->rds.ssl_root_cert;
    if (c->rds.auth == CFG_AUTH_IAM) {
        /* a fresh token for every connection: a reconnect an hour later must not reuse one that
         * expired after 15 minutes */
        po.password = NULL;
        po.password_fn = awscreds_rds_password;
        po.password_closure = c->rds.region;
    }
    po.slot = c->cdc.slot_name;
    po.publication = c->cdc.publication;
    po.tables = (const char *const *) c->cdc.table_filters.items;
    po.n_tables = c->cdc.table_filters.n;
    /* a slot that vanished behind a checkpoint took the changes in between with it */
    po.create_slot = !have_ckpt || p->o->accept_slot_position;
    rc = pgsrc_create(&p->src, &po, err);
    if (rc != CDC_OK)
        return rc;
    rc = pgsrc_prepare(p->src, slot, err);
    if (rc == CDC_ERR_FATAL && slot->slot_missing)
        return cdc_err_set(
            err, CDC_ERR_FATAL,
            "replication slot \"%s\" does not exist but checkpoint %s is at " CDC_LSN_FMT
            ": the slot was dropped and changes after the checkpoint may be lost; "
            "restart with --accept-slot-position to create a new slot and start "
            "from the current position",
            c->cdc.slot_name, ckpt_describe(p->ckpt), CDC_LSN_ARGS(p->rec.lsn));
    return rc;
}

/*
 * Decide where to start from the slot and the checkpoint. The checkpoint is
 * written before PostgreSQL is told, so normally slot <= checkpoint.
 */
static cdc_rc
reconcile(struct pipeline *p, const struct pgsrc_slot_info *slot, bool have_ckpt, cdc_lsn *start,
          struct cdc_err *err)
{
    *start = slot->confirmed_flush;
    if (!have_ckpt) {
        log_info(MOD, "no checkpoint in %s: starting from the slot at " CDC_LSN_FMT,
                 ckpt_describe(p->ckpt), CDC_LSN_ARGS(slot->confirmed_flush));
        return CDC_OK;
    }
    if (p->rec.system_id[0] != '\0' && strcmp(p->rec.system_id, slot->system_id) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint %s belongs to database system %s but the server is system "
                           "%s: another database is behind this endpoint; point "
                           "cdc.checkpoint_storage at a new location to start over",
                           ckpt_describe(p->ckpt), p->rec.system_id, slot->system_id);
    if (slot->confirmed_flush > p->rec.lsn) {
        if (!p->o->accept_slot_position)
            return cdc_err_set(err, CDC_ERR_FATAL,
                               "replication slot \"%s\" is at " CDC_LSN_FMT
                               ", ahead of the checkpoint at " CDC_LSN_FMT
                               ": changes in between may never have been published; restart with "
                               "--accept-slot-position to start from the slot anyway",
                               p->cfg->cdc.slot_name, CDC_LSN_ARGS(slot->confirmed_flush),
                               CDC_LSN_ARGS(p->rec.lsn));
        log_warn(MOD,
                 "starting from slot position " CDC_LSN_FMT " ahead of checkpoint " CDC_LSN_FMT
                 " (--accept-slot-position)",
                 CDC_LSN_ARGS(slot->confirmed_flush), CDC_LSN_ARGS(p->rec.lsn));
        return CDC_OK;
    }
    /* everything up to the checkpoint was acked: skip it rather than replay it */
    *start = p->rec.lsn;
    return CDC_OK;
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

static void
fill_record(struct pipeline *p, const struct pgsrc_slot_info *slot)
{
    struct ckpt_record *r = &p->rec;

    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "%s", p->cfg->cdc.source_name);
    snprintf(r->engine, sizeof(r->engine), "postgres");
    snprintf(r->slot, sizeof(r->slot), "%s", p->cfg->cdc.slot_name);
    snprintf(r->system_id, sizeof(r->system_id), "%s", slot->system_id);
    r->timeline = slot->timeline;
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
    struct ckpt_record next;
    uint64_t floor;
    cdc_lsn safe;
    cdc_rc rc;

    ackt_position(p->ackt, atomic_load(&p->stream_seq), &safe, &floor);
    p->last_ckpt_ms = cdc_now_ms();
    if (safe <= p->rec.lsn)
        return CDC_OK;
    next = p->rec;
    next.lsn = safe;
    next.stream_seq = floor;
    next.time_us = cdc_wall_us();
    rc = ckpt_save(p->ckpt, &next, err);
    if (rc != CDC_OK) {
        metrics_inc(&p->m->checkpoint_failures_total);
        metrics_inc(&p->m->errors_total[METRICS_ERR_CHECKPOINT]);
        metrics_dep_down(p->m, METRICS_DEP_CHECKPOINT, err->msg);
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
    metrics_dep_up(p->m, METRICS_DEP_CHECKPOINT);
    /* durable: now PostgreSQL may be told, at once rather than at the next status tick */
    pgsrc_set_flushed(p->src, p->rec.lsn);
    (void) pgsrc_send_status(p->src, true, NULL);
    return CDC_OK;
}

static cdc_rc
publish_change(struct pipeline *p, const struct cdc_change *ch, struct cdc_err *err)
{
    struct jssink_hdr hdr;
    cdc_rc rc;

    if (p->seen.n > 0 && seen_has(&p->seen, ch->commit_lsn, ch->seq)) {
        /* a previous run stored it: count it as acked, publish nothing */
        ackt_sent(p->ackt);
        (void) ackt_ack(p->ackt, ch->commit_lsn);
        atomic_fetch_add(&p->acked, 1);
        p->skipped++;
        return CDC_OK;
    }
    cdc_buf_reset(&p->payload);
    cdc_buf_reset(&p->subject);
    rc = env_encode(&p->env, ch, &p->payload, err);
    if (rc != CDC_OK)
        return rc;
    subj_build(&p->subject, p->cfg->nats.subject_prefix, p->cfg->cdc.source_name,
               ch->rel ? ch->rel->schema : "", ch->rel ? ch->rel->table : "");
    if (!cdc_buf_ok(&p->payload) || !cdc_buf_ok(&p->subject))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory encoding an event");
    env_event_id(&p->env, ch, p->event_id, sizeof(p->event_id));
    /* the same for every event of a transaction: format it once per transaction */
    if (ch->commit_lsn != p->hdr_lsn) {
        p->hdr_lsn = ch->commit_lsn;
        snprintf(p->hdr_lsn_text, sizeof(p->hdr_lsn_text), CDC_LSN_FMT,
                 CDC_LSN_ARGS(ch->commit_lsn));
    }
    hdr.name = "Cdc-Commit-Lsn";
    hdr.value = p->hdr_lsn_text;
    /* count it first: its ack may arrive before jssink_publish returns */
    ackt_sent(p->ackt);
    rc = jssink_publish(p->sink, p->subject.data, p->event_id, p->payload.data, p->payload.len,
                        &hdr, 1, err);
    if (rc != CDC_OK)
        return rc;
    p->published++;
    metrics_inc(&p->m->events_total[ch->op]);
    return CDC_OK;
}

static cdc_rc
handle_data(struct pipeline *p, const struct pgsrc_msg *m, bool *stop, struct cdc_err *err)
{
    struct pgd_out out;
    cdc_rc rc;

    rc = pgd_feed(p->dec, m->data, m->len, m->wal_start, &out, err);
    if (rc != CDC_OK) {
        metrics_inc(&p->m->errors_total[METRICS_ERR_DECODE]);
        return rc == CDC_ERR_PROTO ? cdc_err_set(err, CDC_ERR_FATAL, "%s", err->msg) : rc;
    }
    switch (out.kind) {
    case PGD_BEGIN:
        p->in_txn = true;
        if (p->seen.n > 0 && out.commit_lsn > p->seen.max_commit) {
            log_info(MOD,
                     "replay past the stream's last event: %" PRIu64 " events were already "
                     "in the stream and not published again",
                     p->skipped);
            seen_free(&p->seen);
        }
        return ackt_begin(p->ackt, out.commit_lsn, atomic_load(&p->stream_seq), err);
    case PGD_CHANGES:
        for (size_t i = 0; i < out.n_changes; i++) {
            rc = publish_change(p, &out.changes[i], err);
            if (rc != CDC_OK)
                return rc;
        }
        return CDC_OK;
    case PGD_COMMIT:
        p->in_txn = false;
        p->last_commit_end = out.end_lsn;
        ackt_commit(p->ackt, out.end_lsn);
        metrics_inc(&p->m->transactions_total);
        if (p->o->stop_at_lsn != 0 && out.end_lsn >= p->o->stop_at_lsn)
            *stop = true;
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
    cdc_lsn received = pgsrc_received(p->src);

    jssink_stats(p->sink, &st);
    metrics_add(&p->m->publish_resent_total, st.resent - p->resent_seen);
    p->resent_seen = st.resent;
    metrics_set(&p->m->buffer_events, (int64_t) jssink_pending(p->sink));
    metrics_set(&p->m->checkpoint_lag_bytes,
                received > p->rec.lsn ? (int64_t) (received - p->rec.lsn) : 0);
}

static cdc_rc
stream(struct pipeline *p, struct pipeline_result *res, struct cdc_err *err)
{
    const int64_t interval = p->cfg->cdc.checkpoint_interval_ms;
    bool finish = false;
    cdc_rc rc = CDC_OK;

    p->last_ckpt_ms = p->last_data_ms = cdc_now_ms();
    while (!*p->o->stop && !finish) {
        struct pgsrc_msg m;

        metrics_heartbeat(p->m);
        rc = pgsrc_read(p->src, 100, &m, err);
        if (rc != CDC_OK) {
            metrics_dep_down(p->m, METRICS_DEP_SOURCE, err->msg);
            metrics_inc(&p->m->errors_total[METRICS_ERR_SOURCE]);
            break;
        }
        if (m.kind == PGSRC_DATA) {
            p->last_data_ms = cdc_now_ms();
            rc = handle_data(p, &m, &finish, err);
            if (rc != CDC_OK)
                break;
        } else if (m.kind == PGSRC_KEEPALIVE && !p->in_txn) {
            /* an idle server: everything before its position has been delivered */
            ackt_idle_advance(p->ackt, m.wal_end);
        }
        rc = jssink_poll(p->sink, err);
        if (rc != CDC_OK) {
            metrics_dep_down(p->m, METRICS_DEP_NATS, err->msg);
            metrics_inc(&p->m->errors_total[METRICS_ERR_SINK]);
            break;
        }
        if (cdc_now_ms() - p->last_ckpt_ms >= interval) {
            update_gauges(p);
            rc = checkpoint(p, err);
            if (rc != CDC_OK)
                break;
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
    (void) pgsrc_send_status(p->src, true, NULL);
    pgsrc_stop(p->src, NULL);
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
    metrics_dep_down(p->m, d, err->msg);
    metrics_inc(&p->m->errors_total[t]);
    return rc;
}

static cdc_rc
run(struct pipeline *p, struct pipeline_result *res, struct cdc_err *err)
{
    struct pgsrc_slot_info slot;
    bool have_ckpt = false;
    cdc_lsn start;
    cdc_rc rc;

    rc = ckpt_open(&p->ckpt, p->cfg->cdc.checkpoint_storage, err);
    if (rc == CDC_OK)
        rc = ckpt_load(p->ckpt, &p->rec, &have_ckpt, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_CHECKPOINT, METRICS_ERR_CHECKPOINT, rc, err);
    metrics_dep_up(p->m, METRICS_DEP_CHECKPOINT);
    rc = open_sink(p, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_NATS, METRICS_ERR_SINK, rc, err);
    metrics_dep_up(p->m, METRICS_DEP_NATS);
    rc = open_source(p, &slot, have_ckpt, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_SOURCE, METRICS_ERR_SOURCE, rc, err);
    rc = reconcile(p, &slot, have_ckpt, &start, err);
    if (rc != CDC_OK)
        return rc;
    rc = reconcile_stream(p, have_ckpt, start, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_NATS, METRICS_ERR_SINK, rc, err);
    fill_record(p, &slot);
    if (!have_ckpt)
        p->rec.lsn = start;
    rc = ackt_create(&p->ackt, start, err);
    if (rc == CDC_OK)
        rc = pgd_create(&p->dec, err);
    if (rc != CDC_OK)
        return rc;
    pgd_set_relation_hook(p->dec, on_relation, p);
    pgsrc_set_flushed(p->src, slot.confirmed_flush);
    rc = pgsrc_start(p->src, start, err);
    if (rc != CDC_OK)
        return dep_failed(p, METRICS_DEP_SOURCE, METRICS_ERR_SOURCE, rc, err);
    metrics_dep_up(p->m, METRICS_DEP_SOURCE);
    res->streamed = true;
    log_info(
        MOD, "streaming from " CDC_LSN_FMT " (slot \"%s\", publication \"%s\") to stream \"%s\"",
        CDC_LSN_ARGS(start), p->cfg->cdc.slot_name, p->cfg->cdc.publication, p->cfg->nats.stream);
    rc = stream(p, res, err);
    if (rc != CDC_OK)
        return rc;
    return shutdown_gracefully(p, err);
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
    env_ctx_init(&p.env, o->cfg->cdc.source_name);
    rc = run(&p, res, err);
    if (rc != CDC_OK && res->streamed) {
        struct cdc_err cerr; /* keep what was acked before the failure; err keeps the cause */

        (void) checkpoint(&p, &cerr);
    }
    res->events_published = p.published;
    res->events_acked = atomic_load(&p.acked);
    /* the sink goes first: no ack callback may run once the tracker is gone */
    jssink_destroy(p.sink);
    pgsrc_destroy(p.src);
    pgd_destroy(p.dec);
    ackt_destroy(p.ackt);
    ckpt_close(p.ckpt);
    seen_free(&p.seen);
    cdc_buf_free(&p.payload);
    cdc_buf_free(&p.subject);
    return rc;
}
