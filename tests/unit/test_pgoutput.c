/*
 * test_pgoutput.c - the pure pgoutput (protocol version 1) message decoder on
 * hand-built messages: every message type, every tuple value kind, and
 * malformed input (truncated at every byte, bad kinds, bad lengths, trailing
 * bytes, later-protocol messages). Layouts follow PostgreSQL's
 * "Logical Replication Message Formats" and proto.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "source/pg/pgoutput.h"

#include "pgwire_build.h"

static void
assert_proto(const struct mb *m, size_t len, const char *want_msg)
{
    struct pgo_msg out;
    struct cdc_err err = {0};

    assert_int_equal(pgo_decode(m->b, len, &out, &err), CDC_ERR_PROTO);
    assert_int_equal(err.code, CDC_ERR_PROTO);
    if (want_msg != NULL)
        assert_string_equal(err.msg, want_msg);
    else
        assert_memory_equal(err.msg, "pgoutput: ", 10);
}

/* A complete message must decode, and every proper prefix of it must fail cleanly. */
static void
assert_every_prefix_fails(const struct mb *m)
{
    struct pgo_msg out;
    struct cdc_err err = {0};

    assert_int_equal(pgo_decode(m->b, m->n, &out, &err), CDC_OK);
    for (size_t len = 0; len < m->n; len++)
        assert_proto(m, len, NULL);
}

static void
test_pgoutput_begin_converts_time_to_unix_epoch(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'B');
    p64(&m, UINT64_C(0x0000000116B374D8)); /* final LSN 1/16B374D8 */
    /* 2024-01-02 03:04:05.123456 UTC is 757479845123456 us after 2000-01-01 */
    p64(&m, UINT64_C(757479845123456));
    p32(&m, 742);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_BEGIN);
    assert_int_equal(out.u.begin.final_lsn, UINT64_C(0x0000000116B374D8));
    /* 1704164645 s after the Unix epoch */
    assert_int_equal(out.u.begin.commit_time_us, INT64_C(1704164645123456));
    assert_int_equal(out.u.begin.xid, 742);
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_commit_with_time_before_2000(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'C');
    p8(&m, 0);
    p64(&m, 0x1000);
    p64(&m, 0x1030);
    p64(&m, (uint64_t) INT64_C(-1000000)); /* 1999-12-31 23:59:59 UTC */
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_COMMIT);
    assert_int_equal(out.u.commit.flags, 0);
    assert_int_equal(out.u.commit.commit_lsn, 0x1000);
    assert_int_equal(out.u.commit.end_lsn, 0x1030);
    assert_int_equal(out.u.commit.commit_time_us, INT64_C(946684799000000));
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_origin(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'O');
    p64(&m, 0xABCDEF);
    pstr(&m, "pg_16385");
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_ORIGIN);
    assert_int_equal(out.u.origin.origin_lsn, 0xABCDEF);
    assert_string_equal(out.u.origin.name, "pg_16385");
    assert_every_prefix_fails(&m);
}

static void
build_relation(struct mb *m)
{
    p8(m, 'R');
    p32(m, 16384);
    pstr(m, "public");
    pstr(m, "orders");
    p8(m, 'd');
    p16(m, 3);
    p8(m, 1);
    pstr(m, "id");
    p32(m, 23);
    p32(m, 0xFFFFFFFF);
    p8(m, 0);
    pstr(m, "amount");
    p32(m, 1700);
    p32(m, (10 << 16 | 2) + 4); /* numeric(10,2) */
    p8(m, 0);
    pstr(m, "");
    p32(m, 25);
    p32(m, 0xFFFFFFFF);
}

static void
test_pgoutput_relation_and_its_columns(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct pgo_column_iter it;
    struct pgo_column col;
    struct cdc_err err = {0};

    (void) state;
    build_relation(&m);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_RELATION);
    assert_int_equal(out.u.relation.relid, 16384);
    assert_string_equal(out.u.relation.nspname, "public");
    assert_string_equal(out.u.relation.relname, "orders");
    assert_int_equal(out.u.relation.replident, 'd');
    assert_int_equal(out.u.relation.ncols, 3);
    pgo_column_iter_init(&it, &out.u.relation);
    assert_true(pgo_column_next(&it, &col));
    assert_int_equal(col.flags, PGO_COL_FLAG_KEY);
    assert_string_equal(col.name, "id");
    assert_int_equal(col.type_oid, 23);
    assert_int_equal(col.typmod, -1);
    assert_true(pgo_column_next(&it, &col));
    assert_int_equal(col.flags, 0);
    assert_string_equal(col.name, "amount");
    assert_int_equal(col.type_oid, 1700);
    assert_int_equal(col.typmod, 655366);
    assert_true(pgo_column_next(&it, &col));
    assert_string_equal(col.name, "");
    assert_int_equal(col.type_oid, 25);
    assert_false(pgo_column_next(&it, &col));
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_relation_with_unterminated_name(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'R');
    p32(&m, 16384);
    p8(&m, 'p');
    p8(&m, 'u');
    assert_proto(&m, m.n, "pgoutput: unterminated string in Relation message at offset 5");
}

