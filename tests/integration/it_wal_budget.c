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
    cdc_lsn start, end, confirmed;
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
    rate = (double) (end - start) * 1000.0 / (double) (t1 - t0);
    budget = 2.0 * 1.0 * rate; /* two intervals of 1 s */
    print_message("WAL written %.1f MiB at %.1f MiB/s; the idle slot holds back %.1f KiB "
                  "(budget %.1f KiB)\n",
                  (double) (end - start) / 1048576.0, rate / 1048576.0,
                  (double) (current_lsn(busy) - confirmed) / 1024.0, budget / 1024.0);
    assert_true(end - start > 4 * 1048576); /* the load did write WAL */
    assert_true((double) (current_lsn(busy) - confirmed) <= budget);

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    log = it_slurp(it_daemon_log(IDLE));
    assert_non_null(strstr(log, "heartbeat written after"));
    free(log);
    it_read_stream(IDLE, &ms);
    assert_int_equal(ms.n, 0); /* heartbeats are not events */
    it_msgs_free(&ms);
    PQfinish(busy);
    PQfinish(idle);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_database_slot_keeps_up_with_heartbeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
