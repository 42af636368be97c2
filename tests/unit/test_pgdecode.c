/*
 * test_pgdecode.c - the pgoutput stream decoder (pgdecode.c): transaction
 * stamping, row images, errors, on hand-built messages; then a real capture
 * from PostgreSQL 15 (tests/data/pgoutput/workload.bin, made by
 * scripts/capture_pgoutput.sh) checked against the values its SQL wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "source/pg/pgdecode.h"

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
mb_u64(struct mb *m, uint64_t v)
{
    mb_u32(m, (uint32_t) (v >> 32));
    mb_u32(m, (uint32_t) v);
}

static void
mb_str(struct mb *m, const char *s)
{
    for (size_t i = 0; i <= strlen(s); i++)
        mb_u8(m, (uint8_t) s[i]);
}

static void
mb_text(struct mb *m, const char *s)
{
    mb_u8(m, 't');
    mb_u32(m, (uint32_t) strlen(s));
    for (size_t i = 0; i < strlen(s); i++)
        mb_u8(m, (uint8_t) s[i]);
}

static void
mb_reset(struct mb *m, char type)
{
    m->n = 0;
    mb_u8(m, (uint8_t) type);
}

/* A state holding a decoder and a scratch message. */
struct fx {
    struct pgd *d;
    struct mb m;
    struct pgd_out out;
    struct cdc_err err;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL || pgd_create(&f->d, &f->err) != CDC_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    pgd_destroy(f->d);
    free(f);
    return 0;
}

static cdc_rc
feed(struct fx *f, cdc_lsn lsn)
{
    return pgd_feed(f->d, f->m.b, f->m.n, lsn, &f->out, &f->err);
}

/* Relation relid public.<name>: id int4 key, name text, big text. */
static void
send_relation(struct fx *f, uint32_t relid, const char *name)
{
    static const struct {
        const char *n;
        uint32_t oid;
        uint8_t key;
    } cols[] = {{"id", 23, 1}, {"name", 25, 0}, {"big", 25, 0}};

    mb_reset(&f->m, 'R');
    mb_u32(&f->m, relid);
    mb_str(&f->m, "public");
    mb_str(&f->m, name);
    mb_u8(&f->m, 'd');
    mb_u16(&f->m, 3);
    for (size_t i = 0; i < 3; i++) {
        mb_u8(&f->m, cols[i].key);
        mb_str(&f->m, cols[i].n);
        mb_u32(&f->m, cols[i].oid);
        mb_u32(&f->m, 0xffffffff);
    }
    assert_int_equal(feed(f, 0x10), CDC_OK);
    assert_int_equal(f->out.kind, PGD_NONE);
}

static void
send_begin(struct fx *f, uint64_t final_lsn, uint32_t xid)
{
    mb_reset(&f->m, 'B');
    mb_u64(&f->m, final_lsn);
    mb_u64(&f->m, 2000000); /* 2000-01-01 00:00:02 UTC */
    mb_u32(&f->m, xid);
    assert_int_equal(feed(f, 0x20), CDC_OK);
    assert_int_equal(f->out.kind, PGD_BEGIN);
    assert_true(f->out.commit_lsn == final_lsn);
    assert_int_equal(f->out.xid, xid);
}

static void
assert_val(const struct cdc_value *v, enum cdc_vstate st, const char *text)
{
    assert_int_equal(v->state, st);
    if (text != NULL) {
        assert_int_equal(v->len, strlen(text));
        assert_memory_equal(v->data, text, v->len);
    }
}

