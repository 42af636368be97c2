/*
 * test_binlog.c - the pure binlog event decoder (binlog.c) and the TABLE_MAP
 * table builder (binlog_table.c) on hand-built events: every decoded event
 * kind, checksums, every optional metadata field, and malformed input
 * (every event truncated at every byte, copied to a heap buffer of exactly
 * that size so ASan sees any over-read). Layouts follow MySQL's
 * libbinlogevents (control_events.h, statement_events.h, rows_event.h) and
 * the MariaDB KB pages on GTID_EVENT and GTID_LIST_EVENT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "source/mysql/binlog.h"

/* An event under construction, little-endian as on the wire. */
struct eb {
    uint8_t b[2048];
    size_t n;
};

static void
p8(struct eb *e, uint8_t v)
{
    assert_true(e->n < sizeof(e->b));
    e->b[e->n++] = v;
}

static void
ple(struct eb *e, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p8(e, (uint8_t) (v >> (8 * i)));
}

static void
pbytes(struct eb *e, const void *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p8(e, ((const uint8_t *) s)[i]);
}

static void
pstr(struct eb *e, const char *s)
{
    pbytes(e, s, strlen(s));
}

/* Start an event: the 19-byte header, sizes filled by finish(). */
static void
start(struct eb *e, uint8_t type)
{
    e->n = 0;
    ple(e, 1700000000, 4); /* timestamp */
    p8(e, type);
    ple(e, 7, 4);    /* server_id */
    ple(e, 0, 4);    /* event_size, set by finish() */
    ple(e, 1234, 4); /* log_pos */
    ple(e, 0, 2);    /* flags */
}

/* Set event_size; with crc, append the CRC32 of everything before it. */
static void
finish(struct eb *e, bool crc)
{
    size_t total = e->n + (crc ? 4 : 0);

    for (int i = 0; i < 4; i++)
        e->b[9 + i] = (uint8_t) (total >> (8 * i));
    if (crc)
        ple(e, binlog_crc32(e->b, e->n), 4);
}

static struct binlog_fmt fmt_plain, fmt_crc;

static int
setup(void **state)
{
    (void) state;
    binlog_fmt_init(&fmt_plain, BINLOG_CHECKSUM_OFF);
    binlog_fmt_init(&fmt_crc, BINLOG_CHECKSUM_CRC32);
    fmt_crc.verify_checksum = true;
    return 0;
}

static cdc_rc
decode(const struct binlog_fmt *fmt, const struct eb *e, struct binlog_event *ev,
       struct cdc_err *err)
{
    return binlog_decode(fmt, e->b, e->n, ev, err);
}

/*
 * Every strict prefix of e, given as an event of that size (event_size
 * patched, copied to a heap buffer of exactly that size): must fail when
 * shorter than min_ok, and must never read past the end (ASan/valgrind).
 */
static void
check_prefixes(const struct binlog_fmt *fmt, const struct eb *e, size_t min_ok)
{
    for (size_t len = 0; len < e->n; len++) {
        uint8_t *buf = malloc(len > 0 ? len : 1);
        struct binlog_event ev;
        struct cdc_err err;
        cdc_rc rc;

        assert_non_null(buf);
        memcpy(buf, e->b, len);
        if (len >= 13)
            for (int i = 0; i < 4; i++)
                buf[9 + i] = (uint8_t) (len >> (8 * i));
        rc = binlog_decode(fmt, buf, len, &ev, &err);
        if (len < min_ok && rc == CDC_OK)
            fail_msg("prefix of %zu bytes (of %zu) decoded", len, e->n);
        if (rc != CDC_OK)
            assert_int_equal(rc, CDC_ERR_PROTO);
        free(buf);
    }
}

/* ---- checksums, header ---- */

static void
test_binlog_crc32_check_value(void **state)
{
    (void) state;
    /* the CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926 */
    assert_int_equal(binlog_crc32((const uint8_t *) "123456789", 9), 0xCBF43926u);
    assert_int_equal(binlog_crc32(NULL, 0), 0);
}

static void
test_binlog_header_fields_and_size_mismatch(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    start(&e, BINLOG_XID);
    ple(&e, 0x1122334455667788u, 8);
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.h.timestamp, 1700000000);
    assert_int_equal(ev.h.type, BINLOG_XID);
    assert_int_equal(ev.h.server_id, 7);
    assert_int_equal(ev.h.event_size, 27);
    assert_int_equal(ev.h.log_pos, 1234);
    assert_int_equal(ev.body_len, 8);
    assert_true(ev.u.xid.xid == 0x1122334455667788u);
    /* event_size says 27, 26 bytes given */
    assert_int_equal(binlog_decode(&fmt_plain, e.b, e.n - 1, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "does not match"));
    check_prefixes(&fmt_plain, &e, e.n);
}

