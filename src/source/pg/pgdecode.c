/*
 * pgdecode.c - transaction tracking and row-image building over pgoutput.c.
 *
 * State: the relation cache, the open transaction (xid, commit LSN and time,
 * next seq), and reusable buffers: one value array holding the before image
 * in [0, n) and the after image in [n, 2n), and the change array (more than
 * one entry only for Truncate). Each message is decoded and validated whole
 * (pgo_decode) and checked against the state before any state changes.
 *
 * Image rules (pgoutput protocol version 1):
 *   'O' old tuple: before has every column as sent;
 *   'K' old tuple: before has the key columns, the others are CDC_VAL_ABSENT
 *       (the server sends them as 'n');
 *   'u' value: CDC_VAL_UNCHANGED, except that an Update's new image takes the
 *       value from an 'O' old image that has it present.
 */
#include "source/pg/pgdecode.h"

#include <stdlib.h>
#include <string.h>

#include "event/jsonr.h"
#include "source/pg/pgoutput.h"
#include "source/pg/relcache.h"

struct pgd {
    struct relcache *rels;
    bool in_txn;            /* between Begin and Commit */
    uint32_t xid;           /* current transaction */
    cdc_lsn commit_lsn;     /* its commit LSN, from Begin's final_lsn */
    int64_t commit_time_us; /* its commit time, Unix microseconds */
    uint32_t seq;           /* next change's seq */

    struct cdc_value *vals; /* before: [0, n), after: [n, 2n) */
    size_t vals_cap;
    struct cdc_tuple before;
    struct cdc_tuple after;
    struct cdc_change *changes;
    size_t changes_cap;
    pgd_relation_hook on_relation; /* may be NULL */
    void *on_relation_closure;
    struct cdc_buf ddl; /* the statement of the last DDL message, NUL-terminated */
};

void
pgd_set_relation_hook(struct pgd *d, pgd_relation_hook fn, void *closure)
{
    d->on_relation = fn;
    d->on_relation_closure = closure;
}

static cdc_rc
pgd_on_relation(struct pgd *d, const struct pgo_relation *r, struct cdc_err *err)
{
    cdc_rc rc = relcache_put(d->rels, r, err);

    /* the cache owns the relation; the hook may set flags on its columns */
    if (rc == CDC_OK && d->on_relation != NULL)
        d->on_relation(d->on_relation_closure,
                       (struct cdc_relation *) relcache_get(d->rels, r->relid));
    return rc;
}

cdc_rc
pgd_create(struct pgd **out, struct cdc_err *err)
{
    struct pgd *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory creating the pgoutput decoder");
    if (relcache_create(&d->rels, err) != CDC_OK) {
        free(d);
        return CDC_ERR_NOMEM;
    }
    *out = d;
    return CDC_OK;
}

void
pgd_destroy(struct pgd *d)
{
    if (d == NULL)
        return;
    relcache_destroy(d->rels);
    free(d->vals);
    free(d->changes);
    cdc_buf_free(&d->ddl);
    free(d);
}

