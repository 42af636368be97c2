/*
 * test_filter.c - table patterns (globs, quoting, excludes), operations, and
 * the PostgreSQL publication planned from them. Every expectation is written
 * from the syntax in transform/filter.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "transform/filter.h"

#define N(a) ((int) (sizeof(a) / sizeof((a)[0])))

static struct filter *
make(const char *const *inc, int ni, const char *const *exc, int ne, const char *const *ops, int no)
{
    struct filter *f = NULL;
    struct cdc_err err = {0};

    if (filter_create(&f, inc, ni, exc, ne, ops, no, &err) != CDC_OK)
        fail_msg("filter_create: %s", err.msg);
    return f;
}

static void
test_filter_exact_names_and_empty_include_list(void **state)
{
    const char *inc[] = {"schema1.table1", "schema2.table2"};
    struct filter *f = make(inc, N(inc), NULL, 0, NULL, 0), *all = make(NULL, 0, NULL, 0, NULL, 0);

    (void) state;
    assert_true(filter_table_included(f, "schema1", "table1"));
    assert_true(filter_table_included(f, "schema2", "table2"));
    assert_false(filter_table_included(f, "schema1", "table2"));
    assert_false(filter_table_included(f, "schema1", "table10"));
    assert_false(filter_table_included(f, "schema1", "table"));
    assert_false(filter_table_included(f, "Schema1", "table1")); /* case-sensitive */
    assert_true(filter_has_includes(f));
    /* no include pattern: every table */
    assert_false(filter_has_includes(all));
    assert_true(filter_table_included(all, "public", "anything"));
    assert_true(filter_schema_may_match(all, "x"));
    filter_destroy(f);
    filter_destroy(all);
}

static void
test_filter_star_matches_within_one_part_only(void **state)
{
    const char *inc[] = {"sales.*", "*.audit_*"};
    struct filter *f = make(inc, N(inc), NULL, 0, NULL, 0);

    (void) state;
    assert_true(filter_table_included(f, "sales", "orders"));
    assert_true(filter_table_included(f, "sales", "a.b")); /* a table whose name has a dot */
    assert_false(filter_table_included(f, "sales2", "orders"));
    assert_true(filter_table_included(f, "hr", "audit_log"));
    assert_true(filter_table_included(f, "hr", "audit_"));
    assert_false(filter_table_included(f, "hr", "xaudit_log"));
    assert_false(filter_table_included(f, "hr", "audit"));
    /* "*.audit_*" must not match "hr.x" + ".audit_y" across the dot: the parts are separate */
    assert_false(filter_table_included(f, "hr.x", "y"));
    assert_true(filter_schema_may_match(f, "sales"));
    assert_true(filter_schema_may_match(f, "anything")); /* "*.audit_*" */
    filter_destroy(f);
}

static void
test_filter_question_mark_is_one_character_utf8_aware(void **state)
{
    const char *inc[] = {"s.t?", "s.??x", "*a*b*.c"};
    struct filter *f = make(inc, N(inc), NULL, 0, NULL, 0);

    (void) state;
    assert_true(filter_table_included(f, "s", "t1"));
    assert_true(filter_table_included(f, "s", "t\xc3\xa9")); /* t + e-acute (2 bytes) */
    assert_false(filter_table_included(f, "s", "t"));
    assert_false(filter_table_included(f, "s", "t12"));
    assert_true(filter_table_included(f, "s", "\xc3\xa9\xc3\xa9x"));
    assert_false(filter_table_included(f, "s", "\xc3\xa9x"));
    /* several stars, backtracking */
    assert_true(filter_table_included(f, "xaxxbx", "c"));
    assert_true(filter_table_included(f, "ab", "c"));
    assert_false(filter_table_included(f, "ba", "c"));
    filter_destroy(f);
}

