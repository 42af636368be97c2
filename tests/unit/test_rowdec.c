/*
 * test_rowdec.c - the row image decoder (rowdec.c, mytypes.c) on hand-built
 * tables and row images, checked all the way to the JSON each value renders
 * to (json_put_value with rowdec_col_fmt()). Every row is also cut at every
 * byte into a heap buffer of exactly that size: the decoder must fail, never
 * read past the end.
 *
 * The bytes of each value are derived by hand from the storage formats:
 * field.cc's pack functions, decimal.c's decimal2bin, my_time.cc's packed
 * temporal formats (each derivation is in the comment beside it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "event/json.h"
#include "source/mysql/rowdec.h"

#define MAXC 16

static struct rowdec *rd;

static int
setup(void **state)
{
    struct cdc_err err;

    (void) state;
    return rowdec_create(&rd, &err) == CDC_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void) state;
    rowdec_destroy(rd);
    return 0;
}

static const uint8_t all_null_bits[MAXC / 8] = {0xFF, 0xFF};

/* A table from types, the metadata block and the optional metadata, all nullable. */
static struct binlog_table *
mk_table(const char *types, size_t ncols, const char *meta, size_t meta_len, const char *opt,
         size_t opt_len, bool mariadb)
{
    struct binlog_table_map tm = {0};
    struct binlog_fmt fmt;
    struct binlog_table *t = NULL;
    struct cdc_err err;

    assert_true(ncols <= MAXC);
    binlog_fmt_init(&fmt, BINLOG_CHECKSUM_OFF);
    fmt.is_mariadb = mariadb;
    tm.table_id = 1;
    tm.db = "db";
    tm.db_len = 2;
    tm.table = "t";
    tm.table_len = 1;
    tm.ncols = (uint32_t) ncols;
    tm.types = (const uint8_t *) types;
    tm.meta = (const uint8_t *) meta;
    tm.meta_len = meta_len;
    tm.null_bits = all_null_bits;
    tm.opt = (const uint8_t *) opt;
    tm.opt_len = opt_len;
    if (binlog_table_create(&t, &tm, &fmt, &err) != CDC_OK)
        fail_msg("table: %s", err.msg);
    return t;
}

#define TABLE(types, meta, opt, maria)                                                             \
    mk_table(types, sizeof(types) - 1, meta, sizeof(meta) - 1, opt, sizeof(opt) - 1, maria)

static const uint8_t all_present[MAXC / 8] = {0xFF, 0xFF};

/* The rows struct for t with one present-columns bitmap for both images. */
static struct binlog_rows
mk_rows(const struct binlog_table *t, const uint8_t *present)
{
    struct binlog_rows r = {0};

    r.ncols = t->ncols;
    r.cols = present != NULL ? present : all_present;
    r.cols_after = r.cols;
    return r;
}

/* The JSON of value i ("<unchanged>", "<absent>" for missing columns). */
static void
render(const struct binlog_table *t, const struct rowdec_image *img, uint32_t i,
       struct cdc_buf *out)
{
    const struct cdc_value *v = &img->vals[i];

    cdc_buf_reset(out);
    if (v->state == CDC_VAL_NULL)
        cdc_buf_puts(out, "null");
    else if (v->state == CDC_VAL_UNCHANGED)
        cdc_buf_puts(out, "<unchanged>");
    else if (v->state == CDC_VAL_ABSENT)
        cdc_buf_puts(out, "<absent>");
    else
        (void) json_put_value(out, rowdec_col_fmt(&t->cols[i]), CDC_VF_STRING, v->data, v->len);
}

/*
 * Decode row[0..len) as one image, check it uses all of it, that each column
 * renders to want[i], and that every strict prefix fails. img_out, if given,
 * receives the image (values valid until *scratch changes).
 */
static void
expect_row_ex(const struct binlog_table *t, const uint8_t *present, bool after, const void *row,
              size_t len, const char *const *want, struct cdc_buf *scratch,
              struct rowdec_image *img)
{
    struct binlog_rows rows = mk_rows(t, present);
    struct cdc_buf js = CDC_BUF_INIT;
    struct cdc_err err;
    size_t used = 0;

