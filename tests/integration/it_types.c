/*
 * it_types.c - every PostgreSQL type of the README's table, end to end:
 * a real PostgreSQL 15, the daemon, a real JetStream stream read back, and
 * the exact JSON value of each column asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NAME "it_types"

/* column, SQL type, SQL literal, expected JSON (NULL: ask the server for the text form) */
struct typecase {
    const char *col;
    const char *type;
    const char *literal;
    const char *json;
};

static const struct typecase cases[] = {
    {"i2", "int2", "-32768", "-32768"},
    {"i4", "int4", "2147483647", "2147483647"},
    {"i8", "int8", "-9223372036854775808", "-9223372036854775808"},
    {"f4", "float4", "1.5", "1.5"},
    {"f8", "float8", "0.1", "0.1"},
    {"f8_nan", "float8", "'NaN'", "\"NaN\""},
    {"f8_inf", "float8", "'Infinity'", "\"Infinity\""},
    {"f8_ninf", "float8", "'-Infinity'", "\"-Infinity\""},
    {"num", "numeric", "12345678901234567890.123456789", "\"12345678901234567890.123456789\""},
    {"num_scale", "numeric(10,2)", "1.5", "\"1.50\""},
    {"num_nan", "numeric", "'NaN'", "\"NaN\""},
    {"b_t", "bool", "true", "true"},
    {"b_f", "bool", "false", "false"},
    {"j", "json", "'{\"a\": [1, 2]}'", "{\"a\": [1, 2]}"},
    {"jb", "jsonb", "'{\"b\": 1, \"a\": \"x\"}'", "{\"a\": \"x\", \"b\": 1}"},
    {"jb_scalar", "jsonb", "'\"s\"'", "\"s\""},
    {"tstz", "timestamptz", "'2024-01-02 03:04:05.123456+00'", "\"2024-01-02T03:04:05.123456Z\""},
    {"tstz_off", "timestamptz", "'2024-06-30 23:59:59-05'", "\"2024-07-01T04:59:59Z\""},
    {"tstz_inf", "timestamptz", "'infinity'", "\"infinity\""},
    {"ts", "timestamp", "'2024-01-02 03:04:05.5'", "\"2024-01-02T03:04:05.5\""},
    {"ts_ninf", "timestamp", "'-infinity'", "\"-infinity\""},
    {"d", "date", "'2024-01-02'", "\"2024-01-02\""},
    {"d_inf", "date", "'infinity'", "\"infinity\""},
    {"d_ninf", "date", "'-infinity'", "\"-infinity\""},
    {"t", "time", "'03:04:05.25'", "\"03:04:05.25\""},
    {"t_whole", "time", "'23:59:59'", "\"23:59:59\""},
    {"ttz", "timetz", "'03:04:05+05:30'", "\"03:04:05+05:30\""},
    {"iv", "interval", "'1 year 2 months 3 days 04:05:06.5'", "\"P1Y2M3DT4H5M6.5S\""},
    {"iv_neg", "interval", "'-1 day'", "\"P-1D\""},
    {"by", "bytea", "'\\x000102ff'", "\"AAEC/w==\""},
    {"by_empty", "bytea", "''", "\"\""},
    {"arr_i", "int4[]", "'{1,2,NULL}'", "[1,2,null]"},
    {"arr_t", "text[]", "'{\"a b\",\"c\\\"d\",NULL,\"NULL\"}'",
     "[\"a b\",\"c\\\"d\",null,\"NULL\"]"},
    {"arr_2d", "int4[]", "'{{1,2},{3,4}}'", "[[1,2],[3,4]]"},
    {"arr_empty", "int4[]", "'{}'", "[]"},
    {"arr_b", "bool[]", "'{t,f}'", "[true,false]"},
    {"arr_tstz", "timestamptz[]", "'{\"2024-01-02 03:04:05+00\"}'", "[\"2024-01-02T03:04:05Z\"]"},
    {"txt", "text", "E'h\\u00e9llo \"q\"\\n\\t'", "\"h\xc3\xa9llo \\\"q\\\"\\n\\t\""},
    {"vc", "varchar(10)", "'abc'", "\"abc\""},
    {"ch", "char(3)", "'ab'", "\"ab \""},
    {"u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
     "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""},
    {"ip", "inet", "'192.168.0.1/24'", "\"192.168.0.1/24\""},
    {"net", "cidr", "'10.0.0.0/8'", "\"10.0.0.0/8\""},
    {"mac", "macaddr", "'08:00:2b:01:02:03'", "\"08:00:2b:01:02:03\""},
    {"m", "money", "12.34", NULL},
    {"x", "xml", "'<a>1</a>'", "\"<a>1</a>\""},
    {"e", "it_mood", "'happy'", "\"happy\""},
    {"dom", "it_posint", "5", "\"5\""},
    {"pt", "point", "'(1,2)'", "\"(1,2)\""},
    {"nul", "text", "NULL", "null"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
test_every_type_renders_its_exact_json(void **state)
{
    const char *extra[] = {"--exit-when-idle", "1500", NULL};
    char sql[8192], *after, *expected_money, *v;
    struct it_msgs msgs;
    PGconn *c;
    size_t n = 0;
    pid_t pid;

    (void) state;
    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TYPE it_mood AS ENUM ('sad', 'happy')");
    it_sql(c, "CREATE DOMAIN it_posint AS int4 CHECK (VALUE > 0)");
    n += (size_t) snprintf(sql + n, sizeof(sql) - n, "CREATE TABLE all_types (id int PRIMARY KEY");
    for (size_t i = 0; i < NCASES; i++)
        n += (size_t) snprintf(sql + n, sizeof(sql) - n, ", %s %s", cases[i].col, cases[i].type);
    snprintf(sql + n, sizeof(sql) - n, ")");
    it_sql(c, "%s", sql);
    /* the slot must exist before the insert: start the daemon first and let it create it */
    it_sql(c, "SELECT 1");
    pid = it_daemon_start(NAME, NAME, extra);
    it_wait_slot_active(c, NAME);
    n = 0;
    n += (size_t) snprintf(sql + n, sizeof(sql) - n, "INSERT INTO all_types VALUES (1");
    for (size_t i = 0; i < NCASES; i++)
        n += (size_t) snprintf(sql + n, sizeof(sql) - n, ", %s", cases[i].literal);
    snprintf(sql + n, sizeof(sql) - n, ")");
    it_sql(c, "%s", sql);
    expected_money = it_sql_value(c, "SELECT to_json(12.34::money::text)::text");

    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream(NAME, &msgs);
    assert_int_equal(msgs.n, 1);
    assert_string_equal(msgs.v[0].subject, NAME ".it_types.public.all_types");
    after = it_json_member(msgs.v[0].data, "after");
    assert_non_null(after);
    v = it_json_member(after, "id");
    assert_string_equal(v, "1");
    free(v);
    for (size_t i = 0; i < NCASES; i++) {
        const char *want = cases[i].json ? cases[i].json : expected_money;

        v = it_json_member(after, cases[i].col);
        if (v == NULL || strcmp(v, want) != 0)
            fail_msg("type %s (column %s): got %s, want %s", cases[i].type, cases[i].col,
                     v ? v : "(missing)", want);
        free(v);
    }
    free(after);
    free(expected_money);
    it_msgs_free(&msgs);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_renders_its_exact_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