static void
test_filter_exclude_wins_over_include(void **state)
{
    const char *inc[] = {"sales.*", "hr.people"};
    const char *exc[] = {"sales.secret_*", "*.people"};
    const char *exc_only[] = {"public.audit"};
    struct filter *f = make(inc, N(inc), exc, N(exc), NULL, 0);
    struct filter *g = make(NULL, 0, exc_only, N(exc_only), NULL, 0);

    (void) state;
    assert_true(filter_table_included(f, "sales", "orders"));
    assert_false(filter_table_included(f, "sales", "secret_keys"));
    assert_false(filter_table_included(f, "hr", "people"));
    assert_false(filter_table_included(f, "sales", "people"));
    assert_true(filter_has_excludes(f));
    /* excludes alone: everything but them */
    assert_true(filter_table_included(g, "public", "orders"));
    assert_false(filter_table_included(g, "public", "audit"));
    filter_destroy(f);
    filter_destroy(g);
}

static void
test_filter_quotes_make_dots_and_wildcards_literal(void **state)
{
    const char *inc[] = {"\"my.schema\".orders", "sales.\"q*\"_*", "x.\"a\"\"b\"", "\"*\".\"?\""};
    struct filter *f = make(inc, N(inc), NULL, 0, NULL, 0);

    (void) state;
    assert_true(filter_table_included(f, "my.schema", "orders"));
    assert_false(filter_table_included(f, "my", "schema.orders"));
    assert_true(filter_table_included(f, "sales", "q*_2024"));
    assert_false(filter_table_included(f, "sales", "q1_2024"));
    assert_true(filter_table_included(f, "x", "a\"b"));
    assert_true(filter_table_included(f, "*", "?"));
    assert_false(filter_table_included(f, "a", "b"));
    assert_false(filter_table_included(f, "*", "b"));
    filter_destroy(f);
}

static void
check_problem(const char *pat, const char *want)
{
    struct cdc_err err = {0};

    assert_int_equal(filter_pattern_check(pat, &err), CDC_ERR_CONFIG);
    assert_string_equal(err.msg, want);
}

static void
test_filter_pattern_syntax_problems(void **state)
{
    struct cdc_err err = {0};

    (void) state;
    check_problem("", "a pattern is empty");
    check_problem("orders",
                  "\"orders\" has no schema part: write schema.table, e.g. public.orders or "
                  "*.orders");
    check_problem("\"a.b\"", "\"\"a.b\"\" has no schema part: write schema.table, e.g. "
                             "public.\"a.b\" or *.\"a.b\"");
    check_problem("a.b.c", "\"a.b.c\" has more than one unquoted dot: quote a name that holds a "
                           "dot, e.g. \"my.schema\".orders");
    check_problem(".orders", "\".orders\" has an empty schema part");
    check_problem("sales.", "\"sales.\" has an empty table part");
    check_problem("sales.\"x", "\"sales.\"x\" has an unterminated double quote");
    assert_int_equal(filter_pattern_check("a.b", &err), CDC_OK);
    assert_int_equal(filter_pattern_check("*.*", &err), CDC_OK);
    assert_int_equal(filter_pattern_check("\"a.b\".c", &err), CDC_OK);
}