    cdc_buf_reset(scratch);
    if (rowdec_decode(rd, t, &rows, after, row, len, scratch, img, &used, &err) != CDC_OK)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(used, len);
    rowdec_fixup(scratch, t, img);
    for (uint32_t i = 0; i < t->ncols; i++) {
        render(t, img, i, &js);
        if (strcmp(js.data, want[i]) != 0)
            fail_msg("column %u: got <%s>, want <%s>", i + 1, js.data, want[i]);
    }
    cdc_buf_free(&js);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *buf = malloc(cut > 0 ? cut : 1);
        struct cdc_buf s2 = CDC_BUF_INIT;
        struct cdc_value v2[MAXC];
        struct rowdec_zero z2[MAXC];
        struct rowdec_image img2 = {v2, z2, 0, 0, false};
        cdc_rc rc;

        memcpy(buf, row, cut);
        rc = rowdec_decode(rd, t, &rows, after, buf, cut, &s2, &img2, &used, &err);
        if (rc != CDC_ERR_PROTO)
            fail_msg("prefix of %zu bytes (of %zu): rc %d", cut, len, rc);
        free(buf);
        cdc_buf_free(&s2);
    }
}

static void
expect_row(const struct binlog_table *t, const void *row, size_t len, const char *const *want)
{
    struct cdc_value vals[MAXC];
    struct rowdec_zero zeros[MAXC];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;

    expect_row_ex(t, NULL, true, row, len, want, &scratch, &img);
    cdc_buf_free(&scratch);
}

#define ROW(t, bytes, ...)                                                                         \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        assert_int_equal(sizeof(want_) / sizeof(want_[0]), (t)->ncols);                            \
        expect_row((t), bytes, sizeof(bytes) - 1, want_);                                          \
    } while (0)

/* A row that must fail with a message containing `msg`. */
static void
expect_fail(const struct binlog_table *t, const void *row, size_t len, const char *msg)
{
    struct cdc_value vals[MAXC];
    struct rowdec_zero zeros[MAXC];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;
    struct binlog_rows rows = mk_rows(t, NULL);
    struct cdc_err err;
    size_t used;

    assert_int_equal(rowdec_decode(rd, t, &rows, true, row, len, &scratch, &img, &used, &err),
                     CDC_ERR_PROTO);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("error <%s> lacks <%s>", err.msg, msg);
    cdc_buf_free(&scratch);
}

/* ---- integers ---- */

static void
test_rowdec_integers_signed_and_unsigned_bounds(void **state)
{
    /* TINY, TINY, SHORT, SHORT, INT24, INT24, LONG, LONG, LONGLONG, LONGLONG;
     * SIGNEDNESS (1): 10 numeric columns, every second unsigned: 0101 0101 01.. = 55 40 */
    struct binlog_table *t =
        TABLE("\x01\x01\x02\x02\x09\x09\x03\x03\x08\x08", "", "\x01\x02\x55\x40", false);
    struct binlog_table *s = TABLE("\x01\x08", "", "", false);

    (void) state;
    /* row 1: every minimum (signed: top bit only) and every unsigned maximum (all ones) */
    ROW(t,
        "\x00\x00" /* NULL bitmap, 10 columns */
        "\x80"
        "\xff"
        "\x00\x80"
        "\xff\xff"
        "\x00\x00\x80"
        "\xff\xff\xff"
        "\x00\x00\x00\x80"
        "\xff\xff\xff\xff"
        "\x00\x00\x00\x00\x00\x00\x00\x80"
        "\xff\xff\xff\xff\xff\xff\xff\xff",
        "-128", "255", "-32768", "65535", "-8388608", "16777215", "-2147483648", "4294967295",
        "-9223372036854775808", "18446744073709551615");
    /* row 2: signed maxima (0x7f...), unsigned 0 and 1 */
    ROW(t,
        "\x00\x00"
        "\x7f"
        "\x00"
        "\xff\x7f"
        "\x00\x00"
        "\xff\xff\x7f"
        "\x01\x00\x00"
        "\xff\xff\xff\x7f"
        "\x00\x00\x00\x00"
        "\xff\xff\xff\xff\xff\xff\xff\x7f"
        "\x01\x00\x00\x00\x00\x00\x00\x00",
        "127", "0", "32767", "0", "8388607", "1", "2147483647", "0", "9223372036854775807", "1");
    /* NULLs: bits 0 and 9 */
    ROW(t,
        "\x01\x02"
        "\xff"
        "\x00\x80"
        "\xff\xff"
        "\x00\x00\x80"
        "\xff\xff\xff"
        "\x00\x00\x00\x80"
        "\xff\xff\xff\xff"
        "\x00\x00\x00\x00\x00\x00\x00\x80",
        "null", "255", "-32768", "65535", "-8388608", "16777215", "-2147483648", "4294967295",
        "-9223372036854775808", "null");
    /* no SIGNEDNESS metadata: signed */
    ROW(s,
        "\x00"
        "\xff"
        "\xfe\xff\xff\xff\xff\xff\xff\xff",
        "-1", "-2");
    binlog_table_destroy(t);
    binlog_table_destroy(s);
}

