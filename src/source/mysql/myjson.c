/*
 * myjson.c - MySQL binary JSON to text; see myjson.h.
 *
 * Format (json_binary.h): a document is a type byte and a value. Objects and
 * arrays come in a small form (16-bit counts, sizes and offsets) and a large
 * one (32-bit): element count, byte size, then for objects one key entry per
 * member (offset, 16-bit length), then one value entry per element (type
 * byte, then either an offset or, for literals and small integers, the value
 * itself: "inlined"), then the keys and values. Offsets are relative to the
 * start of the container's element count. Scalars: literal (1 byte: null,
 * true, false), int16/uint16/int32/uint32/int64/uint64 and double
 * (little-endian), string (variable-length length: 7 bits per byte, low
 * first, high bit = more), opaque (a MySQL field type byte, a
 * variable-length length, the bytes).
 */
#include "source/mysql/myjson.h"

#include <string.h>

#include "event/json.h"
#include "source/mysql/binlog.h"
#include "source/mysql/mytypes.h"

#define MJ_MAX_DEPTH 150 /* MySQL allows 100 */

enum {
    MJ_SMALL_OBJ = 0x00,
    MJ_LARGE_OBJ = 0x01,
    MJ_SMALL_ARR = 0x02,
    MJ_LARGE_ARR = 0x03,
    MJ_LITERAL = 0x04,
    MJ_INT16 = 0x05,
    MJ_UINT16 = 0x06,
    MJ_INT32 = 0x07,
    MJ_UINT32 = 0x08,
    MJ_INT64 = 0x09,
    MJ_UINT64 = 0x0a,
    MJ_DOUBLE = 0x0b,
    MJ_STRING = 0x0c,
    MJ_OPAQUE = 0x0f,
};

struct mj {
    const uint8_t *p; /* the document */
    struct cdc_buf *out;
    size_t budget; /* values we may still render */
    struct cdc_err *err;
};

static uint64_t
mj_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = n; i > 0; i--)
        v = v << 8 | p[i - 1];
    return v;
}

static cdc_rc
mj_fail(struct mj *m, size_t off, const char *what)
{
    return cdc_err_set(m->err, CDC_ERR_PROTO, "binlog: malformed binary JSON at offset %zu: %s",
                       off, what);
}

/* A variable-length length at [*off, end): at most 5 bytes, must fit 32 bits. */
static cdc_rc
mj_varlen(struct mj *m, size_t *off, size_t end, size_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < 5; i++) {
        uint8_t b;

        if (*off >= end)
            return mj_fail(m, *off, "truncated length");
        b = m->p[(*off)++];
        v |= (uint64_t) (b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            if (v > UINT32_MAX)
                break;
            *out = (size_t) v;
            return CDC_OK;
        }
    }
    return mj_fail(m, *off, "bad length");
}

static cdc_rc mj_value(struct mj *m, uint8_t type, size_t off, size_t end, int depth);

