/*
 * it_pgsrc.c - the PostgreSQL source (pgsrc.c) against a real PostgreSQL 15
 * from the servers fixture: slot and publication setup, the pgoutput stream
 * and its session options, standby status updates (the confirmed position is
 * exactly the one we sent), restart without replay, keepalive replies, and
 * how connection failures are reported (retryable, password never shown).
 *
 * Uses its own database, pgsrc_it, whose defaults are deliberately different
 * from ours (TimeZone, DateStyle, IntervalStyle, bytea_output,
 * extra_float_digits) and whose wal_sender_timeout is short, so a
 * missing keepalive reply shows up in seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "itlib.h"
#include "source/pg/pgsrc.h"

#define DB     "pgsrc_it"
#define TS_UTC "2024-01-02 03:04:05.123456+00"

/* What one transaction looked like on the stream. */
struct txn {
    char kinds[64]; /* first byte of each pgoutput message, in order */
    int n;
    char notes[256]; /* the text of every Insert payload, concatenated (NULs replaced) */
    cdc_lsn end_lsn; /* the Commit message's end LSN */
};

static PGconn *db; /* plain SQL connection to DB, for writes and checks */

static int
group_setup(void **state)
{
    (void) state;
    db = it_fresh_db(DB);
    it_sql(db, "ALTER DATABASE " DB " SET TimeZone = 'America/New_York'");
    it_sql(db, "ALTER DATABASE " DB " SET DateStyle = 'SQL, DMY'");
    it_sql(db, "ALTER DATABASE " DB " SET IntervalStyle = 'postgres_verbose'");
    it_sql(db, "ALTER DATABASE " DB " SET bytea_output = 'escape'");
    it_sql(db, "ALTER DATABASE " DB " SET extra_float_digits = 0");
    it_sql(db, "ALTER DATABASE " DB " SET wal_sender_timeout = '3s'");
    it_sql(db, "CREATE TABLE pgsrc_t (id int PRIMARY KEY, note text, ts timestamptz, "
               "iv interval, b bytea, f float8)");
    it_sql(db,
           "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
           "CREATE ROLE %s LOGIN REPLICATION PASSWORD 'right-Pw-1'; END IF; END $$",
           it_env("CDC_IT_PG_PWUSER"), it_env("CDC_IT_PG_PWUSER"));
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    PQfinish(db);
    return 0;
}

static void
opts_for(struct pgsrc_opts *o, const char *slot, const char *pub)
{
    pgsrc_opts_init(o);
    o->host = it_env("CDC_IT_PGHOST");
    o->port = atoi(it_env("CDC_IT_PGPORT"));
    o->user = it_env("CDC_IT_PGUSER");
    o->dbname = DB;
    o->sslmode = PGSRC_SSL_DISABLE;
    o->slot = slot;
    o->publication = pub;
    o->status_interval_ms = 200;
    o->application_name = "it_pgsrc";
}

static struct pgsrc *
open_src(const char *slot, const char *pub, struct pgsrc_slot_info *info)
{
    static const char *const tables[] = {"public.pgsrc_t"};
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};

    opts_for(&o, slot, pub);
    o.tables = tables;
    o.n_tables = 1;
    if (pgsrc_create(&s, &o, &err) != CDC_OK)
        fail_msg("pgsrc_create: %s", err.msg);
    if (pgsrc_prepare(s, info, &err) != CDC_OK)
        fail_msg("pgsrc_prepare: %s", err.msg);
    return s;
}

static uint64_t
be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Read one whole transaction (up to its Commit) within 15 s. */
static void
read_txn(struct pgsrc *s, struct txn *t)
{
    int64_t deadline = it_now_ms() + 15000;
    struct cdc_err err = {0};
    struct pgsrc_msg m;

    memset(t, 0, sizeof(*t));
    while (it_now_ms() < deadline) {
        if (pgsrc_read(s, 200, &m, &err) != CDC_OK)
            fail_msg("pgsrc_read: %s", err.msg);
        if (m.kind != PGSRC_DATA)
            continue;
        assert_true(m.len > 0);
        /* Relation (and Type) messages are not tied to a WAL record: 0/0 */
        if (m.data[0] != 'R' && m.data[0] != 'Y')
            assert_true(m.wal_start != CDC_LSN_INVALID);
        if (t->n < (int) sizeof(t->kinds) - 1)
            t->kinds[t->n++] = (char) m.data[0];
        if (m.data[0] == 'I') {
            size_t at = strlen(t->notes);

            for (size_t i = 0; i < m.len && at + 1 < sizeof(t->notes); i++)
                t->notes[at++] = m.data[i] ? (char) m.data[i] : '|';
            t->notes[at] = '\0';
        }
        if (m.data[0] == 'C') {
            /* Commit: flags (1), commit LSN (8), end LSN (8), timestamp (8) */
            assert_int_equal(m.len, 26);
            t->end_lsn = be64(m.data + 10);
            return;
        }
    }
    fail_msg("no complete transaction within 15 s (saw \"%s\")", t->kinds);
}