static void
test_filter_operations(void **state)
{
    const char *ops[] = {"insert", "DELETE"};
    const char *bad[] = {"insert", "upsert"};
    struct filter *f = make(NULL, 0, NULL, 0, ops, N(ops)), *all = make(NULL, 0, NULL, 0, NULL, 0);
    struct filter *g = NULL;
    struct cdc_err err = {0};
    enum cdc_op op;

    (void) state;
    assert_true(filter_op_included(f, CDC_OP_INSERT));
    assert_false(filter_op_included(f, CDC_OP_UPDATE));
    assert_true(filter_op_included(f, CDC_OP_DELETE));
    assert_false(filter_op_included(f, CDC_OP_TRUNCATE));
    assert_false(filter_op_included(f, CDC_OP_DDL));
    for (int o = CDC_OP_INSERT; o <= CDC_OP_DDL; o++)
        assert_true(filter_op_included(all, (enum cdc_op) o));
    assert_true(filter_op_parse("truncate", &op));
    assert_int_equal(op, CDC_OP_TRUNCATE);
    assert_true(filter_op_parse("ddl", &op));
    assert_int_equal(op, CDC_OP_DDL);
    assert_false(filter_op_parse("select", &op));
    assert_int_equal(filter_create(&g, NULL, 0, NULL, 0, bad, N(bad), &err), CDC_ERR_CONFIG);
    assert_null(g);
    assert_string_equal(err.msg, "unknown operation \"upsert\": use insert, update, delete, "
                                 "truncate or ddl");
    filter_destroy(f);
    filter_destroy(all);
}

static void
test_filter_create_refuses_a_bad_pattern(void **state)
{
    const char *inc[] = {"public.ok", "bad"};
    struct filter *f = NULL;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(filter_create(&f, inc, N(inc), NULL, 0, NULL, 0, &err), CDC_ERR_CONFIG);
    assert_null(f);
    assert_non_null(strstr(err.msg, "\"bad\" has no schema part"));
    assert_int_equal(filter_create(&f, NULL, 0, inc, N(inc), NULL, 0, &err), CDC_ERR_CONFIG);
    assert_null(f);
    filter_destroy(NULL);
}

/* ---- publication plans ---- */

static void
plan(const char *const *inc, int ni, const char *const *exc, int ne, struct filter_pub_plan *p)
{
    struct filter *f = make(inc, ni, exc, ne, NULL, 0);
    struct cdc_err err = {0};

    assert_int_equal(filter_pub_plan(f, p, &err), CDC_OK);
    filter_destroy(f);
}

static void
assert_obj(const struct filter_pub_plan *p, int i, const char *schema, const char *table)
{
    assert_true(i < p->n);
    assert_string_equal(p->objects[i].schema, schema);
    if (table == NULL)
        assert_null(p->objects[i].table);
    else
        assert_string_equal(p->objects[i].table, table);
}

static void
test_plan_exact_names_are_listed_and_excluded_ones_left_out(void **state)
{
    const char *inc[] = {"public.a", "my.sch.\"t.x\"", "public.b", "public.a"};
    const char *inc2[] = {"\"my.sch\".\"t.x\"", "public.b", "public.a", "public.b"};
    const char *exc[] = {"public.b"};
    struct filter_pub_plan p;
    struct filter *f = NULL;
    struct cdc_err err = {0};

    (void) state;
    /* "my.sch.\"t.x\"" has two unquoted dots: refused */
    assert_int_equal(filter_create(&f, inc, N(inc), NULL, 0, NULL, 0, &err), CDC_ERR_CONFIG);
    plan(inc2, N(inc2), exc, N(exc), &p);
    assert_false(p.all_tables);
    assert_false(p.wider);
    assert_int_equal(p.n, 2);
    assert_obj(&p, 0, "my.sch", "t.x");
    assert_obj(&p, 1, "public", "a");
    filter_pub_plan_free(&p);
}

static void
test_plan_schema_star_is_tables_in_schema(void **state)
{
    const char *inc[] = {"sales.orders", "sales.*", "hr.people"};
    const char *exc_hr[] = {"hr.secret"};
    const char *exc_sales[] = {"*.secret"};
    struct filter_pub_plan p;

    (void) state;
    /* sales.orders is covered by the schema: listed once, as the schema */
    plan(inc, N(inc), NULL, 0, &p);
    assert_false(p.all_tables);
    assert_false(p.wider);
    assert_int_equal(p.n, 2);
    assert_obj(&p, 0, "sales", NULL);
    assert_obj(&p, 1, "hr", "people");
    filter_pub_plan_free(&p);
    /* an exclude in another schema does not widen anything */
    plan(inc, N(inc), exc_hr, N(exc_hr), &p);
    assert_false(p.wider);
    assert_int_equal(p.n, 2);
    filter_pub_plan_free(&p);
    /* an exclude that may match inside a published schema does */
    plan(inc, N(inc), exc_sales, N(exc_sales), &p);
    assert_true(p.wider);
    assert_int_equal(p.n, 2);
    assert_obj(&p, 0, "sales", NULL);
    assert_obj(&p, 1, "hr", "people");
    assert_string_equal(p.why, "pattern \"sales.*\" is published as its whole schema, where "
                               "excludes may match");
    filter_pub_plan_free(&p);
}