static void
test_pgoutput_type(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'Y');
    p32(&m, 16390);
    pstr(&m, "public");
    pstr(&m, "mood");
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_TYPE);
    assert_int_equal(out.u.type.oid, 16390);
    assert_string_equal(out.u.type.nspname, "public");
    assert_string_equal(out.u.type.name, "mood");
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_insert_with_every_value_kind(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct pgo_tuple_iter it;
    struct pgo_datum v;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'I');
    p32(&m, 16384);
    p8(&m, 'N');
    p16(&m, 5);
    ptext(&m, "42");
    p8(&m, 'n');
    p8(&m, 'u');
    ptext(&m, "");
    p8(&m, 'b');
    p32(&m, 3);
    p8(&m, 0);
    p8(&m, 1);
    p8(&m, 0);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_INSERT);
    assert_int_equal(out.u.change.relid, 16384);
    assert_int_equal(out.u.change.old_kind, 0);
    assert_true(out.u.change.has_new);
    assert_int_equal(out.u.change.newtup.ncols, 5);
    pgo_tuple_iter_init(&it, &out.u.change.newtup);
    assert_true(pgo_tuple_next(&it, &v));
    assert_int_equal(v.kind, PGO_DATUM_TEXT);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.data, "42", 2);
    assert_true(pgo_tuple_next(&it, &v));
    assert_int_equal(v.kind, PGO_DATUM_NULL);
    assert_null(v.data);
    assert_true(pgo_tuple_next(&it, &v));
    assert_int_equal(v.kind, PGO_DATUM_UNCHANGED);
    assert_true(pgo_tuple_next(&it, &v));
    assert_int_equal(v.kind, PGO_DATUM_TEXT);
    assert_int_equal(v.len, 0);
    assert_non_null(v.data);
    assert_true(pgo_tuple_next(&it, &v));
    assert_int_equal(v.kind, PGO_DATUM_BINARY);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "\0\1\0", 3);
    assert_false(pgo_tuple_next(&it, &v));
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_truncated_insert_names_offset_and_sizes(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'I');      /* offset 0 */
    p32(&m, 16384);   /* 1..4 */
    p8(&m, 'N');      /* 5 */
    p16(&m, 2);       /* 6..7 */
    ptext(&m, "abc"); /* 8, length 9..12, bytes 13..15 */
    p8(&m, 't');      /* 16 */
    p16(&m, 0);       /* only 2 of the 4 length bytes at 17 */
    assert_proto(&m, m.n, "pgoutput: truncated Insert message at offset 17: need 4 bytes, have 2");
}

static void
test_pgoutput_insert_value_longer_than_message(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'I');
    p32(&m, 16384);
    p8(&m, 'N');
    p16(&m, 1);
    p8(&m, 't');
    p32(&m, 100);
    p8(&m, 'x');
    assert_proto(&m, m.n,
                 "pgoutput: truncated Insert message at offset 13: need 100 bytes, have 1");
}

static void
test_pgoutput_negative_value_length(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'I');
    p32(&m, 16384);
    p8(&m, 'N');
    p16(&m, 1);
    p8(&m, 't');
    p32(&m, 0xFFFFFFFF);
    assert_proto(&m, m.n, "pgoutput: negative length -1 in Insert message at offset 9");
}

static void
test_pgoutput_bad_value_kind(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'I');
    p32(&m, 16384);
    p8(&m, 'N');
    p16(&m, 2);
    p8(&m, 'n');
    p8(&m, 'x');
    assert_proto(&m, m.n,
                 "pgoutput: invalid tuple value kind 'x' (0x78) for column 2 in Insert message "
                 "at offset 9");
}

static void
test_pgoutput_insert_requires_new_tuple_marker(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'I');
    p32(&m, 16384);
    p8(&m, 'K');
    p16(&m, 0);
    assert_proto(&m, m.n, "pgoutput: invalid tuple kind 'K' (0x4b) in Insert message at offset 5");
}

