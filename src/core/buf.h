/*
 * buf.h - a growable byte buffer (in the spirit of PostgreSQL's StringInfo and
 * Redis's sds), used to build events and protocol messages without a malloc per
 * write. A buffer is reused: cdc_buf_reset() keeps the allocation.
 *
 * Appends that fail to grow the buffer set buf->oom and become no-ops, so a hot
 * path can append many pieces and check once (cdc_buf_ok()) at the end.
 */
#ifndef CDC_CORE_BUF_H
#define CDC_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cdc_buf {
    char *data; /* NUL-terminated when cap > 0 */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed to allocate; content is truncated */
};

#define CDC_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

/* Make room for `extra` more bytes. Returns false (and sets oom) if it cannot. */
bool cdc_buf_reserve(struct cdc_buf *b, size_t extra);

/* Forget the content, keep the allocation. */
static inline void
cdc_buf_reset(struct cdc_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->cap > 0)
        b->data[0] = '\0';
}

/* Free the allocation; the buffer can be used again afterwards. */
void cdc_buf_free(struct cdc_buf *b);

static inline bool
cdc_buf_ok(const struct cdc_buf *b)
{
    return !b->oom;
}

static inline void
cdc_buf_append(struct cdc_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap && !cdc_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void
cdc_buf_putc(struct cdc_buf *b, char c)
{
    if (b->len + 2 > b->cap && !cdc_buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

static inline void
cdc_buf_puts(struct cdc_buf *b, const char *s)
{
    cdc_buf_append(b, s, strlen(s));
}

/* Append printf-style text. */
void cdc_buf_printf(struct cdc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a decimal integer without going through printf. */
void cdc_buf_put_i64(struct cdc_buf *b, int64_t v);
void cdc_buf_put_u64(struct cdc_buf *b, uint64_t v);

#endif
