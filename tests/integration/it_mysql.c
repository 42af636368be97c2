/*
 * it_mysql.c - the MariaDB source end to end: the fixture's MariaDB (binlog
 * ROW, FULL image and metadata, GTIDs) -> cdc-handler -> JetStream.
 * - every column type of docs/EVENTS.md in one row, its "after" image
 *   compared with JSON written by hand from that table, and the binlog
 *   metadata (file, GTID, server_id, zero dates);
 * - a multi-statement transaction (insert, update, delete: one commit key,
 *   sequence 0..n), then DDL: a cdc.ddl event in order, and the new column's
 *   name in the rows after it;
 * - kill -9 twice during a load with two binlog rotations, restarts that
 *   resume from the GTID position and (checkpoint without one) from file and
 *   position: every row exactly once;
 * - binlogs purged while the daemon was stopped: a fatal error naming the
 *   position, exit status 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

/* A fresh database `db`, and no checkpoint, stream or log left from an earlier run of `db`. */
static MYSQL *
my_fresh_db(const char *db)
{
    MYSQL *c = it_my_connect(NULL);
    char path[600];

    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), db);
    unlink(path);
    unlink(it_daemon_log(db));
    it_stream_delete(db);

    it_my(c, "DROP DATABASE IF EXISTS `%s`", db);
    it_my(c, "CREATE DATABASE `%s`", db);
    it_my(c, "USE `%s`", db);
    return c;
}

#define TYPES "it_my_types"

