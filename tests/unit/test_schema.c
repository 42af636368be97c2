/*
 * test_schema.c - schema versions, compatibility, the registry's documents
 * (transform/schema.c), the tracker's decisions against a fake registry
 * (pipeline/schematrack.c), the JSON reader (event/jsonr.c) and the
 * PostgreSQL DDL message (source/pg/pgdecode.c).
 *
 * The expected schema versions were computed outside our code from the bytes
 * docs/EVENTS.md documents, e.g.
 *   printf 'id\00023\000-1\nname\00025\000-1\n' | sha256sum | cut -c1-16
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
#include "event/jsonr.h"
#include "pipeline/schematrack.h"
#include "source/pg/pgdecode.h"
#include "transform/schema.h"

#define V_ID_NAME       "2125cc5a3172ba7d" /* id int4, name text */
#define V_ID_NAME_EMAIL "f806d1f13ec383a9" /* ... plus email varchar(255) */

static struct cdc_column cols[4];
static struct cdc_relation rel;

/* public.users: id int4 (key), name text, [email varchar(255)] */
static void
make_users(bool with_email)
{
    memset(cols, 0, sizeof(cols));
    cols[0] = (struct cdc_column){"id", 23, -1, CDC_VF_INT, CDC_VF_STRING, true, false, NULL};
    cols[1] = (struct cdc_column){"name", 25, -1, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL};
    cols[2] =
        (struct cdc_column){"email", 1043, 259, CDC_VF_STRING, CDC_VF_STRING, false, false, NULL};
    rel = (struct cdc_relation){16384, "public", "users", 'd', with_email ? 3 : 2, cols, "", false};
}

static void
test_schema_version_hashes_names_and_types(void **state)
{
    char v[SCHEMA_VERSION_LEN + 1];

    (void) state;
    make_users(false);
    schema_version_of(&rel, v);
    assert_string_equal(v, V_ID_NAME);
    make_users(true);
    schema_version_of(&rel, v);
    assert_string_equal(v, V_ID_NAME_EMAIL);
    /* not the names of the schema or table, not the key flag, not the rendering */
    rel.schema = "other";
    rel.table = "t";
    cols[0].is_key = false;
    cols[1].fmt = CDC_VF_JSON;
    schema_version_of(&rel, v);
    assert_string_equal(v, V_ID_NAME_EMAIL);
    /* a type modifier is part of the type */
    cols[2].type_mod = 104;
    schema_version_of(&rel, v);
    assert_string_not_equal(v, V_ID_NAME_EMAIL);
    rel.ncols = 0;
    schema_version_of(&rel, v);
    assert_string_equal(v, "e3b0c44298fc1c14"); /* SHA-256 of nothing */
}

static void
test_schema_compare_classifies_changes(void **state)
{
    struct schema_def old;
    struct schema_diff d;

    (void) state;
    make_users(false);
    assert_int_equal(schema_def_from_rel(&old, &rel, NULL), CDC_OK);
    assert_string_equal(old.version, V_ID_NAME);
    schema_compare(&old, &rel, &d);
    assert_int_equal(d.change, SCHEMA_SAME);

    make_users(true); /* a column added */
    schema_compare(&old, &rel, &d);
    assert_int_equal(d.change, SCHEMA_COMPATIBLE);
    assert_int_equal(d.n_added, 1);
    assert_string_equal(d.what, "column \"email\" was added");

    make_users(false); /* name int8 instead of text */
    cols[1].type_id = 20;
    schema_compare(&old, &rel, &d);
    assert_int_equal(d.change, SCHEMA_INCOMPATIBLE);
    assert_string_equal(d.what,
                        "column \"name\" changed type from 25/-1 to 20/-1 (type id/modifier)");

    make_users(false); /* name dropped */
    rel.ncols = 1;
    schema_compare(&old, &rel, &d);
    assert_int_equal(d.change, SCHEMA_INCOMPATIBLE);
    assert_int_equal(d.n_incompatible, 1);
    assert_string_equal(d.what, "column \"name\" was dropped (or renamed)");

    make_users(true); /* renamed: name -> email of another type, seen as drop + add */
    cols[1] = cols[2];
    rel.ncols = 2;
    schema_compare(&old, &rel, &d);
    assert_int_equal(d.change, SCHEMA_INCOMPATIBLE);
    assert_int_equal(d.n_added, 1);
    schema_def_free(&old);
}

