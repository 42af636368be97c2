/*
 * it_filters.c - cdc.table_filters, cdc.table_excludes and cdc.operations
 * end to end, on the fixture's PostgreSQL and MariaDB:
 * - PostgreSQL, daemon-managed publication: exact names and `schema.*`
 *   publish exactly the included tables (pg_publication_tables, and a second
 *   pgoutput slot decoding the same WAL sees no row of an excluded table), a
 *   table created later in a `schema.*` schema is published, and a changed
 *   filter recreates the publication at the next start;
 * - PostgreSQL globs the publication cannot express (`*.audit_*`, a table
 *   glob, excludes inside a published schema): a wider publication, a
 *   warning, and the daemon drops the rest;
 * - a publication made by hand is left alone and filtered in the daemon;
 * - cdc.operations drops operations, keeps event ids (seq) and still lets
 *   the position of a transaction whose changes were all dropped be
 *   confirmed;
 * - MariaDB: the same patterns and operations;
 * - a malformed pattern: "<override>: key: problem", exit status 2.
 * Expected events are written from the statements each test runs.
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

/* No checkpoint, stream or log left from an earlier run of `name`; a fresh database. */
static PGconn *
fresh(const char *name)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(path);
    unlink(it_daemon_log(name));
    it_stream_delete(name);
    return it_fresh_db(name);
}

/* The subjects of the stream, "schema.table:op" per event (op: the event's "operation"). */
static char *
stream_summary(const char *name, struct it_msgs *ms)
{
    size_t cap = 64, len = 0, pre = strlen(name) + strlen(name) + 2;
    char *out = calloc(1, cap);

    it_read_stream(name, ms);
    for (int i = 0; i < ms->n; i++) {
        char *op = it_json_member(ms->v[i].data, "operation");
        const char *subj = strlen(ms->v[i].subject) > pre ? ms->v[i].subject + pre : "?";
        size_t need = strlen(subj) + (op ? strlen(op) : 4) + 4;

        if (len + need >= cap) {
            cap = (len + need) * 2;
            out = realloc(out, cap);
        }
        len += (size_t) snprintf(out + len, cap - len, "%s%s:%s", i ? " " : "", subj,
                                 op ? op : "null");
        free(op);
    }
    return out;
}

static void
assert_summary(const char *name, const char *want)
{
    struct it_msgs ms;
    char *got = stream_summary(name, &ms);

    if (strcmp(got, want) != 0)
        fail_msg("stream of %s:\n got  %s\n want %s", name, got, want);
    free(got);
    it_msgs_free(&ms);
}

static void
assert_value(PGconn *c, const char *want, const char *sql)
{
    char *v = it_sql_value(c, "%s", sql);

    if (v == NULL || strcmp(v, want) != 0)
        fail_msg("%s\n got  %s\n want %s", sql, v ? v : "NULL", want);
    free(v);
}

static void
assert_log_has(const char *name, const char *text)
{
    char *log = it_slurp(it_daemon_log(name));

    if (strstr(log, text) == NULL)
        fail_msg("the log of %s lacks \"%s\":\n%s", name, text, log);
    free(log);
}

static void
assert_log_lacks(const char *name, const char *text)
{
    char *log = it_slurp(it_daemon_log(name));

    if (strstr(log, text) != NULL)
        fail_msg("the log of %s has \"%s\"", name, text);
    free(log);
}

#define PG_PUBTABLES(pub)                                                                          \
    "SELECT coalesce(string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, "         \
    "tablename), '') FROM pg_publication_tables WHERE pubname = '" pub "'"

#define EXACT "it_filters_exact"