static void
test_pgd_insert_is_stamped_with_transaction_and_seq(void **state)
{
    struct fx *f = *state;
    const struct cdc_change *c;

    send_relation(f, 100, "t");
    send_begin(f, 0x5000, 77);
    for (uint32_t i = 0; i < 2; i++) {
        mb_reset(&f->m, 'I');
        mb_u32(&f->m, 100);
        mb_u8(&f->m, 'N');
        mb_u16(&f->m, 3);
        mb_text(&f->m, i == 0 ? "1" : "2");
        mb_u8(&f->m, 'n');
        mb_text(&f->m, "");
        assert_int_equal(feed(f, 0x4000 + i), CDC_OK);
        assert_int_equal(f->out.kind, PGD_CHANGES);
        assert_int_equal(f->out.n_changes, 1);
        c = &f->out.changes[0];
        assert_int_equal(c->op, CDC_OP_INSERT);
        assert_string_equal(c->rel->table, "t");
        assert_null(c->before);
        assert_non_null(c->after);
        assert_true(c->lsn == 0x4000 + i);
        assert_true(c->commit_lsn == 0x5000);
        assert_int_equal(c->xid, 77);
        assert_int_equal(c->seq, i);
        assert_true(c->commit_time_us == INT64_C(946684802000000));
        assert_int_equal(c->after->nvals, 3);
        assert_val(&c->after->vals[0], CDC_VAL_PRESENT, i == 0 ? "1" : "2");
        assert_val(&c->after->vals[1], CDC_VAL_NULL, NULL);
        assert_val(&c->after->vals[2], CDC_VAL_PRESENT, ""); /* empty string is not NULL */
    }
    mb_reset(&f->m, 'C');
    mb_u8(&f->m, 0);
    mb_u64(&f->m, 0x5000);
    mb_u64(&f->m, 0x5030);
    mb_u64(&f->m, 2000000);
    assert_int_equal(feed(f, 0x5000), CDC_OK);
    assert_int_equal(f->out.kind, PGD_COMMIT);
    assert_true(f->out.commit_lsn == 0x5000);
    assert_true(f->out.end_lsn == 0x5030);

    /* the next transaction starts again at seq 0 */
    send_begin(f, 0x6000, 78);
    mb_reset(&f->m, 'D');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'K');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_u8(&f->m, 'n');
    mb_u8(&f->m, 'n');
    assert_int_equal(feed(f, 0x5f00), CDC_OK);
    c = &f->out.changes[0];
    assert_int_equal(c->seq, 0);
    assert_int_equal(c->xid, 78);
}

static void
test_pgd_key_only_old_tuple_marks_non_key_columns_absent(void **state)
{
    struct fx *f = *state;
    const struct cdc_change *c;

    send_relation(f, 100, "t");
    send_begin(f, 0x5000, 1);
    mb_reset(&f->m, 'D');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'K');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "9");
    mb_u8(&f->m, 'n');
    mb_u8(&f->m, 'n');
    assert_int_equal(feed(f, 0x4000), CDC_OK);
    c = &f->out.changes[0];
    assert_int_equal(c->op, CDC_OP_DELETE);
    assert_null(c->after);
    assert_non_null(c->before);
    assert_val(&c->before->vals[0], CDC_VAL_PRESENT, "9");
    assert_val(&c->before->vals[1], CDC_VAL_ABSENT, NULL);
    assert_val(&c->before->vals[2], CDC_VAL_ABSENT, NULL);
}

static void
test_pgd_update_fills_unchanged_toast_from_full_old_tuple(void **state)
{
    struct fx *f = *state;
    const struct cdc_change *c;

    send_relation(f, 100, "t");
    send_begin(f, 0x5000, 1);
    mb_reset(&f->m, 'U');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'O');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_text(&f->m, "old");
    mb_text(&f->m, "HUGE");
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_text(&f->m, "new");
    mb_u8(&f->m, 'u');
    assert_int_equal(feed(f, 0x4000), CDC_OK);
    c = &f->out.changes[0];
    assert_int_equal(c->op, CDC_OP_UPDATE);
    assert_val(&c->before->vals[1], CDC_VAL_PRESENT, "old");
    assert_val(&c->before->vals[2], CDC_VAL_PRESENT, "HUGE");
    assert_val(&c->after->vals[1], CDC_VAL_PRESENT, "new");
    assert_val(&c->after->vals[2], CDC_VAL_PRESENT, "HUGE");
}