static cdc_lsn
slot_confirmed(const char *slot)
{
    char *v = it_sql_value(
        db, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    cdc_lsn lsn = CDC_LSN_INVALID;

    assert_non_null(v);
    assert_true(cdc_lsn_parse(v, &lsn));
    free(v);
    return lsn;
}

/* Keep the stream moving (so periodic status updates go out) for ms milliseconds. */
static void
pump(struct pgsrc *s, int ms)
{
    int64_t deadline = it_now_ms() + ms;
    struct cdc_err err = {0};
    struct pgsrc_msg m;

    while (it_now_ms() < deadline)
        if (pgsrc_read(s, 50, &m, &err) != CDC_OK)
            fail_msg("pgsrc_read: %s", err.msg);
}

static void
stop_src(struct pgsrc *s)
{
    struct cdc_err err = {0};

    if (pgsrc_stop(s, &err) != CDC_OK)
        fail_msg("pgsrc_stop: %s", err.msg);
    pgsrc_destroy(s);
}

static void
test_pgsrc_prepare_creates_slot_and_publication_once(void **state)
{
    struct pgsrc_slot_info a, b;
    struct pgsrc *s1, *s2;
    char *v;

    (void) state;
    s1 = open_src("pgsrc_it_a", "pgsrc_pub", &a);
    assert_true(a.publication_created);
    assert_true(a.slot_created);
    v = it_sql_value(db, "SELECT system_identifier::text FROM pg_control_system()");
    assert_string_equal(a.system_id, v);
    free(v);
    assert_int_equal(a.timeline, 1);
    assert_true(a.xlogpos != CDC_LSN_INVALID);
    assert_true(a.confirmed_flush != CDC_LSN_INVALID);
    assert_true(a.restart_lsn != CDC_LSN_INVALID && a.restart_lsn <= a.confirmed_flush);
    assert_false(a.active);
    v = it_sql_value(db, "SELECT string_agg(schemaname || '.' || tablename, ',') "
                         "FROM pg_publication_tables WHERE pubname = 'pgsrc_pub'");
    assert_string_equal(v, "public.pgsrc_t");
    free(v);
    v = it_sql_value(db, "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'pgsrc_it_a'");
    assert_string_equal(v, "pgoutput");
    free(v);

    s2 = open_src("pgsrc_it_a", "pgsrc_pub", &b);
    assert_false(b.publication_created);
    assert_false(b.slot_created);
    assert_string_equal(a.system_id, b.system_id);
    assert_true(b.confirmed_flush == a.confirmed_flush);
    pgsrc_destroy(s2);
    stop_src(s1);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_a')");
}

static void
test_pgsrc_empty_table_list_creates_publication_for_all_tables(void **state)
{
    struct pgsrc_slot_info info;
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};
    char *v;

    (void) state;
    opts_for(&o, "pgsrc_it_all", "Pgsrc All's"); /* needs identifier and literal quoting */
    assert_int_equal(pgsrc_create(&s, &o, &err), CDC_OK);
    assert_int_equal(pgsrc_prepare(s, &info, &err), CDC_OK);
    assert_true(info.publication_created);
    v = it_sql_value(db, "SELECT puballtables::text FROM pg_publication WHERE pubname = "
                         "'Pgsrc All''s'");
    assert_string_equal(v, "true");
    free(v);
    /* START_REPLICATION accepts the quoted name */
    if (pgsrc_start(s, CDC_LSN_INVALID, &err) != CDC_OK)
        fail_msg("pgsrc_start: %s", err.msg);
    it_sql(db, "INSERT INTO pgsrc_t VALUES (100, 'all', now())");
    {
        struct txn t;

        read_txn(s, &t);
        assert_string_equal(t.kinds, "BRIC");
    }
    stop_src(s);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_all')");
    it_sql(db, "DROP PUBLICATION \"Pgsrc All's\"");
    it_sql(db, "DELETE FROM pgsrc_t");
}