static void
test_pg_exact_names_and_schema_star_publish_only_included_tables(void **state)
{
    const char *extra[] = {"-X", "cdc.table_filters=public.a,sales.*", "--exit-when-idle", "1500",
                           NULL};
    const char *extra2[] = {"-X", "cdc.table_filters=public.b", "--exit-when-idle", "1500", NULL};
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(EXACT);
    it_sql(c, "CREATE SCHEMA sales; CREATE SCHEMA hr");
    it_sql(c, "CREATE TABLE public.a (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE public.b (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE sales.orders (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE hr.people (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(EXACT, EXACT, extra);
    it_wait_slot_active(c, EXACT);
    /* exactly the included tables; sales as a schema, so that later tables are in it too */
    assert_value(c, "public.a,sales.orders", PG_PUBTABLES(EXACT));
    assert_value(c, "1",
                 "SELECT count(*) FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = "
                 "pn.pnnspid JOIN pg_publication p ON p.oid = pn.pnpubid WHERE p.pubname = "
                 "'" EXACT "' AND n.nspname = 'sales'");
    assert_value(c, "cdc-handler: FOR TABLES IN SCHEMA \"sales\", TABLE \"public\".\"a\"",
                 "SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE "
                 "pubname = '" EXACT "'");
    /* a second slot decodes the same WAL through the same publication */
    it_sql(c, "SELECT pg_create_logical_replication_slot('" EXACT "_peek', 'pgoutput')");
    it_sql(c, "CREATE TABLE sales.later (id int PRIMARY KEY, v text)");
    it_sql(c, "INSERT INTO public.a VALUES (1, 'a1')");
    it_sql(c, "INSERT INTO public.b VALUES (1, 'secret-b1')");
    it_sql(c, "INSERT INTO hr.people VALUES (1, 'secret-p1')");
    it_sql(c, "INSERT INTO sales.orders VALUES (1, 'o1')");
    it_sql(c, "INSERT INTO sales.later VALUES (1, 'l1')");
    it_sql(c, "UPDATE public.b SET v = 'secret-b2'");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_summary(EXACT, "public.a:\"INSERT\" sales.orders:\"INSERT\" sales.later:\"INSERT\"");
    /* what left the database: 3 inserts, and no Relation message names an excluded table */
    assert_value(c, "3",
                 "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('" EXACT "_peek', "
                 "NULL, NULL, 'proto_version', '1', 'publication_names', '" EXACT "') "
                 "WHERE get_byte(data, 0) = 73");
    assert_value(c, "0",
                 "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('" EXACT "_peek', "
                 "NULL, NULL, 'proto_version', '1', 'publication_names', '" EXACT "') "
                 "WHERE get_byte(data, 0) IN (85, 68) OR position('people'::bytea in data) > 0 "
                 "OR position('secret'::bytea in data) > 0");
    it_sql(c, "SELECT pg_drop_replication_slot('" EXACT "_peek')");

    /* a changed filter: the managed publication is recreated at the next start */
    pid = it_daemon_start(EXACT, EXACT, extra2);
    it_wait_slot_active(c, EXACT);
    assert_value(c, "public.b", PG_PUBTABLES(EXACT));
    it_sql(c, "INSERT INTO public.a VALUES (2, 'a2')");
    it_sql(c, "INSERT INTO public.b VALUES (2, 'b2')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_summary(EXACT, "public.a:\"INSERT\" sales.orders:\"INSERT\" sales.later:\"INSERT\" "
                          "public.b:\"INSERT\"");
    assert_log_has(EXACT, "publication \\\"" EXACT "\\\" recreated for the table filters");
    PQfinish(c);
}

#define WIDE "it_filters_wide"

static void
test_pg_globs_and_excludes_use_a_wider_publication_filtered_in_the_daemon(void **state)
{
    const char *extra[] = {"-X",
                           "cdc.table_filters=sales.*,hr.audit_?og",
                           "-X",
                           "cdc.table_excludes=sales.secret*",
                           "--exit-when-idle",
                           "1500",
                           NULL};
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(WIDE);
    it_sql(c, "CREATE SCHEMA sales; CREATE SCHEMA hr");
    it_sql(c, "CREATE TABLE sales.orders (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE sales.secret_keys (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE hr.audit_log (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE hr.people (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE public.other (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(WIDE, WIDE, extra);
    it_wait_slot_active(c, WIDE);
    /* both schemas whole (never a table created later missed), nothing of public */
    assert_value(c, "hr.audit_log,hr.people,sales.orders,sales.secret_keys", PG_PUBTABLES(WIDE));
    it_sql(c, "INSERT INTO sales.orders VALUES (1, 'o1')");
    it_sql(c, "INSERT INTO sales.secret_keys VALUES (1, 'k1')");
    it_sql(c, "INSERT INTO hr.audit_log VALUES (1, 'l1')");
    it_sql(c, "INSERT INTO hr.people VALUES (1, 'p1')");
    it_sql(c, "INSERT INTO public.other VALUES (1, 'x1')");
    it_sql(c, "CREATE TABLE sales.secret_later (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE sales.later (id int PRIMARY KEY, v text)");
    it_sql(c, "INSERT INTO sales.secret_later VALUES (1, 'k2')");
    it_sql(c, "INSERT INTO sales.later VALUES (1, 'l1')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_summary(WIDE, "sales.orders:\"INSERT\" hr.audit_log:\"INSERT\" sales.later:\"INSERT\"");
    assert_log_has(WIDE, "holds more than the included tables");
    PQfinish(c);
}

#define ALL "it_filters_all"

static void
test_pg_schema_glob_publishes_all_tables(void **state)
{
    const char *extra[] = {"-X", "cdc.table_filters=*.audit_*", "--exit-when-idle", "1500", NULL};
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(ALL);
    it_sql(c, "CREATE SCHEMA hr");
    it_sql(c, "CREATE TABLE hr.audit_log (id int PRIMARY KEY)");
    it_sql(c, "CREATE TABLE public.orders (id int PRIMARY KEY)");
    pid = it_daemon_start(ALL, ALL, extra);
    it_wait_slot_active(c, ALL);
    assert_value(c, "true",
                 "SELECT puballtables::text FROM pg_publication WHERE pubname = '" ALL "'");
    /* a schema and a table created later: published, because every table is */
    it_sql(c, "CREATE SCHEMA ops; CREATE TABLE ops.audit_trail (id int PRIMARY KEY)");
    it_sql(c, "INSERT INTO hr.audit_log VALUES (1)");
    it_sql(c, "INSERT INTO public.orders VALUES (1)");
    it_sql(c, "INSERT INTO ops.audit_trail VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_summary(ALL, "hr.audit_log:\"INSERT\" ops.audit_trail:\"INSERT\"");
    assert_log_has(ALL, "has a wildcard in its schema part");
    PQfinish(c);
}

#define HAND "it_filters_hand"

static void
test_pg_publication_made_by_hand_is_left_alone_and_filtered_in_the_daemon(void **state)
{
    const char *extra[] = {"-X", "cdc.table_filters=public.a", "--exit-when-idle", "1500", NULL};
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(HAND);
    it_sql(c, "CREATE TABLE a (id int PRIMARY KEY)");
    it_sql(c, "CREATE TABLE b (id int PRIMARY KEY)");
    it_sql(c, "CREATE PUBLICATION " HAND " FOR TABLE a, b");
    pid = it_daemon_start(HAND, HAND, extra);
    it_wait_slot_active(c, HAND);
    it_sql(c, "INSERT INTO a VALUES (1)");
    it_sql(c, "INSERT INTO b VALUES (1)");
    it_sql(c, "INSERT INTO a VALUES (2)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_value(c, "public.a,public.b", PG_PUBTABLES(HAND));
    assert_summary(HAND, "public.a:\"INSERT\" public.a:\"INSERT\"");
    assert_log_has(HAND, "was not created by cdc-handler");
    PQfinish(c);
}

#define OPS "it_filters_ops"

static void
test_pg_operations_are_dropped_ids_kept_and_positions_confirmed(void **state)
{
    const char *extra[] = {"-X", "cdc.operations=insert,delete", "--exit-when-idle", "1500", NULL};
    struct it_msgs ms;
    uint64_t after_updates;
    char *lsn;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(OPS);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v int)");
    pid = it_daemon_start(OPS, OPS, extra);
    it_wait_slot_active(c, OPS);
    it_sql(c, "BEGIN; INSERT INTO t VALUES (1, 1); UPDATE t SET v = 2; DELETE FROM t; "
              "INSERT INTO t VALUES (2, 2); COMMIT");
    /* a transaction of updates only: nothing published, its position still confirmed */
    it_sql(c, "UPDATE t SET v = 3");
    lsn = it_sql_value(c, "SELECT (pg_current_wal_lsn() - '0/0')::text");
    after_updates = strtoull(lsn, NULL, 10);
    free(lsn);
    it_sql(c, "TRUNCATE t");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream(OPS, &ms);
    assert_int_equal(ms.n, 3);
    /* one transaction: ids end in its seq 0, 2 and 3 (the update was seq 1) */
    assert_string_equal(ms.v[0].msg_id + strlen(ms.v[0].msg_id) - 9, "-00000000");
    assert_string_equal(ms.v[1].msg_id + strlen(ms.v[1].msg_id) - 9, "-00000002");
    assert_string_equal(ms.v[2].msg_id + strlen(ms.v[2].msg_id) - 9, "-00000003");
    assert_int_equal(strncmp(ms.v[0].msg_id, ms.v[2].msg_id, strlen(ms.v[0].msg_id) - 9), 0);
    assert_non_null(strstr(ms.v[0].data, "\"operation\":\"INSERT\""));
    assert_non_null(strstr(ms.v[1].data, "\"operation\":\"DELETE\""));
    assert_non_null(strstr(ms.v[2].data, "\"operation\":\"INSERT\""));
    it_msgs_free(&ms);
    assert_true(it_slot_confirmed(c, OPS) >= after_updates);
    PQfinish(c);
}

static void
test_malformed_filter_is_a_config_error_with_exit_status_2(void **state)
{
    const char *extra[] = {"-X", "cdc.table_filters=public.a,orders", "-X",
                           "cdc.operations=insert,upsert", NULL};
    const char *name = "it_filters_bad";
    pid_t pid;

    (void) state;
    unlink(it_daemon_log(name));
    pid = it_daemon_start(name, name, extra);
    assert_int_equal(it_daemon_wait(pid, 30000), 2);
    assert_log_has(name, "<override>: cdc.table_filters: item 2: \"orders\" has no schema part: "
                         "write schema.table, e.g. public.orders or *.orders\n");
    assert_log_has(name, "<override>: cdc.operations: unknown operation \"upsert\": use insert, "
                         "update, delete, truncate or ddl\n");
}

/* ---- MariaDB ---- */

#define MYDB  "it_filters_my"
#define MYDB2 "it_filters_my2"

static void
test_mariadb_globs_excludes_and_operations(void **state)
{
    const char *extra[] = {"-X",
                           "cdc.table_filters=" MYDB ".*,*.audit_*",
                           "-X",
                           "cdc.table_excludes=" MYDB ".secret",
                           "-X",
                           "cdc.operations=insert,delete",
                           "--exit-when-idle",
                           "2000",
                           NULL};
    char path[600];
    MYSQL *c = it_my_connect(NULL);

    (void) state;
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), MYDB);
    unlink(path);
    unlink(it_daemon_log(MYDB));
    it_stream_delete(MYDB);
    it_my(c, "DROP DATABASE IF EXISTS " MYDB);
    it_my(c, "DROP DATABASE IF EXISTS " MYDB2);
    it_my(c, "CREATE DATABASE " MYDB);
    it_my(c, "CREATE DATABASE " MYDB2);
    it_my(c, "CREATE TABLE " MYDB ".a (id INT PRIMARY KEY, v INT)");
    it_my(c, "CREATE TABLE " MYDB ".secret (id INT PRIMARY KEY, v INT)");
    it_my(c, "CREATE TABLE " MYDB2 ".audit_log (id INT PRIMARY KEY, v INT)");
    it_my(c, "CREATE TABLE " MYDB2 ".other (id INT PRIMARY KEY, v INT)");
    it_my(c, "USE " MYDB);
    {
        pid_t pid = it_my_daemon_start(MYDB, MYDB, extra);

        it_wait_log(MYDB, "streaming from", 30000);
        it_my(c, "INSERT INTO " MYDB ".a VALUES (1, 1)");
        it_my(c, "INSERT INTO " MYDB ".secret VALUES (1, 1)");
        it_my(c, "INSERT INTO " MYDB2 ".audit_log VALUES (1, 1)");
        it_my(c, "INSERT INTO " MYDB2 ".other VALUES (1, 1)");
        it_my(c, "UPDATE " MYDB ".a SET v = 2");
        it_my(c, "DELETE FROM " MYDB ".a");
        it_my(c, "DELETE FROM " MYDB ".secret");
        /* ddl is not among the operations: no cdc.ddl event */
        it_my(c, "CREATE TABLE " MYDB ".later (id INT PRIMARY KEY)");
        it_my(c, "INSERT INTO " MYDB ".later VALUES (1)");
        assert_int_equal(it_daemon_wait(pid, 60000), 0);
    }
    assert_summary(MYDB, MYDB ".a:\"INSERT\" " MYDB2 ".audit_log:\"INSERT\" " MYDB
                              ".a:\"DELETE\" " MYDB ".later:\"INSERT\"");
    assert_log_lacks(MYDB, "level\":\"error");
    mysql_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_exact_names_and_schema_star_publish_only_included_tables),
        cmocka_unit_test(test_pg_globs_and_excludes_use_a_wider_publication_filtered_in_the_daemon),
        cmocka_unit_test(test_pg_schema_glob_publishes_all_tables),
        cmocka_unit_test(test_pg_publication_made_by_hand_is_left_alone_and_filtered_in_the_daemon),
        cmocka_unit_test(test_pg_operations_are_dropped_ids_kept_and_positions_confirmed),
        cmocka_unit_test(test_malformed_filter_is_a_config_error_with_exit_status_2),
        cmocka_unit_test(test_mariadb_globs_excludes_and_operations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
