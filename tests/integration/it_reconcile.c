/*
 * it_reconcile.c - reconciliation at start (issue 3, section 4), against the
 * fixture's PostgreSQL and nats-server:
 *
 * - the duplicate window exceeded: the daemon is killed after publishing but
 *   before any checkpoint, we wait past the stream's (short) duplicate window
 *   and one event is removed from the stream (as if its publish had never
 *   been acked); the restart replays from the checkpoint, publishes only the
 *   removed event again, and the stream ends with every row exactly once;
 * - a checkpoint of another database system: refused, naming both ids;
 * - the slot dropped behind a checkpoint: refused, then accepted with
 *   --accept-slot-position.
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

#include <nats/nats.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

/* How many stream messages carry each row id (after.id), 1..rows. */
static void
count_rows(const char *name, int rows, int *counts, int *total)
{
    struct it_msgs ms;

    memset(counts, 0, sizeof(int) * (size_t) (rows + 1));
    it_read_stream(name, &ms);
    for (int i = 0; i < ms.n; i++) {
        char *after = it_json_member(ms.v[i].data, "after");
        char *id = after ? it_json_member(after, "id") : NULL;
        long v = id ? strtol(id, NULL, 10) : -1;

        assert_true(v >= 1 && v <= rows);
        counts[v]++;
        free(id);
        free(after);
    }
    *total = ms.n;
    it_msgs_free(&ms);
}

/* Delete stream message `seq` of the stream for `name`, as if it had never been stored. */
static void
delete_stream_msg(const char *name, uint64_t seq)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;

    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_DeleteMsg(js, it_stream_name(name), seq, NULL, &jerr), NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static bool
log_has(const char *name, const char *needle)
{
    char *log = it_slurp(it_daemon_log(name));
    bool found = strstr(log, needle) != NULL;

    free(log);
    return found;
}

#define DW_NAME "it_recon_dw"
#define DW_ROWS 1100

static void
test_replay_past_the_duplicate_window_publishes_nothing_twice(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1500", "-X", "nats.duplicate_window=1s", NULL};
    const char *no_ckpt[] = {"-X", "nats.duplicate_window=1s", "-X", "cdc.checkpoint_interval=1h",
                             NULL};
    int counts[DW_ROWS + 1], total, missing = 0, doubled = 0;
    struct it_msgs ms;
    uint64_t victim_seq = 0;
    int victim_id = 0;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(DW_NAME);
    it_sql(c, "CREATE TABLE items (id int PRIMARY KEY, v text)");

    /* run 1: 100 rows, then a clean stop: the checkpoint holds them */
    pid = it_daemon_start(DW_NAME, DW_NAME, idle);
    it_wait_slot_active(c, DW_NAME);
    it_sql(c, "INSERT INTO items SELECT g, 'a' FROM generate_series(1, 100) g");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_int_equal(it_wait_stream_count(DW_NAME, 100, 10000), 100);

    /* run 2: 1000 more rows in 10 transactions are published, no checkpoint is written */
    pid = it_daemon_start(DW_NAME, DW_NAME, no_ckpt);
    it_wait_slot_active(c, DW_NAME);
    for (int t = 0; t < 10; t++)
        it_sql(c, "INSERT INTO items SELECT g, 'b' FROM generate_series(%d, %d) g", 101 + t * 100,
               200 + t * 100);
    assert_int_equal(it_wait_stream_count(DW_NAME, DW_ROWS, 30000), DW_ROWS);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);

    /* one event of the middle of run 2 goes missing from the stream */
    it_read_stream(DW_NAME, &ms);
    for (int i = 0; i < ms.n; i++) {
        char *after = it_json_member(ms.v[i].data, "after");
        char *id = it_json_member(after, "id");

        if (strcmp(id, "642") == 0) {
            victim_seq = ms.v[i].seq;
            victim_id = 642;
        }
        free(id);
        free(after);
    }
    it_msgs_free(&ms);
    assert_int_equal(victim_id, 642);
    delete_stream_msg(DW_NAME, victim_seq);
    /* past the duplicate window: the broker would store every replay again */
    usleep(2500000);

    /* run 3: replays from the checkpoint (after row 100) */
    pid = it_daemon_start(DW_NAME, DW_NAME, idle);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    count_rows(DW_NAME, DW_ROWS, counts, &total);
    for (int id = 1; id <= DW_ROWS; id++) {
        missing += counts[id] == 0;
        doubled += counts[id] > 1;
    }
    print_message("after the replay: %d messages, %d rows missing, %d rows doubled\n", total,
                  missing, doubled);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(total, DW_ROWS);
    assert_true(log_has(DW_NAME, "999 events of this source are past the checkpoint"));
    assert_true(log_has(DW_NAME, "shorter than 3 x cdc.checkpoint_interval"));
    PQfinish(c);
}