static void
test_schema_kv_key_escapes_each_name_into_one_token(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    schema_kv_key(&b, "shop", "public", "users", "v1");
    assert_string_equal(b.data, "shop.public.users.v1");
    cdc_buf_reset(&b);
    schema_kv_key(&b, "my db", "Sales.Data", "caf\xc3\xa9=%", "latest");
    assert_string_equal(b.data, "my=20db.Sales=2EData.caf=C3=A9=3D=25.latest");
    cdc_buf_reset(&b);
    schema_kv_key(&b, "", NULL, "t-1_x", "v2");
    assert_string_equal(b.data, "=00.=00.t-1_x.v2");
    cdc_buf_free(&b);
}

static void
test_schema_json_schema_of_a_table(void **state)
{
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    make_users(true);
    cols[2].omit = true; /* redacted: events never carry it */
    cols[1].fmt = CDC_VF_JSON;
    schema_json_schema(&b, &rel, "shop", 2);
    assert_string_equal(
        b.data,
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
        "\"$id\":\"urn:cdc-handler:schema:shop.public.users.v2\",\"title\":\"public.users\","
        "\"description\":\"row image (before/after) of the table's change events\","
        "\"type\":\"object\",\"properties\":{"
        "\"id\":{\"type\":[\"integer\",\"null\"],\"x-cdc-type-id\":23,\"x-cdc-type-mod\":-1,"
        "\"x-cdc-key\":true},"
        "\"name\":{\"x-cdc-type-id\":25,\"x-cdc-type-mod\":-1,\"x-cdc-key\":false}},"
        "\"additionalProperties\":false,\"x-cdc-database\":\"shop\",\"x-cdc-schema\":\"public\","
        "\"x-cdc-table\":\"users\",\"x-cdc-version\":2,"
        "\"x-cdc-schema-version\":\"" V_ID_NAME_EMAIL "\"}");
    cdc_buf_free(&b);
}

static void
test_schema_index_round_trips(void **state)
{
    struct schema_index ix, back;
    struct cdc_buf b = CDC_BUF_INIT;
    struct cdc_err err;

    (void) state;
    memset(&ix, 0, sizeof(ix));
    make_users(true);
    cols[1].name = "na\"me\n\xc3\xa9";
    assert_int_equal(schema_index_add(&ix, V_ID_NAME, 0x16B374D848ULL, NULL), CDC_OK);
    assert_int_equal(schema_index_add(&ix, V_ID_NAME_EMAIL, 0x16B3750000ULL, NULL), CDC_OK);
    assert_int_equal(schema_def_from_rel(&ix.latest, &rel, NULL), CDC_OK);
    schema_index_encode(&b, &ix);
    /* the version written is the newest one; positions in the event id's hex form */
    assert_non_null(strstr(b.data, "{\"version\":2,\"schema_version\":\""));
    assert_non_null(strstr(b.data, "\"versions\":[[\"" V_ID_NAME
                                   "\",\"00000016B374D848\"],[\"" V_ID_NAME_EMAIL
                                   "\",\"00000016B3750000\"]]"));
    assert_non_null(
        strstr(b.data, "{\"name\":\"na\\\"me\\n\xc3\xa9\",\"type_id\":25,\"type_mod\":-1}"));
    assert_int_equal(schema_index_parse(b.data, b.len, &back, &err), CDC_OK);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.versions[0], V_ID_NAME);
    assert_string_equal(back.versions[1], V_ID_NAME_EMAIL);
    assert_true(back.first_pos[0] == 0x16B374D848ULL);
    assert_true(back.first_pos[1] == 0x16B3750000ULL);
    assert_int_equal(back.latest.ncols, 3);
    assert_string_equal(back.latest.cols[1].name, "na\"me\n\xc3\xa9");
    assert_int_equal(back.latest.cols[2].type_id, 1043);
    assert_int_equal(back.latest.cols[2].type_mod, 259);
    schema_index_free(&back);

    /* the newest hash and the version count must agree; garbage is refused */
    static const char *const bad[] = {
        "",
        "{}",
        "[1]",
        "{\"version\":2,\"schema_version\":\"" V_ID_NAME "\",\"versions\":[[\"" V_ID_NAME
        "\",\"0000000000000001\"]],\"columns\":[]}",
        "{\"version\":1,\"schema_version\":\"zz\",\"versions\":[[\"zz\",\"0000000000000001\"]],"
        "\"columns\":[]}",
        "{\"version\":1,\"schema_version\":\"" V_ID_NAME "\",\"versions\":[[\"" V_ID_NAME
        "\",\"0000000000000001\"]],\"columns\":[{\"name\":1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(schema_index_parse(bad[i], strlen(bad[i]), &back, &err), CDC_ERR_PROTO);
        assert_int_equal(back.n, 0);
    }
    schema_index_free(&ix);
    cdc_buf_free(&b);
}

