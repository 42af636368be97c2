/*
 * test_redact.c - cdc.sensitive_fields: rule parsing, matching, each action's
 * rendering in before and after, HMAC-SHA256 against known answers, and PII
 * detection.
 *
 * Every HMAC below was computed outside this code: RFC 4231's test cases 1
 * and 6, and `printf '%s' VALUE | openssl dgst -sha256 -hmac KEY` for ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "transform/envelope.h"
#include "transform/redact.h"

#define KEY    "test-key-0123456789abcdef"
#define KEY_ID "k1"

/* printf '%s' VALUE | openssl dgst -sha256 -hmac 'test-key-0123456789abcdef' */
#define HMAC_PW1   "3f6bf668e4ae2588211d6f88118bdf1282a6c244b0e07074683c7fd3bc25cce8"
#define HMAC_42    "9d344095bb990a51d9b9e8b5c0bb84050da03d3a10ec54fb31229cc472a95bc4"
#define HMAC_SSN   "02244c3a594e2a3fd47ec5e7ffd00afc0ddc470fcf82549ce27889264d6606e3"
#define HMAC_EMPTY "3c179bf9f2fdcf70ee11feba516a8d62c302314b3d5c1370139e6ba2a775cb31"
#define HMAC_JSON  "e7bd83edb1a07c208194bed6eae94b4d3912c4ee0aebf8c612f56eba74ac8b02"
#define HMAC_BYTEA "9b11e6385beda0841ed1605e2b3738dcea7b814c08fcccb1082e223840fb5f9b"

#define NCOLS 6
static struct cdc_column cols[NCOLS];
static struct cdc_relation rel;

/* public.users (id int, password text, email text, ssn text, doc json, pic bytea) */
static void
make_rel(const char *schema, const char *table)
{
    const char *names[NCOLS] = {"id", "password", "email", "ssn", "doc", "pic"};
    const enum cdc_vfmt fmts[NCOLS] = {CDC_VF_INT,    CDC_VF_STRING, CDC_VF_STRING,
                                       CDC_VF_STRING, CDC_VF_JSON,   CDC_VF_BYTEA_HEX};

    memset(cols, 0, sizeof(cols));
    for (int i = 0; i < NCOLS; i++) {
        cols[i].name = names[i];
        cols[i].fmt = fmts[i];
        cols[i].elem_fmt = CDC_VF_STRING;
        cols[i].type_mod = -1;
    }
    cols[0].is_key = true;
    rel = (struct cdc_relation){1, schema, table, 'd', NCOLS, cols, "", false};
}

static struct redact_set *
make_set(const char *const *items, int n, _Atomic uint64_t *hits)
{
    struct redact_opts o = {items, n, KEY, strlen(KEY), KEY_ID, hits};
    struct redact_set *s = NULL;
    struct cdc_err err;

    assert_int_equal(redact_set_create(&s, &o, &err), CDC_OK);
    return s;
}

/* The JSON of one value of column c under its rule. */
static char *
render(const struct cdc_column *c, const char *data, size_t len)
{
    struct cdc_value v = {data, (uint32_t) len, data ? CDC_VAL_PRESENT : CDC_VAL_NULL};
    struct cdc_buf b = CDC_BUF_INIT;

    redact_put_value(&b, c, &v);
    cdc_buf_putc(&b, '\0');
    assert_true(cdc_buf_ok(&b));
    return b.data;
}

static void
assert_renders(const struct cdc_column *c, const char *data, const char *want)
{
    char *got = render(c, data, data ? strlen(data) : 0);

    assert_string_equal(got, want);
    free(got);
}

/* ---- parsing ---- */

