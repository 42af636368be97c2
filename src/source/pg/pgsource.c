/*
 * pgsource.c - the PostgreSQL source: pgsrc (the replication connection)
 * and pgdecode (pgoutput -> changes) behind the source.h interface, and the
 * start decision from the slot and the checkpoint.
 *
 * Table filters: the publication the daemon manages is planned from
 * cdc.table_filters and cdc.table_excludes (filter_pub_plan), so that rows of
 * excluded tables do not leave the database when PostgreSQL can express the
 * filter; and every relation is also judged here, once per Relation message
 * (cdc_relation.excluded), so that a wider or hand-made publication is
 * filtered in the daemon.
 *
 * Streamed transactions (protocol 2, pgstream.h) are spilled as they arrive
 * (SRC_SPILLED) and, at their Stream Commit, replayed from the spill file
 * through the decoder as one ordinary transaction: BEGIN with the commit
 * LSN and time, CHANGES, COMMIT with the end LSN. During a replay nothing is
 * read from the server (its messages wait in the socket); a standby status
 * update is sent when due, so wal_sender_timeout does not end the session.
 */
#include "aws/awscreds.h"
#include "source/pg/pgdecode.h"
#include "source/pg/pgspill.h"
#include "source/pg/pgsrc.h"
#include "source/pg/pgstream.h"
#include "source/source.h"
#include "transform/filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replayed messages between two checks of the standby status timer. */
#define PGSOURCE_REPLAY_STATUS_EVERY 1024

struct pgsource {
    struct pgsrc *src;
    struct pgd *dec;
    struct filter *filter;       /* cdc.table_filters, cdc.table_excludes */
    struct filter_pub_plan plan; /* the publication they call for */
    struct pgstream *streams;    /* streamed transactions not yet committed, and the replay */
    bool in_txn;
    cdc_lsn replay_end;    /* the replayed transaction's end LSN (its Stream Commit's) */
    cdc_lsn replay_commit; /* ... and its commit LSN */
    unsigned replay_count; /* messages replayed since the last status check */
};

/*
 * Decoder hook: judge the relation against the table filters (the verdict
 * stays on it until its next Relation message), and pass included ones on
 * to the pipeline's hook.
 */
static void
pgsource_on_relation(void *closure, struct cdc_relation *rel)
{
    struct source *s = closure;
    struct pgsource *ps = s->impl;

    rel->excluded = !filter_table_included(ps->filter, rel->schema, rel->table);
    if (!rel->excluded && s->on_relation != NULL)
        s->on_relation(s->relation_closure, rel);
}

/* pgsrc's view of the plan; *out is malloc'd (NULL when there are no objects). */
static cdc_rc
pgsource_pub_objects(const struct filter_pub_plan *plan, struct pgsrc_pub_object **out,
                     struct cdc_err *err)
{
    *out = NULL;
    if (plan->n == 0)
        return CDC_OK;
    *out = calloc((size_t) plan->n, sizeof(**out));
    if (*out == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < plan->n; i++) {
        (*out)[i].schema = plan->objects[i].schema;
        (*out)[i].table = plan->objects[i].table;
    }
    return CDC_OK;
}

static cdc_rc
pgsource_connect(struct source *s, bool create_slot, struct pgsrc_slot_info *slot,
                 struct cdc_err *err)
{
    const struct cdc_config *c = s->cfg;
    struct pgsource *ps = s->impl;
    struct pgsrc_pub_object *objs = NULL;
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
    po.manage_publication = true;
    po.pub_all_tables = ps->plan.all_tables;
    rc = pgsource_pub_objects(&ps->plan, &objs, err);
    if (rc != CDC_OK)
        return rc;
    po.pub_objects = objs;
    po.n_pub_objects = ps->plan.n;
    po.create_slot = create_slot;
    po.streaming = c->cdc.pg_streaming;
    rc = pgsrc_create(&ps->src, &po, err);
    free(objs);
    if (rc != CDC_OK)
        return rc;
    return pgsrc_prepare(ps->src, slot, err);
}

/* Append "; text" to the start note (logged by the pipeline), as a warning when warn. */
static void
pgsource_note(struct src_start *start, bool warn, const char *text)
{
    size_t len = strlen(start->note);

    if (len + 2 < sizeof(start->note))
        snprintf(start->note + len, sizeof(start->note) - len, "%s%s", len > 0 ? "; " : "", text);
    start->warn = start->warn || warn;
}