static void
test_binlog_checksum_is_dropped_and_verified(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    start(&e, BINLOG_XID);
    ple(&e, 42, 8);
    finish(&e, true);
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.body_len, 8);
    assert_true(ev.u.xid.xid == 42);
    e.b[20] ^= 1; /* a body bit flips */
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    /* not verified: the checksum is still dropped */
    fmt_crc.verify_checksum = false;
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_OK);
    fmt_crc.verify_checksum = true;
}

/* ---- FORMAT_DESCRIPTION ---- */

static void
build_fde(struct eb *e, const char *version, int nphl, bool with_alg, uint8_t alg)
{
    char ver[50] = {0};

    strncpy(ver, version, sizeof(ver) - 1);
    start(e, BINLOG_FORMAT_DESCRIPTION);
    ple(e, 4, 2);
    pbytes(e, ver, 50);
    ple(e, 0, 4);
    p8(e, 19);
    for (int i = 1; i <= nphl; i++) /* post-header lengths, [type - 1] */
        p8(e, i == BINLOG_QUERY                                         ? 13
              : i == BINLOG_ROTATE                                      ? 8
              : i == BINLOG_TABLE_MAP                                   ? 8
              : i == BINLOG_WRITE_ROWS_V1                               ? 8
              : i == BINLOG_UPDATE_ROWS_V1                              ? 8
              : i == BINLOG_DELETE_ROWS_V1                              ? 8
              : i >= BINLOG_WRITE_ROWS_V2 && i <= BINLOG_DELETE_ROWS_V2 ? 10
                                                                        : 0);
    if (with_alg) {
        p8(e, alg);
        finish(e, true); /* an FDE of a checksum-aware server always ends with 4 CRC bytes */
    } else {
        finish(e, false);
    }
}

static void
test_binlog_fde_mariadb_with_crc32(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct binlog_fmt f;
    struct cdc_err err;

    (void) state;
    build_fde(&e, "10.11.6-MariaDB-log", 164, true, BINLOG_CHECKSUM_CRC32);
    /* the format in force says OFF: an FDE describes its own checksum */
    binlog_fmt_init(&f, BINLOG_CHECKSUM_OFF);
    f.verify_checksum = true;
    assert_int_equal(decode(&f, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.fde.binlog_version, 4);
    assert_string_equal(ev.u.fde.server_version, "10.11.6-MariaDB-log");
    assert_true(ev.u.fde.is_mariadb);
    assert_int_equal(ev.u.fde.header_len, 19);
    assert_int_equal(ev.u.fde.checksum_alg, BINLOG_CHECKSUM_CRC32);
    assert_int_equal(ev.u.fde.n_post_header, 164);
    assert_int_equal(ev.u.fde.post_header_len[BINLOG_QUERY - 1], 13);
    assert_int_equal(ev.u.fde.post_header_len[BINLOG_WRITE_ROWS_V2 - 1], 10);
    binlog_fmt_apply(&f, &ev.u.fde);
    assert_true(f.have_fde && f.is_mariadb);
    assert_int_equal(f.checksum_alg, BINLOG_CHECKSUM_CRC32);
    assert_int_equal(f.n_post_header, 164);
    e.b[30] ^= 0x40; /* inside the server version */
    assert_int_equal(decode(&f, &e, &ev, &err), CDC_ERR_PROTO);
    e.b[30] ^= 0x40;
    /* a cut FDE is a shorter list of post-header lengths: only the fixed part is required */
    check_prefixes(&f, &e, 19 + 57 + 5);
}

static void
test_binlog_fde_mysql_checksum_off_and_old_server(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    /* MySQL 8.0 with binlog_checksum=NONE: alg byte 0, then 4 CRC bytes anyway */
    build_fde(&e, "8.0.36", 41, true, BINLOG_CHECKSUM_OFF);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_false(ev.u.fde.is_mariadb);
    assert_int_equal(ev.u.fde.checksum_alg, BINLOG_CHECKSUM_OFF);
    assert_int_equal(ev.u.fde.n_post_header, 41);
    /* MySQL 5.5 predates checksums: no alg byte, every remaining byte is a post-header length */
    build_fde(&e, "5.5.62-log", 27, false, 0);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.fde.checksum_alg, BINLOG_CHECKSUM_UNDEF);
    assert_int_equal(ev.u.fde.n_post_header, 27);
    /* binlog version 3 is refused */
    e.b[19] = 3;
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "version 4"));
}

