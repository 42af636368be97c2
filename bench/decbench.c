/*
 * decbench.c - the decoders' cost per row, deterministic, for instruction
 * counts under callgrind (bench/callgrind.sh):
 *
 *   decbench pg ROWS       pgd_feed() of a Relation, then ROWS Insert messages
 *                          in transactions of 1,000 (Begin .. Commit): the
 *                          pgoutput decoder and the relation cache, as the
 *                          daemon runs them per XLogData payload;
 *   decbench binlog ROWS   rowdec_decode() + rowdec_fixup() of ROWS row
 *                          images of a WRITE_ROWS event (the binlog row
 *                          decoder: storage formats to value text), the
 *                          event's table from a hand-built TABLE_MAP.
 *
 * Both decode the 8 columns of bench/run.sh's rows (bigint id, name, email,
 * numeric(12,2), int, bool, timestamp with microseconds, a 64-byte note), one
 * prebuilt message or image fed again and again: no I/O, no allocation in the
 * loop once warm, nothing that varies from run to run. The first row's
 * values are checked against the text the decoder must produce (exit 1 if
 * not). Prints "rows ns/row".
 *
 * The message bytes follow the PostgreSQL "Logical Replication Message
 * Formats" page (protocol version 1) and MariaDB's row storage formats
 * (field.cc pack functions, decimal2bin, the packed DATETIME2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "source/mysql/binlog.h"
#include "source/mysql/rowdec.h"
#include "source/pg/pgdecode.h"

#define NCOLS   8
#define PER_TXN 1000

static const char *const want[NCOLS] = {
    "1234567",
    "name 1234567",
    "user1234567@example.com",
    "1234.50",
    "42",
    NULL, /* bool: pgoutput "t", binlog 1 */
    NULL, /* timestamp: differs by source, checked below */
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
check(const struct cdc_value *v, const char *text, const char *what)
{
    if (v->state != CDC_VAL_PRESENT || v->len != strlen(text) || memcmp(v->data, text, v->len)) {
        fprintf(stderr, "decbench: %s decoded as \"%.*s\", want \"%s\"\n", what, (int) v->len,
                v->data != NULL ? v->data : "", text);
        exit(1);
    }
}

static void
check_row(const struct cdc_value *vals, const char *boolv, const char *ts)
{
    for (int i = 0; i < NCOLS; i++)
        if (want[i] != NULL)
            check(&vals[i], want[i], "a column");
    check(&vals[5], boolv, "the bool");
    check(&vals[6], ts, "the timestamp");
}

/* ---- pgoutput ---- */

struct msg {
    unsigned char b[1024];
    size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
    if (m->n + n > sizeof m->b)
        abort();
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void
put_be(struct msg *m, unsigned long long v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        unsigned char c = (unsigned char) (v >> (8 * i));

        put(m, &c, 1);
    }
}

static void
put_str(struct msg *m, const char *s)
{
    put(m, s, strlen(s) + 1);
}

static void
put_text(struct msg *m, const char *s)
{
    put_be(m, 't', 1);
    put_be(m, strlen(s), 4);
    put(m, s, strlen(s));
}

static void
feed(struct pgd *d, const struct msg *m, cdc_lsn lsn, struct pgd_out *out)
{
    struct cdc_err err;

    if (pgd_feed(d, m->b, m->n, lsn, out, &err) != CDC_OK) {
        fprintf(stderr, "decbench: pgd_feed: %s\n", err.msg);
        exit(1);
    }
}