/* What the publication means for the table filters, for the log. */
static void
pgsource_note_publication(struct source *s, const struct pgsrc_slot_info *slot,
                          struct src_start *start)
{
    const struct cdc_config *c = s->cfg;
    struct pgsource *ps = s->impl;
    char text[512];

    if (!slot->publication_managed) {
        if (!filter_has_includes(ps->filter) && !filter_has_excludes(ps->filter))
            return;
        snprintf(text, sizeof(text),
                 "publication \"%s\" was not created by cdc-handler (its comment does not start "
                 "with \"cdc-handler\"): it is used as it is, and cdc.table_filters and "
                 "cdc.table_excludes are applied in the daemon, so rows of excluded tables that it "
                 "publishes leave the database",
                 c->cdc.publication);
        pgsource_note(start, true, text);
        return;
    }
    if (slot->publication_changed) {
        snprintf(text, sizeof(text),
                 "publication \"%s\" recreated for the table filters: it applies to transactions "
                 "that commit from now on",
                 c->cdc.publication);
        pgsource_note(start, false, text);
    }
    if (ps->plan.wider) {
        snprintf(text, sizeof(text),
                 "publication \"%s\" holds more than the included tables (%s), so that tables "
                 "created later are not missed: rows of the others leave the database and are "
                 "dropped in the daemon",
                 c->cdc.publication, ps->plan.why);
        pgsource_note(start, true, text);
    }
}

/*
 * Decide where to start from the slot and the checkpoint. The checkpoint is
 * written before PostgreSQL is told, so normally slot <= checkpoint.
 */
static cdc_rc
pgsource_decide(struct source *s, const struct pgsrc_slot_info *slot,
                const struct ckpt_record *ckpt, const char *ckpt_desc, bool accept,
                struct src_start *start, struct cdc_err *err)
{
    const char *name = s->cfg->cdc.slot_name;

    start->pos = slot->confirmed_flush;
    if (ckpt == NULL) {
        snprintf(start->note, sizeof(start->note),
                 "no checkpoint in %s: starting from the slot at " CDC_LSN_FMT, ckpt_desc,
                 CDC_LSN_ARGS(slot->confirmed_flush));
        return CDC_OK;
    }
    if (ckpt->system_id[0] != '\0' && strcmp(ckpt->system_id, slot->system_id) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint %s belongs to database system %s but the server is system "
                           "%s: another database is behind this endpoint; point "
                           "cdc.checkpoint_storage at a new location to start over",
                           ckpt_desc, ckpt->system_id, slot->system_id);
    if (slot->confirmed_flush > ckpt->lsn) {
        if (!accept)
            return cdc_err_set(err, CDC_ERR_FATAL,
                               "replication slot \"%s\" is at " CDC_LSN_FMT
                               ", ahead of the checkpoint at " CDC_LSN_FMT
                               ": changes in between may never have been published; restart with "
                               "--accept-slot-position to start from the slot anyway",
                               name, CDC_LSN_ARGS(slot->confirmed_flush), CDC_LSN_ARGS(ckpt->lsn));
        snprintf(start->note, sizeof(start->note),
                 "starting from slot position " CDC_LSN_FMT " ahead of checkpoint " CDC_LSN_FMT
                 " (--accept-slot-position)",
                 CDC_LSN_ARGS(slot->confirmed_flush), CDC_LSN_ARGS(ckpt->lsn));
        start->warn = true;
        return CDC_OK;
    }
    /* everything up to the checkpoint was acked: skip it rather than replay it */
    start->pos = ckpt->lsn;
    return CDC_OK;
}

/* The streamed transactions' state; spill files an earlier process left are removed. */
static cdc_rc
pgsource_streams(struct source *s, struct cdc_err *err)
{
    const struct cdc_config *c = s->cfg;
    struct pgsource *ps = s->impl;
    struct pgstream_opts so = {c->cdc.spill_dir, c->cdc.slot_name,
                               (uint64_t) c->cdc.spill_max_bytes};

    /* files are unlinked once open: only a crash between the two calls leaves one */
    (void) pgspill_sweep(so.dir, so.tag, NULL, NULL);
    return pgstream_create(&ps->streams, &so, err);
}

