/*
 * test_breaker.c - the circuit breaker's state machine (core/breaker.h):
 * closed -> open at the threshold-th failure in a row, no calls while open,
 * one probe after the cool-down (half-open), closed by the probe's success,
 * open again for a full cool-down by its failure. Times are made up
 * milliseconds; the breaker reads no clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/breaker.h"

static void
test_breaker_opens_at_the_threshold_of_failures_in_a_row(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 3, 1000);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_true(breaker_allow(&b, 0));
    assert_false(breaker_failure(&b, 10));
    assert_false(breaker_failure(&b, 20));
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_true(breaker_allow(&b, 25));
    assert_true(breaker_failure(&b, 30)); /* the third: opens */
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_int_equal(b.opened, 1);
    assert_int_equal(b.opened_ms, 30);
}

static void
test_breaker_success_resets_the_count(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 3, 1000);
    assert_false(breaker_failure(&b, 1));
    assert_false(breaker_failure(&b, 2));
    breaker_success(&b);
    assert_int_equal(b.failures, 0);
    /* two more are not three in a row */
    assert_false(breaker_failure(&b, 3));
    assert_false(breaker_failure(&b, 4));
    assert_int_equal(b.state, BREAKER_CLOSED);
}

static void
test_breaker_refuses_calls_until_the_cooldown_then_lets_one_probe(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 1, 1000);
    assert_true(breaker_failure(&b, 5000));
    assert_false(breaker_allow(&b, 5000));
    assert_false(breaker_allow(&b, 5999));
    assert_int_equal(breaker_wait_ms(&b, 5000), 1000);
    assert_int_equal(breaker_wait_ms(&b, 5400), 600);
    assert_int_equal(b.state, BREAKER_OPEN);
    /* 1000 ms after opening: one probe */
    assert_int_equal(breaker_wait_ms(&b, 6000), 0);
    assert_true(breaker_allow(&b, 6000));
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    /* only one: the probe is out */
    assert_false(breaker_allow(&b, 6001));
    assert_false(breaker_allow(&b, 9000));
    assert_int_equal(breaker_wait_ms(&b, 9000), 1000);
}

static void
test_breaker_closes_when_the_probe_succeeds(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 2, 100);
    breaker_failure(&b, 0);
    breaker_failure(&b, 0);
    assert_true(breaker_allow(&b, 100));
    breaker_success(&b);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(b.failures, 0);
    assert_true(breaker_allow(&b, 101));
    assert_true(breaker_allow(&b, 102));
    assert_int_equal(breaker_wait_ms(&b, 102), 0);
    /* closed again: it takes the threshold (2) failures to open */
    assert_false(breaker_failure(&b, 200));
    assert_true(breaker_failure(&b, 201));
}

static void
test_breaker_reopens_for_a_full_cooldown_when_the_probe_fails(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 2, 100);
    breaker_failure(&b, 0);
    breaker_failure(&b, 0);
    assert_true(breaker_allow(&b, 150));
    assert_true(breaker_failure(&b, 160)); /* a single failed probe reopens */
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_int_equal(b.opened, 2);
    assert_false(breaker_allow(&b, 259));
    assert_int_equal(breaker_wait_ms(&b, 200), 60);
    assert_true(breaker_allow(&b, 260));
}

static void
test_breaker_with_threshold_zero_never_opens(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 0, 100);
    for (int i = 0; i < 1000; i++)
        assert_false(breaker_failure(&b, i));
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(b.failures, 1000);
    assert_true(breaker_allow(&b, 1000));
}

static void
test_breaker_failure_while_open_does_not_restart_the_cooldown(void **state)
{
    struct breaker b;

    (void) state;
    breaker_init(&b, 1, 100);
    breaker_failure(&b, 0);
    assert_false(breaker_failure(&b, 50)); /* called without asking: counted only */
    assert_int_equal(b.opened_ms, 0);
    assert_int_equal(b.opened, 1);
    assert_true(breaker_allow(&b, 100));
}

static void
test_breaker_state_names(void **state)
{
    (void) state;
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
    /* the gauge's documented values */
    assert_int_equal(BREAKER_CLOSED, 0);
    assert_int_equal(BREAKER_OPEN, 1);
    assert_int_equal(BREAKER_HALF_OPEN, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_opens_at_the_threshold_of_failures_in_a_row),
        cmocka_unit_test(test_breaker_success_resets_the_count),
        cmocka_unit_test(test_breaker_refuses_calls_until_the_cooldown_then_lets_one_probe),
        cmocka_unit_test(test_breaker_closes_when_the_probe_succeeds),
        cmocka_unit_test(test_breaker_reopens_for_a_full_cooldown_when_the_probe_fails),
        cmocka_unit_test(test_breaker_with_threshold_zero_never_opens),
        cmocka_unit_test(test_breaker_failure_while_open_does_not_restart_the_cooldown),
        cmocka_unit_test(test_breaker_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