/* ---- FLOAT, DOUBLE, DECIMAL ---- */

static void
test_rowdec_float_double_decimal(void **state)
{
    /* FLOAT, DOUBLE, DOUBLE, DECIMAL(10,4) x2, DECIMAL(5,0), DECIMAL(20,10), DECIMAL(4,4) */
    struct binlog_table *t = TABLE("\x04\x05\x05\xf6\xf6\xf6\xf6\xf6",
                                   "\x04"
                                   "\x08"
                                   "\x08"
                                   "\x0a\x04"
                                   "\x0a\x04"
                                   "\x05\x00"
                                   "\x14\x0a"
                                   "\x04\x04",
                                   "", false);
    struct binlog_table *bad = TABLE("\xf6", "\x02\x00", "", false);

    (void) state;
    ROW(t,
        "\x00"
        /* 1.5f = 0x3FC00000, little-endian */
        "\x00\x00\xc0\x3f"
        /* 0.1 = 0x3FB999999999999A */
        "\x9a\x99\x99\x99\x99\x99\xb9\x3f"
        /* NaN = 0x7FF8000000000000 (MySQL cannot store it; rendered as a string anyway) */
        "\x00\x00\x00\x00\x00\x00\xf8\x7f"
        /* DECIMAL(10,4) -1234.5678: 6 integer digits in 3 bytes (1234 = 00 04 D2), 4 fraction
         * digits in 2 (5678 = 16 2E); negative: every byte inverted (FF FB 2D E9 D1), then the
         * top bit of the first flipped: 7F FB 2D E9 D1 */
        "\x7f\xfb\x2d\xe9\xd1"
        /* DECIMAL(10,4) 0.0500: 00 00 00, 500 = 01 F4; positive: top bit set: 80 00 00 01 F4 */
        "\x80\x00\x00\x01\xf4"
        /* DECIMAL(5,0) -12: 5 digits in 3 bytes 00 00 0C, inverted FF FF F3, flipped 7F FF F3 */
        "\x7f\xff\xf3"
        /* DECIMAL(20,10) 1234567890.0123456789: integer "1" (1 byte) + 234567890 (0DFB38D2);
         * fraction 012345678 (00BC614E) + "9" (1 byte): 01 0D FB 38 D2 00 BC 61 4E 09, flipped */
        "\x81\x0d\xfb\x38\xd2\x00\xbc\x61\x4e\x09"
        /* DECIMAL(4,4) 0.1234: no integer digits; 1234 = 04 D2, flipped 84 D2 */
        "\x84\xd2",
        "1.5", "0.1", "\"NaN\"", "\"-1234.5678\"", "\"0.0500\"", "\"-12\"",
        "\"1234567890.0123456789\"", "\"0.1234\"");
    /* DECIMAL(2,0): one byte holds 0..99; 0xE4 ^ 0x80 = 100 is no decimal digit pair */
    expect_fail(bad, "\x00\xe4", 2, "DECIMAL digit group out of range");
    binlog_table_destroy(t);
    binlog_table_destroy(bad);
}

/* ---- dates and times ---- */

