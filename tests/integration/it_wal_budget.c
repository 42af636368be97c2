/*
 * it_wal_budget.c - scenario 9 of issue 6: the daemon streams from an idle
 * database while another database of the same server writes a lot of WAL.
 * The slot's confirmed position keeps up: the WAL it holds back stays under
 * two heartbeat intervals' worth of the write rate. The heartbeats are written
 * (the log says so) and not published.
 *
 * Measured while writing this test: the same run with heartbeats off also
 * holds back nothing, because the daemon confirms the position of every
 * keepalive the walsender sends while nothing is pending (ackt_idle_advance).
 * The heartbeat is the second guard, for servers whose walsender has nothing
 * of this database to decode for a long time (RDS writes its own heartbeat
 * into another database only every 5 minutes).
 *
 * With cdc.heartbeat_topic each heartbeat written is also announced on
 * {prefix}.heartbeat.{database} (core NATS, JSON with the database, the
 * source, the heartbeat's LSN and the time); without it nothing is.
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

#include "core/lsn.h"
#include "itlib.h"

#define IDLE "it_wal_idle"
#define BUSY "it_wal_busy"

static cdc_lsn
current_lsn(PGconn *c)
{
    char *v = it_sql_value(c, "SELECT pg_current_wal_lsn()");
    cdc_lsn l = 0;

    assert_true(v != NULL && cdc_lsn_parse(v, &l));
    free(v);
    return l;
}

static void
test_idle_database_slot_keeps_up_with_heartbeats(void **state)
{
    const char *extra[] = {"-X", "cdc.heartbeat_interval=1s", NULL};
    PGconn *idle, *busy;
    cdc_lsn start, end, confirmed, held;
    int64_t t0, t1;
    double rate, budget;
    struct it_msgs ms;
    char *log;
    pid_t pid;

    (void) state;
    idle = it_fresh_db(IDLE);
    it_sql(idle, "CREATE TABLE quiet (id int PRIMARY KEY)");
    busy = it_fresh_db(BUSY);
    it_sql(busy, "CREATE TABLE noise (id bigint, pad text)");
    unlink(it_daemon_log(IDLE));
    pid = it_daemon_start(IDLE, IDLE, extra);
    it_wait_slot_active(idle, IDLE);

    start = current_lsn(busy);
    t0 = it_now_ms();
    for (int i = 0; it_now_ms() - t0 < 6000; i++) {
        it_sql(busy, "INSERT INTO noise SELECT g, md5(g::text) FROM generate_series(%d, %d) g",
               i * 2000, i * 2000 + 1999);
        usleep(100000);
    }
    end = current_lsn(busy);
    t1 = it_now_ms();
    usleep(2500000); /* two heartbeat intervals and a bit: the last heartbeat is confirmed */
    confirmed = it_slot_confirmed(idle, IDLE);
    held = current_lsn(busy) - confirmed;
    rate = (double) (end - start) * 1000.0 / (double) (t1 - t0);
    budget = 2.0 * 1.0 * rate; /* two intervals of 1 s */
    print_message("WAL written %.1f MiB at %.1f MiB/s; the idle slot holds back %.1f KiB "
                  "(budget %.1f KiB)\n",
                  (double) (end - start) / 1048576.0, rate / 1048576.0, (double) held / 1024.0,
                  budget / 1024.0);
    assert_true(end - start > 4 * 1048576); /* the load did write WAL */
    assert_true((double) held <= budget);

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    log = it_slurp(it_daemon_log(IDLE));
    assert_non_null(strstr(log, "heartbeat written after"));
    free(log);
    it_read_stream(IDLE, &ms);
    assert_int_equal(ms.n, 0); /* heartbeats are not events */
    it_msgs_free(&ms);
    print_message("scenario 9: PASS idle database, heartbeat every 1 s: its slot holds back %.1f "
                  "KiB (budget %.1f KiB, two intervals of %.1f MiB/s written elsewhere); no "
                  "heartbeat published as an event\n",
                  (double) held / 1024.0, budget / 1024.0, rate / 1048576.0);
    PQfinish(busy);
    PQfinish(idle);
}

#define HB "it_wal_hbtopic"

/*
 * Run the daemon on the idle database HB with heartbeats every second and
 * cdc.heartbeat_topic=topic, subscribed to HB.heartbeat.HB for listen_ms.
 * Returns how many announcements arrived; checks each one's fields and that
 * their LSNs grow.
 */
static int
listen_heartbeats(const char *topic, int listen_ms)
{
    char x_topic[64];
    const char *extra[] = {"-X", "cdc.heartbeat_interval=1s", "-X", x_topic, NULL};
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    cdc_lsn prev = 0;
    int64_t t0;
    int n = 0;
    char *log;
    pid_t pid;

    snprintf(x_topic, sizeof(x_topic), "cdc.heartbeat_topic=%s", topic);
    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, HB ".heartbeat." HB), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    unlink(it_daemon_log(HB));
    pid = it_daemon_start(HB, HB, extra);
    t0 = it_now_ms();
    while (it_now_ms() - t0 < listen_ms) {
        natsMsg *m = NULL;
        char *db, *src, *lsn, *ts;
        cdc_lsn l = 0;

        if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK)
            continue;
        print_message("on %s: %.*s\n", natsMsg_GetSubject(m), natsMsg_GetDataLength(m),
                      natsMsg_GetData(m));
        db = it_json_member(natsMsg_GetData(m), "database");
        src = it_json_member(natsMsg_GetData(m), "source");
        lsn = it_json_member(natsMsg_GetData(m), "lsn");
        ts = it_json_member(natsMsg_GetData(m), "ts_ms");
        assert_non_null(db);
        assert_string_equal(db, "\"" HB "\"");
        assert_non_null(src);
        assert_string_equal(src, "\"" HB "\""); /* cdc.source_name defaults to the database */
        assert_true(lsn != NULL && strlen(lsn) > 2);
        lsn[strlen(lsn) - 1] = '\0';
        assert_true(cdc_lsn_parse(lsn + 1, &l));
        assert_true(l > prev); /* each one a new transaction in the WAL */
        prev = l;
        assert_true(ts != NULL && strtoll(ts, NULL, 10) > 1600000000000LL);
        free(db);
        free(src);
        free(lsn);
        free(ts);
        natsMsg_Destroy(m);
        n++;
    }
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    log = it_slurp(it_daemon_log(HB));
    assert_non_null(strstr(log, "heartbeat written after")); /* on or off, they were written */
    free(log);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return n;
}