static void
test_pgd_update_without_old_tuple_keeps_unchanged_and_no_before(void **state)
{
    struct fx *f = *state;
    const struct cdc_change *c;

    send_relation(f, 100, "t");
    send_begin(f, 0x5000, 1);
    mb_reset(&f->m, 'U');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_text(&f->m, "new");
    mb_u8(&f->m, 'u');
    assert_int_equal(feed(f, 0x4000), CDC_OK);
    c = &f->out.changes[0];
    assert_null(c->before);
    assert_val(&c->after->vals[2], CDC_VAL_UNCHANGED, NULL);

    /* a key-only old tuple does not carry the TOAST value: it stays unchanged */
    mb_reset(&f->m, 'U');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'K');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_u8(&f->m, 'n');
    mb_u8(&f->m, 'n');
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "2");
    mb_text(&f->m, "new");
    mb_u8(&f->m, 'u');
    assert_int_equal(feed(f, 0x4100), CDC_OK);
    c = &f->out.changes[0];
    assert_int_equal(c->seq, 1);
    assert_val(&c->before->vals[0], CDC_VAL_PRESENT, "1");
    assert_val(&c->before->vals[2], CDC_VAL_ABSENT, NULL);
    assert_val(&c->after->vals[0], CDC_VAL_PRESENT, "2");
    assert_val(&c->after->vals[2], CDC_VAL_UNCHANGED, NULL);
}

static void
test_pgd_truncate_of_two_relations_gives_two_changes(void **state)
{
    struct fx *f = *state;

    send_relation(f, 100, "a");
    send_relation(f, 200, "b");
    send_begin(f, 0x5000, 9);
    mb_reset(&f->m, 'T');
    mb_u32(&f->m, 2);
    mb_u8(&f->m, 0);
    mb_u32(&f->m, 200);
    mb_u32(&f->m, 100);
    assert_int_equal(feed(f, 0x4000), CDC_OK);
    assert_int_equal(f->out.kind, PGD_CHANGES);
    assert_int_equal(f->out.n_changes, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct cdc_change *c = &f->out.changes[i];

        assert_int_equal(c->op, CDC_OP_TRUNCATE);
        assert_null(c->before);
        assert_null(c->after);
        assert_int_equal(c->seq, i);
        assert_int_equal(c->xid, 9);
        assert_true(c->commit_lsn == 0x5000);
    }
    assert_string_equal(f->out.changes[0].rel->table, "b");
    assert_string_equal(f->out.changes[1].rel->table, "a");
}

static void
test_pgd_errors_name_the_problem(void **state)
{
    struct fx *f = *state;

    send_relation(f, 100, "t");
    /* a change before any Begin */
    mb_reset(&f->m, 'I');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 3);
    mb_text(&f->m, "1");
    mb_u8(&f->m, 'n');
    mb_u8(&f->m, 'n');
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "Insert message outside a transaction"));
    /* a Commit before any Begin */
    mb_reset(&f->m, 'C');
    mb_u8(&f->m, 0);
    mb_u64(&f->m, 1);
    mb_u64(&f->m, 2);
    mb_u64(&f->m, 0);
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "Commit message outside a transaction"));

    send_begin(f, 0x5000, 1);
    /* unknown relid */
    mb_reset(&f->m, 'I');
    mb_u32(&f->m, 999);
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 0);
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "unknown relation OID 999"));
    mb_reset(&f->m, 'T');
    mb_u32(&f->m, 2);
    mb_u8(&f->m, 0);
    mb_u32(&f->m, 100);
    mb_u32(&f->m, 998);
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "Truncate message for unknown relation OID 998"));
    /* column count mismatch */
    mb_reset(&f->m, 'I');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 2);
    mb_text(&f->m, "1");
    mb_u8(&f->m, 'n');
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "\"public.t\" (OID 100) has a tuple of 2 columns, the "
                                       "relation has 3"));
    /* a malformed message keeps pgoutput.c's description */
    mb_reset(&f->m, 'I');
    mb_u32(&f->m, 100);
    mb_u8(&f->m, 'N');
    mb_u16(&f->m, 1);
    mb_u8(&f->m, '?');
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "invalid tuple value kind"));
    /* none of the failures consumed a seq; a Commit that does not match Begin fails */
    mb_reset(&f->m, 'T');
    mb_u32(&f->m, 1);
    mb_u8(&f->m, 0);
    mb_u32(&f->m, 100);
    assert_int_equal(feed(f, 1), CDC_OK);
    assert_int_equal(f->out.changes[0].seq, 0);
    mb_reset(&f->m, 'C');
    mb_u8(&f->m, 0);
    mb_u64(&f->m, 0x5001);
    mb_u64(&f->m, 0x5030);
    mb_u64(&f->m, 0);
    assert_int_equal(feed(f, 1), CDC_ERR_PROTO);
    assert_non_null(strstr(f->err.msg, "does not match"));
}