static void
test_jsonr_reads_members_strings_and_integers(void **state)
{
    static const char text[] = " { \"a\" : [1, {\"x\": \"}\"}, null, true, -2.5e3], \"s\": "
                               "\"q\\\"\\\\\\/\\u00e9\\ud83d\\ude00\","
                               " \"n\": -42, \"big\": 9223372036854775808 } ";
    struct cdc_buf b = CDC_BUF_INIT;
    struct jsonr r, v;
    int64_t n;

    (void) state;
    jsonr_init(&r, text, strlen(text));
    assert_true(jsonr_member(&r, "s", &v));
    assert_true(jsonr_string(&v, &b));
    assert_string_equal(b.data, "q\"\\/\xc3\xa9\xf0\x9f\x98\x80");
    assert_true(jsonr_member(&r, "n", &v));
    assert_true(jsonr_int(&v, &n));
    assert_int_equal(n, -42);
    assert_true(jsonr_member(&r, "big", &v));
    assert_false(jsonr_int(&v, &n));         /* beyond int64 */
    assert_false(jsonr_member(&r, "x", &v)); /* only top-level members */
    jsonr_init(&r, "\"abc", 4);
    cdc_buf_reset(&b);
    assert_false(jsonr_string(&r, &b));
    jsonr_init(&r, "\"\\ud83d\"", 8); /* a lone surrogate */
    assert_false(jsonr_string(&r, &b));
    cdc_buf_free(&b);
}

/* ---- the tracker, against an in-memory registry ---- */

#define FAKE_MAX 16
struct fake_store {
    char *keys[FAKE_MAX], *vals[FAKE_MAX];
    int n, puts, gets;
    bool down; /* every call fails with CDC_ERR_RETRY */
};

static cdc_rc
fake_get(void *closure, const char *key, struct cdc_buf *val, bool *found, struct cdc_err *err)
{
    struct fake_store *f = closure;

    *found = false;
    f->gets++;
    if (f->down)
        return cdc_err_set(err, CDC_ERR_RETRY, "registry down");
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0) {
            cdc_buf_puts(val, f->vals[i]);
            *found = true;
        }
    return CDC_OK;
}

static cdc_rc
fake_put(void *closure, const char *key, const char *data, size_t len, struct cdc_err *err)
{
    struct fake_store *f = closure;

    if (f->down)
        return cdc_err_set(err, CDC_ERR_RETRY, "registry down");
    f->puts++;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0) {
            free(f->vals[i]);
            f->vals[i] = strndup(data, len);
            return CDC_OK;
        }
    assert_true(f->n < FAKE_MAX);
    f->keys[f->n] = strdup(key);
    f->vals[f->n++] = strndup(data, len);
    return CDC_OK;
}

static const char *
fake_value(const struct fake_store *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0)
            return f->vals[i];
    return NULL;
}

static void
fake_free(struct fake_store *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->keys[i]);
        free(f->vals[i]);
    }
}

static struct schematrack *
tracker(struct fake_store *f, bool strict, bool *accept)
{
    struct schematrack_opts o;
    struct schematrack *t = NULL;

    memset(&o, 0, sizeof(o));
    o.database = "shop";
    o.strict = strict;
    o.accept = accept;
    o.store.get = fake_get;
    o.store.put = fake_put;
    o.store.closure = f;
    assert_int_equal(schematrack_create(&t, &o, NULL), CDC_OK);
    return t;
}

