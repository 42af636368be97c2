/*
 * test_pgstream.c - pgoutput protocol version 2 (streamed transactions) on
 * hand-built messages laid out as PostgreSQL's "Logical Replication Message
 * Formats" (PostgreSQL 15) says:
 *   Stream Start  'S' int32 xid, int8 first-segment (1: first)
 *   Stream Stop   'E'
 *   Stream Commit 'c' int32 xid, int8 flags (0), int64 commit LSN, int64 end LSN,
 *                     int64 commit time (us since 2000-01-01)
 *   Stream Abort  'A' int32 xid, int32 subxid
 *   and inside a stream block Relation, Type, Insert, Update, Delete,
 *   Truncate and Message carry int32 xid right after the type byte.
 * First the pure decoder (pgo_decode_v2), then pgstream with the decoder's
 * replay (pgd_stream_begin / pgd_feed_streamed / pgd_stream_commit): chunks
 * spilled, interleaved transactions, a subtransaction abort, a whole abort,
 * a Relation message inside a stream, and messages out of place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source/pg/pgdecode.h"
#include "source/pg/pgoutput.h"
#include "source/pg/pgstream.h"

#include "pgwire_build.h"

static struct mb
stream_start(uint32_t xid, bool first)
{
    struct mb m = {0};

    p8(&m, 'S');
    p32(&m, xid);
    p8(&m, first ? 1 : 0);
    return m;
}

static struct mb
stream_stop(void)
{
    struct mb m = {0};

    p8(&m, 'E');
    return m;
}

/* commit time: 2000-01-01 00:00:01 UTC = 946684801 s after the Unix epoch */
static struct mb
stream_commit(uint32_t xid, uint64_t commit_lsn, uint64_t end_lsn)
{
    struct mb m = {0};

    p8(&m, 'c');
    p32(&m, xid);
    p8(&m, 0);
    p64(&m, commit_lsn);
    p64(&m, end_lsn);
    p64(&m, 1000000);
    return m;
}

static struct mb
stream_abort(uint32_t xid, uint32_t subxid)
{
    struct mb m = {0};

    p8(&m, 'A');
    p32(&m, xid);
    p32(&m, subxid);
    return m;
}

/* Relation 16384 public.t (id int4 key, v text); in a stream with xid when in_stream. */
static struct mb
relation(bool in_stream, uint32_t xid)
{
    struct mb m = {0};

    p8(&m, 'R');
    if (in_stream)
        p32(&m, xid);
    p32(&m, 16384);
    pstr(&m, "public");
    pstr(&m, "t");
    p8(&m, 'd');
    p16(&m, 2);
    p8(&m, 1);
    pstr(&m, "id");
    p32(&m, 23);
    p32(&m, 0xFFFFFFFF);
    p8(&m, 0);
    pstr(&m, "v");
    p32(&m, 25);
    p32(&m, 0xFFFFFFFF);
    return m;
}

/* Insert into 16384 of (id, v); with xid when in_stream. */
static struct mb
insert(bool in_stream, uint32_t xid, const char *id, const char *v)
{
    struct mb m = {0};

    p8(&m, 'I');
    if (in_stream)
        p32(&m, xid);
    p32(&m, 16384);
    p8(&m, 'N');
    p16(&m, 2);
    ptext(&m, id);
    ptext(&m, v);
    return m;
}

static void
test_pgoutput_v2_stream_control_messages(void **state)
{
    struct cdc_err err = {0};
    struct pgo_msg out;
    struct mb m;

    (void) state;
    m = stream_start(0x01020304, true);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_STREAM_START);
    assert_int_equal(out.u.stream_start.xid, 0x01020304);
    assert_true(out.u.stream_start.first_segment);
    m = stream_start(7, false);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_false(out.u.stream_start.first_segment);

    m = stream_stop();
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_STREAM_STOP);

    m = stream_commit(700, 0x16B374D848, 0x16B374D900);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_STREAM_COMMIT);
    assert_int_equal(out.u.stream_commit.xid, 700);
    assert_int_equal(out.u.stream_commit.flags, 0);
    assert_int_equal(out.u.stream_commit.commit_lsn, 0x16B374D848);
    assert_int_equal(out.u.stream_commit.end_lsn, 0x16B374D900);
    assert_int_equal(out.u.stream_commit.commit_time_us, INT64_C(946684801000000));

    m = stream_abort(700, 702);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_STREAM_ABORT);
    assert_int_equal(out.u.stream_abort.xid, 700);
    assert_int_equal(out.u.stream_abort.subxid, 702);
    assert_string_equal(pgo_msg_type_name('c'), "Stream Commit");
}

