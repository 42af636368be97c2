/*
 * buf.c - growable byte buffer; see buf.h.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

bool
cdc_buf_reserve(struct cdc_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (b->oom)
        return false;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    p = realloc(b->data, ncap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = ncap;
    return true;
}

void
cdc_buf_free(struct cdc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void
cdc_buf_printf(struct cdc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    if (!cdc_buf_reserve(b, 64))
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t) n >= b->cap - b->len) {
        if (!cdc_buf_reserve(b, (size_t) n))
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t) n;
}

void
cdc_buf_put_u64(struct cdc_buf *b, uint64_t v)
{
    char tmp[20];
    int i = (int) sizeof(tmp);

    do {
        tmp[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    cdc_buf_append(b, tmp + i, sizeof(tmp) - (size_t) i);
}

void
cdc_buf_put_i64(struct cdc_buf *b, int64_t v)
{
    if (v < 0) {
        cdc_buf_putc(b, '-');
        /* -(v + 1) + 1 avoids overflow on INT64_MIN */
        cdc_buf_put_u64(b, (uint64_t) (-(v + 1)) + 1);
        return;
    }
    cdc_buf_put_u64(b, (uint64_t) v);
}