/* ---- ROTATE, XID, text events ---- */

static void
test_binlog_rotate_with_checksum(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    start(&e, BINLOG_ROTATE);
    ple(&e, 4, 8);
    pstr(&e, "mysql-bin.000002");
    finish(&e, true);
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_OK);
    assert_true(ev.u.rotate.position == 4);
    assert_int_equal(ev.u.rotate.file_len, 16);
    assert_memory_equal(ev.u.rotate.file, "mysql-bin.000002", 16);
    /* position but no file name */
    check_prefixes(&fmt_plain, &e, 19 + 9);
}

static void
test_binlog_text_events(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    start(&e, BINLOG_MARIA_ANNOTATE_ROWS);
    pstr(&e, "INSERT INTO t VALUES (1)");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.text.len, 24);
    assert_memory_equal(ev.u.text.data, "INSERT INTO t VALUES (1)", 24);

    start(&e, BINLOG_ROWS_QUERY); /* MySQL: a length byte first */
    p8(&e, 3);
    pstr(&e, "abc");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.text.len, 3);
    assert_memory_equal(ev.u.text.data, "abc", 3);

    start(&e, BINLOG_HEARTBEAT);
    pstr(&e, "mariadb-bin.000007");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.text.len, 18);

    start(&e, BINLOG_MARIA_BINLOG_CHECKPOINT);
    ple(&e, 5, 4);
    pstr(&e, "b.001");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.text.len, 5);
    check_prefixes(&fmt_plain, &e, e.n);
}

static void
test_binlog_unknown_type_passes_compressed_types_refused(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    start(&e, 200);
    pstr(&e, "whatever");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.body_len, 8);
    start(&e, BINLOG_TRANSACTION_PAYLOAD);
    pstr(&e, "zstd...");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "binlog_transaction_compression=OFF"));
    start(&e, BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1);
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "log_bin_compress=OFF"));
}

/* ---- QUERY ---- */

static void
build_query(struct eb *e, const char *db, const char *sql)
{
    start(e, BINLOG_QUERY);
    ple(e, 77, 4);               /* thread id */
    ple(e, 1, 4);                /* exec time */
    p8(e, (uint8_t) strlen(db)); /* db length */
    ple(e, 0, 2);                /* error code */
    ple(e, 34, 2);               /* status vars: 5 + 5 + 7 + 8 + 9 bytes, below */
    p8(e, 6);                    /* Q_CATALOG_NZ_CODE: length 3, "std" */
    p8(e, 3);
    pstr(e, "std");
    p8(e, 0); /* Q_FLAGS2_CODE: 4 bytes */
    ple(e, 0x00004000, 4);
    p8(e, 4); /* Q_CHARSET_CODE: client 45, connection 45, server 8 */
    ple(e, 45, 2);
    ple(e, 45, 2);
    ple(e, 8, 2);
    p8(e, 5); /* Q_TIME_ZONE_CODE: "SYSTEM" */
    p8(e, 6);
    pstr(e, "SYSTEM");
    p8(e, 1); /* Q_SQL_MODE_CODE: 8 bytes */
    ple(e, 0x1122, 8);
    pstr(e, db);
    p8(e, 0);
    pstr(e, sql);
}

static void
test_binlog_query_db_statement_status_vars(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    const struct binlog_query *q = &ev.u.query;

    (void) state;
    build_query(&e, "shop", "ALTER TABLE t ADD c INT");
    /* status vars: 5 (catalog 6,3,"std") + 5 (flags2) + 7 (charset) + 8 (tz) + 9 (sql_mode) */
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(q->thread_id, 77);
    assert_int_equal(q->status_vars_len, 34);
    assert_int_equal(q->db_len, 4);
    assert_memory_equal(q->db, "shop", 4);
    assert_int_equal(q->sql_len, 23);
    assert_memory_equal(q->sql, "ALTER TABLE t ADD c INT", 23);
    assert_int_equal(q->kind, BINLOG_QUERY_DDL);
    assert_true(q->has_flags2);
    assert_int_equal(q->flags2, 0x4000);
    assert_true(q->has_charset);
    assert_int_equal(q->charset_client, 45);
    assert_int_equal(q->collation_server, 8);
    assert_int_equal(q->time_zone_len, 6);
    assert_memory_equal(q->time_zone, "SYSTEM", 6);
    assert_true(q->has_sql_mode);
    assert_true(q->sql_mode == 0x1122);
    /* up to the db's NUL the event is needed; the statement may be empty */
    check_prefixes(&fmt_plain, &e, 19 + 13 + 34 + 5);
}

