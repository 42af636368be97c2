/*
 * rowdec.c - decode one ROWS event row image; see rowdec.h.
 *
 * Storage ("pack") formats per column type, as MySQL's Field::pack writes
 * them and log_event.cc's log_event_print_value reads them: integers,
 * FLOAT, DOUBLE, DATE, old TIME/DATETIME/TIMESTAMP and ENUM/SET little-endian;
 * NEWDECIMAL, BIT and the TIME2/DATETIME2/TIMESTAMP2 forms big-endian (see
 * mytypes.c); CHAR/VARCHAR a 1-byte length (2 when the column may hold more
 * than 255 bytes) then the bytes; BLOB, TEXT, JSON and GEOMETRY a 1-4 byte
 * length (the metadata) then the bytes. CHAR drops trailing pad characters,
 * which for BINARY(n) are zero bytes: they are put back here.
 *
 * Each value's text is appended to the scratch buffer and remembered as an
 * offset (cdc_value.data holds the offset until rowdec_fixup()).
 */
#include "source/mysql/rowdec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "event/json.h"
#include "source/mysql/mycur.h"
#include "source/mysql/myjson.h"
#include "source/mysql/mytypes.h"

#define RD_CONV_SLOTS 8 /* distinct non-UTF-8 multi-byte charsets kept open */

struct rd_conv {
    const char *name; /* iconv name (static string), NULL = free slot */
    iconv_t cd;       /* (iconv_t) -1 if iconv does not know the charset */
};

struct rowdec {
    struct rd_conv conv[RD_CONV_SLOTS];
    unsigned next_evict; /* round-robin victim when all slots are used */
};

