/*
 * it_formats.c - event formats and routing end to end, on the fixture's
 * PostgreSQL and MariaDB:
 * - cdc.format=debezium: insert, update, delete (and truncate on
 *   PostgreSQL) read back from the stream and checked field by field
 *   against Debezium's documented envelope (before, after, source{...}, op,
 *   ts_ms), with the position fields cross-checked against the headers and
 *   the server (txid_current(), the binlog file);
 * - headers: Cdc-Event-Version: 1 and the CloudEvents binary-mode headers
 *   (cdc.cloudevents=true) on every message;
 * - cdc.metadata labels, engine, host and event_version in metadata;
 * - nats.subject_template with {pk_hash:N}: a load that updates many keys in
 *   interleaved transactions, read back and grouped by partition subject:
 *   each key's events are all in one partition (the one the documented
 *   recipe computes) and in commit order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "itlib.h"

/* ---- reading the stream back with headers ---- */

struct fmsg {
    char *subject;
    char *data;
    char *hdr[10]; /* values of hdr_names[], NULL if absent */
};

static const char *const hdr_names[] = {
    "Nats-Msg-Id", "Cdc-Commit-Lsn", "Cdc-Event-Version", "ce-specversion", "ce-id",
    "ce-type",     "ce-source",      "ce-time",           "content-type",
};
enum { H_ID, H_LSN, H_VERSION, H_CE_SPEC, H_CE_ID, H_CE_TYPE, H_CE_SOURCE, H_CE_TIME, H_CTYPE };
#define N_HDRS ((int) (sizeof(hdr_names) / sizeof(hdr_names[0])))

/* Every message of the stream of `name`, in order, with its headers (JetStream direct get). */
static int
read_all(const char *name, struct fmsg **out)
{
    natsConnection *nc = NULL;
    jsStreamInfo *si = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    struct fmsg *v;
    uint64_t last;
    int n = 0;

    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_GetStreamInfo(&si, js, it_stream_name(name), NULL, &jerr), NATS_OK);
    last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    v = calloc(last + 1, sizeof(*v));
    assert_non_null(v);
    for (uint64_t seq = 1; seq <= last; seq++) {
        natsMsg *m = NULL;

        if (js_GetMsg(&m, js, it_stream_name(name), seq, NULL, &jerr) != NATS_OK)
            continue; /* deleted */
        v[n].subject = strdup(natsMsg_GetSubject(m));
        v[n].data = strndup(natsMsg_GetData(m), (size_t) natsMsg_GetDataLength(m));
        for (int h = 0; h < N_HDRS; h++) {
            const char *val = NULL;

            if (natsMsgHeader_Get(m, hdr_names[h], &val) == NATS_OK)
                v[n].hdr[h] = strdup(val);
        }
        natsMsg_Destroy(m);
        n++;
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    *out = v;
    return n;
}

static void
free_all(struct fmsg *v, int n)
{
    for (int i = 0; i < n; i++) {
        free(v[i].subject);
        free(v[i].data);
        for (int h = 0; h < N_HDRS; h++)
            free(v[i].hdr[h]);
    }
    free(v);
}

/* The text of json.a.b (nested members), malloc'd; NULL if absent. */
static char *
member2(const char *json, const char *a, const char *b)
{
    char *outer = it_json_member(json, a), *inner;

    if (outer == NULL || b == NULL)
        return outer;
    inner = it_json_member(outer, b);
    free(outer);
    return inner;
}

/* Assert json.a[.b] is exactly `want` (JSON text), or absent when want is NULL. */
static void
expect(const char *json, const char *a, const char *b, const char *want)
{
    char *got = member2(json, a, b);

    if (want == NULL && got == NULL)
        return;
    if (want == NULL || got == NULL || strcmp(got, want) != 0)
        fail_msg("%s%s%s: got %s, want %s\nin %s", a, b ? "." : "", b ? b : "",
                 got ? got : "(absent)", want ? want : "(absent)", json);
    free(got);
}

static int64_t
member_i64(const char *json, const char *a, const char *b)
{
    char *t = member2(json, a, b);
    int64_t v;

    assert_non_null(t);
    v = strtoll(t, NULL, 10);
    free(t);
    return v;
}

/* "16/B374D848" -> its value. */
static uint64_t
parse_lsn(const char *s)
{
    unsigned int hi, lo;

    assert_int_equal(sscanf(s, "%X/%X", &hi, &lo), 2);
    return (uint64_t) hi << 32 | lo;
}