static void
test_binlog_query_kinds(void **state)
{
    static const struct {
        const char *sql;
        enum binlog_query_kind kind;
    } cases[] = {
        {"BEGIN", BINLOG_QUERY_BEGIN},
        {"begin", BINLOG_QUERY_BEGIN},
        {"XA START X'31',X'',1", BINLOG_QUERY_BEGIN},
        {"COMMIT", BINLOG_QUERY_COMMIT},
        {"/* a comment */ COMMIT", BINLOG_QUERY_COMMIT},
        {"XA COMMIT X'31'", BINLOG_QUERY_COMMIT},
        {"ROLLBACK", BINLOG_QUERY_ROLLBACK},
        {"ROLLBACK TO SAVEPOINT a", BINLOG_QUERY_TXCTL},
        {"SAVEPOINT a", BINLOG_QUERY_TXCTL},
        {"XA END X'31'", BINLOG_QUERY_TXCTL},
        {"BEGINNING_TABLE_DROP", BINLOG_QUERY_DDL}, /* a word, not BEGIN */
        {"CREATE TABLE t (a INT)", BINLOG_QUERY_DDL},
        {"DROP TABLE `t` /* generated by server */", BINLOG_QUERY_DDL},
        {"", BINLOG_QUERY_DDL},
        {"/* unterminated", BINLOG_QUERY_DDL},
    };
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        build_query(&e, "", cases[i].sql);
        finish(&e, false);
        assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
        if (ev.u.query.kind != cases[i].kind)
            fail_msg("\"%s\": kind %d, want %d", cases[i].sql, ev.u.query.kind, cases[i].kind);
    }
}

static void
test_binlog_query_bad_db_terminator_and_unknown_status_var(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;

    (void) state;
    build_query(&e, "db", "BEGIN");
    e.b[19 + 13 + 34 + 2] = 'x'; /* the db's NUL */
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "NUL"));
    /* an unknown status variable code stops their parsing quietly (as MySQL does) */
    build_query(&e, "db", "BEGIN");
    e.b[19 + 13] = 99;
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_false(ev.u.query.has_flags2);
    assert_int_equal(ev.u.query.kind, BINLOG_QUERY_BEGIN);
}

/* ---- GTIDs ---- */

static void
test_binlog_mariadb_gtid_variants(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    const struct binlog_maria_gtid *g = &ev.u.mgtid;

    (void) state;
    /* 0-7-42, transactional: seq 8, domain 4, flags2 1, 6 bytes of padding (19-byte post-header) */
    start(&e, BINLOG_MARIA_GTID);
    ple(&e, 42, 8);
    ple(&e, 0, 4);
    p8(&e, BINLOG_MGTID_TRANSACTIONAL | BINLOG_MGTID_ALLOW_PARALLEL);
    ple(&e, 0, 6);
    finish(&e, true);
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_OK);
    assert_true(g->seq_no == 42);
    assert_int_equal(g->domain_id, 0);
    assert_int_equal(ev.h.server_id, 7);
    assert_false(g->has_commit_id);
    assert_false(g->flags2 & BINLOG_MGTID_STANDALONE);
    /* standalone DDL in group commit 99: the commit id follows flags2 */
    start(&e, BINLOG_MARIA_GTID);
    ple(&e, 43, 8);
    ple(&e, 1, 4);
    p8(&e, BINLOG_MGTID_STANDALONE | BINLOG_MGTID_GROUP_COMMIT_ID | BINLOG_MGTID_DDL);
    ple(&e, 99, 8);
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_true(g->has_commit_id && g->commit_id == 99);
    assert_int_equal(g->domain_id, 1);
    check_prefixes(&fmt_plain, &e, e.n);
    /* XA PREPARE: format id, gtrid length, bqual length, data */
    start(&e, BINLOG_MARIA_GTID);
    ple(&e, 44, 8);
    ple(&e, 0, 4);
    p8(&e, BINLOG_MGTID_PREPARED_XA);
    ple(&e, 1, 4);
    p8(&e, 2);
    p8(&e, 1);
    pstr(&e, "abc");
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_true(g->has_xid);
    assert_int_equal(g->xa_gtrid_len, 2);
    assert_memory_equal(g->xa_data, "abc", 3);
    check_prefixes(&fmt_plain, &e, e.n);
}