cdc_rc
rowdec_create(struct rowdec **out, struct cdc_err *err)
{
    struct rowdec *rd = calloc(1, sizeof(*rd));

    if (rd == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory for the row decoder");
    *out = rd;
    return CDC_OK;
}

void
rowdec_destroy(struct rowdec *rd)
{
    if (rd == NULL)
        return;
    for (unsigned i = 0; i < RD_CONV_SLOTS; i++)
        if (rd->conv[i].name != NULL && rd->conv[i].cd != (iconv_t) -1)
            iconv_close(rd->conv[i].cd);
    free(rd);
}

static iconv_t
rd_conv(struct rowdec *rd, const char *name)
{
    struct rd_conv *slot = NULL;

    for (unsigned i = 0; i < RD_CONV_SLOTS; i++) {
        if (rd->conv[i].name == name)
            return rd->conv[i].cd;
        if (rd->conv[i].name == NULL && slot == NULL)
            slot = &rd->conv[i];
    }
    if (slot == NULL) {
        slot = &rd->conv[rd->next_evict++ % RD_CONV_SLOTS];
        if (slot->cd != (iconv_t) -1)
            iconv_close(slot->cd);
    }
    slot->name = name;
    slot->cd = iconv_open("UTF-8", name);
    return slot->cd;
}

/* Convert with iconv; an invalid or truncated sequence becomes U+FFFD, one per byte skipped. */
static void
rd_iconv(iconv_t cd, struct cdc_buf *out, const uint8_t *s, size_t n)
{
    char *in = (char *) (uintptr_t) s;
    size_t inleft = n;

    (void) iconv(cd, NULL, NULL, NULL, NULL);
    while (inleft > 0) {
        char *o;
        size_t oleft, before;

        if (!cdc_buf_reserve(out, inleft * 4 + 8))
            return;
        o = out->data + out->len;
        oleft = out->cap - out->len - 1;
        before = oleft;
        if (iconv(cd, &in, &inleft, &o, &oleft) != (size_t) -1) {
            out->len += before - oleft;
            break;
        }
        out->len += before - oleft;
        if (errno == E2BIG)
            continue;
        cdc_buf_append(out, "\xEF\xBF\xBD", 3); /* EILSEQ or EINVAL */
        in++;
        inleft--;
        (void) iconv(cd, NULL, NULL, NULL, NULL);
    }
    if (cdc_buf_reserve(out, 0))
        out->data[out->len] = '\0';
}

/* Append text s[0..n) in collation's charset, as UTF-8. */
static void
rd_text(struct rowdec *rd, struct cdc_buf *out, uint32_t collation, const uint8_t *s, size_t n)
{
    const char *name;
    iconv_t cd;

    switch (my_collation_charset(collation, &name)) {
    case MY_CS_LATIN1:
        my_put_latin1(out, s, n);
        return;
    case MY_CS_ICONV:
        cd = rd_conv(rd, name);
        if (cd != (iconv_t) -1) {
            rd_iconv(cd, out, s, n);
            return;
        }
        break; /* iconv lacks it: pass the bytes; the JSON encoder repairs non-UTF-8 */
    default:
        break;
    }
    cdc_buf_append(out, s, n);
}

static bool
is_blob_type(uint8_t t)
{
    return t == MYT_BLOB || t == MYT_TINY_BLOB || t == MYT_MEDIUM_BLOB || t == MYT_LONG_BLOB;
}

enum cdc_vfmt
rowdec_col_fmt(const struct binlog_column *col)
{
    switch (col->real_type) {
    case MYT_TINY:
    case MYT_SHORT:
    case MYT_INT24:
    case MYT_LONG:
    case MYT_LONGLONG:
    case MYT_YEAR:
        return CDC_VF_INT;
    case MYT_FLOAT:
    case MYT_DOUBLE:
        return CDC_VF_FLOAT;
    case MYT_NEWDECIMAL:
        return CDC_VF_NUMERIC;
    case MYT_DATE:
    case MYT_NEWDATE:
        return CDC_VF_DATE;
    case MYT_DATETIME:
    case MYT_DATETIME2:
        return CDC_VF_TIMESTAMP;
    case MYT_TIMESTAMP:
    case MYT_TIMESTAMP2:
        return CDC_VF_TIMESTAMPTZ;
    case MYT_ENUM:
    case MYT_SET:
        return col->n_elems > 0 ? CDC_VF_STRING : CDC_VF_INT;
    case MYT_JSON:
        return CDC_VF_JSON;
    case MYT_GEOMETRY:
        return CDC_VF_RAW_JSON;
    case MYT_STRING:
    case MYT_VARCHAR:
    case MYT_VAR_STRING:
    case MYT_BLOB:
    case MYT_TINY_BLOB:
    case MYT_MEDIUM_BLOB:
    case MYT_LONG_BLOB:
        if (col->logical == BINLOG_LOGICAL_JSON)
            return CDC_VF_JSON;
        if (col->logical != BINLOG_LOGICAL_NONE)
            return CDC_VF_STRING;
        if (col->collation == 63 || (col->collation == 0 && is_blob_type(col->real_type)))
            return CDC_VF_BASE64;
        return CDC_VF_STRING;
    default: /* TIME, TIME2 (may be negative or above 24h), BIT, NULL */
        return CDC_VF_STRING;
    }
}

/* ---- one value ---- */

struct rd_ctx {
    struct rowdec *rd;
    const struct binlog_column *col;
    struct cur *c;
    struct cdc_buf *out;
    bool zero; /* out: a zero date, its raw text written */
};

static cdc_rc
rd_int(struct rd_ctx *x, size_t n)
{
    uint64_t u;

    if (cur_uint(x->c, n, &u) != CDC_OK)
        return CDC_ERR_PROTO;
    if (x->col->is_unsigned) {
        cdc_buf_put_u64(x->out, u);
    } else {
        if (n < 8 && (u >> (8 * n - 1)) & 1)
            u |= ~UINT64_C(0) << (8 * n);
        cdc_buf_put_i64(x->out, (int64_t) u);
    }
    return CDC_OK;
}

static cdc_rc
rd_float(struct rd_ctx *x, bool dbl)
{
    uint64_t u;

    if (cur_uint(x->c, dbl ? 8 : 4, &u) != CDC_OK)
        return CDC_ERR_PROTO;
    if (dbl) {
        double d;

        memcpy(&d, &u, sizeof(d));
        my_put_double(x->out, d);
    } else {
        uint32_t u32 = (uint32_t) u;
        float f;

        memcpy(&f, &u32, sizeof(f));
        my_put_float(x->out, f);
    }
    return CDC_OK;
}

static cdc_rc
rd_decimal(struct rd_ctx *x)
{
    const uint8_t *p;

    if (cur_bytes(x->c, my_decimal_bin_size(x->col->precision, x->col->scale), &p) != CDC_OK)
        return CDC_ERR_PROTO;
    if (!my_decimal_to_text(p, x->col->precision, x->col->scale, x->out))
        return cur_fail(x->c, "DECIMAL digit group out of range");
    return CDC_OK;
}

/* DATE and DATETIME text, or the zero-date text with x->zero set. */
static cdc_rc
rd_put_dt(struct rd_ctx *x, const struct my_tm *tm, bool with_time, unsigned fsp, bool utc)
{
    if (tm->month > 12 || tm->day > 31)
        return cur_fail(x->c, "date out of range");
    x->zero = my_tm_is_zero_date(tm);
    if (with_time)
        my_put_datetime(x->out, tm, fsp);
    else
        my_put_date(x->out, tm);
    if (utc && !x->zero)
        cdc_buf_append(x->out, "+00", 3);
    return CDC_OK;
}

static cdc_rc
rd_date(struct rd_ctx *x)
{
    uint64_t v;
    struct my_tm tm = {0};

    if (cur_uint(x->c, 3, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    tm.day = (uint32_t) (v & 31);
    tm.month = (uint32_t) (v >> 5 & 15);
    tm.year = (uint32_t) (v >> 9);
    return rd_put_dt(x, &tm, false, 0, false);
}

static cdc_rc
rd_time_old(struct rd_ctx *x)
{
    uint64_t v;
    int64_t s;
    struct my_tm tm = {0};

    if (cur_uint(x->c, 3, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    s = (v & 0x800000) ? (int64_t) v - 0x1000000 : (int64_t) v; /* signed hhmmss */
    tm.neg = s < 0;
    if (s < 0)
        s = -s;
    tm.hour = (uint32_t) (s / 10000);
    tm.minute = (uint32_t) (s / 100 % 100);
    tm.second = (uint32_t) (s % 100);
    if (tm.minute > 59 || tm.second > 59)
        return cur_fail(x->c, "TIME out of range");
    my_put_time(x->out, &tm, 0);
    return CDC_OK;
}

static cdc_rc
rd_time2(struct rd_ctx *x)
{
    const uint8_t *p;
    struct my_tm tm;

    if (cur_bytes(x->c, 3 + my_frac_bytes(x->col->fsp), &p) != CDC_OK)
        return CDC_ERR_PROTO;
    if (!my_time2_unpack(p, x->col->fsp, &tm))
        return cur_fail(x->c, "TIME2 out of range");
    my_put_time(x->out, &tm, x->col->fsp);
    return CDC_OK;
}

static cdc_rc
rd_datetime_old(struct rd_ctx *x)
{
    uint64_t v, d, t;
    struct my_tm tm = {0};

    if (cur_uint(x->c, 8, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    d = v / 1000000; /* YYYYMMDDhhmmss */
    t = v % 1000000;
    tm.year = (uint32_t) (d / 10000);
    tm.month = (uint32_t) (d / 100 % 100);
    tm.day = (uint32_t) (d % 100);
    tm.hour = (uint32_t) (t / 10000);
    tm.minute = (uint32_t) (t / 100 % 100);
    tm.second = (uint32_t) (t % 100);
    if (tm.year > 9999 || tm.hour > 23 || tm.minute > 59 || tm.second > 59)
        return cur_fail(x->c, "DATETIME out of range");
    return rd_put_dt(x, &tm, true, 0, false);
}

static cdc_rc
rd_datetime2(struct rd_ctx *x)
{
    const uint8_t *p;
    struct my_tm tm;

    if (cur_bytes(x->c, 5 + my_frac_bytes(x->col->fsp), &p) != CDC_OK)
        return CDC_ERR_PROTO;
    if (!my_datetime2_unpack(p, x->col->fsp, &tm))
        return cur_fail(x->c, "DATETIME2 out of range");
    return rd_put_dt(x, &tm, true, x->col->fsp, false);
}

static cdc_rc
rd_timestamp(struct rd_ctx *x, bool v2)
{
    uint32_t sec, usec = 0;
    unsigned fsp = v2 ? x->col->fsp : 0;
    struct my_tm tm = {0};

    if (v2) {
        const uint8_t *p;

        if (cur_bytes(x->c, 4 + my_frac_bytes(fsp), &p) != CDC_OK)
            return CDC_ERR_PROTO;
        if (!my_timestamp2_unpack(p, fsp, &sec, &usec))
            return cur_fail(x->c, "TIMESTAMP2 fraction out of range");
    } else if (cur_u32(x->c, &sec) != CDC_OK) {
        return CDC_ERR_PROTO;
    }
    if (sec != 0 || usec != 0) /* else the zero timestamp '0000-00-00 00:00:00' */
        my_tm_from_epoch(sec, usec, &tm);
    return rd_put_dt(x, &tm, true, fsp, true);
}

static cdc_rc
rd_year(struct rd_ctx *x)
{
    uint8_t v;

    if (cur_u8(x->c, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    cdc_buf_put_u64(x->out, v == 0 ? 0 : 1900u + v);
    return CDC_OK;
}

static cdc_rc
rd_bit(struct rd_ctx *x)
{
    uint32_t nbits = x->col->length;
    const uint8_t *p;
    uint64_t v = 0;
    char s[64];

    if (cur_bytes(x->c, (nbits + 7) / 8, &p) != CDC_OK)
        return CDC_ERR_PROTO;
    for (uint32_t i = 0; i < (nbits + 7) / 8; i++)
        v = v << 8 | p[i];
    for (uint32_t i = 0; i < nbits; i++)
        s[i] = (char) ('0' + ((v >> (nbits - 1 - i)) & 1));
    cdc_buf_append(x->out, s, nbits);
    return CDC_OK;
}

/* ENUM: a 1-2 byte index (1-based, 0 = the '' error value); SET: a 1-8 byte bitmap. */
static cdc_rc
rd_enum_set(struct rd_ctx *x)
{
    const struct binlog_column *col = x->col;
    uint64_t v;
    bool first = true;

    if (cur_uint(x->c, col->length, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    if (col->n_elems == 0) {
        cdc_buf_put_u64(x->out, v);
        return CDC_OK;
    }
    if (col->real_type == MYT_ENUM) {
        if (v > col->n_elems)
            return cur_fail(x->c, "ENUM index beyond the column's values");
        if (v > 0)
            rd_text(x->rd, x->out, col->collation, (const uint8_t *) col->elems[v - 1].s,
                    col->elems[v - 1].len);
        return CDC_OK;
    }
    for (uint32_t i = 0; i < 64 && (v >> i) != 0; i++) {
        if (((v >> i) & 1) == 0)
            continue;
        if (i >= col->n_elems)
            return cur_fail(x->c, "SET bit beyond the column's values");
        if (!first)
            cdc_buf_putc(x->out, ',');
        first = false;
        rd_text(x->rd, x->out, col->collation, (const uint8_t *) col->elems[i].s,
                col->elems[i].len);
    }
    return CDC_OK;
}

/* The length-prefixed bytes of a string or blob column. */
static cdc_rc
rd_bytes(struct rd_ctx *x, const uint8_t **p, size_t *n)
{
    const struct binlog_column *col = x->col;
    size_t pl;
    uint64_t len;

    if (col->real_type == MYT_STRING || col->real_type == MYT_VARCHAR ||
        col->real_type == MYT_VAR_STRING)
        pl = col->length > 255 ? 2 : 1;
    else
        pl = col->length; /* BLOB, JSON, GEOMETRY: 1-4 */
    if (cur_uint(x->c, pl, &len) != CDC_OK || cur_bytes(x->c, len, p) != CDC_OK)
        return CDC_ERR_PROTO;
    *n = len;
    return CDC_OK;
}

/* MariaDB UUID, INET6, INET4: fixed-size binary, trailing zero bytes dropped by CHAR packing. */
static cdc_rc
rd_logical(struct rd_ctx *x, const uint8_t *p, size_t n)
{
    size_t want = x->col->logical == BINLOG_LOGICAL_INET4 ? 4 : 16;
    uint8_t b[16] = {0};
    char s[INET6_ADDRSTRLEN];

    if (n > want)
        return cur_fail(x->c, "value longer than its UUID/INET type");
    memcpy(b, p, n);
    if (x->col->logical == BINLOG_LOGICAL_UUID) {
        binlog_put_uuid(x->out, b);
        return CDC_OK;
    }
    if (inet_ntop(want == 4 ? AF_INET : AF_INET6, b, s, sizeof(s)) == NULL)
        return cur_fail(x->c, "bad address");
    cdc_buf_puts(x->out, s);
    return CDC_OK;
}

static cdc_rc
rd_geometry(struct rd_ctx *x, const uint8_t *p, size_t n)
{
    if (n < 4)
        return cur_fail(x->c, "GEOMETRY shorter than its SRID");
    /* MySQL's internal form: a little-endian SRID, then WKB */
    cdc_buf_puts(x->out, "{\"srid\":");
    cdc_buf_put_u64(x->out, (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                                (uint32_t) p[3] << 24);
    cdc_buf_puts(x->out, ",\"wkb\":\"");
    json_put_base64(x->out, p + 4, n - 4);
    cdc_buf_puts(x->out, "\"}");
    return CDC_OK;
}

static cdc_rc
rd_string(struct rd_ctx *x)
{
    const struct binlog_column *col = x->col;
    const uint8_t *p;
    size_t n;

    if (rd_bytes(x, &p, &n) != CDC_OK)
        return CDC_ERR_PROTO;
    if (col->real_type == MYT_GEOMETRY)
        return rd_geometry(x, p, n);
    if (col->real_type == MYT_JSON) {
        if (myjson_to_text(p, n, x->out, x->c->err) != CDC_OK)
            return CDC_ERR_PROTO;
        return CDC_OK;
    }
    if (col->logical == BINLOG_LOGICAL_UUID || col->logical == BINLOG_LOGICAL_INET6 ||
        col->logical == BINLOG_LOGICAL_INET4)
        return rd_logical(x, p, n);
    switch (rowdec_col_fmt(col)) {
    case CDC_VF_BASE64:
        cdc_buf_append(x->out, p, n);
        /* BINARY(n): restore the zero bytes CHAR packing dropped */
        for (size_t k = n; col->real_type == MYT_STRING && k < col->length; k++)
            cdc_buf_putc(x->out, '\0');
        return CDC_OK;
    case CDC_VF_JSON:
        cdc_buf_append(x->out, p, n); /* MariaDB JSON: utf8mb4 text */
        return CDC_OK;
    default:
        rd_text(x->rd, x->out, col->collation, p, n);
        return CDC_OK;
    }
}

/* Append the text of one present, non-NULL value. */
static cdc_rc
rd_value(struct rd_ctx *x)
{
    switch (x->col->real_type) {
    case MYT_TINY:
        return rd_int(x, 1);
    case MYT_SHORT:
        return rd_int(x, 2);
    case MYT_INT24:
        return rd_int(x, 3);
    case MYT_LONG:
        return rd_int(x, 4);
    case MYT_LONGLONG:
        return rd_int(x, 8);
    case MYT_FLOAT:
    case MYT_DOUBLE:
        return rd_float(x, x->col->real_type == MYT_DOUBLE);
    case MYT_NEWDECIMAL:
        return rd_decimal(x);
    case MYT_DATE:
    case MYT_NEWDATE:
        return rd_date(x);
    case MYT_TIME:
        return rd_time_old(x);
    case MYT_TIME2:
        return rd_time2(x);
    case MYT_DATETIME:
        return rd_datetime_old(x);
    case MYT_DATETIME2:
        return rd_datetime2(x);
    case MYT_TIMESTAMP:
        return rd_timestamp(x, false);
    case MYT_TIMESTAMP2:
        return rd_timestamp(x, true);
    case MYT_YEAR:
        return rd_year(x);
    case MYT_BIT:
        return rd_bit(x);
    case MYT_ENUM:
    case MYT_SET:
        return rd_enum_set(x);
    case MYT_STRING:
    case MYT_VARCHAR:
    case MYT_VAR_STRING:
    case MYT_BLOB:
    case MYT_TINY_BLOB:
    case MYT_MEDIUM_BLOB:
    case MYT_LONG_BLOB:
    case MYT_JSON:
    case MYT_GEOMETRY:
        return rd_string(x);
    default: /* binlog_table_create() admits no other type */
        return cur_fail(x->c, "unsupported column type");
    }
}

static bool
bit_at(const uint8_t *bm, uint32_t i)
{
    return (bm[i / 8] >> (i % 8)) & 1;
}

/* Remember [start, end) of scratch as the value's offset (see rowdec_fixup()). */
static void
rd_set(struct cdc_value *v, size_t start, size_t end)
{
    v->data = (const char *) (uintptr_t) start;
    v->len = (uint32_t) (end - start);
    v->state = CDC_VAL_PRESENT;
}

static cdc_rc
rd_fail_col(const struct binlog_table *t, uint32_t i, struct cdc_err *err)
{
    const struct binlog_column *col = &t->cols[i];

    return cdc_err_prefix(err, "table \"%s\".\"%s\" column %u%s%s%s (type %u)", t->db, t->table,
                          i + 1, col->name ? " \"" : "", col->name ? col->name : "",
                          col->name ? "\"" : "", col->type);
}

cdc_rc
rowdec_decode(struct rowdec *rd, const struct binlog_table *t, const struct binlog_rows *rows,
              bool after, const uint8_t *p, size_t len, struct cdc_buf *scratch,
              struct rowdec_image *img, size_t *consumed, struct cdc_err *err)
{
    const uint8_t *present = after ? rows->cols_after : rows->cols, *nulls;
    struct cur c = {p, len, 0, "row image", err};
    uint32_t npresent = 0, k = 0;

    img->nzeros = img->nmissing = 0;
    img->fixed = false;
    if (rows->ncols != t->ncols)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "binlog: ROWS event for \"%s\".\"%s\" has %u columns, its TABLE_MAP %u",
                           t->db, t->table, rows->ncols, t->ncols);
    for (uint32_t i = 0; i < t->ncols; i++)
        npresent += bit_at(present, i);
    /* an image of no column takes no bytes: a caller walking the event would never advance */
    if (npresent == 0)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "binlog: ROWS event for \"%s\".\"%s\" has an image with no column",
                           t->db, t->table);
    if (cur_bytes(&c, (npresent + 7) / 8, &nulls) != CDC_OK)
        return cdc_err_prefix(err, "table \"%s\".\"%s\"", t->db, t->table);
    for (uint32_t i = 0; i < t->ncols; i++) {
        struct cdc_value *v = &img->vals[i];
        struct rd_ctx x = {rd, &t->cols[i], &c, scratch, false};
        size_t start = scratch->len;

        *v = (struct cdc_value){NULL, 0, CDC_VAL_NULL};
        if (!bit_at(present, i)) {
            v->state = after ? CDC_VAL_UNCHANGED : CDC_VAL_ABSENT;
            img->nmissing++;
            continue;
        }
        if (bit_at(nulls, k++) || t->cols[i].real_type == MYT_NULL)
            continue;
        if (rd_value(&x) != CDC_OK)
            return rd_fail_col(t, i, err);
        if (x.zero) {
            struct rowdec_zero *z = &img->zeros[img->nzeros++];

            z->col = i;
            rd_set(&z->raw, start, scratch->len);
            continue;
        }
        rd_set(v, start, scratch->len);
    }
    if (!cdc_buf_ok(scratch))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory decoding a row of \"%s\".\"%s\"",
                           t->db, t->table);
    *consumed = c.off;
    return CDC_OK;
}

void
rowdec_fixup(const struct cdc_buf *scratch, const struct binlog_table *t, struct rowdec_image *img)
{
    if (img->fixed)
        return;
    img->fixed = true;
    for (uint32_t i = 0; i < t->ncols; i++) {
        struct cdc_value *v = &img->vals[i];

        if (v->state == CDC_VAL_PRESENT)
            v->data = v->len > 0 ? scratch->data + (uintptr_t) v->data : "";
    }
    for (uint32_t i = 0; i < img->nzeros; i++) {
        struct cdc_value *v = &img->zeros[i].raw;

        v->data = v->len > 0 ? scratch->data + (uintptr_t) v->data : "";
    }
}
