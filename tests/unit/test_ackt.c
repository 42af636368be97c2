/*
 * test_ackt.c - the ack tracker never reports a position past an unacked event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "pipeline/ackt.h"

static struct ackt *
new_tracker(cdc_lsn start)
{
    struct ackt *t = NULL;
    struct cdc_err err;

    assert_int_equal(ackt_create(&t, start, &err), CDC_OK);
    return t;
}

/* Register a transaction with n events, committed. */
static void
txn(struct ackt *t, cdc_lsn commit, cdc_lsn end, int n)
{
    struct cdc_err err;

    assert_int_equal(ackt_begin(t, commit, 0, 0, &err), CDC_OK);
    for (int i = 0; i < n; i++)
        ackt_sent(t);
    ackt_commit(t, end);
}

static void
test_ackt_safe_starts_at_resume_position(void **state)
{
    struct ackt *t = new_tracker(0x100);

    (void) state;
    assert_int_equal(ackt_safe(t), 0x100);
    ackt_destroy(t);
}

/*
 * The floor read with the safe position lies below every event past it:
 * it is the floor of the oldest transaction not yet safe, or the caller's
 * current floor when nothing is pending.
 */
static void
test_ackt_position_floor_is_the_oldest_unsafe_transactions(void **state)
{
    struct ackt *t = new_tracker(0x100);
    struct cdc_err err;
    uint64_t floor;
    cdc_lsn safe;

    (void) state;
    ackt_position(t, 7, &safe, &floor);
    assert_int_equal(safe, 0x100);
    assert_int_equal(floor, 7); /* nothing tracked: the caller's floor */

    assert_int_equal(ackt_begin(t, 0x200, 10, 0, &err), CDC_OK); /* began when seq 10 was acked */
    ackt_sent(t);
    ackt_commit(t, 0x210);
    assert_int_equal(ackt_begin(t, 0x300, 11, 1700000000123456, &err), CDC_OK);
    ackt_sent(t);
    ackt_commit(t, 0x310);
    /* the second is acked first (at seq 12): the first still holds safe and floor back */
    int64_t commit_time = 0;
    assert_true(ackt_ack(t, 0x300, &commit_time));
    assert_int_equal(commit_time, 1700000000123456); /* for the commit -> ack latency */
    ackt_position(t, 12, &safe, &floor);
    assert_int_equal(safe, 0x100);
    assert_int_equal(floor, 10);
    assert_true(ackt_ack(t, 0x200, NULL));
    ackt_position(t, 13, &safe, &floor);
    assert_int_equal(safe, 0x310);
    assert_int_equal(floor, 13);
    ackt_destroy(t);
}

static void
test_ackt_advances_only_when_all_events_acked(void **state)
{
    struct ackt *t = new_tracker(0x100);

    (void) state;
    txn(t, 0x200, 0x210, 3);
    assert_int_equal(ackt_safe(t), 0x100);
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_safe(t), 0x100);
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_safe(t), 0x210);
    assert_int_equal(ackt_unacked(t), 0);
    ackt_destroy(t);
}

static void
test_ackt_never_passes_a_gap(void **state)
{
    struct ackt *t = new_tracker(0);

    (void) state;
    txn(t, 0x200, 0x210, 1);
    txn(t, 0x300, 0x310, 1);
    txn(t, 0x400, 0x410, 1);
    /* later transactions acked first: nothing is safe while 0x200 is pending */
    assert_true(ackt_ack(t, 0x400, NULL));
    assert_true(ackt_ack(t, 0x300, NULL));
    assert_int_equal(ackt_safe(t), 0);
    assert_int_equal(ackt_unacked(t), 1);
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_safe(t), 0x410);
    ackt_destroy(t);
}

static void
test_ackt_open_transaction_is_not_safe_even_if_acked(void **state)
{
    struct ackt *t = new_tracker(0);
    struct cdc_err err;

    (void) state;
    assert_int_equal(ackt_begin(t, 0x500, 0, 0, &err), CDC_OK);
    ackt_sent(t);
    assert_true(ackt_ack(t, 0x500, NULL));
    /* more events of the transaction may still come: not safe before Commit */
    assert_int_equal(ackt_safe(t), 0);
    ackt_sent(t);
    ackt_commit(t, 0x510);
    assert_int_equal(ackt_safe(t), 0);
    assert_true(ackt_ack(t, 0x500, NULL));
    assert_int_equal(ackt_safe(t), 0x510);
    ackt_destroy(t);
}

static void
test_ackt_empty_transaction_is_safe_at_commit(void **state)
{
    struct ackt *t = new_tracker(0);

    (void) state;
    txn(t, 0x200, 0x210, 0);
    assert_int_equal(ackt_safe(t), 0x210);
    /* but not past an earlier pending one */
    txn(t, 0x300, 0x310, 1);
    txn(t, 0x400, 0x410, 0);
    assert_int_equal(ackt_safe(t), 0x210);
    assert_true(ackt_ack(t, 0x300, NULL));
    assert_int_equal(ackt_safe(t), 0x410);
    ackt_destroy(t);
}