#define SYS_NAME "it_recon_sys"

/* Rewrite the checkpoint file of `name` with another system identifier. */
static void
forge_system_id(const char *name, const char *system_id)
{
    char path[512], url[600];
    struct ckpt_store *s = NULL;
    struct ckpt_record rec;
    struct cdc_err err;
    bool found = false;

    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    snprintf(url, sizeof(url), "file://%s", path);
    assert_int_equal(ckpt_open(&s, url, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &rec, &found, &err), CDC_OK);
    assert_true(found);
    snprintf(rec.system_id, sizeof(rec.system_id), "%s", system_id);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_OK);
    ckpt_close(s);
}

static void
test_checkpoint_of_another_database_system_is_refused(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1000", NULL};
    char *log;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(SYS_NAME);
    it_sql(c, "CREATE TABLE items (id int PRIMARY KEY)");
    pid = it_daemon_start(SYS_NAME, SYS_NAME, idle);
    it_wait_slot_active(c, SYS_NAME);
    it_sql(c, "INSERT INTO items VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    forge_system_id(SYS_NAME, "7000000000000000001");
    pid = it_daemon_start(SYS_NAME, SYS_NAME, idle);
    assert_int_equal(it_daemon_wait(pid, 30000), 1);
    log = it_slurp(it_daemon_log(SYS_NAME));
    assert_non_null(strstr(log, "belongs to database system 7000000000000000001 but the server is "
                                "system "));
    free(log);
    PQfinish(c);
}

#define SLOT_NAME "it_recon_slot"

static void
test_slot_dropped_behind_a_checkpoint_is_refused_unless_accepted(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1000", NULL};
    const char *accept[] = {"--exit-when-idle", "1500", "--accept-slot-position", NULL};
    char *log, *n;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(SLOT_NAME);
    it_sql(c, "CREATE TABLE items (id int PRIMARY KEY)");
    pid = it_daemon_start(SLOT_NAME, SLOT_NAME, idle);
    it_wait_slot_active(c, SLOT_NAME);
    it_sql(c, "INSERT INTO items VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_sql(c, "SELECT pg_drop_replication_slot('%s')", SLOT_NAME);
    pid = it_daemon_start(SLOT_NAME, SLOT_NAME, idle);
    assert_int_equal(it_daemon_wait(pid, 30000), 1);
    log = it_slurp(it_daemon_log(SLOT_NAME));
    assert_non_null(strstr(log, "replication slot \\\"" SLOT_NAME "\\\" does not exist but "
                                "checkpoint"));
    assert_non_null(strstr(log, "--accept-slot-position to create a new slot"));
    free(log);
    /* refused without a side effect: no slot was created */
    n = it_sql_value(c, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'",
                     SLOT_NAME);
    assert_string_equal(n, "0");
    free(n);

    pid = it_daemon_start(SLOT_NAME, SLOT_NAME, accept);
    it_wait_slot_active(c, SLOT_NAME);
    it_sql(c, "INSERT INTO items VALUES (2)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    assert_int_equal(it_wait_stream_count(SLOT_NAME, 2, 10000), 2);
    PQfinish(c);
}

#define LOST_NAME "it_recon_lost"

/* A slot invalidated by max_slot_wal_keep_size: a fatal error with the recovery steps. */
static void
test_invalidated_slot_is_a_fatal_error_with_the_recovery_steps(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1000", NULL};
    char x_http[48];
    const char *daemon[] = {"-X", x_http, NULL};
    char *log, *st = NULL, *body;
    int64_t t0, took, looks;
    int http = it_free_port(), status;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(LOST_NAME);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start(LOST_NAME, LOST_NAME, idle);
    it_wait_slot_active(c, LOST_NAME);
    it_sql(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    /* while it is stopped, PostgreSQL may drop the WAL the slot needs beyond 1 MB */
    it_sql(c, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    it_sql(c, "SELECT pg_reload_conf()");
    for (int i = 0; i < 20 && (st == NULL || strcmp(st, "lost") != 0); i++) {
        free(st);
        it_sql(c, "INSERT INTO t SELECT g FROM generate_series(%d, %d) g", 2 + i * 1000,
               1001 + i * 1000);
        free(it_sql_value(c, "SELECT pg_switch_wal()::text"));
        it_sql(c, "CHECKPOINT");
        st = it_sql_value(c, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'",
                          LOST_NAME);
    }
    it_sql(c, "ALTER SYSTEM RESET max_slot_wal_keep_size");
    it_sql(c, "SELECT pg_reload_conf()");
    assert_string_equal(st, "lost");
    free(st);

    /* as a tool (a stop condition given): exit 1 at once, with the recovery steps */
    t0 = it_now_ms();
    pid = it_daemon_start(LOST_NAME, LOST_NAME, idle);
    assert_int_equal(it_daemon_wait(pid, 30000), 1);
    took = it_now_ms() - t0;
    log = it_slurp(it_daemon_log(LOST_NAME));
    assert_non_null(strstr(log, "was invalidated (wal_status lost)"));
    assert_non_null(strstr(log, "pg_drop_replication_slot('" LOST_NAME "')"));
    free(log);

    /* as a daemon: no crash loop under a supervisor. It stays up, not ready, naming the error,
       and looks again after a backoff (at least half of 1 s, then of 2 s, ...) */
    unlink(it_daemon_log(LOST_NAME));
    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    t0 = it_now_ms();
    pid = it_daemon_start(LOST_NAME, LOST_NAME, daemon);
    it_wait_log(LOST_NAME, "not ready, looking again in", 30000);
    body = it_http_get(http, "/ready", &status);
    assert_int_equal(status, 503);
    assert_non_null(body);
    assert_non_null(strstr(body, "was invalidated (wal_status lost)"));
    free(body);
    body = it_http_get(http, "/health", &status);
    assert_int_equal(status, 200);
    free(body);
    it_wait_log(LOST_NAME, "(attempt 3)", 30000);
    looks = it_now_ms() - t0;
    log = it_slurp(it_daemon_log(LOST_NAME));
    /* three looks took at least 0.5 + 1 s of waiting; the daemon never streamed */
    assert_true(looks >= 1500);
    assert_null(strstr(log, "streaming from"));
    assert_non_null(strstr(log, "pg_drop_replication_slot('" LOST_NAME "')"));
    free(log);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 10000), 1);
    print_message("scenario 10: PASS slot invalidated by max_slot_wal_keep_size: \"was invalidated "
                  "(wal_status lost)\" with the recovery steps; as a tool exit 1 after %lld ms; as "
                  "a daemon up and not ready (/ready 503 naming it), looking again with backoff "
                  "(3 looks in %lld ms), exit 1 on SIGTERM\n",
                  (long long) took, (long long) looks);
    it_sql(c, "SELECT pg_drop_replication_slot('%s')", LOST_NAME);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_past_the_duplicate_window_publishes_nothing_twice),
        cmocka_unit_test(test_checkpoint_of_another_database_system_is_refused),
        cmocka_unit_test(test_slot_dropped_behind_a_checkpoint_is_refused_unless_accepted),
        cmocka_unit_test(test_invalidated_slot_is_a_fatal_error_with_the_recovery_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
