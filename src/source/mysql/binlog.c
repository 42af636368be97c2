/*
 * binlog.c - decode one MySQL / MariaDB binlog event; see binlog.h.
 *
 * Layouts follow MySQL's libbinlogevents (binlog_event.h, control_events.h,
 * statement_events.h, rows_event.h) and MariaDB's log_event.h. All integers
 * are little-endian. Every read goes through `struct cur`, which checks the
 * remaining length first and names the event type and offset on failure.
 *
 * No I/O and no logging; the only allocation is binlog_table_create().
 */
#include "source/mysql/binlog.h"
#include "source/mysql/mycur.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names, checksums, formats ---- */

const char *
binlog_type_name(uint8_t type)
{
    switch (type) {
    case BINLOG_START_V3:
        return "START_V3";
    case BINLOG_QUERY:
        return "QUERY";
    case BINLOG_STOP:
        return "STOP";
    case BINLOG_ROTATE:
        return "ROTATE";
    case BINLOG_INTVAR:
        return "INTVAR";
    case BINLOG_RAND:
        return "RAND";
    case BINLOG_USER_VAR:
        return "USER_VAR";
    case BINLOG_FORMAT_DESCRIPTION:
        return "FORMAT_DESCRIPTION";
    case BINLOG_XID:
        return "XID";
    case BINLOG_TABLE_MAP:
        return "TABLE_MAP";
    case BINLOG_WRITE_ROWS_V1:
        return "WRITE_ROWS_V1";
    case BINLOG_UPDATE_ROWS_V1:
        return "UPDATE_ROWS_V1";
    case BINLOG_DELETE_ROWS_V1:
        return "DELETE_ROWS_V1";
    case BINLOG_INCIDENT:
        return "INCIDENT";
    case BINLOG_HEARTBEAT:
        return "HEARTBEAT";
    case BINLOG_IGNORABLE:
        return "IGNORABLE";
    case BINLOG_ROWS_QUERY:
        return "ROWS_QUERY";
    case BINLOG_WRITE_ROWS_V2:
        return "WRITE_ROWS";
    case BINLOG_UPDATE_ROWS_V2:
        return "UPDATE_ROWS";
    case BINLOG_DELETE_ROWS_V2:
        return "DELETE_ROWS";
    case BINLOG_GTID:
        return "GTID";
    case BINLOG_ANONYMOUS_GTID:
        return "ANONYMOUS_GTID";
    case BINLOG_PREVIOUS_GTIDS:
        return "PREVIOUS_GTIDS";
    case BINLOG_XA_PREPARE:
        return "XA_PREPARE";
    case BINLOG_PARTIAL_UPDATE_ROWS:
        return "PARTIAL_UPDATE_ROWS";
    case BINLOG_TRANSACTION_PAYLOAD:
        return "TRANSACTION_PAYLOAD";
    case BINLOG_HEARTBEAT_V2:
        return "HEARTBEAT_V2";
    case BINLOG_MARIA_ANNOTATE_ROWS:
        return "ANNOTATE_ROWS";
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        return "BINLOG_CHECKPOINT";
    case BINLOG_MARIA_GTID:
        return "MARIADB_GTID";
    case BINLOG_MARIA_GTID_LIST:
        return "GTID_LIST";
    case BINLOG_MARIA_START_ENCRYPTION:
        return "START_ENCRYPTION";
    case BINLOG_MARIA_QUERY_COMPRESSED:
        return "QUERY_COMPRESSED";
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
        return "WRITE_ROWS_COMPRESSED";
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
        return "UPDATE_ROWS_COMPRESSED";
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return "DELETE_ROWS_COMPRESSED";
    default:
        return "UNKNOWN";
    }
}

bool
binlog_is_rows_event(uint8_t type)
{
    return (type >= BINLOG_WRITE_ROWS_V1 && type <= BINLOG_DELETE_ROWS_V1) ||
           (type >= BINLOG_WRITE_ROWS_V2 && type <= BINLOG_DELETE_ROWS_V2);
}