/* The headers every message of a cloudevents=true run carries. */
static void
expect_headers(const struct fmsg *m, const char *name, const char *type)
{
    char src[128];

    snprintf(src, sizeof(src), "/cdc-handler/%s", name);
    assert_non_null(m->hdr[H_ID]);
    assert_string_equal(m->hdr[H_VERSION], "1");
    assert_string_equal(m->hdr[H_CE_SPEC], "1.0");
    assert_string_equal(m->hdr[H_CE_ID], m->hdr[H_ID]);
    assert_string_equal(m->hdr[H_CE_TYPE], type);
    assert_string_equal(m->hdr[H_CE_SOURCE], src);
    assert_string_equal(m->hdr[H_CTYPE], "application/json");
    /* RFC 3339, UTC, 6 fractional digits: 2024-01-02T03:04:05.123456Z */
    assert_non_null(m->hdr[H_CE_TIME]);
    assert_int_equal(strlen(m->hdr[H_CE_TIME]), 27);
    assert_int_equal(m->hdr[H_CE_TIME][10], 'T');
    assert_int_equal(m->hdr[H_CE_TIME][26], 'Z');
}

/* ts_ms/ts_us/ts_ns agree, are the commit time (within a minute of now), and ts_ms == source's. */
static void
expect_times(const char *json)
{
    int64_t ms = member_i64(json, "ts_ms", NULL), sms = member_i64(json, "source", "ts_ms");
    int64_t us = member_i64(json, "source", "ts_us"), ns = member_i64(json, "source", "ts_ns");
    int64_t now_ms = (int64_t) time(NULL) * 1000;

    assert_true(ms == sms);
    assert_true(us / 1000 == ms);
    assert_true(ns == us * 1000);
    assert_true(ms > now_ms - 120000 && ms < now_ms + 60000);
}

