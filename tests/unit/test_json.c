/*
 * test_json.c - the JSON encoder, value by value: every format of the value
 * table (docs/EVENTS.md), string escaping, every class of invalid UTF-8, and
 * the fallback of malformed input to a string. Every expected output was
 * written by hand from the spec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "event/json.h"

/* U+FFFD, the replacement for one invalid byte */
#define R "\xEF\xBF\xBD"

/* Render text[0..len) as fmt/elem and compare with want; typed is the expected return. */
static void
check_len(enum cdc_vfmt fmt, enum cdc_vfmt elem, const char *text, size_t len, const char *want,
          bool typed)
{
    struct cdc_buf b = CDC_BUF_INIT;
    bool got = json_put_value(&b, fmt, elem, text, len);

    assert_true(cdc_buf_ok(&b));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("value \"%.*s\" (fmt %d): got <%.*s>, want <%s>", (int) len, text, (int) fmt,
                 (int) b.len, b.data, want);
    if (got != typed)
        fail_msg("value \"%.*s\" (fmt %d): returned %d, want %d", (int) len, text, (int) fmt, got,
                 typed);
    cdc_buf_free(&b);
}

#define V(fmt, text, want)    check_len((fmt), CDC_VF_STRING, (text), strlen(text), (want), true)
#define BAD(fmt, text, want)  check_len((fmt), CDC_VF_STRING, (text), strlen(text), (want), false)
#define ARR(elem, text, want) check_len(CDC_VF_ARRAY, (elem), (text), strlen(text), (want), true)
#define BAD_ARR(elem, text, want)                                                                  \
    check_len(CDC_VF_ARRAY, (elem), (text), strlen(text), (want), false)

static void
check_str_len(const char *s, size_t len, const char *want)
{
    struct cdc_buf b = CDC_BUF_INIT;

    json_put_str(&b, s, len);
    assert_true(cdc_buf_ok(&b));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("string of %zu bytes: got <%.*s>, want <%s>", len, (int) b.len, b.data, want);
    cdc_buf_free(&b);
}

/* sizeof - 1: the literal's bytes, NULs included */
#define S(lit, want) check_str_len((lit), sizeof(lit) - 1, (want))