static void
test_pgd_message_type_and_origin(void **state)
{
    struct fx *f = *state;

    mb_reset(&f->m, 'M');
    mb_u8(&f->m, 0);
    mb_u64(&f->m, 0x700);
    mb_str(&f->m, "app");
    mb_u32(&f->m, 2);
    mb_u8(&f->m, 'h');
    mb_u8(&f->m, 'i');
    assert_int_equal(feed(f, 0x700), CDC_OK); /* non-transactional: no Begin needed */
    assert_int_equal(f->out.kind, PGD_MESSAGE);
    assert_string_equal(f->out.msg_prefix, "app");
    assert_int_equal(f->out.msg_len, 2);
    assert_memory_equal(f->out.msg_content, "hi", 2);
    assert_false(f->out.msg_transactional);

    mb_reset(&f->m, 'Y');
    mb_u32(&f->m, 90000);
    mb_str(&f->m, "public");
    mb_str(&f->m, "mood");
    assert_int_equal(feed(f, 1), CDC_OK);
    assert_int_equal(f->out.kind, PGD_NONE);
    mb_reset(&f->m, 'O');
    mb_u64(&f->m, 5);
    mb_str(&f->m, "origin");
    assert_int_equal(feed(f, 1), CDC_OK);
    assert_int_equal(f->out.kind, PGD_NONE);
}

/* ---- the real capture ---- */

struct capture {
    uint8_t *buf;
    size_t len;
    size_t off;
};

static void
capture_load(struct capture *c)
{
    const char *dir = getenv("CDC_TEST_DATA");
    char path[1024];
    FILE *fp;
    long sz;

#ifdef CDC_TEST_DATA
    if (dir == NULL)
        dir = CDC_TEST_DATA;
#endif
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/pgoutput/workload.bin", dir);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    sz = ftell(fp);
    assert_true(sz > 0);
    rewind(fp);
    c->buf = malloc((size_t) sz);
    assert_non_null(c->buf);
    assert_int_equal(fread(c->buf, 1, (size_t) sz, fp), (size_t) sz);
    fclose(fp);
    c->len = (size_t) sz;
    c->off = 0;
}

static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Feed the next record; false at the end of the capture. */
static bool
capture_next(struct capture *c, struct pgd *d, struct pgd_out *out)
{
    struct cdc_err err = {0};
    uint64_t lsn;
    uint32_t n;

    if (c->off == c->len)
        return false;
    assert_true(c->len - c->off >= 12);
    lsn = be(c->buf + c->off, 8);
    n = (uint32_t) be(c->buf + c->off + 8, 4);
    c->off += 12;
    assert_true(c->len - c->off >= n);
    if (pgd_feed(d, c->buf + c->off, n, lsn, out, &err) != CDC_OK)
        fail_msg("pgd_feed: %s", err.msg);
    c->off += n;
    return true;
}