/* CRC32 with a 16-entry table (reflected polynomial 0xEDB88320), a nibble at a time. */
uint32_t
binlog_crc32(const uint8_t *buf, size_t len)
{
    static const uint32_t t[16] = {
        0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
        0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
        0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
    };
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return crc ^ 0xFFFFFFFFu;
}

/* Post-header length of an event type: the FDE's, or the v4 default. */
static uint8_t
post_header_len(const struct binlog_fmt *fmt, uint8_t type, uint8_t dflt)
{
    if (type >= 1 && type - 1 < fmt->n_post_header)
        return fmt->post_header_len[type - 1];
    return dflt;
}

void
binlog_fmt_init(struct binlog_fmt *fmt, uint8_t checksum_alg)
{
    memset(fmt, 0, sizeof(*fmt));
    fmt->checksum_alg = checksum_alg;
    fmt->binlog_version = 4;
}

void
binlog_fmt_apply(struct binlog_fmt *fmt, const struct binlog_fde *fde)
{
    fmt->have_fde = true;
    fmt->is_mariadb = fde->is_mariadb;
    fmt->binlog_version = fde->binlog_version;
    memcpy(fmt->server_version, fde->server_version, sizeof(fmt->server_version));
    fmt->checksum_alg =
        fde->checksum_alg == BINLOG_CHECKSUM_CRC32 ? BINLOG_CHECKSUM_CRC32 : BINLOG_CHECKSUM_OFF;
    fmt->n_post_header = fde->n_post_header;
    memcpy(fmt->post_header_len, fde->post_header_len, fde->n_post_header);
}

/* ---- FORMAT_DESCRIPTION ---- */

/* Does a server of this version end its FDE with a checksum algorithm byte and a CRC? */
static bool
version_has_checksum(const char *v, bool mariadb)
{
    unsigned long part[3] = {0, 0, 0};
    const char *p = v;

    for (int i = 0; i < 3; i++) {
        char *end;

        part[i] = strtoul(p, &end, 10);
        if (end == p || (*end != '.' && i < 2))
            break;
        p = end + 1;
    }
    if (mariadb) /* MariaDB 5.3 brought checksums */
        return part[0] > 5 || (part[0] == 5 && part[1] >= 3);
    return part[0] > 5 || (part[0] == 5 && (part[1] > 6 || (part[1] == 6 && part[2] >= 1)));
}

static cdc_rc
decode_fde(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    struct binlog_fde *f = &ev->u.fde;
    const uint8_t *ver;
    size_t end = c->len, n;

    memset(f, 0, sizeof(*f));
    if (cur_u16(c, &f->binlog_version) != CDC_OK || cur_bytes(c, 50, &ver) != CDC_OK ||
        cur_u32(c, &f->create_timestamp) != CDC_OK || cur_u8(c, &f->header_len) != CDC_OK)
        return CDC_ERR_PROTO;
    memcpy(f->server_version, ver, 50);
    f->server_version[50] = '\0';
    f->is_mariadb = strstr(f->server_version, "MariaDB") != NULL;
    if (f->binlog_version != 4)
        return cur_fail(c, "only binlog format version 4 is supported");
    if (f->header_len != BINLOG_HEADER_LEN)
        return cur_fail(c, "common header length is not 19");
    f->checksum_alg = BINLOG_CHECKSUM_UNDEF;
    if (version_has_checksum(f->server_version, f->is_mariadb)) {
        if (cur_left(c) < 1 + BINLOG_CHECKSUM_LEN)
            return cur_need(c, 1 + BINLOG_CHECKSUM_LEN);
        end = c->len - BINLOG_CHECKSUM_LEN - 1;
        f->checksum_alg = c->buf[end];
        if (f->checksum_alg == BINLOG_CHECKSUM_CRC32 && fmt->verify_checksum &&
            binlog_crc32(c->buf, c->len - BINLOG_CHECKSUM_LEN) !=
                (uint32_t) le(c->buf + c->len - BINLOG_CHECKSUM_LEN, 4))
            return cur_fail(c, "checksum mismatch");
        if (f->checksum_alg != BINLOG_CHECKSUM_OFF && f->checksum_alg != BINLOG_CHECKSUM_CRC32 &&
            f->checksum_alg != BINLOG_CHECKSUM_UNDEF)
            return cur_fail(c, "unknown checksum algorithm");
    }
    n = end - c->off;
    if (n > 255)
        return cur_fail(c, "more than 255 post-header lengths");
    f->post_header_len = c->buf + c->off;
    f->n_post_header = (uint8_t) n;
    ev->body_len = end - BINLOG_HEADER_LEN;
    c->off = end;
    return CDC_OK;
}

