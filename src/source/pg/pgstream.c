/*
 * pgstream.c - streamed transactions of pgoutput protocol version 2; see
 * pgstream.h. The open transactions are a small array (there are at most as
 * many as the server has sessions writing at once) searched linearly.
 */
#include "source/pg/pgstream.h"

#include <stdlib.h>
#include <string.h>

#include "source/pg/pgoutput.h"

struct pgstream {
    struct pgstream_opts o; /* dir and tag are copies */
    struct pgspill **open;  /* the open transactions' spills */
    size_t n_open, cap_open;
    struct pgspill *cur;    /* the transaction of the stream block we are in, or NULL */
    struct pgspill *replay; /* the committed transaction being replayed, or NULL */
};

cdc_rc
pgstream_create(struct pgstream **out, const struct pgstream_opts *o, struct cdc_err *err)
{
    struct pgstream *st = calloc(1, sizeof(*st));

    if (st == NULL)
        goto fail;
    st->o = *o;
    st->o.dir = o->dir != NULL ? strdup(o->dir) : NULL;
    st->o.tag = strdup(o->tag != NULL ? o->tag : "");
    if ((o->dir != NULL && st->o.dir == NULL) || st->o.tag == NULL)
        goto fail;
    *out = st;
    return CDC_OK;
fail:
    pgstream_destroy(st);
    return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for streamed transactions");
}

void
pgstream_destroy(struct pgstream *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_open; i++)
        pgspill_destroy(st->open[i]);
    pgspill_destroy(st->replay);
    free(st->open);
    free((char *) st->o.dir);
    free((char *) st->o.tag);
    free(st);
}

static struct pgspill *
find(const struct pgstream *st, uint32_t xid, size_t *at)
{
    for (size_t i = 0; i < st->n_open; i++)
        if (pgspill_xid(st->open[i]) == xid) {
            *at = i;
            return st->open[i];
        }
    return NULL;
}

/* Take open[at] out of the open set (order does not matter). */
static struct pgspill *
take(struct pgstream *st, size_t at)
{
    struct pgspill *s = st->open[at];

    st->open[at] = st->open[--st->n_open];
    if (st->cur == s)
        st->cur = NULL;
    return s;
}

static cdc_rc
add(struct pgstream *st, uint32_t xid, struct pgspill **out, struct cdc_err *err)
{
    cdc_rc rc;

    if (st->n_open == st->cap_open) {
        size_t cap = st->cap_open ? st->cap_open * 2 : 8;
        struct pgspill **n = realloc(st->open, cap * sizeof(*n));

        if (n == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for streamed transactions");
        st->open = n;
        st->cap_open = cap;
    }
    rc = pgspill_create(out, st->o.dir, st->o.tag, xid, st->o.max_bytes, err);
    if (rc == CDC_OK)
        st->open[st->n_open++] = *out;
    return rc;
}

static cdc_rc
on_start(struct pgstream *st, const struct pgo_stream_start *m, struct cdc_err *err)
{
    struct pgspill *s;
    size_t at;

    if (st->cur != NULL)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: Stream Start of transaction %u inside the stream block of "
                           "transaction %u",
                           m->xid, pgspill_xid(st->cur));
    s = find(st, m->xid, &at);
    if (s != NULL && m->first_segment) {
        /* cannot happen within one session: start the transaction over */
        pgspill_destroy(take(st, at));
        s = NULL;
    }
    if (s == NULL && !m->first_segment)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: Stream Start of a later chunk of transaction %u, whose first "
                           "chunk this session never received",
                           m->xid);
    if (s == NULL) {
        cdc_rc rc = add(st, m->xid, &s, err);

        if (rc != CDC_OK)
            return rc;
    }
    st->cur = s;
    return CDC_OK;
}

static cdc_rc
on_commit(struct pgstream *st, const struct pgo_stream_commit *m, struct pgstream_out *out,
          struct cdc_err *err)
{
    struct pgspill *s;
    size_t at;
    cdc_rc rc;

    s = find(st, m->xid, &at);
    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: Stream Commit of transaction %u, which this session never "
                           "saw streamed",
                           m->xid);
    st->replay = take(st, at);
    rc = pgspill_rewind(st->replay, err);
    if (rc != CDC_OK)
        return rc;
    out->kind = PGSTREAM_COMMIT;
    out->xid = m->xid;
    out->commit_lsn = m->commit_lsn;
    out->end_lsn = m->end_lsn;
    out->commit_time_us = m->commit_time_us;
    return CDC_OK;
}