static void
test_pgoutput_v2_messages_inside_a_stream_carry_an_xid(void **state)
{
    struct cdc_err err = {0};
    struct pgo_msg out;
    struct mb m;

    (void) state;
    m = insert(true, 702, "1", "a");
    assert_int_equal(pgo_decode_v2(m.b, m.n, true, &out, &err), CDC_OK);
    assert_int_equal(out.type, PGO_MSG_INSERT);
    assert_int_equal(out.xid, 702);
    assert_int_equal(out.u.change.relid, 16384);
    /* the same bytes outside a stream: the xid is taken as the relid, and 4 bytes are left */
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_ERR_PROTO);
    m = relation(true, 700);
    assert_int_equal(pgo_decode_v2(m.b, m.n, true, &out, &err), CDC_OK);
    assert_int_equal(out.xid, 700);
    assert_int_equal(out.u.relation.relid, 16384);
    assert_string_equal(out.u.relation.relname, "t");
    m = relation(false, 0);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_OK);
    assert_int_equal(out.xid, 0);
}

static void
test_pgoutput_v2_malformed_and_version_checks(void **state)
{
    struct cdc_err err = {0};
    struct pgo_msg out;
    struct mb m;

    (void) state;
    m = stream_commit(700, 1, 2);
    assert_int_equal(pgo_decode_v2(m.b, m.n - 1, false, &out, &err), CDC_ERR_PROTO);
    assert_string_equal(err.msg, "pgoutput: truncated Stream Commit message at offset 22: need 8 "
                                 "bytes, have 7");
    m = stream_abort(1, 2);
    p8(&m, 0);
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_ERR_PROTO);
    assert_string_equal(
        err.msg, "pgoutput: 1 unexpected trailing bytes in Stream Abort message at offset 9");
    m = stream_start(1, true);
    assert_int_equal(pgo_decode(m.b, m.n, &out, &err), CDC_ERR_PROTO);
    assert_string_equal(
        err.msg, "pgoutput: Stream Start message 'S' (0x53) is not part of protocol version 1");
    m = (struct mb){{'P'}, 1};
    assert_int_equal(pgo_decode_v2(m.b, m.n, false, &out, &err), CDC_ERR_PROTO);
    assert_string_equal(err.msg,
                        "pgoutput: Prepare message 'P' (0x50) is not part of protocol version 2");
}