/* ---- simple bodies ---- */

static cdc_rc
decode_rotate(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    uint8_t phl = post_header_len(fmt, BINLOG_ROTATE, 8);

    if (phl < 8)
        return cur_fail(c, "post-header shorter than 8 bytes");
    if (cur_uint(c, 8, &ev->u.rotate.position) != CDC_OK || cur_need(c, phl - 8u) != CDC_OK)
        return CDC_ERR_PROTO;
    c->off += phl - 8u;
    ev->u.rotate.file = (const char *) c->buf + c->off;
    ev->u.rotate.file_len = cur_left(c);
    if (ev->u.rotate.file_len == 0)
        return cur_fail(c, "empty file name");
    c->off = c->len;
    return CDC_OK;
}

static cdc_rc
decode_xid(struct cur *c, struct binlog_event *ev)
{
    return cur_uint(c, 8, &ev->u.xid.xid);
}

/* The rest of the event as text, after `skip` bytes. */
static cdc_rc
decode_text(struct cur *c, struct binlog_event *ev, size_t skip)
{
    if (cur_need(c, skip) != CDC_OK)
        return CDC_ERR_PROTO;
    c->off += skip;
    ev->u.text.data = (const char *) c->buf + c->off;
    ev->u.text.len = cur_left(c);
    c->off = c->len;
    return CDC_OK;
}

static cdc_rc
decode_checkpoint(struct cur *c, struct binlog_event *ev)
{
    uint32_t n;
    const uint8_t *p;

    if (cur_u32(c, &n) != CDC_OK || cur_bytes(c, n, &p) != CDC_OK)
        return CDC_ERR_PROTO;
    ev->u.text.data = (const char *) p;
    ev->u.text.len = n;
    return CDC_OK;
}

/* ---- GTIDs ---- */

static cdc_rc
decode_maria_gtid(struct cur *c, struct binlog_event *ev)
{
    struct binlog_maria_gtid *g = &ev->u.mgtid;
    uint8_t lens[2];
    const uint8_t *p;

    memset(g, 0, sizeof(*g));
    if (cur_uint(c, 8, &g->seq_no) != CDC_OK || cur_u32(c, &g->domain_id) != CDC_OK ||
        cur_u8(c, &g->flags2) != CDC_OK)
        return CDC_ERR_PROTO;
    if (g->flags2 & BINLOG_MGTID_GROUP_COMMIT_ID) {
        if (cur_uint(c, 8, &g->commit_id) != CDC_OK)
            return CDC_ERR_PROTO;
        g->has_commit_id = true;
    }
    if (g->flags2 & (BINLOG_MGTID_PREPARED_XA | BINLOG_MGTID_COMPLETED_XA)) {
        if (cur_u32(c, &g->xa_format_id) != CDC_OK || cur_u8(c, &lens[0]) != CDC_OK ||
            cur_u8(c, &lens[1]) != CDC_OK)
            return CDC_ERR_PROTO;
        if (lens[0] > 64 || lens[1] > 64)
            return cur_fail(c, "XA gtrid or bqual longer than 64 bytes");
        if (cur_bytes(c, (size_t) lens[0] + lens[1], &p) != CDC_OK)
            return CDC_ERR_PROTO;
        g->has_xid = true;
        g->xa_gtrid_len = lens[0];
        g->xa_bqual_len = lens[1];
        g->xa_data = p;
    }
    c->off = c->len; /* padding and extra flags of later versions */
    return CDC_OK;
}

