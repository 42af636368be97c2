/*
 * test_myjson.c - MySQL 8 binary JSON to text (myjson.c) on documents built
 * by hand from the format described in MySQL's json_binary.h: every scalar
 * type, small and large objects and arrays, inlined values, opaque values,
 * and malformed documents (every prefix, bad offsets, nesting and shared
 * offsets that would blow up).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "source/mysql/myjson.h"

/* Convert doc and compare; also every strict non-empty prefix must fail (heap copy, ASan). */
static void
check(const void *doc, size_t len, const char *want)
{
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    if (myjson_to_text(doc, len, &b, &err) != CDC_OK)
        fail_msg("decode: %s", err.msg);
    if (strcmp(b.data, want) != 0)
        fail_msg("got <%s>, want <%s>", b.data, want);
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *p = malloc(cut);

        memcpy(p, doc, cut);
        cdc_buf_reset(&b);
        if (myjson_to_text(p, cut, &b, &err) != CDC_ERR_PROTO)
            fail_msg("prefix of %zu bytes (of %zu) decoded", cut, len);
        free(p);
    }
    cdc_buf_free(&b);
}

#define CHECK(doc, want) check(doc, sizeof(doc) - 1, want)

static void
bad(const void *doc, size_t len, const char *msg)
{
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    assert_int_equal(myjson_to_text(doc, len, &b, &err), CDC_ERR_PROTO);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("error <%s> lacks <%s>", err.msg, msg);
    cdc_buf_free(&b);
}

static void
test_myjson_scalars(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    (void) state;
    assert_int_equal(myjson_to_text(NULL, 0, &b, &err), CDC_OK); /* empty: null */
    assert_string_equal(b.data, "null");
    cdc_buf_free(&b);
    CHECK("\x04\x00", "null");
    CHECK("\x04\x01", "true");
    CHECK("\x04\x02", "false");
    CHECK("\x05\xff\xff", "-1");                  /* int16 */
    CHECK("\x06\xff\xff", "65535");               /* uint16 */
    CHECK("\x07\x00\x00\x00\x80", "-2147483648"); /* int32 */
    CHECK("\x08\xff\xff\xff\xff", "4294967295");  /* uint32 */
    CHECK("\x09\x00\x00\x00\x00\x00\x00\x00\x80", "-9223372036854775808");
    CHECK("\x0a\xff\xff\xff\xff\xff\xff\xff\xff", "18446744073709551615");
    CHECK("\x0b\x00\x00\x00\x00\x00\x00\xf8\x3f", "1.5"); /* 1.5 = 0x3FF8000000000000 */
    CHECK("\x0c\x05hello", "\"hello\"");
    /* escaped: quote, backslash, newline */
    CHECK("\x0c\x04\"\\\n\x01", "\"\\\"\\\\\\n\\u0001\"");
    bad("\x04\x03", 2, "bad literal");
    bad("\x0d\x00", 2, "unknown value type");
}

static void
test_myjson_long_string_length(void **state)
{
    uint8_t doc[3 + 200];
    char want[203];

    (void) state;
    /* 200 = 0b1 1001000: low 7 bits 0x48 with the "more" bit (0xC8), then 0x01 */
    doc[0] = 0x0c;
    doc[1] = 0xc8;
    doc[2] = 0x01;
    memset(doc + 3, 'x', 200);
    want[0] = '"';
    memset(want + 1, 'x', 200);
    want[201] = '"';
    want[202] = '\0';
    check(doc, sizeof(doc), want);
    /* a length of six 7-bit groups */
    bad("\x0c\x80\x80\x80\x80\x80\x01", 7, "bad length");
}

static void
test_myjson_small_containers(void **state)
{
    (void) state;
    /* {"a": 1}: count 1, size 12, key entry (offset 11, length 1), value entry int16 inline 1 */
    CHECK("\x00\x01\x00\x0c\x00\x0b\x00\x01\x00\x05\x01\x00\x61", "{\"a\": 1}");
    /* [1, "x", true, null]: count 4, header 4 + 4 * 3 = 16, string "x" at 16 (01 78): size 18 */
    CHECK("\x02\x04\x00\x12\x00"
          "\x05\x01\x00"
          "\x0c\x10\x00"
          "\x04\x01\x00"
          "\x04\x00\x00"
          "\x01\x78",
          "[1, \"x\", true, null]");
    /* {"k": [2]}: header 4 + 4 + 3 = 11, key at 11, array at 12 (count 1, size 7, 05 02 00) */
    CHECK("\x00\x01\x00\x13\x00\x0b\x00\x01\x00\x02\x0c\x00\x6b"
          "\x01\x00\x07\x00\x05\x02\x00",
          "{\"k\": [2]}");
    /* {} and [] */
    CHECK("\x00\x00\x00\x04\x00", "{}");
    CHECK("\x02\x00\x00\x04\x00", "[]");
}