/* FNV-1a 64, as docs/EVENTS.md gives it for consumers. */
static uint64_t
fnv1a64(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* ---- PostgreSQL: the Debezium format, headers and labels ---- */

#define PGNAME "it_formats"

static void
test_postgres_debezium_format_headers_and_labels(void **state)
{
    const char *extra[] = {"-X",
                           "cdc.format=debezium",
                           "-X",
                           "cdc.cloudevents=true",
                           "-X",
                           "cdc.metadata=team=payments,env=it",
                           "--exit-when-idle",
                           "1500",
                           NULL};
    char *xid, want[256], *seq;
    struct fmsg *ms;
    PGconn *c;
    pid_t pid;
    int n;

    (void) state;
    it_stream_delete(PGNAME);
    c = it_fresh_db(PGNAME);
    it_sql(c, "CREATE TABLE customers (id int PRIMARY KEY, first_name text, email text)");
    unlink(it_daemon_log(PGNAME));
    pid = it_daemon_start(PGNAME, PGNAME, extra);
    it_wait_slot_active(c, PGNAME);
    it_sql(c, "BEGIN");
    it_sql(c, "INSERT INTO customers VALUES (1, 'Anne', 'annek@noanswer.org')");
    xid = it_sql_value(c, "SELECT txid_current()");
    it_sql(c, "COMMIT");
    it_sql(c, "UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1");
    it_sql(c, "DELETE FROM customers WHERE id = 1");
    it_sql(c, "TRUNCATE customers");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    n = read_all(PGNAME, &ms);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        static const char *const types[] = {"cdc.insert", "cdc.update", "cdc.delete",
                                            "cdc.truncate"};
        static const char *const ops[] = {"\"c\"", "\"u\"", "\"d\"", "\"t\""};
        const char *d = ms[i].data;
        char *lsn = member2(d, "source", "lsn");

        assert_string_equal(ms[i].subject, PGNAME "." PGNAME ".public.customers");
        expect_headers(&ms[i], PGNAME, types[i]);
        expect(d, "op", NULL, ops[i]);
        expect(d, "source", "version", "\"" CDC_VERSION "\"");
        expect(d, "source", "connector", "\"postgresql\"");
        expect(d, "source", "name", "\"" PGNAME "\"");
        expect(d, "source", "snapshot", "\"false\"");
        expect(d, "source", "db", "\"" PGNAME "\"");
        expect(d, "source", "schema", "\"public\"");
        expect(d, "source", "table", "\"customers\"");
        expect(d, "source", "xmin", "null");
        expect(d, "transaction", NULL, "null");
        expect_times(d);
        /* sequence: [commit LSN (the Cdc-Commit-Lsn header), this change's LSN] */
        assert_non_null(lsn);
        snprintf(want, sizeof(want), "\"[\\\"%" PRIu64 "\\\",\\\"%s\\\"]\"",
                 parse_lsn(ms[i].hdr[H_LSN]), lsn);
        expect(d, "source", "sequence", want);
        assert_true(strtoull(lsn, NULL, 10) <= parse_lsn(ms[i].hdr[H_LSN]));
        free(lsn);
        /* our metadata: event id (= Nats-Msg-Id), version, engine, host, labels */
        snprintf(want, sizeof(want), "\"%s\"", ms[i].hdr[H_ID]);
        expect(d, "metadata", "event_id", want);
        expect(d, "metadata", "event_version", "1");
        expect(d, "metadata", "engine", "\"postgres\"");
        expect(d, "metadata", "source_host", "\"127.0.0.1\"");
        expect(d, "metadata", "handler_version", "\"" CDC_VERSION "\"");
        expect(d, "metadata", "labels", "{\"team\":\"payments\",\"env\":\"it\"}");
    }
    /* the insert, as Debezium's documented create event */
    expect(ms[0].data, "before", NULL, "null");
    expect(ms[0].data, "after", NULL,
           "{\"id\":1,\"first_name\":\"Anne\",\"email\":\"annek@noanswer.org\"}");
    expect(ms[0].data, "source", "txId", xid);
    /* the update: REPLICA IDENTITY DEFAULT and an unchanged key send no old row */
    expect(ms[1].data, "before", NULL, "null");
    expect(ms[1].data, "after", NULL,
           "{\"id\":1,\"first_name\":\"Anne Marie\",\"email\":\"annek@noanswer.org\"}");
    /* the delete: the key in before, after null */
    expect(ms[2].data, "before", NULL, "{\"id\":1}");
    expect(ms[2].data, "after", NULL, "null");
    /* the truncate: no row images at all */
    expect(ms[3].data, "before", NULL, NULL);
    expect(ms[3].data, "after", NULL, NULL);
    /* four transactions: the truncate's txId is a later one */
    seq = member2(ms[3].data, "source", "txId");
    assert_true(strtoull(seq, NULL, 10) > strtoull(xid, NULL, 10));
    free(seq);
    free(xid);
    free_all(ms, n);
    PQfinish(c);
}

/* ---- PostgreSQL: {pk_hash:N} keeps per-key order across partitions ---- */

#define PKNAME  "it_formats_pk"
#define PK_KEYS 40
#define PK_PART 4
#define ROUNDS  6