static void
build_update(struct mb *m, char old_kind)
{
    p8(m, 'U');
    p32(m, 16384);
    if (old_kind != 0) {
        p8(m, (uint8_t) old_kind);
        p16(m, 2);
        ptext(m, "1");
        if (old_kind == 'K')
            p8(m, 'n');
        else
            ptext(m, "old");
    }
    p8(m, 'N');
    p16(m, 2);
    ptext(m, "1");
    p8(m, 'u');
}

static void
test_pgoutput_update_without_old_tuple(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    build_update(&m, 0);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_UPDATE);
    assert_int_equal(out.u.change.old_kind, 0);
    assert_true(out.u.change.has_new);
    assert_int_equal(out.u.change.newtup.ncols, 2);
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_update_with_old_key_and_full_tuples(void **state)
{
    const char kinds[] = {'K', 'O'};

    (void) state;
    for (int i = 0; i < 2; i++) {
        struct mb m = {0};
        struct pgo_msg out;
        struct pgo_tuple_iter it;
        struct pgo_datum v;
        struct cdc_err err = {0};

        build_update(&m, kinds[i]);
        assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
        assert_int_equal(out.u.change.old_kind, kinds[i]);
        assert_int_equal(out.u.change.oldtup.ncols, 2);
        pgo_tuple_iter_init(&it, &out.u.change.oldtup);
        assert_true(pgo_tuple_next(&it, &v));
        assert_memory_equal(v.data, "1", 1);
        assert_true(pgo_tuple_next(&it, &v));
        assert_int_equal(v.kind, kinds[i] == 'K' ? PGO_DATUM_NULL : PGO_DATUM_TEXT);
        pgo_tuple_iter_init(&it, &out.u.change.newtup);
        assert_true(pgo_tuple_next(&it, &v));
        assert_true(pgo_tuple_next(&it, &v));
        assert_int_equal(v.kind, PGO_DATUM_UNCHANGED);
        assert_false(pgo_tuple_next(&it, &v));
        assert_every_prefix_fails(&m);
    }
}

static void
test_pgoutput_update_with_bad_tuple_kinds(void **state)
{
    struct mb m = {0}, m2 = {0};

    (void) state;
    p8(&m, 'U');
    p32(&m, 16384);
    p8(&m, 'X');
    assert_proto(&m, m.n, "pgoutput: invalid tuple kind 'X' (0x58) in Update message at offset 5");
    /* an old tuple must be followed by 'N', not by another old tuple */
    p8(&m2, 'U');
    p32(&m2, 16384);
    p8(&m2, 'O');
    p16(&m2, 0);
    p8(&m2, 'O');
    p16(&m2, 0);
    assert_proto(&m2, m2.n,
                 "pgoutput: invalid tuple kind 'O' (0x4f) in Update message at offset 8");
}

static void
test_pgoutput_delete_with_key_and_full_tuples(void **state)
{
    (void) state;
    for (int k = 0; k < 2; k++) {
        struct mb m = {0};
        struct pgo_msg out;
        struct cdc_err err = {0};

        p8(&m, 'D');
        p32(&m, 16385);
        p8(&m, k == 0 ? 'K' : 'O');
        p16(&m, 1);
        ptext(&m, "7");
        assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
        assert_int_equal(out.type, PGO_MSG_DELETE);
        assert_int_equal(out.u.change.relid, 16385);
        assert_int_equal(out.u.change.old_kind, k == 0 ? 'K' : 'O');
        assert_false(out.u.change.has_new);
        assert_int_equal(out.u.change.oldtup.ncols, 1);
        assert_every_prefix_fails(&m);
    }
}

static void
test_pgoutput_delete_rejects_new_tuple(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'D');
    p32(&m, 16385);
    p8(&m, 'N');
    p16(&m, 0);
    assert_proto(&m, m.n, "pgoutput: invalid tuple kind 'N' (0x4e) in Delete message at offset 5");
}

static void
test_pgoutput_truncate_two_relations(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'T');
    p32(&m, 2);
    p8(&m, PGO_TRUNCATE_CASCADE | PGO_TRUNCATE_RESTART_ID);
    p32(&m, 16384);
    p32(&m, 16390);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_TRUNCATE);
    assert_int_equal(out.u.truncate.nrels, 2);
    assert_int_equal(out.u.truncate.options, 3);
    assert_int_equal(pgo_truncate_relid(&out.u.truncate, 0), 16384);
    assert_int_equal(pgo_truncate_relid(&out.u.truncate, 1), 16390);
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_truncate_with_huge_count(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'T');
    p32(&m, 0x7FFFFFFF);
    p8(&m, 0);
    p32(&m, 16384);
    assert_proto(&m, m.n,
                 "pgoutput: truncated Truncate message at offset 6: need 8589934588 bytes, "
                 "have 4");
    m.n = 0;
    p8(&m, 'T');
    p32(&m, 0x80000000);
    p8(&m, 0);
    assert_proto(&m, m.n, "pgoutput: negative relation count in Truncate message at offset 1");
}