static void
test_rowdec_temporal_types(void **state)
{
    /* DATE, TIME2(0), TIME2(1), TIME2(3), TIME2(6), TIME2(0), DATETIME2(0), TIMESTAMP2(0),
     * TIMESTAMP2(3), YEAR, YEAR, TIME, DATETIME, TIMESTAMP */
    struct binlog_table *t = TABLE("\x0a\x13\x13\x13\x13\x13\x12\x11\x11\x0d\x0d\x0b\x0c\x07",
                                   "\x00\x01\x03\x06\x00\x00\x00\x03", "", false);

    (void) state;
    ROW(t,
        "\x00\x00"
        /* DATE 2024-01-02: day | month << 5 | year << 9 = 2 + 32 + 1036288 = 0x0FD022, LE */
        "\x22\xd0\x0f"
        /* TIME2(0) 12:34:56: 12 << 12 | 34 << 6 | 56 = 0xC8B8, + 0x800000, big-endian */
        "\x80\xc8\xb8"
        /* TIME2(1) -00:00:00.5: packed -500000; int part -500000 >> 24 = -1 -> 0x7FFFFF;
         * fraction (-500000 % 2^24) / 10000 = -50 -> byte 0xCE */
        "\x7f\xff\xff\xce"
        /* TIME2(3) -01:00:00.250: packed -(4096 << 24 | 250000); int part -4097 -> 0x7FEFFF;
         * fraction -250000 / 100 = -2500 -> 0xF63C */
        "\x7f\xef\xff\xf6\x3c"
        /* TIME2(6) -838:59:59.000000: 48 bits 0x800000000000 - (838<<12|59<<6|59) << 24 */
        "\x4b\x91\x05\x00\x00\x00"
        /* TIME2(0) 100:00:00 (above 24 hours): 100 << 12 = 0x64000, + 0x800000 */
        "\x86\x40\x00"
        /* DATETIME2(0) 2024-01-02 03:04:05: ((2024*13+1) << 5 | 2) << 17 | 3<<12|4<<6|5,
         * + 0x8000000000, 5 bytes big-endian */
        "\x99\xb2\x44\x31\x05"
        /* TIMESTAMP2(0) 1704164645 = 2024-01-02 03:04:05 UTC, big-endian */
        "\x65\x93\x7d\x25"
        /* TIMESTAMP2(3) the same + .500: 5000 (units of 100 us) = 0x1388 */
        "\x65\x93\x7d\x25\x13\x88"
        /* YEAR 2024 = 1900 + 124 (0x7C); YEAR 0 */
        "\x7c"
        "\x00"
        /* old TIME -12:34:56: -123456 in 3 bytes two's complement, LE: 0xFE1DC0 */
        "\xc0\x1d\xfe"
        /* old DATETIME 20240102030405 = 0x126884177C45, 8 bytes LE */
        "\x45\x7c\x17\x84\x68\x12\x00\x00"
        /* old TIMESTAMP 1704164645, LE */
        "\x25\x7d\x93\x65",
        "\"2024-01-02\"", "\"12:34:56\"", "\"-00:00:00.5\"", "\"-01:00:00.250\"",
        "\"-838:59:59.000000\"", "\"100:00:00\"", "\"2024-01-02T03:04:05\"",
        "\"2024-01-02T03:04:05Z\"", "\"2024-01-02T03:04:05.500Z\"", "2024", "0", "\"-12:34:56\"",
        "\"2024-01-02T03:04:05\"", "\"2024-01-02T03:04:05Z\"");
    binlog_table_destroy(t);
}

static void
test_rowdec_datetime2_every_fsp(void **state)
{
    /* fractions .1, .12, .123, .1234, .12345, .123456 at fsp 1..6: 1-2 digits in one byte
     * (hundredths: 10, 12), 3-4 in two (units of 100 us: 1230, 1234), 5-6 in three (us: 123450,
     * 123456), big-endian */
    static const char *const frac[7] = {"",         "\x0a",         "\x0c",        "\x04\xce",
                                        "\x04\xd2", "\x01\xe2\x3a", "\x01\xe2\x40"};
    static const size_t frac_len[7] = {0, 1, 1, 2, 2, 3, 3};
    static const char *const want[7] = {
        "\"2024-01-02T03:04:05\"",        "\"2024-01-02T03:04:05.1\"",
        "\"2024-01-02T03:04:05.12\"",     "\"2024-01-02T03:04:05.123\"",
        "\"2024-01-02T03:04:05.1234\"",   "\"2024-01-02T03:04:05.12345\"",
        "\"2024-01-02T03:04:05.123456\"",
    };

    (void) state;
    for (unsigned fsp = 0; fsp <= 6; fsp++) {
        char meta[1] = {(char) fsp};
        uint8_t row[16] = {0x00, 0x99, 0xb2, 0x44, 0x31, 0x05};
        struct binlog_table *t = mk_table("\x12", 1, meta, 1, "", 0, false);
        const char *w[1] = {want[fsp]};
        struct cdc_value vals[1];
        struct rowdec_zero zeros[1];
        struct rowdec_image img = {vals, zeros, 0, 0, false};
        struct cdc_buf scratch = CDC_BUF_INIT;

        memcpy(row + 6, frac[fsp], frac_len[fsp]);
        expect_row_ex(t, NULL, true, row, 6 + frac_len[fsp], w, &scratch, &img);
        cdc_buf_free(&scratch);
        binlog_table_destroy(t);
    }
}