static void
test_binlog_mariadb_gtid_list(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    struct binlog_maria_gtid_entry g;

    (void) state;
    start(&e, BINLOG_MARIA_GTID_LIST);
    ple(&e, 2, 4); /* count 2, flags 0 */
    ple(&e, 0, 4); /* 0-1-100 */
    ple(&e, 1, 4);
    ple(&e, 100, 8);
    ple(&e, 5, 4); /* 5-2-7 */
    ple(&e, 2, 4);
    ple(&e, 7, 8);
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.mgtid_list.count, 2);
    binlog_gtid_list_get(&ev.u.mgtid_list, 1, &g);
    assert_int_equal(g.domain_id, 5);
    assert_int_equal(g.server_id, 2);
    assert_true(g.seq_no == 7);
    check_prefixes(&fmt_plain, &e, e.n);
    /* a count of 2^27 entries in a 40-byte event */
    e.b[19 + 3] = 0x08;
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
}

static const uint8_t sid1[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
static const uint8_t sid2[16] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff};

static void
test_binlog_mysql_gtid(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    const struct binlog_mysql_gtid *g = &ev.u.gtid;

    (void) state;
    start(&e, BINLOG_GTID);
    p8(&e, 1);
    pbytes(&e, sid1, 16);
    ple(&e, 23, 8);
    p8(&e, 2); /* LOGICAL_TIMESTAMP_TYPECODE */
    ple(&e, 5, 8);
    ple(&e, 6, 8);
    /* immediate commit ts with bit 55 set: the original commit ts follows */
    ple(&e, 1700000000123456u | (UINT64_C(1) << 55), 7);
    ple(&e, 1690000000000000u, 7);
    p8(&e, 0xfc); /* transaction length etc.: ignored */
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_memory_equal(g->sid, sid1, 16);
    assert_true(g->gno == 23);
    assert_true(g->has_logical_ts && g->last_committed == 5 && g->sequence_number == 6);
    assert_true(g->has_commit_ts);
    assert_true(g->immediate_commit_ts_us == 1700000000123456u);
    assert_true(g->original_commit_ts_us == 1690000000000000u);
    /* flags + sid + gno are required; the rest is optional, but a flagged original ts is not */
    check_prefixes(&fmt_plain, &e, 19 + 25);
}

static void
test_binlog_previous_gtids_format(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    start(&e, BINLOG_PREVIOUS_GTIDS);
    ple(&e, 2, 8);
    pbytes(&e, sid1, 16);
    ple(&e, 2, 8);
    ple(&e, 1, 8); /* [1, 6): 1-5 */
    ple(&e, 6, 8);
    ple(&e, 7, 8); /* [7, 8): 7 */
    ple(&e, 8, 8);
    pbytes(&e, sid2, 16);
    ple(&e, 1, 8);
    ple(&e, 1, 8); /* [1, 4): 1-3 */
    ple(&e, 4, 8);
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    binlog_prev_gtids_format(&ev.u.prev_gtids, &b);
    assert_string_equal(b.data, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,"
                                "00000000-0000-0000-0000-0000000000ff:1-3");
    cdc_buf_free(&b);
    check_prefixes(&fmt_plain, &e, e.n);
    /* an interval whose end is not above its start */
    e.b[19 + 8 + 24 + 8] = 1; /* the first interval becomes [1, 1) */
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "interval"));
}

/* ---- TABLE_MAP ---- */

/* Packed (length-encoded) integer. */
static void
ppacked(struct eb *e, uint64_t v)
{
    if (v < 251) {
        p8(e, (uint8_t) v);
    } else if (v < 65536) {
        p8(e, 252);
        ple(e, v, 2);
    } else {
        p8(e, 253);
        ple(e, v, 3);
    }
}

/* One optional metadata TLV from a body built in `val`. */
static void
ptlv(struct eb *e, uint8_t type, const struct eb *val)
{
    p8(e, type);
    ppacked(e, val->n);
    pbytes(e, val->b, val->n);
}

static void
pname(struct eb *e, const char *s)
{
    ppacked(e, strlen(s));
    pstr(e, s);
}

/*
 * `shop`.`orders`, 9 columns:
 *   1 id      INT UNSIGNED NOT NULL (PK)    LONG         no metadata
 *   2 name    VARCHAR(100) utf8mb4          VARCHAR      400 (2 bytes LE)
 *   3 price   DECIMAL(10,4)                 NEWDECIMAL   10, 4
 *   4 status  ENUM('new','paid') latin1     STRING       F7 01 (real ENUM, 1 byte)
 *   5 tags    SET('a','b','c')              STRING       F8 01 (real SET, 1 byte)
 *   6 pt      POINT                         GEOMETRY     4 (length bytes)
 *   7 created DATETIME(6)                   DATETIME2    6
 *   8 code    CHAR(100) utf8mb4 = 400 bytes STRING       EE 90: 0xFE ^ ((400 & 0x300) >> 4), 400 &
 * 0xFF 9 raw     BINARY(16)                    STRING       FE 10
 */
