/*
 * it_crashloop.c - the crash loop of issue 3: 20 kill -9s of the daemon at
 * random moments while a 3-table load of at least 50k changes (inserts,
 * updates, deletes, 5 to 35 per transaction) runs, each followed by a
 * restart. The oracle (itlib's it_oracle_check), on the stream afterwards:
 * - every change is there exactly once: for each key, the sequence of
 *   events in the stream equals the sequence of changes the load made to it
 *   (operation and value), so nothing is lost, doubled or reordered per key;
 * - the final state rebuilt from the stream equals the tables' contents.
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

#include "itlib.h"

#define NAME        "it_crashloop"
#define KILLS       20
#define MIN_CHANGES 50000

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int
count_in(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_twenty_kills_during_a_three_table_load(void **state)
{
    const char *idle[] = {"--exit-when-idle", "3000", NULL};
    uint64_t seed = (uint64_t) getpid() * 2654435761u;
    struct it_changes made = {0};
    struct it_load *load;
    char *log;
    PGconn *c;
    pid_t pid;
    int streams;

    (void) state;
    c = it_fresh_db(NAME);
    it_load_create_tables(c);
    unlink(it_daemon_log(NAME));
    pid = it_daemon_start(NAME, NAME, NULL);
    it_wait_slot_active(c, NAME);
    load = it_load_start(NAME, MIN_CHANGES, 5000);

    for (int k = 0; k < KILLS; k++) {
        usleep((useconds_t) (250000 + rnd(&seed) % 1000000)); /* 0.25 to 1.25 s */
        kill(pid, SIGKILL);
        assert_int_equal(it_daemon_wait(pid, 10000), -1);
        pid = it_daemon_start(NAME, NAME, k == KILLS - 1 ? idle : NULL);
    }
    it_load_stop(load, true, &made);
    print_message("%d kill -9s done; the load made %zu changes\n", KILLS, made.n);
    assert_true(made.n >= MIN_CHANGES);
    assert_int_equal(it_daemon_wait(pid, 300000), 0);

    log = it_slurp(it_daemon_log(NAME));
    streams = count_in(log, "streaming from");
    print_message("the daemon streamed %d times; %d restarts read the stream back\n", streams,
                  count_in(log, "will not be published again"));
    /* most kills hit a streaming daemon, not one still starting */
    assert_true(streams >= KILLS / 2);
    free(log);

    it_oracle_check(c, NAME, &made);
    print_message("scenario 1: PASS %d kill -9s under load, each followed by a restart; the "
                  "daemon streamed %d times; oracle %zu changes once, in order per key\n",
                  KILLS, streams, made.n);
    it_changes_free(&made);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_kills_during_a_three_table_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
