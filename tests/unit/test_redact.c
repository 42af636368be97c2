/*
 * test_redact.c - sensitive fields are left out of events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
#include "transform/envelope.h"
#include "transform/redact.h"

static struct cdc_column cols[4];
static struct cdc_relation rel;

static void
make_rel(const char *schema, const char *table)
{
    const char *names[4] = {"id", "password", "email", "ssn"};

    memset(cols, 0, sizeof(cols));
    for (int i = 0; i < 4; i++) {
        cols[i].name = names[i];
        cols[i].fmt = i == 0 ? CDC_VF_INT : CDC_VF_STRING;
        cols[i].elem_fmt = CDC_VF_STRING;
        cols[i].type_mod = -1;
    }
    cols[0].is_key = true;
    rel = (struct cdc_relation){1, schema, table, 'd', 4, cols, false};
}

static void
test_redact_plain_names_match_every_table(void **state)
{
    const char *rules[] = {"password", "ssn"};

    (void) state;
    make_rel("public", "users");
    assert_int_equal(redact_mark(&rel, rules, 2), 2);
    assert_false(cols[0].omit);
    assert_true(cols[1].omit);
    assert_false(cols[2].omit);
    assert_true(cols[3].omit);
}

static void
test_redact_qualified_rules_match_only_their_table(void **state)
{
    const char *rules[] = {"public.users.email"};

    (void) state;
    make_rel("public", "users");
    assert_int_equal(redact_mark(&rel, rules, 1), 1);
    assert_true(cols[2].omit);
    make_rel("public", "users2");
    assert_int_equal(redact_mark(&rel, rules, 1), 0);
    make_rel("sales", "users");
    assert_int_equal(redact_mark(&rel, rules, 1), 0);
    make_rel("public", "user");
    assert_int_equal(redact_mark(&rel, rules, 1), 0);
}

static void
test_redacted_columns_never_reach_the_event(void **state)
{
    const char *rules[] = {"password", "public.users.email"};
    struct cdc_value before_v[4] = {{"7", 1, CDC_VAL_PRESENT},
                                    {"hunter2-old", 11, CDC_VAL_PRESENT},
                                    {"a@example.com", 13, CDC_VAL_PRESENT},
                                    {NULL, 0, CDC_VAL_NULL}};
    struct cdc_value after_v[4] = {{"7", 1, CDC_VAL_PRESENT},
                                   {NULL, 0, CDC_VAL_UNCHANGED},
                                   {"b@example.com", 13, CDC_VAL_PRESENT},
                                   {"123-45-6789", 11, CDC_VAL_PRESENT}};
    struct cdc_tuple before = {4, before_v}, after = {4, after_v};
    struct cdc_change ch;
    struct cdc_buf b = CDC_BUF_INIT;
    struct env_ctx ctx;
    struct cdc_err err;

    (void) state;
    make_rel("public", "users");
    redact_mark(&rel, rules, 2);
    memset(&ch, 0, sizeof(ch));
    ch.op = CDC_OP_UPDATE;
    ch.rel = &rel;
    ch.before = &before;
    ch.after = &after;
    env_ctx_init(&ctx, "db");
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_OK);
    assert_null(strstr(b.data, "hunter2"));
    assert_null(strstr(b.data, "example.com"));
    assert_null(strstr(b.data, "password"));
    assert_null(strstr(b.data, "email"));
    /* not a rule: still there */
    assert_non_null(strstr(b.data, "\"after\":{\"id\":7,\"ssn\":\"123-45-6789\"}"));
    assert_non_null(strstr(b.data, "\"before\":{\"id\":7,\"ssn\":null}"));
    /* an unchanged sensitive column is not even named */
    assert_null(strstr(b.data, "unchanged_columns"));
    cdc_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_plain_names_match_every_table),
        cmocka_unit_test(test_redact_qualified_rules_match_only_their_table),
        cmocka_unit_test(test_redacted_columns_never_reach_the_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