static cdc_rc
decode_maria_gtid_list(struct cur *c, struct binlog_event *ev)
{
    uint32_t w;

    if (cur_u32(c, &w) != CDC_OK)
        return CDC_ERR_PROTO;
    ev->u.mgtid_list.count = w & 0x0FFFFFFFu;
    ev->u.mgtid_list.flags = (uint8_t) (w >> 28);
    if (cur_bytes(c, (size_t) ev->u.mgtid_list.count * 16, &ev->u.mgtid_list.raw) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

void
binlog_gtid_list_get(const struct binlog_maria_gtid_list *list, uint32_t i,
                     struct binlog_maria_gtid_entry *out)
{
    const uint8_t *p = list->raw + (size_t) i * 16;

    out->domain_id = (uint32_t) le(p, 4);
    out->server_id = (uint32_t) le(p + 4, 4);
    out->seq_no = le(p + 8, 8);
}

static cdc_rc
decode_mysql_gtid(struct cur *c, struct binlog_event *ev)
{
    struct binlog_mysql_gtid *g = &ev->u.gtid;
    const uint8_t *sid;
    uint64_t v;

    memset(g, 0, sizeof(*g));
    if (cur_u8(c, &g->flags) != CDC_OK || cur_bytes(c, 16, &sid) != CDC_OK ||
        cur_uint(c, 8, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    memcpy(g->sid, sid, 16);
    g->gno = (int64_t) v;
    /* later fields, each present only if the server wrote it */
    if (cur_left(c) >= 17 && c->buf[c->off] == 2) { /* LOGICAL_TIMESTAMP_TYPECODE */
        c->off++;
        (void) cur_uint(c, 8, &v);
        g->last_committed = (int64_t) v;
        (void) cur_uint(c, 8, &v);
        g->sequence_number = (int64_t) v;
        g->has_logical_ts = true;
        if (cur_left(c) >= 7) {
            (void) cur_uint(c, 7, &v);
            g->has_commit_ts = true;
            g->immediate_commit_ts_us = v & ~(UINT64_C(1) << 55);
            g->original_commit_ts_us = g->immediate_commit_ts_us;
            if ((v >> 55) & 1) {
                if (cur_uint(c, 7, &v) != CDC_OK)
                    return CDC_ERR_PROTO;
                g->original_commit_ts_us = v;
            }
        }
    }
    c->off = c->len; /* transaction length, server versions, ... */
    return CDC_OK;
}

static cdc_rc
decode_prev_gtids(struct cur *c, struct binlog_event *ev)
{
    struct binlog_prev_gtids *pg = &ev->u.prev_gtids;
    size_t start;

    if (cur_uint(c, 8, &pg->n_sids) != CDC_OK)
        return CDC_ERR_PROTO;
    start = c->off;
    if (pg->n_sids > cur_left(c) / 24)
        return cur_fail(c, "more SIDs than the event holds");
    for (uint64_t i = 0; i < pg->n_sids; i++) {
        uint64_t n;

        if (cur_need(c, 16) != CDC_OK)
            return CDC_ERR_PROTO;
        c->off += 16;
        if (cur_uint(c, 8, &n) != CDC_OK)
            return CDC_ERR_PROTO;
        if (n > cur_left(c) / 16)
            return cur_fail(c, "more intervals than the event holds");
        for (uint64_t k = 0; k < n; k++) {
            int64_t s = (int64_t) le(c->buf + c->off, 8), e = (int64_t) le(c->buf + c->off + 8, 8);

            if (s < 1 || e <= s)
                return cur_fail(c, "bad GTID interval");
            c->off += 16;
        }
    }
    pg->raw = c->buf + start;
    pg->raw_len = c->off - start;
    return CDC_OK;
}

void
binlog_put_uuid(struct cdc_buf *out, const uint8_t uuid[16])
{
    static const char hex[] = "0123456789abcdef";
    char s[36];
    size_t k = 0;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s[k++] = '-';
        s[k++] = hex[uuid[i] >> 4];
        s[k++] = hex[uuid[i] & 15];
    }
    cdc_buf_append(out, s, sizeof(s));
}

void
binlog_prev_gtids_format(const struct binlog_prev_gtids *pg, struct cdc_buf *out)
{
    const uint8_t *p = pg->raw;

    for (uint64_t i = 0; i < pg->n_sids; i++) {
        uint64_t n = le(p + 16, 8);

        if (i > 0)
            cdc_buf_putc(out, ',');
        binlog_put_uuid(out, p);
        p += 24;
        for (uint64_t k = 0; k < n; k++, p += 16) {
            uint64_t s = le(p, 8), e = le(p + 8, 8);

            cdc_buf_putc(out, ':');
            cdc_buf_put_u64(out, s);
            if (e - 1 > s) {
                cdc_buf_putc(out, '-');
                cdc_buf_put_u64(out, e - 1);
            }
        }
    }
}

/* ---- QUERY ---- */

static bool
word_is(const char *s, size_t len, const char *w)
{
    size_t n = strlen(w);

    if (len < n || strncasecmp(s, w, n) != 0)
        return false;
    return len == n || !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
                         (s[n] >= '0' && s[n] <= '9') || s[n] == '_');
}

/* Skip blanks and comments; returns the offset of the next word. */
static size_t
skip_blank(const char *s, size_t len, size_t i)
{
    while (i < len) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            i++;
        } else if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
            const char *e = NULL;

            for (size_t k = i + 2; k + 1 < len; k++)
                if (s[k] == '*' && s[k + 1] == '/') {
                    e = s + k;
                    break;
                }
            if (e == NULL)
                return len;
            i = (size_t) (e - s) + 2;
        } else {
            break;
        }
    }
    return i;
}