/* The next record that yields something other than PGD_NONE. */
static void
capture_expect(struct capture *c, struct pgd *d, struct pgd_out *out, enum pgd_kind kind)
{
    do
        assert_true(capture_next(c, d, out));
    while (out->kind == PGD_NONE);
    assert_int_equal(out->kind, kind);
}

/* One transaction of one change: Begin, the change (checked by the caller), Commit. */
static const struct cdc_change *
capture_txn_change(struct capture *c, struct pgd *d, struct pgd_out *out, cdc_lsn *final_lsn,
                   enum cdc_op op, const char *table)
{
    const struct cdc_change *ch;

    capture_expect(c, d, out, PGD_BEGIN);
    *final_lsn = out->commit_lsn;
    capture_expect(c, d, out, PGD_CHANGES);
    assert_int_equal(out->n_changes, 1);
    ch = &out->changes[0];
    assert_int_equal(ch->op, op);
    assert_string_equal(ch->rel->schema, "public");
    assert_string_equal(ch->rel->table, table);
    assert_int_equal(ch->seq, 0);
    assert_true(ch->commit_lsn == *final_lsn);
    /* commit times of a capture made after 2024 and before 2100 */
    assert_true(ch->commit_time_us > INT64_C(1704067200000000));
    assert_true(ch->commit_time_us < INT64_C(4102444800000000));
    return ch;
}

static void
capture_commit(struct capture *c, struct pgd *d, struct pgd_out *out, cdc_lsn final_lsn)
{
    capture_expect(c, d, out, PGD_COMMIT);
    assert_true(out->commit_lsn == final_lsn);
    assert_true(out->end_lsn > final_lsn);
}

static void
assert_repeat(const struct cdc_value *v, char ch, size_t n)
{
    assert_int_equal(v->state, CDC_VAL_PRESENT);
    assert_int_equal(v->len, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v->data[i], ch);
}