static void
test_rowdec_zero_dates_become_null_with_raw_text(void **state)
{
    /* DATE, DATETIME2(0), TIMESTAMP2(2), DATE, TIMESTAMP */
    struct binlog_table *t = TABLE("\x0a\x12\x11\x0a\x07", "\x00\x02", "", false);
    static const char *const want[] = {"null", "null", "null", "null", "null"};
    struct cdc_value vals[MAXC];
    struct rowdec_zero zeros[MAXC];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;
    static const char row[] = "\x00"
                              "\x00\x00\x00"         /* DATE 0000-00-00 */
                              "\x80\x00\x00\x00\x00" /* DATETIME2 0 + 0x8000000000 */
                              "\x00\x00\x00\x00\x00" /* TIMESTAMP2 0, fraction 0 */
                              "\x00\xd0\x0f"         /* DATE 2024-00-00: 2024 << 9 = 0x0FD000 */
                              "\x00\x00\x00\x00";    /* TIMESTAMP 0 */
    static const char *const raw[] = {"0000-00-00", "0000-00-00 00:00:00", "0000-00-00 00:00:00.00",
                                      "2024-00-00", "0000-00-00 00:00:00"};

    (void) state;
    expect_row_ex(t, NULL, true, row, sizeof(row) - 1, want, &scratch, &img);
    assert_int_equal(img.nzeros, 5);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(img.zeros[i].col, i);
        assert_int_equal(img.zeros[i].raw.len, strlen(raw[i]));
        assert_memory_equal(img.zeros[i].raw.data, raw[i], strlen(raw[i]));
    }
    cdc_buf_free(&scratch);
    binlog_table_destroy(t);
}

static void
test_rowdec_corrupt_temporal_values_fail(void **state)
{
    struct binlog_table *t2 = TABLE("\x13", "\x01", "", false); /* TIME2(1) */
    struct binlog_table *dt = TABLE("\x12", "\x00", "", false); /* DATETIME2(0) */
    struct binlog_table *d = TABLE("\x0a", "", "", false);      /* DATE */
    struct binlog_table *ts = TABLE("\x11", "\x02", "", false); /* TIMESTAMP2(2) */

    (void) state;
    /* fraction byte 0x64 = 100 hundredths */
    expect_fail(t2, "\x00\x80\x00\x00\x64", 5, "TIME2 out of range");
    /* minute 63: 63 << 6 */
    expect_fail(dt, "\x00\x80\x00\x00\x0f\xc0", 6, "DATETIME2 out of range");
    /* month 13: 13 << 5 = 0x1A0 */
    expect_fail(d, "\x00\xa0\x01\x00", 4, "date out of range");
    expect_fail(ts, "\x00\x00\x00\x00\x01\x64", 6, "TIMESTAMP2 fraction out of range");
    binlog_table_destroy(t2);
    binlog_table_destroy(dt);
    binlog_table_destroy(d);
    binlog_table_destroy(ts);
}

/* ---- strings ---- */