static void
test_pgsrc_streams_begin_relation_insert_commit_in_iso_utc(void **state)
{
    struct pgsrc_slot_info info;
    struct cdc_err err = {0};
    struct pgsrc *s;
    struct txn t;
    char *v;

    (void) state;
    /* the database's own defaults would print this timestamp differently */
    {
        PGconn *plain = it_pg_connect(DB);

        v = it_sql_value(plain, "SELECT '" TS_UTC "'::timestamptz::text");
        assert_string_not_equal(v, TS_UTC);
        free(v);
        v = it_sql_value(plain, "SELECT format('%%s|%%s|%%s', interval '1 day 2 hours', "
                                "'\\x0102'::bytea, 0.1::float8 + 0.2::float8)");
        assert_string_equal(v, "@ 1 day 2 hours|\\001\\002|0.3");
        free(v);
        PQfinish(plain);
    }
    s = open_src("pgsrc_it_b", "pgsrc_pub", &info);
    if (pgsrc_start(s, CDC_LSN_INVALID, &err) != CDC_OK)
        fail_msg("pgsrc_start: %s", err.msg);
    it_sql(db, "INSERT INTO pgsrc_t VALUES (1, 'first', '" TS_UTC "', '1 day 2 hours', "
               "'\\x0102', 0.1::float8 + 0.2::float8)");
    read_txn(s, &t);
    assert_string_equal(t.kinds, "BRIC");
    /* the walsender ran the type output functions with our session options */
    assert_non_null(strstr(t.notes, TS_UTC));
    assert_non_null(strstr(t.notes, "P1DT2H"));
    assert_non_null(strstr(t.notes, "\\x0102"));
    assert_non_null(strstr(t.notes, "0.30000000000000004"));
    assert_non_null(strstr(t.notes, "first"));
    assert_true(t.end_lsn > info.confirmed_flush);
    stop_src(s);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_b')");
    it_sql(db, "DELETE FROM pgsrc_t");
}

static void
wait_confirmed(const char *slot, cdc_lsn want)
{
    int64_t deadline = it_now_ms() + 5000;

    while (slot_confirmed(slot) != want && it_now_ms() < deadline)
        usleep(20000);
}

static void
test_pgsrc_confirms_exactly_the_flushed_lsn_and_restarts_after_it(void **state)
{
    struct pgsrc_slot_info info;
    struct cdc_err err = {0};
    struct txn t1, t2, t;
    struct pgsrc *s;

    (void) state;
    s = open_src("pgsrc_it_c", "pgsrc_pub", &info);
    if (pgsrc_start(s, CDC_LSN_INVALID, &err) != CDC_OK)
        fail_msg("pgsrc_start: %s", err.msg);
    it_sql(db, "INSERT INTO pgsrc_t VALUES (11, 'one', now())");
    read_txn(s, &t1);
    it_sql(db, "INSERT INTO pgsrc_t VALUES (12, 'two', now())");
    read_txn(s, &t2);
    assert_non_null(strstr(t1.notes, "one"));
    assert_non_null(strstr(t2.notes, "two"));
    assert_true(t2.end_lsn > t1.end_lsn);
    assert_true(pgsrc_received(s) >= t2.end_lsn);

    /* nothing flushed yet: received data alone never moves the slot */
    pump(s, 600);
    assert_true(slot_confirmed("pgsrc_it_c") == info.confirmed_flush);

    pgsrc_set_flushed(s, t1.end_lsn);
    assert_int_equal(pgsrc_send_status(s, true, &err), CDC_OK);
    wait_confirmed("pgsrc_it_c", t1.end_lsn);
    assert_true(slot_confirmed("pgsrc_it_c") == t1.end_lsn);
    /* lower values are ignored */
    pgsrc_set_flushed(s, t1.end_lsn - 1);
    assert_true(pgsrc_flushed(s) == t1.end_lsn);
    /* periodic updates (every 200 ms) keep reporting exactly t1.end_lsn, never t2's */
    pump(s, 1000);
    assert_true(slot_confirmed("pgsrc_it_c") == t1.end_lsn);
    stop_src(s);
    assert_true(slot_confirmed("pgsrc_it_c") == t1.end_lsn);

    /* restart from the slot: transaction 1 is not sent again, 2 is */
    s = open_src("pgsrc_it_c", "pgsrc_pub", &info);
    assert_false(info.slot_created);
    assert_true(info.confirmed_flush == t1.end_lsn);
    if (pgsrc_start(s, CDC_LSN_INVALID, &err) != CDC_OK)
        fail_msg("pgsrc_start: %s", err.msg);
    read_txn(s, &t);
    assert_null(strstr(t.notes, "one"));
    assert_non_null(strstr(t.notes, "two"));
    assert_true(t.end_lsn == t2.end_lsn);
    stop_src(s);

    /* and from an explicit position, the same */
    s = open_src("pgsrc_it_c", "pgsrc_pub", &info);
    if (pgsrc_start(s, t1.end_lsn, &err) != CDC_OK)
        fail_msg("pgsrc_start: %s", err.msg);
    read_txn(s, &t);
    assert_non_null(strstr(t.notes, "two"));
    stop_src(s);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_c')");
    it_sql(db, "DELETE FROM pgsrc_t");
}

