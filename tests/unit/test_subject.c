/*
 * test_subject.c - event subjects: the token escaping rule on tricky names,
 * and its injectivity (a decoder written here from the rule gets every name
 * back, and tricky names never collide).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "transform/subject.h"

static void
check_subject(const char *prefix, const char *db, const char *schema, const char *table,
              const char *want)
{
    struct cdc_buf b = CDC_BUF_INIT;

    subj_build(&b, prefix, db, schema, table);
    assert_true(cdc_buf_ok(&b));
    assert_string_equal(b.data, want);
    cdc_buf_free(&b);
}

static void
test_subject_plain_names_are_copied(void **state)
{
    (void) state;
    check_subject("cdc", "shop", "public", "users", "cdc.shop.public.users");
    check_subject("cdc", "Shop_DB-1", "Public", "Order_Items-2",
                  "cdc.Shop_DB-1.Public.Order_Items-2");
    /* the prefix is configuration and may span levels */
    check_subject("acme.cdc", "shop", "public", "users", "acme.cdc.shop.public.users");
    check_subject("", "shop", "public", "users", "shop.public.users");
    check_subject(NULL, "shop", "public", "users", "shop.public.users");
}

static void
test_subject_escapes_unsafe_bytes(void **state)
{
    (void) state;
    check_subject("cdc", "shop", "public", "a.b", "cdc.shop.public.a%2Eb");
    check_subject("cdc", "shop", "public", "*", "cdc.shop.public.%2A");
    check_subject("cdc", "shop", "public", ">", "cdc.shop.public.%3E");
    check_subject("cdc", "shop", "my schema", "t\tab", "cdc.shop.my%20schema.t%09ab");
    check_subject("cdc", "shop", "public", "100%", "cdc.shop.public.100%25");
    check_subject("cdc", "shop", "public", "caf\xc3\xa9", "cdc.shop.public.caf%C3%A9");
    check_subject("cdc", "shop", "public", "\x7f\x01\n", "cdc.shop.public.%7F%01%0A");
    check_subject("cdc", "shop", "public", "\"q\"/\\", "cdc.shop.public.%22q%22%2F%5C");
}

static void
test_subject_empty_names_become_percent_00(void **state)
{
    (void) state;
    check_subject("cdc", "", "", "", "cdc.%00.%00.%00");
    check_subject("cdc", NULL, NULL, NULL, "cdc.%00.%00.%00");
}

/* Invert the rule, independently of subject.c: -1 if tok is not a valid encoding. */
static int
decode_token(const char *tok, char *out)
{
    size_t n = 0;

    if (strcmp(tok, "%00") == 0) {
        out[0] = '\0';
        return 0;
    }
    for (const char *p = tok; *p; p++) {
        if (*p == '%') {
            unsigned v;
            char hex[3] = {p[1], p[1] ? p[2] : '\0', '\0'};

            if (strlen(hex) != 2 || strspn(hex, "0123456789ABCDEF") != 2)
                return -1;
            v = (unsigned) strtoul(hex, NULL, 16);
            if (v == 0)
                return -1;
            out[n++] = (char) v;
            p += 2;
        } else if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p)) {
            out[n++] = *p;
        } else {
            return -1;
        }
    }
    out[n] = '\0';
    return (int) n;
}

static void
test_subject_tokens_are_injective(void **state)
{
    const char *names[] = {
        "",      "%",     "%00",      "%25",    "%2E",   "a.b",     "a%2Eb", "a_b", "a-b", "a b",
        "a*",    "a>",    "a",        "A",      ".",     "..",      "*",     ">",   " ",   "\t",
        "\x01",  "\xff",  "\xc3\xa9", "%C3%A9", "x.y.z", "x%2Ey.z", "_",     "-",   "%%",  "%2",
        "users", "Users", "USERS",    "a%",     "\x7f",  "a.",      ".a",    "0",   "%30", "a/b",
    };
    size_t n = sizeof(names) / sizeof(names[0]);
    char **toks = calloc(n, sizeof(char *));

    (void) state;
    assert_non_null(toks);
    for (size_t i = 0; i < n; i++) {
        struct cdc_buf b = CDC_BUF_INIT;
        char back[64];

        subj_put_token(&b, names[i], strlen(names[i]));
        assert_true(cdc_buf_ok(&b));
        /* one safe token: no level separator, wildcard or whitespace */
        assert_true(b.len > 0);
        assert_int_equal(strspn(b.data, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-%"),
                         b.len);
        /* decodes back to the name */
        assert_int_equal(decode_token(b.data, back), (int) strlen(names[i]));
        assert_string_equal(back, names[i]);
        toks[i] = b.data;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(toks[i], toks[j]) == 0)
                fail_msg("\"%s\" and \"%s\" share the token %s", names[i], names[j], toks[i]);
    for (size_t i = 0; i < n; i++)
        free(toks[i]);
    free(toks);
}

static void
test_subject_put_token_honours_the_length(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    subj_put_token(&b, "ab.cd", 3);
    assert_string_equal(b.data, "ab%2E");
    subj_put_token(&b, "a\0b", 3); /* a NUL byte inside a length-given name */
    assert_string_equal(b.data, "ab%2Ea%00b");
    cdc_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_plain_names_are_copied),
        cmocka_unit_test(test_subject_escapes_unsafe_bytes),
        cmocka_unit_test(test_subject_empty_names_become_percent_00),
        cmocka_unit_test(test_subject_tokens_are_injective),
        cmocka_unit_test(test_subject_put_token_honours_the_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