static void
test_pgoutput_message_with_binary_content(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    p8(&m, 'M');
    p8(&m, PGO_MESSAGE_TRANSACTIONAL);
    p64(&m, 0x5000);
    pstr(&m, "app");
    p32(&m, 3);
    p8(&m, 'a');
    p8(&m, 0);
    p8(&m, 'b');
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_MESSAGE);
    assert_int_equal(out.u.message.flags, 1);
    assert_int_equal(out.u.message.lsn, 0x5000);
    assert_string_equal(out.u.message.prefix, "app");
    assert_int_equal(out.u.message.content_len, 3);
    assert_memory_equal(out.u.message.content, "a\0b", 3);
    assert_every_prefix_fails(&m);
}

static void
test_pgoutput_rejects_trailing_bytes(void **state)
{
    struct mb m = {0};

    (void) state;
    p8(&m, 'C');
    p8(&m, 0);
    p64(&m, 1);
    p64(&m, 2);
    p64(&m, 3);
    p8(&m, 0xEE);
    p8(&m, 0xEE);
    assert_proto(&m, m.n, "pgoutput: 2 unexpected trailing bytes in Commit message at offset 26");
}

static void
test_pgoutput_rejects_unknown_and_later_protocol_types(void **state)
{
    struct mb m = {0};
    struct pgo_msg out;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(pgo_decode(m.b, 0, &out, &err), CDC_ERR_PROTO);
    assert_string_equal(err.msg, "pgoutput: empty message");
    assert_int_equal(pgo_decode(NULL, 0, &out, &err), CDC_ERR_PROTO);
    p8(&m, 'Z');
    assert_proto(&m, m.n, "pgoutput: unknown message type 'Z' (0x5a) at offset 0");
    m.b[0] = 0x01;
    assert_proto(&m, m.n, "pgoutput: unknown message type 0x01 at offset 0");
    m.b[0] = 'S';
    assert_proto(&m, m.n,
                 "pgoutput: Stream Start message 'S' (0x53) is not part of protocol version 1");
}

static void
test_pgoutput_message_type_names(void **state)
{
    (void) state;
    assert_string_equal(pgo_msg_type_name('B'), "Begin");
    assert_string_equal(pgo_msg_type_name('U'), "Update");
    assert_string_equal(pgo_msg_type_name('T'), "Truncate");
    assert_string_equal(pgo_msg_type_name('M'), "Message");
    assert_string_equal(pgo_msg_type_name('?'), "unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgoutput_begin_converts_time_to_unix_epoch),
        cmocka_unit_test(test_pgoutput_commit_with_time_before_2000),
        cmocka_unit_test(test_pgoutput_origin),
        cmocka_unit_test(test_pgoutput_relation_and_its_columns),
        cmocka_unit_test(test_pgoutput_relation_with_unterminated_name),
        cmocka_unit_test(test_pgoutput_type),
        cmocka_unit_test(test_pgoutput_insert_with_every_value_kind),
        cmocka_unit_test(test_pgoutput_truncated_insert_names_offset_and_sizes),
        cmocka_unit_test(test_pgoutput_insert_value_longer_than_message),
        cmocka_unit_test(test_pgoutput_negative_value_length),
        cmocka_unit_test(test_pgoutput_bad_value_kind),
        cmocka_unit_test(test_pgoutput_insert_requires_new_tuple_marker),
        cmocka_unit_test(test_pgoutput_update_without_old_tuple),
        cmocka_unit_test(test_pgoutput_update_with_old_key_and_full_tuples),
        cmocka_unit_test(test_pgoutput_update_with_bad_tuple_kinds),
        cmocka_unit_test(test_pgoutput_delete_with_key_and_full_tuples),
        cmocka_unit_test(test_pgoutput_delete_rejects_new_tuple),
        cmocka_unit_test(test_pgoutput_truncate_two_relations),
        cmocka_unit_test(test_pgoutput_truncate_with_huge_count),
        cmocka_unit_test(test_pgoutput_message_with_binary_content),
        cmocka_unit_test(test_pgoutput_rejects_trailing_bytes),
        cmocka_unit_test(test_pgoutput_rejects_unknown_and_later_protocol_types),
        cmocka_unit_test(test_pgoutput_message_type_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