static void
test_redact_items_parse(void **state)
{
    struct redact_spec sp;
    struct cdc_err err;

    (void) state;
    assert_int_equal(redact_parse_item("password", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_DROP);
    assert_int_equal(sp.pattern_len, 8);
    assert_int_equal(redact_parse_item("ssn=mask", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_MASK);
    assert_int_equal(sp.pattern_len, 3);
    assert_int_equal(redact_parse_item("public.users.email=hash", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_HASH);
    assert_int_equal(sp.pattern_len, strlen("public.users.email"));
    assert_int_equal(redact_parse_item("name=truncate:12", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_TRUNCATE);
    assert_int_equal(sp.n, 12);
    assert_int_equal(redact_parse_item("x=drop", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_DROP);
    assert_int_equal(redact_parse_item("public.comments=detect", &sp, &err), CDC_OK);
    assert_int_equal(sp.action, REDACT_A_DETECT);
}

static void
test_redact_bad_items_say_why(void **state)
{
    static const struct {
        const char *item, *msg;
    } bad[] = {
        {"ssn=hide", "unknown action \"hide\" (expected drop, mask, hash, truncate:N or detect)"},
        {"ssn=truncate", "truncate needs a length: truncate:N"},
        {"ssn=truncate:", "truncate needs a length: truncate:N"},
        {"ssn=truncate:0", "truncate:N needs N between 1 and 1000000, got \"0\""},
        {"ssn=truncate:-3", "truncate:N needs N between 1 and 1000000, got \"-3\""},
        {"ssn=truncate:5x", "truncate:N needs N between 1 and 1000000, got \"5x\""},
        {"ssn=", "unknown action \"\" (expected drop, mask, hash, truncate:N or detect)"},
        {"=mask", "the column name is empty"},
        {"users.ssn=mask", "\"users.ssn\": write a plain column name or schema.table.column"},
        {"ssn=detect", "detect applies to a table: write schema.table=detect, got \"ssn\""},
        {"public..ssn", "\"public..ssn\" has an empty name part"},
    };
    struct redact_spec sp;
    struct cdc_err err;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(redact_parse_item(bad[i].item, &sp, &err), CDC_ERR_CONFIG);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

static void
test_redact_key_ids(void **state)
{
    (void) state;
    assert_true(redact_key_id_is_valid("k1"));
    assert_true(redact_key_id_is_valid("2024-06.rot_A"));
    assert_true(redact_key_id_is_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    assert_false(redact_key_id_is_valid("abcdefghijklmnopqrstuvwxyz0123456"));
    assert_false(redact_key_id_is_valid(""));
    assert_false(redact_key_id_is_valid(NULL));
    assert_false(redact_key_id_is_valid("a:b"));
    assert_false(redact_key_id_is_valid("a b"));
    assert_false(redact_key_id_is_valid("k\"1"));
}

static void
test_redact_hash_needs_a_good_key(void **state)
{
    const char *items[] = {"ssn=hash"};
    struct redact_opts o = {items, 1, NULL, 0, KEY_ID, NULL};
    struct redact_set *s = NULL;
    struct cdc_err err;

    (void) state;
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_string_equal(err.msg, "a hash rule needs a key (cdc.sensitive_hash_key)");
    o.key = "short-key-15byt";
    o.key_len = strlen(o.key);
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_string_equal(err.msg, "the hash key must be at least 16 bytes");
    assert_null(strstr(err.msg, o.key));
    o.key = KEY;
    o.key_len = strlen(KEY);
    o.key_id = "bad:id";
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_null(strstr(err.msg, KEY));
    o.key_id = NULL;
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_null(s);
    /* no hash rule: no key needed */
    items[0] = "ssn=mask";
    o.key = NULL;
    o.key_len = 0;
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_OK);
    redact_set_destroy(s);
    /* a bad item is reported with its position */
    items[0] = "ssn=scramble";
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_string_equal(err.msg, "cdc.sensitive_fields item 1: unknown action \"scramble\" "
                                 "(expected drop, mask, hash, truncate:N or detect)");
}

/* ---- matching ---- */

static void
test_redact_plain_names_match_every_table(void **state)
{
    const char *items[] = {"password", "ssn=mask"};
    struct redact_set *s = make_set(items, 2, NULL);

    (void) state;
    make_rel("public", "users");
    assert_int_equal(redact_apply(s, &rel), 2);
    assert_false(cols[0].omit);
    assert_null(cols[0].redact);
    assert_true(cols[1].omit); /* drop: omitted, no value rule */
    assert_null(cols[1].redact);
    assert_false(cols[3].omit);
    assert_non_null(cols[3].redact);
    make_rel("sales", "people");
    assert_int_equal(redact_apply(s, &rel), 2);
    /* no rules at all: everything cleared */
    assert_int_equal(redact_apply(NULL, &rel), 0);
    assert_false(cols[1].omit);
    assert_null(cols[3].redact);
    redact_set_destroy(s);
}

static void
test_redact_qualified_rules_match_only_their_table(void **state)
{
    const char *items[] = {"public.users.email"};
    struct redact_set *s = make_set(items, 1, NULL);

    (void) state;
    make_rel("public", "users");
    assert_int_equal(redact_apply(s, &rel), 1);
    assert_true(cols[2].omit);
    make_rel("public", "users2");
    assert_int_equal(redact_apply(s, &rel), 0);
    make_rel("sales", "users");
    assert_int_equal(redact_apply(s, &rel), 0);
    make_rel("public", "user");
    assert_int_equal(redact_apply(s, &rel), 0);
    redact_set_destroy(s);
}

static void
test_redact_qualified_rule_wins_over_plain(void **state)
{
    /* the plain rule comes first, yet public.users.email is hashed, not dropped */
    const char *items[] = {"email", "email=mask", "public.users.email=hash"};
    struct redact_set *s = make_set(items, 3, NULL);

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    assert_false(cols[2].omit);
    assert_renders(&cols[2], "PW-Secret-1", "\"hmac:" KEY_ID ":" HMAC_PW1 "\"");
    /* elsewhere the first plain rule (drop) applies */
    make_rel("shop", "users");
    redact_apply(s, &rel);
    assert_true(cols[2].omit);
    redact_set_destroy(s);
}

/* ---- rendering ---- */

static void
test_redact_hmac_known_answers(void **state)
{
    char key1[20], key6[131];
    const char *items[] = {"v=hash"};
    struct redact_opts o = {items, 1, key1, sizeof(key1), "rfc", NULL};
    struct cdc_column c = {"v", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL};
    struct cdc_relation r = {1, "s", "t", 'd', 1, &c, "", false};
    struct redact_set *s = NULL;
    struct cdc_err err;

    (void) state;
    /* RFC 4231 test case 1: key 0x0b x 20, "Hi There" */
    memset(key1, 0x0b, sizeof(key1));
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_OK);
    redact_apply(s, &r);
    assert_renders(&c, "Hi There",
                   "\"hmac:rfc:b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7\"");
    redact_set_destroy(s);
    /* RFC 4231 test case 6: a key longer than the block (0xaa x 131) is hashed first */
    memset(key6, 0xaa, sizeof(key6));
    o.key = key6;
    o.key_len = sizeof(key6);
    assert_int_equal(redact_set_create(&s, &o, &err), CDC_OK);
    redact_apply(s, &r);
    assert_renders(&c, "Test Using Larger Than Block-Size Key - Hash Key First",
                   "\"hmac:rfc:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54\"");
    redact_set_destroy(s);
}

static void
test_redact_typed_values(void **state)
{
    const char *items[] = {"id=hash", "doc=hash", "pic=hash", "ssn=hash"};
    struct redact_set *s = make_set(items, 4, NULL);

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    /* the hash is of the source text form, and always a string */
    assert_renders(&cols[0], "42", "\"hmac:k1:" HMAC_42 "\"");
    assert_renders(&cols[4], "{\"a\": 1}", "\"hmac:k1:" HMAC_JSON "\"");
    assert_renders(&cols[5], "\\x0a0b0c", "\"hmac:k1:" HMAC_BYTEA "\"");
    assert_renders(&cols[3], "123-45-6789", "\"hmac:k1:" HMAC_SSN "\"");
    assert_renders(&cols[3], "", "\"hmac:k1:" HMAC_EMPTY "\"");
    assert_renders(&cols[3], NULL, "null");
    redact_set_destroy(s);
}

static void
test_redact_mask_any_type(void **state)
{
    const char *items[] = {"id=mask", "doc=mask", "pic=mask", "ssn=mask"};
    struct redact_set *s = make_set(items, 4, NULL);

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    assert_renders(&cols[0], "42", "\"****\"");
    assert_renders(&cols[4], "{\"a\": 1}", "\"****\"");
    assert_renders(&cols[5], "\\x0a0b0c", "\"****\"");
    assert_renders(&cols[3], "", "\"****\"");
    assert_renders(&cols[3], NULL, "null");
    redact_set_destroy(s);
}

static void
test_redact_truncate_counts_characters(void **state)
{
    const char *items[] = {"id=truncate:3", "password=truncate:2", "email=truncate:1",
                           "pic=truncate:2", "doc=truncate:4"};
    struct redact_set *s = make_set(items, 5, NULL);
    struct cdc_column blob = {"b", 0, -1, CDC_VF_BASE64, CDC_VF_STRING, false, false, NULL};

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    blob.redact = cols[5].redact; /* truncate:2 */
    /* "héllo": h + U+00E9 (2 bytes) */
    assert_renders(&cols[1], "h\xc3\xa9llo", "\"h\xc3\xa9\"");
    /* U+1F600 (4 bytes) is one character */
    assert_renders(&cols[2],
                   "\xf0\x9f\x98\x80"
                   "abc",
                   "\"\xf0\x9f\x98\x80\"");
    assert_renders(&cols[1], "a", "\"a\"");
    assert_renders(&cols[1], "", "\"\"");
    /* an int becomes the string of its first digits */
    assert_renders(&cols[0], "12345", "\"123\"");
    /* json: a string of the first characters of its text */
    assert_renders(&cols[4], "{\"a\": 1}", "\"{\\\"a\\\"\"");
    /* bytea keeps its first 2 bytes, in base64 like any bytea: 0a 0b -> "Cgs=" */
    assert_renders(&cols[5], "\\x0a0b0c", "\"Cgs=\"");
    assert_renders(&cols[5], "\\x0a", "\"Cg==\"");
    /* MySQL binary (raw bytes): "hello" -> "he" -> "aGU=" */
    assert_renders(&blob, "hello", "\"aGU=\"");
    assert_renders(&cols[1], NULL, "null");
    redact_set_destroy(s);
}

/* Each action on an update's before and after images, through the envelope. */
static void
test_redact_actions_in_before_and_after(void **state)
{
    const char *items[] = {"password=hash", "public.users.email", "ssn=mask", "doc=truncate:3",
                           "pic=mask"};
    struct redact_set *s = make_set(items, 5, NULL);
    struct cdc_value bv[NCOLS] = {{"7", 1, CDC_VAL_PRESENT},
                                  {"PW-Secret-1", 11, CDC_VAL_PRESENT},
                                  {"a@example.com", 13, CDC_VAL_PRESENT},
                                  {NULL, 0, CDC_VAL_NULL},
                                  {"[1,2]", 5, CDC_VAL_PRESENT},
                                  {NULL, 0, CDC_VAL_NULL}};
    struct cdc_value av[NCOLS] = {{"7", 1, CDC_VAL_PRESENT},
                                  {"42", 2, CDC_VAL_PRESENT},
                                  {"b@example.com", 13, CDC_VAL_PRESENT},
                                  {"123-45-6789", 11, CDC_VAL_PRESENT},
                                  {"{\"a\": 1}", 8, CDC_VAL_PRESENT},
                                  {NULL, 0, CDC_VAL_UNCHANGED}};
    struct cdc_tuple before = {NCOLS, bv}, after = {NCOLS, av};
    struct cdc_change ch;
    struct cdc_buf b = CDC_BUF_INIT;
    struct env_ctx ctx;
    struct cdc_err err;

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    memset(&ch, 0, sizeof(ch));
    ch.op = CDC_OP_UPDATE;
    ch.rel = &rel;
    ch.before = &before;
    ch.after = &after;
    env_ctx_init(&ctx, "db");
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_OK);
    cdc_buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"before\":{\"id\":7,\"password\":\"hmac:k1:" HMAC_PW1
                                   "\",\"ssn\":null,\"doc\":\"[1,\",\"pic\":null}"));
    assert_non_null(strstr(b.data, "\"after\":{\"id\":7,\"password\":\"hmac:k1:" HMAC_42
                                   "\",\"ssn\":\"****\",\"doc\":\"{\\\"a\"}"));
    /* a masked column whose value was not sent is still named as unchanged */
    assert_non_null(strstr(b.data, "\"unchanged_columns\":[\"pic\"]"));
    assert_null(strstr(b.data, "PW-Secret"));
    assert_null(strstr(b.data, "example.com"));
    assert_null(strstr(b.data, "6789"));
    assert_null(strstr(b.data, "email"));
    cdc_buf_free(&b);
    redact_set_destroy(s);
}

static void
test_redacted_columns_never_reach_the_event(void **state)
{
    const char *items[] = {"password", "public.users.email"};
    struct redact_set *s = make_set(items, 2, NULL);
    struct cdc_value before_v[NCOLS] = {{"7", 1, CDC_VAL_PRESENT},
                                        {"hunter2-old", 11, CDC_VAL_PRESENT},
                                        {"a@example.com", 13, CDC_VAL_PRESENT},
                                        {NULL, 0, CDC_VAL_NULL},
                                        {NULL, 0, CDC_VAL_NULL},
                                        {NULL, 0, CDC_VAL_NULL}};
    struct cdc_value after_v[NCOLS] = {{"7", 1, CDC_VAL_PRESENT},
                                       {NULL, 0, CDC_VAL_UNCHANGED},
                                       {"b@example.com", 13, CDC_VAL_PRESENT},
                                       {"123-45-6789", 11, CDC_VAL_PRESENT},
                                       {NULL, 0, CDC_VAL_NULL},
                                       {NULL, 0, CDC_VAL_NULL}};
    struct cdc_tuple before = {NCOLS, before_v}, after = {NCOLS, after_v};
    struct cdc_change ch;
    struct cdc_buf b = CDC_BUF_INIT;
    struct env_ctx ctx;
    struct cdc_err err;

    (void) state;
    make_rel("public", "users");
    redact_apply(s, &rel);
    memset(&ch, 0, sizeof(ch));
    ch.op = CDC_OP_UPDATE;
    ch.rel = &rel;
    ch.before = &before;
    ch.after = &after;
    env_ctx_init(&ctx, "db");
    assert_int_equal(env_encode(&ctx, &ch, &b, &err), CDC_OK);
    cdc_buf_putc(&b, '\0');
    assert_null(strstr(b.data, "hunter2"));
    assert_null(strstr(b.data, "example.com"));
    assert_null(strstr(b.data, "password"));
    assert_null(strstr(b.data, "email"));
    /* not a rule: still there */
    assert_non_null(
        strstr(b.data, "\"after\":{\"id\":7,\"ssn\":\"123-45-6789\",\"doc\":null,\"pic\":null}"));
    assert_non_null(strstr(b.data, "\"before\":{\"id\":7,\"ssn\":null,\"doc\":null,\"pic\":null}"));
    /* an unchanged dropped column is not even named */
    assert_null(strstr(b.data, "unchanged_columns"));
    cdc_buf_free(&b);
    redact_set_destroy(s);
}

/* ---- PII detection ---- */

static void
test_redact_pii_finds_what_it_should(void **state)
{
    static const struct {
        const char *text;
        int kind; /* -1: nothing */
    } cases[] = {
        {"ann@example.com", REDACT_PII_EMAIL},
        {"write to ann.lee+x@mail.example.org today.", REDACT_PII_EMAIL},
        {"mail me: bob@example.co.", REDACT_PII_EMAIL},
        {"a@b", -1},
        {"user@localhost", -1},
        {"@example.com", -1},
        {"x@example.c", -1},
        {"x@.example.com", -1},
        {"x@example..com", -1},
        {"4111 1111 1111 1111", REDACT_PII_CARD},
        {"card 4111-1111-1111-1111 exp 12/29", REDACT_PII_CARD},
        {"5555555555554444", REDACT_PII_CARD},
        {"amex 378282246310005", REDACT_PII_CARD},
        {"4222222222222", REDACT_PII_CARD}, /* 13 digits */
        {"4111111111111112", -1},           /* Luhn fails */
        {"79927398713", -1},                /* Luhn passes, but 11 digits */
        {"41111111111111111111", -1},       /* 20 digits */
        {"order 4111111111111111x", -1},    /* part of a word */
        {"123-45-6789", REDACT_PII_SSN},
        {"ssn: 123-45-6789.", REDACT_PII_SSN},
        {"000-12-3456", -1},
        {"666-12-3456", -1},
        {"900-12-3456", -1},
        {"123-00-4567", -1},
        {"123-45-0000", -1},
        {"9123-45-6789", -1},
        {"123-45-67890", -1},
        {"1-123-45-6789", -1},
        {"2024-01-02", -1},
        {"+1 555-123-4567", -1},
        {"hello world", -1},
        {"", -1},
    };
    enum redact_pii kind;

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool hit = redact_pii_find(cases[i].text, strlen(cases[i].text), &kind);

        if (hit != (cases[i].kind >= 0) || (hit && (int) kind != cases[i].kind))
            fail_msg("\"%s\": expected %d, got %s %d", cases[i].text, cases[i].kind,
                     hit ? "hit" : "none", hit ? (int) kind : -1);
    }
    assert_string_equal(redact_pii_name(REDACT_PII_EMAIL), "email");
    assert_string_equal(redact_pii_name(REDACT_PII_CARD), "card");
    assert_string_equal(redact_pii_name(REDACT_PII_SSN), "ssn");
}

static void
test_redact_detect_masks_and_counts(void **state)
{
    const char *items[] = {"public.users=detect", "ssn=truncate:3"};
    _Atomic uint64_t hits[REDACT_PII_N] = {0};
    struct redact_set *s = make_set(items, 2, hits);

    (void) state;
    make_rel("public", "users");
    /* text columns without a rule: password, email; ssn keeps its own rule; id, doc, pic are
     * not text */
    assert_int_equal(redact_apply(s, &rel), 3);
    assert_null(cols[0].redact);
    assert_null(cols[4].redact);
    assert_null(cols[5].redact);
    assert_renders(&cols[2], "ann@example.com", "\"****\"");
    assert_renders(&cols[2], "ann at example", "\"ann at example\"");
    assert_renders(&cols[1], "4111 1111 1111 1111", "\"****\"");
    assert_renders(&cols[1], "my ssn is 123-45-6789", "\"****\"");
    assert_renders(&cols[1], NULL, "null");
    assert_renders(&cols[3], "123-45-6789", "\"123\"");
    assert_int_equal(hits[REDACT_PII_EMAIL], 1);
    assert_int_equal(hits[REDACT_PII_CARD], 1);
    assert_int_equal(hits[REDACT_PII_SSN], 1);
    /* another table: no detection */
    make_rel("public", "orders");
    assert_int_equal(redact_apply(s, &rel), 1);
    assert_null(cols[2].redact);
    redact_set_destroy(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_items_parse),
        cmocka_unit_test(test_redact_bad_items_say_why),
        cmocka_unit_test(test_redact_key_ids),
        cmocka_unit_test(test_redact_hash_needs_a_good_key),
        cmocka_unit_test(test_redact_plain_names_match_every_table),
        cmocka_unit_test(test_redact_qualified_rules_match_only_their_table),
        cmocka_unit_test(test_redact_qualified_rule_wins_over_plain),
        cmocka_unit_test(test_redact_hmac_known_answers),
        cmocka_unit_test(test_redact_typed_values),
        cmocka_unit_test(test_redact_mask_any_type),
        cmocka_unit_test(test_redact_truncate_counts_characters),
        cmocka_unit_test(test_redact_actions_in_before_and_after),
        cmocka_unit_test(test_redacted_columns_never_reach_the_event),
        cmocka_unit_test(test_redact_pii_finds_what_it_should),
        cmocka_unit_test(test_redact_detect_masks_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