/* pgstream + pgd over a spill directory of the test's own. */
struct fx {
    char dir[512];
    struct pgstream *st;
    struct pgd *d;
    struct cdc_err err;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *t = getenv("TMPDIR");
    struct pgstream_opts o;

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/test_pgstream.XXXXXX", t != NULL && *t ? t : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    o.dir = f->dir;
    o.tag = "slot";
    o.max_bytes = 0;
    if (pgstream_create(&f->st, &o, &f->err) != CDC_OK || pgd_create(&f->d, &f->err) != CDC_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    pgstream_destroy(f->st);
    pgd_destroy(f->d);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Feed m to pgstream; return what it made of it. */
static enum pgstream_kind
sfeed(struct fx *f, struct mb m, cdc_lsn lsn, struct pgstream_out *out)
{
    struct pgstream_out o;

    if (out == NULL)
        out = &o;
    if (pgstream_feed(f->st, m.b, m.n, lsn, out, &f->err) != CDC_OK)
        fail_msg("pgstream_feed: %s", f->err.msg);
    return out->kind;
}

/* What pgstream says for m when it refuses it. */
static const char *
sfeed_fails(struct fx *f, struct mb m)
{
    struct pgstream_out o;

    assert_int_equal(pgstream_feed(f->st, m.b, m.n, 0, &o, &f->err), CDC_ERR_PROTO);
    return f->err.msg;
}

/* A non-stream message goes to the decoder. */
static void
dfeed(struct fx *f, struct mb m, cdc_lsn lsn, struct pgd_out *out)
{
    if (pgd_feed(f->d, m.b, m.n, lsn, out, &f->err) != CDC_OK)
        fail_msg("pgd_feed: %s", f->err.msg);
}

/*
 * Replay the committed transaction `c` through the decoder; the ids of its
 * inserts joined by spaces must be want, numbered 0.. and stamped with the
 * commit LSN, time and top-level xid.
 */
static void
replay(struct fx *f, const struct pgstream_out *c, const char *want)
{
    struct pgspill_rec rec;
    struct pgd_out out;
    char got[256] = "";
    uint32_t seq = 0;
    size_t n = 0;
    bool end = false;

    assert_int_equal(c->kind, PGSTREAM_COMMIT);
    assert_true(pgstream_replaying(f->st));
    pgd_stream_begin(f->d, c->xid, c->commit_lsn, c->commit_time_us, &out);
    assert_int_equal(out.kind, PGD_BEGIN);
    assert_int_equal(out.commit_lsn, c->commit_lsn);
    while (!end) {
        assert_int_equal(pgstream_replay_next(f->st, &rec, &end, &f->err), CDC_OK);
        if (end)
            break;
        if (pgd_feed_streamed(f->d, rec.msg, rec.len, rec.lsn, &out, &f->err) != CDC_OK)
            fail_msg("pgd_feed_streamed: %s", f->err.msg);
        if (out.kind != PGD_CHANGES)
            continue;
        assert_int_equal(out.n_changes, 1);
        assert_int_equal(out.changes[0].seq, seq++);
        assert_int_equal(out.changes[0].commit_lsn, c->commit_lsn);
        assert_int_equal(out.changes[0].xid, c->xid);
        assert_int_equal(out.changes[0].commit_time_us, c->commit_time_us);
        assert_int_equal(out.changes[0].lsn, rec.lsn);
        n += (size_t) snprintf(got + n, sizeof(got) - n, "%s%.*s", n ? " " : "",
                               (int) out.changes[0].after->vals[0].len,
                               out.changes[0].after->vals[0].data);
    }
    assert_false(pgstream_replaying(f->st));
    assert_int_equal(pgd_stream_commit(f->d, c->commit_lsn, c->end_lsn, &out, &f->err), CDC_OK);
    assert_int_equal(out.kind, PGD_COMMIT);
    assert_int_equal(out.end_lsn, c->end_lsn);
    assert_string_equal(got, want);
}

/*
 * Two streamed transactions (700 and 800) interleaved, with a whole one (900)
 * in between that passes straight through; 700 loses subtransaction 702, and
 * its Relation message came inside its own stream (applied only at replay).
 */
static void
test_pgstream_interleaved_transactions_replay_at_commit(void **state)
{
    struct fx *f = *state;
    struct pgstream_out c700, c800;
    struct pgd_out out;
    struct mb m;

    assert_int_equal(sfeed(f, stream_start(700, true), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, relation(true, 700), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, insert(true, 700, "1", "a"), 0x10, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, insert(true, 702, "2", "b"), 0x20, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, stream_stop(), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(pgstream_open(f->st), 1);
    assert_true(pgstream_spilled_bytes(f->st) > 0);

    assert_int_equal(sfeed(f, stream_start(800, true), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, relation(true, 800), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, insert(true, 800, "80", "x"), 0x30, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, stream_stop(), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(pgstream_open(f->st), 2);

    /* subtransaction 702 of 700 rolls back */
    assert_int_equal(sfeed(f, stream_abort(700, 702), 0, NULL), PGSTREAM_KEPT);

    /* a whole transaction: not streaming's; its Relation is the decoder's own */
    m = relation(false, 0);
    assert_int_equal(sfeed(f, m, 0, NULL), PGSTREAM_OTHER);
    dfeed(f, m, 0, &out);
    m = (struct mb){0};
    p8(&m, 'B');
    p64(&m, 0x40);
    p64(&m, 0);
    p32(&m, 900);
    assert_int_equal(sfeed(f, m, 0x38, NULL), PGSTREAM_OTHER);

    assert_int_equal(sfeed(f, stream_start(700, false), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, insert(true, 703, "3", "c"), 0x50, NULL), PGSTREAM_KEPT);
    assert_int_equal(sfeed(f, stream_stop(), 0, NULL), PGSTREAM_KEPT);

    /* 800 commits first */
    assert_int_equal(sfeed(f, stream_commit(800, 0x60, 0x68), 0, &c800), PGSTREAM_COMMIT);
    assert_int_equal(c800.xid, 800);
    assert_int_equal(c800.commit_time_us, INT64_C(946684801000000));
    assert_int_equal(pgstream_open(f->st), 1);
    assert_int_equal(pgstream_feed(f->st, stream_stop().b, 1, 0, &c700, &f->err), CDC_ERR_PROTO);
    assert_string_equal(f->err.msg, "pgoutput: a message arrived during a replay");
    replay(f, &c800, "80");
    assert_int_equal(sfeed(f, stream_commit(700, 0x70, 0x78), 0, &c700), PGSTREAM_COMMIT);
    replay(f, &c700, "1 3");
    assert_int_equal(pgstream_open(f->st), 0);
}

static void
test_pgstream_abort_of_the_whole_transaction_drops_it(void **state)
{
    struct fx *f = *state;
    struct pgstream_out c;

    sfeed(f, stream_start(700, true), 0, NULL);
    sfeed(f, relation(true, 700), 0, NULL);
    sfeed(f, insert(true, 700, "1", "a"), 0x10, NULL);
    sfeed(f, stream_stop(), 0, NULL);
    assert_int_equal(sfeed(f, stream_abort(700, 700), 0, NULL), PGSTREAM_KEPT);
    assert_int_equal(pgstream_open(f->st), 0);
    /* an abort of a transaction never streamed (or already gone): nothing to do */
    assert_int_equal(sfeed(f, stream_abort(700, 700), 0, NULL), PGSTREAM_KEPT);
    assert_string_equal(sfeed_fails(f, stream_commit(700, 1, 2)),
                        "pgoutput: Stream Commit of transaction 700, which this session never "
                        "saw streamed");
    (void) c;
}

static void
test_pgstream_messages_out_of_place_are_protocol_errors(void **state)
{
    struct fx *f = *state;
    struct mb m = {0};

    assert_string_equal(sfeed_fails(f, stream_stop()),
                        "pgoutput: Stream Stop outside a stream block");
    assert_string_equal(sfeed_fails(f, stream_start(700, false)),
                        "pgoutput: Stream Start of a later chunk of transaction 700, whose first "
                        "chunk this session never received");
    sfeed(f, stream_start(700, true), 0, NULL);
    assert_string_equal(sfeed_fails(f, stream_start(800, true)),
                        "pgoutput: Stream Start of transaction 800 inside the stream block of "
                        "transaction 700");
    p8(&m, 'B');
    p64(&m, 0x40);
    p64(&m, 0);
    p32(&m, 900);
    assert_string_equal(sfeed_fails(f, m),
                        "pgoutput: Begin message inside the stream block of transaction 700");
    /* an Insert without its xid is malformed inside a block */
    assert_int_equal(pgstream_feed(f->st, insert(false, 0, "1", "a").b,
                                   insert(false, 0, "1", "a").n, 0, &(struct pgstream_out){0},
                                   &f->err),
                     CDC_ERR_PROTO);
}

/* A later chunk with the first-segment flag starts the transaction over (cannot happen within a
 * session, but must not mix two versions of it). */
static void
test_pgstream_first_segment_again_starts_over(void **state)
{
    struct fx *f = *state;
    struct pgstream_out c;

    sfeed(f, stream_start(700, true), 0, NULL);
    sfeed(f, relation(true, 700), 0, NULL);
    sfeed(f, insert(true, 700, "1", "a"), 0x10, NULL);
    sfeed(f, stream_stop(), 0, NULL);
    sfeed(f, stream_start(700, true), 0, NULL);
    sfeed(f, relation(true, 700), 0, NULL);
    sfeed(f, insert(true, 700, "2", "b"), 0x20, NULL);
    sfeed(f, stream_stop(), 0, NULL);
    assert_int_equal(pgstream_open(f->st), 1);
    assert_int_equal(sfeed(f, stream_commit(700, 0x70, 0x78), 0, &c), PGSTREAM_COMMIT);
    replay(f, &c, "2");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgoutput_v2_stream_control_messages),
        cmocka_unit_test(test_pgoutput_v2_messages_inside_a_stream_carry_an_xid),
        cmocka_unit_test(test_pgoutput_v2_malformed_and_version_checks),
        cmocka_unit_test_setup_teardown(test_pgstream_interleaved_transactions_replay_at_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgstream_abort_of_the_whole_transaction_drops_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgstream_messages_out_of_place_are_protocol_errors,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pgstream_first_segment_again_starts_over, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
