/*
 * test_backoff.c - the design's 1-2-4-8 s schedule, with full jitter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backoff.h"

static void
test_backoff_ceilings_follow_the_design_schedule(void **state)
{
    struct backoff b;
    const int64_t want[] = {1000, 2000, 4000, 8000, 8000, 8000};

    (void) state;
    backoff_init(&b, 1000, 8000, 42);
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(backoff_ceiling_ms(&b), want[i]);
        (void) backoff_next_ms(&b);
    }
}

static void
test_backoff_delays_stay_within_the_ceiling_and_vary(void **state)
{
    struct backoff b;
    int64_t lo = INT64_MAX, hi = 0;

    (void) state;
    backoff_init(&b, 1000, 8000, 7);
    for (int i = 0; i < 1000; i++) {
        int64_t c, d;

        backoff_reset(&b);
        b.attempt = 3;
        c = backoff_ceiling_ms(&b);
        d = backoff_next_ms(&b);
        assert_true(d >= 0 && d <= c);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* full jitter spreads over the whole range */
    assert_true(lo < 1000);
    assert_true(hi > 7000);
}

static void
test_backoff_reset_returns_to_base(void **state)
{
    struct backoff b;

    (void) state;
    backoff_init(&b, 500, 30000, 1);
    for (int i = 0; i < 10; i++)
        (void) backoff_next_ms(&b);
    assert_int_equal(backoff_ceiling_ms(&b), 30000);
    backoff_reset(&b);
    assert_int_equal(backoff_ceiling_ms(&b), 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_ceilings_follow_the_design_schedule),
        cmocka_unit_test(test_backoff_delays_stay_within_the_ceiling_and_vary),
        cmocka_unit_test(test_backoff_reset_returns_to_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
