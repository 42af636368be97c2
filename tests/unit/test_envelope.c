/*
 * test_envelope.c - the CDCEvent envelope against hand-written golden files
 * (tests/data/golden/NAME.json, compared byte for byte; UPDATE_GOLDEN=1 rewrites
 * them, after which every value must be checked by hand again), the commit
 * time format, and event ids: determinism and the round trip through
 * env_event_id_parse().
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
#include "transform/envelope.h"

#define GOLDEN(name) CDC_TEST_DATA "/golden/" name ".json"

/* Values by hand: P("text"), NUL_, UNCH, ABS */
#define P(s)                                                                                       \
    {                                                                                              \
        (s), (uint32_t) (sizeof(s) - 1), CDC_VAL_PRESENT                                           \
    }
#define NUL_                                                                                       \
    {                                                                                              \
        NULL, 0, CDC_VAL_NULL                                                                      \
    }
#define UNCH                                                                                       \
    {                                                                                              \
        NULL, 0, CDC_VAL_UNCHANGED                                                                 \
    }
#define ABS                                                                                        \
    {                                                                                              \
        NULL, 0, CDC_VAL_ABSENT                                                                    \
    }
#define NVALS(a) ((uint32_t) (sizeof(a) / sizeof((a)[0])))

static struct cdc_column users_cols[] = {
    {"id", 23, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL},
    {"name", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
    {"email", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
    {"big", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
};
static const struct cdc_relation users = {16384, "public", "users", 'd', 4, users_cols, "", false};
static const struct cdc_relation users_full = {16390, "public",   "users_full", 'f',
                                               4,     users_cols, "",           false};

/* 2024-01-02T03:04:05Z is 1704164645 s after the epoch */
#define T0 INT64_C(1704164645000000)

static void
read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (f == NULL)
        fail_msg("could not open \"%s\"", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    *data = malloc((size_t) n + 1);
    assert_non_null(*data);
    assert_int_equal(fread(*data, 1, (size_t) n, f), (size_t) n);
    (*data)[n] = '\0';
    *len = (size_t) n;
    fclose(f);
}

/* Encode ch and compare with the golden file (its content is the event and a newline). */
static void
check_golden(const char *path, const struct env_ctx *ctx, const struct cdc_change *ch)
{
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;
    char *want;
    size_t want_len;

    assert_int_equal(env_encode(ctx, ch, &b, &err), CDC_OK);
    assert_true(json_is_valid(b.data, b.len));
    cdc_buf_putc(&b, '\n');
    if (getenv("UPDATE_GOLDEN") != NULL && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0) {
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
        assert_int_equal(fclose(f), 0);
    }
    read_file(path, &want, &want_len);
    if (want_len != b.len || memcmp(want, b.data, b.len) != 0)
        fail_msg("%s differs:\n got: %s\nwant: %s", path, b.data, want);
    free(want);
    cdc_buf_free(&b);
}

static struct env_ctx ctx;

static int
setup(void **state)
{
    (void) state;
    env_ctx_init(&ctx, "orders-db");
    return 0;
}

static void
test_envelope_insert(void **state)
{
    struct cdc_value v[] = {P("1"), P("Alice"), NUL_, P("x")};
    struct cdc_tuple after = {NVALS(v), v};
    struct cdc_change ch = {CDC_OP_INSERT, &users, NULL, &after,      0x16B374D848,
                            0x16B374D900,  748,    0,    T0 + 123456, NULL,
                            NULL,          NULL,   0};

    (void) state;
    check_golden(GOLDEN("insert"), &ctx, &ch);
}

/*
 * A MySQL/MariaDB change: the metadata gives the binlog file, position, GTID
 * and server id instead of LSNs, and a zero date (null in "after") keeps its
 * raw text under "zero_dates". Golden file written by hand.
 */
static void
test_envelope_binlog_origin_and_zero_dates(void **state)
{
    static struct cdc_column cols[] = {
        {"id", 3, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL},
        {"born", 10, -1, CDC_VF_DATE, CDC_VF_STRING, false, false, NULL},
        {"secret", 15, -1, CDC_VF_STRING, CDC_VF_STRING, false, true, NULL},
    };
    static const struct cdc_relation people = {7, "shop", "people", 'd', 3, cols, "", false};
    struct cdc_value v[] = {P("5"), NUL_, NUL_};
    struct cdc_tuple after = {NVALS(v), v};
    const struct cdc_binlog_origin o = {"mysql-bin.000003", 1234, "0-1-42", 1};
    /* the sensitive column's zero date stays out too */
    const struct cdc_raw_col z[] = {{1, P("0000-00-00")}, {2, P("0000-00-00")}};
    struct cdc_change ch = {CDC_OP_INSERT,
                            &people,
                            NULL,
                            &after,
                            (UINT64_C(3) << 32) | 1234,
                            (UINT64_C(3) << 32) | 1200,
                            0,
                            2,
                            T0,
                            NULL,
                            &o,
                            z,
                            2};

    (void) state;
    check_golden(GOLDEN("binlog_insert"), &ctx, &ch);
}

static void
test_envelope_update_with_full_identity_has_whole_before(void **state)
{
    struct cdc_value o[] = {P("1"), P("Alice"), P("a@example.com"), P("x")};
    struct cdc_value n[] = {P("1"), P("Bob"), P("a@example.com"), P("x")};
    struct cdc_tuple before = {NVALS(o), o}, after = {NVALS(n), n};
    struct cdc_change ch = {CDC_OP_UPDATE, &users_full, &before, &after,       0x16B374D950,
                            0x16B374DA00,  749,         0,       T0 + 1000000, NULL,
                            NULL,          NULL,        0};

    (void) state;
    check_golden(GOLDEN("update_full"), &ctx, &ch);
}

static void
test_envelope_update_with_key_change_has_key_only_before(void **state)
{
    struct cdc_value o[] = {P("1"), ABS, ABS, ABS};
    struct cdc_value n[] = {P("2"), P("Bob"), NUL_, P("x")};
    struct cdc_tuple before = {NVALS(o), o}, after = {NVALS(n), n};
    struct cdc_change ch = {CDC_OP_UPDATE, &users, &before, &after,       0x16B374DA50,
                            0x16B374DB00,  750,    2,       T0 + 2000001, NULL,
                            NULL,          NULL,   0};

    (void) state;
    check_golden(GOLDEN("update_key_only"), &ctx, &ch);
}

static void
test_envelope_update_lists_unchanged_toast_columns(void **state)
{
    struct cdc_value n[] = {P("1"), P("Bob"), UNCH, UNCH};
    struct cdc_tuple after = {NVALS(n), n};
    struct cdc_change ch = {CDC_OP_UPDATE, &users, NULL, &after,       0x16B374DB50,
                            0x16B374DC00,  751,    0,    T0 + 3500000, NULL,
                            NULL,          NULL,   0};

    (void) state;
    check_golden(GOLDEN("update_toast"), &ctx, &ch);
}

static void
test_envelope_delete(void **state)
{
    struct cdc_value o[] = {P("2"), ABS, ABS, ABS};
    struct cdc_tuple before = {NVALS(o), o};
    struct cdc_change ch = {CDC_OP_DELETE, &users, &before, NULL,         0x16B374DC50,
                            0x16B374DD00,  752,    0,       T0 + 4000000, NULL,
                            NULL,          NULL,   0};

    (void) state;
    check_golden(GOLDEN("delete"), &ctx, &ch);
}

static void
test_envelope_truncate(void **state)
{
    struct cdc_change ch = {CDC_OP_TRUNCATE,
                            &users,
                            NULL,
                            NULL,
                            0x16B374DD50,
                            0x16B374DE00,
                            753,
                            1,
                            T0 + 5000000,
                            NULL,
                            NULL,
                            NULL,
                            0};

    (void) state;
    check_golden(GOLDEN("truncate"), &ctx, &ch);
}

static void
test_envelope_ddl_without_relation(void **state)
{
    struct cdc_change ch = {
        CDC_OP_DDL,  NULL,       NULL, NULL, 0x100000000,
        0x100000010, UINT32_MAX, 0,    0,    "ALTER TABLE public.users ADD COLUMN \"note\" text;",
        NULL,        NULL,       0};

    (void) state;
    check_golden(GOLDEN("ddl"), &ctx, &ch);
}

static void
test_envelope_every_type(void **state)
{
    static struct cdc_column cols[] = {
        {"id", 23, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL},
        {"i2", 21, -1, CDC_VF_INT, CDC_VF_STRING, false, false, NULL},
        {"i8", 20, -1, CDC_VF_INT, CDC_VF_STRING, false, false, NULL},
        {"f4", 700, -1, CDC_VF_FLOAT, CDC_VF_STRING, false, false, NULL},
        {"f8_nan", 701, -1, CDC_VF_FLOAT, CDC_VF_STRING, false, false, NULL},
        {"f8_ninf", 701, -1, CDC_VF_FLOAT, CDC_VF_STRING, false, false, NULL},
        {"num", 1700, -1, CDC_VF_NUMERIC, CDC_VF_STRING, false, false, NULL},
        {"num_inf", 1700, -1, CDC_VF_NUMERIC, CDC_VF_STRING, false, false, NULL},
        {"b", 16, -1, CDC_VF_BOOL, CDC_VF_STRING, false, false, NULL},
        {"j", 114, -1, CDC_VF_JSON, CDC_VF_STRING, false, false, NULL},
        {"jb", 3802, -1, CDC_VF_JSON, CDC_VF_STRING, false, false, NULL},
        {"tstz", 1184, -1, CDC_VF_TIMESTAMPTZ, CDC_VF_STRING, false, false, NULL},
        {"tstz_bc", 1184, -1, CDC_VF_TIMESTAMPTZ, CDC_VF_STRING, false, false, NULL},
        {"tstz_inf", 1184, -1, CDC_VF_TIMESTAMPTZ, CDC_VF_STRING, false, false, NULL},
        {"ts", 1114, -1, CDC_VF_TIMESTAMP, CDC_VF_STRING, false, false, NULL},
        {"d", 1082, -1, CDC_VF_DATE, CDC_VF_STRING, false, false, NULL},
        {"t", 1083, -1, CDC_VF_TIME, CDC_VF_STRING, false, false, NULL},
        {"ttz", 1266, -1, CDC_VF_TIMETZ, CDC_VF_STRING, false, false, NULL},
        {"iv", 1186, -1, CDC_VF_INTERVAL, CDC_VF_STRING, false, false, NULL},
        {"by", 17, -1, CDC_VF_BYTEA_HEX, CDC_VF_STRING, false, false, NULL},
        {"by_empty", 17, -1, CDC_VF_BYTEA_HEX, CDC_VF_STRING, false, false, NULL},
        {"arr_i", 1007, -1, CDC_VF_ARRAY, CDC_VF_INT, false, false, NULL},
        {"arr_t", 1009, -1, CDC_VF_ARRAY, CDC_VF_STRING, false, false, NULL},
        {"arr_2d", 1007, -1, CDC_VF_ARRAY, CDC_VF_INT, false, false, NULL},
        {"arr_jb", 3807, -1, CDC_VF_ARRAY, CDC_VF_JSON, false, false, NULL},
        {"arr_tstz", 1185, -1, CDC_VF_ARRAY, CDC_VF_TIMESTAMPTZ, false, false, NULL},
        {"txt", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
        {"raw", 0, -1, CDC_VF_RAW_JSON, CDC_VF_STRING, false, false, NULL},
        {"nul", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
        {"bad_int", 23, -1, CDC_VF_INT, CDC_VF_STRING, false, false, NULL},
    };
    static const struct cdc_relation rel = {16400,       "public", "all_types", 'd',
                                            NVALS(cols), cols,     "",          false};
    struct cdc_value v[] = {
        P("1"),
        P("-32768"),
        P("-9223372036854775808"),
        P("1.5"),
        P("NaN"),
        P("-Infinity"),
        P("12345678901234567890.123456789"),
        P("Infinity"),
        P("t"),
        P("{\"a\": [1, 2]}"),
        P("{\"a\": \"x\", \"b\": 1}"),
        P("2024-01-02 03:04:05.123456+00"),
        P("0044-03-15 12:00:00+00 BC"),
        P("infinity"),
        P("2024-01-02 03:04:05"),
        P("2024-01-02"),
        P("03:04:05.25"),
        P("03:04:05+05:30"),
        P("P1Y2M3DT4H5M6.5S"),
        P("\\x000102ff"),
        P("\\x"),
        P("{1,2,NULL}"),
        P("{\"a b\",\"c\\\"d\",NULL,\"NULL\"}"),
        P("[0:1][0:1]={{1,2},{3,4}}"),
        P("{\"{\\\"k\\\": 1}\",NULL}"),
        P("{\"2024-01-02 03:04:05+00\"}"),
        P("hello"),
        P("{\"r\":true}"),
        NUL_,
        P("12abc"),
    };
    struct cdc_tuple after = {NVALS(v), v};
    struct cdc_change ch = {CDC_OP_INSERT, &rel, NULL, &after, 0x2A, 0x2B, 1, 0,
                            T0 + 123456,   NULL, NULL, NULL,   0};

    (void) state;
    assert_int_equal(NVALS(v), NVALS(cols));
    check_golden(GOLDEN("every_type"), &ctx, &ch);
}

static void
test_envelope_escaping(void **state)
{
    static struct cdc_column cols[] = {
        {"col \"q\"", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
        {"na\xc3\xafve", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
        {"c\xe9", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
    };
    static const struct cdc_relation rel = {1,    "my \"schema\"", "tab\\le\n", 'd', 3, cols, "",
                                            false};
    struct cdc_value v[] = {P("caf\xe9 \x01\t"), P("\xf0\x9f\x98\x80 emoji"), P("x")};
    struct cdc_tuple after = {NVALS(v), v};
    struct cdc_change ch = {CDC_OP_INSERT, &rel, NULL, &after, UINT64_MAX, UINT64_MAX, 0,
                            UINT32_MAX,    -1,   NULL, NULL,   NULL,       0};
    struct env_ctx odd;

    (void) state;
    env_ctx_init(&odd, "orders db\"x");
    check_golden(GOLDEN("escaping"), &odd, &ch);
}

static void
test_envelope_rejects_a_tuple_that_does_not_match_its_relation(void **state)
{
    struct cdc_value v[] = {P("1"), P("a")};
    struct cdc_tuple after = {NVALS(v), v};
    struct cdc_change ch = {CDC_OP_INSERT, &users, NULL, &after, 1, 2, 3, 0, T0,
                            NULL,          NULL,   NULL, 0};
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    (void) state;
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "\"public.users\""));
    ch.after = NULL;
    ch.rel = NULL;
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_ERR_PROTO);
    cdc_buf_free(&b);
}

static void
test_envelope_appends_to_the_buffer(void **state)
{
    struct cdc_change ch = {
        CDC_OP_TRUNCATE, &users, NULL, NULL, 1, 2, 3, 0, T0, NULL, NULL, NULL, 0};
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    (void) state;
    cdc_buf_puts(&b, "[");
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_OK);
    assert_int_equal(strncmp(b.data, "[{\"event_id\":\"orders-db-0000000000000002-00000000\",", 51),
                     0);
    cdc_buf_free(&b);
}

static void
check_time(int64_t us, const char *want)
{
    struct cdc_buf b = CDC_BUF_INIT;

    env_put_time(&b, us);
    assert_true(cdc_buf_ok(&b));
    assert_string_equal(b.data, want);
    cdc_buf_free(&b);
}

static void
test_envelope_time_is_rfc3339_utc_with_six_digits(void **state)
{
    (void) state;
    check_time(0, "1970-01-01T00:00:00.000000Z");
    check_time(1, "1970-01-01T00:00:00.000001Z");
    check_time(-1, "1969-12-31T23:59:59.999999Z");
    check_time(T0 + 123456, "2024-01-02T03:04:05.123456Z");
    check_time(INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z");
    check_time(INT64_C(951868800000000), "2000-03-01T00:00:00.000000Z");
    check_time(INT64_C(4107542399999999), "2100-02-28T23:59:59.999999Z");
    check_time(INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z");
    check_time(INT64_C(253402300800000000), "10000-01-01T00:00:00.000000Z");
    check_time(INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z");
    check_time(INT64_C(-62167219200000000), "0000-01-01T00:00:00.000000Z");
    check_time(INT64_C(-62167219200000001), "-0001-12-31T23:59:59.999999Z");
}

static void
check_id_round_trip(const char *source, cdc_lsn lsn, uint32_t seq, const char *want)
{
    struct env_ctx c;
    struct cdc_change ch = {CDC_OP_INSERT, &users, NULL, NULL, 7,    lsn, 9,
                            seq,           T0,     NULL, NULL, NULL, 0};
    char id[ENV_EVENT_ID_MAX];
    cdc_lsn got_lsn = 0;
    uint32_t got_seq = 0;

    env_ctx_init(&c, source);
    env_event_id(&c, &ch, id, sizeof(id));
    assert_string_equal(id, want);
    assert_true(env_event_id_parse(id, strlen(id), &got_lsn, &got_seq));
    assert_true(got_lsn == lsn);
    assert_int_equal(got_seq, seq);
}

static void
test_event_id_round_trips_through_parse(void **state)
{
    (void) state;
    check_id_round_trip("orders", 0x16B374D848, 2, "orders-00000016B374D848-00000002");
    check_id_round_trip("orders", 0, 0, "orders-0000000000000000-00000000");
    check_id_round_trip("orders", UINT64_MAX, UINT32_MAX, "orders-FFFFFFFFFFFFFFFF-FFFFFFFF");
    /* dashes and hex-looking parts in the source name do not confuse the parser */
    check_id_round_trip("a-0000000000000001-00000001", 0xABC, 5,
                        "a-0000000000000001-00000001-0000000000000ABC-00000005");
    check_id_round_trip("", 1, 1, "-0000000000000001-00000001");
    /* a header value: spaces and control bytes become '_' */
    check_id_round_trip("my src\x01\xc3\xa9", 1, 1, "my_src___-0000000000000001-00000001");
}

static void
test_event_id_depends_only_on_source_and_position(void **state)
{
    struct cdc_value v1[] = {P("1"), P("a"), P("b"), P("c")};
    struct cdc_value v2[] = {P("2"), NUL_, NUL_, NUL_};
    struct cdc_tuple t1 = {4, v1}, t2 = {4, v2};
    struct cdc_change a = {CDC_OP_INSERT, &users, NULL, &t1, 100, 200, 5, 3, T0,
                           NULL,          NULL,   NULL, 0};
    struct cdc_change b = {CDC_OP_DELETE, &users_full, &t2,  NULL, 150, 200, 6, 3,
                           T0 + 9,        NULL,        NULL, NULL, 0};
    char ia[ENV_EVENT_ID_MAX], ib[ENV_EVENT_ID_MAX], ic[ENV_EVENT_ID_MAX];
    struct env_ctx other;

    (void) state;
    env_event_id(&ctx, &a, ia, sizeof(ia));
    env_event_id(&ctx, &b, ib, sizeof(ib));
    assert_string_equal(ia, ib);
    b.seq = 4;
    env_event_id(&ctx, &b, ib, sizeof(ib));
    assert_string_not_equal(ia, ib);
    b.seq = 3;
    b.commit_lsn = 201;
    env_event_id(&ctx, &b, ib, sizeof(ib));
    assert_string_not_equal(ia, ib);
    env_ctx_init(&other, "orders-db2");
    env_event_id(&other, &a, ic, sizeof(ic));
    assert_string_not_equal(ia, ic);
}

static void
test_event_id_parse_rejects_other_strings(void **state)
{
    const char *bad[] = {
        "",
        "x",
        "0000000000000001-00000001",    /* no leading dash */
        "s-0000000000000001_00000001",  /* wrong separator */
        "s-000000000000000a-00000001",  /* lower case */
        "s-0000000000000001-0000001",   /* 7-digit seq */
        "s-000000000000001-000000001",  /* 15 + 9 digits */
        "s-00000000000000G1-00000001",  /* not hex */
        "s-0000000000000001-00000001 ", /* trailing space */
    };
    cdc_lsn lsn;
    uint32_t seq;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (env_event_id_parse(bad[i], strlen(bad[i]), &lsn, &seq))
            fail_msg("parsed: \"%s\"", bad[i]);
    assert_false(env_event_id_parse(NULL, 0, &lsn, &seq));
    /* the length is what counts, not a terminator */
    assert_true(env_event_id_parse("s-0000000000000001-00000002XYZ", 27, &lsn, &seq));
    assert_true(lsn == 1 && seq == 2);
}

static void
test_event_id_of_a_long_source_is_bounded(void **state)
{
    char longname[300], id[ENV_EVENT_ID_MAX], small[10];
    struct cdc_change ch = {CDC_OP_INSERT, &users, NULL, NULL, 1, 0x42, 1, 7, T0,
                            NULL,          NULL,   NULL, 0};
    struct env_ctx c;
    cdc_lsn lsn;
    uint32_t seq;

    (void) state;
    memset(longname, 's', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    env_ctx_init(&c, longname);
    assert_int_equal(c.source_len, ENV_SOURCE_MAX);
    env_event_id(&c, &ch, id, sizeof(id));
    assert_int_equal(strlen(id), ENV_SOURCE_MAX + ENV_EVENT_ID_SUFFIX_LEN);
    assert_true(env_event_id_parse(id, strlen(id), &lsn, &seq));
    assert_true(lsn == 0x42 && seq == 7);
    /* a short output buffer gets a terminated prefix */
    env_event_id(&c, &ch, small, sizeof(small));
    assert_string_equal(small, "sssssssss");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_insert),
        cmocka_unit_test(test_envelope_binlog_origin_and_zero_dates),
        cmocka_unit_test(test_envelope_update_with_full_identity_has_whole_before),
        cmocka_unit_test(test_envelope_update_with_key_change_has_key_only_before),
        cmocka_unit_test(test_envelope_update_lists_unchanged_toast_columns),
        cmocka_unit_test(test_envelope_delete),
        cmocka_unit_test(test_envelope_truncate),
        cmocka_unit_test(test_envelope_ddl_without_relation),
        cmocka_unit_test(test_envelope_every_type),
        cmocka_unit_test(test_envelope_escaping),
        cmocka_unit_test(test_envelope_rejects_a_tuple_that_does_not_match_its_relation),
        cmocka_unit_test(test_envelope_appends_to_the_buffer),
        cmocka_unit_test(test_envelope_time_is_rfc3339_utc_with_six_digits),
        cmocka_unit_test(test_event_id_round_trips_through_parse),
        cmocka_unit_test(test_event_id_depends_only_on_source_and_position),
        cmocka_unit_test(test_event_id_parse_rejects_other_strings),
        cmocka_unit_test(test_event_id_of_a_long_source_is_bounded),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
