/*
 * fuzz_binlog.c - libFuzzer target for the binlog decoders: binlog.c,
 * binlog_table.c, rowdec.c (with mytypes.c) and myjson.c.
 *
 * The first input byte sets the flavour (bit 0: MariaDB charset rules, bit
 * 1: events carry a CRC32, bit 2: verify it, bit 3: mark every character
 * column of the table as one of the MariaDB logical types). The rest is split
 * into events of [2-byte big-endian length][bytes] (the last takes what is
 * left), fed in order, so the fuzzer reaches the stateful paths: a
 * FORMAT_DESCRIPTION changes the format, a TABLE_MAP becomes the current
 * table, and every ROWS event is decoded row by row against it. Each event
 * is copied to a heap buffer of exactly its length, so ASan sees any
 * over-read; every value the decoder returns is touched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/mysql/binlog.h"
#include "source/mysql/myjson.h"
#include "source/mysql/rowdec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
touch(const struct rowdec_image *img, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (img->vals[i].state == CDC_VAL_PRESENT && img->vals[i].len > 0)
            (void) *(volatile const char *) &img->vals[i].data[img->vals[i].len - 1];
    for (uint32_t i = 0; i < img->nzeros; i++)
        (void) *(volatile const char *) &img->zeros[i].raw.data[0];
}

static void
rows(struct rowdec *rd, const struct binlog_table *t, const struct binlog_rows *r,
     struct cdc_buf *scratch)
{
    struct cdc_value *v1 = calloc(t->ncols + 1, sizeof(*v1)),
                     *v2 = calloc(t->ncols + 1, sizeof(*v2));
    struct rowdec_zero *z1 = calloc(t->ncols + 1, sizeof(*z1)),
                       *z2 = calloc(t->ncols + 1, sizeof(*z2));
    struct rowdec_image a = {v1, z1, 0, 0, false}, b = {v2, z2, 0, 0, false};
    const uint8_t *p = r->rows;
    size_t left = r->rows_len, n;
    struct cdc_err err;

    while (v1 && v2 && z1 && z2 && left > 0) {
        bool two = r->kind == BINLOG_ROWS_UPDATE;

        cdc_buf_reset(scratch);
        if (rowdec_decode(rd, t, r, r->kind == BINLOG_ROWS_WRITE, p, left, scratch, &a, &n, &err) !=
                CDC_OK ||
            n == 0)
            break;
        p += n;
        left -= n;
        if (two) {
            if (rowdec_decode(rd, t, r, true, p, left, scratch, &b, &n, &err) != CDC_OK)
                break;
            p += n;
            left -= n;
        }
        rowdec_fixup(scratch, t, &a);
        touch(&a, t->ncols);
        if (two) {
            rowdec_fixup(scratch, t, &b);
            touch(&b, t->ncols);
        }
    }
    free(v1);
    free(v2);
    free(z1);
    free(z2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct binlog_fmt fmt;
    struct binlog_table *t = NULL;
    struct rowdec *rd;
    struct cdc_buf scratch = CDC_BUF_INIT;
    struct cdc_err err;
    size_t off = 1;
    uint8_t flags;

    if (size < 1 || rowdec_create(&rd, &err) != CDC_OK)
        return 0;
    flags = data[0];
    binlog_fmt_init(&fmt, flags & 2 ? BINLOG_CHECKSUM_CRC32 : BINLOG_CHECKSUM_OFF);
    fmt.verify_checksum = (flags & 4) != 0;
    fmt.is_mariadb = (flags & 1) != 0;
    while (off + 2 <= size) {
        size_t n = (size_t) data[off] << 8 | data[off + 1];
        struct binlog_event ev;
        uint8_t *msg;

        off += 2;
        if (n > size - off)
            n = size - off;
        msg = malloc(n > 0 ? n : 1);
        if (msg == NULL)
            break;
        memcpy(msg, data + off, n);
        off += n;
        if (n >= 5 && msg[0] == 0xEE) { /* a bare binary JSON document */
            cdc_buf_reset(&scratch);
            (void) myjson_to_text(msg + 1, n - 1, &scratch, &err);
            free(msg);
            continue;
        }
        if (binlog_decode(&fmt, msg, n, &ev, &err) == CDC_OK) {
            if (ev.h.type == BINLOG_FORMAT_DESCRIPTION) {
                bool maria = fmt.is_mariadb;

                binlog_fmt_apply(&fmt, &ev.u.fde);
                fmt.is_mariadb = maria;
            } else if (ev.h.type == BINLOG_TABLE_MAP) {
                struct binlog_table *nt = NULL;

                if (binlog_table_create(&nt, &ev.u.table_map, &fmt, &err) == CDC_OK) {
                    binlog_table_destroy(t);
                    t = nt;
                    for (uint32_t i = 0; (flags & 8) && i < t->ncols; i++)
                        t->cols[i].logical = (enum binlog_logical)(1 + i % 4);
                }
            } else if (binlog_is_rows_event(ev.h.type) && t != NULL) {
                rows(rd, t, &ev.u.rows, &scratch);
            } else if (ev.h.type == BINLOG_PREVIOUS_GTIDS) {
                cdc_buf_reset(&scratch);
                binlog_prev_gtids_format(&ev.u.prev_gtids, &scratch);
            }
        }
        free(msg);
    }
    binlog_table_destroy(t);
    rowdec_destroy(rd);
    cdc_buf_free(&scratch);
    return 0;
}
