/*
 * test_subject_tmpl.c - nats.subject_template: compiling (every problem the
 * config check reports), rendering ({op}, {pk_hash:N}, escaping shared with
 * the default subjects), and the partition key hash.
 *
 * Hash expectations: FNV-1a 64 is checked on the published FNV test vectors
 * ("" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c, "foobar" ->
 * 85944171f73967e8). The partitions of key arrays were computed with the
 * consumer recipe of docs/EVENTS.md ("Routing"), run separately in Python:
 *   fnv1a64(b"[42]") = 0x984b8265f868382f, % 16 = 15, % 8 = 7
 *   fnv1a64(b'[7,"b"]') = 0x9f34c854e452cbac, % 16 = 12
 *   fnv1a64(b"[]") = 0x09612b07b5ecb5a5, % 16 = 5
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "transform/subject.h"

#define P(s)                                                                                       \
    {                                                                                              \
        (s), (uint32_t) (sizeof(s) - 1), CDC_VAL_PRESENT                                           \
    }
#define ABS                                                                                        \
    {                                                                                              \
        NULL, 0, CDC_VAL_ABSENT                                                                    \
    }
#define NVALS(a) ((uint32_t) (sizeof(a) / sizeof((a)[0])))

static struct cdc_column cols[] = {
    {"id", 23, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL},
    {"v", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
};
static struct cdc_relation rel = {1, "public", "orders", 'd', 2, cols, "", false};

/* Compile tmpl with prefix "cdc"; expect failure with a message containing `why`. */
static void
check_bad(const char *tmpl, const char *why)
{
    struct subj_tmpl t;
    struct cdc_err err;

    assert_int_equal(subj_tmpl_compile(&t, tmpl, "cdc", &err), CDC_ERR_CONFIG);
    if (strstr(err.msg, why) == NULL)
        fail_msg("template \"%s\": got \"%s\", want \"%s\"", tmpl, err.msg, why);
}

static char *
render(const char *tmpl, const char *prefix, const char *db, const struct cdc_change *ch)
{
    struct cdc_buf b = CDC_BUF_INIT, scratch = CDC_BUF_INIT;
    struct subj_tmpl t;
    struct cdc_err err;

    assert_int_equal(subj_tmpl_compile(&t, tmpl, prefix, &err), CDC_OK);
    subj_tmpl_render(&t, &b, prefix, db, ch, &scratch);
    assert_true(cdc_buf_ok(&b));
    cdc_buf_free(&scratch);
    return b.data;
}

static struct cdc_change
change(enum cdc_op op, const struct cdc_tuple *before, const struct cdc_tuple *after)
{
    struct cdc_change ch;

    memset(&ch, 0, sizeof(ch));
    ch.op = op;
    ch.rel = &rel;
    ch.before = before;
    ch.after = after;
    return ch;
}

static void
test_tmpl_rejects_unknown_and_malformed_tokens(void **state)
{
    (void) state;
    check_bad("{prefix}.{tabel}", "unknown token \"{tabel}\" (known: {prefix}, {database}, "
                                  "{schema}, {table}, {op}, {pk_hash:N})");
    check_bad("{prefix}.{table", "unterminated token at \"{table\"");
    check_bad("{prefix}.{a{table}", "unterminated token");
    check_bad("{prefix}.table}", "has a '}' without its '{' at byte 15");
    check_bad("{prefix}.{pk_hash}", "{pk_hash} needs a partition count");
    check_bad("{prefix}.{pk_hash:}", "needs a partition count N between 1 and 1024");
    check_bad("{prefix}.{pk_hash:x8}", "needs a partition count N between 1 and 1024");
    check_bad("{prefix}.{pk_hash:0}", "N must be between 1 and 1024, got 0");
    check_bad("{prefix}.{pk_hash:1025}", "N must be between 1 and 1024, got 1025");
    check_bad("{prefix}.{pk_hash:999999}", "between 1 and 1024");
}