static void
test_every_type_end_to_end(void **state)
{
    const char *idle[] = {"--exit-when-idle", "2000", NULL};
    struct it_msgs ms;
    char *after, *meta, *v;
    MYSQL *c;
    pid_t pid;

    (void) state;
    c = my_fresh_db(TYPES);
    unlink(it_daemon_log(TYPES));
    it_my(c, "CREATE TABLE t (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, "
             "mi MEDIUMINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec1 DECIMAL(10,4), "
             "dec2 DECIMAL(6,4), dt DATE, tm TIME(6), tm0 TIME, dtm DATETIME(3), "
             "ts TIMESTAMP(1) NULL, yr YEAR, c CHAR(5), vc VARCHAR(20) CHARACTER SET utf8mb4, "
             "vl VARCHAR(20) CHARACTER SET latin1, bn BINARY(4), vb VARBINARY(8), bl BLOB, "
             "tx TEXT, en ENUM('new','paid','shipped'), st SET('a','b','c'), bt BIT(10), "
             "js JSON, g POINT, u UUID, i6 INET6, nl INT, zd DATE)");
    pid = it_my_daemon_start(TYPES, TYPES, idle);
    it_wait_log(TYPES, "streaming from", 30000);
    it_my(c, "SET time_zone = '+00:00', sql_mode = ''");
    it_my(c, "INSERT INTO t VALUES (1, -128, 255, -32768, 8388607, 18446744073709551615, 1.5, "
             "0.1, -1234.5678, 0.05, '2024-01-02', '-838:59:59.000000', '100:00:00', "
             "'2024-01-02 03:04:05.123', '2024-01-02 03:04:05.5', 2024, 'ab', "
             "'h\xc3\xa9llo \xf0\x9f\x98\x80', 'caf\xc3\xa9', 0x01, 0xDEADBEEF, 'hello', 'text', "
             "'paid', 'a,c', b'1000000001', '{\"a\":1}', ST_GeomFromText('POINT(1 2)'), "
             "'123e4567-e89b-12d3-a456-426614174000', '2001:db8::', NULL, '0000-00-00')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(TYPES, &ms);
    assert_int_equal(ms.n, 1);
    assert_string_equal(ms.v[0].subject, TYPES "." TYPES "." TYPES ".t");
    after = it_json_member(ms.v[0].data, "after");
    assert_non_null(after);
    /* every value written by hand from docs/EVENTS.md's MySQL table */
    assert_string_equal(
        after, "{\"id\":1,\"ti\":-128,\"tu\":255,\"si\":-32768,\"mi\":8388607,"
               "\"bu\":18446744073709551615,\"f\":1.5,\"d\":0.1,\"dec1\":\"-1234.5678\","
               "\"dec2\":\"0.0500\",\"dt\":\"2024-01-02\",\"tm\":\"-838:59:59.000000\","
               "\"tm0\":\"100:00:00\",\"dtm\":\"2024-01-02T03:04:05.123\","
               "\"ts\":\"2024-01-02T03:04:05.5Z\",\"yr\":2024,\"c\":\"ab\","
               "\"vc\":\"h\xc3\xa9llo \xf0\x9f\x98\x80\",\"vl\":\"caf\xc3\xa9\","
               "\"bn\":\"AQAAAA==\",\"vb\":\"3q2+7w==\",\"bl\":\"aGVsbG8=\",\"tx\":\"text\","
               "\"en\":\"paid\",\"st\":\"a,c\",\"bt\":\"1000000001\",\"js\":{\"a\":1},"
               "\"g\":{\"srid\":0,\"wkb\":\"AQEAAAAAAAAAAADwPwAAAAAAAABA\"},"
               "\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"i6\":\"2001:db8::\","
               "\"nl\":null,\"zd\":null}");
    meta = it_json_member(ms.v[0].data, "metadata");
    assert_non_null(meta);
    v = it_json_member(meta, "zero_dates");
    assert_string_equal(v, "{\"zd\":\"0000-00-00\"}");
    free(v);
    v = it_json_member(meta, "server_id");
    assert_string_equal(v, "1");
    free(v);
    v = it_json_member(meta, "gtid");
    assert_true(v != NULL && strncmp(v, "\"0-1-", 5) == 0);
    free(v);
    v = it_json_member(meta, "binlog_file");
    assert_true(v != NULL && strstr(v, "binlog.") != NULL);
    free(v);
    v = it_json_member(ms.v[0].data, "operation");
    assert_string_equal(v, "\"INSERT\"");
    free(v);
    free(meta);
    free(after);
    it_msgs_free(&ms);
    mysql_close(c);
}

#define OPS "it_my_ops"

static void
test_transaction_then_ddl_in_order(void **state)
{
    const char *idle[] = {"--exit-when-idle", "2000", NULL};
    static const char *const ops[] = {"\"INSERT\"", "\"INSERT\"", "\"INSERT\"", "\"UPDATE\"",
                                      "\"DELETE\"", "\"DDL\"",    "\"INSERT\""};
    char *commit0 = NULL;
    struct it_msgs ms;
    MYSQL *c;
    pid_t pid;

    (void) state;
    c = my_fresh_db(OPS);
    unlink(it_daemon_log(OPS));
    it_my(c, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
    pid = it_my_daemon_start(OPS, OPS, idle);
    it_wait_log(OPS, "streaming from", 30000);
    it_my(c, "BEGIN");
    it_my(c, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    it_my(c, "UPDATE t SET v = 'B' WHERE id = 2");
    it_my(c, "DELETE FROM t WHERE id = 3");
    it_my(c, "COMMIT");
    it_my(c, "ALTER TABLE t ADD COLUMN note VARCHAR(10)");
    it_my(c, "INSERT INTO t VALUES (4, 'd', 'x')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(OPS, &ms);
    assert_int_equal(ms.n, 7);
    for (int i = 0; i < ms.n; i++) {
        char *op = it_json_member(ms.v[i].data, "operation");
        char *meta = it_json_member(ms.v[i].data, "metadata");
        char *seq = it_json_member(meta, "sequence");

        assert_string_equal(op, ops[i]);
        if (i < 5) {
            /* one transaction: one commit key in the ids, sequence 0..4 */
            assert_int_equal(atoi(seq), i);
            if (i == 0)
                commit0 = strndup(ms.v[i].msg_id, strlen(ms.v[i].msg_id) - 9);
            else
                assert_int_equal(strncmp(ms.v[i].msg_id, commit0, strlen(commit0)), 0);
        }
        free(op);
        free(seq);
        free(meta);
    }
    {
        char *b = it_json_member(ms.v[3].data, "before"),
             *a = it_json_member(ms.v[3].data, "after");
        char *d = it_json_member(ms.v[4].data, "before");
        char *meta = it_json_member(ms.v[5].data, "metadata"), *ddl = it_json_member(meta, "ddl");
        char *last = it_json_member(ms.v[6].data, "after");

        assert_string_equal(b, "{\"id\":2,\"v\":\"b\"}");
        assert_string_equal(a, "{\"id\":2,\"v\":\"B\"}");
        assert_string_equal(d, "{\"id\":3,\"v\":\"c\"}");
        assert_string_equal(ddl, "\"ALTER TABLE t ADD COLUMN note VARCHAR(10)\"");
        /* the schema was read again after the DDL: the new column has its name */
        assert_string_equal(last, "{\"id\":4,\"v\":\"d\",\"note\":\"x\"}");
        free(b), free(a), free(d), free(meta), free(ddl), free(last);
    }
    free(commit0);
    it_msgs_free(&ms);
    mysql_close(c);
}

#define CRASH      "it_my_crash"
#define CRASH_TXNS 200
#define CRASH_ROWS 50

static void
load(MYSQL *c, int from, int to)
{
    for (int t = from; t < to; t++) {
        char sql[8192];
        int n = snprintf(sql, sizeof(sql), "INSERT INTO k VALUES ");

        for (int r = 0; r < CRASH_ROWS; r++)
            n += snprintf(sql + n, sizeof(sql) - (size_t) n, "%s(%d, %d)", r ? "," : "",
                          t * CRASH_ROWS + r + 1, t);
        it_my(c, "%s", sql);
        if (t == CRASH_TXNS / 4 || t == CRASH_TXNS / 2)
            it_my(c, "FLUSH BINARY LOGS");
    }
}

/* Drop the GTID position from the checkpoint, so the next start resumes from file and offset. */
static void
forget_gtid_position(const char *name)
{
    char url[600];
    struct ckpt_store *s = NULL;
    struct ckpt_record rec;
    struct cdc_err err;
    bool found = false;

    snprintf(url, sizeof(url), "file://%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    assert_int_equal(ckpt_open(&s, url, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &rec, &found, &err), CDC_OK);
    assert_true(found);
    assert_true(rec.gtid_set[0] != '\0');
    assert_true(rec.binlog_file[0] != '\0');
    rec.gtid_set[0] = '\0';
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_OK);
    ckpt_close(s);
}

static void
test_kill9_and_rotation_lose_and_double_nothing(void **state)
{
    const char *idle[] = {"--exit-when-idle", "3000", NULL};
    int counts[CRASH_TXNS * CRASH_ROWS + 1] = {0}, missing = 0, doubled = 0;
    struct it_msgs ms;
    char *log;
    MYSQL *c;
    pid_t pid;

    (void) state;
    c = my_fresh_db(CRASH);
    unlink(it_daemon_log(CRASH));
    it_my(c, "CREATE TABLE k (id INT PRIMARY KEY, t INT)");
    pid = it_my_daemon_start(CRASH, CRASH, NULL);
    it_wait_log(CRASH, "streaming from", 30000);
    load(c, 0, CRASH_TXNS / 3);
    usleep(500000); /* some checkpoints */
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);

    pid = it_my_daemon_start(CRASH, CRASH, NULL); /* resumes from the GTID position */
    load(c, CRASH_TXNS / 3, 2 * CRASH_TXNS / 3);
    usleep(500000);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);

    forget_gtid_position(CRASH);
    pid = it_my_daemon_start(CRASH, CRASH, idle); /* resumes from file and offset */
    load(c, 2 * CRASH_TXNS / 3, CRASH_TXNS);
    assert_int_equal(it_daemon_wait(pid, 120000), 0);

    it_read_stream(CRASH, &ms);
    for (int i = 0; i < ms.n; i++) {
        char *after = it_json_member(ms.v[i].data, "after"), *id = it_json_member(after, "id");
        int v = atoi(id);

        assert_true(v >= 1 && v <= CRASH_TXNS * CRASH_ROWS);
        counts[v]++;
        free(id);
        free(after);
    }
    for (int id = 1; id <= CRASH_TXNS * CRASH_ROWS; id++) {
        missing += counts[id] == 0;
        doubled += counts[id] > 1;
    }
    log = it_slurp(it_daemon_log(CRASH));
    print_message("%d messages for %d rows: %d missing, %d doubled; GTID resumes: %d\n", ms.n,
                  CRASH_TXNS * CRASH_ROWS, missing, doubled,
                  (int) (strstr(log, "GTID position") != NULL));
    assert_non_null(strstr(log, ", GTID position 0-1-")); /* the second start */
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(ms.n, CRASH_TXNS * CRASH_ROWS);
    free(log);
    it_msgs_free(&ms);
    mysql_close(c);
}

#define PURGE "it_my_purge"

static void
test_purged_binlog_is_a_fatal_error_naming_the_position(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1500", NULL};
    char *log = NULL;
    MYSQL *c;
    pid_t pid;
    int rc;

    (void) state;
    c = my_fresh_db(PURGE);
    unlink(it_daemon_log(PURGE));
    it_my(c, "CREATE TABLE p (id INT PRIMARY KEY)");
    pid = it_my_daemon_start(PURGE, PURGE, idle);
    it_wait_log(PURGE, "streaming from", 30000);
    it_my(c, "INSERT INTO p VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    /* while it is stopped, more changes, and every binlog but the newest goes */
    it_my(c, "INSERT INTO p VALUES (2)");
    it_my(c, "FLUSH BINARY LOGS");
    it_my(c, "INSERT INTO p VALUES (3)");
    it_my(c, "FLUSH BINARY LOGS");
    for (int i = 0; i < 50; i++) {
        char *n;

        it_my(c, "PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 DAY");
        n = it_my_value(c, "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES "
                           "WHERE VARIABLE_NAME = 'LOG_BIN'");
        free(n);
        usleep(100000);
    }
    unlink(it_daemon_log(PURGE));
    pid = it_my_daemon_start(PURGE, PURGE, idle);
    rc = it_daemon_wait(pid, 60000);
    log = it_slurp(it_daemon_log(PURGE));
    if (rc != 1 || strstr(log, "1236") == NULL)
        fail_msg("expected exit 1 naming error 1236, got %d:\n%s", rc, log);
    free(log);
    mysql_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_end_to_end),
        cmocka_unit_test(test_transaction_then_ddl_in_order),
        cmocka_unit_test(test_kill9_and_rotation_lose_and_double_nothing),
        cmocka_unit_test(test_purged_binlog_is_a_fatal_error_naming_the_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