static void
test_schematrack_registers_each_new_version_once(void **state)
{
    struct fake_store f = {0};
    struct schematrack *t = tracker(&f, true, NULL);
    struct cdc_err err;
    const char *ix;

    (void) state;
    make_users(false);
    schematrack_begin(t, 100);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_string_equal(rel.schema_version, V_ID_NAME);
    assert_int_equal(f.puts, 2); /* v1 and the index */
    assert_non_null(strstr(fake_value(&f, "shop.public.users.v1"), "\"x-cdc-version\":1,"));
    ix = fake_value(&f, "shop.public.users.latest");
    assert_non_null(ix);
    assert_non_null(strstr(ix, "\"versions\":[[\"" V_ID_NAME "\",\"0000000000000064\"]]"));

    /* the same definition again (every transaction on MySQL): nothing written */
    schematrack_on_relation(t, &rel);
    assert_int_equal(f.puts, 2);
    schematrack_commit(t);

    /* a column added: compatible, even in strict mode; v2 */
    make_users(true);
    schematrack_begin(t, 200);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_string_equal(rel.schema_version, V_ID_NAME_EMAIL);
    assert_int_equal(f.puts, 4);
    assert_non_null(fake_value(&f, "shop.public.users.v2"));
    assert_int_equal(schematrack_versions(t, "public", "users"), 2);
    schematrack_destroy(t);

    /* a restart: the index is the previous definition; a replay of v1 history is not a change */
    t = tracker(&f, true, NULL);
    make_users(false);
    schematrack_begin(t, 150); /* before v2's first position */
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    make_users(true);
    schematrack_begin(t, 200);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_int_equal(f.puts, 4);
    schematrack_destroy(t);
    fake_free(&f);
}

static void
test_schematrack_strict_mode_stops_until_accepted(void **state)
{
    struct fake_store f = {0};
    struct schematrack *t = tracker(&f, true, NULL);
    bool accept = true;
    struct cdc_err err;

    (void) state;
    make_users(true);
    schematrack_begin(t, 100);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    schematrack_commit(t);
    schematrack_destroy(t);

    /* a restart, then email dropped: refused, nothing written */
    t = tracker(&f, true, NULL);
    make_users(false);
    schematrack_begin(t, 0x500);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_ERR_FATAL);
    assert_string_equal(
        err.msg, "incompatible schema change of table \"public\".\"users\" at 0/500: column "
                 "\"email\" was dropped (or renamed) (schema version " V_ID_NAME_EMAIL
                 " -> " V_ID_NAME "); strict_mode is on: nothing from this transaction on is "
                 "published or confirmed; adapt the consumers, then restart with "
                 "--accept-schema-change");
    assert_int_equal(f.puts, 2);
    assert_int_equal(schematrack_check(t, &err), CDC_OK); /* reported once */
    schematrack_destroy(t);

    /* restarted with --accept-schema-change: registered as v2, the flag is spent at commit */
    t = tracker(&f, true, &accept);
    schematrack_begin(t, 0x500);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_int_equal(f.puts, 4);
    assert_true(accept);
    schematrack_commit(t);
    assert_false(accept);
    /* the next incompatible change stops again */
    make_users(false);
    cols[0].type_id = 20;
    schematrack_begin(t, 0x600);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "column \"id\" changed type from 23/-1 to 20/-1"));
    schematrack_destroy(t);
    fake_free(&f);
}

static void
test_schematrack_lenient_mode_and_registry_failures(void **state)
{
    struct fake_store f = {0};
    struct schematrack *t = tracker(&f, false, NULL);
    struct cdc_err err;

    (void) state;
    make_users(true);
    schematrack_begin(t, 1);
    schematrack_on_relation(t, &rel);
    make_users(false); /* dropped: logged, registered, on we go */
    schematrack_begin(t, 2);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_int_equal(schematrack_versions(t, "public", "users"), 2);

    /* the registry is down: the version is not adopted, the failure is a retry */
    f.down = true;
    make_users(true);
    schematrack_begin(t, 3);
    schematrack_on_relation(t, &rel);
    assert_int_equal(schematrack_check(t, &err), CDC_ERR_RETRY);
    assert_int_equal(schematrack_versions(t, "public", "users"), 2);
    f.down = false;
    schematrack_on_relation(t, &rel); /* the replay: registered now */
    assert_int_equal(schematrack_check(t, &err), CDC_OK);
    assert_int_equal(schematrack_versions(t, "public", "users"), 3);
    assert_non_null(fake_value(&f, "shop.public.users.v3"));
    schematrack_destroy(t);
    fake_free(&f);
}