static void
test_plan_table_glob_publishes_its_schema_wider(void **state)
{
    const char *inc[] = {"sales.order_*"};
    struct filter_pub_plan p;

    (void) state;
    plan(inc, N(inc), NULL, 0, &p);
    assert_false(p.all_tables);
    assert_true(p.wider);
    assert_int_equal(p.n, 1);
    assert_obj(&p, 0, "sales", NULL);
    assert_string_equal(p.why, "pattern \"sales.order_*\" is published as its whole schema");
    filter_pub_plan_free(&p);
}

static void
test_plan_schema_glob_or_no_include_is_all_tables(void **state)
{
    const char *audit[] = {"public.a", "*.audit_*"};
    const char *star[] = {"*.*"};
    const char *exc[] = {"public.x"};
    struct filter_pub_plan p;

    (void) state;
    plan(audit, N(audit), NULL, 0, &p);
    assert_true(p.all_tables);
    assert_true(p.wider);
    assert_string_equal(p.why, "pattern \"*.audit_*\" has a wildcard in its schema part: the "
                               "publication is FOR ALL TABLES");
    filter_pub_plan_free(&p);
    plan(star, N(star), NULL, 0, &p);
    assert_true(p.all_tables);
    assert_false(p.wider);
    filter_pub_plan_free(&p);
    plan(star, N(star), exc, N(exc), &p);
    assert_true(p.all_tables);
    assert_true(p.wider);
    filter_pub_plan_free(&p);
    plan(NULL, 0, NULL, 0, &p);
    assert_true(p.all_tables);
    assert_false(p.wider);
    filter_pub_plan_free(&p);
    plan(NULL, 0, exc, N(exc), &p);
    assert_true(p.all_tables);
    assert_true(p.wider);
    filter_pub_plan_free(&p);
}

static void
test_plan_everything_excluded_is_an_empty_publication(void **state)
{
    const char *inc[] = {"public.a"};
    const char *exc[] = {"public.*"};
    struct filter_pub_plan p;

    (void) state;
    plan(inc, N(inc), exc, N(exc), &p);
    assert_false(p.all_tables);
    assert_false(p.wider);
    assert_int_equal(p.n, 0);
    filter_pub_plan_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_exact_names_and_empty_include_list),
        cmocka_unit_test(test_filter_star_matches_within_one_part_only),
        cmocka_unit_test(test_filter_question_mark_is_one_character_utf8_aware),
        cmocka_unit_test(test_filter_exclude_wins_over_include),
        cmocka_unit_test(test_filter_quotes_make_dots_and_wildcards_literal),
        cmocka_unit_test(test_filter_pattern_syntax_problems),
        cmocka_unit_test(test_filter_operations),
        cmocka_unit_test(test_filter_create_refuses_a_bad_pattern),
        cmocka_unit_test(test_plan_exact_names_are_listed_and_excluded_ones_left_out),
        cmocka_unit_test(test_plan_schema_star_is_tables_in_schema),
        cmocka_unit_test(test_plan_table_glob_publishes_its_schema_wider),
        cmocka_unit_test(test_plan_schema_glob_or_no_include_is_all_tables),
        cmocka_unit_test(test_plan_everything_excluded_is_an_empty_publication),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