static enum binlog_query_kind
query_kind(const char *s, size_t len)
{
    size_t i = skip_blank(s, len, 0), j;
    bool xa = false;

    if (word_is(s + i, len - i, "XA")) {
        xa = true;
        i = skip_blank(s, len, i + 2);
    }
    if (word_is(s + i, len - i, "BEGIN") || word_is(s + i, len - i, "START"))
        return BINLOG_QUERY_BEGIN;
    if (word_is(s + i, len - i, "COMMIT"))
        return BINLOG_QUERY_COMMIT;
    if (word_is(s + i, len - i, "ROLLBACK")) {
        j = skip_blank(s, len, i + 8);
        return word_is(s + j, len - j, "TO") ? BINLOG_QUERY_TXCTL : BINLOG_QUERY_ROLLBACK;
    }
    if (xa || word_is(s + i, len - i, "SAVEPOINT") || word_is(s + i, len - i, "RELEASE"))
        return BINLOG_QUERY_TXCTL;
    return BINLOG_QUERY_DDL;
}

/* Read the status variables we use; stop quietly at one we do not know (as MySQL does). */
static void
query_status_vars(struct binlog_query *q)
{
    struct cur c = {q->status_vars, q->status_vars_len, 0, "QUERY status variables", NULL};
    uint8_t code, n, m;
    uint64_t v;

    while (cur_u8(&c, &code) == CDC_OK) {
        switch (code) {
        case 0: /* Q_FLAGS2_CODE */
            if (cur_uint(&c, 4, &v) != CDC_OK)
                return;
            q->has_flags2 = true;
            q->flags2 = (uint32_t) v;
            break;
        case 1: /* Q_SQL_MODE_CODE */
            if (cur_uint(&c, 8, &q->sql_mode) != CDC_OK)
                return;
            q->has_sql_mode = true;
            break;
        case 2: /* Q_CATALOG_CODE: length, bytes, NUL */
            if (cur_u8(&c, &n) != CDC_OK || cur_need(&c, (size_t) n + 1) != CDC_OK)
                return;
            c.off += (size_t) n + 1;
            break;
        case 4: /* Q_CHARSET_CODE */
            if (cur_need(&c, 6) != CDC_OK)
                return;
            q->has_charset = true;
            q->charset_client = (uint16_t) le(c.buf + c.off, 2);
            q->collation_connection = (uint16_t) le(c.buf + c.off + 2, 2);
            q->collation_server = (uint16_t) le(c.buf + c.off + 4, 2);
            c.off += 6;
            break;
        case 5: /* Q_TIME_ZONE_CODE */
            if (cur_u8(&c, &n) != CDC_OK || cur_need(&c, n) != CDC_OK)
                return;
            q->time_zone = (const char *) c.buf + c.off;
            q->time_zone_len = n;
            c.off += n;
            break;
        case 6: /* Q_CATALOG_NZ_CODE */
            if (cur_u8(&c, &n) != CDC_OK || cur_need(&c, n) != CDC_OK)
                return;
            c.off += n;
            break;
        case 11: /* Q_INVOKER: user, host */
            if (cur_u8(&c, &n) != CDC_OK || cur_need(&c, n) != CDC_OK)
                return;
            c.off += n;
            if (cur_u8(&c, &m) != CDC_OK || cur_need(&c, m) != CDC_OK)
                return;
            c.off += m;
            break;
        case 12: /* Q_UPDATED_DB_NAMES: count, NUL-terminated names (254: too many, none) */
            if (cur_u8(&c, &n) != CDC_OK)
                return;
            for (unsigned k = 0; n != 254 && k < n; k++) {
                const uint8_t *z = memchr(c.buf + c.off, 0, cur_left(&c));

                if (z == NULL)
                    return;
                c.off = (size_t) (z - c.buf) + 1;
            }
            break;
        default: {
            /* fixed sizes of the rest; 0 = unknown */
            size_t sz = code == 3 || code == 10                                 ? 4
                        : code == 7 || code == 8 || code == 18                  ? 2
                        : code == 9 || code == 17 || code == 129                ? 8
                        : code == 13 || code == 128                             ? 3
                        : code == 16 || code == 19 || code == 20 || code == 130 ? 1
                                                                                : 0;

            if (sz == 0 || cur_need(&c, sz) != CDC_OK)
                return;
            c.off += sz;
        }
        }
    }
}