static cdc_rc
pgsource_prepare(struct source *s, const struct ckpt_record *ckpt, const char *ckpt_desc,
                 bool accept, struct ckpt_record *rec, struct src_start *start, struct cdc_err *err)
{
    struct pgsource *ps = s->impl;
    struct pgsrc_slot_info slot;
    cdc_rc rc;

    memset(&slot, 0, sizeof(slot));
    /* a slot that vanished behind a checkpoint took the changes in between with it */
    rc = pgsource_connect(s, ckpt == NULL || accept, &slot, err);
    if (rc == CDC_ERR_FATAL && slot.slot_missing)
        return cdc_err_set(
            err, CDC_ERR_FATAL,
            "replication slot \"%s\" does not exist but checkpoint %s is at " CDC_LSN_FMT
            ": the slot was dropped and changes after the checkpoint may be lost; "
            "restart with --accept-slot-position to create a new slot and start "
            "from the current position",
            s->cfg->cdc.slot_name, ckpt_desc, CDC_LSN_ARGS(ckpt->lsn));
    if (rc != CDC_OK)
        return rc;
    rc = pgsource_decide(s, &slot, ckpt, ckpt_desc, accept, start, err);
    if (rc != CDC_OK)
        return rc;
    pgsource_note_publication(s, &slot, start);
    snprintf(rec->engine, sizeof(rec->engine), "postgres");
    snprintf(rec->slot, sizeof(rec->slot), "%s", s->cfg->cdc.slot_name);
    snprintf(rec->system_id, sizeof(rec->system_id), "%s", slot.system_id);
    rec->timeline = slot.timeline;
    rc = pgd_create(&ps->dec, err);
    if (rc != CDC_OK)
        return rc;
    pgd_set_relation_hook(ps->dec, pgsource_on_relation, s);
    rc = pgsource_streams(s, err);
    if (rc != CDC_OK)
        return rc;
    pgsrc_set_flushed(ps->src, slot.confirmed_flush);
    return CDC_OK;
}

static cdc_rc
pgsource_start(struct source *s, cdc_lsn pos, struct cdc_err *err)
{
    struct pgsource *ps = s->impl;

    return pgsrc_start(ps->src, pos, err);
}

/* What a decoded message means for the pipeline. */
static void
pgsource_map(struct pgsource *ps, const struct pgd_out *d, struct src_out *out)
{
    switch (d->kind) {
    case PGD_BEGIN:
        ps->in_txn = true;
        out->kind = SRC_BEGIN;
        out->key = d->commit_lsn;
        out->commit_time_us = d->commit_time_us;
        break;
    case PGD_CHANGES:
        out->kind = SRC_CHANGES;
        out->changes = d->changes;
        out->n_changes = d->n_changes;
        break;
    case PGD_COMMIT:
        ps->in_txn = false;
        out->kind = SRC_COMMIT;
        out->end = d->end_lsn;
        break;
    default:
        break;
    }
}

/*
 * The next piece of the streamed transaction being replayed: its changes one
 * message at a time, then its COMMIT. Messages that give the pipeline nothing
 * (Relation, other logical messages) are passed over in the same call.
 */
static cdc_rc
pgsource_replay(struct pgsource *ps, struct src_out *out, struct cdc_err *err)
{
    struct pgspill_rec rec;
    struct pgd_out d;
    bool end;
    cdc_rc rc;

    while (out->kind == SRC_NONE) {
        if (++ps->replay_count >= PGSOURCE_REPLAY_STATUS_EVERY) {
            /* we are not reading: keep the walsender's wal_sender_timeout from ending us */
            ps->replay_count = 0;
            rc = pgsrc_send_status(ps->src, false, err);
            if (rc != CDC_OK)
                return rc;
        }
        rc = pgstream_replay_next(ps->streams, &rec, &end, err);
        if (rc != CDC_OK)
            return rc;
        if (end)
            rc = pgd_stream_commit(ps->dec, ps->replay_commit, ps->replay_end, &d, err);
        else
            rc = pgd_feed_streamed(ps->dec, rec.msg, rec.len, rec.lsn, &d, err);
        if (rc != CDC_OK)
            return rc;
        pgsource_map(ps, &d, out);
    }
    return CDC_OK;
}

/* A pgoutput message: what it means for the pipeline. */
static cdc_rc
pgsource_data(struct pgsource *ps, const struct pgsrc_msg *m, struct src_out *out,
              struct cdc_err *err)
{
    struct pgstream_out so;
    struct pgd_out d;
    cdc_rc rc;