static cdc_rc
pgd_reserve_vals(struct pgd *d, size_t n, struct cdc_err *err)
{
    struct cdc_value *nv;

    if (n <= d->vals_cap)
        return CDC_OK;
    nv = realloc(d->vals, n * sizeof(*nv));
    if (nv == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for %zu row values", n);
    d->vals = nv;
    d->vals_cap = n;
    return CDC_OK;
}

static cdc_rc
pgd_reserve_changes(struct pgd *d, size_t n, struct cdc_err *err)
{
    struct cdc_change *nc;

    if (n <= d->changes_cap)
        return CDC_OK;
    nc = realloc(d->changes, n * sizeof(*nc));
    if (nc == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for %zu changes", n);
    d->changes = nc;
    d->changes_cap = n;
    return CDC_OK;
}

/* changes[i], stamped with the transaction's identity and the next seq. */
static struct cdc_change *
pgd_next_change(struct pgd *d, size_t i, enum cdc_op op, const struct cdc_relation *rel,
                cdc_lsn wal_start)
{
    struct cdc_change *ch = &d->changes[i];

    memset(ch, 0, sizeof(*ch));
    ch->op = op;
    ch->rel = rel;
    ch->lsn = wal_start;
    ch->commit_lsn = d->commit_lsn;
    ch->xid = d->xid;
    ch->seq = d->seq++;
    ch->commit_time_us = d->commit_time_us;
    return ch;
}

static cdc_rc
pgd_need_txn(const struct pgd *d, char type, struct cdc_err *err)
{
    if (d->in_txn)
        return CDC_OK;
    return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: %s message outside a transaction",
                       pgo_msg_type_name(type));
}

static cdc_rc
pgd_lookup_rel(const struct pgd *d, char type, uint32_t relid, const struct cdc_relation **out,
               struct cdc_err *err)
{
    *out = relcache_get(d->rels, relid);
    if (*out != NULL)
        return CDC_OK;
    return cdc_err_set(err, CDC_ERR_PROTO,
                       "pgoutput: %s message for unknown relation OID %u (no Relation message "
                       "received for it)",
                       pgo_msg_type_name(type), relid);
}

/* Fill vals[0..rel->ncols) from t; key_only: non-key columns become ABSENT. */
static cdc_rc
pgd_fill_tuple(const struct cdc_relation *rel, char type, const struct pgo_tupledata *t,
               bool key_only, struct cdc_value *vals, struct cdc_err *err)
{
    struct pgo_tuple_iter it;
    struct pgo_datum dt;

    if (t->ncols != rel->ncols)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: %s message for relation \"%s.%s\" (OID %u) has a tuple of "
                           "%u columns, the relation has %u",
                           pgo_msg_type_name(type), rel->schema, rel->table, rel->id,
                           (unsigned) t->ncols, rel->ncols);
    pgo_tuple_iter_init(&it, t);
    for (uint32_t i = 0; pgo_tuple_next(&it, &dt); i++) {
        struct cdc_value *v = &vals[i];

        v->data = NULL;
        v->len = 0;
        if (key_only && !rel->cols[i].is_key) {
            v->state = CDC_VAL_ABSENT;
            continue;
        }
        switch (dt.kind) {
        case PGO_DATUM_NULL:
            v->state = CDC_VAL_NULL;
            break;
        case PGO_DATUM_UNCHANGED:
            v->state = CDC_VAL_UNCHANGED;
            break;
        default: /* text or binary: pgo_decode() admits nothing else */
            v->state = CDC_VAL_PRESENT;
            v->data = dt.data;
            v->len = dt.len;
            break;
        }
    }
    return CDC_OK;
}

static cdc_rc
pgd_on_begin(struct pgd *d, const struct pgo_begin *b, struct pgd_out *out)
{
    /* a Begin inside a transaction restarts it: the server resends it whole after a reconnect */
    d->in_txn = true;
    d->xid = b->xid;
    d->commit_lsn = b->final_lsn;
    d->commit_time_us = b->commit_time_us;
    d->seq = 0;
    out->kind = PGD_BEGIN;
    out->commit_lsn = b->final_lsn;
    out->xid = b->xid;
    out->commit_time_us = d->commit_time_us;
    return CDC_OK;
}

static cdc_rc
pgd_on_commit(struct pgd *d, const struct pgo_commit *c, struct pgd_out *out, struct cdc_err *err)
{
    if (pgd_need_txn(d, PGO_MSG_COMMIT, err) != CDC_OK)
        return CDC_ERR_PROTO;
    if (c->commit_lsn != d->commit_lsn)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: Commit at " CDC_LSN_FMT
                           " does not match its Begin's final LSN " CDC_LSN_FMT " (xid %u)",
                           CDC_LSN_ARGS(c->commit_lsn), CDC_LSN_ARGS(d->commit_lsn), d->xid);
    d->in_txn = false;
    out->kind = PGD_COMMIT;
    out->commit_lsn = c->commit_lsn;
    out->end_lsn = c->end_lsn;
    return CDC_OK;
}

/* Update: take UNCHANGED new values from a full old image that has them. */
static void
pgd_fill_unchanged(uint32_t n, const struct cdc_value *before, struct cdc_value *after)
{
    for (uint32_t i = 0; i < n; i++)
        if (after[i].state == CDC_VAL_UNCHANGED && before[i].state == CDC_VAL_PRESENT)
            after[i] = before[i];
}