static cdc_rc
decode_query(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    struct binlog_query *q = &ev->u.query;
    uint8_t phl = post_header_len(fmt, BINLOG_QUERY, 13), dblen;
    uint16_t svlen = 0;
    const uint8_t *p;

    memset(q, 0, sizeof(*q));
    if (phl < 11)
        return cur_fail(c, "post-header shorter than 11 bytes");
    if (cur_u32(c, &q->thread_id) != CDC_OK || cur_u32(c, &q->exec_time) != CDC_OK ||
        cur_u8(c, &dblen) != CDC_OK || cur_u16(c, &q->error_code) != CDC_OK)
        return CDC_ERR_PROTO;
    if (phl >= 13 && cur_u16(c, &svlen) != CDC_OK)
        return CDC_ERR_PROTO;
    if (cur_need(c, phl - (phl >= 13 ? 13u : 11u)) != CDC_OK)
        return CDC_ERR_PROTO;
    c->off += phl - (phl >= 13 ? 13u : 11u);
    if (cur_bytes(c, svlen, &q->status_vars) != CDC_OK)
        return CDC_ERR_PROTO;
    q->status_vars_len = svlen;
    if (cur_bytes(c, (size_t) dblen + 1, &p) != CDC_OK)
        return CDC_ERR_PROTO;
    if (p[dblen] != 0)
        return cur_fail(c, "database name not NUL-terminated");
    q->db = (const char *) p;
    q->db_len = dblen;
    q->sql = (const char *) c->buf + c->off;
    q->sql_len = cur_left(c);
    c->off = c->len;
    q->kind = query_kind(q->sql, q->sql_len);
    query_status_vars(q);
    return CDC_OK;
}

/* ---- TABLE_MAP and ROWS ---- */

static cdc_rc
decode_table_id(struct cur *c, uint8_t phl, uint64_t *id, uint16_t *flags)
{
    if (cur_uint(c, phl == 6 ? 4 : 6, id) != CDC_OK || cur_u16(c, flags) != CDC_OK)
        return CDC_ERR_PROTO;
    return CDC_OK;
}