static void
test_pk_hash_routing_keeps_each_key_in_one_partition_in_order(void **state)
{
    const char *extra[] = {"-X", "nats.subject_template={prefix}.{table}.p{pk_hash:4}",
                           "--exit-when-idle", "2000", NULL};
    int part_of[PK_KEYS + 1], last_v[PK_KEYS + 1], used[PK_PART] = {0};
    struct fmsg *ms;
    PGconn *c;
    pid_t pid;
    int n;

    (void) state;
    it_stream_delete(PKNAME);
    c = it_fresh_db(PKNAME);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v int)");
    unlink(it_daemon_log(PKNAME));
    pid = it_daemon_start(PKNAME, PKNAME, extra);
    it_wait_slot_active(c, PKNAME);
    /* round 1 inserts v=1, rounds 2.. update v=round; each round is two transactions that
       take the keys in different orders, so partitions interleave in the WAL */
    for (int r = 1; r <= ROUNDS; r++) {
        for (int half = 0; half < 2; half++) {
            it_sql(c, "BEGIN");
            for (int k = 0; k < PK_KEYS / 2; k++) {
                int id = half == 0 ? 2 * k + 1 : PK_KEYS - 2 * k;

                if (r == 1)
                    it_sql(c, "INSERT INTO t VALUES (%d, 1)", id);
                else
                    it_sql(c, "UPDATE t SET v = %d WHERE id = %d", r, id);
            }
            it_sql(c, "COMMIT");
        }
    }
    assert_int_equal(it_daemon_wait(pid, 120000), 0);

    n = read_all(PKNAME, &ms);
    assert_int_equal(n, PK_KEYS * ROUNDS);
    for (int id = 0; id <= PK_KEYS; id++)
        part_of[id] = -1, last_v[id] = 0;
    for (int i = 0; i < n; i++) {
        char *after = it_json_member(ms[i].data, "after"), key[32];
        int id, v, p;

        assert_non_null(after);
        assert_int_equal(sscanf(after, "{\"id\":%d,\"v\":%d}", &id, &v), 2);
        assert_int_equal(sscanf(ms[i].subject, PKNAME ".t.p%d", &p), 1);
        assert_true(id >= 1 && id <= PK_KEYS && p >= 0 && p < PK_PART);
        /* the documented recipe: FNV-1a 64 of the JSON array of key values, mod N */
        snprintf(key, sizeof(key), "[%d]", id);
        assert_int_equal(p, (int) (fnv1a64(key) % PK_PART));
        if (part_of[id] >= 0 && part_of[id] != p)
            fail_msg("key %d in partitions %d and %d", id, part_of[id], p);
        part_of[id] = p;
        used[p]++;
        free(after);
    }
    /* per partition (a consumer of one partition subject), each key's values in order */
    for (int p = 0; p < PK_PART; p++) {
        for (int i = 0; i < n; i++) {
            int id, v, q;

            if (sscanf(ms[i].subject, PKNAME ".t.p%d", &q) != 1 || q != p)
                continue;
            assert_int_equal(
                sscanf(strstr(ms[i].data, "\"after\":"), "\"after\":{\"id\":%d,\"v\":%d}", &id, &v),
                2);
            if (v != last_v[id] + 1)
                fail_msg("key %d in partition %d: value %d after %d", id, p, v, last_v[id]);
            last_v[id] = v;
        }
    }
    for (int id = 1; id <= PK_KEYS; id++)
        assert_int_equal(last_v[id], ROUNDS);
    for (int p = 0; p < PK_PART; p++) {
        printf("partition %d: %d events\n", p, used[p]);
        assert_true(used[p] > 0); /* 40 keys over 4 partitions: none empty */
    }
    free_all(ms, n);
    PQfinish(c);
}

/* ---- MariaDB: the Debezium format, headers, labels and pk_hash ---- */

#define MYNAME "it_formats_my"