static cdc_rc
pgd_on_change(struct pgd *d, char type, const struct pgo_change *c, cdc_lsn wal_start,
              struct pgd_out *out, struct cdc_err *err)
{
    enum cdc_op op = type == PGO_MSG_INSERT   ? CDC_OP_INSERT
                     : type == PGO_MSG_UPDATE ? CDC_OP_UPDATE
                                              : CDC_OP_DELETE;
    const struct cdc_relation *rel;
    struct cdc_change *ch;
    uint32_t n;

    if (pgd_need_txn(d, type, err) != CDC_OK ||
        pgd_lookup_rel(d, type, c->relid, &rel, err) != CDC_OK)
        return CDC_ERR_PROTO;
    n = rel->ncols;
    if (pgd_reserve_vals(d, (size_t) n * 2, err) != CDC_OK ||
        pgd_reserve_changes(d, 1, err) != CDC_OK)
        return CDC_ERR_NOMEM;
    d->before = (struct cdc_tuple){n, d->vals};
    d->after = (struct cdc_tuple){n, d->vals + n};
    if (c->old_kind != 0 &&
        pgd_fill_tuple(rel, type, &c->oldtup, c->old_kind == 'K', d->before.vals, err) != CDC_OK)
        return CDC_ERR_PROTO;
    if (c->has_new && pgd_fill_tuple(rel, type, &c->newtup, false, d->after.vals, err) != CDC_OK)
        return CDC_ERR_PROTO;
    if (c->has_new && c->old_kind == 'O')
        pgd_fill_unchanged(n, d->before.vals, d->after.vals);
    ch = pgd_next_change(d, 0, op, rel, wal_start);
    ch->before = c->old_kind != 0 ? &d->before : NULL;
    ch->after = c->has_new ? &d->after : NULL;
    out->kind = PGD_CHANGES;
    out->changes = d->changes;
    out->n_changes = 1;
    return CDC_OK;
}

static cdc_rc
pgd_on_truncate(struct pgd *d, const struct pgo_truncate *t, cdc_lsn wal_start, struct pgd_out *out,
                struct cdc_err *err)
{
    const struct cdc_relation *rel;

    if (pgd_need_txn(d, PGO_MSG_TRUNCATE, err) != CDC_OK)
        return CDC_ERR_PROTO;
    /* look every relation up first, so a failure consumes no seq */
    for (uint32_t i = 0; i < t->nrels; i++)
        if (pgd_lookup_rel(d, PGO_MSG_TRUNCATE, pgo_truncate_relid(t, i), &rel, err) != CDC_OK)
            return CDC_ERR_PROTO;
    if (pgd_reserve_changes(d, t->nrels, err) != CDC_OK)
        return CDC_ERR_NOMEM;
    for (uint32_t i = 0; i < t->nrels; i++)
        (void) pgd_next_change(d, i, CDC_OP_TRUNCATE,
                               relcache_get(d->rels, pgo_truncate_relid(t, i)), wal_start);
    out->kind = PGD_CHANGES;
    out->changes = d->changes;
    out->n_changes = t->nrels;
    return CDC_OK;
}

/*
 * A DDL message of our event trigger (setup-ddl): one CDC_OP_DDL change whose
 * text is the message's "command" member; content that is not such JSON is
 * taken whole as the text, so a DDL event is never lost.
 */
static cdc_rc
pgd_on_ddl(struct pgd *d, const struct pgo_message *m, cdc_lsn wal_start, struct pgd_out *out,
           struct cdc_err *err)
{
    struct jsonr r, v;
    struct cdc_change *ch;

    cdc_buf_reset(&d->ddl);
    jsonr_init(&r, (const char *) m->content, m->content_len);
    if (!jsonr_member(&r, "command", &v) || !jsonr_string(&v, &d->ddl) ||
        strlen(d->ddl.data) != d->ddl.len) {
        cdc_buf_reset(&d->ddl);
        cdc_buf_append(&d->ddl, m->content, m->content_len);
        if (!cdc_buf_reserve(&d->ddl, 0))
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a DDL message");
    }
    if (!cdc_buf_ok(&d->ddl) || pgd_reserve_changes(d, 1, err) != CDC_OK)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for a DDL message");
    ch = pgd_next_change(d, 0, CDC_OP_DDL, NULL, wal_start);
    ch->ddl = d->ddl.data;
    out->kind = PGD_CHANGES;
    out->changes = d->changes;
    out->n_changes = 1;
    return CDC_OK;
}

