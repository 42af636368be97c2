/*
 * test_jssink_subject.c - when does an existing stream's subject cover ours?
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/nats/jssink.h"

static void
test_jssink_subject_equal_or_wider_patterns_cover(void **state)
{
    (void) state;
    assert_true(jssink_subject_covers("cdc.>", "cdc.>"));
    assert_true(jssink_subject_covers(">", "cdc.>"));
    assert_true(jssink_subject_covers("*.>", "cdc.>"));
    assert_true(jssink_subject_covers("a.*.>", "a.b.>"));
}

static void
test_jssink_subject_narrower_or_other_patterns_do_not_cover(void **state)
{
    (void) state;
    assert_false(jssink_subject_covers("cdc.*", "cdc.>"));
    assert_false(jssink_subject_covers("cdc.db.>", "cdc.>"));
    assert_false(jssink_subject_covers("orders.>", "cdc.>"));
    assert_false(jssink_subject_covers("cdcx.>", "cdc.>"));
    assert_false(jssink_subject_covers("cdc", "cdc.>"));
    assert_false(jssink_subject_covers("a.b.c", "a.b.>"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jssink_subject_equal_or_wider_patterns_cover),
        cmocka_unit_test(test_jssink_subject_narrower_or_other_patterns_do_not_cover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