static void
test_pgsrc_answers_keepalives_before_wal_sender_timeout(void **state)
{
    struct pgsrc_slot_info info;
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};
    struct pgsrc_msg m;
    int keepalives = 0;
    int64_t deadline;

    (void) state;
    /* wal_sender_timeout is 3 s in this database; our own updates would come only every 60 s */
    opts_for(&o, "pgsrc_it_k", "pgsrc_pub");
    o.status_interval_ms = 60000;
    assert_int_equal(pgsrc_create(&s, &o, &err), CDC_OK);
    assert_int_equal(pgsrc_prepare(s, &info, &err), CDC_OK);
    assert_int_equal(pgsrc_start(s, CDC_LSN_INVALID, &err), CDC_OK);
    deadline = it_now_ms() + 7000;
    while (it_now_ms() < deadline) {
        if (pgsrc_read(s, 100, &m, &err) != CDC_OK)
            fail_msg("pgsrc_read after %d keepalives: %s", keepalives, err.msg);
        if (m.kind == PGSRC_KEEPALIVE) {
            keepalives++;
            assert_true(m.wal_end != CDC_LSN_INVALID);
        }
    }
    assert_true(keepalives >= 2);
    stop_src(s);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_k')");
}

static void
test_pgsrc_slot_in_use_elsewhere_is_retryable(void **state)
{
    struct pgsrc_slot_info info;
    struct pgsrc_opts o;
    struct pgsrc *s1, *s2 = NULL;
    struct cdc_err err = {0};

    (void) state;
    s1 = open_src("pgsrc_it_d", "pgsrc_pub", &info);
    assert_int_equal(pgsrc_start(s1, CDC_LSN_INVALID, &err), CDC_OK);
    /* our own walsender holding it is fine */
    assert_int_equal(pgsrc_slot_info(s1, &info, &err), CDC_OK);
    assert_true(info.active);

    opts_for(&o, "pgsrc_it_d", "pgsrc_pub");
    assert_int_equal(pgsrc_create(&s2, &o, &err), CDC_OK);
    assert_int_equal(pgsrc_prepare(s2, &info, &err), CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "active for PID"));
    assert_int_equal(pgsrc_start(s2, CDC_LSN_INVALID, &err), CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "active"));
    pgsrc_destroy(s2);
    stop_src(s1);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_d')");
}

static void
test_pgsrc_terminated_walsender_is_retryable(void **state)
{
    struct pgsrc_slot_info info;
    struct pgsrc *s;
    struct cdc_err err = {0};
    struct pgsrc_msg m;
    int64_t deadline;
    cdc_rc rc = CDC_OK;
    char *v;

    (void) state;
    s = open_src("pgsrc_it_t", "pgsrc_pub", &info);
    assert_int_equal(pgsrc_start(s, CDC_LSN_INVALID, &err), CDC_OK);
    pump(s, 300);
    v = it_sql_value(db, "SELECT count(pg_terminate_backend(active_pid))::text FROM "
                         "pg_replication_slots WHERE slot_name = 'pgsrc_it_t'");
    assert_string_equal(v, "1");
    free(v);
    deadline = it_now_ms() + 10000;
    while (rc == CDC_OK && it_now_ms() < deadline)
        rc = pgsrc_read(s, 100, &m, &err);
    assert_int_equal(rc, CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "terminating connection"));
    /* reading on is refused, and stop still closes cleanly */
    assert_int_not_equal(pgsrc_read(s, 0, &m, &err), CDC_OK);
    pgsrc_stop(s, &err);
    pgsrc_destroy(s);
    it_sql(db, "SELECT pg_drop_replication_slot('pgsrc_it_t')");
}

