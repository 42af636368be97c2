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

static void
test_jssink_dlq_subject_inserts_dlq_after_the_prefix(void **state)
{
    char out[128];

    (void) state;
    jssink_dlq_subject("cdc", "cdc.orders.public.users", out, sizeof(out));
    assert_string_equal(out, "cdc.dlq.orders.public.users");
    /* a prefix of several tokens stays whole */
    jssink_dlq_subject("acme.cdc", "acme.cdc.orders.public.users", out, sizeof(out));
    assert_string_equal(out, "acme.cdc.dlq.orders.public.users");
    /* "cdcx" is not under "cdc": the whole subject goes after the dlq token */
    jssink_dlq_subject("cdc", "cdcx.a.b", out, sizeof(out));
    assert_string_equal(out, "cdc.dlq.cdcx.a.b");
    assert_string_equal(jssink_dlq_kind_name(JSSINK_DLQ_TOO_LARGE), "too_large");
    assert_string_equal(jssink_dlq_kind_name(JSSINK_DLQ_PUBLISH_FAILED), "publish_failed");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jssink_subject_equal_or_wider_patterns_cover),
        cmocka_unit_test(test_jssink_subject_narrower_or_other_patterns_do_not_cover),
        cmocka_unit_test(test_jssink_dlq_subject_inserts_dlq_after_the_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