static void
test_myjson_large_containers(void **state)
{
    (void) state;
    /* large object {"a": 70000}: count and size in 4 bytes, key entry offset 4 + length 2,
     * value entry int32 inlined in 4 bytes (70000 = 0x11170); header 8 + 6 + 5 = 19, key at 19 */
    CHECK("\x01\x01\x00\x00\x00\x14\x00\x00\x00"
          "\x13\x00\x00\x00\x01\x00"
          "\x07\x70\x11\x01\x00"
          "\x61",
          "{\"a\": 70000}");
    /* large array [4294967295, -1.5]: uint32 inline; double at offset 8 + 2 * 5 = 18, size 26
     * (-1.5 = 0xBFF8000000000000) */
    CHECK("\x03\x02\x00\x00\x00\x1a\x00\x00\x00"
          "\x08\xff\xff\xff\xff"
          "\x0b\x12\x00\x00\x00"
          "\x00\x00\x00\x00\x00\x00\xf8\xbf",
          "[4294967295, -1.5]");
}

static void
test_myjson_opaque_values(void **state)
{
    (void) state;
    /* DECIMAL(4,2) 12.34: precision 4, scale 2, then 12 (1 byte) 34 (1 byte), sign bit set */
    CHECK("\x0f\xf6\x04\x04\x02\x8c\x22", "12.34");
    /* DATE 2024-01-02: packed ((2024*13+1) << 5 | 2) << 17 << 24, 8 bytes LE */
    CHECK("\x0f\x0a\x08\x00\x00\x00\x00\x00\x44\xb2\x19", "\"2024-01-02\"");
    /* TIME -01:02:03.5: -((1<<12 | 2<<6 | 3) << 24 + 500000), two's complement LE */
    CHECK("\x0f\x0b\x08\xe0\x5e\xf8\x7c\xef\xff\xff\xff", "\"-01:02:03.500000\"");
    /* DATETIME 2024-01-02 03:04:05: (ymd << 17 | hms) << 24 */
    CHECK("\x0f\x0c\x08\x00\x00\x00\x05\x31\x44\xb2\x19", "\"2024-01-02 03:04:05.000000\"");
    /* anything else: MySQL's "base64:type<N>:" form (BLOB, 252; AB CD = q80=) */
    CHECK("\x0f\xfc\x02\xab\xcd", "\"base64:type252:q80=\"");
    bad("\x0f\xf6\x03\x04\x02\x8c", 6, "bad DECIMAL");
    bad("\x0f\x0a\x04\x00\x00\x00\x00", 7, "not 8 bytes");
}

static void
test_myjson_bad_offsets(void **state)
{
    (void) state;
    /* key offset 3, inside the header */
    bad("\x00\x01\x00\x0c\x00\x03\x00\x01\x00\x05\x01\x00\x61", 13, "key outside");
    /* key length running past the container */
    bad("\x00\x01\x00\x0c\x00\x0b\x00\x05\x00\x05\x01\x00\x61", 13, "key outside");
    /* value offset 2, pointing back into the header */
    bad("\x02\x01\x00\x07\x00\x0c\x02\x00", 8, "value offset outside");
    /* size beyond the document */
    bad("\x02\x01\x00\x40\x00\x05\x01\x00", 8, "container size");
    /* more elements than the size holds */
    bad("\x02\x09\x00\x07\x00\x05\x01\x00", 8, "more elements");
}

/* Build n nested small arrays [[[...]]] at p; returns the length. */
static size_t
nest(uint8_t *p, int n)
{
    size_t len = 1 + 4 + 4 * (size_t) n + 3 * (size_t) n;

    p[0] = 0x02;
    for (int i = 0; i < n; i++) {
        uint8_t *c = p + 1 + (size_t) i * 7;
        size_t size = len - 1 - (size_t) i * 7;

        c[0] = 1; /* count */
        c[1] = 0;
        c[2] = (uint8_t) size;
        c[3] = (uint8_t) (size >> 8);
        c[4] = 0x02; /* value entry: array at offset 7 */
        c[5] = 7;
        c[6] = 0;
    }
    /* the innermost: an empty array */
    memcpy(p + 1 + (size_t) n * 7, "\x00\x00\x04\x00", 4);
    return 1 + (size_t) n * 7 + 4;
}

static void
test_myjson_depth_and_sharing_limits(void **state)
{
    uint8_t doc[2048];
    size_t len;
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    (void) state;
    len = nest(doc, 3);
    assert_int_equal(myjson_to_text(doc, len, &b, &err), CDC_OK);
    assert_string_equal(b.data, "[[[[]]]]");
    len = nest(doc, 200);
    assert_int_equal(myjson_to_text(doc, len, &b, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "nested too deep"));
    /* 40 levels, each an array of 2 entries both pointing at the next level: 2^40 visits
     * without a budget */
    doc[0] = 0x02;
    for (int i = 0; i < 40; i++) {
        uint8_t *c = doc + 1 + (size_t) i * 10;
        size_t size = 10 * (size_t) (40 - i) + 4;

        memcpy(c, "\x02\x00", 2);
        c[2] = (uint8_t) size;
        c[3] = (uint8_t) (size >> 8);
        memcpy(c + 4, "\x02\x0a\x00\x02\x0a\x00", 6);
    }
    memcpy(doc + 1 + 400, "\x00\x00\x04\x00", 4);
    cdc_buf_reset(&b);
    assert_int_equal(myjson_to_text(doc, 405, &b, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "more than once"));
    cdc_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_myjson_scalars),
        cmocka_unit_test(test_myjson_long_string_length),
        cmocka_unit_test(test_myjson_small_containers),
        cmocka_unit_test(test_myjson_large_containers),
        cmocka_unit_test(test_myjson_opaque_values),
        cmocka_unit_test(test_myjson_bad_offsets),
        cmocka_unit_test(test_myjson_depth_and_sharing_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