static void
pgd_on_message(const struct pgo_message *m, struct pgd_out *out)
{
    out->kind = PGD_MESSAGE;
    out->msg_prefix = m->prefix;
    out->msg_content = m->content;
    out->msg_len = m->content_len;
    out->msg_transactional = (m->flags & PGO_MESSAGE_TRANSACTIONAL) != 0;
}

static cdc_rc
pgd_dispatch(struct pgd *d, const struct pgo_msg *m, cdc_lsn wal_start, struct pgd_out *out,
             struct cdc_err *err)
{
    switch (m->type) {
    case PGO_MSG_BEGIN:
        return pgd_on_begin(d, &m->u.begin, out);
    case PGO_MSG_COMMIT:
        return pgd_on_commit(d, &m->u.commit, out, err);
    case PGO_MSG_RELATION:
        return pgd_on_relation(d, &m->u.relation, err);
    case PGO_MSG_INSERT:
    case PGO_MSG_UPDATE:
    case PGO_MSG_DELETE:
        return pgd_on_change(d, m->type, &m->u.change, wal_start, out, err);
    case PGO_MSG_TRUNCATE:
        return pgd_on_truncate(d, &m->u.truncate, wal_start, out, err);
    case PGO_MSG_MESSAGE:
        if (d->in_txn && (m->u.message.flags & PGO_MESSAGE_TRANSACTIONAL) != 0 &&
            strcmp(m->u.message.prefix, PGD_DDL_PREFIX) == 0)
            return pgd_on_ddl(d, &m->u.message, wal_start, out, err);
        pgd_on_message(&m->u.message, out);
        return CDC_OK;
    default: /* Origin, Type: nothing for the caller */
        return CDC_OK;
    }
}

cdc_rc
pgd_feed(struct pgd *d, const uint8_t *msg, size_t len, cdc_lsn wal_start, struct pgd_out *out,
         struct cdc_err *err)
{
    struct pgo_msg m;

    memset(out, 0, sizeof(*out));
    if (pgo_decode(msg, len, &m, err) != CDC_OK)
        return CDC_ERR_PROTO;
    return pgd_dispatch(d, &m, wal_start, out, err);
}

void
pgd_stream_begin(struct pgd *d, uint32_t xid, cdc_lsn commit_lsn, int64_t commit_time_us,
                 struct pgd_out *out)
{
    struct pgo_begin b = {commit_lsn, commit_time_us, xid};

    memset(out, 0, sizeof(*out));
    (void) pgd_on_begin(d, &b, out);
}

cdc_rc
pgd_feed_streamed(struct pgd *d, const uint8_t *msg, size_t len, cdc_lsn wal_start,
                  struct pgd_out *out, struct cdc_err *err)
{
    struct pgo_msg m;

    memset(out, 0, sizeof(*out));
    if (pgo_decode_v2(msg, len, true, &m, err) != CDC_OK)
        return CDC_ERR_PROTO;
    switch (m.type) {
    case PGO_MSG_BEGIN:
    case PGO_MSG_COMMIT:
    case PGO_MSG_STREAM_START:
    case PGO_MSG_STREAM_STOP:
    case PGO_MSG_STREAM_COMMIT:
    case PGO_MSG_STREAM_ABORT:
        return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: %s message inside a streamed transaction",
                           pgo_msg_type_name(m.type));
    default:
        return pgd_dispatch(d, &m, wal_start, out, err);
    }
}

cdc_rc
pgd_stream_commit(struct pgd *d, cdc_lsn commit_lsn, cdc_lsn end_lsn, struct pgd_out *out,
                  struct cdc_err *err)
{
    struct pgo_commit c = {0, commit_lsn, end_lsn, d->commit_time_us};

    memset(out, 0, sizeof(*out));
    return pgd_on_commit(d, &c, out, err);
}