static cdc_rc
on_abort(struct pgstream *st, const struct pgo_stream_abort *m, struct cdc_err *err)
{
    struct pgspill *s;
    bool found;
    size_t at;

    s = find(st, m->xid, &at);
    if (s == NULL) /* nothing of it was kept */
        return CDC_OK;
    if (m->subxid == m->xid) {
        pgspill_destroy(take(st, at));
        return CDC_OK;
    }
    return pgspill_abort_sub(s, m->subxid, &found, err);
}

/* A message of the stream block we are in. */
static cdc_rc
on_chunk(struct pgstream *st, const uint8_t *msg, size_t len, cdc_lsn wal_start,
         struct cdc_err *err)
{
    struct pgo_msg m;

    if (pgo_decode_v2(msg, len, true, &m, err) != CDC_OK)
        return CDC_ERR_PROTO;
    switch (m.type) {
    case PGO_MSG_STREAM_STOP:
        st->cur = NULL;
        return CDC_OK;
    case PGO_MSG_RELATION:
        return pgspill_append_kept(st->cur, wal_start, msg, len, err);
    case PGO_MSG_INSERT:
    case PGO_MSG_UPDATE:
    case PGO_MSG_DELETE:
    case PGO_MSG_TRUNCATE:
    case PGO_MSG_MESSAGE:
        return pgspill_append(st->cur, m.xid, wal_start, msg, len, err);
    case PGO_MSG_TYPE:
    case PGO_MSG_ORIGIN:
        return CDC_OK; /* nothing the decoder uses */
    case PGO_MSG_STREAM_START:
        return on_start(st, &m.u.stream_start, err); /* refused: says which blocks */
    default:
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: %s message inside the stream block of transaction %u",
                           pgo_msg_type_name(m.type), pgspill_xid(st->cur));
    }
}

cdc_rc
pgstream_feed(struct pgstream *st, const uint8_t *msg, size_t len, cdc_lsn wal_start,
              struct pgstream_out *out, struct cdc_err *err)
{
    struct pgo_msg m;

    memset(out, 0, sizeof(*out));
    if (st->replay != NULL)
        return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: a message arrived during a replay");
    if (len == 0)
        return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: empty message");
    out->kind = PGSTREAM_KEPT;
    if (st->cur != NULL)
        return on_chunk(st, msg, len, wal_start, err);
    switch (msg[0]) {
    case PGO_MSG_STREAM_START:
    case PGO_MSG_STREAM_STOP:
    case PGO_MSG_STREAM_COMMIT:
    case PGO_MSG_STREAM_ABORT:
        break;
    default:
        out->kind = PGSTREAM_OTHER;
        return CDC_OK;
    }
    if (pgo_decode_v2(msg, len, false, &m, err) != CDC_OK)
        return CDC_ERR_PROTO;
    switch (m.type) {
    case PGO_MSG_STREAM_START:
        return on_start(st, &m.u.stream_start, err);
    case PGO_MSG_STREAM_COMMIT:
        return on_commit(st, &m.u.stream_commit, out, err);
    case PGO_MSG_STREAM_ABORT:
        return on_abort(st, &m.u.stream_abort, err);
    default:
        return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: Stream Stop outside a stream block");
    }
}

bool
pgstream_replaying(const struct pgstream *st)
{
    return st->replay != NULL;
}

cdc_rc
pgstream_replay_next(struct pgstream *st, struct pgspill_rec *rec, bool *end, struct cdc_err *err)
{
    cdc_rc rc;

    *end = false;
    if (st->replay == NULL) {
        *end = true;
        return CDC_OK;
    }
    rc = pgspill_next(st->replay, rec, end, err);
    if (rc == CDC_OK && *end) {
        pgspill_destroy(st->replay);
        st->replay = NULL;
    }
    return rc;
}

size_t
pgstream_open(const struct pgstream *st)
{
    return st->n_open;
}

uint64_t
pgstream_spilled_bytes(const struct pgstream *st)
{
    uint64_t n = 0;

    for (size_t i = 0; i < st->n_open; i++)
        n += pgspill_bytes(st->open[i]);
    return n;
}
