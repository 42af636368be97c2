/*
 * mycur.h - the bounds-checked cursor shared by the binlog decoders
 * (binlog.c, binlog_table.c, rowdec.c). Private to src/source/mysql/.
 *
 * Every read checks the remaining length first; a failure fills err with
 * CDC_ERR_PROTO, what is being read and the offset. All integers of the
 * binlog are little-endian unless a reader says otherwise.
 */
#ifndef CDC_SOURCE_MYSQL_MYCUR_H
#define CDC_SOURCE_MYSQL_MYCUR_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

#define BINLOG_MAX_COLS 4096 /* MySQL's limit on columns in a table */

/* A bounds-checked cursor over one event. */
struct cur {
    const uint8_t *buf;  /* the bytes */
    size_t len;          /* bytes we may read (an event's checksum excluded) */
    size_t off;          /* next byte */
    const char *what;    /* what is read, for messages: "QUERY", "row image", ... */
    struct cdc_err *err; /* where failures go; may be NULL */
};

static inline cdc_rc
cur_fail(struct cur *c, const char *what)
{
    (void) cdc_err_set(c->err, CDC_ERR_PROTO, "binlog: malformed %s at offset %zu: %s", c->what,
                       c->off, what);
    return CDC_ERR_PROTO;
}

static inline cdc_rc
cur_need(struct cur *c, size_t n)
{
    size_t have = c->len - c->off;

    if (have >= n)
        return CDC_OK;
    (void) cdc_err_set(c->err, CDC_ERR_PROTO,
                       "binlog: truncated %s at offset %zu: need %zu bytes, have %zu", c->what,
                       c->off, n, have);
    return CDC_ERR_PROTO;
}

static inline size_t
cur_left(const struct cur *c)
{
    return c->len - c->off;
}

static inline uint64_t
le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = n; i > 0; i--)
        v = v << 8 | p[i - 1];
    return v;
}

/* An n-byte (1..8) little-endian unsigned integer. */
static inline cdc_rc
cur_uint(struct cur *c, size_t n, uint64_t *out)
{
    *out = 0;
    if (cur_need(c, n) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = le(c->buf + c->off, n);
    c->off += n;
    return CDC_OK;
}

static inline cdc_rc
cur_u8(struct cur *c, uint8_t *out)
{
    uint64_t v;

    if (cur_uint(c, 1, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = (uint8_t) v;
    return CDC_OK;
}

static inline cdc_rc
cur_u16(struct cur *c, uint16_t *out)
{
    uint64_t v;

    if (cur_uint(c, 2, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = (uint16_t) v;
    return CDC_OK;
}

static inline cdc_rc
cur_u32(struct cur *c, uint32_t *out)
{
    uint64_t v;

    if (cur_uint(c, 4, &v) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = (uint32_t) v;
    return CDC_OK;
}

/* n bytes in place. */
static inline cdc_rc
cur_bytes(struct cur *c, size_t n, const uint8_t **out)
{
    if (cur_need(c, n) != CDC_OK)
        return CDC_ERR_PROTO;
    *out = c->buf + c->off;
    c->off += n;
    return CDC_OK;
}

/* A length-encoded ("packed") integer: < 251 in one byte, 252 + 2, 253 + 3, 254 + 8 bytes. */
static inline cdc_rc
cur_packed(struct cur *c, uint64_t *out)
{
    uint8_t b;

    *out = 0;
    if (cur_u8(c, &b) != CDC_OK)
        return CDC_ERR_PROTO;
    if (b < 251) {
        *out = b;
        return CDC_OK;
    }
    switch (b) {
    case 252:
        return cur_uint(c, 2, out);
    case 253:
        return cur_uint(c, 3, out);
    case 254:
        return cur_uint(c, 8, out);
    default:
        c->off--;
        return cur_fail(c, "bad length-encoded integer");
    }
}

/* A packed integer that must be <= max. */
static inline cdc_rc
cur_packed_max(struct cur *c, uint64_t max, const char *what, uint64_t *out)
{
    char msg[96];

    if (cur_packed(c, out) != CDC_OK)
        return CDC_ERR_PROTO;
    if (*out <= max)
        return CDC_OK;
    snprintf(msg, sizeof(msg), "%s %" PRIu64 " exceeds %" PRIu64, what, *out, max);
    return cur_fail(c, msg);
}

#endif