static void
bench_pg(long rows)
{
    static const struct {
        const char *name;
        unsigned oid;
        int typmod;
    } cols[NCOLS] = {
        {"id", 20, -1},           {"name", 25, -1},
        {"email", 25, -1},        {"amount", 1700, ((12 << 16) | 2) + 4},
        {"qty", 23, -1},          {"active", 16, -1},
        {"created_at", 1184, -1}, {"note", 25, -1},
    };
    static const char ts[] = "2024-01-02 03:04:05.123456+00";
    struct msg rel = {{0}, 0}, begin = {{0}, 0}, ins = {{0}, 0}, commit = {{0}, 0};
    struct pgd *d = NULL;
    struct pgd_out out;
    struct cdc_err err;
    cdc_lsn lsn = 0x1000000;
    double t0;

    put_be(&rel, 'R', 1);
    put_be(&rel, 16384, 4);
    put_str(&rel, "public");
    put_str(&rel, "rows");
    put_be(&rel, 'd', 1);
    put_be(&rel, NCOLS, 2);
    for (int i = 0; i < NCOLS; i++) {
        put_be(&rel, i == 0, 1);
        put_str(&rel, cols[i].name);
        put_be(&rel, cols[i].oid, 4);
        put_be(&rel, (unsigned) cols[i].typmod, 4);
    }
    put_be(&ins, 'I', 1);
    put_be(&ins, 16384, 4);
    put_be(&ins, 'N', 1);
    put_be(&ins, NCOLS, 2);
    for (int i = 0; i < NCOLS; i++)
        put_text(&ins, i == 5 ? "t" : i == 6 ? ts : want[i]);
    if (pgd_create(&d, &err) != CDC_OK) {
        fprintf(stderr, "decbench: %s\n", err.msg);
        exit(1);
    }
    feed(d, &rel, lsn, &out);
    t0 = now_s();
    for (long r = 0; r < rows; r += PER_TXN) {
        long n = rows - r < PER_TXN ? rows - r : PER_TXN;
        cdc_lsn final = lsn + (cdc_lsn) n * 200;

        begin.n = commit.n = 0;
        put_be(&begin, 'B', 1);
        put_be(&begin, final, 8);
        put_be(&begin, 757566245000000ULL, 8); /* 2024-01-02 03:04:05 UTC, PostgreSQL epoch */
        put_be(&begin, 1000 + (unsigned long long) r / PER_TXN, 4);
        feed(d, &begin, lsn, &out);
        for (long i = 0; i < n; i++) {
            feed(d, &ins, lsn + (cdc_lsn) i * 200, &out);
            if (r == 0 && i == 0)
                check_row(out.changes[0].after->vals, "t", ts);
        }
        put_be(&commit, 'C', 1);
        put_be(&commit, 0, 1);
        put_be(&commit, final, 8);
        put_be(&commit, final + 64, 8);
        put_be(&commit, 757566245000000ULL, 8);
        feed(d, &commit, final, &out);
        lsn = final + 64;
    }
    printf("pg %ld %.1f ns/row\n", rows, (now_s() - t0) * 1e9 / (double) rows);
    pgd_destroy(d);
}

/* ---- binlog rows ---- */