static void
test_pgsrc_wrong_password_is_refused_without_echoing_it(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};
    cdc_rc rc;

    (void) state;
    opts_for(&o, "pgsrc_it_e", "pgsrc_pub");
    o.user = it_env("CDC_IT_PG_PWUSER");
    o.password = "Wr0ng-s3cret!";
    rc = pgsrc_create(&s, &o, &err);
    assert_int_equal(rc, CDC_ERR_FATAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "password authentication failed"));
    assert_null(strstr(err.msg, "Wr0ng-s3cret!"));

    /* the right one works (the rule for this role is scram-sha-256) */
    o.password = "right-Pw-1";
    assert_int_equal(pgsrc_create(&s, &o, &err), CDC_OK);
    pgsrc_destroy(s);
    s = NULL;

    /* a server message that happens to contain the password is scrubbed */
    o.user = "Zx9-leak-me";
    o.password = "Zx9-leak-me";
    rc = pgsrc_create(&s, &o, &err);
    assert_int_equal(rc, CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_null(strstr(err.msg, "Zx9-leak-me"));
    assert_non_null(strstr(err.msg, "********"));
}

static void
test_pgsrc_unreachable_server_is_retryable(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};
    char where[64];

    (void) state;
    opts_for(&o, "pgsrc_it_f", "pgsrc_pub");
    o.host = "127.0.0.1";
    o.port = it_free_port();
    o.password = "not-shown-1";
    assert_int_equal(pgsrc_create(&s, &o, &err), CDC_ERR_RETRY);
    assert_null(s);
    snprintf(where, sizeof(where), "127.0.0.1:%d", o.port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "Connection refused"));
    assert_null(strstr(err.msg, "not-shown-1"));
}

static void
test_pgsrc_rejects_invalid_slot_name(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *s = NULL;
    struct cdc_err err = {0};

    (void) state;
    opts_for(&o, "Bad-Slot", "pgsrc_pub");
    assert_int_equal(pgsrc_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "Bad-Slot"));
}

static void
test_pgsrc_scrub_masks_every_occurrence(void **state)
{
    char m[64];
    char small[12];

    (void) state;
    snprintf(m, sizeof(m), "a pw=hunter2 and hunter2.");
    pgsrc_scrub(m, sizeof(m), "hunter2");
    assert_string_equal(m, "a pw=******** and ********.");
    snprintf(m, sizeof(m), "nothing here");
    pgsrc_scrub(m, sizeof(m), "hunter2");
    assert_string_equal(m, "nothing here");
    pgsrc_scrub(m, sizeof(m), NULL);
    pgsrc_scrub(m, sizeof(m), "");
    assert_string_equal(m, "nothing here");
    /* a message cut inside the secret loses the cut-off start of it too */
    memcpy(small, "pw is hunte", sizeof(small)); /* "pw is hunter2" cut to fit */
    pgsrc_scrub(small, sizeof(small), "hunter2");
    assert_string_equal(small, "pw is ");
    /* growth is truncated to the buffer */
    snprintf(small, sizeof(small), "x ab ab");
    pgsrc_scrub(small, sizeof(small), "ab");
    assert_string_equal(small, "x ******** ");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgsrc_scrub_masks_every_occurrence),
        cmocka_unit_test(test_pgsrc_rejects_invalid_slot_name),
        cmocka_unit_test(test_pgsrc_prepare_creates_slot_and_publication_once),
        cmocka_unit_test(test_pgsrc_empty_table_list_creates_publication_for_all_tables),
        cmocka_unit_test(test_pgsrc_streams_begin_relation_insert_commit_in_iso_utc),
        cmocka_unit_test(test_pgsrc_confirms_exactly_the_flushed_lsn_and_restarts_after_it),
        cmocka_unit_test(test_pgsrc_answers_keepalives_before_wal_sender_timeout),
        cmocka_unit_test(test_pgsrc_slot_in_use_elsewhere_is_retryable),
        cmocka_unit_test(test_pgsrc_terminated_walsender_is_retryable),
        cmocka_unit_test(test_pgsrc_wrong_password_is_refused_without_echoing_it),
        cmocka_unit_test(test_pgsrc_unreachable_server_is_retryable),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