static void
build_table_map(struct eb *e, bool mariadb_charsets)
{
    struct eb v;

    start(e, BINLOG_TABLE_MAP);
    ple(e, 0x0000123456789Au, 6);
    ple(e, 1, 2);
    p8(e, 4);
    pstr(e, "shop");
    p8(e, 0);
    p8(e, 6);
    pstr(e, "orders");
    p8(e, 0);
    ppacked(e, 9);
    pbytes(e, "\x03\x0f\xf6\xfe\xfe\xff\x12\xfe\xfe", 9);
    ppacked(e, 2 + 2 + 2 + 2 + 1 + 1 + 2 + 2);
    pbytes(e,
           "\x90\x01"
           "\x0a\x04"
           "\xf7\x01"
           "\xf8\x01"
           "\x04"
           "\x06"
           "\xee\x90"
           "\xfe\x10",
           14);
    p8(e, 0xFE); /* nullable: all but id */
    p8(e, 0x01);
    /* SIGNEDNESS: numeric columns id, price: id unsigned -> 1000 0000 */
    v.n = 0;
    p8(&v, 0x80);
    ptlv(e, BINLOG_OM_SIGNEDNESS, &v);
    /* DEFAULT_CHARSET: default 45 (utf8mb4_general_ci), character column #2 (raw, BINARY) is 63;
     * character columns: name, code, raw (MySQL); name, pt, code, raw (MariaDB: GEOMETRY counts) */
    v.n = 0;
    ppacked(&v, 45);
    ppacked(&v, mariadb_charsets ? 3 : 2);
    ppacked(&v, 63);
    ptlv(e, BINLOG_OM_DEFAULT_CHARSET, &v);
    v.n = 0;
    pname(&v, "id");
    pname(&v, "name");
    pname(&v, "price");
    pname(&v, "status");
    pname(&v, "tags");
    pname(&v, "pt");
    pname(&v, "created");
    pname(&v, "code");
    pname(&v, "raw");
    ptlv(e, BINLOG_OM_COLUMN_NAME, &v);
    v.n = 0;
    ppacked(&v, 3);
    pname(&v, "a");
    pname(&v, "b");
    pname(&v, "c");
    ptlv(e, BINLOG_OM_SET_STR_VALUE, &v);
    v.n = 0;
    ppacked(&v, 2);
    pname(&v, "new");
    pname(&v, "paid");
    ptlv(e, BINLOG_OM_ENUM_STR_VALUE, &v);
    v.n = 0;
    ppacked(&v, 1); /* POINT */
    ptlv(e, BINLOG_OM_GEOMETRY_TYPE, &v);
    v.n = 0;
    ppacked(&v, 0); /* id */
    ptlv(e, BINLOG_OM_SIMPLE_PRIMARY_KEY, &v);
    v.n = 0;
    ppacked(&v, 8); /* ENUM/SET default latin1_swedish_ci, none different */
    ptlv(e, BINLOG_OM_ENUM_AND_SET_DEFAULT_CHARSET, &v);
    v.n = 0;
    p8(&v, 0xFF); /* all 9 visible */
    p8(&v, 0x80);
    ptlv(e, BINLOG_OM_COLUMN_VISIBILITY, &v);
    v.n = 0;
    p8(&v, 1); /* a field of some later version: skipped */
    ptlv(e, 99, &v);
    finish(e, false);
}