static void
bench_binlog(long rows)
{
    /* LONGLONG, VARCHAR x2, NEWDECIMAL, LONG, TINY, DATETIME2, VARCHAR */
    static const uint8_t types[NCOLS] = {0x08, 0x0f, 0x0f, 0xf6, 0x03, 0x01, 0x12, 0x0f};
    /* VARCHAR max bytes LE (utf8mb4: 4 per character: 160, 240, 280), DECIMAL precision and
     * scale, DATETIME2 fractional digits */
    static const uint8_t meta[] = {0xa0, 0x00, 0xf0, 0x00, 0x0c, 0x02, 0x06, 0x18, 0x01};
    static const uint8_t nullable[1] = {0xfe};
    /* COLUMN_CHARSET (3), 3 bytes: utf8mb4_general_ci (45) for the three strings */
    static const uint8_t opt[] = {0x03, 0x03, 0x2d, 0x2d, 0x2d};
    static const uint8_t present[1] = {0xff};
    struct binlog_table_map tm;
    struct binlog_fmt fmt;
    struct binlog_table *t = NULL;
    struct binlog_rows rs;
    struct rowdec *rd = NULL;
    struct cdc_value vals[NCOLS];
    struct rowdec_zero zeros[NCOLS];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;
    struct cdc_err err;
    struct msg row = {{0}, 0};
    double t0;

    memset(&tm, 0, sizeof tm);
    binlog_fmt_init(&fmt, BINLOG_CHECKSUM_OFF);
    fmt.is_mariadb = true;
    tm.table_id = 1;
    tm.db = "bench";
    tm.db_len = 5;
    tm.table = "rows";
    tm.table_len = 4;
    tm.ncols = NCOLS;
    tm.types = types;
    tm.meta = meta;
    tm.meta_len = sizeof meta;
    tm.null_bits = nullable;
    tm.opt = opt;
    tm.opt_len = sizeof opt;
    if (binlog_table_create(&t, &tm, &fmt, &err) != CDC_OK || rowdec_create(&rd, &err) != CDC_OK) {
        fprintf(stderr, "decbench: %s\n", err.msg);
        exit(1);
    }
    put_be(&row, 0x00, 1);                            /* NULL bitmap: no NULLs */
    put(&row, "\x87\xd6\x12\x00\x00\x00\x00\x00", 8); /* 1234567 little-endian */
    put_be(&row, strlen(want[1]), 1);
    put(&row, want[1], strlen(want[1]));
    put_be(&row, strlen(want[2]), 1);
    put(&row, want[2], strlen(want[2]));
    /* DECIMAL(12,2) 1234.50: 1 leading digit in 1 byte, 9 digits in 4, 2 fraction digits in 1,
     * sign bit set for a positive number: 80 | 00, 000001234, 50 */
    put(&row, "\x80\x00\x00\x04\xd2\x32", 6);
    put(&row, "\x2a\x00\x00\x00", 4); /* 42 */
    put_be(&row, 1, 1);
    /* DATETIME2(6) 2024-01-02 03:04:05.123456: ((2024 * 13 + 1) << 22 | 2 << 17 | 3 << 12 |
     * 4 << 6 | 5) + 0x8000000000 in 5 bytes big-endian, then 123456 in 3 */
    put(&row, "\x99\xb2\x44\x31\x05\x01\xe2\x40", 8);
    put_be(&row, strlen(want[7]) & 0xff, 1); /* 2-byte little-endian length (max 280 > 255) */
    put_be(&row, 0, 1);
    put(&row, want[7], strlen(want[7]));

    memset(&rs, 0, sizeof rs);
    rs.kind = BINLOG_ROWS_WRITE;
    rs.version = 2;
    rs.table_id = 1;
    rs.ncols = NCOLS;
    rs.cols = present;
    rs.cols_after = present;
    rs.rows = row.b;
    rs.rows_len = row.n;
    t0 = now_s();
    for (long r = 0; r < rows; r++) {
        size_t used;

        /* one scratch per event of PER_TXN rows, as the source keeps it for a transaction */
        if (r % PER_TXN == 0)
            cdc_buf_reset(&scratch);
        if (rowdec_decode(rd, t, &rs, true, row.b, row.n, &scratch, &img, &used, &err) != CDC_OK ||
            used != row.n) {
            fprintf(stderr, "decbench: rowdec: %s\n", err.msg);
            exit(1);
        }
        rowdec_fixup(&scratch, t, &img);
        if (r == 0)
            check_row(vals, "1", "2024-01-02 03:04:05.123456");
    }
    printf("binlog %ld %.1f ns/row\n", rows, (now_s() - t0) * 1e9 / (double) rows);
    cdc_buf_free(&scratch);
    rowdec_destroy(rd);
    binlog_table_destroy(t);
}

int
main(int argc, char **argv)
{
    long rows = argc > 2 ? atol(argv[2]) : 1000000;

    if (argc < 2 || rows <= 0) {
        fprintf(stderr, "usage: decbench pg|binlog [ROWS]\n");
        return 2;
    }
    if (strcmp(argv[1], "pg") == 0)
        bench_pg(rows);
    else if (strcmp(argv[1], "binlog") == 0)
        bench_binlog(rows);
    else {
        fprintf(stderr, "usage: decbench pg|binlog [ROWS]\n");
        return 2;
    }
    return 0;
}