static void
check_t_full(struct capture *c, struct pgd *d, struct pgd_out *out)
{
    const struct cdc_change *ch;
    const struct cdc_value *v;
    cdc_lsn fl;

    /* INSERT INTO t_full VALUES (1, 'alice', 12.50, true, '2024-01-02 03:04:05.123456+00',
     *                            '{1,2,NULL}', '{"a": 1}') */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_INSERT, "t_full");
    assert_int_equal(ch->rel->replident, 'f');
    assert_int_equal(ch->rel->ncols, 7);
    assert_string_equal(ch->rel->cols[0].name, "id");
    assert_true(ch->rel->cols[0].is_key);
    assert_int_equal(ch->rel->cols[0].fmt, CDC_VF_INT);
    assert_int_equal(ch->rel->cols[2].fmt, CDC_VF_NUMERIC);
    assert_int_equal(ch->rel->cols[3].fmt, CDC_VF_BOOL);
    assert_int_equal(ch->rel->cols[4].fmt, CDC_VF_TIMESTAMPTZ);
    assert_int_equal(ch->rel->cols[5].fmt, CDC_VF_ARRAY);
    assert_int_equal(ch->rel->cols[5].elem_fmt, CDC_VF_INT);
    assert_int_equal(ch->rel->cols[6].fmt, CDC_VF_JSON);
    assert_null(ch->before);
    v = ch->after->vals;
    assert_val(&v[0], CDC_VAL_PRESENT, "1");
    assert_val(&v[1], CDC_VAL_PRESENT, "alice");
    assert_val(&v[2], CDC_VAL_PRESENT, "12.50");
    assert_val(&v[3], CDC_VAL_PRESENT, "t");
    assert_val(&v[4], CDC_VAL_PRESENT, "2024-01-02 03:04:05.123456+00");
    assert_val(&v[5], CDC_VAL_PRESENT, "{1,2,NULL}");
    assert_val(&v[6], CDC_VAL_PRESENT, "{\"a\": 1}");
    capture_commit(c, d, out, fl);

    /* INSERT INTO t_full VALUES (2, '', NULL, false, NULL, NULL, NULL) */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_INSERT, "t_full");
    v = ch->after->vals;
    assert_val(&v[0], CDC_VAL_PRESENT, "2");
    assert_val(&v[1], CDC_VAL_PRESENT, "");
    assert_val(&v[2], CDC_VAL_NULL, NULL);
    assert_val(&v[3], CDC_VAL_PRESENT, "f");
    for (int i = 4; i < 7; i++)
        assert_val(&v[i], CDC_VAL_NULL, NULL);
    capture_commit(c, d, out, fl);

    /* UPDATE t_full SET name = 'bob', amount = 7 WHERE id = 1 (FULL: whole old row) */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_UPDATE, "t_full");
    assert_non_null(ch->before);
    assert_val(&ch->before->vals[1], CDC_VAL_PRESENT, "alice");
    assert_val(&ch->before->vals[2], CDC_VAL_PRESENT, "12.50");
    assert_val(&ch->before->vals[6], CDC_VAL_PRESENT, "{\"a\": 1}");
    assert_val(&ch->after->vals[0], CDC_VAL_PRESENT, "1");
    assert_val(&ch->after->vals[1], CDC_VAL_PRESENT, "bob");
    assert_val(&ch->after->vals[2], CDC_VAL_PRESENT, "7.00"); /* numeric(10,2) */
    assert_val(&ch->after->vals[3], CDC_VAL_PRESENT, "t");
    capture_commit(c, d, out, fl);

    /* DELETE FROM t_full WHERE id = 2 (FULL: whole old row) */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_DELETE, "t_full");
    assert_null(ch->after);
    assert_val(&ch->before->vals[0], CDC_VAL_PRESENT, "2");
    assert_val(&ch->before->vals[1], CDC_VAL_PRESENT, "");
    assert_val(&ch->before->vals[3], CDC_VAL_PRESENT, "f");
    assert_val(&ch->before->vals[6], CDC_VAL_NULL, NULL);
    capture_commit(c, d, out, fl);
}

static void
check_toast(struct capture *c, struct pgd *d, struct pgd_out *out)
{
    const struct cdc_change *ch;
    cdc_lsn fl;

    /* INSERT INTO t_def VALUES (10, 'n1', repeat('x', 2100)) */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_INSERT, "t_def");
    assert_int_equal(ch->rel->replident, 'd');
    assert_val(&ch->after->vals[1], CDC_VAL_PRESENT, "n1");
    assert_repeat(&ch->after->vals[2], 'x', 2100);
    capture_commit(c, d, out, fl);
    /* UPDATE t_def SET note = 'n2' WHERE id = 10: no old tuple, big not sent */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_UPDATE, "t_def");
    assert_null(ch->before);
    assert_val(&ch->after->vals[0], CDC_VAL_PRESENT, "10");
    assert_val(&ch->after->vals[1], CDC_VAL_PRESENT, "n2");
    assert_val(&ch->after->vals[2], CDC_VAL_UNCHANGED, NULL);
    capture_commit(c, d, out, fl);
    /* DELETE FROM t_def WHERE id = 10: key only */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_DELETE, "t_def");
    assert_val(&ch->before->vals[0], CDC_VAL_PRESENT, "10");
    assert_val(&ch->before->vals[1], CDC_VAL_ABSENT, NULL);
    assert_val(&ch->before->vals[2], CDC_VAL_ABSENT, NULL);
    capture_commit(c, d, out, fl);
    /* INSERT INTO t_tf VALUES (30, 'm1', repeat('y', 2100)) */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_INSERT, "t_tf");
    assert_repeat(&ch->after->vals[2], 'y', 2100);
    capture_commit(c, d, out, fl);
    /* UPDATE t_tf SET note = 'm2' WHERE id = 30: FULL identity, big filled from the old row */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_UPDATE, "t_tf");
    assert_val(&ch->before->vals[1], CDC_VAL_PRESENT, "m1");
    assert_val(&ch->after->vals[1], CDC_VAL_PRESENT, "m2");
    assert_repeat(&ch->after->vals[2], 'y', 2100);
    capture_commit(c, d, out, fl);
}