static size_t
mj_scalar_size(uint8_t type)
{
    switch (type) {
    case MJ_LITERAL:
        return 1;
    case MJ_INT16:
    case MJ_UINT16:
        return 2;
    case MJ_INT32:
    case MJ_UINT32:
        return 4;
    case MJ_INT64:
    case MJ_UINT64:
    case MJ_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

/* literal, integers, double at off (size checked by the caller). */
static cdc_rc
mj_fixed(struct mj *m, uint8_t type, const uint8_t *q, size_t off)
{
    uint64_t v = mj_le(q, mj_scalar_size(type));
    double d;

    switch (type) {
    case MJ_LITERAL:
        if (v > 2)
            return mj_fail(m, off, "bad literal");
        cdc_buf_puts(m->out, v == 0 ? "null" : v == 1 ? "true" : "false");
        return CDC_OK;
    case MJ_INT16:
        cdc_buf_put_i64(m->out, (int16_t) v);
        return CDC_OK;
    case MJ_INT32:
        cdc_buf_put_i64(m->out, (int32_t) v);
        return CDC_OK;
    case MJ_INT64:
        cdc_buf_put_i64(m->out, (int64_t) v);
        return CDC_OK;
    case MJ_UINT16:
    case MJ_UINT32:
    case MJ_UINT64:
        cdc_buf_put_u64(m->out, v);
        return CDC_OK;
    default: /* MJ_DOUBLE */
        memcpy(&d, &v, sizeof(d));
        my_put_double(m->out, d); /* JSON cannot hold NaN/Infinity: MySQL never stores them */
        return CDC_OK;
    }
}

/* A temporal opaque value: 8 bytes of the packed in-memory form. */
static cdc_rc
mj_temporal(struct mj *m, uint8_t ftype, const uint8_t *q, size_t off)
{
    int64_t packed = (int64_t) mj_le(q, 8);
    struct my_tm tm;
    bool ok =
        ftype == MYT_TIME ? my_time_from_packed(packed, &tm) : my_datetime_from_packed(packed, &tm);

    if (!ok)
        return mj_fail(m, off, "bad temporal value");
    cdc_buf_putc(m->out, '"');
    if (ftype == MYT_DATE)
        my_put_date(m->out, &tm);
    else if (ftype == MYT_TIME)
        my_put_time(m->out, &tm, 6);
    else
        my_put_datetime(m->out, &tm, 6);
    cdc_buf_putc(m->out, '"');
    return CDC_OK;
}

static cdc_rc
mj_opaque(struct mj *m, size_t off, size_t end)
{
    size_t n, start = off;
    uint8_t ftype;
    const uint8_t *q;

    if (off >= end)
        return mj_fail(m, off, "truncated opaque value");
    ftype = m->p[off++];
    if (mj_varlen(m, &off, end, &n) != CDC_OK)
        return CDC_ERR_PROTO;
    if (n > end - off)
        return mj_fail(m, start, "opaque value longer than its container");
    q = m->p + off;
    switch (ftype) {
    case MYT_NEWDECIMAL: /* precision, scale, decimal2bin */
        if (n < 2 || q[0] < 1 || q[0] > 65 || q[1] > 30 || q[1] > q[0] ||
            n != 2 + my_decimal_bin_size(q[0], q[1]) ||
            !my_decimal_to_text(q + 2, q[0], q[1], m->out))
            return mj_fail(m, start, "bad DECIMAL value");
        return CDC_OK;
    case MYT_DATE:
    case MYT_TIME:
    case MYT_DATETIME:
    case MYT_TIMESTAMP:
        if (n != 8)
            return mj_fail(m, start, "temporal value not 8 bytes");
        return mj_temporal(m, ftype, q, start);
    default:
        cdc_buf_printf(m->out, "\"base64:type%u:", ftype);
        json_put_base64(m->out, q, n);
        cdc_buf_putc(m->out, '"');
        return CDC_OK;
    }
}

static cdc_rc
mj_string(struct mj *m, size_t off, size_t end)
{
    size_t n, start = off;

    if (mj_varlen(m, &off, end, &n) != CDC_OK)
        return CDC_ERR_PROTO;
    if (n > end - off)
        return mj_fail(m, start, "string longer than its container");
    json_put_str(m->out, (const char *) m->p + off, n);
    return CDC_OK;
}

/* Is a value of this type stored in its value entry (small: 16 bits, large: 32)? */
static bool
mj_inlined(uint8_t type, bool large)
{
    return type == MJ_LITERAL || type == MJ_INT16 || type == MJ_UINT16 ||
           (large && (type == MJ_INT32 || type == MJ_UINT32));
}

/* One element's value: entry at `e` inside the container starting at `base` of `size` bytes. */
static cdc_rc
mj_element(struct mj *m, size_t base, size_t size, size_t hdr, size_t e, bool large, int depth)
{
    size_t w = large ? 4 : 2;
    uint8_t type = m->p[e];
    size_t voff;

    if (mj_inlined(type, large))
        return mj_fixed(m, type, m->p + e + 1, e);
    voff = (size_t) mj_le(m->p + e + 1, w);
    if (voff < hdr || voff >= size)
        return mj_fail(m, e, "value offset outside its container");
    return mj_value(m, type, base + voff, base + size, depth + 1);
}

static cdc_rc
mj_container(struct mj *m, uint8_t type, size_t off, size_t end, int depth)
{
    bool large = type == MJ_LARGE_OBJ || type == MJ_LARGE_ARR;
    bool obj = type == MJ_SMALL_OBJ || type == MJ_LARGE_OBJ;
    size_t w = large ? 4 : 2, count, size, hdr, kw = obj ? w + 2 : 0;

    if (depth > MJ_MAX_DEPTH)
        return mj_fail(m, off, "nested too deep");
    if (end - off < 2 * w)
        return mj_fail(m, off, "truncated container header");
    count = (size_t) mj_le(m->p + off, w);
    size = (size_t) mj_le(m->p + off + w, w);
    if (size > end - off || size < 2 * w)
        return mj_fail(m, off, "container size outside the document");
    if (count > (size - 2 * w) / (kw + 1 + w))
        return mj_fail(m, off, "more elements than the container holds");
    hdr = 2 * w + count * (kw + 1 + w);
    cdc_buf_putc(m->out, obj ? '{' : '[');
    for (size_t i = 0; i < count; i++) {
        size_t e = off + 2 * w + count * kw + i * (1 + w);

        if (i > 0)
            cdc_buf_append(m->out, ", ", 2);
        if (obj) {
            size_t k = off + 2 * w + i * kw;
            size_t koff = (size_t) mj_le(m->p + k, w), klen = (size_t) mj_le(m->p + k + w, 2);

            if (koff < hdr || koff > size || klen > size - koff)
                return mj_fail(m, k, "key outside its container");
            json_put_str(m->out, (const char *) m->p + off + koff, klen);
            cdc_buf_append(m->out, ": ", 2);
        }
        if (mj_element(m, off, size, hdr, e, large, depth) != CDC_OK)
            return CDC_ERR_PROTO;
    }
    cdc_buf_putc(m->out, obj ? '}' : ']');
    return CDC_OK;
}

/* A value of `type` whose data starts at off; it may use bytes up to end. */
static cdc_rc
mj_value(struct mj *m, uint8_t type, size_t off, size_t end, int depth)
{
    size_t n;

    if (m->budget == 0)
        return mj_fail(m, off, "values reached more than once");
    m->budget--;
    switch (type) {
    case MJ_SMALL_OBJ:
    case MJ_LARGE_OBJ:
    case MJ_SMALL_ARR:
    case MJ_LARGE_ARR:
        return mj_container(m, type, off, end, depth);
    case MJ_STRING:
        return mj_string(m, off, end);
    case MJ_OPAQUE:
        return mj_opaque(m, off, end);
    default:
        n = mj_scalar_size(type);
        if (n == 0)
            return mj_fail(m, off, "unknown value type");
        if (end - off < n)
            return mj_fail(m, off, "truncated scalar");
        return mj_fixed(m, type, m->p + off, off);
    }
}

cdc_rc
myjson_to_text(const uint8_t *p, size_t len, struct cdc_buf *out, struct cdc_err *err)
{
    struct mj m = {p, out, len, err};

    if (len == 0) {
        cdc_buf_puts(out, "null");
        return CDC_OK;
    }
    return mj_value(&m, p[0], 1, len, 0);
}
