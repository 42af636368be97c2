/*
 * pgoutput.c - decode one pgoutput (protocol version 1 or 2) message.
 *
 * Every read goes through `struct cur`, a cursor that checks the remaining
 * length before it touches a byte and, on failure, fills err with the message
 * type and the offset (PostgreSQL's proto.c does the same checks with elog()).
 * Tuples and column lists are walked once here to validate them; the public
 * iterators then walk the same bytes again without checks.
 *
 * No I/O, no allocation, no state: see pgoutput.h for lifetimes.
 */
#include "source/pg/pgoutput.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A bounds-checked cursor over one message. */
struct cur {
    const uint8_t *buf;  /* the message */
    size_t len;          /* its length */
    size_t off;          /* next byte to read */
    char type;           /* message type, for error messages */
    struct cdc_err *err; /* where failures are described */
};

const char *
pgo_msg_type_name(char type)
{
    switch (type) {
    case PGO_MSG_BEGIN:
        return "Begin";
    case PGO_MSG_COMMIT:
        return "Commit";
    case PGO_MSG_ORIGIN:
        return "Origin";
    case PGO_MSG_RELATION:
        return "Relation";
    case PGO_MSG_TYPE:
        return "Type";
    case PGO_MSG_INSERT:
        return "Insert";
    case PGO_MSG_UPDATE:
        return "Update";
    case PGO_MSG_DELETE:
        return "Delete";
    case PGO_MSG_TRUNCATE:
        return "Truncate";
    case PGO_MSG_MESSAGE:
        return "Message";
    case PGO_MSG_STREAM_START:
        return "Stream Start";
    case PGO_MSG_STREAM_STOP:
        return "Stream Stop";
    case PGO_MSG_STREAM_COMMIT:
        return "Stream Commit";
    case PGO_MSG_STREAM_ABORT:
        return "Stream Abort";
    default:
        return "unknown";
    }
}

/* Name of a message type of a protocol version later than `version`, or NULL. */
static const char *
later_proto_name(char type, int version)
{
    switch (type) {
    case 'S':
    case 'E':
    case 'c':
    case 'A':
        return version < 2 ? pgo_msg_type_name(type) : NULL;
    case 'b':
        return "Begin Prepare";
    case 'P':
        return "Prepare";
    case 'K':
        return "Commit Prepared";
    case 'r':
        return "Rollback Prepared";
    case 'p':
        return "Stream Prepare";
    default:
        return NULL;
    }
}

/* "'x' (0x78)" for printable bytes, "0x07" otherwise. */
static const char *
byte_repr(uint8_t b, char *out, size_t cap)
{
    if (b >= 0x20 && b < 0x7f)
        snprintf(out, cap, "'%c' (0x%02x)", (char) b, b);
    else
        snprintf(out, cap, "0x%02x", b);
    return out;
}