static void
check_multi_and_truncate(struct capture *c, struct pgd *d, struct pgd_out *out)
{
    const struct cdc_change *ch;
    cdc_lsn fl;
    uint32_t xid;

    /* BEGIN; INSERT (20, 'a', 'small'); INSERT (21, NULL, NULL); COMMIT */
    ch = capture_txn_change(c, d, out, &fl, CDC_OP_INSERT, "t_def");
    xid = ch->xid;
    assert_val(&ch->after->vals[0], CDC_VAL_PRESENT, "20");
    assert_val(&ch->after->vals[2], CDC_VAL_PRESENT, "small");
    capture_expect(c, d, out, PGD_CHANGES);
    ch = &out->changes[0];
    assert_int_equal(ch->seq, 1);
    assert_int_equal(ch->xid, xid);
    assert_true(ch->commit_lsn == fl);
    assert_val(&ch->after->vals[0], CDC_VAL_PRESENT, "21");
    assert_val(&ch->after->vals[1], CDC_VAL_NULL, NULL);
    assert_val(&ch->after->vals[2], CDC_VAL_NULL, NULL);
    capture_commit(c, d, out, fl);

    /* TRUNCATE t_full, t_def */
    capture_expect(c, d, out, PGD_BEGIN);
    fl = out->commit_lsn;
    capture_expect(c, d, out, PGD_CHANGES);
    assert_int_equal(out->n_changes, 2);
    assert_string_equal(out->changes[0].rel->table, "t_full");
    assert_string_equal(out->changes[1].rel->table, "t_def");
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(out->changes[i].op, CDC_OP_TRUNCATE);
        assert_int_equal(out->changes[i].seq, i);
        assert_null(out->changes[i].before);
        assert_null(out->changes[i].after);
    }
    capture_commit(c, d, out, fl);
}

static void
test_pgd_real_capture_matches_the_workload_sql(void **state)
{
    struct fx *f = *state;
    struct capture c;

    capture_load(&c);
    check_t_full(&c, f->d, &f->out);
    check_toast(&c, f->d, &f->out);
    check_multi_and_truncate(&c, f->d, &f->out);
    assert_false(capture_next(&c, f->d, &f->out));
    free(c.buf);
}

/* Every prefix of every captured message is rejected or accepted, never a crash. */
static void
test_pgd_truncated_real_messages_never_crash(void **state)
{
    struct fx *f = *state;
    struct capture c;
    struct pgd_out out;
    struct cdc_err err;
    cdc_rc rc;

    capture_load(&c);
    while (c.off < c.len) {
        uint32_t n = (uint32_t) be(c.buf + c.off + 8, 4);
        const uint8_t *msg = c.buf + c.off + 12;

        for (uint32_t k = 0; k < n && k < 64; k++)
            assert_int_equal(pgd_feed(f->d, msg, k, 0, &out, &err), CDC_ERR_PROTO);
        /* whole: fine, except a change whose Begin came in the same capture's skipped part */
        rc = pgd_feed(f->d, msg, n, 0, &out, &err);
        assert_true(rc == CDC_OK || rc == CDC_ERR_PROTO);
        c.off += 12 + n;
    }
    free(c.buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pgd_insert_is_stamped_with_transaction_and_seq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgd_key_only_old_tuple_marks_non_key_columns_absent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgd_update_fills_unchanged_toast_from_full_old_tuple,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pgd_update_without_old_tuple_keeps_unchanged_and_no_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgd_truncate_of_two_relations_gives_two_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgd_errors_name_the_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgd_message_type_and_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgd_real_capture_matches_the_workload_sql, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pgd_truncated_real_messages_never_crash, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