static void
test_tmpl_rejects_bad_levels_and_characters(void **state)
{
    (void) state;
    check_bad("{prefix}..{table}", "has an empty level at byte 10");
    check_bad("{prefix}.{table}.", "has an empty level at its end");
    check_bad(".{prefix}.{table}", "has an empty level at byte 1");
    check_bad("{prefix}.a b", "byte 11 is 0x20");
    check_bad("{prefix}.*", "wildcards");
    check_bad("{prefix}.>", "wildcards");
    check_bad("{prefix}.a\tb", "byte 11 is 0x09");
}

static void
test_tmpl_must_be_covered_by_the_stream(void **state)
{
    struct subj_tmpl t;
    struct cdc_err err;

    (void) state;
    check_bad("{database}.{table}", "is not covered by the stream's subjects \"cdc.>\"");
    check_bad("other.{table}", "not covered");
    check_bad("cdcx.{table}", "not covered");
    check_bad("{prefix}", "not covered");
    check_bad("{table}.{prefix}.x", "not covered");
    /* the prefix written out is the same as {prefix} */
    assert_int_equal(subj_tmpl_compile(&t, "cdc.{table}", "cdc", &err), CDC_OK);
    assert_int_equal(subj_tmpl_compile(&t, "acme.cdc.{op}", "acme.cdc", &err), CDC_OK);
    assert_int_equal(subj_tmpl_compile(&t, "acme.{op}", "acme.cdc", &err), CDC_ERR_CONFIG);
    /* too long */
    {
        char big[SUBJ_TMPL_MAX + 20];

        memset(big, 'a', sizeof(big) - 1);
        memcpy(big, "{prefix}.", 9);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(subj_tmpl_compile(&t, big, "cdc", &err), CDC_ERR_CONFIG);
        assert_non_null(strstr(err.msg, "longer than 256 bytes"));
    }
}

static void
test_default_template_renders_like_subj_build(void **state)
{
    static struct cdc_relation odd = {2, "Sales Data", "my.table", 'd', 2, cols, "", false};
    struct cdc_change ch = change(CDC_OP_INSERT, NULL, NULL);
    struct cdc_buf want = CDC_BUF_INIT;
    char *got;

    (void) state;
    ch.rel = &odd;
    subj_build(&want, "cdc", "shop", "Sales Data", "my.table");
    got = render(NULL, "cdc", "shop", &ch);
    assert_string_equal(got, "cdc.shop.Sales%20Data.my%2Etable");
    assert_string_equal(got, want.data);
    free(got);
    got = render("", "cdc", "shop", &ch);
    assert_string_equal(got, want.data);
    free(got);
    /* a DDL event without a relation: the empty names' escape */
    ch.op = CDC_OP_DDL;
    ch.rel = NULL;
    got = render(SUBJ_DEFAULT_TEMPLATE, "acme.cdc", "shop", &ch);
    assert_string_equal(got, "acme.cdc.shop.%00.%00");
    free(got);
    cdc_buf_free(&want);
}

static void
test_op_token_names_the_operation(void **state)
{
    static const char *const want[] = {"cdc.orders.insert", "cdc.orders.update",
                                       "cdc.orders.delete", "cdc.orders.truncate",
                                       "cdc.orders.ddl"};

    (void) state;
    for (int op = CDC_OP_INSERT; op <= CDC_OP_DDL; op++) {
        struct cdc_change ch = change((enum cdc_op) op, NULL, NULL);
        char *got = render("{prefix}.{table}.{op}", "cdc", "shop", &ch);

        assert_string_equal(got, want[op]);
        free(got);
    }
}