static void
check_orders_table(const struct binlog_table *t, bool mariadb)
{
    const struct binlog_column *c = t->cols;

    assert_true(t->table_id == 0x123456789Au);
    assert_string_equal(t->db, "shop");
    assert_string_equal(t->table, "orders");
    assert_int_equal(t->ncols, 9);
    assert_true(t->has_signedness && t->has_charsets && t->has_names && t->has_pk);
    assert_true(t->has_enum_values && t->has_set_values && t->has_visibility);
    assert_int_equal(c[0].type, MYT_LONG);
    assert_true(c[0].is_unsigned && c[0].is_pk && !c[0].nullable);
    assert_string_equal(c[0].name, "id");
    assert_int_equal(c[1].length, 400);
    assert_int_equal(c[1].collation, 45);
    assert_true(c[1].nullable && !c[1].is_pk);
    assert_int_equal(c[2].precision, 10);
    assert_int_equal(c[2].scale, 4);
    assert_false(c[2].is_unsigned);
    assert_int_equal(c[3].real_type, MYT_ENUM);
    assert_int_equal(c[3].length, 1);
    assert_int_equal(c[3].n_elems, 2);
    assert_string_equal(c[3].elems[1].s, "paid");
    assert_int_equal(c[3].collation, 8);
    assert_int_equal(c[4].real_type, MYT_SET);
    assert_int_equal(c[4].n_elems, 3);
    assert_string_equal(c[4].elems[2].s, "c");
    assert_int_equal(c[4].collation, 8);
    assert_int_equal(c[5].geometry_type, 1);
    assert_int_equal(c[5].length, 4);
    assert_int_equal(c[5].collation, mariadb ? 45 : 0);
    assert_int_equal(c[6].type, MYT_DATETIME2);
    assert_int_equal(c[6].fsp, 6);
    assert_int_equal(c[7].real_type, MYT_STRING);
    assert_int_equal(c[7].length, 400);
    assert_int_equal(c[7].collation, 45);
    assert_int_equal(c[8].length, 16);
    assert_int_equal(c[8].collation, 63);
    assert_string_equal(c[8].name, "raw");
    assert_true(c[8].visible);
}

static void
test_binlog_table_map_all_optional_metadata(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    struct binlog_table *t = NULL;
    struct binlog_fmt maria = fmt_plain;

    (void) state;
    build_table_map(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(ev.u.table_map.ncols, 9);
    assert_int_equal(ev.u.table_map.db_len, 4);
    assert_int_equal(binlog_table_create(&t, &ev.u.table_map, &fmt_plain, &err), CDC_OK);
    check_orders_table(t, false);
    binlog_table_destroy(t);
    /* MariaDB counts the GEOMETRY column among the character columns */
    build_table_map(&e, true);
    maria.is_mariadb = true;
    assert_int_equal(decode(&maria, &e, &ev, &err), CDC_OK);
    assert_int_equal(binlog_table_create(&t, &ev.u.table_map, &maria, &err), CDC_OK);
    check_orders_table(t, true);
    binlog_table_destroy(t);
    binlog_table_destroy(NULL);
}

static void
test_binlog_table_map_truncated_and_bad(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    struct binlog_table *t = NULL;
    size_t fixed = 19 + 8 + 6 + 8 + 1 + 9 + 1 + 14 + 2; /* up to the nullability bitmap */

    (void) state;
    build_table_map(&e, false);
    check_prefixes(&fmt_plain, &e, fixed);
    /* every prefix of the optional metadata (cut mid-field) must fail to build, never over-read */
    for (size_t len = fixed; len < e.n; len++) {
        struct eb cut = e;
        cdc_rc rc;

        cut.n = len;
        finish(&cut, false);
        assert_int_equal(decode(&fmt_plain, &cut, &ev, &err), CDC_OK);
        {
            uint8_t *opt = malloc(ev.u.table_map.opt_len + 1);

            memcpy(opt, ev.u.table_map.opt, ev.u.table_map.opt_len);
            ev.u.table_map.opt = opt;
            rc = binlog_table_create(&t, &ev.u.table_map, &fmt_plain, &err);
            if (rc == CDC_OK)
                binlog_table_destroy(t);
            else
                assert_int_equal(rc, CDC_ERR_PROTO);
            free(opt);
        }
    }
    /* an unknown column type code */
    build_table_map(&e, false);
    e.b[19 + 8 + 6 + 8 + 1 + 3] = 0xF0; /* column 4's type */
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(binlog_table_create(&t, &ev.u.table_map, &fmt_plain, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "column 4 (type 240): unsupported column type"));
    /* DECIMAL(70, 4) */
    build_table_map(&e, false);
    e.b[19 + 8 + 6 + 8 + 1 + 9 + 1 + 2] = 70;
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(binlog_table_create(&t, &ev.u.table_map, &fmt_plain, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "precision"));
    /* a bad length-encoded integer (255) as the column count */
    build_table_map(&e, false);
    e.b[19 + 8 + 6 + 8] = 0xFF;
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "length-encoded"));
}

/* ---- ROWS ---- */