/* ---- pgoutput: setup-ddl's message becomes a DDL change ---- */

static size_t
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (56 - 8 * i));
    return 8;
}

static size_t
put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (24 - 8 * i));
    return 4;
}

static void
test_pgd_ddl_message_becomes_a_ddl_change_in_order(void **state)
{
    static const char json[] = "{\"command\": \"ALTER TABLE t ADD c int; -- \\u00e9\", \"tag\": "
                               "\"ALTER TABLE\", \"objects\": [], \"dropped\": []}";
    uint8_t msg[512];
    struct pgd *d = NULL;
    struct pgd_out out;
    struct cdc_err err;
    size_t n = 0;

    (void) state;
    assert_int_equal(pgd_create(&d, &err), CDC_OK);
    msg[n++] = 'B';
    n += put_u64(msg + n, 0x3000);
    n += put_u64(msg + n, 0);
    n += put_u32(msg + n, 77);
    assert_int_equal(pgd_feed(d, msg, n, 0x1000, &out, &err), CDC_OK);

    n = 0; /* the heartbeat's message: not a change */
    msg[n++] = 'M';
    msg[n++] = 1;
    n += put_u64(msg + n, 0x1100);
    memcpy(msg + n, "cdc_handler.heartbeat", 22);
    n += 22;
    n += put_u32(msg + n, 1);
    msg[n++] = 'x';
    assert_int_equal(pgd_feed(d, msg, n, 0x1100, &out, &err), CDC_OK);
    assert_int_equal(out.kind, PGD_MESSAGE);

    n = 0;
    msg[n++] = 'M';
    msg[n++] = 1;
    n += put_u64(msg + n, 0x1200);
    memcpy(msg + n, PGD_DDL_PREFIX, sizeof(PGD_DDL_PREFIX));
    n += sizeof(PGD_DDL_PREFIX);
    n += put_u32(msg + n, (uint32_t) strlen(json));
    memcpy(msg + n, json, strlen(json));
    n += strlen(json);
    assert_int_equal(pgd_feed(d, msg, n, 0x1200, &out, &err), CDC_OK);
    assert_int_equal(out.kind, PGD_CHANGES);
    assert_int_equal(out.n_changes, 1);
    assert_int_equal(out.changes[0].op, CDC_OP_DDL);
    assert_null(out.changes[0].rel);
    assert_string_equal(out.changes[0].ddl, "ALTER TABLE t ADD c int; -- \xc3\xa9");
    assert_int_equal(out.changes[0].seq, 0);
    assert_int_equal(out.changes[0].xid, 77);
    assert_true(out.changes[0].commit_lsn == 0x3000);
    assert_true(out.changes[0].lsn == 0x1200);

    /* content that is not our JSON: the text is the whole content */
    n -= strlen(json) + 4;
    n += put_u32(msg + n, 9);
    memcpy(msg + n, "DROP x;{}", 9);
    n += 9;
    assert_int_equal(pgd_feed(d, msg, n, 0x1300, &out, &err), CDC_OK);
    assert_int_equal(out.kind, PGD_CHANGES);
    assert_string_equal(out.changes[0].ddl, "DROP x;{}");
    assert_int_equal(out.changes[0].seq, 1);
    pgd_destroy(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_version_hashes_names_and_types),
        cmocka_unit_test(test_schema_compare_classifies_changes),
        cmocka_unit_test(test_schema_kv_key_escapes_each_name_into_one_token),
        cmocka_unit_test(test_schema_json_schema_of_a_table),
        cmocka_unit_test(test_schema_index_round_trips),
        cmocka_unit_test(test_jsonr_reads_members_strings_and_integers),
        cmocka_unit_test(test_schematrack_registers_each_new_version_once),
        cmocka_unit_test(test_schematrack_strict_mode_stops_until_accepted),
        cmocka_unit_test(test_schematrack_lenient_mode_and_registry_failures),
        cmocka_unit_test(test_pgd_ddl_message_becomes_a_ddl_change_in_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