static void
test_fnv1a64_matches_the_published_vectors(void **state)
{
    (void) state;
    assert_true(subj_fnv1a64("", 0) == UINT64_C(0xcbf29ce484222325));
    assert_true(subj_fnv1a64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(subj_fnv1a64("foobar", 6) == UINT64_C(0x85944171f73967e8));
}

static void
test_pk_hash_hashes_the_json_array_of_key_values(void **state)
{
    static struct cdc_column two[] = {
        {"a", 23, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL},
        {"x", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL},
        {"b", 25, -1, CDC_VF_STRING, CDC_VF_STRING, true, true, NULL}, /* sensitive: still hashed */
    };
    static struct cdc_relation comp = {3, "public", "comp", 'd', 3, two, "", false};
    struct cdc_value v42[] = {P("42"), P("x")};
    struct cdc_value v7b[] = {P("7"), P("zzz"), P("b")};
    struct cdc_tuple t42 = {NVALS(v42), v42}, t7b = {NVALS(v7b), v7b};
    struct cdc_change ch = change(CDC_OP_INSERT, NULL, &t42);
    struct cdc_buf scratch = CDC_BUF_INIT;
    char *got;

    (void) state;
    assert_true(subj_pk_hash(&ch, &scratch) == UINT64_C(0x984b8265f868382f));
    assert_string_equal(scratch.data, "[42]");
    got = render("{prefix}.{table}.{pk_hash:16}", "cdc", "shop", &ch);
    assert_string_equal(got, "cdc.orders.15");
    free(got);
    got = render("{prefix}.p{pk_hash:8}.{table}", "cdc", "shop", &ch);
    assert_string_equal(got, "cdc.p7.orders");
    free(got);

    ch.rel = &comp;
    ch.after = &t7b;
    assert_true(subj_pk_hash(&ch, &scratch) == UINT64_C(0x9f34c854e452cbac));
    assert_string_equal(scratch.data, "[7,\"b\"]");
    got = render("{prefix}.{pk_hash:16}", "cdc", "shop", &ch);
    assert_string_equal(got, "cdc.12");
    free(got);

    /* no key: truncate and DDL hash [] */
    ch.op = CDC_OP_TRUNCATE;
    ch.after = NULL;
    assert_true(subj_pk_hash(&ch, &scratch) == UINT64_C(0x09612b07b5ecb5a5));
    assert_string_equal(scratch.data, "[]");
    got = render("{prefix}.{pk_hash:16}", "cdc", "shop", &ch);
    assert_string_equal(got, "cdc.5");
    free(got);
    cdc_buf_free(&scratch);
}

static void
test_pk_hash_takes_the_key_from_before_when_after_lacks_it(void **state)
{
    struct cdc_value key[] = {P("42"), ABS};
    struct cdc_value newrow[] = {P("43"), P("y")};
    struct cdc_tuple before = {NVALS(key), key}, after = {NVALS(newrow), newrow};
    struct cdc_change del = change(CDC_OP_DELETE, &before, NULL);
    struct cdc_change upd = change(CDC_OP_UPDATE, &before, &after);
    struct cdc_buf scratch = CDC_BUF_INIT;

    (void) state;
    /* a delete routes like the insert of the same key */
    assert_true(subj_pk_hash(&del, &scratch) == UINT64_C(0x984b8265f868382f));
    /* an update that changes the key routes by the new key */
    (void) subj_pk_hash(&upd, &scratch);
    assert_string_equal(scratch.data, "[43]");
    cdc_buf_free(&scratch);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_rejects_unknown_and_malformed_tokens),
        cmocka_unit_test(test_tmpl_rejects_bad_levels_and_characters),
        cmocka_unit_test(test_tmpl_must_be_covered_by_the_stream),
        cmocka_unit_test(test_default_template_renders_like_subj_build),
        cmocka_unit_test(test_op_token_names_the_operation),
        cmocka_unit_test(test_fnv1a64_matches_the_published_vectors),
        cmocka_unit_test(test_pk_hash_hashes_the_json_array_of_key_values),
        cmocka_unit_test(test_pk_hash_takes_the_key_from_before_when_after_lacks_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