static cdc_rc
cur_need(struct cur *c, size_t n)
{
    size_t have = c->len - c->off;

    if (have >= n)
        return CDC_OK;
    return cdc_err_set(c->err, CDC_ERR_PROTO,
                       "pgoutput: truncated %s message at offset %zu: need %zu bytes, have %zu",
                       pgo_msg_type_name(c->type), c->off, n, have);
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static cdc_rc
cur_u8(struct cur *c, uint8_t *out)
{
    if (cur_need(c, 1) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = c->buf[c->off++];
    return CDC_OK;
}

static cdc_rc
cur_u16(struct cur *c, uint16_t *out)
{
    if (cur_need(c, 2) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = be16(c->buf + c->off);
    c->off += 2;
    return CDC_OK;
}

static cdc_rc
cur_u32(struct cur *c, uint32_t *out)
{
    if (cur_need(c, 4) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = be32(c->buf + c->off);
    c->off += 4;
    return CDC_OK;
}

static cdc_rc
cur_u64(struct cur *c, uint64_t *out)
{
    if (cur_need(c, 8) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = (uint64_t) be32(c->buf + c->off) << 32 | be32(c->buf + c->off + 4);
    c->off += 8;
    return CDC_OK;
}

/* A PostgreSQL timestamp (us since 2000-01-01) as microseconds since the Unix epoch. */
static cdc_rc
cur_time(struct cur *c, int64_t *out)
{
    uint64_t v;
    int64_t pg;

    if (cur_u64(c, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    /* the wire carries a signed int64; reinterpret without implementation-defined casts */
    pg = v > (uint64_t) INT64_MAX ? -(int64_t) (~v) - 1 : (int64_t) v;
    if (pg > INT64_MAX - PGO_EPOCH_OFFSET_US)
        return cdc_err_set(c->err, CDC_ERR_PROTO,
                           "pgoutput: timestamp out of range in %s message at offset %zu",
                           pgo_msg_type_name(c->type), c->off - 8);
    *out = pg + PGO_EPOCH_OFFSET_US;
    return CDC_OK;
}

/* A NUL-terminated string; *out points at it in the buffer. */
static cdc_rc
cur_str(struct cur *c, const char **out)
{
    const uint8_t *start = c->buf + c->off;
    const uint8_t *nul = memchr(start, '\0', c->len - c->off);

    if (nul == NULL)
        return cdc_err_set(c->err, CDC_ERR_PROTO,
                           "pgoutput: unterminated string in %s message at offset %zu",
                           pgo_msg_type_name(c->type), c->off);
    *out = (const char *) start;
    c->off += (size_t) (nul - start) + 1;
    return CDC_OK;
}

/* An int32 length (rejecting negatives) followed by that many bytes. */
static cdc_rc
cur_counted(struct cur *c, const uint8_t **data, uint32_t *len)
{
    uint32_t n;

    if (cur_u32(c, &n) != CDC_OK)
        return CDC_ERR_PROTO;
    if (n > (uint32_t) INT32_MAX)
        return cdc_err_set(c->err, CDC_ERR_PROTO,
                           "pgoutput: negative length %" PRId32 " in %s message at offset %zu",
                           (int32_t) n, pgo_msg_type_name(c->type), c->off - 4);
    if (cur_need(c, n) != CDC_OK)
        return CDC_ERR_PROTO;
    *data = c->buf + c->off;
    *len = n;
    c->off += n;
    return CDC_OK;
}

static cdc_rc
cur_tuple(struct cur *c, struct pgo_tupledata *t)
{
    char repr[24];
    size_t start;

    if (cur_u16(c, &t->ncols) != CDC_OK)
        return CDC_ERR_PROTO;
    start = c->off;
    for (uint16_t i = 0; i < t->ncols; i++) {
        const uint8_t *data;
        uint32_t len;
        uint8_t kind;

        if (cur_u8(c, &kind) != CDC_OK)
            return CDC_ERR_PROTO;
        switch (kind) {
        case PGO_DATUM_NULL:
        case PGO_DATUM_UNCHANGED:
            break;
        case PGO_DATUM_TEXT:
        case PGO_DATUM_BINARY:
            if (cur_counted(c, &data, &len) != CDC_OK)
                return CDC_ERR_PROTO;
            break;
        default:
            return cdc_err_set(c->err, CDC_ERR_PROTO,
                               "pgoutput: invalid tuple value kind %s for column %u in %s message "
                               "at offset %zu",
                               byte_repr(kind, repr, sizeof(repr)), (unsigned) i + 1,
                               pgo_msg_type_name(c->type), c->off - 1);
        }
    }
    t->data = c->buf + start;
    t->len = c->off - start;
    return CDC_OK;
}

/* The tuple-kind byte of a change: one of the characters in `allowed`. */
static cdc_rc
cur_tuple_kind(struct cur *c, const char *allowed, char *out)
{
    char repr[24];
    uint8_t k;

    if (cur_u8(c, &k) != CDC_OK)
        return CDC_ERR_PROTO;
    if (k == 0 || strchr(allowed, k) == NULL)
        return cdc_err_set(
            c->err, CDC_ERR_PROTO, "pgoutput: invalid tuple kind %s in %s message at offset %zu",
            byte_repr(k, repr, sizeof(repr)), pgo_msg_type_name(c->type), c->off - 1);
    *out = (char) k;
    return CDC_OK;
}

static cdc_rc
dec_begin(struct cur *c, struct pgo_begin *b)
{
    if (cur_u64(c, &b->final_lsn) != CDC_OK || cur_time(c, &b->commit_time_us) != CDC_OK ||
        cur_u32(c, &b->xid) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
dec_commit(struct cur *c, struct pgo_commit *m)
{
    if (cur_u8(c, &m->flags) != CDC_OK || cur_u64(c, &m->commit_lsn) != CDC_OK ||
        cur_u64(c, &m->end_lsn) != CDC_OK || cur_time(c, &m->commit_time_us) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
dec_origin(struct cur *c, struct pgo_origin *o)
{
    if (cur_u64(c, &o->origin_lsn) != CDC_OK || cur_str(c, &o->name) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
dec_relation(struct cur *c, struct pgo_relation *r)
{
    uint8_t replident;

    if (cur_u32(c, &r->relid) != CDC_OK || cur_str(c, &r->nspname) != CDC_OK ||
        cur_str(c, &r->relname) != CDC_OK || cur_u8(c, &replident) != CDC_OK ||
        cur_u16(c, &r->ncols) != CDC_OK)
        return CDC_ERR_PROTO;
    r->replident = (char) replident;
    r->cols = c->buf + c->off;
    for (uint16_t i = 0; i < r->ncols; i++) {
        uint32_t oid, typmod;
        const char *name;
        uint8_t flags;

        if (cur_u8(c, &flags) != CDC_OK || cur_str(c, &name) != CDC_OK ||
            cur_u32(c, &oid) != CDC_OK || cur_u32(c, &typmod) != CDC_OK)
            return CDC_ERR_PROTO;
    }
    return CDC_OK;
}

static cdc_rc
dec_type(struct cur *c, struct pgo_type *t)
{
    if (cur_u32(c, &t->oid) != CDC_OK || cur_str(c, &t->nspname) != CDC_OK ||
        cur_str(c, &t->name) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

/* Insert: relid 'N' tuple. Update: relid ['K'|'O' tuple] 'N' tuple. Delete: relid 'K'|'O' tuple. */
static cdc_rc
dec_change(struct cur *c, struct pgo_change *ch)
{
    char kind;

    memset(ch, 0, sizeof(*ch));
    if (cur_u32(c, &ch->relid) != CDC_OK)
        return CDC_ERR_PROTO;
    if (c->type == PGO_MSG_INSERT) {
        if (cur_tuple_kind(c, "N", &kind) != CDC_OK)
            return CDC_ERR_PROTO;
    } else {
        if (cur_tuple_kind(c, c->type == PGO_MSG_UPDATE ? "KON" : "KO", &kind) != CDC_OK)
            return CDC_ERR_PROTO;
        if (kind != 'N') {
            ch->old_kind = kind;
            if (cur_tuple(c, &ch->oldtup) != CDC_OK)
                return CDC_ERR_PROTO;
            if (c->type == PGO_MSG_DELETE)
                return CDC_OK;
            if (cur_tuple_kind(c, "N", &kind) != CDC_OK)
                return CDC_ERR_PROTO;
        }
    }
    if (cur_tuple(c, &ch->newtup) != CDC_OK)
        return CDC_ERR_PROTO;
    ch->has_new = true;
    return CDC_OK;
}

static cdc_rc
dec_truncate(struct cur *c, struct pgo_truncate *t)
{
    if (cur_u32(c, &t->nrels) != CDC_OK || cur_u8(c, &t->options) != CDC_OK)
        return CDC_ERR_PROTO;
    if (t->nrels > (uint32_t) INT32_MAX)
        return cdc_err_set(c->err, CDC_ERR_PROTO,
                           "pgoutput: negative relation count in Truncate message at offset %zu",
                           c->off - 5);
    if (cur_need(c, (size_t) t->nrels * 4) != CDC_OK)
        return CDC_ERR_PROTO;
    t->relids = c->buf + c->off;
    c->off += (size_t) t->nrels * 4;
    return CDC_OK;
}

static cdc_rc
dec_message(struct cur *c, struct pgo_message *m)
{
    if (cur_u8(c, &m->flags) != CDC_OK || cur_u64(c, &m->lsn) != CDC_OK ||
        cur_str(c, &m->prefix) != CDC_OK || cur_counted(c, &m->content, &m->content_len) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
dec_stream_start(struct cur *c, struct pgo_stream_start *m)
{
    uint8_t first;

    if (cur_u32(c, &m->xid) != CDC_OK || cur_u8(c, &first) != CDC_OK)
        return CDC_ERR_PROTO;
    m->first_segment = first == 1;
    return CDC_OK;
}

static cdc_rc
dec_stream_commit(struct cur *c, struct pgo_stream_commit *m)
{
    if (cur_u32(c, &m->xid) != CDC_OK || cur_u8(c, &m->flags) != CDC_OK ||
        cur_u64(c, &m->commit_lsn) != CDC_OK || cur_u64(c, &m->end_lsn) != CDC_OK ||
        cur_time(c, &m->commit_time_us) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
dec_stream_abort(struct cur *c, struct pgo_stream_abort *m)
{
    if (cur_u32(c, &m->xid) != CDC_OK || cur_u32(c, &m->subxid) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

/* The Stream messages of protocol version 2 (the caller checked the version). */
static cdc_rc
dec_stream(struct cur *c, struct pgo_msg *out)
{
    switch (out->type) {
    case PGO_MSG_STREAM_START:
        return dec_stream_start(c, &out->u.stream_start);
    case PGO_MSG_STREAM_COMMIT:
        return dec_stream_commit(c, &out->u.stream_commit);
    case PGO_MSG_STREAM_ABORT:
        return dec_stream_abort(c, &out->u.stream_abort);
    default: /* Stream Stop: no fields */
        return CDC_OK;
    }
}

/* Whether a message of this type carries an xid when sent inside a stream (protocol 2). */
static bool
has_stream_xid(char type)
{
    return strchr("RYIUDTM", type) != NULL;
}

static cdc_rc
dec_body(struct cur *c, struct pgo_msg *out, int version)
{
    char repr[24];
    const char *later;

    switch (out->type) {
    case PGO_MSG_BEGIN:
        return dec_begin(c, &out->u.begin);
    case PGO_MSG_COMMIT:
        return dec_commit(c, &out->u.commit);
    case PGO_MSG_ORIGIN:
        return dec_origin(c, &out->u.origin);
    case PGO_MSG_RELATION:
        return dec_relation(c, &out->u.relation);
    case PGO_MSG_TYPE:
        return dec_type(c, &out->u.type);
    case PGO_MSG_INSERT:
    case PGO_MSG_UPDATE:
    case PGO_MSG_DELETE:
        return dec_change(c, &out->u.change);
    case PGO_MSG_TRUNCATE:
        return dec_truncate(c, &out->u.truncate);
    case PGO_MSG_MESSAGE:
        return dec_message(c, &out->u.message);
    case PGO_MSG_STREAM_START:
    case PGO_MSG_STREAM_STOP:
    case PGO_MSG_STREAM_COMMIT:
    case PGO_MSG_STREAM_ABORT:
        if (version >= 2)
            return dec_stream(c, out);
        /* fall through */
    default:
        later = later_proto_name(out->type, version);
        if (later != NULL)
            return cdc_err_set(c->err, CDC_ERR_PROTO,
                               "pgoutput: %s message %s is not part of protocol version %d", later,
                               byte_repr((uint8_t) out->type, repr, sizeof(repr)), version);
        return cdc_err_set(c->err, CDC_ERR_PROTO, "pgoutput: unknown message type %s at offset 0",
                           byte_repr((uint8_t) out->type, repr, sizeof(repr)));
    }
}

static cdc_rc
decode(const uint8_t *msg, size_t len, int version, bool in_stream, struct pgo_msg *out,
       struct cdc_err *err)
{
    struct cur c = {msg, len, 0, 0, err};
    uint8_t type;

    if (msg == NULL || len == 0)
        return cdc_err_set(err, CDC_ERR_PROTO, "pgoutput: empty message");
    if (cur_u8(&c, &type) != CDC_OK)
        return CDC_ERR_PROTO;
    memset(out, 0, sizeof(*out));
    out->type = (char) type;
    c.type = (char) type;
    if (in_stream && has_stream_xid(c.type) && cur_u32(&c, &out->xid) != CDC_OK)
        return CDC_ERR_PROTO;
    if (dec_body(&c, out, version) != CDC_OK)
        return CDC_ERR_PROTO;
    if (c.off != c.len)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "pgoutput: %zu unexpected trailing bytes in %s message at offset %zu",
                           c.len - c.off, pgo_msg_type_name(c.type), c.off);
    return CDC_OK;
}

cdc_rc
pgo_decode(const uint8_t *msg, size_t len, struct pgo_msg *out, struct cdc_err *err)
{
    return decode(msg, len, 1, false, out, err);
}

cdc_rc
pgo_decode_v2(const uint8_t *msg, size_t len, bool in_stream, struct pgo_msg *out,
              struct cdc_err *err)
{
    return decode(msg, len, 2, in_stream, out, err);
}

void
pgo_tuple_iter_init(struct pgo_tuple_iter *it, const struct pgo_tupledata *t)
{
    it->p = t->data;
    it->left = t->ncols;
}

bool
pgo_tuple_next(struct pgo_tuple_iter *it, struct pgo_datum *out)
{
    if (it->left == 0)
        return false;
    it->left--;
    out->kind = (char) *it->p++;
    out->data = NULL;
    out->len = 0;
    if (out->kind == PGO_DATUM_TEXT || out->kind == PGO_DATUM_BINARY) {
        out->len = be32(it->p);
        out->data = (const char *) it->p + 4;
        it->p += 4 + (size_t) out->len;
    }
    return true;
}

void
pgo_column_iter_init(struct pgo_column_iter *it, const struct pgo_relation *rel)
{
    it->p = rel->cols;
    it->left = rel->ncols;
}

bool
pgo_column_next(struct pgo_column_iter *it, struct pgo_column *out)
{
    size_t nlen;

    if (it->left == 0)
        return false;
    it->left--;
    out->flags = *it->p++;
    out->name = (const char *) it->p;
    nlen = strlen(out->name);
    it->p += nlen + 1;
    out->type_oid = be32(it->p);
    out->typmod = (int32_t) be32(it->p + 4);
    it->p += 8;
    return true;
}

uint32_t
pgo_truncate_relid(const struct pgo_truncate *t, uint32_t i)
{
    return be32(t->relids + (size_t) i * 4);
}