static void
test_rowdec_strings_by_charset(void **state)
{
    /* VARCHAR(100) utf8mb4 (400 bytes: 2-byte lengths), VARCHAR(10) latin1, CHAR(100) utf8mb4
     * (STRING, metadata EE 90 = length 400), BINARY(4), VARBINARY(10), BLOB, TEXT,
     * VARCHAR(3) cp1251, VARCHAR(20 bytes) utf16; COLUMN_CHARSET (3): 45 8 45 63 63 63 45 51 54 */
    struct binlog_table *t = TABLE("\x0f\x0f\xfe\xfe\x0f\xfc\xfc\x0f\x0f",
                                   "\x90\x01"
                                   "\x0a\x00"
                                   "\xee\x90"
                                   "\xfe\x04"
                                   "\x0a\x00"
                                   "\x02"
                                   "\x02"
                                   "\x03\x00"
                                   "\x14\x00",
                                   "\x03\x09\x2d\x08\x2d\x3f\x3f\x3f\x2d\x33\x36", false);

    (void) state;
    assert_int_equal(t->cols[2].length, 400);
    ROW(t,
        "\x00\x00"
        "\x06\x00h\xc3\xa9llo" /* utf8mb4, 2-byte length */
        "\x05"
        "caf\xe9\x80" /* latin1 (Windows-1252): e9 = U+00E9, 80 = U+20AC */
        "\x02\x00"
        "ab"               /* CHAR: trailing spaces were stripped by the server */
        "\x01\x01"         /* BINARY(4) 01 00 00 00: trailing zero bytes stripped */
        "\x03\x00\xff\x10" /* VARBINARY(10): 1-byte length */
        "\x03\x00"
        "abc" /* BLOB */
        "\x02\x00"
        "hi"                    /* TEXT utf8mb4 */
        "\x03\xcf\xf0\xe8"      /* cp1251 "При" */
        "\x04\x00\x41\x04\x1f", /* utf16 (big-endian) "AП" */
        "\"h\xc3\xa9llo\"", "\"caf\xc3\xa9\xe2\x82\xac\"", "\"ab\"", "\"AQAAAA==\"", "\"AP8Q\"",
        "\"YWJj\"", "\"hi\"", "\"\xd0\x9f\xd1\x80\xd0\xb8\"", "\"A\xd0\x9f\"");
    binlog_table_destroy(t);
}

static void
test_rowdec_strings_without_charset_metadata(void **state)
{
    /* no optional metadata: CHAR/VARCHAR as text (invalid UTF-8 repaired by the encoder),
     * BLOB as binary */
    struct binlog_table *t = TABLE("\x0f\xfc", "\x0a\x00\x01", "", false);

    (void) state;
    ROW(t,
        "\x00"
        "\x02"
        "a\xff"
        "\x02"
        "\xff\x00",
        "\"a\xef\xbf\xbd\"", "\"/wA=\"");
    binlog_table_destroy(t);
}

/* ---- ENUM, SET, BIT, JSON, GEOMETRY ---- */

/* {"a": 1}: small object, 1 member, 12 bytes: count, size, key entry (offset 11, length 1),
 * value entry (int16 inlined: 05 01 00), the key "a" */
#define JSON_A1 "\x00\x01\x00\x0c\x00\x0b\x00\x01\x00\x05\x01\x00\x61"