static void
test_json_str_escapes_quotes_backslashes_and_controls(void **state)
{
    (void) state;
    S("", "\"\"");
    S("plain text", "\"plain text\"");
    S("a\"b\\c", "\"a\\\"b\\\\c\"");
    S("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
    S("\x01\x1f", "\"\\u0001\\u001f\"");
    S("a\0b", "\"a\\u0000b\"");
    S("del\x7f/slash", "\"del\x7f/slash\"");
    S("\"", "\"\\\"\"");
}

static void
test_json_str_keeps_valid_utf8(void **state)
{
    (void) state;
    S("h\xc3\xa9llo", "\"h\xc3\xa9llo\"");         /* U+00E9 */
    S("\xe2\x82\xac", "\"\xe2\x82\xac\"");         /* U+20AC */
    S("\xef\xbf\xbd", "\"\xef\xbf\xbd\"");         /* U+FFFD itself */
    S("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* U+1F600 */
    S("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF, the last code point */
    S("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");         /* U+D7FF, just below the surrogates */
    S("\xee\x80\x80", "\"\xee\x80\x80\"");         /* U+E000, just above */
    S("\xc2\x80", "\"\xc2\x80\"");                 /* U+0080, smallest 2-byte */
    S("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");         /* U+0800, smallest 3-byte */
    S("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""); /* U+10000, smallest 4-byte */
    S("\xc3\xa9\n\xc3\xa9", "\"\xc3\xa9\\n\xc3\xa9\"");
}

static void
test_json_str_replaces_each_invalid_byte(void **state)
{
    (void) state;
    /* lone continuation bytes */
    S("a\x80"
      "b",
      "\"a" R "b\"");
    S("\xbf\xbf", "\"" R R "\"");
    /* truncated sequences: the lead byte, then each continuation, is replaced */
    S("a\xc3", "\"a" R "\"");
    S("\xc3(", "\"" R "(\"");
    S("\xe2\x82", "\"" R R "\"");
    S("\xe2\x82x", "\"" R R "x\"");
    S("\xf0\x9f\x98", "\"" R R R "\"");
    S("\xf0\x9f\x98!", "\"" R R R "!\"");
    /* overlongs */
    S("\xc0\xaf", "\"" R R "\"");
    S("\xc1\xbf", "\"" R R "\"");
    S("\xe0\x80\xaf", "\"" R R R "\"");
    S("\xf0\x80\x80\xaf", "\"" R R R R "\"");
    /* UTF-16 surrogates */
    S("\xed\xa0\x80", "\"" R R R "\"");
    S("\xed\xbf\xbf", "\"" R R R "\"");
    /* above U+10FFFF, and bytes that never occur */
    S("\xf4\x90\x80\x80", "\"" R R R R "\"");
    S("\xf5\x80\x80\x80", "\"" R R R R "\"");
    S("\xfe\xff", "\"" R R "\"");
    /* latin1 text from a SQL_ASCII database */
    S("caf\xe9", "\"caf" R "\"");
    S("\xe9t\xe9 x", "\"" R "t" R " x\"");
    /* an escape right after a replacement */
    S("\x80\"", "\"" R "\\\"\"");
}

static void
test_json_key_is_escaped_and_has_a_colon(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    json_put_key(&b, "id");
    json_put_key(&b, "we\"ird\n");
    assert_string_equal(b.data, "\"id\":\"we\\\"ird\\n\":");
    cdc_buf_free(&b);
}

static void
test_json_base64_matches_rfc4648_vectors(void **state)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

    (void) state;
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct cdc_buf b = CDC_BUF_INIT;

        json_put_base64(&b, in[i], strlen(in[i]));
        assert_true(cdc_buf_ok(&b));
        assert_int_equal(b.len, strlen(want[i]));
        assert_memory_equal(b.data, want[i], b.len);
        cdc_buf_free(&b);
    }
}

static void
test_json_ints_are_numbers(void **state)
{
    (void) state;
    V(CDC_VF_INT, "0", "0");
    V(CDC_VF_INT, "42", "42");
    V(CDC_VF_INT, "-42", "-42");
    V(CDC_VF_INT, "-32768", "-32768");
    V(CDC_VF_INT, "9223372036854775807", "9223372036854775807");
    V(CDC_VF_INT, "-9223372036854775808", "-9223372036854775808");
    BAD(CDC_VF_INT, "", "\"\"");
    BAD(CDC_VF_INT, "-", "\"-\"");
    BAD(CDC_VF_INT, "1.5", "\"1.5\"");
    BAD(CDC_VF_INT, "007", "\"007\"");
    BAD(CDC_VF_INT, "+1", "\"+1\"");
    BAD(CDC_VF_INT, " 1", "\" 1\"");
    BAD(CDC_VF_INT, "12a", "\"12a\"");
}

static void
test_json_floats_are_numbers_except_nan_and_infinities(void **state)
{
    (void) state;
    V(CDC_VF_FLOAT, "1.5", "1.5");
    V(CDC_VF_FLOAT, "0.1", "0.1");
    V(CDC_VF_FLOAT, "-0", "-0");
    V(CDC_VF_FLOAT, "-2.5", "-2.5");
    V(CDC_VF_FLOAT, "1e+100", "1e+100");
    V(CDC_VF_FLOAT, "1.5e-07", "1.5e-07");
    V(CDC_VF_FLOAT, "3.4028235e+38", "3.4028235e+38");
    V(CDC_VF_FLOAT, "NaN", "\"NaN\"");
    V(CDC_VF_FLOAT, "Infinity", "\"Infinity\"");
    V(CDC_VF_FLOAT, "-Infinity", "\"-Infinity\"");
    BAD(CDC_VF_FLOAT, "inf", "\"inf\"");
    BAD(CDC_VF_FLOAT, "1.", "\"1.\"");
    BAD(CDC_VF_FLOAT, ".5", "\".5\"");
    BAD(CDC_VF_FLOAT, "1e", "\"1e\"");
    BAD(CDC_VF_FLOAT, "nan", "\"nan\"");
}

static void
test_json_numerics_are_lossless_strings(void **state)
{
    (void) state;
    V(CDC_VF_NUMERIC, "1.50", "\"1.50\"");
    V(CDC_VF_NUMERIC, "-12345678901234567890.123456789", "\"-12345678901234567890.123456789\"");
    V(CDC_VF_NUMERIC, "NaN", "\"NaN\"");
    V(CDC_VF_NUMERIC, "Infinity", "\"Infinity\"");
    V(CDC_VF_NUMERIC, "-Infinity", "\"-Infinity\"");
    V(CDC_VF_NUMERIC, "0", "\"0\"");
}

static void
test_json_bools_and_strings(void **state)
{
    (void) state;
    V(CDC_VF_BOOL, "t", "true");
    V(CDC_VF_BOOL, "f", "false");
    V(CDC_VF_BOOL, "true", "true");
    V(CDC_VF_BOOL, "false", "false");
    BAD(CDC_VF_BOOL, "x", "\"x\"");
    BAD(CDC_VF_BOOL, "", "\"\"");
    V(CDC_VF_STRING, "abc", "\"abc\"");
    V(CDC_VF_STRING, "", "\"\"");
    V(CDC_VF_INTERVAL, "P1Y2M3DT4H5M6.5S", "\"P1Y2M3DT4H5M6.5S\"");
    V(CDC_VF_INTERVAL, "P-1D", "\"P-1D\"");
    V(CDC_VF_RAW_JSON, "{\"x\":1}", "{\"x\":1}");
    V(CDC_VF_RAW_JSON, "not json", "not json"); /* trusted: copied as is */
    check_len(CDC_VF_STRING, CDC_VF_STRING, NULL, 0, "\"\"", true);
}

static void
test_json_json_values_are_embedded(void **state)
{
    (void) state;
    V(CDC_VF_JSON, "{\"a\": [1, 2]}", "{\"a\": [1, 2]}");
    V(CDC_VF_JSON, "\"s\"", "\"s\"");
    V(CDC_VF_JSON, "null", "null");
    V(CDC_VF_JSON, "[]", "[]");
    V(CDC_VF_JSON, "  1 ", "  1 ");
    V(CDC_VF_JSON, "{\"k\": \"caf\xc3\xa9 \\u00e9\\n\"}", "{\"k\": \"caf\xc3\xa9 \\u00e9\\n\"}");
    BAD(CDC_VF_JSON, "{\"a\":}", "\"{\\\"a\\\":}\"");
    BAD(CDC_VF_JSON, "{\"a\":1", "\"{\\\"a\\\":1\"");
    BAD(CDC_VF_JSON, "[1,]", "\"[1,]\"");
    BAD(CDC_VF_JSON, "1 2", "\"1 2\"");
    BAD(CDC_VF_JSON, "", "\"\"");
    /* latin1 inside a json value of a SQL_ASCII database: repaired as a string */
    BAD(CDC_VF_JSON, "\"caf\xe9\"", "\"\\\"caf" R "\\\"\"");
}

static void
test_json_validator_accepts_json_and_only_json(void **state)
{
    const char *good[] = {
        "0",
        "-1.5e3",
        "true",
        "false",
        "null",
        "\"\"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00E9\"",
        "{}",
        "[]",
        " { \"a\" : [ 1 , { } , [ ] ] } ",
        "{\"a\":{\"b\":[true,false,null,-0.5]}}",
        "[\"\xf0\x9f\x98\x80\"]",
    };
    const char *bad[] = {
        "",          " ",          "[01]",       "{1:2}", "\"\\x\"",      "[1 2]",
        "{\"a\" 1}", "{\"a\":1,}", "tru",        "nul",   "[\"a\x01\"]",  "\"unterminated",
        "[",         "]",          "{\"a\":1}}", "'a'",   "\"\xc0\xaf\"", "+1",
        "[.5]",      "\"\\u12\"",
    };
    char deep[2 * 1025 + 1];

    (void) state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!json_is_valid(good[i], strlen(good[i])))
            fail_msg("should be valid: %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_is_valid(bad[i], strlen(bad[i])))
            fail_msg("should be invalid: %s", bad[i]);
    /* 1024 levels are fine, 1025 are too deep */
    memset(deep, '[', 1024);
    memset(deep + 1024, ']', 1024);
    assert_true(json_is_valid(deep, 2048));
    memset(deep, '[', 1025);
    memset(deep + 1025, ']', 1025);
    assert_false(json_is_valid(deep, 2050));
    /* a NUL byte is never valid */
    assert_false(json_is_valid("[1]\0", 4));
    assert_false(json_is_valid("\"a\0\"", 4));
}

static void
test_json_timestamptz_becomes_rfc3339(void **state)
{
    (void) state;
    V(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05.123456+00", "\"2024-01-02T03:04:05.123456Z\"");
    V(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05+00", "\"2024-01-02T03:04:05Z\"");
    V(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05.5+00", "\"2024-01-02T03:04:05.5Z\"");
    /* another session time zone: the offset is kept, as +HH:MM */
    V(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05+05:30", "\"2024-01-02T03:04:05+05:30\"");
    V(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05-08", "\"2024-01-02T03:04:05-08:00\"");
    V(CDC_VF_TIMESTAMPTZ, "1883-11-18 12:00:00-04:56:02", "\"1883-11-18T12:00:00-04:56:02\"");
    /* BC: astronomical year numbering */
    V(CDC_VF_TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC", "\"-0043-03-15T12:00:00Z\"");
    V(CDC_VF_TIMESTAMPTZ, "0001-01-01 00:00:00+00 BC", "\"0000-01-01T00:00:00Z\"");
    V(CDC_VF_TIMESTAMPTZ, "0002-12-31 23:59:59.999999+00 BC", "\"-0001-12-31T23:59:59.999999Z\"");
    V(CDC_VF_TIMESTAMPTZ, "4714-11-24 00:00:00+00 BC", "\"-4713-11-24T00:00:00Z\"");
    V(CDC_VF_TIMESTAMPTZ, "10000-01-01 00:00:00+00", "\"10000-01-01T00:00:00Z\"");
    V(CDC_VF_TIMESTAMPTZ, "infinity", "\"infinity\"");
    V(CDC_VF_TIMESTAMPTZ, "-infinity", "\"-infinity\"");
    BAD(CDC_VF_TIMESTAMPTZ, "2024-01-02T03:04:05Z", "\"2024-01-02T03:04:05Z\"");
    BAD(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"");
    BAD(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05+00 AD", "\"2024-01-02 03:04:05+00 AD\"");
    BAD(CDC_VF_TIMESTAMPTZ, "0000-01-01 00:00:00+00 BC", "\"0000-01-01 00:00:00+00 BC\"");
    BAD(CDC_VF_TIMESTAMPTZ, "2024-01-02 03:04:05.+00", "\"2024-01-02 03:04:05.+00\"");
    BAD(CDC_VF_TIMESTAMPTZ, "garbage", "\"garbage\"");
    BAD(CDC_VF_TIMESTAMPTZ, "", "\"\"");
}

static void
test_json_timestamp_and_date(void **state)
{
    (void) state;
    V(CDC_VF_TIMESTAMP, "2024-01-02 03:04:05.5", "\"2024-01-02T03:04:05.5\"");
    V(CDC_VF_TIMESTAMP, "2024-01-02 03:04:05", "\"2024-01-02T03:04:05\"");
    V(CDC_VF_TIMESTAMP, "2024-01-02 03:04:05.123456", "\"2024-01-02T03:04:05.123456\"");
    V(CDC_VF_TIMESTAMP, "0044-03-15 12:00:00 BC", "\"-0043-03-15T12:00:00\"");
    V(CDC_VF_TIMESTAMP, "infinity", "\"infinity\"");
    V(CDC_VF_TIMESTAMP, "-infinity", "\"-infinity\"");
    BAD(CDC_VF_TIMESTAMP, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05+00\"");
    BAD(CDC_VF_TIMESTAMP, "2024-01-02", "\"2024-01-02\"");
    V(CDC_VF_DATE, "2024-01-02", "\"2024-01-02\"");
    V(CDC_VF_DATE, "0044-03-15 BC", "\"-0043-03-15\"");
    V(CDC_VF_DATE, "0001-01-01 BC", "\"0000-01-01\"");
    V(CDC_VF_DATE, "infinity", "\"infinity\"");
    V(CDC_VF_DATE, "-infinity", "\"-infinity\"");
    BAD(CDC_VF_DATE, "2024-1-2", "\"2024-1-2\"");
    BAD(CDC_VF_DATE, "20240102", "\"20240102\"");
    BAD(CDC_VF_DATE, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"");
    BAD(CDC_VF_DATE, "Infinity", "\"Infinity\"");
}

static void
test_json_time_and_timetz_keep_their_form(void **state)
{
    (void) state;
    V(CDC_VF_TIME, "03:04:05", "\"03:04:05\"");
    V(CDC_VF_TIME, "03:04:05.25", "\"03:04:05.25\"");
    V(CDC_VF_TIME, "24:00:00", "\"24:00:00\"");
    BAD(CDC_VF_TIME, "3:04:05", "\"3:04:05\"");
    BAD(CDC_VF_TIME, "03:04:05+00", "\"03:04:05+00\"");
    V(CDC_VF_TIMETZ, "03:04:05+05:30", "\"03:04:05+05:30\"");
    V(CDC_VF_TIMETZ, "03:04:05.123456+02", "\"03:04:05.123456+02\"");
    V(CDC_VF_TIMETZ, "03:04:05-08", "\"03:04:05-08\"");
    V(CDC_VF_TIMETZ, "03:04:05+00", "\"03:04:05+00\"");
    BAD(CDC_VF_TIMETZ, "03:04:05", "\"03:04:05\"");
    BAD(CDC_VF_TIMETZ, "03:04:05+5", "\"03:04:05+5\"");
}

static void
test_json_bytea_becomes_base64(void **state)
{
    (void) state;
    V(CDC_VF_BYTEA_HEX, "\\x", "\"\"");
    V(CDC_VF_BYTEA_HEX, "\\x66", "\"Zg==\"");
    V(CDC_VF_BYTEA_HEX, "\\x666f", "\"Zm8=\"");
    V(CDC_VF_BYTEA_HEX, "\\x666f6f", "\"Zm9v\"");
    V(CDC_VF_BYTEA_HEX, "\\x666f6f62", "\"Zm9vYg==\"");
    V(CDC_VF_BYTEA_HEX, "\\x000102ff", "\"AAEC/w==\"");
    V(CDC_VF_BYTEA_HEX, "\\xFBEF", "\"++8=\"");
    V(CDC_VF_BYTEA_HEX, "\\x0a0b", "\"Cgs=\"");
    /* CDC_VF_BASE64 takes the raw bytes: "foo" -> Zm9v, "fo" -> Zm8= (RFC 4648 section 10) */
    V(CDC_VF_BASE64, "", "\"\"");
    V(CDC_VF_BASE64, "fo", "\"Zm8=\"");
    V(CDC_VF_BASE64, "foo", "\"Zm9v\"");
    V(CDC_VF_BASE64, "\xfb\xef", "\"++8=\"");
    check_len(CDC_VF_BASE64, CDC_VF_STRING, "\x00\x01\x02\xff", 4, "\"AAEC/w==\"", true);
    BAD(CDC_VF_BYTEA_HEX, "\\x6", "\"\\\\x6\"");
    BAD(CDC_VF_BYTEA_HEX, "\\xzz", "\"\\\\xzz\"");
    BAD(CDC_VF_BYTEA_HEX, "abc", "\"abc\"");
    BAD(CDC_VF_BYTEA_HEX, "", "\"\"");
}

static void
test_json_arrays_render_elements_by_their_format(void **state)
{
    (void) state;
    ARR(CDC_VF_INT, "{1,2,NULL}", "[1,2,null]");
    ARR(CDC_VF_INT, "{-1}", "[-1]");
    ARR(CDC_VF_INT, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
    ARR(CDC_VF_INT, "{{{1}},{{2}}}", "[[[1]],[[2]]]");
    ARR(CDC_VF_INT, "{}", "[]");
    ARR(CDC_VF_INT, "{null,NuLl}", "[null,null]");
    ARR(CDC_VF_INT, "{ 1 , 2 }", "[1,2]");
    ARR(CDC_VF_INT, "[0:1]={1,2}", "[1,2]");
    ARR(CDC_VF_INT, "[-2:-1]={1,2}", "[1,2]");
    ARR(CDC_VF_INT, "[1:2][3:4]={{1,2},{3,4}}", "[[1,2],[3,4]]");
    ARR(CDC_VF_INT, "{1,x}", "[1,\"x\"]"); /* a bad element falls back alone */
    ARR(CDC_VF_STRING, "{\"a b\",\"c\\\"d\",NULL,\"NULL\"}", "[\"a b\",\"c\\\"d\",null,\"NULL\"]");
    ARR(CDC_VF_STRING, "{\"a\\\\b\",\"\",x,\"a,b\",\"{}\"}",
        "[\"a\\\\b\",\"\",\"x\",\"a,b\",\"{}\"]");
    ARR(CDC_VF_STRING, "{caf\xe9,\"\xe9\\\"\"}", "[\"caf" R "\",\"" R "\\\"\"]");
    ARR(CDC_VF_STRING, "{{a,b},{c,d}}", "[[\"a\",\"b\"],[\"c\",\"d\"]]");
    ARR(CDC_VF_BOOL, "{t,f,NULL}", "[true,false,null]");
    ARR(CDC_VF_FLOAT, "{NaN,1.5,-Infinity}", "[\"NaN\",1.5,\"-Infinity\"]");
    ARR(CDC_VF_NUMERIC, "{1.50,NaN}", "[\"1.50\",\"NaN\"]");
    ARR(CDC_VF_JSON, "{\"{\\\"a\\\": 1}\",\"[1, 2]\",NULL,1,true}",
        "[{\"a\": 1},[1, 2],null,1,true]");
    ARR(CDC_VF_TIMESTAMPTZ, "{\"2024-01-02 03:04:05+00\",\"2024-01-02 03:04:05.5+00\",infinity}",
        "[\"2024-01-02T03:04:05Z\",\"2024-01-02T03:04:05.5Z\",\"infinity\"]");
    ARR(CDC_VF_DATE, "{2024-01-02,\"0044-03-15 BC\"}", "[\"2024-01-02\",\"-0043-03-15\"]");
    ARR(CDC_VF_BYTEA_HEX, "{\"\\\\x0102\",\"\\\\x\"}", "[\"AQI=\",\"\"]");
    ARR(CDC_VF_ARRAY, "{a}", "[\"a\"]"); /* nonsense element format: strings */
}

static void
test_json_array_element_longer_than_the_stack_buffer(void **state)
{
    char in[400], want[400];
    size_t n = 0, m = 0;

    (void) state;
    /* jsonb[] {"{\"k\": \"xxx...\"}"} with 300 x's -> [{"k": "xxx..."}] */
    n += (size_t) sprintf(in + n, "{\"{\\\"k\\\": \\\"");
    m += (size_t) sprintf(want + m, "[{\"k\": \"");
    memset(in + n, 'x', 300);
    memset(want + m, 'x', 300);
    n += 300;
    m += 300;
    sprintf(in + n, "\\\"}\"}");
    sprintf(want + m, "\"}]");
    ARR(CDC_VF_JSON, in, want);
}

static void
test_json_malformed_arrays_fall_back_to_a_string(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;
    char deep[64];

    (void) state;
    BAD_ARR(CDC_VF_INT, "{1,2", "\"{1,2\"");
    BAD_ARR(CDC_VF_INT, "1,2", "\"1,2\"");
    BAD_ARR(CDC_VF_INT, "{1,,2}", "\"{1,,2}\"");
    BAD_ARR(CDC_VF_INT, "{,}", "\"{,}\"");
    BAD_ARR(CDC_VF_STRING, "{\"a}", "\"{\\\"a}\"");
    BAD_ARR(CDC_VF_STRING, "{\"a\\", "\"{\\\"a\\\\\"");
    BAD_ARR(CDC_VF_INT, "{1}x", "\"{1}x\"");
    BAD_ARR(CDC_VF_INT, "[0:1]{1}", "\"[0:1]{1}\"");
    BAD_ARR(CDC_VF_INT, "[0:]={1}", "\"[0:]={1}\"");
    BAD_ARR(CDC_VF_INT, "{{1,2},{3}", "\"{{1,2},{3}\"");
    BAD_ARR(CDC_VF_INT, "{a\"b}", "\"{a\\\"b}\"");
    BAD_ARR(CDC_VF_INT, "", "\"\"");
    /* 17 levels: deeper than any PostgreSQL array */
    memset(deep, '{', 17);
    memset(deep + 17, '}', 17);
    deep[34] = '\0';
    BAD_ARR(CDC_VF_INT, deep, "\"{{{{{{{{{{{{{{{{{}}}}}}}}}}}}}}}}}\"");
    /* what was written before the error is rolled back; earlier content stays */
    cdc_buf_puts(&b, "X");
    assert_false(json_put_value(&b, CDC_VF_ARRAY, CDC_VF_INT, "{1,2,{3", 7));
    assert_string_equal(b.data, "X\"{1,2,{3\"");
    cdc_buf_free(&b);
}

/* xorshift64: deterministic inputs */
static uint64_t
next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void
test_json_any_input_gives_one_valid_json_value(void **state)
{
    /* bytes that matter to some parser, and a few that matter to none */
    static const char alphabet[] =
        "{}[]\",\\ :.-+0123456789eEtfxNULnul BCZT\x80\xc3\xa9\xed\xf0\x01\n";
    uint64_t seed = 0x9E3779B97F4A7C15u;
    char in[48];

    (void) state;
    for (int fmt = CDC_VF_STRING; fmt <= CDC_VF_ARRAY; fmt++) {
        for (int i = 0; i < 4000; i++) {
            struct cdc_buf b = CDC_BUF_INIT;
            size_t len = next_rand(&seed) % sizeof(in);
            enum cdc_vfmt elem = (enum cdc_vfmt)(next_rand(&seed) % (CDC_VF_ARRAY + 1));

            for (size_t k = 0; k < len; k++)
                in[k] = alphabet[next_rand(&seed) % (sizeof(alphabet) - 1)];
            if (fmt == CDC_VF_ARRAY && len > 0 && next_rand(&seed) % 2)
                in[0] = '{'; /* get past the first check more often */
            (void) json_put_value(&b, (enum cdc_vfmt) fmt, elem, in, len);
            assert_true(cdc_buf_ok(&b));
            if (!json_is_valid(b.data, b.len))
                fail_msg("fmt %d elem %d input <%.*s>: invalid output <%s>", fmt, (int) elem,
                         (int) len, in, b.data);
            cdc_buf_free(&b);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_str_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_json_str_keeps_valid_utf8),
        cmocka_unit_test(test_json_str_replaces_each_invalid_byte),
        cmocka_unit_test(test_json_key_is_escaped_and_has_a_colon),
        cmocka_unit_test(test_json_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_json_ints_are_numbers),
        cmocka_unit_test(test_json_floats_are_numbers_except_nan_and_infinities),
        cmocka_unit_test(test_json_numerics_are_lossless_strings),
        cmocka_unit_test(test_json_bools_and_strings),
        cmocka_unit_test(test_json_json_values_are_embedded),
        cmocka_unit_test(test_json_validator_accepts_json_and_only_json),
        cmocka_unit_test(test_json_timestamptz_becomes_rfc3339),
        cmocka_unit_test(test_json_timestamp_and_date),
        cmocka_unit_test(test_json_time_and_timetz_keep_their_form),
        cmocka_unit_test(test_json_bytea_becomes_base64),
        cmocka_unit_test(test_json_arrays_render_elements_by_their_format),
        cmocka_unit_test(test_json_array_element_longer_than_the_stack_buffer),
        cmocka_unit_test(test_json_malformed_arrays_fall_back_to_a_string),
        cmocka_unit_test(test_json_any_input_gives_one_valid_json_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