static void
test_heartbeat_topic_announces_each_heartbeat_only_when_on(void **state)
{
    struct it_msgs ms;
    int on, off;
    PGconn *c;

    (void) state;
    c = it_fresh_db(HB);
    it_sql(c, "CREATE TABLE quiet (id int PRIMARY KEY)");
    it_stream_delete(HB);
    on = listen_heartbeats("true", 4500);
    print_message("cdc.heartbeat_topic=true: %d heartbeats announced in 4.5 s\n", on);
    assert_true(on >= 2);
    /* the stream covers {prefix}.>, so it keeps them too, but none on a table's subject */
    it_read_stream(HB, &ms);
    for (int i = 0; i < ms.n; i++)
        assert_string_equal(ms.v[i].subject, HB ".heartbeat." HB);
    it_msgs_free(&ms);
    off = listen_heartbeats("false", 4500);
    print_message("cdc.heartbeat_topic=false: %d heartbeats announced in 4.5 s\n", off);
    assert_int_equal(off, 0);
    PQfinish(c);
}

#define THR "it_wal_thr"

/* The daemon on THR with these thresholds; the first health poll comes at once: needle in the
   log at level `level`, then the value of cdc_replication_slot_safe_wal_bytes. */
static double
run_thresholds(const char *warn, const char *error, const char *needle, const char *level)
{
    char x_http[48], x_prom[64], line[256], *log, *body, *p;
    const char *extra[] = {"-X", warn, "-X", error, "-X", x_http, "-X", x_prom, NULL};
    int http = it_free_port(), status;
    double safe;
    pid_t pid;

    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http);
    unlink(it_daemon_log(THR));
    pid = it_daemon_start(THR, THR, extra);
    it_wait_log(THR, needle, 30000);
    log = it_slurp(it_daemon_log(THR));
    p = strstr(log, needle);
    while (p > log && p[-1] != '\n')
        p--;
    snprintf(line, sizeof(line), "\"level\":\"%s\"", level);
    assert_true(strncmp(strstr(p, "\"level\""), line, strlen(line)) == 0);
    free(log);
    body = it_http_get(http, "/metrics", &status);
    assert_int_equal(status, 200);
    p = strstr(body, "\ncdc_replication_slot_safe_wal_bytes{source=");
    assert_non_null(p);
    safe = strtod(strchr(p, '}') + 1, NULL);
    free(body);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    return safe;
}

/*
 * The WAL budget's thresholds: retained WAL over cdc.slot_lag_warn_bytes is a
 * warning (and over cdc.slot_lag_error_bytes an error); with
 * max_slot_wal_keep_size set, less room than a threshold before the slot is
 * invalidated is one too, and cdc_replication_slot_safe_wal_bytes shows it.
 */
static void
test_wal_budget_thresholds_warn_and_error(void **state)
{
    PGconn *c;
    double safe;

    (void) state;
    c = it_fresh_db(THR);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    it_sql(c, "INSERT INTO t VALUES (1)");
    /* no max_slot_wal_keep_size: any retained WAL is over a 1-byte warning threshold */
    safe = run_thresholds("cdc.slot_lag_warn_bytes=1", "cdc.slot_lag_error_bytes=0",
                          "of WAL, over cdc.slot_lag_warn_bytes (1)", "warn");
    assert_int_equal(safe, -1);
    safe = run_thresholds("cdc.slot_lag_warn_bytes=0", "cdc.slot_lag_error_bytes=1",
                          "of WAL, over cdc.slot_lag_error_bytes (1)", "error");
    assert_int_equal(safe, -1);

    /* a 64 MB keep size: the room left is under 1 GiB, an error at that threshold */
    it_sql(c, "ALTER SYSTEM SET max_slot_wal_keep_size = '64MB'");
    it_sql(c, "SELECT pg_reload_conf()");
    safe = run_thresholds("cdc.slot_lag_warn_bytes=0", "cdc.slot_lag_error_bytes=1GiB",
                          "(max_slot_wal_keep_size), under cdc.slot_lag_error_bytes (1073741824)",
                          "error");
    it_sql(c, "ALTER SYSTEM RESET max_slot_wal_keep_size");
    it_sql(c, "SELECT pg_reload_conf()");
    print_message("safe_wal_size with a 64 MB max_slot_wal_keep_size: %.0f bytes\n", safe);
    /* PostgreSQL counts it to the end of the segment that would go: a little over the 64 MB */
    assert_true(safe > 0 && safe < 1024.0 * 1024 * 1024);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_database_slot_keeps_up_with_heartbeats),
        cmocka_unit_test(test_heartbeat_topic_announces_each_heartbeat_only_when_on),
        cmocka_unit_test(test_wal_budget_thresholds_warn_and_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