static cdc_rc
decode_name(struct cur *c, const char **s, size_t *len)
{
    uint8_t n;
    const uint8_t *p;

    if (cur_u8(c, &n) != CDC_OK || cur_bytes(c, (size_t) n + 1, &p) != CDC_OK)
        return CDC_ERR_PROTO;
    if (p[n] != 0)
        return cur_fail(c, "name not NUL-terminated");
    *s = (const char *) p;
    *len = n;
    return CDC_OK;
}

static cdc_rc
decode_table_map(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    struct binlog_table_map *t = &ev->u.table_map;
    uint8_t phl = post_header_len(fmt, BINLOG_TABLE_MAP, 8);
    uint64_t n, mlen;

    memset(t, 0, sizeof(*t));
    if (phl != 6 && phl != 8)
        return cur_fail(c, "post-header length is neither 6 nor 8");
    if (decode_table_id(c, phl, &t->table_id, &t->flags) != CDC_OK ||
        decode_name(c, &t->db, &t->db_len) != CDC_OK ||
        decode_name(c, &t->table, &t->table_len) != CDC_OK ||
        cur_packed_max(c, BINLOG_MAX_COLS, "column count", &n) != CDC_OK)
        return CDC_ERR_PROTO;
    t->ncols = (uint32_t) n;
    if (cur_bytes(c, t->ncols, &t->types) != CDC_OK ||
        cur_packed_max(c, cur_left(c), "metadata length", &mlen) != CDC_OK ||
        cur_bytes(c, mlen, &t->meta) != CDC_OK ||
        cur_bytes(c, (t->ncols + 7) / 8, &t->null_bits) != CDC_OK)
        return CDC_ERR_PROTO;
    t->meta_len = mlen;
    t->opt = c->buf + c->off;
    t->opt_len = cur_left(c);
    c->off = c->len;
    return CDC_OK;
}

static cdc_rc
decode_rows(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    struct binlog_rows *r = &ev->u.rows;
    uint8_t type = ev->h.type;
    bool v2 = type >= BINLOG_WRITE_ROWS_V2;
    uint8_t phl = post_header_len(fmt, type, v2 ? 10 : 8);
    uint64_t n;
    size_t bm;

    memset(r, 0, sizeof(*r));
    r->version = v2 ? 2 : 1;
    r->kind = (enum binlog_rows_kind)(type - (v2 ? BINLOG_WRITE_ROWS_V2 : BINLOG_WRITE_ROWS_V1));
    if (v2 ? phl != 10 : phl != 6 && phl != 8)
        return cur_fail(c, "unexpected post-header length");
    if (decode_table_id(c, phl, &r->table_id, &r->flags) != CDC_OK)
        return CDC_ERR_PROTO;
    if (v2) {
        uint16_t xlen;

        if (cur_u16(c, &xlen) != CDC_OK)
            return CDC_ERR_PROTO;
        if (xlen < 2) {
            c->off -= 2;
            return cur_fail(c, "extra data length below 2");
        }
        if (cur_bytes(c, xlen - 2u, &r->extra) != CDC_OK)
            return CDC_ERR_PROTO;
        r->extra_len = xlen - 2u;
    }
    if (cur_packed_max(c, BINLOG_MAX_COLS, "column count", &n) != CDC_OK)
        return CDC_ERR_PROTO;
    r->ncols = (uint32_t) n;
    bm = (r->ncols + 7) / 8;
    if (cur_bytes(c, bm, &r->cols) != CDC_OK)
        return CDC_ERR_PROTO;
    r->cols_after = r->cols;
    if (r->kind == BINLOG_ROWS_UPDATE && cur_bytes(c, bm, &r->cols_after) != CDC_OK)
        return CDC_ERR_PROTO;
    r->rows = c->buf + c->off;
    r->rows_len = cur_left(c);
    c->off = c->len;
    return CDC_OK;
}

/* ---- dispatch ---- */

static cdc_rc
refuse_compressed(struct cur *c)
{
    uint8_t type = c->buf[4];
    const char *fix =
        type == BINLOG_TRANSACTION_PAYLOAD ? "set binlog_transaction_compression=OFF on the server"
        : type == BINLOG_PARTIAL_UPDATE_ROWS ? "set binlog_row_value_options='' on the server"
                                             : "set log_bin_compress=OFF on the server";

    return cdc_err_set(c->err, CDC_ERR_PROTO, "binlog: %s events are not supported: %s",
                       binlog_type_name(type), fix);
}

