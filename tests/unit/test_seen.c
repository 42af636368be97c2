/*
 * test_seen.c - the set of events already in the stream: exact membership,
 * through growth, with no false positives for neighbours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/seen.h"

static void
test_seen_empty_has_nothing(void **state)
{
    struct seen s;

    (void) state;
    seen_init(&s);
    assert_false(seen_has(&s, 0, 0));
    assert_false(seen_has(&s, 0x100, 3));
    seen_free(&s);
}

/* 100k events over 1000 transactions: every one found, every neighbour not. */
static void
test_seen_exact_through_growth(void **state)
{
    struct cdc_err err;
    struct seen s;

    (void) state;
    seen_init(&s);
    for (uint32_t t = 0; t < 1000; t++)
        for (uint32_t q = 0; q < 100; q += 1)
            if (q != 50) /* one event of each transaction is missing from the stream */
                assert_int_equal(seen_add(&s, 0x1000 + (cdc_lsn) t * 0x40, q, &err), CDC_OK);
    assert_int_equal(s.n, 1000 * 99);
    assert_int_equal(s.max_commit, 0x1000 + 999 * 0x40);
    for (uint32_t t = 0; t < 1000; t++) {
        cdc_lsn c = 0x1000 + (cdc_lsn) t * 0x40;

        assert_true(seen_has(&s, c, 0));
        assert_true(seen_has(&s, c, 99));
        assert_false(seen_has(&s, c, 50));
        assert_false(seen_has(&s, c, 100));
        assert_false(seen_has(&s, c + 1, 0));
    }
    assert_false(seen_has(&s, 0x1000 + 1000 * 0x40, 0)); /* past the highest commit */
    seen_free(&s);
}

static void
test_seen_adding_twice_counts_once(void **state)
{
    struct cdc_err err;
    struct seen s;

    (void) state;
    seen_init(&s);
    assert_int_equal(seen_add(&s, 0x500, 0, &err), CDC_OK);
    assert_int_equal(seen_add(&s, 0x500, 0, &err), CDC_OK);
    assert_int_equal(s.n, 1);
    /* seq 0xFFFFFFFF is a real sequence, not the free-slot marker */
    assert_int_equal(seen_add(&s, 0x500, UINT32_MAX, &err), CDC_OK);
    assert_true(seen_has(&s, 0x500, UINT32_MAX));
    assert_int_equal(s.n, 2);
    seen_free(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seen_empty_has_nothing),
        cmocka_unit_test(test_seen_exact_through_growth),
        cmocka_unit_test(test_seen_adding_twice_counts_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