static void
test_rowdec_enum_set_bit_json_geometry(void **state)
{
    /* ENUM('new','paid') (STRING F7 01), SET('a','b','c') (STRING F8 01), BIT(10) (02 01),
     * JSON (4-byte length), GEOMETRY (4-byte length); ENUM_STR_VALUE (6), SET_STR_VALUE (5),
     * ENUM_AND_SET_DEFAULT_CHARSET (10) utf8mb4 */
    struct binlog_table *t = TABLE("\xfe\xfe\x10\xf5\xff",
                                   "\xf7\x01"
                                   "\xf8\x01"
                                   "\x02\x01"
                                   "\x04"
                                   "\x04",
                                   "\x06\x0a\x02\x03new\x04paid"
                                   "\x05\x07\x03\x01"
                                   "a\x01"
                                   "b\x01"
                                   "c"
                                   "\x0a\x01\x2d",
                                   false);
    struct binlog_table *n = TABLE("\xfe\xfe", "\xf7\x02\xf8\x08", "", false);

    (void) state;
    assert_int_equal(t->cols[2].length, 10);
    ROW(t,
        "\x00"
        "\x02"     /* ENUM index 2 (1-based) */
        "\x05"     /* SET bits 0 and 2 */
        "\x02\x01" /* BIT(10) 10 0000 0001, big-endian */
        "\x0d\x00\x00\x00" JSON_A1
        /* POINT(1 2), SRID 0: SRID (4 bytes LE), WKB: byte order 1, type 1, x 1.0, y 2.0 */
        "\x19\x00\x00\x00"
        "\x00\x00\x00\x00"
        "\x01\x01\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\xf0\x3f"
        "\x00\x00\x00\x00\x00\x00\x00\x40",
        "\"paid\"", "\"a,c\"", "\"1000000001\"", "{\"a\": 1}",
        "{\"srid\":0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAABA\"}");
    /* ENUM 0 is the '' error value; SET 0 is empty; an empty JSON is null; GEOMETRY NULL */
    ROW(t,
        "\x10"
        "\x00"
        "\x00"
        "\x00\x00"
        "\x00\x00\x00\x00",
        "\"\"", "\"\"", "\"0000000000\"", "null", "null");
    expect_fail(t, "\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 13, "ENUM index beyond");
    expect_fail(t, "\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 13, "SET bit beyond");
    /* without the value names: the index and the bitmask, as numbers (ENUM 2 bytes, SET 8) */
    ROW(n,
        "\x00"
        "\x02\x01"
        "\x05\x00\x00\x00\x00\x00\x00\x80",
        "258", "9223372036854775813");
    binlog_table_destroy(t);
    binlog_table_destroy(n);
}

static void
test_rowdec_mariadb_uuid_inet_json(void **state)
{
    /* BINARY(16) x2, BINARY(4), LONGTEXT (4-byte length); COLUMN_CHARSET 63 63 63 45 */
    struct binlog_table *t =
        TABLE("\xfe\xfe\xfe\xfc", "\xfe\x10\xfe\x10\xfe\x04\x04", "\x03\x04\x3f\x3f\x3f\x2d", true);

    (void) state;
    t->cols[0].logical = BINLOG_LOGICAL_UUID;
    t->cols[1].logical = BINLOG_LOGICAL_INET6;
    t->cols[2].logical = BINLOG_LOGICAL_INET4;
    t->cols[3].logical = BINLOG_LOGICAL_JSON;
    ROW(t,
        "\x00"
        /* UUID 123e4567-e89b-12d3-a456-426614174000: its last byte, 00, stripped by CHAR packing */
        "\x0f\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17\x40"
        "\x04\x20\x01\x0d\xb8" /* INET6 2001:db8:: */
        "\x01\x0a"             /* INET4 10.0.0.0 */
        "\x07\x00\x00\x00{\"a\":1}",
        "\"123e4567-e89b-12d3-a456-426614174000\"", "\"2001:db8::\"", "\"10.0.0.0\"", "{\"a\":1}");
    binlog_table_destroy(t);
}

/* ---- images ---- */

static void
test_rowdec_partial_images_and_update_pairs(void **state)
{
    struct binlog_table *t = TABLE("\x03\x03\x03", "", "", false);
    struct cdc_value vals[MAXC];
    struct rowdec_zero zeros[MAXC];
    struct rowdec_image img = {vals, zeros, 0, 0, false};
    struct cdc_buf scratch = CDC_BUF_INIT;
    static const uint8_t cols_0_2[1] = {0x05};
    static const char *const after[] = {"42", "<unchanged>", "null"};
    static const char *const before[] = {"42", "<absent>", "null"};
    /* 2 present columns: NULL bitmap bit 1 (the second present column, col 3) set */
    static const char row[] = "\x02\x2a\x00\x00\x00";

    (void) state;
    expect_row_ex(t, cols_0_2, true, row, 5, after, &scratch, &img);
    assert_int_equal(img.nmissing, 1);
    expect_row_ex(t, cols_0_2, false, row, 5, before, &scratch, &img);
    {
        /* UPDATE: before image all columns, after image column 2 only, decoded back to back */
        static const uint8_t all[1] = {0x07}, second[1] = {0x02};
        static const char ev[] = "\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00"
                                 "\x00\x05\x00\x00\x00";
        struct binlog_rows rows = {0};
        struct cdc_value v2[MAXC];
        struct rowdec_image img2 = {v2, zeros, 0, 0, false};
        struct cdc_err err;
        size_t used, off = 0;

        rows.kind = BINLOG_ROWS_UPDATE;
        rows.ncols = 3;
        rows.cols = all;
        rows.cols_after = second;
        cdc_buf_reset(&scratch);
        assert_int_equal(rowdec_decode(rd, t, &rows, false, (const uint8_t *) ev, 18, &scratch,
                                       &img, &used, &err),
                         CDC_OK);
        assert_int_equal(used, 13);
        off = used;
        assert_int_equal(rowdec_decode(rd, t, &rows, true, (const uint8_t *) ev + off, 18 - off,
                                       &scratch, &img2, &used, &err),
                         CDC_OK);
        assert_int_equal(used, 5);
        rowdec_fixup(&scratch, t, &img);
        rowdec_fixup(&scratch, t, &img2);
        rowdec_fixup(&scratch, t, &img2); /* twice is harmless */
        assert_memory_equal(img.vals[2].data, "3", 1);
        assert_int_equal(img2.vals[0].state, CDC_VAL_UNCHANGED);
        assert_memory_equal(img2.vals[1].data, "5", 1);
        assert_int_equal(img2.nmissing, 2);
        /* a ROWS event whose column count differs from its table map */
        rows.ncols = 4;
        assert_int_equal(rowdec_decode(rd, t, &rows, false, (const uint8_t *) ev, 18, &scratch,
                                       &img, &used, &err),
                         CDC_ERR_PROTO);
        assert_non_null(strstr(err.msg, "has 4 columns, its TABLE_MAP 3"));
        /* no column present: an image of 0 bytes, refused */
        rows.ncols = 3;
        rows.cols = (const uint8_t *) "\x00";
        assert_int_equal(rowdec_decode(rd, t, &rows, false, (const uint8_t *) ev, 18, &scratch,
                                       &img, &used, &err),
                         CDC_ERR_PROTO);
        assert_non_null(strstr(err.msg, "no column"));
    }
    cdc_buf_free(&scratch);
    binlog_table_destroy(t);
}

static void
test_rowdec_error_names_table_and_column(void **state)
{
    /* LONG, DATETIME2(0) named id, at */
    struct binlog_table *t = TABLE("\x03\x12", "\x00",
                                   "\x04\x06\x02id\x02"
                                   "at",
                                   false);

    (void) state;
    expect_fail(t, "\x00\x01\x00\x00\x00\x80", 6, "table \"db\".\"t\" column 2 \"at\" (type 18)");
    binlog_table_destroy(t);
}

static void
test_rowdec_table_without_columns_but_a_key_is_refused(void **state)
{
    struct binlog_table_map tm = {0};
    struct binlog_fmt fmt;
    struct binlog_table *t = NULL;
    struct cdc_err err;

    (void) state;
    /* found by fuzz_binlog: SIMPLE_PRIMARY_KEY (8) naming column 0 of a 0-column table */
    binlog_fmt_init(&fmt, BINLOG_CHECKSUM_OFF);
    tm.db = tm.table = "";
    tm.opt = (const uint8_t *) "\x08\x01\x00";
    tm.opt_len = 3;
    assert_int_equal(binlog_table_create(&t, &tm, &fmt, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "without columns"));
}

static void
test_rowdec_col_fmt(void **state)
{
    struct binlog_column c = {0};

    (void) state;
    c.real_type = MYT_LONGLONG;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_INT);
    c.real_type = MYT_TIMESTAMP2;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_TIMESTAMPTZ);
    c.real_type = MYT_TIME2;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_STRING);
    c.real_type = MYT_BLOB;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_BASE64); /* no charset known */
    c.collation = 45;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_STRING);
    c.logical = BINLOG_LOGICAL_JSON;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_JSON);
    c.real_type = MYT_ENUM;
    assert_int_equal(rowdec_col_fmt(&c), CDC_VF_INT); /* no value names */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowdec_integers_signed_and_unsigned_bounds),
        cmocka_unit_test(test_rowdec_float_double_decimal),
        cmocka_unit_test(test_rowdec_temporal_types),
        cmocka_unit_test(test_rowdec_datetime2_every_fsp),
        cmocka_unit_test(test_rowdec_zero_dates_become_null_with_raw_text),
        cmocka_unit_test(test_rowdec_corrupt_temporal_values_fail),
        cmocka_unit_test(test_rowdec_strings_by_charset),
        cmocka_unit_test(test_rowdec_strings_without_charset_metadata),
        cmocka_unit_test(test_rowdec_enum_set_bit_json_geometry),
        cmocka_unit_test(test_rowdec_mariadb_uuid_inet_json),
        cmocka_unit_test(test_rowdec_partial_images_and_update_pairs),
        cmocka_unit_test(test_rowdec_error_names_table_and_column),
        cmocka_unit_test(test_rowdec_table_without_columns_but_a_key_is_refused),
        cmocka_unit_test(test_rowdec_col_fmt),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