static void
test_mariadb_debezium_format_headers_labels_and_partitions(void **state)
{
    const char *extra[] = {"-X",
                           "cdc.format=debezium",
                           "-X",
                           "cdc.cloudevents=true",
                           "-X",
                           "cdc.metadata.team=payments",
                           "-X",
                           "nats.subject_template={prefix}.{database}.{table}.p{pk_hash:4}",
                           "--exit-when-idle",
                           "2000",
                           NULL};
    char path[600], *file, *gtid_on, want[256];
    struct fmsg *ms;
    MYSQL *c = it_my_connect(NULL);
    pid_t pid;
    int n;

    (void) state;
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), MYNAME);
    unlink(path);
    unlink(it_daemon_log(MYNAME));
    it_stream_delete(MYNAME);
    it_my(c, "DROP DATABASE IF EXISTS `%s`", MYNAME);
    it_my(c, "CREATE DATABASE `%s`", MYNAME);
    it_my(c, "USE `%s`", MYNAME);
    it_my(c, "CREATE TABLE customers (id INT PRIMARY KEY, first_name VARCHAR(40), "
             "email VARCHAR(80))");
    pid = it_my_daemon_start(MYNAME, MYNAME, extra);
    it_wait_log(MYNAME, "streaming from", 30000);
    it_my(c, "INSERT INTO customers VALUES (1004, 'Anne', 'annek@noanswer.org')");
    it_my(c, "UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1004");
    it_my(c, "DELETE FROM customers WHERE id = 1004");
    file = it_my_value(c, "SELECT SUBSTRING_INDEX(@@log_bin_basename, '/', -1)");
    gtid_on = it_my_value(c, "SELECT @@gtid_current_pos");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    n = read_all(MYNAME, &ms);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        static const char *const types[] = {"cdc.insert", "cdc.update", "cdc.delete"};
        static const char *const ops[] = {"\"c\"", "\"u\"", "\"d\""};
        const char *d = ms[i].data;
        char *f = member2(d, "source", "file"), *gtid = member2(d, "source", "gtid");

        /* one key: one partition, the recipe's */
        snprintf(want, sizeof(want), MYNAME "." MYNAME ".customers.p%d",
                 (int) (fnv1a64("[1004]") % 4));
        assert_string_equal(ms[i].subject, want);
        expect_headers(&ms[i], MYNAME, types[i]);
        expect(d, "op", NULL, ops[i]);
        expect(d, "source", "version", "\"" CDC_VERSION "\"");
        expect(d, "source", "connector", "\"mariadb\"");
        expect(d, "source", "name", "\"" MYNAME "\"");
        expect(d, "source", "snapshot", "\"false\"");
        expect(d, "source", "db", "\"" MYNAME "\"");
        expect(d, "source", "sequence", "null");
        expect(d, "source", "table", "\"customers\"");
        expect(d, "source", "row", "0");
        expect(d, "source", "thread", "null");
        expect(d, "source", "query", "null");
        expect(d, "transaction", NULL, "null");
        expect_times(d);
        assert_true(member_i64(d, "source", "server_id") > 0);
        assert_true(member_i64(d, "source", "pos") > 0);
        /* the binlog file is the server's (binlog basename + ".NNNNNN") */
        assert_non_null(f);
        assert_true(strncmp(f + 1, file, strlen(file)) == 0);
        /* GTIDs are on in the fixture: "domain-server-seq" */
        assert_non_null(gtid);
        if (gtid_on != NULL && gtid_on[0] != '\0')
            assert_int_equal(gtid[0], '"');
        free(f);
        free(gtid);
        snprintf(want, sizeof(want), "\"%s\"", ms[i].hdr[H_ID]);
        expect(d, "metadata", "event_id", want);
        expect(d, "metadata", "event_version", "1");
        expect(d, "metadata", "engine", "\"mariadb\"");
        expect(d, "metadata", "labels", "{\"team\":\"payments\"}");
    }
    expect(ms[0].data, "before", NULL, "null");
    expect(ms[0].data, "after", NULL,
           "{\"id\":1004,\"first_name\":\"Anne\",\"email\":\"annek@noanswer.org\"}");
    expect(ms[1].data, "before", NULL,
           "{\"id\":1004,\"first_name\":\"Anne\",\"email\":\"annek@noanswer.org\"}");
    expect(ms[1].data, "after", NULL,
           "{\"id\":1004,\"first_name\":\"Anne Marie\",\"email\":\"annek@noanswer.org\"}");
    expect(ms[2].data, "before", NULL,
           "{\"id\":1004,\"first_name\":\"Anne Marie\",\"email\":\"annek@noanswer.org\"}");
    expect(ms[2].data, "after", NULL, "null");
    free(file);
    free(gtid_on);
    free_all(ms, n);
    mysql_close(c);
}

/* ---- the default format: Cdc-Event-Version without CloudEvents headers ---- */

#define NATNAME "it_formats_native"

static void
test_native_default_has_the_version_header_and_metadata(void **state)
{
    const char *extra[] = {"--exit-when-idle", "1500", NULL};
    struct fmsg *ms;
    PGconn *c;
    pid_t pid;
    int n;

    (void) state;
    it_stream_delete(NATNAME);
    c = it_fresh_db(NATNAME);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    unlink(it_daemon_log(NATNAME));
    pid = it_daemon_start(NATNAME, NATNAME, extra);
    it_wait_slot_active(c, NATNAME);
    it_sql(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    n = read_all(NATNAME, &ms);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0].subject, NATNAME "." NATNAME ".public.t");
    assert_string_equal(ms[0].hdr[H_VERSION], "1");
    assert_null(ms[0].hdr[H_CE_SPEC]);
    assert_null(ms[0].hdr[H_CE_ID]);
    expect(ms[0].data, "event_type", NULL, "\"cdc.insert\"");
    expect(ms[0].data, "metadata", "event_version", "1");
    expect(ms[0].data, "metadata", "engine", "\"postgres\"");
    expect(ms[0].data, "metadata", "source_host", "\"127.0.0.1\"");
    expect(ms[0].data, "metadata", "labels", NULL);
    free_all(ms, n);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_debezium_format_headers_and_labels),
        cmocka_unit_test(test_pk_hash_routing_keeps_each_key_in_one_partition_in_order),
        cmocka_unit_test(test_mariadb_debezium_format_headers_labels_and_partitions),
        cmocka_unit_test(test_native_default_has_the_version_header_and_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