static cdc_rc
decode_body(struct cur *c, struct binlog_event *ev, const struct binlog_fmt *fmt)
{
    switch (ev->h.type) {
    case BINLOG_ROTATE:
        return decode_rotate(c, ev, fmt);
    case BINLOG_QUERY:
        return decode_query(c, ev, fmt);
    case BINLOG_XID:
        return decode_xid(c, ev);
    case BINLOG_TABLE_MAP:
        return decode_table_map(c, ev, fmt);
    case BINLOG_WRITE_ROWS_V1:
    case BINLOG_UPDATE_ROWS_V1:
    case BINLOG_DELETE_ROWS_V1:
    case BINLOG_WRITE_ROWS_V2:
    case BINLOG_UPDATE_ROWS_V2:
    case BINLOG_DELETE_ROWS_V2:
        return decode_rows(c, ev, fmt);
    case BINLOG_HEARTBEAT:
    case BINLOG_MARIA_ANNOTATE_ROWS:
        return decode_text(c, ev, 0);
    case BINLOG_ROWS_QUERY: /* a length byte (capped at 255, ignored), then the text */
        return decode_text(c, ev, 1);
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        return decode_checkpoint(c, ev);
    case BINLOG_MARIA_GTID:
        return decode_maria_gtid(c, ev);
    case BINLOG_MARIA_GTID_LIST:
        return decode_maria_gtid_list(c, ev);
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
        return decode_mysql_gtid(c, ev);
    case BINLOG_PREVIOUS_GTIDS:
        return decode_prev_gtids(c, ev);
    case BINLOG_TRANSACTION_PAYLOAD:
    case BINLOG_PARTIAL_UPDATE_ROWS:
    case BINLOG_MARIA_QUERY_COMPRESSED:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED:
    case BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
    case BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
    case BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1:
        return refuse_compressed(c);
    default:
        c->off = c->len;
        return CDC_OK;
    }
}

cdc_rc
binlog_decode(const struct binlog_fmt *fmt, const uint8_t *buf, size_t len, struct binlog_event *ev,
              struct cdc_err *err)
{
    struct cur c = {buf, len, 0, "event", err};
    struct binlog_header *h = &ev->h;

    memset(ev, 0, sizeof(*ev));
    if (len < BINLOG_HEADER_LEN)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "binlog: truncated event header: need 19 bytes, have %zu", len);
    h->timestamp = (uint32_t) le(buf, 4);
    h->type = buf[4];
    h->server_id = (uint32_t) le(buf + 5, 4);
    h->event_size = (uint32_t) le(buf + 9, 4);
    h->log_pos = (uint32_t) le(buf + 13, 4);
    h->flags = (uint16_t) le(buf + 17, 2);
    c.what = binlog_type_name(h->type);
    c.off = BINLOG_HEADER_LEN;
    if (h->event_size != len)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "binlog: %s event size %" PRIu32
                           " does not match the %zu bytes received",
                           binlog_type_name(h->type), h->event_size, len);
    ev->body = buf + BINLOG_HEADER_LEN;
    if (h->type == BINLOG_FORMAT_DESCRIPTION)
        return decode_fde(&c, ev, fmt);
    if (fmt->checksum_alg == BINLOG_CHECKSUM_CRC32) {
        if (len < BINLOG_HEADER_LEN + BINLOG_CHECKSUM_LEN)
            return cur_need(&c, BINLOG_CHECKSUM_LEN);
        c.len = len - BINLOG_CHECKSUM_LEN;
        if (fmt->verify_checksum && binlog_crc32(buf, c.len) != (uint32_t) le(buf + c.len, 4))
            return cdc_err_set(err, CDC_ERR_PROTO, "binlog: %s event: checksum mismatch",
                               binlog_type_name(h->type));
    }
    ev->body_len = c.len - BINLOG_HEADER_LEN;
    return decode_body(&c, ev, fmt);
}