static void
test_binlog_rows_v1_and_v2(void **state)
{
    struct eb e;
    struct binlog_event ev;
    struct cdc_err err;
    const struct binlog_rows *r = &ev.u.rows;

    (void) state;
    /* WRITE_ROWS v1: table id, flags, 3 columns, all present, one row */
    start(&e, BINLOG_WRITE_ROWS_V1);
    ple(&e, 70, 6);
    ple(&e, BINLOG_ROWS_STMT_END, 2);
    ppacked(&e, 3);
    p8(&e, 0x07);
    pbytes(&e, "\x00\x01\x02\x03", 4); /* row bytes, not interpreted here */
    finish(&e, false);
    assert_int_equal(decode(&fmt_plain, &e, &ev, &err), CDC_OK);
    assert_int_equal(r->kind, BINLOG_ROWS_WRITE);
    assert_int_equal(r->version, 1);
    assert_true(r->table_id == 70);
    assert_int_equal(r->flags, BINLOG_ROWS_STMT_END);
    assert_int_equal(r->ncols, 3);
    assert_int_equal(r->cols[0], 0x07);
    assert_ptr_equal(r->cols_after, r->cols);
    assert_int_equal(r->rows_len, 4);
    check_prefixes(&fmt_plain, &e, 19 + 8 + 2);
    /* UPDATE_ROWS v2 with 3 bytes of extra data, 10 columns (2-byte bitmaps) */
    start(&e, BINLOG_UPDATE_ROWS_V2);
    ple(&e, 71, 6);
    ple(&e, 0, 2);
    ple(&e, 2 + 3, 2);
    pbytes(&e, "\x01\x02\x03", 3);
    ppacked(&e, 10);
    pbytes(&e, "\xff\x03", 2);
    pbytes(&e, "\x01\x02", 2);
    finish(&e, true);
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_OK);
    assert_int_equal(r->kind, BINLOG_ROWS_UPDATE);
    assert_int_equal(r->version, 2);
    assert_int_equal(r->extra_len, 3);
    assert_int_equal(r->extra[2], 3);
    assert_int_equal(r->ncols, 10);
    assert_int_equal(r->cols[1], 0x03);
    assert_int_equal(r->cols_after[0], 0x01);
    assert_int_equal(r->rows_len, 0);
    assert_true(binlog_is_rows_event(BINLOG_DELETE_ROWS_V2));
    assert_false(binlog_is_rows_event(BINLOG_TABLE_MAP));
    /* extra data length below 2 */
    e.b[19 + 8] = 1;
    finish(&e, false);
    e.n -= 4;
    finish(&e, true);
    assert_int_equal(decode(&fmt_crc, &e, &ev, &err), CDC_ERR_PROTO);
    assert_non_null(strstr(err.msg, "extra data"));
    /* with a 6-byte post-header (MySQL 5.1.0-5.1.15) the table id is 4 bytes */
    {
        struct binlog_fmt f = fmt_plain;

        f.n_post_header = BINLOG_WRITE_ROWS_V1;
        f.post_header_len[BINLOG_WRITE_ROWS_V1 - 1] = 6;
        start(&e, BINLOG_WRITE_ROWS_V1);
        ple(&e, 0x01020304, 4);
        ple(&e, 0, 2);
        ppacked(&e, 1);
        p8(&e, 1);
        finish(&e, false);
        assert_int_equal(decode(&f, &e, &ev, &err), CDC_OK);
        assert_true(r->table_id == 0x01020304);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binlog_crc32_check_value),
        cmocka_unit_test(test_binlog_header_fields_and_size_mismatch),
        cmocka_unit_test(test_binlog_checksum_is_dropped_and_verified),
        cmocka_unit_test(test_binlog_fde_mariadb_with_crc32),
        cmocka_unit_test(test_binlog_fde_mysql_checksum_off_and_old_server),
        cmocka_unit_test(test_binlog_rotate_with_checksum),
        cmocka_unit_test(test_binlog_text_events),
        cmocka_unit_test(test_binlog_unknown_type_passes_compressed_types_refused),
        cmocka_unit_test(test_binlog_query_db_statement_status_vars),
        cmocka_unit_test(test_binlog_query_kinds),
        cmocka_unit_test(test_binlog_query_bad_db_terminator_and_unknown_status_var),
        cmocka_unit_test(test_binlog_mariadb_gtid_variants),
        cmocka_unit_test(test_binlog_mariadb_gtid_list),
        cmocka_unit_test(test_binlog_mysql_gtid),
        cmocka_unit_test(test_binlog_previous_gtids_format),
        cmocka_unit_test(test_binlog_table_map_all_optional_metadata),
        cmocka_unit_test(test_binlog_table_map_truncated_and_bad),
        cmocka_unit_test(test_binlog_rows_v1_and_v2),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