static void
test_ackt_unknown_and_excess_acks_are_ignored(void **state)
{
    struct ackt *t = new_tracker(0);

    (void) state;
    txn(t, 0x200, 0x210, 1);
    txn(t, 0x300, 0x310, 1);
    assert_false(ackt_ack(t, 0x250, NULL));
    assert_true(ackt_ack(t, 0x300, NULL));
    /* a second ack for a one-event transaction must not count */
    assert_false(ackt_ack(t, 0x300, NULL));
    assert_int_equal(ackt_safe(t), 0);
    assert_int_equal(ackt_unacked(t), 1);
    ackt_destroy(t);
}

static void
test_ackt_idle_advance_only_when_nothing_pending(void **state)
{
    struct ackt *t = new_tracker(0x100);
    struct cdc_err err;

    (void) state;
    ackt_idle_advance(t, 0x180);
    assert_int_equal(ackt_safe(t), 0x180);
    /* never backwards */
    ackt_idle_advance(t, 0x150);
    assert_int_equal(ackt_safe(t), 0x180);
    txn(t, 0x200, 0x210, 1);
    ackt_idle_advance(t, 0x900);
    assert_int_equal(ackt_safe(t), 0x180);
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_safe(t), 0x210);
    /* an open transaction with nothing sent is pending too */
    assert_int_equal(ackt_begin(t, 0x300, 0, 0, &err), CDC_OK);
    ackt_idle_advance(t, 0x900);
    assert_int_equal(ackt_safe(t), 0x210);
    ackt_destroy(t);
}

static void
test_ackt_reset_forgets_pending_and_ignores_late_acks(void **state)
{
    struct ackt *t = new_tracker(0);

    (void) state;
    txn(t, 0x200, 0x210, 2);
    ackt_reset(t, 0x150);
    assert_int_equal(ackt_safe(t), 0x150);
    assert_false(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_unacked(t), 0);
    /* the replay registers the same transaction again */
    txn(t, 0x200, 0x210, 2);
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_true(ackt_ack(t, 0x200, NULL));
    assert_int_equal(ackt_safe(t), 0x210);
    ackt_destroy(t);
}

static void
test_ackt_grows_past_initial_capacity(void **state)
{
    struct ackt *t = new_tracker(0);

    (void) state;
    for (cdc_lsn i = 1; i <= 1000; i++)
        txn(t, i * 0x100, i * 0x100 + 0x10, 1);
    for (cdc_lsn i = 1000; i >= 2; i--)
        assert_true(ackt_ack(t, i * 0x100, NULL));
    assert_int_equal(ackt_safe(t), 0);
    assert_true(ackt_ack(t, 0x100, NULL));
    assert_int_equal(ackt_safe(t), 1000 * 0x100 + 0x10);
    ackt_destroy(t);
}

struct acker {
    struct ackt *t;
    int first, step, n;
};

static void *
ack_thread(void *arg)
{
    struct acker *a = arg;

    for (int i = a->first; i < a->n; i += a->step)
        ackt_ack(a->t, (cdc_lsn) (i + 1) * 0x100, NULL);
    return NULL;
}

static void
test_ackt_concurrent_acks_reach_the_last_commit(void **state)
{
    enum { N = 20000, THREADS = 4 };
    struct ackt *t = new_tracker(0);
    pthread_t th[THREADS];
    struct acker a[THREADS];

    (void) state;
    for (int i = 0; i < N; i++)
        txn(t, (cdc_lsn) (i + 1) * 0x100, (cdc_lsn) (i + 1) * 0x100 + 0x10, 1);
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct acker){t, i, THREADS, N};
        pthread_create(&th[i], NULL, ack_thread, &a[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(ackt_unacked(t), 0);
    assert_int_equal(ackt_safe(t), (cdc_lsn) N * 0x100 + 0x10);
    ackt_destroy(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ackt_safe_starts_at_resume_position),
        cmocka_unit_test(test_ackt_position_floor_is_the_oldest_unsafe_transactions),
        cmocka_unit_test(test_ackt_advances_only_when_all_events_acked),
        cmocka_unit_test(test_ackt_never_passes_a_gap),
        cmocka_unit_test(test_ackt_open_transaction_is_not_safe_even_if_acked),
        cmocka_unit_test(test_ackt_empty_transaction_is_safe_at_commit),
        cmocka_unit_test(test_ackt_unknown_and_excess_acks_are_ignored),
        cmocka_unit_test(test_ackt_idle_advance_only_when_nothing_pending),
        cmocka_unit_test(test_ackt_reset_forgets_pending_and_ignores_late_acks),
        cmocka_unit_test(test_ackt_grows_past_initial_capacity),
        cmocka_unit_test(test_ackt_concurrent_acks_reach_the_last_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
