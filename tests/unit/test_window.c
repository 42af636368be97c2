/*
 * test_window.c - the adaptive in-flight window: grows while acks are fast,
 * shrinks when they are slow, starts over small after a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/window.h"

/* A whole round of the current window's size, every ack lat_us after its publish. */
static uint32_t
round_of(struct window *w, int64_t lat_us)
{
    uint32_t n = w->cur, cur = 0;

    for (uint32_t i = 0; i < n; i++)
        cur = window_ack(w, lat_us);
    return cur;
}

static void
test_window_doubles_on_fast_rounds_up_to_batch_size(void **state)
{
    struct window w;
    /* batch_timeout 5 s: fast is under 50 ms, slow over 500 ms */
    const uint32_t want[] = {32, 64, 128, 256, 512, 1000, 1000};

    (void) state;
    window_init(&w, 1000, 5000);
    assert_int_equal(w.cur, 16);
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(round_of(&w, 1000), want[i]);
}

static void
test_window_changes_only_at_the_end_of_a_round(void **state)
{
    struct window w;

    (void) state;
    window_init(&w, 1000, 5000);
    for (int i = 0; i < 15; i++)
        assert_int_equal(window_ack(&w, 10), 16);
    assert_int_equal(window_ack(&w, 10), 32);
    for (int i = 0; i < 31; i++)
        assert_int_equal(window_ack(&w, 10), 32);
    assert_int_equal(window_ack(&w, 10), 64);
}

static void
test_window_holds_between_the_thresholds_and_halves_when_slow(void **state)
{
    struct window w;

    (void) state;
    window_init(&w, 1000, 5000);
    while (w.cur < 1000)
        round_of(&w, 1000);
    /* 100 ms: neither fast (< 50 ms) nor slow (> 500 ms) */
    assert_int_equal(round_of(&w, 100000), 1000);
    assert_int_equal(round_of(&w, 100000), 1000);
    /* 600 ms: slow */
    assert_int_equal(round_of(&w, 600000), 500);
    assert_int_equal(round_of(&w, 600000), 250);
    /* never under the smallest window */
    for (int i = 0; i < 10; i++)
        round_of(&w, 600000);
    assert_int_equal(w.cur, 16);
}

static void
test_window_judges_a_round_by_its_average(void **state)
{
    struct window w;
    uint32_t cur = 0;

    (void) state;
    window_init(&w, 1000, 5000);
    /* 15 acks at once and one after 1 s: 62.5 ms on average, not fast */
    for (int i = 0; i < 15; i++)
        window_ack(&w, 0);
    assert_int_equal(window_ack(&w, 1000000), 16);
    /* 15 at 1 ms and one at 600 ms: 38.4 ms on average, fast */
    for (int i = 0; i < 15; i++)
        window_ack(&w, 1000);
    cur = window_ack(&w, 600000);
    assert_int_equal(cur, 32);
}

static void
test_window_failure_starts_over_small(void **state)
{
    struct window w;

    (void) state;
    window_init(&w, 4000, 5000);
    while (w.cur < 4000)
        round_of(&w, 100);
    window_ack(&w, 100); /* a round under way is forgotten too */
    window_fail(&w);
    assert_int_equal(w.cur, 16);
    for (int i = 0; i < 15; i++)
        assert_int_equal(window_ack(&w, 100), 16);
    assert_int_equal(window_ack(&w, 100), 32);
}

static void
test_window_smaller_than_the_minimum_stays_whole(void **state)
{
    struct window w;

    (void) state;
    window_init(&w, 4, 5000);
    assert_int_equal(w.cur, 4);
    assert_int_equal(round_of(&w, 1), 4);
    assert_int_equal(round_of(&w, 900000), 4);
    window_fail(&w);
    assert_int_equal(w.cur, 4);
    window_init(&w, 1, 5000);
    assert_int_equal(round_of(&w, 1), 1);
}

static void
test_window_thresholds_follow_the_timeout(void **state)
{
    struct window w;

    (void) state;
    /* batch_timeout 1 s: fast under 10 ms, slow over 100 ms */
    window_init(&w, 64, 1000);
    assert_int_equal(round_of(&w, 9999), 32);
    assert_int_equal(round_of(&w, 10000), 32);
    assert_int_equal(round_of(&w, 100001), 16);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_doubles_on_fast_rounds_up_to_batch_size),
        cmocka_unit_test(test_window_changes_only_at_the_end_of_a_round),
        cmocka_unit_test(test_window_holds_between_the_thresholds_and_halves_when_slow),
        cmocka_unit_test(test_window_judges_a_round_by_its_average),
        cmocka_unit_test(test_window_failure_starts_over_small),
        cmocka_unit_test(test_window_smaller_than_the_minimum_stays_whole),
        cmocka_unit_test(test_window_thresholds_follow_the_timeout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
