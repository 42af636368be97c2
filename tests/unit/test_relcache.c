/*
 * test_relcache.c - the relation cache (relcache.c): relations built from
 * hand-built pgoutput Relation messages, name copies, replacement, growth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "source/pg/pgoutput.h"
#include "source/pg/relcache.h"

/* A message under construction. */
struct mb {
    uint8_t b[512];
    size_t n;
};

static void
mb_u8(struct mb *m, uint8_t v)
{
    assert_true(m->n < sizeof(m->b));
    m->b[m->n++] = v;
}

static void
mb_u16(struct mb *m, uint16_t v)
{
    mb_u8(m, (uint8_t) (v >> 8));
    mb_u8(m, (uint8_t) v);
}

static void
mb_u32(struct mb *m, uint32_t v)
{
    mb_u16(m, (uint16_t) (v >> 16));
    mb_u16(m, (uint16_t) v);
}

static void
mb_str(struct mb *m, const char *s)
{
    for (size_t i = 0; i <= strlen(s); i++)
        mb_u8(m, (uint8_t) s[i]);
}

/* Relation 16384 public.t (id int4 key, name text, n numeric), replica identity default. */
static void
mb_relation(struct mb *m)
{
    mb_u8(m, 'R');
    mb_u32(m, 16384);
    mb_str(m, "public");
    mb_str(m, "t");
    mb_u8(m, 'd');
    mb_u16(m, 3);
    mb_u8(m, 1);
    mb_str(m, "id");
    mb_u32(m, 23);
    mb_u32(m, 0xffffffff);
    mb_u8(m, 0);
    mb_str(m, "name");
    mb_u32(m, 25);
    mb_u32(m, 0xffffffff);
    mb_u8(m, 0);
    mb_str(m, "n");
    mb_u32(m, 1700);
    mb_u32(m, (10 << 16 | 2) + 4);
}

static void
test_relcache_copies_names_and_replaces_relations(void **state)
{
    struct relcache *rc;
    struct mb m = {0};
    struct pgo_msg msg;
    const struct cdc_relation *rel;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(relcache_create(&rc, &err), CDC_OK);
    assert_null(relcache_get(rc, 16384));
    mb_relation(&m);
    assert_int_equal(pgo_decode(m.b, m.n, &msg, &err), CDC_OK);
    assert_int_equal(relcache_put(rc, &msg.u.relation, &err), CDC_OK);
    memset(m.b, 0, sizeof(m.b)); /* the cache must not point into the message */
    rel = relcache_get(rc, 16384);
    assert_non_null(rel);
    assert_string_equal(rel->schema, "public");
    assert_string_equal(rel->table, "t");
    assert_int_equal(rel->replident, 'd');
    assert_int_equal(rel->ncols, 3);
    assert_string_equal(rel->cols[0].name, "id");
    assert_true(rel->cols[0].is_key);
    assert_int_equal(rel->cols[0].fmt, CDC_VF_INT);
    assert_false(rel->cols[1].is_key);
    assert_int_equal(rel->cols[1].fmt, CDC_VF_STRING);
    assert_int_equal(rel->cols[2].fmt, CDC_VF_NUMERIC);
    assert_int_equal(rel->cols[2].type_mod, (10 << 16 | 2) + 4);

    /* a new definition of the same relid replaces the old one */
    m.n = 0;
    mb_u8(&m, 'R');
    mb_u32(&m, 16384);
    mb_str(&m, "s2");
    mb_str(&m, "renamed");
    mb_u8(&m, 'f');
    mb_u16(&m, 1);
    mb_u8(&m, 0);
    mb_str(&m, "only");
    mb_u32(&m, 1007);
    mb_u32(&m, 0xffffffff);
    assert_int_equal(pgo_decode(m.b, m.n, &msg, &err), CDC_OK);
    assert_int_equal(relcache_put(rc, &msg.u.relation, &err), CDC_OK);
    rel = relcache_get(rc, 16384);
    assert_string_equal(rel->schema, "s2");
    assert_string_equal(rel->table, "renamed");
    assert_int_equal(rel->ncols, 1);
    assert_int_equal(rel->cols[0].fmt, CDC_VF_ARRAY);
    assert_int_equal(rel->cols[0].elem_fmt, CDC_VF_INT);
    assert_int_equal(relcache_count(rc), 1);
    relcache_destroy(rc);
}

static void
test_relcache_holds_many_relations(void **state)
{
    struct relcache *rc;
    struct mb m = {0};
    struct pgo_msg msg;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(relcache_create(&rc, &err), CDC_OK);
    mb_relation(&m);
    assert_int_equal(pgo_decode(m.b, m.n, &msg, &err), CDC_OK);
    for (uint32_t id = 1; id <= 1000; id++) {
        msg.u.relation.relid = id * 7;
        assert_int_equal(relcache_put(rc, &msg.u.relation, &err), CDC_OK);
    }
    assert_int_equal(relcache_count(rc), 1000);
    for (uint32_t id = 1; id <= 1000; id++) {
        assert_non_null(relcache_get(rc, id * 7));
        assert_int_equal(relcache_get(rc, id * 7)->id, id * 7);
    }
    assert_null(relcache_get(rc, 3));
    relcache_destroy(rc);
    relcache_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relcache_copies_names_and_replaces_relations),
        cmocka_unit_test(test_relcache_holds_many_relations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
