/*
 * it_crash.c - kill -9 of the daemon during a 100k-row load, then a restart:
 * every row is in the stream exactly once, and at the moment of each kill the
 * slot's confirmed_flush_lsn had not passed any transaction whose events were
 * not in the stream (the slot never runs ahead of the acks).
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

#define NAME    "it_crash"
#define ROWS    100000
#define PER_TXN 100
#define TXNS    (ROWS / PER_TXN)

static cdc_lsn
    after_commit[TXNS]; /* pg_current_wal_lsn() read just after each commit: >= its end */

static cdc_lsn
lsn_value(PGconn *c, const char *sql)
{
    char *v = it_sql_value(c, "%s", sql);
    cdc_lsn l = 0;

    if (v == NULL || !cdc_lsn_parse(v, &l))
        fail_msg("not an LSN: %s", v ? v : "NULL");
    free(v);
    return l;
}

/* ids seen in the stream: counts[id] */
static void
count_ids(struct it_msgs *ms, int *counts)
{
    memset(counts, 0, sizeof(int) * (ROWS + 1));
    for (int i = 0; i < ms->n; i++) {
        char *after = it_json_member(ms->v[i].data, "after"), *id;
        long v;

        assert_non_null(after);
        id = it_json_member(after, "id");
        assert_non_null(id);
        v = strtol(id, NULL, 10);
        assert_true(v >= 1 && v <= ROWS);
        counts[v]++;
        free(id);
        free(after);
    }
}

/*
 * The daemon is dead: nothing more can be acked. Every transaction that the
 * slot confirmed must be entirely in the stream.
 */
static void
check_slot_not_ahead(PGconn *c, int txns_done)
{
    cdc_lsn confirmed = it_slot_confirmed(c, NAME);
    struct it_msgs ms;
    int *counts = malloc(sizeof(int) * (ROWS + 1)), checked = 0;

    it_read_stream(NAME, &ms);
    count_ids(&ms, counts);
    for (int t = 0; t < txns_done; t++) {
        if (after_commit[t] > confirmed)
            break;
        for (int r = 1; r <= PER_TXN; r++) {
            int id = t * PER_TXN + r;

            if (counts[id] == 0)
                fail_msg("slot confirmed " CDC_LSN_FMT " past transaction %d whose row %d is not "
                         "in the stream",
                         CDC_LSN_ARGS(confirmed), t, id);
        }
        checked++;
    }
    print_message("after kill: slot at " CDC_LSN_FMT ", %d transactions confirmed and all in the "
                  "stream (%d messages)\n",
                  CDC_LSN_ARGS(confirmed), checked, ms.n);
    /* the confirmations did move: the check above was not vacuous */
    assert_true(checked > 0);
    it_msgs_free(&ms);
    free(counts);
}

static void
load(PGconn *c, int from, int to)
{
    for (int t = from; t < to; t++) {
        it_sql(c, "INSERT INTO items SELECT g, md5(g::text), now() FROM generate_series(%d, %d) g",
               t * PER_TXN + 1, (t + 1) * PER_TXN);
        after_commit[t] = lsn_value(c, "SELECT pg_current_wal_lsn()");
    }
}

static void
test_kill9_during_load_loses_and_duplicates_nothing(void **state)
{
    const char *idle[] = {"--exit-when-idle", "3000", NULL};
    struct it_msgs ms;
    int *counts, missing = 0, doubled = 0;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TABLE items (id int PRIMARY KEY, payload text, at timestamptz)");

    pid = it_daemon_start(NAME, NAME, NULL);
    it_wait_slot_active(c, NAME);
    load(c, 0, TXNS / 4);
    /* let some acks and checkpoints happen, then kill in the middle of the load */
    usleep(700000);
    load(c, TXNS / 4, TXNS / 3);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    check_slot_not_ahead(c, TXNS / 3);

    pid = it_daemon_start(NAME, NAME, NULL);
    it_wait_slot_active(c, NAME);
    load(c, TXNS / 3, (2 * TXNS) / 3);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    check_slot_not_ahead(c, (2 * TXNS) / 3);

    pid = it_daemon_start(NAME, NAME, idle);
    it_wait_slot_active(c, NAME);
    load(c, (2 * TXNS) / 3, TXNS);
    assert_int_equal(it_daemon_wait(pid, 300000), 0);

    it_read_stream(NAME, &ms);
    counts = malloc(sizeof(int) * (ROWS + 1));
    count_ids(&ms, counts);
    for (int id = 1; id <= ROWS; id++) {
        missing += counts[id] == 0;
        doubled += counts[id] > 1;
    }
    print_message("stream holds %d messages: %d rows missing, %d rows more than once\n", ms.n,
                  missing, doubled);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(ms.n, ROWS);
    free(counts);
    it_msgs_free(&ms);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_during_load_loses_and_duplicates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