    rc = pgstream_feed(ps->streams, m->data, m->len, m->wal_start, &so, err);
    if (rc != CDC_OK)
        return rc;
    if (so.kind == PGSTREAM_KEPT) {
        out->kind = SRC_SPILLED;
        return CDC_OK;
    }
    if (so.kind == PGSTREAM_COMMIT) {
        ps->replay_commit = so.commit_lsn;
        ps->replay_end = so.end_lsn;
        ps->replay_count = 0;
        pgd_stream_begin(ps->dec, so.xid, so.commit_lsn, so.commit_time_us, &d);
        pgsource_map(ps, &d, out);
        return CDC_OK;
    }
    rc = pgd_feed(ps->dec, m->data, m->len, m->wal_start, &d, err);
    if (rc != CDC_OK)
        return rc;
    pgsource_map(ps, &d, out);
    return CDC_OK;
}

static cdc_rc
pgsource_next(struct source *s, int timeout_ms, struct src_out *out, struct cdc_err *err)
{
    struct pgsource *ps = s->impl;
    struct pgsrc_msg m;
    cdc_rc rc;

    memset(out, 0, sizeof(*out));
    if (pgstream_replaying(ps->streams))
        return pgsource_replay(ps, out, err);
    rc = pgsrc_read(ps->src, timeout_ms, &m, err);
    if (rc != CDC_OK)
        return rc;
    if (m.kind == PGSRC_DATA)
        return pgsource_data(ps, &m, out, err);
    /*
     * An idle server: everything before its position has been delivered. Not
     * while a streamed transaction is open: our confirmed position then stays
     * where it was before its chunks began (docs/ARCHITECTURE.md).
     */
    if (m.kind == PGSRC_KEEPALIVE && !ps->in_txn && pgstream_open(ps->streams) == 0) {
        out->kind = SRC_IDLE;
        out->end = m.wal_end;
    }
    return CDC_OK;
}

static void
pgsource_confirm(struct source *s, cdc_lsn pos)
{
    struct pgsource *ps = s->impl;

    /* durable: now PostgreSQL may be told, at once rather than at the next status tick */
    pgsrc_set_flushed(ps->src, pos);
    (void) pgsrc_send_status(ps->src, true, NULL);
}

static cdc_lsn
pgsource_received(struct source *s)
{
    struct pgsource *ps = s->impl;

    return pgsrc_received(ps->src);
}

static cdc_rc
pgsource_health(struct source *s, struct src_health *out, struct cdc_err *err)
{
    struct pgsource *ps = s->impl;
    struct pgsrc_slot_info slot;
    cdc_rc rc;

    memset(&slot, 0, sizeof(slot));
    rc = pgsrc_slot_info(ps->src, &slot, err);
    out->retained_bytes = slot.retained_bytes;
    out->wal_status = slot.wal_status;
    out->safe_wal_bytes = slot.safe_wal_bytes;
    return rc;
}

static cdc_rc
pgsource_heartbeat(struct source *s, cdc_lsn *lsn, struct cdc_err *err)
{
    struct pgsource *ps = s->impl;

    return pgsrc_heartbeat(ps->src, lsn, err);
}

static void
pgsource_stop(struct source *s)
{
    struct pgsource *ps = s->impl;

    (void) pgsrc_send_status(ps->src, true, NULL);
    pgsrc_stop(ps->src, NULL);
}

static void
pgsource_destroy(struct source *s)
{
    struct pgsource *ps = s->impl;

    pgsrc_destroy(ps->src);
    pgd_destroy(ps->dec);
    filter_pub_plan_free(&ps->plan);
    filter_destroy(ps->filter);
    pgstream_destroy(ps->streams);
    free(ps);
}

static const struct src_ops pgsource_ops = {
    .prepare = pgsource_prepare,
    .start = pgsource_start,
    .next = pgsource_next,
    .confirm = pgsource_confirm,
    .received = pgsource_received,
    .health = pgsource_health,
    .heartbeat = pgsource_heartbeat,
    .stop = pgsource_stop,
    .destroy = pgsource_destroy,
};

cdc_rc
pgsource_init(struct source *s, struct cdc_err *err)
{
    struct pgsource *ps = calloc(1, sizeof(*ps));
    cdc_rc rc;

    if (ps == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = src_filter_create(s->cfg, &ps->filter, err);
    if (rc == CDC_OK)
        rc = filter_pub_plan(ps->filter, &ps->plan, err);
    if (rc != CDC_OK) {
        filter_destroy(ps->filter);
        free(ps);
        return rc;
    }
    s->ops = &pgsource_ops;
    s->impl = ps;
    return CDC_OK;
}
